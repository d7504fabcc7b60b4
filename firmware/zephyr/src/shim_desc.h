/* SPDX-License-Identifier: MIT */
/*
 * The nRF5340 shim's USB descriptors (ARCHITECTURE §3) as one flat blob in the layout Zephyr's
 * legacy device stack walks after usb_set_config(): the device descriptor, the configuration
 * descriptor with its interface(s) and the DFU functional descriptor, then every string
 * descriptor in index order, then a zero byte that ends the walk. Behind it, for the requests
 * the glue answers itself: the BOS descriptor and the Microsoft OS 2.0 descriptor set, which
 * make Windows bind WinUSB to the device without an INF file or Zadig.
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

/* The development identity (firmware/zephyr/Kconfig defaults, dfu-mgr-emu's boards). */
#define SHIM_MANUFACTURER "Nordic Semiconductor"
#define SHIM_PRODUCT      "nRF5340 XIP app (dfu-mgr shim)"
#define SHIM_WINUSB_GUID  "{42CF0201-22A1-4ADF-99C7-3C161253133D}"
#define SHIM_RUNTIME_NAME "dfu-mgr runtime"

/* A string descriptor holds at most (255 - 2) / 2 UTF-16 code units. */
#define SHIM_STRING_MAX 126
/* "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" */
#define SHIM_GUID_LEN 38

/*
 * bcdUSB 2.01: the lowest release with a BOS descriptor, which is where Windows (8.1 and later)
 * looks for the Microsoft OS 2.0 platform capability.
 */
#define SHIM_BCD_USB 0x0201

/*
 * Microsoft OS 2.0 Descriptors Specification: the host reads the descriptor set with a vendor
 * request to the device, bRequest = the vendor code announced in the BOS platform capability,
 * wIndex = 7 (MS_OS_20_DESCRIPTOR_INDEX). 0x20 is outside the shim's own vendor requests
 * (0x40-0x45, to the interface).
 */
#define SHIM_MSOS_VENDOR_CODE      0x20
#define SHIM_MSOS_DESCRIPTOR_INDEX 7
/* dwWindowsVersion: Windows 8.1, the first release that reads MS OS 2.0 descriptors */
#define SHIM_MSOS_WINDOWS_VERSION 0x06030000u

/* Who the board says it is: the USB identity of a product (Kconfig on the board). */
struct shim_usb_id {
	uint16_t vid;
	uint16_t pid;
	const char *manufacturer; /* printable ASCII, 1..SHIM_STRING_MAX characters */
	const char *product;      /* printable ASCII, 1..SHIM_STRING_MAX characters */
	/*
	 * The DeviceInterfaceGUIDs registry property Windows gets with the WinUSB binding,
	 * SHIM_GUID_LEN characters with braces; NULL: no property (WinUSB still binds).
	 */
	const char *winusb_guid;
	/*
	 * bitCanUpload clear: firmware built with CONFIG_DFUMGR_SHIM_UPLOAD=n, which refuses
	 * DFU_UPLOAD (the read-back digests stay).
	 */
	bool no_upload;
};

/* 1915:5300 and the strings above: the development default, never a product's identity. */
extern const struct shim_usb_id shim_usb_id_dev;

/* Room for the largest blob (DFU mode, 24-character serial, 126-character strings). */
#define SHIM_DESC_MAX 1024

/* Where the pieces are inside a built blob. */
struct shim_desc_layout {
	size_t size;        /* bytes used: up to and including the MS OS 2.0 descriptor set */
	size_t config_off;  /* configuration descriptor */
	size_t config_len;  /* its wTotalLength */
	size_t intf_off;    /* the first interface descriptor (alt 0) */
	size_t strings_off; /* string descriptor 0 */
	/*
	 * After the zero byte that ends the string descriptors (so the legacy stack's walk never
	 * sees them): the BOS descriptor with its capability (GET_DESCRIPTOR type 15) ...
	 */
	size_t bos_off;
	size_t bos_len; /* its wTotalLength */
	/* ... and the MS OS 2.0 descriptor set (the vendor request above) */
	size_t msos_off;
	size_t msos_len;
};

/*
 * Builds the descriptors of runtime mode (one interface, DFU runtime protocol 1) or DFU mode
 * (one interface, alt-settings image-0 and image-1, protocol 2) for the identity id into
 * buf[0..cap). serial: the ASCII serial number, 1..DFUMGR_SERIAL_MAX printable characters.
 * Returns the bytes written (layout in *ret_layout, if not NULL), or -1 when id or serial is
 * invalid or cap is too small (buf is then left in an unspecified state).
 */
int shim_desc_build(uint8_t *buf, size_t cap, bool dfu_mode, const struct shim_usb_id *id,
		    const char *serial, struct shim_desc_layout *ret_layout);

/*
 * True for the host's request of the MS OS 2.0 descriptor set (device-recipient vendor IN
 * request with the vendor code and index above); the reply is the blob's msos part.
 */
bool shim_desc_is_msos_request(uint8_t bmRequestType, uint8_t bRequest, uint16_t wIndex);

/*
 * The serial number shown to the host: "NRF5340-" and the first 8 bytes of the hardware device
 * id (on the nRF5340, FICR.INFO.DEVICEID as Zephyr's hwinfo returns it) in upper-case hex, 24
 * characters. Ids shorter than 8 bytes are zero-extended on the left. Returns the length.
 */
size_t shim_serial_format(const uint8_t *id, size_t id_len,
			  char ret_serial[static DFUMGR_SERIAL_MAX + 1]);

#endif
