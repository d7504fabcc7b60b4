/* SPDX-License-Identifier: MIT */
/*
 * The paired update (ARCHITECTURE §1): a verified bundle onto one board, image 1 (QSPI) then
 * image 0 (internal), the device's read-back digests of both compared with the manifest, a
 * COMMIT of both or neither, reboot, and a check of what the board runs afterwards.
 * Boards without the shim's vendor requests are updated as plain DFU 1.1 devices, verified by
 * UPLOAD read-back where they allow it.
 */
#ifndef DFUMGR_UPDATE_H
#define DFUMGR_UPDATE_H

#include "dfumgr/bundle.h"
#include "dfumgr/cancel.h"
#include "dfumgr/device.h"
#include "dfumgr/dfu.h"
#include "dfumgr/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dfumgr_verify_method {
	DFUMGR_VERIFY_DEVICE_DIGEST = 0, /* the shim's SHA-256 of each slot, read from flash */
	DFUMGR_VERIFY_UPLOAD = 1,        /* DFU_UPLOAD of each alt, compared byte for byte */
	DFUMGR_VERIFY_NONE = 2,          /* not verified (--no-verify) */
};

DFUMGR_EXPORT const char *dfumgr_verify_method_name(enum dfumgr_verify_method m);

/*
 * Options of an update. Start from DFUMGR_UPDATE_OPTS_INIT (it sets size): a library built
 * with more fields reads only the ones the caller's struct has, the rest stay 0 (defaults).
 */
struct dfumgr_update_opts {
	size_t size;               /* sizeof(struct dfumgr_update_opts) */
	struct dfumgr_match match; /* vid/pid 0: the manifest's device ids (-d only narrows) */
	bool allow_downgrade;      /* older versions, or a lower MCUboot security counter */
	bool no_verify;            /* needed for a plain DFU device that cannot upload */
	bool permanent;            /* permanent swap instead of test swap + confirm by the app */
	bool commit_only; /* the slots were written by someone else (e.g. stock dfu-util): only
			     check their digests against the manifest, then commit and reboot */
	unsigned retries; /* re-downloads of an image whose digest is wrong (default 2) */
	unsigned reenumerate_timeout_ms; /* each wait for the board to come back; default 30000 */
	unsigned timeout_ms;             /* the whole update at most this long; 0: no limit */
	uint16_t transfer_size;          /* 0: the device's wTransferSize */
	dfumgr_progress_fn progress;     /* events {phase, image, done, total}; may be NULL */
	void *user;
	const struct dfumgr_cancel *cancel; /* may be NULL; see dfumgr/cancel.h */
	/*
	 * Send every sector. By default a board that can say what its slots hold
	 * (DFUMGR_CAP_SECTOR_DIGESTS) is sent only the sectors whose content differs from the new
	 * image: a re-run after a cut resumes, and an image that changed little costs little.
	 */
	bool no_skip;
};
#define DFUMGR_UPDATE_OPTS_INIT                                                                    \
	{                                                                                          \
		.size = sizeof(struct dfumgr_update_opts)                                          \
	}

/* Kept for source compatibility: the phases are dfumgr/progress.h's. */
#define dfumgr_update_phase dfumgr_phase

DFUMGR_EXPORT const char *dfumgr_update_phase_name(enum dfumgr_phase p);

/* What the board was left doing: stable values, for retry policies and history records. */
enum dfumgr_outcome {
	DFUMGR_OUTCOME_UNKNOWN = 0,   /* it could not be told (the board went away) */
	DFUMGR_OUTCOME_UNTOUCHED = 1, /* nothing was written (refused, or failed early) */
	DFUMGR_OUTCOME_OLD_PAIR = 2,  /* slots written but nothing committed: runs its old pair */
	DFUMGR_OUTCOME_NEW_PAIR = 3,  /* committed and checked: runs the new pair */
	DFUMGR_OUTCOME_NEEDS_RECOVERY = 4, /* committed but not seen running it, or stuck: act */
	DFUMGR_OUTCOME_COUNT
};

/* "unknown", "untouched", "old pair running", "new pair running", "needs recovery". */
DFUMGR_EXPORT const char *dfumgr_outcome_name(enum dfumgr_outcome o);

