/* SPDX-License-Identifier: MIT */
/* USB 2.0 chapter 9 and DFU 1.1 §4 descriptors of the shim, in the legacy Zephyr stack's layout. */
#include <string.h>

#include "shim_desc.h"

#define USB_DESC_DEVICE    1
#define USB_DESC_CONFIG    2
#define USB_DESC_STRING    3
#define USB_DESC_INTERFACE 4
#define USB_DESC_BOS       15
#define USB_DESC_DEV_CAP   16
#define USB_CAP_PLATFORM   5
#define USB_LANGID_EN_US   0x0409
#define USB_EP0_SIZE       64
/* bus powered, no remote wakeup; 100 mA (bMaxPower counts 2 mA units) */
#define USB_CFG_ATTRIBUTES 0x80
#define USB_CFG_MAX_POWER  50

/* MS OS 2.0 descriptor types (wDescriptorType of the descriptor set's entries) */
#define MSOS_SET_HEADER        0x00
#define MSOS_FEATURE_COMPAT_ID 0x03
#define MSOS_FEATURE_REG_PROP  0x04
#define MSOS_REG_MULTI_SZ      7
#define MSOS_SET_HEADER_LEN    10
#define MSOS_COMPAT_ID_LEN     20
#define BOS_HEADER_LEN         5
#define BOS_PLATFORM_CAP_LEN   28

/*
 * The MS OS 2.0 platform capability UUID {D8DD60DF-4589-4CC7-9CD2-659D9E648A9F}, in the byte
 * order of a GUID on the wire (first three fields little-endian).
 */
static const uint8_t msos20_uuid[16] = {0xdf, 0x60, 0xdd, 0xd8, 0x89, 0x45, 0xc7, 0x4c,
					0x9c, 0xd2, 0x65, 0x9d, 0x9e, 0x64, 0x8a, 0x9f};

const struct shim_usb_id shim_usb_id_dev = {
    .vid = DFUMGR_USB_VID,
    .pid = DFUMGR_USB_PID,
    .manufacturer = SHIM_MANUFACTURER,
    .product = SHIM_PRODUCT,
    .winusb_guid = SHIM_WINUSB_GUID,
};

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

static void put_le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, v & 0xffff);
	put_le16(p + 2, v >> 16);
}

