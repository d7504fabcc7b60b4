/* SPDX-License-Identifier: MIT */
/*
 * An in-process dfumgr backend over emulated boards (firmware/emu's board model: the shim's
 * core, flash models, MCUboot model, faults), with a virtual clock: bwPollTimeout and
 * re-enumeration delays cost no real time. For fast unit tests of the DFU engine and the update
 * flow; the VM tests run the same boards over real USB.
 */
#ifndef LOOP_BACKEND_H
#define LOOP_BACKEND_H

#include "board.h"
#include "dfumgr/device.h"

#define LOOP_BOARDS_MAX 8

struct loop_board {
	struct emu_board b;
	bool present;
	bool plain;   /* answers no vendor request: a plain DFU 1.1 device */
	unsigned gen; /* bumped at every unplug: stale handles get E_DISCONNECTED */
	uint64_t plug_at_us;
	bool boot_first;
	unsigned crash_boots;
};

struct loop {
	struct loop_board boards[LOOP_BOARDS_MAX];
	unsigned n;
	uint64_t now_us;
	uint32_t replug_ms;
	char dir[256];
	/* bwPollTimeout bookkeeping: the host must wait exactly what the device asked */
	uint32_t last_poll_ms;
	uint64_t last_status_us;
	unsigned polls_early, polls_late, polls_checked;
	uint64_t slept_us;
	/* optional: called just before a board powers on (tests snapshot the flash there) */
	void (*pre_boot)(struct loop *l, unsigned board, void *user);
	void *pre_boot_user;
};

/* n boards with flash files under a new temporary directory; real_timing: datasheet costs. */
struct loop *loop_new(unsigned n, bool real_timing);
void loop_free(struct loop *l);
/* A dfumgr backend over l (l stays owned by the caller; free the backend first). */
struct dfumgr_backend *loop_backend(struct loop *l);
/* Runs due re-plugs/boots up to the current virtual time. */
void loop_run_timers(struct loop *l);
/* Lets time pass (e.g. for a board to come back after a power cut). */
void loop_advance(struct loop *l, uint64_t us);

#endif
