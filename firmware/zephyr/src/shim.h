/* SPDX-License-Identifier: MIT */
/*
 * The Zephyr side of the nRF5340 shim: how its files share the work.
 *
 *   platform.c   flash_area + tinycrypt behind the core's struct dfu_dev_ops (erase, program,
 *                read, SHA-256); the partition check against dfumgr/wire.h
 *   usb_dfu.c    the DFU class on Zephyr's legacy USB device stack: descriptors, class, vendor
 *                and SET_INTERFACE requests into firmware/core, runtime <-> DFU mode
 *                re-enumeration, reboot
 *   confirm.c    boot self-test, then the core's confirmation of both images
 *   xip.c        the sample code and table linked into QSPI (image 1), run in place
 *   main.c       start-up order and the background digest loop
 *
 * firmware/core/dfu_dev.c is compiled from its own path, unchanged: the emulator runs the same
 * file.
 */
#ifndef SHIM_H
#define SHIM_H

#include <stdbool.h>
#include <stdint.h>

#include "dfu_dev.h"

/* ---- platform.c ---- */

/*
 * Opens the four flash areas and checks them against the partition map of wire.h (device,
 * offset, size, erase unit). Fills areas[] for dfu_dev_init(). 0 or negative errno.
 */
int shim_platform_init(struct dfu_area_info areas[DFU_AREA_COUNT]);

/* struct dfu_dev_ops members (user is unused: the platform has one of each). */
int shim_flash_erase(void *user, enum dfu_area area, uint32_t off, uint32_t len, uint32_t *cost_us);
int shim_flash_program(void *user, enum dfu_area area, uint32_t off, const uint8_t *data,
		       uint32_t len, uint32_t *cost_us);
int shim_flash_read(void *user, enum dfu_area area, uint32_t off, uint8_t *data, uint32_t len);
void shim_sha256_start(void *user, unsigned ctx);
void shim_sha256_update(void *user, unsigned ctx, const uint8_t *data, uint32_t len);
void shim_sha256_finish(void *user, unsigned ctx, uint8_t digest[32]);

/* Measured flash times since the last call (logged at the end of each download). */
struct shim_flash_stats {
	uint32_t erases;
	uint32_t programs;
	uint32_t erase_us;
	uint32_t program_us;
	uint32_t max_erase_us;
	uint32_t max_program_us;
};
void shim_flash_stats_take(struct shim_flash_stats *ret_stats);

/* ---- usb_dfu.c ---- */

/*
 * Builds the descriptors of runtime mode (or DFU mode), initialises the core and enables USB.
 * 0 or -errno.
 */
int shim_usb_start(const struct dfu_area_info areas[DFU_AREA_COUNT], const char *serial,
		   bool dfu_mode);

/*
 * One bounded step of the core's background work (digest / commit re-hash). Returns true
 * while more work is pending. Called by main's loop whenever shim_usb_work_wait() returns.
 */
bool shim_usb_poll_step(void);
void shim_usb_work_wait(void);

/*
 * The core's boot-time confirmation (dfu_dev_confirm(): image 0, then image 1, only when the
 * running images meet each other's dependencies). An enum dfu_confirm_result or a negative
 * enum dfu_flash_result.
 */
int shim_usb_confirm(void);

/* ---- confirm.c ---- */

/*
 * Self-test of the running pair and MCUboot confirmation of both images (image 0 first). A
 * failed test leaves both unconfirmed, so the next reset reverts the pair; with
 * CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS the application resets by itself. 0 when confirmed (or
 * already confirmed), negative otherwise.
 */
int shim_confirm_on_boot(void);

/* ---- xip.c ---- */

/*
 * Enables QSPI XIP and runs the image-1 code over the image-1 table. 0 when the result matches
 * the value computed at build time; negative otherwise. *ret_hash gets what the XIP code got.
 */
int shim_xip_selftest(uint32_t *ret_hash);

#endif
