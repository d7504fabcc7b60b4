/* SPDX-License-Identifier: MIT */
/*
 * ELF split against GNU objcopy's output (tests/data/internal.bin, extflash.bin), one test per
 * error path on damaged copies of app.elf, stripped ELFs built here, and the project's own
 * example ELF (examples/xip-app) against objcopy run live.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "dfumgr/elfsplit.h"
#include "internal.h"

/* app.elf layout (tests/data/app.readelf.txt) */
#define APP_SHOFF       0x4d670u
#define APP_SHNUM       11u
#define APP_SHSTRNDX    10u
#define APP_SHSTRTAB    0x4d60cu
#define APP_SHSTRTAB_SZ 0x64u
#define SEC_TEXT        1u
#define SEC_RODATA      2u
#define SEC_DATA        3u
#define SEC_EXT_TEXT    5u
#define SEC_EXT_RODATA  6u
#define SEC_ATTRIBUTES  7u

#define EH(field) offsetof(Elf32_Ehdr, field)
#define SH(field) offsetof(Elf32_Shdr, field)
#define PH(field) offsetof(Elf32_Phdr, field)

static uint8_t *shdr_at(uint8_t *elf, uint32_t index)
{
	return elf + get_le32(elf + EH(e_shoff)) + index * sizeof(Elf32_Shdr);
}

static uint8_t *phdr_at(uint8_t *elf, uint32_t index)
{
	return elf + get_le32(elf + EH(e_phoff)) + index * sizeof(Elf32_Phdr);
}

static uint8_t *read_app(size_t *ret_size)
{
	uint8_t *buf = test_read("app.elf", ret_size);

	assert_int_equal(*ret_size, 317480);
	assert_int_equal(get_le32(buf + EH(e_shoff)), APP_SHOFF);
	return buf;
}

/*
 * Splits buf and asserts the exact error, that nothing was returned and that the message
 * contains every NULL-terminated needle.
 */
static void expect_fail(const uint8_t *buf, size_t size, int err, ...)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_elf_split *sentinel = (struct dfumgr_elf_split *)&sentinel;
	struct dfumgr_elf_split *s = sentinel;
	const char *needle;
	va_list ap;
	int rc;

	assert_non_null(ctx);
	rc = dfumgr_elf_split(ctx, buf, size, &s);
	if (rc != -err)
		fail_msg("expected %d (%s), got %d (%s): %s", -err, dfumgr_strerror(err), rc,
			 dfumgr_strerror(rc), dfumgr_ctx_errmsg(ctx));
	assert_ptr_equal(s, sentinel);
	assert_int_equal(dfumgr_ctx_errcode(ctx), err);
	va_start(ap, err);
	while ((needle = va_arg(ap, const char *)))
		if (!strstr(dfumgr_ctx_errmsg(ctx), needle))
			fail_msg("message \"%s\" lacks \"%s\"", dfumgr_ctx_errmsg(ctx), needle);
	va_end(ap);
	dfumgr_ctx_free(ctx);
}

static struct dfumgr_elf_split *split_ok(const uint8_t *buf, size_t size)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_elf_split *s = NULL;
	int rc = dfumgr_elf_split(ctx, buf, size, &s);

	if (rc != 0)
		fail_msg("split failed: %d %s", rc, dfumgr_ctx_errmsg(ctx));
	assert_non_null(s);
	dfumgr_ctx_free(ctx);
	return s;
}

static void assert_payload_is_file(const struct dfumgr_elf_payload *p, const char *file,
				   uint32_t start)
{
	size_t size;
	uint8_t *expect = test_read(file, &size);

	assert_int_equal(p->start, start);
	assert_int_equal(p->size, size);
	assert_non_null(p->data);
	assert_memory_equal(p->data, expect, size);
	free(expect);
}

