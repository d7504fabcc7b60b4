/* SPDX-License-Identifier: MIT */
/*
 * Factory provisioning (ARCHITECTURE §6; the command: dfu-mgr-provision(1)): every board of a
 * fixture brought to one release, in parallel, with a record per board. Each board gets its own
 * worker thread running the single-board engine (dfumgr_update()) on one shared backend, so all of
 * them share its device monitor; boards plugged in while the run goes on are found by that monitor
 * and handled too. A board that already runs the release, as its own digests of its running slots
 * prove, is skipped unless forced. Each finished board's record is appended to the station log
 * (a dfumgr journal: one fdatasync'ed JSON line per board) before anyone is told about it, so a
 * crash of the station never loses a record it reported.
 *
 * Why a thread per board and not asynchronous transfers: the engine is synchronous and stays as
 * it is (one code path for one board and for many), and a board spends most of its update
 * waiting on its own flash (bwPollTimeout) and re-enumerations, when a thread costs nothing;
 * BENCHMARKS.md ("Factory provisioning") has N boards against one and against --jobs 1.
 */
#ifndef DFUMGR_PROVISION_H
#define DFUMGR_PROVISION_H

#include "dfumgr/bundle.h"
#include "dfumgr/cancel.h"
#include "dfumgr/device.h"
#include "dfumgr/progress.h"
#include "dfumgr/update.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Boards in one run at most (records beyond it: -DFUMGR_E_TOOBIG for the run). */
#define DFUMGR_PROVISION_BOARDS_MAX 1024
/* Serial numbers given to one run at most. */
#define DFUMGR_PROVISION_SERIALS_MAX DFUMGR_PROVISION_BOARDS_MAX
/* wait_timeout_ms: wait for boards until the run is cancelled. */
#define DFUMGR_PROVISION_WAIT_FOREVER UINT32_MAX
#define DFUMGR_PROVISION_MESSAGE_MAX  512

/* Stable values (the report, the station log and --json use the names). */
enum dfumgr_provision_result {
	DFUMGR_PROVISION_PENDING = 0, /* not finished: waiting for --jobs, or being updated */
	DFUMGR_PROVISION_UPDATED =
	    1, /* written, verified, committed and seen running the release */
	DFUMGR_PROVISION_SKIPPED =
	    2,                       /* ran the release already: its running slots' digests match */
	DFUMGR_PROVISION_FAILED = 3, /* error and outcome say why and what it runs now */
	DFUMGR_PROVISION_MISSING = 4, /* a serial asked for that was not connected in time */
	DFUMGR_PROVISION_IGNORED = 5, /* (all boards) another product, or no dfu-mgr shim */
	DFUMGR_PROVISION_RESULT_COUNT
};

/* "pending", "updated", "skipped", "failed", "missing", "ignored"; "unknown" otherwise. */
DFUMGR_EXPORT const char *dfumgr_provision_result_name(enum dfumgr_provision_result r);

/* One board of a run. Written by the board's worker; read it in events or after the run. */
struct dfumgr_provision_record {
	size_t size;    /* sizeof(struct dfumgr_provision_record) of the library */
	unsigned index; /* in the order the boards were found, from 0 */
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];      /* USB port path, stable across re-enumeration */
	char product[DFUMGR_STRING_MAX]; /* what the board reported (GET_INFO); "" if unknown */
	enum dfumgr_provision_result result;
	int error;                                  /* 0, or the negative enum dfumgr_err */
	char message[DFUMGR_PROVISION_MESSAGE_MAX]; /* the error in words ("" when none) */
	enum dfumgr_outcome outcome;                /* what the board runs now, as data */
	char board_state[192];                      /* the same in words */
	enum dfumgr_phase phase;                    /* where it is (DONE, or where it failed) */
	bool cancelled;                             /* the run's cancel token ended it */
	bool have_before, have_after;               /* before[] / after[] are valid */
	struct dfumgr_image_version before[2], after[2];
	/* the board's own SHA-256 of each image read back from flash (see dfumgr_update_report) */
	bool digest_valid[2];
	bool digest_running; /* of the running slots (a skipped board), else of the written ones */
	uint8_t digest[2][DFUMGR_SHA256_SIZE];
	uint64_t bytes;        /* bytes downloaded to the board */
	unsigned downloads[2]; /* download attempts per image */
	uint64_t phase_us[DFUMGR_PHASE_COUNT];
	uint64_t queued_us;      /* waiting for a free job (--jobs) */
	uint64_t start_us;       /* when its worker started, from the run's start (backend clock) */
	uint64_t total_us;       /* its worker's time */
	int64_t finished_unix_s; /* wall-clock time it finished (seconds since 1970, UTC) */
};