static void put_device(struct out *o, const struct shim_usb_id *id)
{
	const uint8_t d[18] = {
	    18,
	    USB_DESC_DEVICE,
	    SHIM_BCD_USB & 0xff,
	    SHIM_BCD_USB >> 8, /* full speed only, so no device qualifier */
	    0,
	    0,
	    0, /* class per interface */
	    USB_EP0_SIZE,
	    (uint8_t)id->vid,
	    (uint8_t)(id->vid >> 8),
	    (uint8_t)id->pid,
	    (uint8_t)(id->pid >> 8),
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
static void put_functional(struct out *o, bool can_upload)
{
	const uint8_t d[DFU_FUNC_DESC_LEN] = {
	    DFU_FUNC_DESC_LEN,
	    DFU_FUNC_DESC_TYPE,
	    DFU_ATTR_CAN_DNLOAD | (can_upload ? DFU_ATTR_CAN_UPLOAD : 0) |
		DFU_ATTR_MANIFESTATION_TOLERANT | DFU_ATTR_WILL_DETACH,
	    DFUMGR_DETACH_TIMEOUT_MS & 0xff,
	    DFUMGR_DETACH_TIMEOUT_MS >> 8,
	    DFUMGR_TRANSFER_SIZE & 0xff,
	    DFUMGR_TRANSFER_SIZE >> 8,
	    DFU_VERSION_BCD & 0xff,
	    DFU_VERSION_BCD >> 8,
	};
	put_bytes(o, d, sizeof(d));
}

/* ASCII to UTF-16LE code units (no terminator). */
static void put_utf16(uint8_t *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[2 * i] = (uint8_t)s[i];
		p[2 * i + 1] = 0;
	}
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
	put_utf16(p + 2, s, n);
}

/* 1..max printable ASCII characters. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= max || s[n] < 0x20 || s[n] > 0x7e)
			return false;
	return n > 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "{8-4-4-4-12}" hex digits: what Windows expects in DeviceInterfaceGUIDs. */
static bool guid_ok(const char *g)
{
	if (strlen(g) != SHIM_GUID_LEN || g[0] != '{' || g[SHIM_GUID_LEN - 1] != '}')
		return false;
	for (size_t i = 1; i < SHIM_GUID_LEN - 1; i++) {
		bool dash = i == 9 || i == 14 || i == 19 || i == 24;

		if (dash ? g[i] != '-' : !is_hex(g[i]))
			return false;
	}
	return true;
}

static bool id_ok(const struct shim_usb_id *id)
{
	return id && text_ok(id->manufacturer, SHIM_STRING_MAX) &&
	       text_ok(id->product, SHIM_STRING_MAX) &&
	       (!id->winusb_guid || guid_ok(id->winusb_guid));
}

#define MSOS_PROP_NAME "DeviceInterfaceGUIDs"
/* the property name and its data (the GUID, then the empty string ending the list) in UTF-16 */
#define MSOS_PROP_NAME_LEN (2 * sizeof(MSOS_PROP_NAME))
#define MSOS_PROP_DATA_LEN (2 * (SHIM_GUID_LEN + 2))
#define MSOS_PROP_LEN      (10 + MSOS_PROP_NAME_LEN + MSOS_PROP_DATA_LEN)

static size_t msos_set_len(const char *guid)
{
	return MSOS_SET_HEADER_LEN + MSOS_COMPAT_ID_LEN + (guid ? MSOS_PROP_LEN : 0);
}

/*
 * The MS OS 2.0 descriptor set for a device that is one function (no configuration or function
 * subsets): the header, the WINUSB compatible ID, and the DeviceInterfaceGUIDs property
 * (REG_MULTI_SZ).
 */
static void put_msos_set(struct out *o, const char *guid)
{
	size_t total = msos_set_len(guid);
	uint8_t *p = reserve(o, total);

	if (!p)
		return;
	memset(p, 0, total);
	put_le16(p, MSOS_SET_HEADER_LEN);
	put_le16(p + 2, MSOS_SET_HEADER);
	put_le32(p + 4, SHIM_MSOS_WINDOWS_VERSION);
	put_le16(p + 8, (unsigned)total);
	p += MSOS_SET_HEADER_LEN;
	put_le16(p, MSOS_COMPAT_ID_LEN);
	put_le16(p + 2, MSOS_FEATURE_COMPAT_ID);
	memcpy(p + 4, "WINUSB", 6); /* CompatibleID[8], SubCompatibleID[8]: NUL-padded */
	p += MSOS_COMPAT_ID_LEN;
	if (!guid)
		return;
	put_le16(p, MSOS_PROP_LEN);
	put_le16(p + 2, MSOS_FEATURE_REG_PROP);
	put_le16(p + 4, MSOS_REG_MULTI_SZ);
	put_le16(p + 6, MSOS_PROP_NAME_LEN);
	put_utf16(p + 8, MSOS_PROP_NAME, sizeof(MSOS_PROP_NAME)); /* with its NUL */
	p += 8 + MSOS_PROP_NAME_LEN;
	put_le16(p, MSOS_PROP_DATA_LEN);
	put_utf16(p + 2, guid, SHIM_GUID_LEN); /* two UTF-16 NULs follow (memset) */
}

/* BOS (USB 2.0 ECN "LPM", USB 3.2 §9.6.2) with the one MS OS 2.0 platform capability. */
static void put_bos(struct out *o, size_t msos_len)
{
	uint8_t *p = reserve(o, BOS_HEADER_LEN + BOS_PLATFORM_CAP_LEN);

	if (!p)
		return;
	p[0] = BOS_HEADER_LEN;
	p[1] = USB_DESC_BOS;
	put_le16(p + 2, BOS_HEADER_LEN + BOS_PLATFORM_CAP_LEN);
	p[4] = 1; /* bNumDeviceCaps */
	p += BOS_HEADER_LEN;
	p[0] = BOS_PLATFORM_CAP_LEN;
	p[1] = USB_DESC_DEV_CAP;
	p[2] = USB_CAP_PLATFORM;
	p[3] = 0; /* bReserved */
	memcpy(p + 4, msos20_uuid, sizeof(msos20_uuid));
	put_le32(p + 20, SHIM_MSOS_WINDOWS_VERSION);
	put_le16(p + 24, (unsigned)msos_len);
	p[26] = SHIM_MSOS_VENDOR_CODE;
	p[27] = 0; /* bAltEnumCode: no alternate enumeration */
}

int shim_desc_build(uint8_t *buf, size_t cap, bool dfu_mode, const struct shim_usb_id *id,
		    const char *serial, struct shim_desc_layout *ret_layout)
{
	struct out o = {.buf = buf, .cap = cap};
	struct shim_desc_layout l = {0};
	const uint8_t langid[4] = {4, USB_DESC_STRING, USB_LANGID_EN_US & 0xff,
				   USB_LANGID_EN_US >> 8};
	unsigned n_alts = dfu_mode ? DFUMGR_N_IMAGES : 1;
	uint8_t *cfg;

	if (!buf || !id_ok(id) || !text_ok(serial, DFUMGR_SERIAL_MAX))
		return -1;
	put_device(&o, id);
	l.config_off = o.len;
	cfg = reserve(&o, 9);
	l.intf_off = o.len;
	for (unsigned alt = 0; alt < n_alts; alt++)
		put_interface(&o, (uint8_t)alt, dfu_mode);
	put_functional(&o, !id->no_upload);
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
	put_string(&o, id->manufacturer);
	put_string(&o, id->product);
	put_string(&o, serial);
	put_string(&o, SHIM_RUNTIME_NAME);
	put_string(&o, "image-0");
	put_string(&o, "image-1");
	put_bytes(&o, (const uint8_t[]){0}, 1); /* bLength 0 ends the stack's walk */
	l.bos_off = o.len;
	put_bos(&o, msos_set_len(id->winusb_guid));
	l.bos_len = o.len - l.bos_off;
	l.msos_off = o.len;
	put_msos_set(&o, id->winusb_guid);
	l.msos_len = o.len - l.msos_off;
	if (o.overflow)
		return -1;
	l.size = o.len;
	if (ret_layout)
		*ret_layout = l;
	return (int)o.len;
}

bool shim_desc_is_msos_request(uint8_t bmRequestType, uint8_t bRequest, uint16_t wIndex)
{
	return bmRequestType == 0xc0 && bRequest == SHIM_MSOS_VENDOR_CODE &&
	       wIndex == SHIM_MSOS_DESCRIPTOR_INDEX;
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
