/* SPDX-License-Identifier: MIT */
/*
 * An in-process dfumgr backend over emulated boards (firmware/emu's board model: the shim's
 * core, flash models, MCUboot model, faults), with a virtual clock: bwPollTimeout and
 * re-enumeration delays cost no real time (or, with real_clock, the monotonic clock and real
 * sleeps that wake on the cancel token). For fast unit tests of the DFU engine and the update
 * flow; the VM tests run the same boards over real USB.
 *
 * Thread-safe: one lock guards the loop, so several threads may update several boards at once
 * (the TSan test). Strings are read from the board's own descriptors with GET_DESCRIPTOR, two
 * requests per string as libusb does (the language table, then the string), so the board's
 * string_requests counter shows what discovery costs.
 */
#ifndef LOOP_BACKEND_H
#define LOOP_BACKEND_H

#include <pthread.h>

#include "board.h"
#include "dfumgr/backend.h"

#define LOOP_BOARDS_MAX 16

struct loop_board {
	struct emu_board b;
	bool present;
	bool plain;   /* answers no vendor request: a plain DFU 1.1 device */
	unsigned gen; /* bumped at every unplug: stale handles get E_DISCONNECTED */
	uint64_t plug_at_us;
	bool boot_first;
	unsigned crash_boots;
	/* identity and quirks */
	uint16_t vid, pid;     /* 0: dfu-mgr's */
	unsigned port;         /* the path is "9-<port>"; kept across re-enumeration */
	bool busy_forever;     /* after a DNLOAD: dfuDNBUSY with bwPollTimeout 0xFFFFFF, forever */
	bool stays_on_detach;  /* announces bitWillDetach but does not leave after DETACH */
	bool detach_armed;     /* got DETACH (appDETACH): a bus reset now enters DFU mode */
	bool reset_keeps_mode; /* a bus reset does not get it out of DFU mode (USB/IP-like) */
	unsigned plugs;        /* enumerations so far (each costs one string read) */
};

struct loop {
	pthread_mutex_t lock; /* recursive: ops call each other */
	struct loop_board boards[LOOP_BOARDS_MAX];
	unsigned n;
	uint64_t now_us;
	bool real_clock;
	uint64_t events; /* plug/unplug count: the backend's hotplug events */
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
	bool keep_dir; /* loop_open(): the boards' flash files outlive the loop */
	bool owned;    /* loop_free() when the backend is freed */
};

/* n boards with flash files under a new temporary directory; real_timing: datasheet costs. */
struct loop *loop_new(unsigned n, bool real_timing);
void loop_free(struct loop *l);
/*
 * n boards whose flash files live in dir (created if missing, kept afterwards): a board keeps
 * what was written to it from one process to the next, as the CLI tests need.
 */
struct loop *loop_open(const char *dir, unsigned n);
/* A dfumgr backend over l (l stays owned by the caller; free the backend first). */
struct dfumgr_backend *loop_backend(struct loop *l);
/* Runs due re-plugs/boots up to the current virtual time. */
void loop_run_timers(struct loop *l);
/* Lets time pass (e.g. for a board to come back after a power cut). */
void loop_advance(struct loop *l, uint64_t us);
/* Boards i's mode changes at once (tests set a board up in DFU mode, ...). */
void loop_set_dfu_mode(struct loop *l, unsigned i);
/* Unplugs board i (a cable pulled); replug later with loop_plug(). */
void loop_unplug(struct loop *l, unsigned i);
void loop_plug(struct loop *l, unsigned i);

#endif
