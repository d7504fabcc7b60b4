/* SPDX-License-Identifier: MIT */
/* The backend, its monitor and the open device, shared by device.c, dfu.c, shim.c, update.c. */
#ifndef DFUMGR_DEV_INTERNAL_H
#define DFUMGR_DEV_INTERNAL_H

#include <pthread.h>

#include "dfumgr/backend.h"
#include "dfumgr/device.h"

struct monitor_entry {
	struct dfumgr_device_info info;
	bool strings_done; /* read_strings() succeeded for this enumeration */
	bool denied;       /* listed without strings (no access yet): read again at each refresh */
};

struct dfumgr_backend {
	const struct dfumgr_backend_ops *ops;
	void *priv;
	/* the device monitor: everything below is guarded by lock */
	pthread_mutex_t lock;
	struct monitor_entry *cache;
	size_t n_cache;
	bool valid;
	uint64_t seen_events;
	struct dfumgr_monitor_stats stats;
};

struct dfumgr_dev {
	struct dfumgr_ctx *ctx;
	struct dfumgr_backend *be;
	const struct dfumgr_transport_ops *ops;
	void *t;
	struct dfumgr_device_info info;
	uint8_t alt;
	const struct dfumgr_cancel *cancel;
	uint64_t deadline_us; /* 0: none */
};

/*
 * Sleeps us on the backend's clock, cut to the device's deadline; -DFUMGR_E_CANCELLED or
 * -DFUMGR_E_TIMEOUT (message: "what") when the token or the deadline ends it.
 */
int dfumgr_dev_sleep(struct dfumgr_dev *dev, uint64_t us, const char *what);
/* -DFUMGR_E_CANCELLED / -DFUMGR_E_TIMEOUT (with a message naming what) or 0. */
int dfumgr_dev_check(struct dfumgr_dev *dev, const char *what);
/* Now on the backend's clock. */
uint64_t dfumgr_dev_now(struct dfumgr_dev *dev);

/*
 * A bus reset of an open device in DFU mode (dev is closed, also on failure), then the wait
 * for the board in runtime mode (timeout_ms / 10, at least 1 s: a device that stays in DFU mode
 * is told apart quickly). *ret_info is where it is now: in runtime mode, or still in DFU mode.
 */
int dfumgr_board_reset_to_runtime(struct dfumgr_ctx *ctx, struct dfumgr_dev *dev,
				  const struct dfumgr_cancel *cancel, unsigned timeout_ms,
				  struct dfumgr_device_info *ret_info);

#endif
