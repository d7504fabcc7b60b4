/* SPDX-License-Identifier: MIT */
/*
 * Progress as data: what an update, a transfer or a board operation is doing, delivered to a
 * callback as {phase, image, done, total}. A front end draws bars from it, a daemon records
 * phase durations, a factory report keeps per-board timings; the words come from
 * dfumgr_phase_name().
 *
 * Threading contract: the callback is called synchronously from the thread that called the
 * operation, never from another thread and never after the operation returned. It must return
 * quickly, must not call back into the library with the same context or device, and must not
 * free anything the operation uses. Several operations in several threads may share one
 * callback (each gets its own user pointer); the callback then does its own locking.
 */
#ifndef DFUMGR_PROGRESS_H
#define DFUMGR_PROGRESS_H

#include "dfumgr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stable values (history records and --json output use the names). */
enum dfumgr_phase {
	DFUMGR_PHASE_PREFLIGHT =
	    0,                   /* find the board, read what it runs, refuse what it can't take */
	DFUMGR_PHASE_DETACH = 1, /* runtime -> DFU mode, and the wait for it to come back */
	DFUMGR_PHASE_DOWNLOAD = 2, /* DFU_DNLOAD of one image */
	DFUMGR_PHASE_VERIFY = 3,   /* read-back check of one image */
	DFUMGR_PHASE_COMMIT = 4,   /* the pair COMMIT */
	DFUMGR_PHASE_REBOOT = 5,   /* reboot and the wait for the application */
	DFUMGR_PHASE_CHECK = 6,    /* what the board runs afterwards */
	DFUMGR_PHASE_DONE = 7,
	DFUMGR_PHASE_UPLOAD = 8, /* DFU_UPLOAD of one alt (dfu-mgr upload) */
	DFUMGR_PHASE_COUNT
};

/* "preflight", "detach", "download", ...; "unknown" otherwise. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_phase_name(enum dfumgr_phase p);

struct dfumgr_progress {
	size_t size; /* sizeof(struct dfumgr_progress) of the library that sent it */
	enum dfumgr_phase phase;
	int image;      /* MCUboot image (0, 1) or alt number the phase works on; -1: none */
	uint64_t done;  /* bytes (or steps) done */
	uint64_t total; /* bytes (or steps) in all; done == total ends the phase */
};

typedef void (*dfumgr_progress_fn)(void *user, const struct dfumgr_progress *ev);

#ifdef __cplusplus
}
#endif
#endif
