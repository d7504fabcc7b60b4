/* SPDX-License-Identifier: MIT */
/*
 * One cancel token for a long operation (an update, a wait for a board, a transfer). Every wait
 * in the library (bwPollTimeout sleeps, digest and commit polls, re-enumeration waits, recovery)
 * takes the token and wakes when it is triggered; the operation then ends with
 * -DFUMGR_E_CANCELLED, except that a COMMIT already sent is waited for (bounded by its own
 * deadline) so that a board is never left mid-commit.
 *
 * Threading: dfumgr_cancel_trigger() may be called from any thread and from a signal handler
 * (it only stores to an atomic flag and writes to an eventfd). One token may be shared by
 * several operations in several threads (e.g. a daemon's shutdown token); each operation only
 * reads it. Create and free it outside signal handlers, and free it only after every operation
 * that uses it has returned.
 */
#ifndef DFUMGR_CANCEL_H
#define DFUMGR_CANCEL_H

#include "dfumgr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dfumgr_cancel;

/* A new, untriggered token. 0, -DFUMGR_E_NOMEM or -DFUMGR_E_IO (no eventfd). */
DFUMGR_EXPORT int dfumgr_cancel_new(struct dfumgr_cancel **ret);
/* Frees the token; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_cancel *dfumgr_cancel_free(struct dfumgr_cancel *c);
/* Triggers the token. Async-signal-safe and thread-safe; accepts NULL; idempotent. */
DFUMGR_EXPORT void dfumgr_cancel_trigger(struct dfumgr_cancel *c);
/* True once triggered (false for NULL). Thread-safe. */
DFUMGR_EXPORT bool dfumgr_cancel_is_set(const struct dfumgr_cancel *c);
/*
 * A file descriptor that becomes readable when the token is triggered, for poll() in a caller's
 * own loop (sd-event, ...). Owned by the token; never read it. -1 for NULL.
 */
DFUMGR_EXPORT int dfumgr_cancel_fd(const struct dfumgr_cancel *c);
/* Un-triggers the token for reuse. Not async-signal-safe; no operation may be using it. */
DFUMGR_EXPORT void dfumgr_cancel_reset(struct dfumgr_cancel *c);

/*
 * Sleeps timeout_us microseconds of CLOCK_MONOTONIC, or less when c is triggered.
 * 0 after the full time, -DFUMGR_E_CANCELLED when woken by the token.
 */
DFUMGR_EXPORT int dfumgr_cancel_sleep(const struct dfumgr_cancel *c, uint64_t timeout_us);

#ifdef __cplusplus
}
#endif
#endif
