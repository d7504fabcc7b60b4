/* SPDX-License-Identifier: MIT */
/*
 * Splits a linked 32-bit little-endian ARM ELF into its internal-flash and QSPI XIP payloads by
 * load address, with the same bytes `objcopy -O binary` writes for each region's sections.
 *
 * Every field is read with explicit little-endian loads from the caller's buffer (no casts to
 * Elf32_* structs: the buffer has no alignment guarantee and the host may be big-endian);
 * <elf.h> supplies only constants and field offsets. All offset arithmetic is done in uint64_t
 * so that a 32-bit field near 0xffffffff cannot wrap past a bounds check.
 */
#include <elf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dfumgr/elfsplit.h"

#define EH_OFF(field) ((unsigned)offsetof(Elf32_Ehdr, field))
#define SH_OFF(field) ((unsigned)offsetof(Elf32_Shdr, field))
#define PH_OFF(field) ((unsigned)offsetof(Elf32_Phdr, field))

/* The header fields this file needs, after validation. */
struct elf_file {
	const uint8_t *buf;
	uint64_t size;
	uint32_t entry;
	uint32_t phoff;
	uint32_t phnum;
	uint32_t shoff;
	uint32_t shnum; /* 0: no section header table */
	uint32_t shstrndx;
	const uint8_t *strtab; /* .shstrtab contents, inside buf */
	uint32_t strtab_size;
	/* every p_paddr is 0: LMA = VMA, see detect_zero_paddr() */
	bool lma_is_vma;
};

struct elf_shdr {
	uint64_t at; /* file offset of this section header */
	uint32_t name, type, flags, addr, offset, size, link;
};

struct elf_phdr {
	uint64_t at; /* file offset of this program header */
	uint32_t type, offset, vaddr, paddr, filesz, memsz, flags;
};

/* A loadable piece being placed: points into the split's section list. */
struct loadable {
	struct dfumgr_elf_section *sec;
	uint32_t file_offset;
	uint32_t index; /* section or program header index, for messages */
	bool is_segment;
};

static const char *const region_text[DFUMGR_REGION_COUNT] = {
    [DFUMGR_REGION_INTERNAL] = "internal flash",
    [DFUMGR_REGION_QSPI] = "QSPI XIP window",
};

