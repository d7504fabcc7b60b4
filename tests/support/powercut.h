/* SPDX-License-Identifier: MIT */
/*
 * The power-cut matrix (issue 9, docs/pair-rule.md): an emulated board (the loop backend: the
 * shim's core, the flash model, the MCUboot model, the application's confirm) is updated by
 * dfumgr_update() with its power cut right after the N-th flash write, for N over every erase
 * and program of the update: the downloads of both images, the commit, MCUboot's swap and the
 * application's confirm. After each cut the board boots; what it then runs must be the old
 * pair or the new pair, never a mix, and a second update without a cut must succeed.
 */
#ifndef POWERCUT_H
#define POWERCUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mcuboot.h"

enum powercut_phase {
	POWERCUT_DOWNLOAD0,
	POWERCUT_DOWNLOAD1,
	POWERCUT_COMMIT,
	POWERCUT_SWAP, /* MCUboot's writes */
	POWERCUT_CONFIRM,
	POWERCUT_PHASES
};

enum powercut_outcome {
	POWERCUT_OLD,     /* the board runs the pair it had */
	POWERCUT_NEW,     /* ... the new pair */
	POWERCUT_MIXED,   /* one image old, the other new */
	POWERCUT_NO_BOOT, /* MCUboot finds no bootable pair, or the application keeps crashing */
	POWERCUT_OUTCOMES
};

struct powercut_opts {
	const char *data_dir;    /* tests/data: key-A.pem, key-A-pub.pem */
	const char *new_version; /* the bundle's (the board starts with its factory 1.0.0+0) */
	size_t size[2];          /* the new images' payloads */
	/* cut after every stride-th write of the downloads and the swap (0, 1: every write);
	 * the commit's and the confirm's writes and each phase's first and last always */
	unsigned stride;
	/* MCUboot's swap: cut after every swap_stride-th of its writes (0: stride) */
	unsigned swap_stride;
	/* the board's MCUboot strategy (0: swap-move, the product's) */
	int strategy;
	bool verbose; /* one line per case */
	bool no_cuts; /* only the uncut update: its writes and MCUboot's flash time */
};

struct powercut_result {
	unsigned writes; /* flash writes of the uncut update */
	unsigned phase_writes[POWERCUT_PHASES];
	unsigned cases;
	unsigned count[POWERCUT_PHASES][POWERCUT_OUTCOMES];
	unsigned outcome[POWERCUT_OUTCOMES];
	unsigned rerun_failed; /* the update without a cut that followed did not succeed */
	uint64_t swap_us;      /* MCUboot's flash time in the uncut update (datasheet) */
	char first_bad[256];   /* the first case that was mixed, unbootable or failed a re-run */
	/* what MCUboot did at the uncut update's boot: its strategy, times and wear */
	struct emu_mcuboot_result mcuboot;
};

/* Runs the matrix; 0, or -1 when it could not run at all (message on stderr). */
int powercut_run(const struct powercut_opts *o, struct powercut_result *r);
/* The matrix as a table, one row per phase and a total. */
void powercut_print(const struct powercut_result *r);

const char *powercut_phase_name(enum powercut_phase p);
const char *powercut_outcome_name(enum powercut_outcome o);

#endif
