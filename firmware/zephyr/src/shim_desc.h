/* SPDX-License-Identifier: MIT */
/*
 * The nRF5340 shim's USB descriptors (ARCHITECTURE §3) as one flat blob in the layout Zephyr's
 * legacy device stack walks after usb_set_config(): the device descriptor, the configuration
 * descriptor with its interface(s) and the DFU functional descriptor, then every string
 * descriptor in index order, then a zero byte that ends the walk.
 *
 * Pure C11, no Zephyr headers: the host unit tests build it and compare it byte for byte with
 * the descriptors of dfu-mgr-emu, so the emulated and the real board enumerate alike.
 */
#ifndef SHIM_DESC_H
#define SHIM_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfumgr/wire.h"

/* String descriptor indexes (the same in both modes, and the same as dfu-mgr-emu's). */
enum shim_string {
	SHIM_STR_LANGID = 0,
	SHIM_STR_MANUFACTURER = 1,
	SHIM_STR_PRODUCT = 2,
	SHIM_STR_SERIAL = 3,
	SHIM_STR_RUNTIME = 4, /* the runtime-mode DFU interface */
	SHIM_STR_ALT0 = 5,    /* "image-0" */
	SHIM_STR_ALT1 = 6,    /* "image-1" */
	SHIM_STR_COUNT
};

#define SHIM_MANUFACTURER "Nordic Semiconductor"
#define SHIM_PRODUCT      "nRF5340 XIP app (dfu-mgr shim)"
#define SHIM_RUNTIME_NAME "dfu-mgr runtime"

/* Room for the largest blob (DFU mode, 24-character serial) with margin. */
#define SHIM_DESC_MAX 512

/* Where the pieces are inside a built blob. */
struct shim_desc_layout {
	size_t size;        /* bytes used, including the terminating zero byte */
	size_t config_off;  /* configuration descriptor */
	size_t config_len;  /* its wTotalLength */
	size_t intf_off;    /* the first interface descriptor (alt 0) */
	size_t strings_off; /* string descriptor 0 */
};

/*
 * Builds the descriptors of runtime mode (one interface, DFU runtime protocol 1) or DFU mode
 * (one interface, alt-settings image-0 and image-1, protocol 2) into buf[0..cap). serial: the
 * ASCII serial number, 1..DFUMGR_SERIAL_MAX printable characters.
 * Returns the bytes written (layout in *ret_layout, if not NULL), or -1 when serial is invalid
 * or cap is too small (buf is then left in an unspecified state).
 */
int shim_desc_build(uint8_t *buf, size_t cap, bool dfu_mode, const char *serial,
		    struct shim_desc_layout *ret_layout);

/*
 * The serial number shown to the host: "NRF5340-" and the first 8 bytes of the hardware device
 * id (on the nRF5340, FICR.INFO.DEVICEID as Zephyr's hwinfo returns it) in upper-case hex, 24
 * characters. Ids shorter than 8 bytes are zero-extended on the left. Returns the length.
 */
size_t shim_serial_format(const uint8_t *id, size_t id_len,
			  char ret_serial[static DFUMGR_SERIAL_MAX + 1]);

#endif