DFUMGR_EXPORT bool dfumgr_elf_is_elf(const uint8_t *buf, size_t size)
{
	return buf && size >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

DFUMGR_EXPORT const char *dfumgr_region_name(enum dfumgr_region region)
{
	switch (region) {
	case DFUMGR_REGION_INTERNAL:
		return "internal";
	case DFUMGR_REGION_QSPI:
		return "qspi";
	default:
		return "unknown";
	}
}

DFUMGR_EXPORT struct dfumgr_elf_split *dfumgr_elf_split_free(struct dfumgr_elf_split *split)
{
	if (split) {
		free(split->internal.data);
		free(split->qspi.data);
		free(split->sections);
		free(split);
	}
	return NULL;
}

DFUMGR_EXPORT const struct dfumgr_elf_payload *dfumgr_elf_split_payload(
    const struct dfumgr_elf_split *split, enum dfumgr_region region)
{
	if (!split)
		return NULL;
	switch (region) {
	case DFUMGR_REGION_INTERNAL:
		return &split->internal;
	case DFUMGR_REGION_QSPI:
		return &split->qspi;
	default:
		return NULL;
	}
}

static void shdr_read(const struct elf_file *f, uint32_t index, struct elf_shdr *sh)
{
	const uint8_t *p;

	sh->at = (uint64_t)f->shoff + (uint64_t)index * sizeof(Elf32_Shdr);
	p = f->buf + sh->at;
	sh->name = get_le32(p + SH_OFF(sh_name));
	sh->type = get_le32(p + SH_OFF(sh_type));
	sh->flags = get_le32(p + SH_OFF(sh_flags));
	sh->addr = get_le32(p + SH_OFF(sh_addr));
	sh->offset = get_le32(p + SH_OFF(sh_offset));
	sh->size = get_le32(p + SH_OFF(sh_size));
	sh->link = get_le32(p + SH_OFF(sh_link));
}

static void phdr_read(const struct elf_file *f, uint32_t index, struct elf_phdr *ph)
{
	const uint8_t *p;

	ph->at = (uint64_t)f->phoff + (uint64_t)index * sizeof(Elf32_Phdr);
	p = f->buf + ph->at;
	ph->type = get_le32(p + PH_OFF(p_type));
	ph->offset = get_le32(p + PH_OFF(p_offset));
	ph->vaddr = get_le32(p + PH_OFF(p_vaddr));
	ph->paddr = get_le32(p + PH_OFF(p_paddr));
	ph->filesz = get_le32(p + PH_OFF(p_filesz));
	ph->memsz = get_le32(p + PH_OFF(p_memsz));
	ph->flags = get_le32(p + PH_OFF(p_flags));
}

/* Names end up in reports and terminals: keep them printable. */
static void copy_name(char dst[static DFUMGR_ELF_NAME_MAX], const char *src)
{
	size_t i;

	for (i = 0; i < DFUMGR_ELF_NAME_MAX - 1 && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static int parse_ident(struct dfumgr_ctx *ctx, const uint8_t *buf, uint64_t size)
{
	if (size < SELFMAG || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return dfumgr_fail(ctx, DFUMGR_E_BADMAGIC,
				   "not an ELF file: e_ident[EI_MAG0..EI_MAG3] at offset 0 is not "
				   "\\x7fELF");
	if (size < EI_NIDENT)
		return dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
				   "ELF identification (e_ident, %d bytes at offset 0) is cut: the "
				   "file has %llu bytes",
				   EI_NIDENT, (unsigned long long)size);
	switch (buf[EI_CLASS]) {
	case ELFCLASS32:
		break;
	case ELFCLASS64:
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "e_ident[EI_CLASS] at offset %d is ELFCLASS64: only 32-bit ELF "
				   "(ELFCLASS32) is supported",
				   EI_CLASS);
	default:
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "e_ident[EI_CLASS] at offset %d is %u: not a valid ELF class",
				   EI_CLASS, buf[EI_CLASS]);
	}
	switch (buf[EI_DATA]) {
	case ELFDATA2LSB:
		break;
	case ELFDATA2MSB:
		return dfumgr_fail(
		    ctx, DFUMGR_E_UNSUPPORTED,
		    "e_ident[EI_DATA] at offset %d is ELFDATA2MSB: only little-endian "
		    "ELF (ELFDATA2LSB) is supported",
		    EI_DATA);
	default:
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "e_ident[EI_DATA] at offset %d is %u: not a valid data encoding",
				   EI_DATA, buf[EI_DATA]);
	}
	if (buf[EI_VERSION] != EV_CURRENT)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "e_ident[EI_VERSION] at offset %d is %u, not EV_CURRENT (%d)",
				   EI_VERSION, buf[EI_VERSION], EV_CURRENT);
	return 0;
}

static int parse_ehdr(struct dfumgr_ctx *ctx, struct elf_file *f)
{
	const uint8_t *b = f->buf;
	uint16_t type, machine, ehsize;
	uint32_t version;
	int rc;

	rc = parse_ident(ctx, b, f->size);
	if (rc < 0)
		return rc;
	if (f->size < sizeof(Elf32_Ehdr))
		return dfumgr_fail(
		    ctx, DFUMGR_E_TRUNCATED,
		    "ELF header (%zu bytes at offset 0) is cut: the file has %llu bytes",
		    sizeof(Elf32_Ehdr), (unsigned long long)f->size);
	type = get_le16(b + EH_OFF(e_type));
	machine = get_le16(b + EH_OFF(e_machine));
	version = get_le32(b + EH_OFF(e_version));
	ehsize = get_le16(b + EH_OFF(e_ehsize));
	/* Only a linked executable has final load addresses; a .o or .so would need relocation. */
	if (type != ET_EXEC)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "e_type at offset %u is %u, not ET_EXEC (%d): only a linked "
				   "executable has load addresses",
				   EH_OFF(e_type), type, ET_EXEC);
	if (machine != EM_ARM)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "e_machine at offset %u is %u, not EM_ARM (%d)",
				   EH_OFF(e_machine), machine, EM_ARM);
	if (version != EV_CURRENT)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "e_version at offset %u is %u, not EV_CURRENT (%d)",
				   EH_OFF(e_version), version, EV_CURRENT);
	if (ehsize != sizeof(Elf32_Ehdr))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "e_ehsize at offset %u is %u, not %zu",
				   EH_OFF(e_ehsize), ehsize, sizeof(Elf32_Ehdr));
	f->entry = get_le32(b + EH_OFF(e_entry));
	return 0;
}

