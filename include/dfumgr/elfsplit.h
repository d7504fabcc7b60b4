/* SPDX-License-Identifier: MIT */
/*
 * Split a linked nRF5340 application ELF (e.g. zephyr.elf) into the two MCUboot payloads:
 * what loads into internal flash (image 0) and what loads into the QSPI flash that the CPU
 * executes in place (image 1).
 *
 * Why: `objcopy -O binary` of the whole ELF spans from the lowest to the highest load address,
 * so one image would cover internal flash, the unmapped hole up to 0x10000000 and the QSPI code
 * (about 256 MiB of zeros); MCUboot cannot place that in any slot. The split gives, per region,
 * exactly the bytes `arm-none-eabi-objcopy -O binary --only-section=...` gives for that region's
 * sections: every SHF_ALLOC section with contents (not SHT_NOBITS, size > 0) at its load address
 * (LMA), gaps filled with 0x00, from the region's lowest LMA to its highest LMA end.
 *
 * The LMA of a section is derived from the PT_LOAD segment that holds it (file range and
 * address range both inside the segment): p_paddr + (sh_offset - p_offset); a section in no
 * segment loads at its sh_addr. If every p_paddr is 0 and there are several PT_LOADs, LMA = VMA
 * (BFD does the same: some linkers never fill p_paddr).
 *
 * An ELF without section headers (stripped with sstrip or similar) uses its PT_LOAD segments with
 * p_filesz > 0 instead: their file bytes at p_paddr, which is what a flash loader writes. objcopy
 * itself refuses such a file ("has no sections"). With a page-aligned link the first segment
 * then starts with the ELF header, below the first section.
 */
#ifndef DFUMGR_ELFSPLIT_H
#define DFUMGR_ELFSPLIT_H

#include "dfumgr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits; exceeding one gives -DFUMGR_E_TOOBIG. */
#define DFUMGR_ELF_FILE_MAX     (64u * 1024u * 1024u) /* whole ELF file */
#define DFUMGR_ELF_SECTIONS_MAX 1024u                 /* e_shnum */
#define DFUMGR_ELF_SEGMENTS_MAX 1024u                 /* e_phnum */
#define DFUMGR_ELF_PAYLOAD_MAX  (16u * 1024u * 1024u) /* one region's payload */
/* Size of a section name buffer; longer names are cut (they are only reported, never matched). */
#define DFUMGR_ELF_NAME_MAX 64

/* nRF5340 application core memory map (LMAs): [start, end). */
#define DFUMGR_REGION_INTERNAL_START 0x00000000u
#define DFUMGR_REGION_INTERNAL_END   0x00100000u /* 1 MiB internal flash */
#define DFUMGR_REGION_QSPI_START     0x10000000u
#define DFUMGR_REGION_QSPI_END       0x20000000u /* QSPI XIP window */

enum dfumgr_region {
	DFUMGR_REGION_INTERNAL = 0, /* internal flash: MCUboot image 0 */
	DFUMGR_REGION_QSPI = 1,     /* QSPI XIP window: MCUboot image 1 */
	DFUMGR_REGION_COUNT
};

/* One loadable section (or, for a stripped ELF, one PT_LOAD segment named "PT_LOAD[i]"). */
struct dfumgr_elf_section {
	char name[DFUMGR_ELF_NAME_MAX]; /* NUL-terminated */
	uint32_t vma;                   /* run address (sh_addr / p_vaddr) */
	uint32_t lma;                   /* load address: where its bytes are in flash */
	uint32_t size;                  /* bytes of contents */
	uint32_t flags; /* sh_flags (SHF_*); for a segment, SHF_* made from p_flags */
	enum dfumgr_region region;
};

/* The bytes of one region, as objcopy -O binary writes them. */
struct dfumgr_elf_payload {
	uint32_t start;    /* LMA of data[0]; 0 when the region is empty */
	uint32_t size;     /* bytes; 0 when no section loads into the region */
	uint8_t *data;     /* malloc'ed, owned by the split; NULL when size is 0 */
	size_t n_sections; /* how many entries of sections[] have this region */
};

struct dfumgr_elf_split {
	uint32_t entry;     /* e_entry */
	bool from_segments; /* no section headers: sections[] are PT_LOAD segments */
	size_t n_sections;  /* loadable sections, in section header order */
	struct dfumgr_elf_section *sections; /* owned by the split */
	struct dfumgr_elf_payload internal;  /* DFUMGR_REGION_INTERNAL */
	struct dfumgr_elf_payload qspi;      /* DFUMGR_REGION_QSPI */
	/*
	 * What one unsplit `objcopy -O binary` image would cover: lowest LMA to highest LMA end
	 * over both regions. Only reported (it explains why one image cannot work); never
	 * allocated.
	 */
	uint32_t span_start;
	uint64_t span_size;
};

/* True when buf starts with the ELF magic (\x7fELF); says nothing about validity. */
DFUMGR_EXPORT bool dfumgr_elf_is_elf(const uint8_t *buf, size_t size);

/* "internal" or "qspi"; "unknown" for any other value. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_region_name(enum dfumgr_region region);

/*
 * Splits the ELF in buf[0..size) (32-bit, little-endian, EM_ARM, ET_EXEC) by load address.
 * buf is only read and may be freed once this returns. Every loadable section must lie wholly
 * inside internal flash [0, 1 MiB) or the QSPI XIP window [0x10000000, 0x20000000).
 *
 * On success *ret_split is a new split that the caller frees with dfumgr_elf_split_free().
 * A region without sections has an empty payload (size 0, data NULL); that is not an error.
 * On failure *ret_split is untouched and the context names the field and byte offset at fault.
 *
 * Errors:
 *   -DFUMGR_E_INVAL        buf or ret_split is NULL
 *   -DFUMGR_E_BADMAGIC     not an ELF file
 *   -DFUMGR_E_UNSUPPORTED  ELFCLASS64, big-endian, e_machine not EM_ARM, e_type not ET_EXEC
 *   -DFUMGR_E_TRUNCATED    the file ends inside the ELF header, a header table, .shstrtab,
 *                          a segment or a loadable section
 *   -DFUMGR_E_FORMAT       a malformed header field (e_ehsize, e_phentsize, e_shentsize,
 *                          e_shstrndx, versions), a section name not NUL-terminated inside
 *                          .shstrtab, p_filesz > p_memsz, overlapping sections in one region,
 *                          or nothing loadable at all
 *   -DFUMGR_E_NOFIT        a loadable section whose LMA range is outside both regions or
 *                          crosses a region boundary (message names the section and address)
 *   -DFUMGR_E_TOOBIG       a DFUMGR_ELF_*_MAX limit is exceeded
 *   -DFUMGR_E_NOMEM        out of memory
 * Thread safety: none needed beyond the context's (one thread at a time).
 */
DFUMGR_EXPORT int dfumgr_elf_split(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				   struct dfumgr_elf_split **ret_split);

/* Frees the split, its section list and both payloads. Accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_elf_split *dfumgr_elf_split_free(struct dfumgr_elf_split *split);

/* The payload of a region (&split->internal or &split->qspi), NULL for any other value. */
DFUMGR_EXPORT const struct dfumgr_elf_payload *dfumgr_elf_split_payload(
    const struct dfumgr_elf_split *split, enum dfumgr_region region);

#ifdef __cplusplus
}
#endif
#endif
