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
#include "dfumgr/device.h"
#include "dfumgr/dfu.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dfumgr_verify_method {
	DFUMGR_VERIFY_DEVICE_DIGEST = 0, /* the shim's SHA-256 of each slot, read from flash */
	DFUMGR_VERIFY_UPLOAD = 1,        /* DFU_UPLOAD of each alt, compared byte for byte */
	DFUMGR_VERIFY_NONE = 2,          /* not verified (--no-verify) */
};

DFUMGR_EXPORT const char *dfumgr_verify_method_name(enum dfumgr_verify_method m);

struct dfumgr_update_opts {
	struct dfumgr_match match; /* vid/pid 0: the manifest's device ids */
	bool allow_downgrade;
	bool no_verify;   /* needed for a plain DFU device that cannot upload */
	bool permanent;   /* permanent swap instead of test swap + confirm by the app */
	bool commit_only; /* the slots were written by someone else (e.g. stock dfu-util): only
			     check their digests against the manifest, then commit and reboot */
	unsigned retries; /* re-downloads of an image whose digest is wrong (default 2) */
	unsigned reenumerate_timeout_ms; /* default 30000 */
	uint16_t transfer_size;          /* 0: the device's wTransferSize */
	dfumgr_progress_fn progress;
	void *user;
	const volatile int *cancel;
};

enum dfumgr_update_phase {
	DFUMGR_PHASE_PREFLIGHT,
	DFUMGR_PHASE_DETACH,
	DFUMGR_PHASE_DOWNLOAD,
	DFUMGR_PHASE_VERIFY,
	DFUMGR_PHASE_COMMIT,
	DFUMGR_PHASE_REBOOT,
	DFUMGR_PHASE_CHECK,
	DFUMGR_PHASE_DONE,
	DFUMGR_PHASE_COUNT
};

DFUMGR_EXPORT const char *dfumgr_update_phase_name(enum dfumgr_update_phase p);

struct dfumgr_update_report {
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];
	bool shim; /* the board speaks the dfu-mgr shim protocol */
	enum dfumgr_verify_method verify;
	bool have_before, have_after;
	struct dfumgr_image_version before[2], after[2];
	unsigned downloads[2]; /* download attempts per image */
	uint64_t bytes;        /* bytes downloaded */
	uint64_t phase_us[DFUMGR_PHASE_COUNT];
	uint64_t total_us;
	enum dfumgr_update_phase phase; /* reached (DONE on success; where it failed otherwise) */
	bool committed;
	char board_state[192]; /* what the board was left doing, in words */
};

/*
 * Updates the one board that matches opts->match (and the manifest's VID:PID) with bundle,
 * which the caller opened and verified (dfumgr_bundle_open()). The report (may be NULL) is
 * filled in on success and on failure.
 * Errors: -DFUMGR_E_NODEV, -DFUMGR_E_DOWNGRADE, -DFUMGR_E_NOFIT (a slot is too small),
 * -DFUMGR_E_MISMATCH (digests still wrong after the retries, or the board came back running
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