static void check_app_split(const char *file)
{
	static const struct {
		const char *name;
		uint32_t vma, lma, size;
		enum dfumgr_region region;
	} want[] = {
	    {".text", 0xc200, 0xc200, 0xe8, DFUMGR_REGION_INTERNAL},
	    {".rodata", 0xc2e8, 0xc2e8, 0x201e, DFUMGR_REGION_INTERNAL},
	    {".data", 0x20000000, 0xe308, 0x14, DFUMGR_REGION_INTERNAL},
	    {".extflash_text", 0x10120000, 0x10120000, 0x2c, DFUMGR_REGION_QSPI},
	    {".extflash_rodata", 0x1012002c, 0x1012002c, 0x4b000, DFUMGR_REGION_QSPI},
	};
	const cJSON *full = NULL, *item;
	size_t size;
	uint8_t *elf = test_read(file, &size);
	struct dfumgr_elf_split *s = split_ok(elf, size);

	assert_int_equal(s->entry, 0xc245);
	assert_false(s->from_segments);
	assert_int_equal(s->n_sections, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(s->sections[i].name, want[i].name);
		assert_int_equal(s->sections[i].vma, want[i].vma);
		assert_int_equal(s->sections[i].lma, want[i].lma);
		assert_int_equal(s->sections[i].size, want[i].size);
		assert_int_equal(s->sections[i].region, want[i].region);
		assert_true(s->sections[i].flags & SHF_ALLOC);
	}
	assert_payload_is_file(&s->internal, "internal.bin", 0xc200);
	assert_payload_is_file(&s->qspi, "extflash.bin", 0x10120000);
	assert_int_equal(s->internal.n_sections, 3);
	assert_int_equal(s->qspi.n_sections, 2);
	assert_ptr_equal(dfumgr_elf_split_payload(s, DFUMGR_REGION_QSPI), &s->qspi);

	/* the unsplit image: vectors.json not_kept_but_recorded app-full.bin */
	cJSON_ArrayForEach(
	    item, cJSON_GetObjectItemCaseSensitive(test_vectors(), "not_kept_but_recorded"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "file");

		if (cJSON_IsString(n) && strcmp(n->valuestring, "app-full.bin") == 0)
			full = item;
	}
	assert_non_null(full);
	assert_int_equal(s->span_start, 0xc200);
	assert_int_equal(s->span_size, 0x1015ee2c);
	assert_int_equal(s->span_size,
			 test_json_uint(cJSON_GetObjectItemCaseSensitive(full, "size")));
	dfumgr_elf_split_free(s);
	free(elf);
}

static void test_app_elf_matches_objcopy(void **state)
{
	(void)state;
	check_app_split("app.elf");
}

static void test_app_pagealigned_elf_matches_objcopy(void **state)
{
	(void)state;
	/* the first PT_LOAD starts at file offset 0 / LMA 0xc000 and holds the ELF header too */
	check_app_split("app-pagealigned.elf");
}

/* Every CONTENTS+ALLOC section that vectors.json lists gets objdump's VMA and LMA. */
static void test_sections_match_vectors_json(void **state)
{
	static const char *const files[] = {"app.elf", "app-pagealigned.elf"};

	(void)state;
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		const cJSON *v = test_vector(files[f]), *sec;
		size_t size, matched = 0;
		uint8_t *elf = test_read(files[f], &size);
		struct dfumgr_elf_split *s = split_ok(elf, size);

		assert_non_null(v);
		cJSON_ArrayForEach(sec, cJSON_GetObjectItemCaseSensitive(v, "sections"))
		{
			const char *name =
			    cJSON_GetObjectItemCaseSensitive(sec, "name")->valuestring;
			const char *flags =
			    cJSON_GetObjectItemCaseSensitive(sec, "flags")->valuestring;
			size_t i;

			if (!strstr(flags, "CONTENTS") || !strstr(flags, "ALLOC"))
				continue;
			for (i = 0; i < s->n_sections; i++)
				if (strcmp(s->sections[i].name, name) == 0)
					break;
			assert_true(i < s->n_sections);
			assert_int_equal(
			    s->sections[i].vma,
			    test_json_uint(cJSON_GetObjectItemCaseSensitive(sec, "vma")));
			assert_int_equal(
			    s->sections[i].lma,
			    test_json_uint(cJSON_GetObjectItemCaseSensitive(sec, "lma")));
			assert_int_equal(
			    s->sections[i].size,
			    test_json_uint(cJSON_GetObjectItemCaseSensitive(sec, "size")));
			matched++;
		}
		assert_int_equal(matched, s->n_sections);
		dfumgr_elf_split_free(s);
		free(elf);
	}
}

