/* SPDX-License-Identifier: MIT */
/*
 * For backend implementers only (like libusb's os backends): the function tables behind an
 * opaque struct dfumgr_backend. libdfumgr has the libusb backend (dfumgr_backend_usb_new());
 * the test suite plugs in emulated boards this way. Applications use dfumgr/device.h.
 *
 * Threading: every op of a backend may be called from several threads at once (the device
 * monitor, updates of several boards); a backend locks what it shares. A transport (one open
 * device) is used by one thread at a time.
 */
#ifndef DFUMGR_BACKEND_H
#define DFUMGR_BACKEND_H

#include "dfumgr/cancel.h"
#include "dfumgr/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An open DFU interface: what the backend's open() returns. */
struct dfumgr_transport_ops {
	/*
	 * A control transfer on endpoint 0. data holds the OUT data or receives up to length IN
	 * bytes. Returns the bytes transferred, or -DFUMGR_E_STALL, -DFUMGR_E_DISCONNECTED,
	 * -DFUMGR_E_TIMEOUT, -DFUMGR_E_IO (detail in ctx).
	 */
	int (*control)(void *t, struct dfumgr_ctx *ctx, uint8_t request_type, uint8_t request,
		       uint16_t value, uint16_t index, uint8_t *data, uint16_t length,
		       unsigned timeout_ms);
	/* SET_INTERFACE on the DFU interface. */
	int (*set_alt)(void *t, struct dfumgr_ctx *ctx, uint8_t alt);
	/* A USB bus reset (the device may re-enumerate and this handle go stale). */
	int (*reset)(void *t, struct dfumgr_ctx *ctx);
	void (*close)(void *t);
};

struct dfumgr_backend_ops {
	const char *name;
	/*
	 * Every DFU interface present now, from what the host already knows (no control
	 * transfer): ids, path, bus/address, descriptors. The strings (serial, manufacturer,
	 * product, alt names) are left "" for read_strings(). *ret_list is malloc'ed (free()).
	 */
	int (*list)(void *b, struct dfumgr_ctx *ctx, struct dfumgr_device_info **ret_list,
		    size_t *ret_n);
	/*
	 * Reads the strings of one listed device (control transfers). The device monitor calls it
	 * once per enumeration of a device. 0 when done; -DFUMGR_E_ACCESS when the device cannot
	 * be opened for lack of permission (listed with "" strings, read again at the next
	 * refresh); other < 0 when it should be tried again later (not ready, gone).
	 */
	int (*read_strings)(void *b, struct dfumgr_ctx *ctx, struct dfumgr_device_info *info);
	/* Opens (claims) the DFU interface of a listed device. */
	int (*open)(void *b, struct dfumgr_ctx *ctx, const struct dfumgr_device_info *info,
		    const struct dfumgr_transport_ops **ret_ops, void **ret_t);
	/*
	 * The number of hotplug events seen so far (monotonic; it may run event handling without
	 * blocking first). NULL when the backend has no hotplug: the monitor then lists again at
	 * most every DFUMGR_MONITOR_POLL_MS.
	 */
	uint64_t (*events)(void *b);
	/*
	 * Waits up to timeout_ms for a hotplug event. 0 (an event, or just the time passed),
	 * -DFUMGR_E_CANCELLED as soon as c is triggered.
	 */
	int (*wait_event)(void *b, unsigned timeout_ms, const struct dfumgr_cancel *c);
	/* Sleeps us microseconds, or until c is triggered (-DFUMGR_E_CANCELLED). */
	int (*sleep_us)(void *b, uint64_t us, const struct dfumgr_cancel *c);
	/* A monotonic clock in microseconds (an emulated backend may run its own). */
	uint64_t (*now_us)(void *b);
	void (*free)(void *b);
};

/*
 * Wraps caller-provided ops (e.g. an in-process device model); priv stays the caller's until
 * dfumgr_backend_free(), which calls ops->free(priv). ops must outlive the backend.
 */
DFUMGR_EXPORT int dfumgr_backend_new(const struct dfumgr_backend_ops *ops, void *priv,
				     struct dfumgr_backend **ret);

#ifdef __cplusplus
}
#endif
#endif