/* Checks that [offset, offset + len) lies inside the file; what names the structure. */
static int check_in_file(struct dfumgr_ctx *ctx, const struct elf_file *f, uint64_t offset,
			 uint64_t len, const char *what)
{
	if (offset > f->size || len > f->size - offset)
		return dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
				   "%s: bytes 0x%llx..0x%llx are past the end of the file (0x%llx "
				   "bytes)",
				   what, (unsigned long long)offset,
				   (unsigned long long)(offset + len), (unsigned long long)f->size);
	return 0;
}

static int parse_program_headers(struct dfumgr_ctx *ctx, struct elf_file *f)
{
	const uint8_t *b = f->buf;
	uint16_t phentsize = get_le16(b + EH_OFF(e_phentsize));
	char what[160];
	int rc;

	f->phoff = get_le32(b + EH_OFF(e_phoff));
	f->phnum = get_le16(b + EH_OFF(e_phnum));
	if (f->phnum == 0)
		return 0;
	/* PN_XNUM (0xffff, extended count) is also far above the limit. */
	if (f->phnum > DFUMGR_ELF_SEGMENTS_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "e_phnum at offset %u is %u: more than %u program headers",
				   EH_OFF(e_phnum), f->phnum, DFUMGR_ELF_SEGMENTS_MAX);
	if (phentsize != sizeof(Elf32_Phdr))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "e_phentsize at offset %u is %u, not %zu",
				   EH_OFF(e_phentsize), phentsize, sizeof(Elf32_Phdr));
	snprintf(what, sizeof(what),
		 "program header table (e_phoff 0x%x at offset %u, %u entries of %zu bytes)",
		 f->phoff, EH_OFF(e_phoff), f->phnum, sizeof(Elf32_Phdr));
	rc = check_in_file(ctx, f, f->phoff, (uint64_t)f->phnum * sizeof(Elf32_Phdr), what);
	if (rc < 0)
		return rc;

	for (uint32_t i = 0; i < f->phnum; i++) {
		struct elf_phdr ph;

		phdr_read(f, i, &ph);
		if (ph.type != PT_LOAD)
			continue;
		if (ph.filesz > ph.memsz)
			return dfumgr_fail(
			    ctx, DFUMGR_E_FORMAT,
			    "program header [%u] (PT_LOAD) at offset 0x%llx: p_filesz "
			    "0x%x is larger than p_memsz 0x%x",
			    i, (unsigned long long)ph.at, ph.filesz, ph.memsz);
		snprintf(what, sizeof(what),
			 "program header [%u] (PT_LOAD) at offset 0x%llx: contents (p_offset 0x%x, "
			 "p_filesz 0x%x)",
			 i, (unsigned long long)ph.at, ph.offset, ph.filesz);
		rc = check_in_file(ctx, f, ph.offset, ph.filesz, what);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_section_headers(struct dfumgr_ctx *ctx, struct elf_file *f)
{
	const uint8_t *b = f->buf;
	uint16_t shentsize = get_le16(b + EH_OFF(e_shentsize));
	uint16_t e_shnum = get_le16(b + EH_OFF(e_shnum));
	uint16_t e_shstrndx = get_le16(b + EH_OFF(e_shstrndx));
	struct elf_shdr sh0, strsh;
	char what[160], strndx_where[96];
	int rc;

	snprintf(strndx_where, sizeof(strndx_where), "e_shstrndx at offset %u", EH_OFF(e_shstrndx));
	f->shoff = get_le32(b + EH_OFF(e_shoff));
	f->shnum = e_shnum;
	if (f->shoff == 0) {
		/* gABI: e_shoff 0 means no section header table; then e_shnum must be 0 too. */
		if (e_shnum != 0)
			return dfumgr_fail(
			    ctx, DFUMGR_E_FORMAT,
			    "e_shnum at offset %u is %u, but e_shoff at offset %u is 0 "
			    "(no section header table)",
			    EH_OFF(e_shnum), e_shnum, EH_OFF(e_shoff));
		return 0;
	}
	if (shentsize != sizeof(Elf32_Shdr))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "e_shentsize at offset %u is %u, not %zu",
				   EH_OFF(e_shentsize), shentsize, sizeof(Elf32_Shdr));
	f->shstrndx = e_shstrndx;
	if (e_shnum == 0 || e_shstrndx == SHN_XINDEX) {
		/* gABI extended numbering: the real values live in section header 0. */
		snprintf(what, sizeof(what), "section header [0] (e_shoff 0x%x at offset %u)",
			 f->shoff, EH_OFF(e_shoff));
		rc = check_in_file(ctx, f, f->shoff, sizeof(Elf32_Shdr), what);
		if (rc < 0)
			return rc;
		shdr_read(f, 0, &sh0);
		if (e_shnum == 0) {
			if (sh0.size > DFUMGR_ELF_SECTIONS_MAX)
				return dfumgr_fail(
				    ctx, DFUMGR_E_TOOBIG,
				    "section header [0] sh_size at offset 0x%llx (extended "
				    "e_shnum) is %u: more than %u sections",
				    (unsigned long long)(sh0.at + SH_OFF(sh_size)), sh0.size,
				    DFUMGR_ELF_SECTIONS_MAX);
			f->shnum = sh0.size;
		}
		if (e_shstrndx == SHN_XINDEX) {
			f->shstrndx = sh0.link;
			snprintf(strndx_where, sizeof(strndx_where),
				 "section header [0] sh_link at offset 0x%llx (e_shstrndx is "
				 "SHN_XINDEX)",
				 (unsigned long long)(sh0.at + SH_OFF(sh_link)));
		}
	}
	if (f->shnum > DFUMGR_ELF_SECTIONS_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "e_shnum at offset %u is %u: more than %u sections",
				   EH_OFF(e_shnum), f->shnum, DFUMGR_ELF_SECTIONS_MAX);
	snprintf(what, sizeof(what),
		 "section header table (e_shoff 0x%x at offset %u, %u entries of %zu bytes)",
		 f->shoff, EH_OFF(e_shoff), f->shnum, sizeof(Elf32_Shdr));
	rc = check_in_file(ctx, f, f->shoff, (uint64_t)f->shnum * sizeof(Elf32_Shdr), what);
	if (rc < 0)
		return rc;
	if (f->shnum == 0)
		return 0;

	if (f->shstrndx == SHN_UNDEF)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s is 0 (SHN_UNDEF): the sections have no names", strndx_where);
	if (f->shstrndx >= f->shnum)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s is %u, but there are only %u section headers", strndx_where,
				   f->shstrndx, f->shnum);
	shdr_read(f, f->shstrndx, &strsh);
	if (strsh.type != SHT_STRTAB)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "section [%u] named by %s: sh_type at offset 0x%llx is %u, not "
				   "SHT_STRTAB (%d)",
				   f->shstrndx, strndx_where,
				   (unsigned long long)(strsh.at + SH_OFF(sh_type)), strsh.type,
				   SHT_STRTAB);
	snprintf(what, sizeof(what),
		 "section [%u] .shstrtab (header at offset 0x%llx): contents (sh_offset 0x%x, "
		 "sh_size 0x%x)",
		 f->shstrndx, (unsigned long long)strsh.at, strsh.offset, strsh.size);
	rc = check_in_file(ctx, f, strsh.offset, strsh.size, what);
	if (rc < 0)
		return rc;
	f->strtab = b + strsh.offset;
	f->strtab_size = strsh.size;
	return 0;
}

