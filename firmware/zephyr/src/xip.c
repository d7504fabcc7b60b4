/* SPDX-License-Identifier: MIT */
/*
 * The sample's image-1 part: a function and a table that the linker places in the QSPI XIP
 * window at 0x10120200 (sections .extflash_text / .extflash_rodata, see extflash.ld), so the
 * application is really split across internal flash and QSPI the way dfu-mgr is built for.
 * The table is generated at build time (scripts/gen_xip_table.py); its FNV-1a hash is compiled
 * into internal flash, and the boot self-test recomputes it with the QSPI code.
 */
#include <stdint.h>

#include <zephyr/device.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#ifdef SHIM_HAVE_XIP
#include <zephyr/drivers/flash/nrf_qspi_nor.h>
#endif

#include "dfumgr/wire.h"
#include "shim.h"
#include "xip_table.h"

LOG_MODULE_REGISTER(shim_xip, LOG_LEVEL_INF);

/* in .extflash_rodata, from the generated xip_table.S */
extern const uint8_t shim_xip_table[SHIM_XIP_TABLE_SIZE];

#ifdef SHIM_HAVE_XIP
/*
 * long_call: internal flash and the XIP window are 256 MiB apart, beyond a Thumb BL's reach.
 * The function is a leaf (no library calls), so nothing in QSPI calls back into internal flash.
 */
#define XIP_TEXT __attribute__((section(".extflash_text.shim_xip_fnv1a"), noinline))
#define XIP_CALL __attribute__((long_call))
#else
/* a board without the EXTFLASH region (the native_posix_64 test build): ordinary code */
#define XIP_TEXT __attribute__((noinline))
#define XIP_CALL
#endif

uint32_t shim_xip_fnv1a(const uint8_t *p, uint32_t n) XIP_CALL;

XIP_TEXT uint32_t shim_xip_fnv1a(const uint8_t *p, uint32_t n)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#ifdef SHIM_HAVE_XIP
static bool in_image1(uintptr_t addr)
{
	uintptr_t lo =
	    DFUMGR_QSPI_XIP_BASE + DFUMGR_IMG1_PRIMARY_OFFSET + DFUMGR_IMAGE_HEADER_OFFSET;
	uintptr_t hi = DFUMGR_QSPI_XIP_BASE + DFUMGR_IMG1_PRIMARY_OFFSET + DFUMGR_IMG1_SLOT_SIZE;

	return addr >= lo && addr < hi;
}

/* Makes the XIP window readable; checks that the linker put image 1 where MCUboot puts it. */
static int xip_enable(void)
{
	const struct device *qspi = DEVICE_DT_GET(DT_NODELABEL(mx25r64));
	uintptr_t fn = (uintptr_t)&shim_xip_fnv1a & ~(uintptr_t)1; /* Thumb bit */

	if (!in_image1(fn) || !in_image1((uintptr_t)shim_xip_table)) {
		LOG_ERR("XIP code at 0x%08lx / table at 0x%08lx: not in image 1's slot",
			(unsigned long)fn, (unsigned long)(uintptr_t)shim_xip_table);
		return -EFAULT;
	}
	if (!device_is_ready(qspi))
		return -ENODEV;
	/* the CPU reads 0x10000000.. through the QSPI peripheral only while XIP is on */
	nrf_qspi_nor_xip_enable(qspi, true);
	return 0;
}
#else
static int xip_enable(void)
{
	return 0;
}
#endif

int shim_xip_selftest(uint32_t *ret_hash)
{
	int rc = xip_enable();

	*ret_hash = 0;
	if (rc != 0)
		return rc;
	*ret_hash = shim_xip_fnv1a(shim_xip_table, SHIM_XIP_TABLE_SIZE);
	return *ret_hash == SHIM_XIP_TABLE_FNV1A ? 0 : -EIO;
}