enum dfumgr_provision_event_type {
	DFUMGR_PROVISION_EV_FOUND = 0,    /* a board to provision was found (and queued) */
	DFUMGR_PROVISION_EV_START = 1,    /* its worker started */
	DFUMGR_PROVISION_EV_PROGRESS = 2, /* progress of its update: ev->progress */
	DFUMGR_PROVISION_EV_DONE = 3,     /* its record is final and in the station log */
};

struct dfumgr_provision_event {
	size_t size; /* sizeof(struct dfumgr_provision_event) of the library */
	enum dfumgr_provision_event_type type;
	const struct dfumgr_provision_record *record; /* valid during the call */
	const struct dfumgr_progress *progress;       /* EV_PROGRESS only, else NULL */
};

/*
 * Called from the run's threads (the caller's and the workers'), never two at once: the calls
 * are serialized, so the callback needs no lock of its own. It must return quickly (every
 * worker waits for it) and must not call back into the run.
 */
typedef void (*dfumgr_provision_event_fn)(void *user, const struct dfumgr_provision_event *ev);

/* Options of a run. Start from DFUMGR_PROVISION_OPTS_INIT (it sets size). */
struct dfumgr_provision_opts {
	size_t size; /* sizeof(struct dfumgr_provision_opts) */
	/*
	 * Which boards: all (every board of the bundle's product and USB ids: boards of another
	 * product, and devices without the dfu-mgr shim, are ignored), or the listed serial
	 * numbers (each must be connected; another product is an error).
	 */
	bool all;
	const char *const *serials;
	size_t n_serials;
	/*
	 * all: wait until this many boards have a result (0: the boards connected at the start,
	 * and those plugged in while they are provisioned). The boards are started as they come.
	 */
	unsigned wait_count;
	/*
	 * How long, from the start, to wait for boards that are not connected yet (wait_count
	 * with all, or listed serials); 0: not at all, DFUMGR_PROVISION_WAIT_FOREVER: until
	 * cancelled. Boards being provisioned are never cut off by it.
	 */
	uint32_t wait_timeout_ms;
	unsigned jobs;        /* at most this many boards at once; 0: no limit */
	bool force;           /* rewrite boards that run the release already */
	const char *log_path; /* the station log (dfumgr/journal.h); NULL: none */
	/*
	 * Each board's update (allow_downgrade, retries, timeouts, transfer size, permanent); its
	 * match, progress, user and cancel are the run's own. May be NULL.
	 */
	const struct dfumgr_update_opts *update;
	dfumgr_provision_event_fn event; /* may be NULL */
	void *user;
	const struct dfumgr_cancel *cancel; /* ends the run: no new board starts, updates stop */
};
#define DFUMGR_PROVISION_OPTS_INIT                                                                 \
	{                                                                                          \
		.size = sizeof(struct dfumgr_provision_opts)                                       \
	}

struct dfumgr_provision;

/*
 * A new run of bundle (opened and verified by the caller, who keeps it until the run is freed)
 * with options o: checks them (one of all or serials; serials printable, unique, at most
 * DFUMGR_PROVISION_SERIALS_MAX) and opens the station log, so that a bad option or an unwritable
 * log is found before any board is touched. Errors: -DFUMGR_E_INVAL (the message names the
 * option), -DFUMGR_E_IO, -DFUMGR_E_ACCESS (the log), -DFUMGR_E_NOMEM.
 * Free *ret_run with dfumgr_provision_free().
 */
DFUMGR_EXPORT int dfumgr_provision_new(struct dfumgr_ctx *ctx, const struct dfumgr_bundle *bundle,
				       const struct dfumgr_provision_opts *o,
				       struct dfumgr_provision **ret_run);