/*
 * objcopy compatibility (BFD): some linkers leave every p_paddr 0; with more than one PT_LOAD
 * that would put all sections at overlapping LMAs, so BFD then keeps LMA = VMA. Do the same so
 * the payloads stay identical to objcopy's.
 */
static void detect_zero_paddr(struct elf_file *f)
{
	uint32_t nload = 0;

	for (uint32_t i = 0; i < f->phnum; i++) {
		struct elf_phdr ph;

		phdr_read(f, i, &ph);
		if (ph.paddr != 0)
			return;
		if (ph.type == PT_LOAD && ph.memsz != 0)
			nload++;
	}
	f->lma_is_vma = nload > 1;
}

/* ELF gABI "section in segment": both its file bytes and its addresses lie inside the segment. */
static uint64_t lma_of_section(const struct elf_file *f, const struct elf_shdr *sh)
{
	if (f->lma_is_vma)
		return sh->addr;
	for (uint32_t i = 0; i < f->phnum; i++) {
		struct elf_phdr ph;

		phdr_read(f, i, &ph);
		if (ph.type != PT_LOAD)
			continue;
		if (sh->offset >= ph.offset &&
		    (uint64_t)sh->offset + sh->size <= (uint64_t)ph.offset + ph.filesz &&
		    sh->addr >= ph.vaddr &&
		    (uint64_t)sh->addr + sh->size <= (uint64_t)ph.vaddr + ph.memsz)
			return (uint64_t)ph.paddr + (sh->offset - ph.offset);
	}
	return sh->addr;
}

