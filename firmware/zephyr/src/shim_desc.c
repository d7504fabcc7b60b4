/* SPDX-License-Identifier: MIT */
/* USB 2.0 chapter 9 and DFU 1.1 §4 descriptors of the shim, in the legacy Zephyr stack's layout. */
#include <string.h>

#include "shim_desc.h"

#define USB_DESC_DEVICE    1
#define USB_DESC_CONFIG    2
#define USB_DESC_STRING    3
#define USB_DESC_INTERFACE 4
#define USB_LANGID_EN_US   0x0409
#define USB_EP0_SIZE       64
/* bus powered, no remote wakeup; 100 mA (bMaxPower counts 2 mA units) */
#define USB_CFG_ATTRIBUTES 0x80
#define USB_CFG_MAX_POWER  50

struct out {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static uint8_t *reserve(struct out *o, size_t n)
{
	uint8_t *p;

	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return NULL;
	}
	p = o->buf + o->len;
	o->len += n;
	return p;
}

static void put_bytes(struct out *o, const uint8_t *b, size_t n)
{
	uint8_t *p = reserve(o, n);

	if (p)
		memcpy(p, b, n);
}

static void put_device(struct out *o)
{
	const uint8_t d[18] = {
	    18,
	    USB_DESC_DEVICE,
	    0x00,
	    0x02, /* bcdUSB 2.0: full speed only, so no device qualifier */
	    0,
	    0,
	    0, /* class per interface */
	    USB_EP0_SIZE,
	    DFUMGR_USB_VID & 0xff,
	    DFUMGR_USB_VID >> 8,
	    DFUMGR_USB_PID & 0xff,
	    DFUMGR_USB_PID >> 8,
	    DFUMGR_USB_BCD & 0xff,
	    DFUMGR_USB_BCD >> 8,
	    SHIM_STR_MANUFACTURER,
	    SHIM_STR_PRODUCT,
	    SHIM_STR_SERIAL,
	    1, /* bNumConfigurations */
	};
	put_bytes(o, d, sizeof(d));
}

static void put_interface(struct out *o, uint8_t alt, bool dfu_mode)
{
	const uint8_t d[9] = {
	    9,
	    USB_DESC_INTERFACE,
	    0, /* bInterfaceNumber: the only interface */
	    alt,
	    0, /* DFU 1.1 §4.1.2/§4.2.3: control endpoint only */
	    DFU_CLASS,
	    DFU_SUBCLASS,
	    dfu_mode ? DFU_PROTOCOL_DFU_MODE : DFU_PROTOCOL_RUNTIME,
	    (uint8_t)(dfu_mode ? SHIM_STR_ALT0 + alt : SHIM_STR_RUNTIME),
	};
	put_bytes(o, d, sizeof(d));
}

/*
 * DFU 1.1 §4.1.3: the same functional descriptor in both modes. bitWillDetach: the application
 * re-enumerates by itself after DFU_DETACH, so the host needs no bus reset (which USB/IP and
 * some hubs do not deliver anyway).
 */
static void put_functional(struct out *o)
{
	const uint8_t d[DFU_FUNC_DESC_LEN] = {
	    DFU_FUNC_DESC_LEN,
	    DFU_FUNC_DESC_TYPE,
	    DFU_ATTR_CAN_DNLOAD | DFU_ATTR_CAN_UPLOAD | DFU_ATTR_MANIFESTATION_TOLERANT |
		DFU_ATTR_WILL_DETACH,
	    DFUMGR_DETACH_TIMEOUT_MS & 0xff,
	    DFUMGR_DETACH_TIMEOUT_MS >> 8,
	    DFUMGR_TRANSFER_SIZE & 0xff,
	    DFUMGR_TRANSFER_SIZE >> 8,
	    DFU_VERSION_BCD & 0xff,
	    DFU_VERSION_BCD >> 8,
	};
	put_bytes(o, d, sizeof(d));
}