/* What an update or verify did. The caller sets size (DFUMGR_UPDATE_REPORT_INIT). */
struct dfumgr_update_report {
	size_t size; /* sizeof(struct dfumgr_update_report) */
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];
	uint16_t vid, pid;
	bool shim; /* the board speaks the dfu-mgr shim protocol */
	enum dfumgr_verify_method verify;
	bool have_before, have_after;
	struct dfumgr_image_version before[2], after[2];
	unsigned downloads[2]; /* download attempts per image */
	uint64_t bytes;        /* bytes downloaded */
	uint64_t phase_us[DFUMGR_PHASE_COUNT];
	uint64_t total_us;
	enum dfumgr_phase phase; /* reached (DONE on success; where it failed otherwise) */
	bool committed;
	bool cancelled;              /* the cancel token ended it */
	enum dfumgr_outcome outcome; /* what the board runs now, as data */
	char board_state[192];       /* the same in words, with the detail ("rebooted into ...") */
	/*
	 * The SHA-256 the board read back from its flash for each image, as it was compared with
	 * the manifest (valid where digest_valid[i]): of the written (secondary) slot before the
	 * commit for an update, of the running (primary) slot for dfumgr_verify_device().
	 */
	bool digest_valid[2];
	bool digest_running; /* the digests are of the running slots */
	uint8_t digest[2][DFUMGR_SHA256_SIZE];
	/* added with sector skipping (a caller built before gets the report up to digest) */
	uint64_t bytes_skipped;      /* not sent: the board's slots held them already */
	unsigned sectors_skipped[2]; /* of each image, in the first download attempt */
	/*
	 * From the start until the board was back running the new pair (and said so): detach,
	 * downloads, commit, and the reboot with MCUboot's swap. 0 when it was not seen running it.
	 */
	uint64_t new_pair_us;
};
#define DFUMGR_UPDATE_REPORT_INIT                                                                  \
	{                                                                                          \
		.size = sizeof(struct dfumgr_update_report)                                        \
	}

/*
 * Updates the one board that matches opts->match (and the manifest's VID:PID) with bundle,
 * which the caller opened and verified (dfumgr_bundle_open()). opts may be NULL (defaults);
 * the report (may be NULL; its size field set by the caller) is filled in on success and on
 * failure: report->outcome says what the board runs afterwards.
 * The board is followed across DETACH and REBOOT by its identity (dfumgr_board_id): port path,
 * serial and VID; it is never confused with another board.
 * opts->cancel ends the update within a second wherever it is: a transfer gets DFU_ABORT, a
 * board in DFU mode is rebooted into its old pair; a COMMIT already sent is waited for (so the
 * board is never left mid-commit) and the update then stops before the reboot.
 * Threading: one update per board at a time; updates of different boards may run in parallel
 * threads on one backend, each with its own ctx.
 * Errors: -DFUMGR_E_NODEV, -DFUMGR_E_AMBIGUOUS, -DFUMGR_E_CANCELLED, -DFUMGR_E_TIMEOUT,
 * -DFUMGR_E_DOWNGRADE (older version or lower security counter), -DFUMGR_E_NOFIT (a slot is too
 * small), -DFUMGR_E_MISMATCH (digests still wrong after the retries, or the board came back running
 * other versions), -DFUMGR_E_UNSUPPORTED (plain device that cannot upload, without no_verify),
 * transfer errors. Before the commit, a failure leaves the primary images untouched; the board
 * is rebooted into its old pair when it can be reached.
 */
DFUMGR_EXPORT int dfumgr_update(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				const struct dfumgr_bundle *bundle,
				const struct dfumgr_update_opts *opts,
				struct dfumgr_update_report *ret_report);

/*
 * Checks, without writing anything, that the board runs the bundle: the device's digests of
 * both primary (running) slots against the manifest. -DFUMGR_E_MISMATCH names the image.
 */
DFUMGR_EXPORT int dfumgr_verify_device(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				       const struct dfumgr_bundle *bundle,
				       const struct dfumgr_update_opts *opts,
				       struct dfumgr_update_report *ret_report);

#ifdef __cplusplus
}
#endif
#endif