static void loadable_label(const struct loadable *l, char *buf, size_t n)
{
	snprintf(buf, n, "%s [%u] '%s'", l->is_segment ? "segment" : "section", l->index,
		 l->sec->name);
}

/* Assigns the region; a piece must lie wholly inside one region. */
static int place(struct dfumgr_ctx *ctx, struct loadable *l, uint64_t lma)
{
	uint64_t size = l->sec->size;
	uint64_t end = lma + size;
	char label[DFUMGR_ELF_NAME_MAX + 32];

	if (end <= DFUMGR_REGION_INTERNAL_END) {
		l->sec->region = DFUMGR_REGION_INTERNAL;
	} else if (lma >= DFUMGR_REGION_QSPI_START && end <= DFUMGR_REGION_QSPI_END) {
		l->sec->region = DFUMGR_REGION_QSPI;
	} else {
		loadable_label(l, label, sizeof(label));
		if (lma < DFUMGR_REGION_INTERNAL_END)
			return dfumgr_fail(ctx, DFUMGR_E_NOFIT,
					   "%s at LMA 0x%llx..0x%llx (size 0x%llx) crosses the end "
					   "of internal flash at 0x%x",
					   label, (unsigned long long)lma, (unsigned long long)end,
					   (unsigned long long)size, DFUMGR_REGION_INTERNAL_END);
		if (lma >= DFUMGR_REGION_QSPI_START && lma < DFUMGR_REGION_QSPI_END)
			return dfumgr_fail(ctx, DFUMGR_E_NOFIT,
					   "%s at LMA 0x%llx..0x%llx (size 0x%llx) crosses the end "
					   "of the QSPI XIP window at 0x%x",
					   label, (unsigned long long)lma, (unsigned long long)end,
					   (unsigned long long)size, DFUMGR_REGION_QSPI_END);
		return dfumgr_fail(
		    ctx, DFUMGR_E_NOFIT,
		    "%s at LMA 0x%llx (size 0x%llx) loads neither into internal flash "
		    "[0x%x, 0x%x) nor into the QSPI XIP window [0x%x, 0x%x)",
		    label, (unsigned long long)lma, (unsigned long long)size,
		    DFUMGR_REGION_INTERNAL_START, DFUMGR_REGION_INTERNAL_END,
		    DFUMGR_REGION_QSPI_START, DFUMGR_REGION_QSPI_END);
	}
	l->sec->lma = (uint32_t)lma;
	return 0;
}

/* Fills s->sections and loads[]; returns the count or a negative error. */
static int collect_sections(struct dfumgr_ctx *ctx, const struct elf_file *f,
			    struct dfumgr_elf_section *secs, struct loadable *loads)
{
	char what[DFUMGR_ELF_NAME_MAX + 128];
	uint32_t n = 0;
	int rc;