static void test_api_basics(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_elf_split *s = NULL;
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	assert_true(dfumgr_elf_is_elf(elf, size));
	assert_true(dfumgr_elf_is_elf(elf, 4));
	assert_false(dfumgr_elf_is_elf(elf, 3));
	assert_false(dfumgr_elf_is_elf(NULL, 4));
	assert_false(dfumgr_elf_is_elf((const uint8_t *)"\x96\xf3\xb8\x3d", 4));
	assert_string_equal(dfumgr_region_name(DFUMGR_REGION_INTERNAL), "internal");
	assert_string_equal(dfumgr_region_name(DFUMGR_REGION_QSPI), "qspi");
	assert_string_equal(dfumgr_region_name((enum dfumgr_region)7), "unknown");
	assert_null(dfumgr_elf_split_payload(NULL, DFUMGR_REGION_QSPI));
	assert_int_equal(dfumgr_elf_split(ctx, NULL, size, &s), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_elf_split(ctx, elf, size, NULL), -DFUMGR_E_INVAL);
	assert_null(s);
	/* a NULL context keeps no detail but still works */
	assert_int_equal(dfumgr_elf_split(NULL, elf, size, &s), 0);
	assert_null(dfumgr_elf_split_payload(s, DFUMGR_REGION_COUNT));
	assert_null(dfumgr_elf_split_free(s));
	assert_null(dfumgr_elf_split_free(NULL));
	free(elf);
	dfumgr_ctx_free(ctx);
}

static void test_bad_magic(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	elf[1] = 'X';
	expect_fail(elf, size, DFUMGR_E_BADMAGIC, "EI_MAG0", "offset 0", NULL);
	expect_fail(elf, 0, DFUMGR_E_BADMAGIC, "not an ELF", NULL);
	free(elf);
}

static void test_ident_fields(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	elf[EI_CLASS] = ELFCLASS64;
	expect_fail(elf, size, DFUMGR_E_UNSUPPORTED, "EI_CLASS", "offset 4", "ELFCLASS64", NULL);
	elf[EI_CLASS] = 7;
	expect_fail(elf, size, DFUMGR_E_FORMAT, "EI_CLASS", "offset 4", NULL);
	elf[EI_CLASS] = ELFCLASS32;
	elf[EI_DATA] = ELFDATA2MSB;
	expect_fail(elf, size, DFUMGR_E_UNSUPPORTED, "EI_DATA", "offset 5", "little-endian", NULL);
	elf[EI_DATA] = 0;
	expect_fail(elf, size, DFUMGR_E_FORMAT, "EI_DATA", "offset 5", NULL);
	elf[EI_DATA] = ELFDATA2LSB;
	elf[EI_VERSION] = 2;
	expect_fail(elf, size, DFUMGR_E_FORMAT, "EI_VERSION", "offset 6", NULL);
	free(elf);
}

static void test_header_fields(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	put_le16(elf + EH(e_machine), EM_X86_64);
	expect_fail(elf, size, DFUMGR_E_UNSUPPORTED, "e_machine", "offset 18", "is 62", NULL);
	put_le16(elf + EH(e_machine), EM_ARM);
	put_le16(elf + EH(e_type), ET_REL);
	expect_fail(elf, size, DFUMGR_E_UNSUPPORTED, "e_type", "offset 16", NULL);
	put_le16(elf + EH(e_type), ET_EXEC);
	put_le32(elf + EH(e_version), 0);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_version", "offset 20", NULL);
	put_le32(elf + EH(e_version), EV_CURRENT);
	put_le16(elf + EH(e_ehsize), 64);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_ehsize", "offset 40", "is 64", NULL);
	put_le16(elf + EH(e_ehsize), 52);
	put_le16(elf + EH(e_phentsize), 56);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_phentsize", "offset 42", NULL);
	put_le16(elf + EH(e_phentsize), 32);
	put_le16(elf + EH(e_shentsize), 64);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_shentsize", "offset 46", NULL);
	put_le16(elf + EH(e_shentsize), 40);
	/* a section count without a table */
	put_le32(elf + EH(e_shoff), 0);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_shnum", "offset 48", "e_shoff", NULL);
	free(elf);
}

static void test_truncated(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	expect_fail(elf, 10, DFUMGR_E_TRUNCATED, "e_ident", "file has 10 bytes", NULL);
	expect_fail(elf, 40, DFUMGR_E_TRUNCATED, "ELF header", "file has 40 bytes", NULL);
	/* the section header table is at the end of the file: any cut reaches it first */
	expect_fail(elf, 60, DFUMGR_E_TRUNCATED, "section header table", "e_shoff 0x4d670",
		    "offset 32", NULL);
	expect_fail(elf, 0x10000, DFUMGR_E_TRUNCATED, "section header table", NULL);
	expect_fail(elf, APP_SHOFF + 5 * 40 + 7, DFUMGR_E_TRUNCATED, "section header table",
		    "11 entries of 40 bytes", "0x4d670..0x4d828", "0x4d73f bytes", NULL);
	expect_fail(elf, size - 1, DFUMGR_E_TRUNCATED, "section header table", NULL);
	free(elf);
}