/* Frees the run and its records, closes the log; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_provision *dfumgr_provision_free(struct dfumgr_provision *run);

/*
 * Provisions the boards on be (one run per struct; call once). Returns when every board found
 * has its result and no more are awaited: the number of boards that did not succeed (failed,
 * missing, and boards --wait still lacked at the timeout), 0 when every board was updated or
 * skipped. The records and the summary are valid afterwards in every case.
 * Errors: -DFUMGR_E_NODEV (all without wait_count: no board of the product is connected),
 * -DFUMGR_E_CANCELLED (the token ended it; boards being updated stop as dfumgr_update() does),
 * -DFUMGR_E_IO (the station log could not be written: no new board was started after that),
 * -DFUMGR_E_INVAL.
 * Threading: the run uses the caller's thread and one thread per board being provisioned, each
 * with a context of its own; ctx (of dfumgr_provision_new()) is used by the caller's thread.
 */
DFUMGR_EXPORT int dfumgr_provision_run(struct dfumgr_provision *run, struct dfumgr_backend *be);

/* The records, in the order the boards were found. */
DFUMGR_EXPORT size_t dfumgr_provision_count(const struct dfumgr_provision *run);
DFUMGR_EXPORT const struct dfumgr_provision_record *dfumgr_provision_record(
    const struct dfumgr_provision *run, size_t index);

struct dfumgr_provision_summary {
	size_t size;     /* sizeof(struct dfumgr_provision_summary), set by the caller */
	unsigned boards; /* records, ignored boards included */
	unsigned counts[DFUMGR_PROVISION_RESULT_COUNT]; /* records per result */
	unsigned wanted;  /* wait_count, or the number of serials given (0: none) */
	unsigned lacking; /* boards wait_count still lacked when the wait timed out */
	bool cancelled;
	uint64_t total_us; /* the run, on the backend's clock */
};

/* Fills *ret (its size set by the caller). -DFUMGR_E_INVAL for a bad size. */
DFUMGR_EXPORT int dfumgr_provision_summary(const struct dfumgr_provision *run,
					   struct dfumgr_provision_summary *ret);

/*
 * One record as a JSON object on one line (no newline), exactly as the station log holds it:
 * the board, its result, versions, digests, bytes, phase times and error, with the run's
 * identity (run id, station, bundle product, release and manifest SHA-256). *ret_json is
 * malloc'ed; free() it. Errors: -DFUMGR_E_NOMEM, -DFUMGR_E_INVAL.
 */
DFUMGR_EXPORT int dfumgr_provision_record_json(const struct dfumgr_provision *run,
					       const struct dfumgr_provision_record *r,
					       char **ret_json);

enum dfumgr_provision_report_format {
	DFUMGR_PROVISION_REPORT_JSON = 0, /* one document: the run, the summary, every record */
	DFUMGR_PROVISION_REPORT_CSV = 1,  /* a header line and one line per record (RFC 4180) */
};

/*
 * The report format a file name asks for by its extension (".json" or ".csv", any case).
 * -DFUMGR_E_INVAL (the message says which extensions work) otherwise.
 */
DFUMGR_EXPORT int dfumgr_provision_report_format(struct dfumgr_ctx *ctx, const char *path);

/*
 * Writes the report to path in the format of its extension, atomically (a temporary file, then
 * a rename: a reader never sees half a report), replacing an existing file. Uses the ctx of
 * dfumgr_provision_new(). Errors: those of dfumgr_provision_report_format(), -DFUMGR_E_IO,
 * -DFUMGR_E_ACCESS, -DFUMGR_E_NOMEM.
 */
DFUMGR_EXPORT int dfumgr_provision_write_report(struct dfumgr_provision *run, const char *path);

/*
 * Reads a file of serial numbers: one per line, blanks around it ignored, empty lines and lines
 * starting with '#' skipped. Each is printable ASCII of at most DFUMGR_STRING_MAX - 1 bytes and
 * appears once (errors name the file and line: -DFUMGR_E_FORMAT); at most
 * DFUMGR_PROVISION_SERIALS_MAX (-DFUMGR_E_TOOBIG). *ret_serials is a NULL-terminated array of
 * *ret_n strings; free it with dfumgr_provision_serials_free(). A file without any serial is
 * -DFUMGR_E_FORMAT. Also -DFUMGR_E_NOENT, -DFUMGR_E_IO.
 */
DFUMGR_EXPORT int dfumgr_provision_serials_load(struct dfumgr_ctx *ctx, const char *path,
						char ***ret_serials, size_t *ret_n);
/* Frees what dfumgr_provision_serials_load() returned; accepts NULL; returns NULL. */
DFUMGR_EXPORT char **dfumgr_provision_serials_free(char **serials);

#ifdef __cplusplus
}
#endif
#endif
