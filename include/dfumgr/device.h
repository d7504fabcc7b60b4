/* SPDX-License-Identifier: MIT */
/*
 * DFU devices as the host sees them: enumeration, matching, and an open DFU interface, over a
 * pluggable backend (struct dfumgr_backend_ops, like libusb's os backends): libusb for real
 * devices (transport_usb.c), or anything else a caller plugs in (the test suite runs the
 * firmware core in process this way).
 */
#ifndef DFUMGR_DEVICE_H
#define DFUMGR_DEVICE_H

#include "dfumgr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_ALTS_MAX   16
#define DFUMGR_STRING_MAX 128
#define DFUMGR_PATH_MAX   32

/* The DFU functional descriptor (DFU 1.1 §4.1.3). */
struct dfumgr_dfu_func {
	uint8_t attributes; /* DFU_ATTR_* of dfumgr/wire.h */
	uint16_t detach_timeout_ms;
	uint16_t transfer_size;
	uint16_t dfu_version; /* BCD, 0x0110 */
};

struct dfumgr_alt {
	uint8_t number;
	char name[DFUMGR_STRING_MAX]; /* iInterface string, "" if none */
};

/* One DFU interface of one USB device, as enumerated. */
struct dfumgr_device_info {
	uint16_t vid, pid, bcd_device;
	char serial[DFUMGR_STRING_MAX];
	char manufacturer[DFUMGR_STRING_MAX];
	char product[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX]; /* "BUS-PORT[.PORT...]", stable across re-enumeration */
	uint8_t bus, address;
	uint8_t interface; /* bInterfaceNumber of the DFU interface */
	bool dfu_mode;     /* bInterfaceProtocol 2 (DFU mode) rather than 1 (runtime) */
	struct dfumgr_dfu_func func;
	bool has_func; /* a functional descriptor was found */
	size_t n_alts;
	struct dfumgr_alt alts[DFUMGR_ALTS_MAX];
};

/* Which devices to use. Zero/NULL fields match anything. */
struct dfumgr_match {
	uint16_t vid, pid;
	const char *serial;
	const char *path;
};

/* True when info matches m. */
DFUMGR_EXPORT bool dfumgr_match_device(const struct dfumgr_match *m,
				       const struct dfumgr_device_info *info);
/* Parses "VVVV:PPPP" (hex) into m->vid/pid; 0 or -DFUMGR_E_INVAL. */
DFUMGR_EXPORT int dfumgr_match_parse_id(struct dfumgr_match *m, const char *s);

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
	 * Every DFU interface present now. *ret_list is malloc'ed (free()); *ret_n may be 0.
	 */
	int (*list)(void *b, struct dfumgr_ctx *ctx, struct dfumgr_device_info **ret_list,
		    size_t *ret_n);
	/* Opens (claims) the DFU interface of a listed device. */
	int (*open)(void *b, struct dfumgr_ctx *ctx, const struct dfumgr_device_info *info,
		    const struct dfumgr_transport_ops **ret_ops, void **ret_t);
	/*
	 * Waits up to timeout_ms for a device to arrive or leave (hotplug), or simply for the
	 * time to pass; returns 0 (something may have changed) or -DFUMGR_E_TIMEOUT.
	 */
	int (*wait_event)(void *b, unsigned timeout_ms);
	/* Sleeps; the in-process backend advances its clock instead. */
	void (*sleep_us)(void *b, uint64_t us);
	/* A monotonic clock in microseconds. */
	uint64_t (*now_us)(void *b);
	void (*free)(void *b);
};

struct dfumgr_backend {
	const struct dfumgr_backend_ops *ops;
	void *priv;
};

/* The libusb backend (transport_usb.c). Free with dfumgr_backend_free(). */
DFUMGR_EXPORT int dfumgr_backend_usb_new(struct dfumgr_ctx *ctx, struct dfumgr_backend **ret);
/* Wraps caller-provided ops (e.g. an in-process device model); ops and priv stay the caller's
 * until dfumgr_backend_free(), which calls ops->free(priv). */
DFUMGR_EXPORT int dfumgr_backend_new(const struct dfumgr_backend_ops *ops, void *priv,
				     struct dfumgr_backend **ret);
DFUMGR_EXPORT struct dfumgr_backend *dfumgr_backend_free(struct dfumgr_backend *be);

/* Lists the DFU interfaces that match m (NULL: all). *ret_list is malloc'ed; free() it. */
DFUMGR_EXPORT int dfumgr_device_list(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				     const struct dfumgr_match *m,
				     struct dfumgr_device_info **ret_list, size_t *ret_n);

/* An open device. */
struct dfumgr_dev;

/*
 * Opens the one device that matches m. -DFUMGR_E_NODEV when none matches, -DFUMGR_E_INVAL
 * ("N devices match: give --serial or --path") when more than one does.
 */
DFUMGR_EXPORT int dfumgr_dev_open(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				  const struct dfumgr_match *m, struct dfumgr_dev **ret_dev);
/* Opens a listed device. */
DFUMGR_EXPORT int dfumgr_dev_open_info(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				       const struct dfumgr_device_info *info,
				       struct dfumgr_dev **ret_dev);
DFUMGR_EXPORT struct dfumgr_dev *dfumgr_dev_close(struct dfumgr_dev *dev);
DFUMGR_EXPORT const struct dfumgr_device_info *dfumgr_dev_info(const struct dfumgr_dev *dev);
/* Finds an alt by number ("1") or name ("image-1"); its number, or -DFUMGR_E_NOENT. */
DFUMGR_EXPORT int dfumgr_dev_find_alt(const struct dfumgr_dev *dev, const char *alt);
DFUMGR_EXPORT int dfumgr_dev_set_alt(struct dfumgr_dev *dev, uint8_t alt);
/* A raw control transfer on the DFU interface (wIndex = its interface number). */
DFUMGR_EXPORT int dfumgr_dev_control(struct dfumgr_dev *dev, uint8_t request_type, uint8_t request,
				     uint16_t value, uint8_t *data, uint16_t length);

/*
 * Waits until a device with this serial (and path, if given) is present in the wanted mode
 * (dfu_mode true/false), re-listing on hotplug events, for at most timeout_ms. Used to follow a
 * board across DETACH and REBOOT re-enumeration. On success *ret_info is that device.
 */
DFUMGR_EXPORT int dfumgr_device_wait(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				     const char *serial, const char *path, bool dfu_mode,
				     unsigned timeout_ms, struct dfumgr_device_info *ret_info);

#ifdef __cplusplus
}
#endif
#endif
