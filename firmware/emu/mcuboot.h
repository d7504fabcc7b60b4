/* SPDX-License-Identifier: MIT */
/*
 * The MCUboot model of dfu-mgr-emu: what MCUboot 1.10 (the one Zephyr 3.4 ships) does at
 * power-on, as this product configures it (firmware/zephyr/mcuboot/mcuboot.conf): two images,
 * swap using move with test/permanent/confirm/revert, BOOT_MAX_IMG_SECTORS 1024, write size 4,
 * BOOT_MAX_ALIGN 8, the primary slots validated at every boot, ECDSA P-256 when the board has a
 * key (else the SHA-256 TLV alone), build numbers compared when the board's version_cmp_build
 * says so (MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER), no encryption, no downgrade prevention.
 *
 * The other strategies MCUboot offers for this layout, overwrite-only and direct-XIP, follow the
 * same sources' MCUBOOT_OVERWRITE_ONLY(_FAST) and MCUBOOT_DIRECT_XIP code paths (board setting
 * mcuboot_strategy; docs/mcuboot-strategies.md).
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

/*
 * The upgrade strategy MCUboot is built with (a per-board setting of the emulator; the product's
 * mcuboot.conf uses swap-move). All three handle this product's two images in MCUboot 1.10.
 */
enum emu_mcuboot_strategy {
	/* CONFIG_BOOT_SWAP_USING_MOVE: swap with test/permanent/revert (the default) */
	EMU_MCUBOOT_SWAP_MOVE = 0,
	/*
	 * CONFIG_BOOT_UPGRADE_ONLY (MCUBOOT_OVERWRITE_ONLY and _FAST in Zephyr's
	 * mcuboot_config.h): the secondary copied over the primary, no revert
	 */
	EMU_MCUBOOT_OVERWRITE_ONLY = 1,
	/*
	 * CONFIG_BOOT_DIRECT_XIP without _REVERT: each image runs from whichever slot holds the
	 * higher valid version. The emulator keeps its slot roles fixed: when MCUboot picks a
	 * secondary slot, the two slots' contents trade places outside the flash model (no
	 * time, no writes, no power cut), standing for "the board now runs from the other slot".
	 */
	EMU_MCUBOOT_DIRECT_XIP = 2,
	EMU_MCUBOOT_STRATEGIES
};

/* The four slots, in the order of the wear counters: image * 2 + (0 primary, 1 secondary). */
#define EMU_MCUBOOT_AREAS (2 * DFUMGR_N_IMAGES)

/* What one power-on of MCUboot did to one slot. */
struct emu_mcuboot_wear {
	uint32_t erases;     /* sectors erased (an erase of n sectors counts n) */
	uint32_t max_erases; /* the most erases of any one sector */
	uint32_t programs;   /* program calls */
	uint64_t bytes_programmed;
	uint64_t bytes_read; /* through flash_area_read: headers, trailers, hashes, copies */
};

/*
 * Read time: QSPI reads at the product's 32 MHz clock, four lines (read4io, the board overlay),
 * 16 bytes per us, command overhead neglected; internal flash reads are memory-mapped and
 * counted as free.
 */
#define EMU_MCUBOOT_QSPI_READ_BYTES_PER_US 16u

struct emu_mcuboot_result {
	enum emu_mcuboot_outcome outcome;
	enum emu_mcuboot_strategy strategy;
	/* what each image's swap was (DFUMGR_SWAP_TYPE_*, EMU_SWAP_TYPE_*) once decided */
	uint8_t swap_type[DFUMGR_N_IMAGES];
	bool resumed[DFUMGR_N_IMAGES]; /* an interrupted swap was completed */
	uint64_t writes;               /* erase and program calls it made */
	uint64_t writes_before;        /* the board's write counter (emu_power) when it started */
	/* their datasheet time: how long it kept the board from running the application */
	uint64_t busy_us;
	uint64_t erase_us, program_us; /* busy_us split by kind */
	uint64_t read_us;              /* its flash reads (EMU_MCUBOOT_QSPI_READ_BYTES_PER_US) */
	struct emu_mcuboot_wear wear[EMU_MCUBOOT_AREAS];
	/* direct-XIP: the slot each image was started from (0 primary, 1 secondary) */
	uint8_t active_slot[DFUMGR_N_IMAGES];
	char log[256]; /* what it did, for people ("swapped image 0 (test); ...") */
};

/* One power-on of MCUboot on the board's flash; fills *ret (never fails). */
void emu_mcuboot_boot(struct emu_board *b, struct emu_mcuboot_result *ret);

/* Names for logs and JSON. */
const char *emu_mcuboot_outcome_name(enum emu_mcuboot_outcome o);
const char *emu_mcuboot_swap_name(uint8_t swap_type);
/* "swap-move", "overwrite-only", "direct-xip"; "img0-primary" ... "img1-secondary". */
const char *emu_mcuboot_strategy_name(enum emu_mcuboot_strategy s);
const char *emu_mcuboot_area_name(unsigned area);
/* The strategy named s; 0, or -1 for an unknown name. */
int emu_mcuboot_strategy_parse(const char *s, enum emu_mcuboot_strategy *ret);

#endif