/*
 * A file cut inside .extflash_rodata whose section header table and .shstrtab were written
 * again after the cut, so that the parser gets past the table checks.
 */
static uint8_t *cut_inside_section(size_t cut, size_t *ret_size)
{
	size_t size;
	uint8_t *app = read_app(&size);
	size_t new_size = cut + APP_SHSTRTAB_SZ + APP_SHNUM * sizeof(Elf32_Shdr);
	uint8_t *elf = malloc(new_size);

	assert_non_null(elf);
	memcpy(elf, app, cut);
	memcpy(elf + cut, app + APP_SHSTRTAB, APP_SHSTRTAB_SZ);
	memcpy(elf + cut + APP_SHSTRTAB_SZ, app + APP_SHOFF, APP_SHNUM * sizeof(Elf32_Shdr));
	put_le32(elf + EH(e_shoff), (uint32_t)(cut + APP_SHSTRTAB_SZ));
	put_le32(shdr_at(elf, APP_SHSTRNDX) + SH(sh_offset), (uint32_t)cut);
	free(app);
	*ret_size = new_size;
	return elf;
}

static void test_truncated_inside_section(void **state)
{
	size_t size;
	uint8_t *elf = cut_inside_section(0x10000, &size);

	(void)state;
	/* the QSPI PT_LOAD segment (index 2, header at 52 + 2 * 32) ends past the new end */
	expect_fail(elf, size, DFUMGR_E_TRUNCATED, "program header [2]", "offset 0x74",
		    "p_filesz 0x4b02c", NULL);
	/* without program headers (LMA = sh_addr) the section itself is named */
	put_le16(elf + EH(e_phnum), 0);
	put_le32(shdr_at(elf, SEC_DATA) + SH(sh_addr), 0xe308);
	expect_fail(elf, size, DFUMGR_E_TRUNCATED, "section [6] '.extflash_rodata'",
		    "sh_offset 0x21e0", "sh_size 0x4b000", NULL);
	free(elf);
}

static void test_section_contents_outside_file(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	put_le16(elf + EH(e_phnum), 0);
	put_le32(shdr_at(elf, SEC_TEXT) + SH(sh_offset), 0xfffffff0u);
	expect_fail(elf, size, DFUMGR_E_TRUNCATED, "section [1] '.text'", "sh_offset 0xfffffff0",
		    "0xfffffff0..0x1000000d8", NULL);
	free(elf);
	elf = read_app(&size);
	put_le32(shdr_at(elf, APP_SHSTRNDX) + SH(sh_size), 0x7fffffff);
	expect_fail(elf, size, DFUMGR_E_TRUNCATED, ".shstrtab", "sh_size 0x7fffffff", NULL);
	free(elf);
	elf = read_app(&size);
	/* a PT_LOAD with more file bytes than memory */
	put_le32(phdr_at(elf, 0) + PH(p_filesz), 0x3000);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "program header [0]", "p_filesz 0x3000",
		    "p_memsz 0x2106", NULL);
	free(elf);
}

static void test_table_offsets_overflow(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	/* 0xfffffff0 + 11 * 40 wraps a 32-bit sum; must still be rejected */
	put_le32(elf + EH(e_shoff), 0xfffffff0u);
	expect_fail(elf, size, DFUMGR_E_TRUNCATED, "e_shoff 0xfffffff0", "offset 32",
		    "0xfffffff0..0x1000001a8", NULL);
	put_le32(elf + EH(e_shoff), APP_SHOFF);
	put_le32(elf + EH(e_phoff), 0xffffffe0u);
	expect_fail(elf, size, DFUMGR_E_TRUNCATED, "program header table", "e_phoff 0xffffffe0",
		    "offset 28", NULL);
	free(elf);
}

static void test_bad_shstrndx(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	put_le16(elf + EH(e_shstrndx), APP_SHNUM);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_shstrndx", "offset 50", "is 11",
		    "only 11 section headers", NULL);
	put_le16(elf + EH(e_shstrndx), 0);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "e_shstrndx", "offset 50", "SHN_UNDEF", NULL);
	put_le16(elf + EH(e_shstrndx), SEC_TEXT);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "section [1]", "e_shstrndx", "SHT_STRTAB", NULL);
	free(elf);
}

