/* SPDX-License-Identifier: MIT */
/* transport_usb.c's pure functions (no libusb types), exposed for unit tests. */
#ifndef DFUMGR_TRANSPORT_USB_H
#define DFUMGR_TRANSPORT_USB_H

#include <stdbool.h>
#include <stdint.h>

#include "dfumgr/device.h"

/*
 * Looks for the DFU functional descriptor (DFU 1.1 §4.1.3, §4.2.4) in a chain of (bLength,
 * bDescriptorType, ...) descriptors of len bytes, walked with bounds checks (the bytes come
 * from the device). A DFU 1.0 descriptor (7 bytes) reads as version 0x0100.
 */
bool usb_find_func_desc(const unsigned char *p, int len, struct dfumgr_dfu_func *ret);
/* A DFU interface: class 0xfe, subclass 1, protocol 1 (runtime) or 2 (DFU mode). */
bool usb_is_dfu_alt_class(uint8_t cls, uint8_t subclass, uint8_t protocol);
/* "BUS-PORT[.PORT...]" from the bus and the port numbers from the root hub down. */
void usb_path_format(uint8_t bus, const uint8_t *ports, int n, char out[static DFUMGR_PATH_MAX]);
/* Orders paths by bus, then port numbers as numbers ("1-2" < "1-10"). */
int usb_path_cmp(const char *a, const char *b);
/* n bytes of a string descriptor (n <= 0: none) as printable ASCII ('?' for the rest). */
void usb_string_sanitize(const unsigned char *buf, int n, char out[static DFUMGR_STRING_MAX]);

#endif
