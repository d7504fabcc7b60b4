/* SPDX-License-Identifier: MIT */
/*
 * The DFU 1.1 host engine: DNLOAD/UPLOAD in wTransferSize blocks, GETSTATUS polling that honours
 * bwPollTimeout exactly, recovery from dfuERROR, manifestation, DETACH. Works with any DFU 1.1
 * device, not only the dfu-mgr shim.
 */
#ifndef DFUMGR_DFU_H
#define DFUMGR_DFU_H

#include "dfumgr/device.h"
#include "dfumgr/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The usbfs limit for one control transfer's data stage. */
#define DFUMGR_TRANSFER_SIZE_MAX 4096

struct dfumgr_dfu_status {
	uint8_t status; /* enum dfu_status */
	uint32_t poll_timeout_ms;
	uint8_t state; /* enum dfu_state */
	uint8_t istring;
};

/* "dfuDNBUSY", ...; "errWRITE", ...; and a sentence for each status (never NULL). */
DFUMGR_EXPORT const char *dfumgr_dfu_state_name(uint8_t state);
DFUMGR_EXPORT const char *dfumgr_dfu_status_name(uint8_t status);
DFUMGR_EXPORT const char *dfumgr_dfu_status_text(uint8_t status);

DFUMGR_EXPORT int dfumgr_dfu_get_status(struct dfumgr_dev *dev, struct dfumgr_dfu_status *ret);
DFUMGR_EXPORT int dfumgr_dfu_get_state(struct dfumgr_dev *dev, uint8_t *ret_state);
DFUMGR_EXPORT int dfumgr_dfu_clear_status(struct dfumgr_dev *dev);
DFUMGR_EXPORT int dfumgr_dfu_abort(struct dfumgr_dev *dev);
/*
 * Brings a DFU-mode device to dfuIDLE: CLRSTATUS from dfuERROR, ABORT from the idle states of
 * a transfer. -DFUMGR_E_PROTOCOL if it cannot.
 */
DFUMGR_EXPORT int dfumgr_dfu_to_idle(struct dfumgr_dev *dev);

/* Options of a transfer. Start from DFUMGR_TRANSFER_OPTS_INIT (it sets size). */
struct dfumgr_transfer_opts {
	size_t size;                 /* sizeof(struct dfumgr_transfer_opts) */
	dfumgr_progress_fn progress; /* may be NULL; see dfumgr/progress.h */
	void *user;
	uint16_t transfer_size;  /* 0: the functional descriptor's wTransferSize */
	enum dfumgr_phase phase; /* reported in progress events (DOWNLOAD/UPLOAD by default) */
	int image;               /* reported in progress events; -1: the alt number */
	/*
	 * Download only: bit b set means block b (bytes b * transfer_size on) is not sent: the
	 * device already holds it and said so (dfumgr_shim_sectors_verify(), with transfer_size
	 * equal to its sector size). Blocks keep their numbers (wValue), so the device knows where
	 * each goes. NULL: every block is sent. When every block is skipped nothing is sent at all.
	 */
	const uint8_t *skip;
	size_t skip_blocks; /* bits in skip; blocks past them are sent */
};
#define DFUMGR_TRANSFER_OPTS_INIT                                                                  \
	{                                                                                          \
		.size = sizeof(struct dfumgr_transfer_opts), .image = -1                           \
	}

/*
 * Downloads data to alt (DFU 1.1 §6.1): every block, then the zero-length DNLOAD and
 * manifestation. On a device error the message says the DFU status (what it means), the block
 * and byte range, the alt, and the state the device is left in; the device is brought back to
 * dfuIDLE when possible. Every bwPollTimeout sleep wakes on the device's cancel token and is cut
 * to its deadline (dfumgr_dev_set_limits()); a device that stays busy for 120 s is given up.
 * opts may be NULL. Errors: -DFUMGR_E_DFU_STATUS, -DFUMGR_E_STALL, -DFUMGR_E_DISCONNECTED,
 * -DFUMGR_E_TIMEOUT, -DFUMGR_E_PROTOCOL, -DFUMGR_E_CANCELLED (the device got DFU_ABORT).
 */
DFUMGR_EXPORT int dfumgr_dfu_download(struct dfumgr_dev *dev, uint8_t alt, const uint8_t *data,
				      size_t size, const struct dfumgr_transfer_opts *opts);

/*
 * Uploads from alt until the device sends a short block (§6.2) or max bytes were read.
 * *ret_data is malloc'ed; free() it.
 */
DFUMGR_EXPORT int dfumgr_dfu_upload(struct dfumgr_dev *dev, uint8_t alt, size_t max,
				    uint8_t **ret_data, size_t *ret_size,
				    const struct dfumgr_transfer_opts *opts);

/*
 * Runtime mode -> DFU mode (§5): DFU_DETACH; if the device does not announce bitWillDetach, a
 * USB reset after it. The handle is stale afterwards: the caller waits for the device to come
 * back (dfumgr_board_wait()) and opens it again. dfumgr_board_enter_dfu() (dfumgr/board.h)
 * does all of it, including the bus reset for a will-detach device that did not leave.
 */
DFUMGR_EXPORT int dfumgr_dfu_detach(struct dfumgr_dev *dev);

#ifdef __cplusplus
}
#endif
#endif