	/* Section 0 is the reserved SHT_NULL entry (or holds extended counts): never loaded. */
	for (uint32_t i = 1; i < f->shnum; i++) {
		struct elf_shdr sh;
		const char *name;
		struct loadable *l;

		shdr_read(f, i, &sh);
		if (sh.name >= f->strtab_size)
			return dfumgr_fail(
			    ctx, DFUMGR_E_FORMAT,
			    "section [%u]: sh_name at offset 0x%llx is 0x%x, past the "
			    "end of .shstrtab (0x%x bytes)",
			    i, (unsigned long long)(sh.at + SH_OFF(sh_name)), sh.name,
			    f->strtab_size);
		name = (const char *)f->strtab + sh.name;
		if (!memchr(name, '\0', f->strtab_size - sh.name))
			return dfumgr_fail(
			    ctx, DFUMGR_E_FORMAT,
			    "section [%u]: name at .shstrtab offset 0x%x (sh_name at "
			    "offset 0x%llx) is not NUL-terminated inside .shstrtab",
			    i, sh.name, (unsigned long long)(sh.at + SH_OFF(sh_name)));
		/* objcopy -O binary writes only allocated sections that have file contents. */
		if (!(sh.flags & SHF_ALLOC) || sh.type == SHT_NOBITS || sh.type == SHT_NULL ||
		    sh.size == 0)
			continue;

		l = &loads[n];
		l->sec = &secs[n];
		l->index = i;
		l->file_offset = sh.offset;
		copy_name(l->sec->name, name);
		l->sec->vma = sh.addr;
		l->sec->size = sh.size;
		l->sec->flags = sh.flags;
		snprintf(what, sizeof(what),
			 "section [%u] '%s' (header at offset 0x%llx): contents (sh_offset 0x%x, "
			 "sh_size 0x%x)",
			 i, l->sec->name, (unsigned long long)sh.at, sh.offset, sh.size);
		rc = check_in_file(ctx, f, sh.offset, sh.size, what);
		if (rc < 0)
			return rc;
		rc = place(ctx, l, lma_of_section(f, &sh));
		if (rc < 0)
			return rc;
		n++;
	}
	return (int)n;
}

/* A stripped ELF: what objcopy loads is the file part of each PT_LOAD segment, at p_paddr. */
static int collect_segments(struct dfumgr_ctx *ctx, const struct elf_file *f,
			    struct dfumgr_elf_section *secs, struct loadable *loads)
{
	uint32_t n = 0;
	int rc;

	for (uint32_t i = 0; i < f->phnum; i++) {
		struct elf_phdr ph;
		struct loadable *l;

		phdr_read(f, i, &ph);
		if (ph.type != PT_LOAD || ph.filesz == 0)
			continue;
		l = &loads[n];
		l->sec = &secs[n];
		l->index = i;
		l->is_segment = true;
		l->file_offset = ph.offset;
		snprintf(l->sec->name, sizeof(l->sec->name), "PT_LOAD[%u]", i);
		l->sec->vma = ph.vaddr;
		l->sec->size = ph.filesz;
		l->sec->flags = SHF_ALLOC | ((ph.flags & PF_W) ? SHF_WRITE : 0) |
				((ph.flags & PF_X) ? SHF_EXECINSTR : 0);
		/* contents were checked against the file size with the program headers */
		rc = place(ctx, l, ph.paddr);
		if (rc < 0)
			return rc;
		n++;
	}
	return (int)n;
}

static int cmp_lma(const void *a, const void *b)
{
	const struct loadable *x = a, *y = b;

	if (x->sec->lma != y->sec->lma)
		return x->sec->lma < y->sec->lma ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

/* loads[] sorted by LMA: each region's pieces are consecutive, internal flash first. */
static int build_payload(struct dfumgr_ctx *ctx, const struct elf_file *f,
			 const struct loadable *loads, size_t n, enum dfumgr_region region,
			 struct dfumgr_elf_payload *ret_payload)
{
	struct dfumgr_elf_payload p = {0};
	uint64_t start = 0, end = 0;
	size_t first = n, count = 0;

	for (size_t i = 0; i < n; i++) {
		const struct dfumgr_elf_section *sec = loads[i].sec;

		if (sec->region != region)
			continue;
		if (first == n) {
			first = i;
			start = sec->lma;
		}
		if ((uint64_t)sec->lma + sec->size > end)
			end = (uint64_t)sec->lma + sec->size;
		count++;
	}
	if (count == 0) {
		*ret_payload = p;
		return 0;
	}
	if (end - start > DFUMGR_ELF_PAYLOAD_MAX)
		return dfumgr_fail(
		    ctx, DFUMGR_E_TOOBIG,
		    "%s payload from LMA 0x%llx to 0x%llx is 0x%llx bytes, more than "
		    "the limit of 0x%x bytes",
		    region_text[region], (unsigned long long)start, (unsigned long long)end,
		    (unsigned long long)(end - start), DFUMGR_ELF_PAYLOAD_MAX);
	p.start = (uint32_t)start;
	p.size = (uint32_t)(end - start);
	p.n_sections = count;
	/* objcopy fills the gaps between sections with 0x00 (its default --gap-fill) */
	p.data = calloc(1, p.size);
	if (!p.data)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "cannot allocate the %u-byte %s payload",
				   p.size, region_text[region]);
	for (size_t i = first; i < first + count; i++)
		memcpy(p.data + (loads[i].sec->lma - p.start), f->buf + loads[i].file_offset,
		       loads[i].sec->size);
	*ret_payload = p;
	return 0;
}

