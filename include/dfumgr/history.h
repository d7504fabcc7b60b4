/* SPDX-License-Identifier: MIT */
/*
 * The update history: what dfu-mgrd did and saw, one record per line of a crash-safe journal
 * (dfumgr/journal.h). The daemon appends; `dfu-mgr history` reads the same file, also while the
 * daemon is down. This file is the one place that writes and reads the record format (JSON,
 * documented in dfu-mgrd(8), HISTORY).
 *
 * An update is an ATTEMPT record, PHASE records as it goes, and a RESULT record. An ATTEMPT
 * without its RESULT is an update the daemon was killed during (power cut, kill -9, crash): the
 * next start appends an INTERRUPTED record for it and does the update again from the start.
 *
 * A RESULT says how the update ended (result: ok, failed, cancelled) and what the board was left
 * running (outcome, as the engine words it: "new pair running", "old pair running",
 * "untouched", ...), so that a failed update that left the old pair is told from one that needs
 * someone's hands.
 *
 * Readers ignore keys they do not know and skip records whose event they do not know, so a newer
 * daemon may add both.
 */
#ifndef DFUMGR_HISTORY_H
#define DFUMGR_HISTORY_H

#include "dfumgr/common.h"
#include "dfumgr/device.h"
#include "dfumgr/image.h"
#include "dfumgr/journal.h"
#include "dfumgr/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stable values and words ("event" in the file). */
enum dfumgr_history_event {
	DFUMGR_HISTORY_START = 0,       /* "start": the daemon started */
	DFUMGR_HISTORY_STOP = 1,        /* "stop": the daemon stopped cleanly */
	DFUMGR_HISTORY_RELEASE = 2,     /* "release": a dropped bundle became a release */
	DFUMGR_HISTORY_REJECT = 3,      /* "reject": a dropped entry was refused and moved aside */
	DFUMGR_HISTORY_ATTEMPT = 4,     /* "attempt": an update of a board began */
	DFUMGR_HISTORY_PHASE = 5,       /* "phase": the update entered a phase */
	DFUMGR_HISTORY_RESULT = 6,      /* "result": the update ended */
	DFUMGR_HISTORY_INTERRUPTED = 7, /* "interrupted": an attempt the daemon died during */
	DFUMGR_HISTORY_PAUSE = 8,       /* "pause": automatic updates paused */
	DFUMGR_HISTORY_RESUME = 9,      /* "resume": ... resumed */
	DFUMGR_HISTORY_EVENT_COUNT
};

/* How an update ended (RESULT). Stable values and words ("result" in the file). */
enum dfumgr_history_result {
	DFUMGR_HISTORY_OK = 0,        /* "ok": the board runs the release */
	DFUMGR_HISTORY_FAILED = 1,    /* "failed": see error and message */
	DFUMGR_HISTORY_CANCELLED = 2, /* "cancelled": the daemon was stopped during it */
	DFUMGR_HISTORY_RESULT_COUNT
};

#define DFUMGR_HISTORY_ID_MAX      96
#define DFUMGR_HISTORY_PHASE_MAX   16
#define DFUMGR_HISTORY_MESSAGE_MAX 512
#define DFUMGR_HISTORY_NAME_MAX    320
#define DFUMGR_HISTORY_STATE_MAX   192

/*
 * One record. Which members mean something depends on the event (see dfu-mgrd(8)); the others
 * are zero / "" and are not written. Strings are NUL-terminated and truncated to fit.
 */
struct dfumgr_history_record {
	size_t size;     /* sizeof(struct dfumgr_history_record), set by the caller */
	int64_t time_ms; /* milliseconds since the epoch, UTC */
	enum dfumgr_history_event event;
	char serial[DFUMGR_STRING_MAX];
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	char release_id[DFUMGR_HISTORY_ID_MAX];     /* the release's name in the daemon's store */
	char version[2][DFUMGR_VERSION_STRING_MAX]; /* the release's image 0 and 1 versions */
	unsigned attempt;                           /* 1, 2, ... for this board and release */
	bool manual;                                /* asked for over the control socket */
	char phase[DFUMGR_HISTORY_PHASE_MAX];       /* dfumgr_update_phase_name() words */
	enum dfumgr_history_result result;
	int error; /* a positive enum dfumgr_err, 0 for none */
	char message[DFUMGR_HISTORY_MESSAGE_MAX];
	bool committed;       /* RESULT: the board accepted the COMMIT of the pair */
	char outcome[32];     /* RESULT: what the board runs now, the update engine\'s word */
	uint64_t duration_ms; /* RESULT */
	bool have_before, have_after;
	char before[2][DFUMGR_VERSION_STRING_MAX]; /* what the board ran before / after */
	char after[2][DFUMGR_VERSION_STRING_MAX];
	char board_state[DFUMGR_HISTORY_STATE_MAX]; /* RESULT: what the board was left doing */
	char name[DFUMGR_HISTORY_NAME_MAX];         /* RELEASE, REJECT: the dropped entry's name */
	char moved_to[DFUMGR_HISTORY_NAME_MAX];     /* REJECT: where it was moved */
};

/* "start", "stop", ...; "unknown" for other values. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_history_event_name(enum dfumgr_history_event event);
/* "ok", "failed", "cancelled"; "unknown" for other values. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_history_result_name(enum dfumgr_history_result result);

/*
 * The record as one JSON object (no newline). *ret_json is malloc'ed (free() it).
 * Errors: -DFUMGR_E_INVAL (size too small, event out of range), -DFUMGR_E_NOMEM.
 */
DFUMGR_EXPORT int dfumgr_history_format(struct dfumgr_ctx *ctx,
					const struct dfumgr_history_record *rec, char **ret_json);

/*
 * Parses one record (a JSON object as dfumgr_history_format() writes it; unknown keys are
 * ignored). ret->size is set by the caller; the rest is written only on success.
 * Errors: -DFUMGR_E_FORMAT (not an object, no "time" or "event", a member of the wrong type:
 * named in the message), -DFUMGR_E_UNSUPPORTED (an event this version does not know),
 * -DFUMGR_E_INVAL.
 */
DFUMGR_EXPORT int dfumgr_history_parse(struct dfumgr_ctx *ctx, const char *json,
				       struct dfumgr_history_record *ret);

/* Formats rec (its time_ms 0: now) and appends it to the journal (on stable storage when this
 * returns). Errors: those of dfumgr_history_format() and dfumgr_journal_append(). */
DFUMGR_EXPORT int dfumgr_history_append(struct dfumgr_ctx *ctx, struct dfumgr_journal *j,
					const struct dfumgr_history_record *rec);

/*
 * Called for each record in file order. Return 0 to go on, anything else to stop
 * (dfumgr_history_read() then returns that value).
 */
typedef int (*dfumgr_history_record_fn)(void *user, const struct dfumgr_history_record *rec);

/*
 * Reads the history at path (see dfumgr_journal_read(): no lock, works while the daemon
 * appends, a torn last record is skipped; a missing file has no records). Records of an event
 * this version does not know are skipped and counted in *ret_skipped (may be NULL).
 * Errors: those of dfumgr_journal_read(), -DFUMGR_E_FORMAT for a record that does not parse
 * (the message names the line), -DFUMGR_E_NOMEM, or fn's non-zero return.
 */
DFUMGR_EXPORT int dfumgr_history_read(struct dfumgr_ctx *ctx, const char *path,
				      dfumgr_history_record_fn fn, void *user, size_t *ret_skipped);

/* Milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes). */
DFUMGR_EXPORT char *dfumgr_history_time_format(int64_t time_ms, char *buf);

#ifdef __cplusplus
}
#endif
#endif
