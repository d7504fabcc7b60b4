/* SPDX-License-Identifier: MIT */
/*
 * Board operations a front end needs besides the update itself, with the flow in the library:
 * entering DFU mode (with the bus reset fallbacks of DFU 1.1 §5), rebooting any board (the
 * shim's REBOOT; a bus reset for a plain DFU device in DFU mode), each following the board by
 * its identity (dfumgr_board_id) across the re-enumeration, each wait bounded and cancellable.
 */
#ifndef DFUMGR_BOARD_H
#define DFUMGR_BOARD_H

#include "dfumgr/cancel.h"
#include "dfumgr/device.h"
#include "dfumgr/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_REENUMERATE_TIMEOUT_MS 30000

/* Options of the board operations. Start from DFUMGR_BOARD_OPTS_INIT (it sets size). */
struct dfumgr_board_opts {
	size_t size;                        /* sizeof(struct dfumgr_board_opts) */
	unsigned timeout_ms;                /* re-enumeration wait; 0: 30 s */
	const struct dfumgr_cancel *cancel; /* may be NULL */
	dfumgr_progress_fn progress;        /* DETACH / REBOOT events; may be NULL */
	void *user;
};
#define DFUMGR_BOARD_OPTS_INIT                                                                     \
	{                                                                                          \
		.size = sizeof(struct dfumgr_board_opts)                                           \
	}

/*
 * Opens the one board that matches m in DFU mode. A board in runtime mode gets DFU_DETACH and,
 * when it does not announce bitWillDetach, a bus reset (§5.1); one that announces it but is
 * still there after wDetachTimeOut gets the bus reset too. The board is followed by its
 * identity, so another device that enters DFU mode meanwhile is never taken for it.
 * o may be NULL. Errors: -DFUMGR_E_NODEV, -DFUMGR_E_AMBIGUOUS (more than one board matches m, or
 * answers for its identity), -DFUMGR_E_TIMEOUT, -DFUMGR_E_CANCELLED, transfer errors.
 * Free *ret_dev with dfumgr_dev_close().
 */
DFUMGR_EXPORT int dfumgr_board_enter_dfu(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
					 const struct dfumgr_match *m,
					 const struct dfumgr_board_opts *o,
					 struct dfumgr_dev **ret_dev);

/* The same from an open device (closed by the call, also on failure). */
DFUMGR_EXPORT int dfumgr_board_enter_dfu_dev(struct dfumgr_dev *dev,
					     const struct dfumgr_board_opts *o,
					     struct dfumgr_dev **ret_dev);

/*
 * Resets the one board that matches m so that it runs its firmware: the shim's REBOOT (MCUboot
 * runs, then the application), or for a plain DFU 1.1 device in DFU mode a USB bus reset (the
 * host's way out of DFU mode, §7). Waits for the board in runtime mode; *ret_info (may be NULL)
 * is where it came back. A plain device that stays in DFU mode after the reset (some need a
 * power cycle; a bus reset does not cross USB/IP) is not an error: *ret_info says dfu_mode.
 * Errors: -DFUMGR_E_UNSUPPORTED (a plain device in runtime mode: DFU has no reboot request),
 * -DFUMGR_E_NODEV, -DFUMGR_E_AMBIGUOUS, -DFUMGR_E_TIMEOUT, -DFUMGR_E_CANCELLED.
 */
DFUMGR_EXPORT int dfumgr_board_reboot(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				      const struct dfumgr_match *m,
				      const struct dfumgr_board_opts *o,
				      struct dfumgr_device_info *ret_info);

#ifdef __cplusplus
}
#endif
#endif