static int check_overlaps(struct dfumgr_ctx *ctx, const struct loadable *loads, size_t n)
{
	char a[DFUMGR_ELF_NAME_MAX + 32], b[DFUMGR_ELF_NAME_MAX + 32];

	/* sorted by LMA, and no piece crosses a region boundary: neighbours are enough */
	for (size_t i = 1; i < n; i++) {
		const struct dfumgr_elf_section *x = loads[i - 1].sec, *y = loads[i].sec;

		if ((uint64_t)x->lma + x->size <= y->lma)
			continue;
		loadable_label(&loads[i - 1], a, sizeof(a));
		loadable_label(&loads[i], b, sizeof(b));
		return dfumgr_fail(
		    ctx, DFUMGR_E_FORMAT,
		    "%s at LMA 0x%x..0x%llx and %s at LMA 0x%x..0x%llx overlap in %s", a, x->lma,
		    (unsigned long long)x->lma + x->size, b, y->lma,
		    (unsigned long long)y->lma + y->size, region_text[x->region]);
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_elf_split(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				   struct dfumgr_elf_split **ret_split)
{
	struct elf_file f = {.buf = buf, .size = size};
	struct dfumgr_elf_split *s = NULL;
	struct loadable *loads = NULL;
	uint32_t max_pieces;
	uint64_t span_end;
	size_t n;
	int rc;

	if (!buf || !ret_split)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "dfumgr_elf_split: buf and ret_split are required");
	if (size > DFUMGR_ELF_FILE_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "ELF file is %zu bytes, more than the limit of %u bytes", size,
				   DFUMGR_ELF_FILE_MAX);
	rc = parse_ehdr(ctx, &f);
	if (rc < 0)
		return rc;
	rc = parse_section_headers(ctx, &f);
	if (rc < 0)
		return rc;
	rc = parse_program_headers(ctx, &f);
	if (rc < 0)
		return rc;
	detect_zero_paddr(&f);

	max_pieces = f.shnum > 0 ? f.shnum : f.phnum;
	s = calloc(1, sizeof(*s));
	if (s && max_pieces > 0)
		s->sections = calloc(max_pieces, sizeof(*s->sections));
	if (max_pieces > 0)
		loads = calloc(max_pieces, sizeof(*loads));
	if (!s || (max_pieces > 0 && (!s->sections || !loads))) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "cannot allocate the section list");
		goto out;
	}
	s->entry = f.entry;
	s->from_segments = f.shnum == 0;
	if (s->from_segments)
		rc = collect_segments(ctx, &f, s->sections, loads);
	else
		rc = collect_sections(ctx, &f, s->sections, loads);
	if (rc < 0)
		goto out;
	n = (size_t)rc;
	if (n == 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				 s->from_segments
				     ? "nothing to load: no section headers and no PT_LOAD "
				       "segment with p_filesz > 0"
				     : "nothing to load: no SHF_ALLOC section with contents");
		goto out;
	}
	s->n_sections = n;

	qsort(loads, n, sizeof(*loads), cmp_lma);
	rc = check_overlaps(ctx, loads, n);
	if (rc < 0)
		goto out;
	rc = build_payload(ctx, &f, loads, n, DFUMGR_REGION_INTERNAL, &s->internal);
	if (rc < 0)
		goto out;
	rc = build_payload(ctx, &f, loads, n, DFUMGR_REGION_QSPI, &s->qspi);
	if (rc < 0)
		goto out;

	s->span_start = loads[0].sec->lma;
	span_end = 0;
	for (size_t i = 0; i < n; i++)
		if ((uint64_t)loads[i].sec->lma + loads[i].sec->size > span_end)
			span_end = (uint64_t)loads[i].sec->lma + loads[i].sec->size;
	s->span_size = span_end - s->span_start;

	*ret_split = s;
	s = NULL;
	rc = 0;
out:
	free(loads);
	dfumgr_elf_split_free(s);
	return rc;
}
