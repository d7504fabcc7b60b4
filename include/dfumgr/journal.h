/* SPDX-License-Identifier: MIT */
/*
 * A crash-safe journal of records (one JSON object per line), for the daemon's history and the
 * factory station's log (ARCHITECTURE §2, history.c).
 *
 * Appends are one write() of a whole line followed by fdatasync(): after a crash at any moment
 * the file holds every record whose append returned, possibly followed by one torn line (no
 * newline), which readers skip and the next writer cuts off. Compaction (keeping some records)
 * writes a new file next to it, fsyncs it, renames it over the journal and fsyncs the
 * directory: a crash leaves either the old journal or the new one, never a mix.
 *
 * Threading: a struct dfumgr_journal is used by one thread at a time. Several processes may
 * append to one journal: each append is a single O_APPEND write under an flock() (readers
 * take no lock). Records are limited to DFUMGR_JOURNAL_RECORD_MAX bytes.
 */
#ifndef DFUMGR_JOURNAL_H
#define DFUMGR_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "dfumgr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_JOURNAL_RECORD_MAX (64u * 1024)
#define DFUMGR_JOURNAL_FILE_MAX   (256u * 1024 * 1024)

struct dfumgr_journal;

/*
 * Opens (creating it with mode 0640 if missing) the journal at path for appending, and cuts
 * off a torn last line left by a crash. Errors: -DFUMGR_E_IO (errno in the message),
 * -DFUMGR_E_ACCESS, -DFUMGR_E_NOMEM. Free with dfumgr_journal_free().
 */
DFUMGR_EXPORT int dfumgr_journal_open(struct dfumgr_ctx *ctx, const char *path,
				      struct dfumgr_journal **ret_journal);
/* Closes the journal (NULL is fine); returns NULL. */
DFUMGR_EXPORT struct dfumgr_journal *dfumgr_journal_free(struct dfumgr_journal *j);

/*
 * Appends one record: json must be a single JSON object (checked with cJSON) of at most
 * DFUMGR_JOURNAL_RECORD_MAX bytes; it is written compact on one line. Returns once the record
 * is on stable storage (fdatasync). Errors: -DFUMGR_E_FORMAT (not one object),
 * -DFUMGR_E_TOOBIG, -DFUMGR_E_IO.
 */
DFUMGR_EXPORT int dfumgr_journal_append(struct dfumgr_journal *j, const char *json);

/*
 * Called for each record in file order with its line number (from 1) and its text (a JSON
 * object, NUL-terminated, valid during the call). Return 0 to go on, anything else to stop
 * (dfumgr_journal_read then returns that value).
 */
typedef int (*dfumgr_journal_record_fn)(void *user, size_t line, const char *json);

/*
 * Reads the journal at path (no lock, no write: also while a writer appends or after a
 * crash). A torn last line is skipped and counted in *ret_torn (may be NULL). A line in the
 * middle that is not a JSON object is an error naming the file and line (-DFUMGR_E_FORMAT).
 * A missing file has no records (0). Errors: -DFUMGR_E_IO, -DFUMGR_E_TOOBIG (larger than
 * DFUMGR_JOURNAL_FILE_MAX), or fn's non-zero return.
 */
DFUMGR_EXPORT int dfumgr_journal_read(struct dfumgr_ctx *ctx, const char *path,
				      dfumgr_journal_record_fn fn, void *user, size_t *ret_torn);

/*
 * Rewrites the journal keeping the records for which keep returns true (in order), atomically:
 * a temporary file in the same directory, fsync, rename over the journal, fsync of the
 * directory. The journal stays open for appends. Errors: -DFUMGR_E_IO, -DFUMGR_E_FORMAT.
 */
DFUMGR_EXPORT int dfumgr_journal_compact(struct dfumgr_journal *j,
					 bool (*keep)(void *user, const char *json), void *user);

/*
 * Test hook, for crash tests of the programs that use the journal: with the environment
 * variable DFUMGR_JOURNAL_CRASH=POINT:N set when the journal is opened, the process kills itself
 * (SIGKILL) at the N-th time (from 1) it reaches POINT: "write" (an append's line written, not
 * yet synced), "sync" (synced), "compact-write" (the new file written, not renamed),
 * "compact-rename" (renamed, directory not synced).
 */

#ifdef __cplusplus
}
#endif
#endif
