/* SPDX-License-Identifier: MIT */
/*
 * DFU devices as the host sees them: enumeration (through the backend's shared device monitor),
 * matching, board identity across re-enumeration, and an open DFU interface. Backends are
 * libusb for real devices (transport_usb.c) or anything a caller plugs in (dfumgr/backend.h).
 */
#ifndef DFUMGR_DEVICE_H
#define DFUMGR_DEVICE_H

#include "dfumgr/cancel.h"
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

/*
 * A backend: where devices come from (libusb for real ones). Opaque; it owns the one device
 * monitor of the process (below). Free it after every device opened from it is closed.
 */
struct dfumgr_backend;

/* The libusb backend (transport_usb.c), with hotplug when libusb has it. */
DFUMGR_EXPORT int dfumgr_backend_usb_new(struct dfumgr_ctx *ctx, struct dfumgr_backend **ret);
/* Frees the backend and its monitor; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_backend *dfumgr_backend_free(struct dfumgr_backend *be);
/* "usb", or the name a plugged-in backend gives. */
DFUMGR_EXPORT const char *dfumgr_backend_name(const struct dfumgr_backend *be);
/* The backend's monotonic clock in microseconds (an emulated backend runs its own). */
DFUMGR_EXPORT uint64_t dfumgr_backend_now_us(struct dfumgr_backend *be);

/*
 * The device monitor: one per backend, shared by everything in the process that uses the
 * backend. It keeps the enumerated DFU interfaces and their strings, read once per
 * enumeration of a device (a device that re-enumerates is read again; one that stays is never
 * asked again), and refreshes the list on hotplug events (without hotplug: at most every
 * DFUMGR_MONITOR_POLL_MS). Waits for a board wake on those events instead of re-listing.
 *
 * Threading contract: a backend, and so its monitor, may be used by any number of threads at
 * once; each thread uses its own struct dfumgr_ctx (a context is used by one thread at a
 * time), and each open struct dfumgr_dev belongs to the thread that opened it. All functions
 * below are thread-safe; the lists they return are the caller's copies.
 */
#define DFUMGR_MONITOR_POLL_MS 100

struct dfumgr_monitor_stats {
	size_t size;           /* sizeof(struct dfumgr_monitor_stats), set by the caller */
	uint64_t refreshes;    /* times the device list was read again */
	uint64_t string_reads; /* devices whose strings were read (one per enumeration) */
	uint64_t events;       /* hotplug events seen */
};

/* Fills *ret (whose size field the caller sets) with the monitor's counters. */
DFUMGR_EXPORT int dfumgr_backend_monitor_stats(struct dfumgr_backend *be,
					       struct dfumgr_monitor_stats *ret);

/*
 * Waits up to timeout_ms for the device list to change (a hotplug event), or for cancel.
 * 0 (something may have changed), -DFUMGR_E_TIMEOUT, -DFUMGR_E_CANCELLED.
 */
DFUMGR_EXPORT int dfumgr_backend_wait_change(struct dfumgr_backend *be, unsigned timeout_ms,
					     const struct dfumgr_cancel *cancel);

/*
 * Lists the DFU interfaces that match m (NULL: all), from the backend's monitor (no control
 * transfer for a device already known). *ret_list is malloc'ed; free() it. Thread-safe.
 */
DFUMGR_EXPORT int dfumgr_device_list(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				     const struct dfumgr_match *m,
				     struct dfumgr_device_info **ret_list, size_t *ret_n);

/* An open device. */
struct dfumgr_dev;

/*
 * Opens the one device that matches m. -DFUMGR_E_NODEV when none matches, -DFUMGR_E_AMBIGUOUS
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
 * A board's identity across re-enumeration (DETACH, REBOOT, a bus reset): the USB port path it
 * was found on, its serial number and its vendor id (the product id may change between
 * runtime and DFU mode). A device is the board only when all three agree; a board without a
 * serial number is pinned to its port, and an empty serial never matches anything else. Two
 * devices that both agree (a cloned serial on the same port path cannot happen; two interfaces
 * can) make the choice ambiguous: refused, never guessed.
 */
struct dfumgr_board_id {
	uint16_t vid;
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];
};

/* The identity of a listed device. */
DFUMGR_EXPORT void dfumgr_board_id_from_info(const struct dfumgr_device_info *info,
					     struct dfumgr_board_id *ret);
/* True when info is the board id names (vid, path and serial all agree). */
DFUMGR_EXPORT bool dfumgr_board_id_match(const struct dfumgr_board_id *id,
					 const struct dfumgr_device_info *info);
/* "serial X at PATH" or "the board without a serial number at PATH", for messages. */
DFUMGR_EXPORT const char *dfumgr_board_id_str(const struct dfumgr_board_id *id, char *buf,
					      size_t size);

/*
 * Waits until the board id names is present in the wanted mode (dfu_mode true/false), for at
 * most timeout_ms, waking on hotplug events and on cancel (may be NULL). On success *ret_info
 * is that device. Errors: -DFUMGR_E_TIMEOUT (the message says what was seen instead, e.g. a
 * device with the same serial at another port), -DFUMGR_E_AMBIGUOUS, -DFUMGR_E_CANCELLED.
 */
DFUMGR_EXPORT int dfumgr_board_wait(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				    const struct dfumgr_board_id *id, bool dfu_mode,
				    unsigned timeout_ms, const struct dfumgr_cancel *cancel,
				    struct dfumgr_device_info *ret_info);

/*
 * Limits for everything done with dev from now on: cancel (may be NULL) is checked in every
 * poll and sleep, and no wait (bwPollTimeout, digest and commit polls, a control transfer's
 * timeout) goes past deadline_us on dfumgr_backend_now_us()'s clock (0: only each request's
 * own limits). Errors then: -DFUMGR_E_CANCELLED, -DFUMGR_E_TIMEOUT.
 */
DFUMGR_EXPORT void dfumgr_dev_set_limits(struct dfumgr_dev *dev, const struct dfumgr_cancel *cancel,
					 uint64_t deadline_us);

#ifdef __cplusplus
}
#endif
#endif
