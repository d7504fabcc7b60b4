/* SPDX-License-Identifier: MIT */
#include "shim_map.h"

/*
 * Node labels: MCUboot's Zephyr port finds image N's primary and secondary slot as
 * slot(2N)_partition and slot(2N+1)_partition (boot/zephyr/include/sysflash/sysflash.h).
 */
const struct shim_area_spec shim_area_map[DFU_AREA_COUNT] = {
    [DFU_AREA_IMG0_PRIMARY] = {DFU_AREA_IMG0_PRIMARY, "slot0_partition", SHIM_FLASH_INTERNAL,
			       DFUMGR_IMG0_PRIMARY_OFFSET, DFUMGR_IMG0_SLOT_SIZE,
			       DFUMGR_INTERNAL_PAGE_SIZE},
    [DFU_AREA_IMG0_SECONDARY] = {DFU_AREA_IMG0_SECONDARY, "slot1_partition", SHIM_FLASH_QSPI,
				 DFUMGR_IMG0_SECONDARY_OFFSET, DFUMGR_IMG0_SLOT_SIZE,
				 DFUMGR_QSPI_SECTOR_SIZE},
    [DFU_AREA_IMG1_PRIMARY] = {DFU_AREA_IMG1_PRIMARY, "slot2_partition", SHIM_FLASH_QSPI,
			       DFUMGR_IMG1_PRIMARY_OFFSET, DFUMGR_IMG1_SLOT_SIZE,
			       DFUMGR_QSPI_SECTOR_SIZE},
    [DFU_AREA_IMG1_SECONDARY] = {DFU_AREA_IMG1_SECONDARY, "slot3_partition", SHIM_FLASH_QSPI,
				 DFUMGR_IMG1_SECONDARY_OFFSET, DFUMGR_IMG1_SLOT_SIZE,
				 DFUMGR_QSPI_SECTOR_SIZE},
};

const char *shim_area_mismatch(enum dfu_area area, const struct shim_area_actual *actual)
{
	const struct shim_area_spec *s;

	if ((unsigned)area >= DFU_AREA_COUNT || !actual)
		return "no such area";
	s = &shim_area_map[area];
	if (actual->dev != s->dev)
		return "on the wrong flash device";
	if (actual->offset != s->offset)
		return "at the wrong offset";
	if (actual->size != s->size)
		return "of the wrong size";
	/*
	 * The core erases one erase_unit at a time and tells the host the unit in GET_INFO; a
	 * coarser real unit (e.g. the QSPI driver's default 64 KiB layout pages) would erase
	 * neighbouring bytes the core believes are still written.
	 */
	if (actual->erase_unit != s->erase_unit)
		return "with the wrong erase unit";
	return NULL;
}

bool shim_align_span(uint32_t off, uint32_t len, uint32_t align, uint32_t *ret_start,
		     uint32_t *ret_len)
{
	uint32_t mask = align - 1;
	uint64_t end = (uint64_t)off + len;
	uint64_t aligned_end = (end + mask) & ~(uint64_t)mask;
	uint32_t start = off & ~mask;

	if (align == 0 || (align & mask) || aligned_end > UINT32_MAX)
		return false;
	*ret_start = start;
	*ret_len = (uint32_t)(aligned_end - start);
	return true;
}
