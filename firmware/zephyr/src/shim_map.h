/* SPDX-License-Identifier: MIT */
/*
 * Where the core's four flash areas live on the nRF5340 DK: the partition map of dfumgr/wire.h
 * as a table, the check of the board's real partitions (from devicetree / flash_area) against
 * it, and the arithmetic the flash glue needs for word-aligned programming.
 *
 * Pure C11, no Zephyr headers (host unit tests build it).
 */
#ifndef SHIM_MAP_H
#define SHIM_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include "dfu_dev.h"

enum shim_flash_dev {
	SHIM_FLASH_INTERNAL = 0, /* nRF5340 NVMC, 1 MiB, 4 KiB pages */
	SHIM_FLASH_QSPI = 1,     /* MX25R6435F on QSPI, 8 MiB, 4 KiB sectors */
};

struct shim_area_spec {
	enum dfu_area area;
	const char *node_label; /* devicetree node label MCUboot's flash map uses */
	enum shim_flash_dev dev;
	uint32_t offset; /* within the flash device */
	uint32_t size;
	uint32_t erase_unit;
};

/* Indexed by enum dfu_area. */
extern const struct shim_area_spec shim_area_map[DFU_AREA_COUNT];

/* What the board actually has for one area. */
struct shim_area_actual {
	enum shim_flash_dev dev;
	uint32_t offset;
	uint32_t size;
	uint32_t erase_unit; /* smallest erase unit inside the area (flash page layout) */
};

/*
 * Compares the board's area with the map. Returns NULL when they agree, else a static text
 * naming the first field that differs (for the log: the host plans slot sizes and erase units
 * from wire.h, so a board that differs must not serve DFU).
 */
const char *shim_area_mismatch(enum dfu_area area, const struct shim_area_actual *actual);

/*
 * Word-aligned span covering [off, off + len): the QSPI driver programs only whole 32-bit words
 * at 4-byte aligned addresses (from word-aligned RAM, for EasyDMA). The bytes the span adds
 * around the data are programmed as 0xff, which leaves NOR flash cells as they are.
 * align must be a power of two. Returns false when the span would overflow 32 bits.
 */
bool shim_align_span(uint32_t off, uint32_t len, uint32_t align, uint32_t *ret_start,
		     uint32_t *ret_len);

#endif