static void test_bad_names(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);
	char where[64];

	(void)state;
	/* .ARM.attributes is the last name in .shstrtab: remove its terminating NUL */
	elf[APP_SHSTRTAB + APP_SHSTRTAB_SZ - 1] = 'x';
	expect_fail(elf, size, DFUMGR_E_FORMAT, "section [7]", "not NUL-terminated", ".shstrtab",
		    NULL);
	elf[APP_SHSTRTAB + APP_SHSTRTAB_SZ - 1] = '\0';
	put_le32(shdr_at(elf, SEC_DATA) + SH(sh_name), APP_SHSTRTAB_SZ);
	snprintf(where, sizeof(where), "sh_name at offset 0x%x",
		 (unsigned)(APP_SHOFF + SEC_DATA * sizeof(Elf32_Shdr)));
	expect_fail(elf, size, DFUMGR_E_FORMAT, "section [3]", where, "past the end of .shstrtab",
		    NULL);
	free(elf);
}

static void test_section_in_ram(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	/* .data's segment loaded at its RAM address (a RAM-load image, not flash) */
	put_le32(phdr_at(elf, 1) + PH(p_paddr), 0x20000000);
	expect_fail(elf, size, DFUMGR_E_NOFIT, "section [3] '.data'", "LMA 0x20000000",
		    "neither into internal flash", NULL);
	free(elf);
}

static void test_all_paddr_zero_keeps_vma(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	/*
	 * objcopy (BFD) ignores p_paddr when all are 0 and there are several PT_LOADs
	 * (objdump -h then shows .data LMA 0x20000000): the split follows.
	 */
	for (uint32_t i = 0; i < 3; i++)
		put_le32(phdr_at(elf, i) + PH(p_paddr), 0);
	expect_fail(elf, size, DFUMGR_E_NOFIT, "'.data'", "LMA 0x20000000", NULL);
	free(elf);
}

static void test_section_spans_region_boundary(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	/* .text at 0xfff00, .rodata from 0xfffe8 for 0x201e bytes: past the 1 MiB flash */
	put_le32(phdr_at(elf, 0) + PH(p_paddr), 0xfff00);
	expect_fail(elf, size, DFUMGR_E_NOFIT, "section [2] '.rodata'", "LMA 0xfffe8..0x102006",
		    "crosses the end of internal flash at 0x100000", NULL);
	put_le32(phdr_at(elf, 0) + PH(p_paddr), 0xc200);
	put_le32(phdr_at(elf, 2) + PH(p_paddr), 0x1ffff000);
	expect_fail(elf, size, DFUMGR_E_NOFIT, "section [6] '.extflash_rodata'",
		    "crosses the end of the QSPI XIP window at 0x20000000", NULL);
	free(elf);
}

static void test_overlapping_sections(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	put_le32(phdr_at(elf, 1) + PH(p_paddr), 0xc300);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "section [2] '.rodata'", "section [3] '.data'",
		    "LMA 0xc300..0xc314", "overlap in internal flash", NULL);
	free(elf);
}

static void test_limits(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);
	uint8_t *huge;

	(void)state;
	put_le16(elf + EH(e_shnum), DFUMGR_ELF_SECTIONS_MAX + 1);
	expect_fail(elf, size, DFUMGR_E_TOOBIG, "e_shnum", "offset 48", "1025", NULL);
	put_le16(elf + EH(e_shnum), APP_SHNUM);
	put_le16(elf + EH(e_phnum), 0xffff);
	expect_fail(elf, size, DFUMGR_E_TOOBIG, "e_phnum", "offset 44", NULL);
	/* without segments LMA = sh_addr: keep .data in flash, move .extflash_rodata 17 MiB up */
	put_le16(elf + EH(e_phnum), 0);
	put_le32(shdr_at(elf, SEC_DATA) + SH(sh_addr), 0xe308);
	put_le32(shdr_at(elf, SEC_EXT_RODATA) + SH(sh_addr), 0x11220000);
	expect_fail(elf, size, DFUMGR_E_TOOBIG, "QSPI XIP window payload", "LMA 0x10120000",
		    "0x1126b000", NULL);
	free(elf);

	/* calloc'ed zero pages: the size limit is checked before any byte is read */
	huge = calloc(1, DFUMGR_ELF_FILE_MAX + 1u);
	assert_non_null(huge);
	memcpy(huge, ELFMAG, SELFMAG);
	expect_fail(huge, DFUMGR_ELF_FILE_MAX + 1u, DFUMGR_E_TOOBIG, "67108865 bytes", NULL);
	free(huge);
}

