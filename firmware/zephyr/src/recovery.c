/* SPDX-License-Identifier: MIT */
/*
 * What keeps a board with a bad image 1 reachable (shim_recovery.h has the policy):
 *
 * - k_sys_fatal_error_handler(): Zephyr's default halts the CPU; here every fatal error (a bus
 *   fault fetching garbage from QSPI, an oops, a stack overflow) is noted in the retained record
 *   and resets the board. An unconfirmed pair is then reverted by MCUboot; a confirmed one boots
 *   again and the fault is counted.
 * - shim_recovery_decide(): at boot, before any image-1 code, the count decides safe mode.
 * - shim_reset(): every reset the application makes goes through here, with its reason.
 *
 * Where the record lives: on the DK in the RETAINED memory region (the last KiB of SRAM, outside
 * the RAM that MCUboot and the application use; boards/ overlay), a NOLOAD section that no
 * startup code initialises. The chip's RESETREAS (hwinfo) fills in what no code could note:
 * a watchdog reset with interrupts locked, a CPU lockup, and power-on (RAM undefined: start
 * over). On native_posix_64, native_hooks.c keeps the record in a file across the process
 * "resets".
 */
#include <zephyr/drivers/hwinfo.h>
#include <zephyr/fatal.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/logging/log_ctrl.h>
#include <zephyr/sys/reboot.h>

#include "dfumgr/wire.h"
#include "mcuboot_image.h"
#include "shim.h"

LOG_MODULE_REGISTER(shim_recovery, LOG_LEVEL_INF);

#if DT_NODE_EXISTS(DT_NODELABEL(retained_ram))
BUILD_ASSERT(DT_REG_SIZE(DT_NODELABEL(retained_ram)) >= sizeof(struct shim_retained),
	     "retained_ram is too small for the recovery record");
/* NOLOAD: neither zeroed nor copied at startup, so it holds what the last boot wrote */
#define RETAINED __attribute__((section("RETAINED")))
#else
#define RETAINED
#endif

static struct shim_retained retained RETAINED;
static bool safe_mode;
static bool pair_unconfirmed;

struct shim_retained *shim_retained_get(void)
{
	return &retained;
}

bool shim_safe_mode(void)
{
	return safe_mode;
}

bool shim_pair_unconfirmed(void)
{
	return pair_unconfirmed;
}

void shim_reset_note(enum shim_reset_reason reason)
{
	shim_recovery_note_reset(&retained, reason, 0, 0);
}

void shim_reset(enum shim_reset_reason reason)
{
	shim_recovery_note_reset(&retained, reason, 0, 0);
	LOG_PANIC();
	sys_reboot(SYS_REBOOT_COLD);
}

void shim_recovery_mark_healthy(void)
{
	if (retained.faults)
		LOG_INF("pair healthy for %d s: fault count cleared", CONFIG_DFUMGR_FAULT_CLEAR_S);
	shim_recovery_healthy(&retained);
}

/*
 * Replaces Zephyr's weak default (which halts). Runs in the faulting context with interrupts
 * locked: it writes RAM and resets, nothing else (no flash, no image-1 code).
 */
void k_sys_fatal_error_handler(unsigned int reason, const z_arch_esf_t *esf)
{
	uint32_t pc = 0;

#ifdef CONFIG_ARM
	if (esf)
		pc = esf->basic.pc;
#else
	ARG_UNUSED(esf);
#endif
	shim_recovery_note_reset(&retained, SHIM_RESET_FATAL, pc, reason);
	LOG_PANIC();
	LOG_ERR("Fatal error %u at pc 0x%08x (%s): reset; %s", reason, pc,
		pc >= DFUMGR_QSPI_XIP_BASE && pc < DFUMGR_QSPI_XIP_BASE + DFUMGR_QSPI_FLASH_SIZE
		    ? "image-1 code in QSPI"
		    : "internal flash",
		pair_unconfirmed ? "the pair is unconfirmed: MCUboot reverts it"
				 : "the fault counts against this pair");
	sys_reboot(SYS_REBOOT_COLD);
}

static enum shim_hw_cause hw_cause(void)
{
	uint32_t cause = 0;

	if (hwinfo_get_reset_cause(&cause) != 0)
		return SHIM_HW_UNKNOWN;
	/* RESETREAS accumulates until cleared: clear it for the next boot's answer */
	(void)hwinfo_clear_reset_cause();
	if (cause & (RESET_POR | RESET_BROWNOUT))
		return SHIM_HW_POWER_ON;
	if (cause & RESET_WATCHDOG)
		return SHIM_HW_WATCHDOG;
	if (cause & RESET_CPU_LOCKUP)
		return SHIM_HW_LOCKUP;
	/* nRF: no reason bit at all means the power-on reset generator */
	return cause == 0 ? SHIM_HW_POWER_ON : SHIM_HW_OTHER;
}

static int read_primary(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	return shim_flash_read(NULL, *(enum dfu_area *)ctx, off, buf, len);
}

/* The running image's SHA256 TLV (what identifies it), false when there is no image. */
static bool image_sha(unsigned image, uint8_t ret_sha[32])
{
	enum dfu_area area = dfu_area_primary(image);
	struct mcuboot_image_info info;
	uint32_t size = image == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;

	return mcuboot_image_read(read_primary, &area, size, &info) == MCUBOOT_IMAGE_OK &&
	       shim_flash_read(NULL, area, info.sha256_off, ret_sha, 32) == 0;
}

static bool image_unconfirmed(unsigned image)
{
	enum dfu_area area = dfu_area_primary(image);
	uint32_t size = image == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
	uint8_t magic[16], image_ok;

	return shim_flash_read(NULL, area, size - DFUMGR_TRAILER_MAGIC_OFF, magic, 16) == 0 &&
	       shim_flash_read(NULL, area, size - DFUMGR_TRAILER_IMAGE_OK_OFF, &image_ok, 1) == 0 &&
	       shim_trailer_unconfirmed(magic, image_ok);
}

bool shim_recovery_decide(void)
{
	uint8_t sha0[32], sha1[32];
	bool have0 = image_sha(0, sha0), have1 = image_sha(1, sha1);
	uint32_t pair = shim_recovery_pair_id(have0 ? sha0 : NULL, have1 ? sha1 : NULL);
	enum shim_hw_cause hw = hw_cause();
	struct shim_boot_decision d;

	pair_unconfirmed = image_unconfirmed(0) || image_unconfirmed(1);
	shim_recovery_boot(&retained, pair, hw, CONFIG_DFUMGR_FAULT_LIMIT, &d);
	safe_mode = d.safe_mode;
	LOG_INF("pair %08x (%s), boot %u; last reset: %s%s", pair,
		pair_unconfirmed ? "unconfirmed test swap" : "confirmed", retained.boots,
		shim_reset_reason_name(d.reason), d.fresh ? " (record started over)" : "");
	if (d.fault_counted)
		LOG_WRN("fault %u of %d of this pair (%s, pc 0x%08x)", d.faults,
			CONFIG_DFUMGR_FAULT_LIMIT, shim_reset_reason_name(d.reason),
			d.reason == SHIM_RESET_FATAL ? retained.fault_pc : 0);
	if (d.safe_mode)
		LOG_ERR("safe mode: %u faults of this pair; USB DFU only, no image-1 code "
			"(install another pair, or power-cycle to try this one again)",
			d.faults);
	return d.safe_mode;
}