/* ASCII to a UTF-16LE string descriptor. */
static void put_string(struct out *o, const char *s)
{
	size_t n = strlen(s);
	uint8_t *p;

	if (2 + 2 * n > 255) {
		o->overflow = true;
		return;
	}
	p = reserve(o, 2 + 2 * n);
	if (!p)
		return;
	p[0] = (uint8_t)(2 + 2 * n);
	p[1] = USB_DESC_STRING;
	for (size_t i = 0; i < n; i++) {
		p[2 + 2 * i] = (uint8_t)s[i];
		p[3 + 2 * i] = 0;
	}
}

static bool serial_ok(const char *serial)
{
	size_t n = 0;

	if (!serial)
		return false;
	for (; serial[n]; n++)
		if (n >= DFUMGR_SERIAL_MAX || serial[n] < 0x20 || serial[n] > 0x7e)
			return false;
	return n > 0;
}

int shim_desc_build(uint8_t *buf, size_t cap, bool dfu_mode, const char *serial,
		    struct shim_desc_layout *ret_layout)
{
	struct out o = {.buf = buf, .cap = cap};
	struct shim_desc_layout l = {0};
	const uint8_t langid[4] = {4, USB_DESC_STRING, USB_LANGID_EN_US & 0xff,
				   USB_LANGID_EN_US >> 8};
	unsigned n_alts = dfu_mode ? DFUMGR_N_IMAGES : 1;
	uint8_t *cfg;

	if (!buf || !serial_ok(serial))
		return -1;
	put_device(&o);
	l.config_off = o.len;
	cfg = reserve(&o, 9);
	l.intf_off = o.len;
	for (unsigned alt = 0; alt < n_alts; alt++)
		put_interface(&o, (uint8_t)alt, dfu_mode);
	put_functional(&o);
	l.config_len = o.len - l.config_off;
	if (cfg) {
		cfg[0] = 9;
		cfg[1] = USB_DESC_CONFIG;
		cfg[2] = (uint8_t)l.config_len;
		cfg[3] = (uint8_t)(l.config_len >> 8);
		cfg[4] = 1; /* bNumInterfaces */
		cfg[5] = 1; /* bConfigurationValue */
		cfg[6] = 0; /* iConfiguration */
		cfg[7] = USB_CFG_ATTRIBUTES;
		cfg[8] = USB_CFG_MAX_POWER;
	}
	/*
	 * The stack finds string N by counting string descriptors from the first, so all of them
	 * are present in both modes and in index order: a mode switch never renumbers them.
	 */
	l.strings_off = o.len;
	put_bytes(&o, langid, sizeof(langid));
	put_string(&o, SHIM_MANUFACTURER);
	put_string(&o, SHIM_PRODUCT);
	put_string(&o, serial);
	put_string(&o, SHIM_RUNTIME_NAME);
	put_string(&o, "image-0");
	put_string(&o, "image-1");
	put_bytes(&o, (const uint8_t[]){0}, 1); /* bLength 0 ends the stack's walk */
	if (o.overflow)
		return -1;
	l.size = o.len;
	if (ret_layout)
		*ret_layout = l;
	return (int)o.len;
}

size_t shim_serial_format(const uint8_t *id, size_t id_len,
			  char ret_serial[static DFUMGR_SERIAL_MAX + 1])
{
	static const char prefix[] = "NRF5340-";
	static const char hex[] = "0123456789ABCDEF";
	uint8_t b[8] = {0};
	size_t n = sizeof(prefix) - 1;

	if (id && id_len) {
		size_t take = id_len < sizeof(b) ? id_len : sizeof(b);

		memcpy(b + sizeof(b) - take, id, take);
	}
	memcpy(ret_serial, prefix, n);
	for (size_t i = 0; i < sizeof(b); i++) {
		ret_serial[n++] = hex[b[i] >> 4];
		ret_serial[n++] = hex[b[i] & 0xf];
	}
	ret_serial[n] = '\0';
	return n;
}