static void test_extended_numbering(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);
	struct dfumgr_elf_split *s;

	(void)state;
	/* gABI: e_shnum 0 / e_shstrndx SHN_XINDEX defer to section header 0 */
	put_le16(elf + EH(e_shnum), 0);
	put_le32(shdr_at(elf, 0) + SH(sh_size), APP_SHNUM);
	put_le16(elf + EH(e_shstrndx), SHN_XINDEX);
	put_le32(shdr_at(elf, 0) + SH(sh_link), APP_SHSTRNDX);
	s = split_ok(elf, size);
	assert_int_equal(s->n_sections, 5);
	assert_int_equal(s->qspi.size, 307244);
	dfumgr_elf_split_free(s);
	put_le32(shdr_at(elf, 0) + SH(sh_link), 99);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "section header [0] sh_link", "SHN_XINDEX", "is 99",
		    NULL);
	put_le32(shdr_at(elf, 0) + SH(sh_size), 70000);
	expect_fail(elf, size, DFUMGR_E_TOOBIG, "section header [0] sh_size", "70000", NULL);
	free(elf);
}

static void test_app_elf_without_section_headers(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);
	struct dfumgr_elf_split *s;

	(void)state;
	/*
	 * Linked with -N, app.elf's segments hold exactly its sections, so the segment fallback
	 * gives objcopy's bytes too (a page-aligned link would add the ELF header at 0xc000).
	 */
	put_le32(elf + EH(e_shoff), 0);
	put_le16(elf + EH(e_shnum), 0);
	put_le16(elf + EH(e_shstrndx), 0);
	s = split_ok(elf, size);
	assert_true(s->from_segments);
	assert_int_equal(s->n_sections, 3);
	assert_string_equal(s->sections[1].name, "PT_LOAD[1]");
	assert_int_equal(s->sections[1].lma, 0xe308);
	assert_payload_is_file(&s->internal, "internal.bin", 0xc200);
	assert_payload_is_file(&s->qspi, "extflash.bin", 0x10120000);
	dfumgr_elf_split_free(s);
	free(elf);
}

static void test_nothing_to_load(void **state)
{
	size_t size;
	uint8_t *elf = read_app(&size);

	(void)state;
	for (uint32_t i = 1; i < APP_SHNUM; i++)
		put_le32(shdr_at(elf, i) + SH(sh_flags), 0);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "nothing to load", NULL);
	free(elf);
}

/* A stripped ELF (no section headers) made here: three PT_LOADs with contents, one without. */
static size_t make_stripped(uint8_t *elf, size_t cap)
{
	static const struct {
		uint32_t type, vaddr, paddr, filesz, memsz, flags;
	} segs[] = {
	    {PT_LOAD, 0xc200, 0xc200, 16, 16, PF_R | PF_X},
	    {PT_LOAD, 0x20000000, 0xc214, 8, 32, PF_R | PF_W},     /* .data + .bss, gap of 4 */
	    {PT_LOAD, 0x20000020, 0x20000020, 0, 64, PF_R | PF_W}, /* .bss only */
	    {PT_NOTE, 0, 0, 4, 4, PF_R},
	    {PT_LOAD, 0x10120200, 0x10120200, 12, 12, PF_R | PF_X},
	};
	uint32_t off = sizeof(Elf32_Ehdr) + ARRAY_SIZE(segs) * sizeof(Elf32_Phdr);
	size_t size = off;

	memset(elf, 0, cap);
	memcpy(elf, ELFMAG, SELFMAG);
	elf[EI_CLASS] = ELFCLASS32;
	elf[EI_DATA] = ELFDATA2LSB;
	elf[EI_VERSION] = EV_CURRENT;
	put_le16(elf + EH(e_type), ET_EXEC);
	put_le16(elf + EH(e_machine), EM_ARM);
	put_le32(elf + EH(e_version), EV_CURRENT);
	put_le32(elf + EH(e_entry), 0xc201);
	put_le32(elf + EH(e_phoff), sizeof(Elf32_Ehdr));
	put_le16(elf + EH(e_ehsize), sizeof(Elf32_Ehdr));
	put_le16(elf + EH(e_phentsize), sizeof(Elf32_Phdr));
	put_le16(elf + EH(e_phnum), ARRAY_SIZE(segs));
	for (size_t i = 0; i < ARRAY_SIZE(segs); i++) {
		uint8_t *ph = elf + sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr);

		put_le32(ph + PH(p_type), segs[i].type);
		put_le32(ph + PH(p_offset), off);
		put_le32(ph + PH(p_vaddr), segs[i].vaddr);
		put_le32(ph + PH(p_paddr), segs[i].paddr);
		put_le32(ph + PH(p_filesz), segs[i].filesz);
		put_le32(ph + PH(p_memsz), segs[i].memsz);
		put_le32(ph + PH(p_flags), segs[i].flags);
		for (uint32_t b = 0; b < segs[i].filesz; b++)
			elf[off + b] = (uint8_t)(0x10 * (i + 1) + b);
		off += segs[i].filesz;
	}
	size = off;
	assert_true(size <= cap);
	return size;
}

