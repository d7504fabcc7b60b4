/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the ELF splitter (dfumgr_elf_split), plus the invariants that pack relies
 * on: every section lies inside its region's payload, payloads stay inside their regions and
 * limits, and a failure always leaves a code and a message.
 *
 * Seed corpus (tests/fuzz/corpus/elf/), made with arm-none-eabi-gcc 12.2 from this source:
 *
 *   __attribute__((section(".extflash_rodata.lut")))
 *   const unsigned char lut[48] = { 3, 1, 4, 1, 5, 9, 2, 6 };
 *   __attribute__((section(".extflash_text.scale"), noinline)) int scale(int x)
 *   { return lut[x & 47] * x; }
 *   const char tag[] = "seed";
 *   volatile int level = 7;
 *   volatile int hits;
 *   void start(void) { for (;;) hits += scale(level) + tag[hits & 3]; }
 *
 * flags: -mcpu=cortex-m33 -mthumb -Os -ffreestanding -nostdlib -ffunction-sections
 * -fdata-sections -Wl,--gc-sections -Wl,--build-id=none -s, with a linker script placing .text
 * at 0xc200, .extflash_text at 0x10120200 and .data at 0x20000000 AT after .rodata:
 *   split-zephyr-style.elf  -Wl,-N (segments start at the sections, odd file order)
 *   split-pagealigned.elf   -Wl,-z,max-page-size=0x100
 *   internal-only.elf       -Wl,-N, .extflash_* folded into .text/.rodata
 *   stripped-split.elf      split-zephyr-style.elf without section headers (e_shoff/e_shnum 0)
 *   truncated.elf           the first 300 bytes of split-zephyr-style.elf
 */
#include <stdlib.h>
#include <string.h>

#include "dfumgr/elfsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_payload(const struct dfumgr_elf_split *s, enum dfumgr_region region)
{
	const struct dfumgr_elf_payload *p = dfumgr_elf_split_payload(s, region);
	uint64_t end = (uint64_t)p->start + p->size;
	size_t count = 0;
	volatile uint8_t sink = 0;

	if (p->size == 0) {
		if (p->data || p->n_sections)
			abort();
		return;
	}
	if (!p->data || p->size > DFUMGR_ELF_PAYLOAD_MAX)
		abort();
	if (region == DFUMGR_REGION_INTERNAL && end > DFUMGR_REGION_INTERNAL_END)
		abort();
	if (region == DFUMGR_REGION_QSPI &&
	    (p->start < DFUMGR_REGION_QSPI_START || end > DFUMGR_REGION_QSPI_END))
		abort();
	for (size_t i = 0; i < s->n_sections; i++) {
		const struct dfumgr_elf_section *sec = &s->sections[i];

		if (sec->region != region)
			continue;
		if (sec->lma < p->start || (uint64_t)sec->lma + sec->size > end || sec->size == 0)
			abort();
		if (!memchr(sec->name, '\0', sizeof(sec->name)))
			abort();
		count++;
	}
	if (count != p->n_sections)
		abort();
	/* reads every byte (volatile: not optimised away), so ASan sees a short allocation */
	for (uint32_t i = 0; i < p->size; i++)
		sink ^= p->data[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_elf_split *s = NULL;
	int rc;

	if (!ctx)
		return 0;
	rc = dfumgr_elf_split(ctx, data, size, &s);
	if (rc < 0) {
		if (s || rc <= -DFUMGR_E_MAX || dfumgr_ctx_errcode(ctx) != -rc ||
		    dfumgr_ctx_errmsg(ctx)[0] == '\0')
			abort();
	} else {
		if (!s || s->n_sections == 0 ||
		    s->internal.n_sections + s->qspi.n_sections != s->n_sections)
			abort();
		check_payload(s, DFUMGR_REGION_INTERNAL);
		check_payload(s, DFUMGR_REGION_QSPI);
	}
	dfumgr_elf_split_free(s);
	dfumgr_ctx_free(ctx);
	return 0;
}
