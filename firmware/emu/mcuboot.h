/* SPDX-License-Identifier: MIT */
/*
 * The MCUboot model of dfu-mgr-emu: what MCUboot 1.10 (the one Zephyr 3.4 ships) does at
 * power-on, as this product configures it (firmware/zephyr/mcuboot/mcuboot.conf): two images,
 * swap using move with test/permanent/confirm/revert, BOOT_MAX_IMG_SECTORS 1024, write size 4,
 * BOOT_MAX_ALIGN 8, the primary slots validated at every boot, ECDSA P-256 when the board has a
 * key (else the SHA-256 TLV alone), build numbers compared when the board's version_cmp_build
 * says so (MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER), no encryption, no downgrade prevention.
 *
 * It follows bootutil's rules (loader.c, swap_move.c, swap_misc.c, bootutil_public.c) step by
 * step, written anew: the same decisions and the same flash writes in the same order, each
 * through the board's flash model, so that its power-cut hook can stop a swap after any write
 * and the next boot resumes it from the status entries as MCUboot does. tests/mcuboot builds
 * the real bootutil and checks both agree on every state of docs/pair-rule.md.
 */
#ifndef EMU_MCUBOOT_H
#define EMU_MCUBOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "dfumgr/wire.h"

struct emu_board;

/* Swap types beyond DFUMGR_SWAP_TYPE_* (bootutil_public.h) */
#define EMU_SWAP_TYPE_FAIL  5    /* the secondary image was invalid (and erased) */
#define EMU_SWAP_TYPE_PANIC 0xff /* MCUboot halts */

enum emu_mcuboot_outcome {
	EMU_MCUBOOT_BOOT = 0,       /* both primaries valid: it jumped to image 0 */
	EMU_MCUBOOT_NO_IMAGE = 1,   /* "Unable to find bootable image": it halts */
	EMU_MCUBOOT_HANG = 2,       /* a panic or an endless loop: it never boots */
	EMU_MCUBOOT_POWER_LOST = 3, /* the power failed while it ran */
};

struct emu_mcuboot_result {
	enum emu_mcuboot_outcome outcome;
	/* what each image's swap was (DFUMGR_SWAP_TYPE_*, EMU_SWAP_TYPE_*) once decided */
	uint8_t swap_type[DFUMGR_N_IMAGES];
	bool resumed[DFUMGR_N_IMAGES]; /* an interrupted swap was completed */
	uint64_t writes;               /* erase and program calls it made */
	uint64_t writes_before;        /* the board's write counter (emu_power) when it started */
	/* their datasheet time: how long it kept the board from running the application */
	uint64_t busy_us;
	char log[256]; /* what it did, for people ("swapped image 0 (test); ...") */
};

/* One power-on of MCUboot on the board's flash; fills *ret (never fails). */
void emu_mcuboot_boot(struct emu_board *b, struct emu_mcuboot_result *ret);

/* Names for logs and JSON. */
const char *emu_mcuboot_outcome_name(enum emu_mcuboot_outcome o);
const char *emu_mcuboot_swap_name(uint8_t swap_type);

#endif