static void test_stripped_uses_segments(void **state)
{
	uint8_t elf[512];
	size_t size = make_stripped(elf, sizeof(elf));
	struct dfumgr_elf_split *s = split_ok(elf, size);

	(void)state;
	assert_true(s->from_segments);
	assert_int_equal(s->entry, 0xc201);
	assert_int_equal(s->n_sections, 3);
	assert_string_equal(s->sections[0].name, "PT_LOAD[0]");
	assert_string_equal(s->sections[1].name, "PT_LOAD[1]");
	assert_string_equal(s->sections[2].name, "PT_LOAD[4]");
	assert_int_equal(s->sections[1].vma, 0x20000000);
	assert_int_equal(s->sections[1].lma, 0xc214);
	assert_int_equal(s->sections[1].flags, SHF_ALLOC | SHF_WRITE);
	assert_int_equal(s->sections[0].flags, SHF_ALLOC | SHF_EXECINSTR);
	assert_int_equal(s->internal.start, 0xc200);
	assert_int_equal(s->internal.size, 0x1c);
	assert_int_equal(s->internal.n_sections, 2);
	for (uint32_t b = 0; b < 16; b++)
		assert_int_equal(s->internal.data[b], 0x10 + b);
	for (uint32_t b = 16; b < 20; b++)
		assert_int_equal(s->internal.data[b], 0); /* objcopy's gap fill */
	for (uint32_t b = 0; b < 8; b++)
		assert_int_equal(s->internal.data[20 + b], 0x20 + b);
	assert_int_equal(s->qspi.start, 0x10120200);
	assert_int_equal(s->qspi.size, 12);
	assert_int_equal(s->qspi.data[11], 0x50 + 11);
	assert_int_equal(s->span_start, 0xc200);
	assert_int_equal(s->span_size, 0x10120200 + 12 - 0xc200);
	dfumgr_elf_split_free(s);

	/* a segment cut by the end of the file */
	expect_fail(elf, size - 1, DFUMGR_E_TRUNCATED, "program header [4] (PT_LOAD)", NULL);
	/* no PT_LOAD with file bytes at all */
	put_le16(elf + EH(e_phnum), 0);
	expect_fail(elf, size, DFUMGR_E_FORMAT, "nothing to load", "no section headers", NULL);
}

static void test_stripped_region_only_internal(void **state)
{
	uint8_t elf[512];
	size_t size = make_stripped(elf, sizeof(elf));
	struct dfumgr_elf_split *s;

	(void)state;
	/* drop the QSPI segment: the QSPI payload is empty, which is not an error */
	put_le16(elf + EH(e_phnum), 4);
	s = split_ok(elf, size);
	assert_int_equal(s->qspi.size, 0);
	assert_null(s->qspi.data);
	assert_int_equal(s->qspi.n_sections, 0);
	assert_int_equal(s->span_size, 0x1c);
	dfumgr_elf_split_free(s);
}

/* Only names the example's linker script makes; anything else is not passed to a shell. */
static bool shell_safe(const char *name)
{
	return name[0] == '.' &&
	       strspn(name, "._abcdefghijklmnopqrstuvwxyz0123456789") == strlen(name);
}

static void objcopy_compare(const char *elf_path, const struct dfumgr_elf_split *s,
			    enum dfumgr_region region, const char *dir)
{
	const struct dfumgr_elf_payload *p = dfumgr_elf_split_payload(s, region);
	char cmd[4096], out[1024];
	size_t len, size;
	uint8_t *bin = NULL;

