/* SPDX-License-Identifier: MIT */
/*
 * The Zephyr side of the nRF5340 shim: how its files share the work.
 *
 *   platform.c   flash_area + tinycrypt behind the core's struct dfu_dev_ops (erase, program,
 *                read, SHA-256); the partition check against dfumgr/wire.h
 *   usb_dfu.c    the DFU class on Zephyr's legacy USB device stack: descriptors, class, vendor
 *                and SET_INTERFACE requests into firmware/core, the flash thread of the
 *                pipelined download, runtime <-> DFU mode re-enumeration, reboot, the MS OS 2.0
 *                descriptors
 *   confirm.c    boot self-test, then the core's confirmation of both images
 *   recovery.c   the record kept across resets, the fatal error handler, the boot decision
 *                (safe mode), every reset the application makes
 *   health.c     the hardware watchdog and the health check that feeds it
 *   xip.c        XIP enable at early init, the gate every call into image-1 code goes through
 *                (and every QSPI write waits for), the self-test and application step
 *   xip_app.c    the sample's image-1 code (relocated to QSPI with TinyCrypt's ECC/AES)
 *   native_hooks.c  native_posix_64 tests only: fault injection, the record in a file
 *   main.c       start-up order and the main loop
 *
 * firmware/core/dfu_dev.c is compiled from its own path, unchanged: the emulator runs the same
 * file.
 */
#ifndef SHIM_H
#define SHIM_H

#include <stdbool.h>
#include <stdint.h>

#include "dfu_dev.h"
#include "shim_recovery.h"

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
/* Waits for background work at most timeout_ms. */
void shim_usb_work_wait(uint32_t timeout_ms);
/* True in runtime mode (not after DFU_DETACH). */
bool shim_usb_runtime_mode(void);

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

/* ---- recovery.c ---- */

/*
 * The boot decision, before any image-1 code runs (after shim_platform_init()): reads the
 * chip's reset reason, identifies and inspects the running pair, counts a fault, decides safe
 * mode. Logs what it found. Returns true for safe mode.
 */
bool shim_recovery_decide(void);
/* What shim_recovery_decide() decided. */
bool shim_safe_mode(void);
/* True when MCUboot reverts the running pair at the next reset (an unconfirmed test swap). */
bool shim_pair_unconfirmed(void);
/* Records the reason and resets the board (MCUboot runs next). Does not return. */
void shim_reset(enum shim_reset_reason reason);
/* Records the reason of a reset that something else is about to make (the watchdog). */
void shim_reset_note(enum shim_reset_reason reason);
/* The pair ran healthy for CONFIG_DFUMGR_FAULT_CLEAR_S: its fault count is cleared. */
void shim_recovery_mark_healthy(void);
/* The record itself (native_hooks.c keeps it in a file across process "resets"). */
struct shim_retained *shim_retained_get(void);

/* ---- health.c ---- */

/* The main loop is alive: called every iteration (at least every CONFIG_DFUMGR_WDT_TIMEOUT/8). */
void shim_health_checkin(void);
/* The boot (self-test, confirmation) is over: from now on the main loop must check in. */
void shim_health_boot_done(void);
/* A USB request or background step holds the DFU core (entered) / released it. */
void shim_health_core_enter(void);
void shim_health_core_exit(void);
/* A flash erase or program began / ended (platform.c; any thread, the core held or not). */
void shim_health_flash_enter(void);
void shim_health_flash_exit(void);

/* ---- xip.c ---- */

/*
 * The XIP gate. Image-1 code runs only between shim_xip_enter() (0) and shim_xip_exit(), never
 * in an ISR; QSPI erases and programs run only between shim_qspi_write_begin() and _end(),
 * which wait until no image-1 code runs and hold new callers off: the MX25R64 answers no read,
 * and so no instruction fetch, while it erases or programs.
 * shim_xip_enter(): 0, -EPERM (XIP not up, or safe mode), -EWOULDBLOCK (in an ISR).
 */
int shim_xip_enter(void);
void shim_xip_exit(void);
void shim_qspi_write_begin(void);
void shim_qspi_write_end(void);
/* No image-1 code from now on (safe mode); logs why. */
void shim_xip_close(const char *why);

/*
 * Runs the image-1 self-test (FNV-1a of the table, AES-128 and CMAC known answers, ECDSA P-256
 * verify of the table's signature) and compares with the values compiled into internal flash.
 * 0 when all match; negative otherwise. *ret_hash gets the table's FNV-1a as the XIP code got it.
 */
int shim_xip_selftest(uint32_t *ret_hash);
/*
 * The application's image-1 work, at most every CONFIG_DFUMGR_APP_PERIOD_MS: the FNV-1a of the
 * next 4 KiB chunk of the table. Returns 0, or negative when the chunk hashes wrong.
 */
int shim_xip_app_tick(void);

/* ---- xip_app.c: image-1 code, called only by xip.c under the gate ---- */

struct img1_selftest {
	uint32_t fnv1a;   /* of the whole table */
	uint8_t aes[16];  /* AES-128 of the FIPS-197 C.1 block */
	uint8_t cmac[16]; /* AES-CMAC of RFC 4493's 16-byte example */
	int ecdsa;        /* uECC_verify() of the table's signature: 1 valid */
};
void img1_selftest(const uint8_t pubkey[64], const uint8_t signature[64],
		   struct img1_selftest *ret);
uint32_t img1_chunk_fnv1a(uint32_t chunk);

/* ---- native_hooks.c (CONFIG_DFUMGR_TEST_HOOKS): what the native_posix tests inject ---- */
struct shim_test_hooks {
	bool fault_xip;           /* image-1 code calls k_oops() */
	bool hang_xip;            /* image-1 code never returns */
	bool stall_flash;         /* QSPI erases/programs never return */
	bool no_pipeline;         /* no flash thread: flash work inside the request, as before */
	uint32_t xip_delay_ms;    /* the boot waits this long before the first image-1 call */
	uint32_t qspi_erase_us;   /* board time per 4 KiB QSPI sector erased */
	uint32_t qspi_page_us;    /* board time per 256-byte QSPI page a program touches */
	uint32_t fail_program_at; /* the first program of a secondary slot over this offset fails */
};
extern struct shim_test_hooks shim_hooks;

#endif