	snprintf(out, sizeof(out), "%s/%s.bin", dir, dfumgr_region_name(region));
	len = (size_t)snprintf(cmd, sizeof(cmd), "arm-none-eabi-objcopy -O binary");
	for (size_t i = 0; i < s->n_sections; i++) {
		if (s->sections[i].region != region)
			continue;
		assert_true(shell_safe(s->sections[i].name));
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " --only-section=%s",
					s->sections[i].name);
		assert_true(len < sizeof(cmd));
	}
	snprintf(cmd + len, sizeof(cmd) - len, " '%s' '%s'", elf_path, out);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(dfumgr_file_read(NULL, out, 64u << 20, &bin, &size), 0);
	assert_int_equal(p->size, size);
	assert_memory_equal(p->data, bin, size);
	free(bin);
}

static void test_example_xip_app(void **state)
{
	const char *build = getenv("DFUMGR_BUILD_DIR");
	char path[4096];
	struct stat st;
	struct dfumgr_elf_split *s;
	uint8_t *elf = NULL;
	size_t size = 0;
	char *dir;

	(void)state;
#if !DFUMGR_EXAMPLES_ON
	print_message("SKIPPED: configured with DFUMGR_EXAMPLES=OFF: no example ELF to split\n");
	skip();
#endif
	/* the example is part of the build: its absence is a failure, never a quiet skip */
	if (!build)
		fail_msg("DFUMGR_BUILD_DIR is not set (run the test through ctest)");
	snprintf(path, sizeof(path), "%s/examples/xip-app/xip-app.elf", build);
	if (stat(path, &st) != 0)
		fail_msg("%s is missing: arm-none-eabi-gcc was not found when the build was "
			 "configured (scripts/install-deps.sh installs gcc-arm-none-eabi)",
			 path);
	assert_int_equal(dfumgr_file_read(NULL, path, DFUMGR_ELF_FILE_MAX, &elf, &size), 0);
	s = split_ok(elf, size);
	assert_false(s->from_segments);
	assert_int_equal(s->internal.start, 0xc200);
	assert_int_equal(s->qspi.start, 0x10120200);
	/* the model: at least 256 KiB of weights run in place from QSPI */
	assert_true(s->qspi.size >= 256 * 1024);
	assert_true(s->internal.size < 64 * 1024);
	for (size_t i = 0; i < s->n_sections; i++)
		if (strcmp(s->sections[i].name, ".data") == 0) {
			assert_int_equal(s->sections[i].vma, 0x20000000);
			assert_int_equal(s->sections[i].region, DFUMGR_REGION_INTERNAL);
		}
	if (system("command -v arm-none-eabi-objcopy >/dev/null 2>&1") != 0) {
		dfumgr_elf_split_free(s);
		free(elf);
		fail_msg("arm-none-eabi-objcopy is missing (scripts/install-deps.sh installs "
			 "binutils-arm-none-eabi): the split cannot be compared with it");
	}
	dir = test_tmpdir();
	objcopy_compare(path, s, DFUMGR_REGION_INTERNAL, dir);
	objcopy_compare(path, s, DFUMGR_REGION_QSPI, dir);
	test_rmtree(dir);
	free(dir);
	dfumgr_elf_split_free(s);
	free(elf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_app_elf_matches_objcopy),
	    cmocka_unit_test(test_app_pagealigned_elf_matches_objcopy),
	    cmocka_unit_test(test_sections_match_vectors_json),
	    cmocka_unit_test(test_api_basics),
	    cmocka_unit_test(test_bad_magic),
	    cmocka_unit_test(test_ident_fields),
	    cmocka_unit_test(test_header_fields),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_truncated_inside_section),
	    cmocka_unit_test(test_section_contents_outside_file),
	    cmocka_unit_test(test_table_offsets_overflow),
	    cmocka_unit_test(test_bad_shstrndx),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_section_in_ram),
	    cmocka_unit_test(test_all_paddr_zero_keeps_vma),
	    cmocka_unit_test(test_section_spans_region_boundary),
	    cmocka_unit_test(test_overlapping_sections),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_extended_numbering),
	    cmocka_unit_test(test_nothing_to_load),
	    cmocka_unit_test(test_app_elf_without_section_headers),
	    cmocka_unit_test(test_stripped_uses_segments),
	    cmocka_unit_test(test_stripped_region_only_internal),
	    cmocka_unit_test(test_example_xip_app),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
