/* SPDX-License-Identifier: MIT */
/*
 * The libusb backend: finds DFU interfaces, opens and claims them, and carries control
 * transfers, SET_INTERFACE and bus resets for dfu.c and shim.c. The only file that includes
 * libusb; libusb's error codes become dfumgr_err in usb_fail() and nowhere else.
 *
 * Lifetime: transports opened from a backend must be closed before the backend is freed (they
 * share its libusb context).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#include <libusb.h>

#include "internal.h"
#include "transport_usb.h"
#include "dfumgr/backend.h"
#include "dfumgr/cancel.h"
#include "dfumgr/device.h"
#include "dfumgr/wire.h"

/*
 * Hard limit on the DFU interfaces one list() returns: 127 devices per bus times a few buses
 * stays far below it; more means something is wrong, not a big lab.
 */
#define USB_LIST_MAX 1024
/* libusb_get_port_numbers: the deepest USB 3 topology has 7 ports from the root hub down. */
#define USB_PORTS_MAX 7
/* DFU 1.0 functional descriptors end before bcdDFUVersion (DFU 1.1 §4.1.3 added it). */
#define DFU_FUNC_DESC_LEN_1_0 7

struct usb_backend {
	libusb_context *usb;
	libusb_hotplug_callback_handle hotplug;
	bool has_hotplug;
	/* hotplug events so far: bumped by on_hotplug in whichever thread handles events */
	atomic_uint_fast64_t events;
};

/* The longest a thread handles libusb events before it looks at its cancel token again. */
#define EVENT_SLICE_US 50000

struct usb_transport {
	libusb_device_handle *h;
	uint8_t interface;
	bool claimed;
};

/*
 * The one place where libusb's error codes become dfumgr_err: records "<what>: <libusb's
 * text>" plus a hint where one helps, and returns the negative code.
 */
static int usb_fail(struct dfumgr_ctx *ctx, int lrc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usb_fail(struct dfumgr_ctx *ctx, int lrc, const char *fmt, ...)
{
	char what[256];
	const char *hint = "";
	va_list ap;
	int err;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	switch (lrc) {
	case LIBUSB_ERROR_PIPE:
		err = DFUMGR_E_STALL;
		break;
	case LIBUSB_ERROR_NO_DEVICE:
		err = DFUMGR_E_DISCONNECTED;
		break;
	case LIBUSB_ERROR_TIMEOUT:
		err = DFUMGR_E_TIMEOUT;
		break;
	case LIBUSB_ERROR_ACCESS:
		err = DFUMGR_E_ACCESS;
		hint =
		    " (no write access to the device node: install dfu-mgr's udev rules, which "
		    "grant it to the seat's user and the plugdev group, then re-plug the device; "
		    "or run as root)";
		break;
	case LIBUSB_ERROR_BUSY:
		err = DFUMGR_E_BUSY;
		hint = " (another program or kernel driver holds the interface)";
		break;
	case LIBUSB_ERROR_NO_MEM:
		err = DFUMGR_E_NOMEM;
		break;
	case LIBUSB_ERROR_NOT_FOUND:
		/* e.g. SET_INTERFACE to an alt-setting the interface does not have */
		err = DFUMGR_E_NOENT;
		break;
	case LIBUSB_ERROR_NOT_SUPPORTED:
		err = DFUMGR_E_UNSUPPORTED;
		break;
	case LIBUSB_ERROR_OVERFLOW:
		/* the device sent more than wLength: it broke USB 2.0 §9.3.5 */
		err = DFUMGR_E_PROTOCOL;
		break;
	default:
		err = DFUMGR_E_IO;
		break;
	}
	return dfumgr_fail(ctx, err, "%s: %s%s", what, libusb_strerror(lrc), hint);
}

/* ---- clock ---- */

static uint64_t usb_now_us(void *priv)
{
	struct timespec ts;

	(void)priv;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int usb_sleep_us(void *priv, uint64_t us, const struct dfumgr_cancel *c)
{
	(void)priv;
	/* a signal does not cut a bwPollTimeout short (DFU 1.1 §6.1.2); the cancel token does */
	return dfumgr_cancel_sleep(c, us);
}

/* ---- descriptors ---- */

bool usb_is_dfu_alt_class(uint8_t cls, uint8_t subclass, uint8_t protocol)
{
	/* DFU 1.1 §4.1.2 (run-time) and §4.2.3 (DFU mode) interface descriptors */
	return cls == DFU_CLASS && subclass == DFU_SUBCLASS &&
	       (protocol == DFU_PROTOCOL_RUNTIME || protocol == DFU_PROTOCOL_DFU_MODE);
}

static bool is_dfu_alt(const struct libusb_interface_descriptor *alt)
{
	return usb_is_dfu_alt_class(alt->bInterfaceClass, alt->bInterfaceSubClass,
				    alt->bInterfaceProtocol);
}

/*
 * Looks for the DFU functional descriptor (DFU 1.1 §4.1.3, §4.2.4) in the bytes libusb did not
 * parse: a chain of (bLength, bDescriptorType, ...) descriptors, walked with bounds checks
 * because they come straight from the device.
 */
bool usb_find_func_desc(const unsigned char *p, int len, struct dfumgr_dfu_func *ret)
{
	while (p && len >= 2) {
		int bl = p[0];

		if (bl < 2 || bl > len)
			return false;
		if (p[1] == DFU_FUNC_DESC_TYPE && bl >= DFU_FUNC_DESC_LEN_1_0) {
			ret->attributes = p[2];
			ret->detach_timeout_ms = get_le16(p + 3);
			ret->transfer_size = get_le16(p + 5);
			ret->dfu_version = bl >= DFU_FUNC_DESC_LEN ? get_le16(p + 7) : 0x0100;
			return true;
		}
		p += bl;
		len -= bl;
	}
	return false;
}

/*
 * A string descriptor as printable ASCII (libusb maps non-ASCII UTF-16 to '?'; control
 * characters are replaced here so that names are safe to print and to put in JSON). "" when the
 * device has none or does not answer: the rest of the device is still worth listing.
 */
static void read_string(libusb_device_handle *h, uint8_t index, char out[static DFUMGR_STRING_MAX])
{
	unsigned char buf[DFUMGR_STRING_MAX];
	int n;

	out[0] = '\0';
	if (!h || !index)
		return;
	n = libusb_get_string_descriptor_ascii(h, index, buf, sizeof(buf));
	usb_string_sanitize(buf, n, out);
}

void usb_string_sanitize(const unsigned char *buf, int n, char out[static DFUMGR_STRING_MAX])
{
	out[0] = '\0';
	if (n <= 0)
		return;
	if (n > DFUMGR_STRING_MAX - 1)
		n = DFUMGR_STRING_MAX - 1;
	for (int i = 0; i < n; i++)
		out[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? (char)buf[i] : '?';
	out[n] = '\0';
}

void usb_path_format(uint8_t bus, const uint8_t *ports, int n, char out[static DFUMGR_PATH_MAX])
{
	size_t len;

	len = (size_t)snprintf(out, DFUMGR_PATH_MAX, "%u", bus);
	for (int i = 0; i < n && len < DFUMGR_PATH_MAX; i++)
		len += (size_t)snprintf(out + len, DFUMGR_PATH_MAX - len, "%c%u", i ? '.' : '-',
					ports[i]);
}

/* "BUS-PORT[.PORT...]" as Linux names it in sysfs: follows the physical port, not the address. */
static void format_path(libusb_device *dev, char out[static DFUMGR_PATH_MAX])
{
	uint8_t ports[USB_PORTS_MAX];
	int n = libusb_get_port_numbers(dev, ports, (int)sizeof(ports));

	usb_path_format(libusb_get_bus_number(dev), ports, n, out);
}

int usb_path_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			unsigned x = 0, y = 0;

			/* paths are at most 31 characters: no overflow */
			for (; *a >= '0' && *a <= '9'; a++)
				x = x * 10 + (unsigned)(*a - '0');
			for (; *b >= '0' && *b <= '9'; b++)
				y = y * 10 + (unsigned)(*b - '0');
			if (x != y)
				return x < y ? -1 : 1;
		} else {
			if (*a != *b)
				return (unsigned char)*a - (unsigned char)*b;
			a++, b++;
		}
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int info_cmp(const void *pa, const void *pb)
{
	const struct dfumgr_device_info *a = pa, *b = pb;
	int c = usb_path_cmp(a->path, b->path);

	return c ? c : (int)a->interface - (int)b->interface;
}

struct info_list {
	struct dfumgr_device_info *v;
	size_t n, cap;
};

static int list_push(struct dfumgr_ctx *ctx, struct info_list *l,
		     const struct dfumgr_device_info *info)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct dfumgr_device_info *v;

		if (l->n >= USB_LIST_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
					   "more than %d DFU interfaces on the USB buses",
					   USB_LIST_MAX);
		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *info;
	return 0;
}

/* One entry for one DFU interface of cfg; h (may be NULL) reads the alt-setting names. */
static void describe_interface(const struct libusb_config_descriptor *cfg,
			       const struct libusb_interface *intf, libusb_device_handle *h,
			       struct dfumgr_ctx *ctx, struct dfumgr_device_info *info)
{
	const struct libusb_interface_descriptor *dfu_alt = NULL;

	for (int a = 0; a < intf->num_altsetting; a++) {
		const struct libusb_interface_descriptor *alt = &intf->altsetting[a];

		if (!dfu_alt && is_dfu_alt(alt))
			dfu_alt = alt;
		if (info->n_alts == DFUMGR_ALTS_MAX) {
			dfumgr_log(
			    ctx, DFUMGR_LOG_WARNING,
			    "USB device %s interface %u: only the first %d of %d alt-settings "
			    "are listed",
			    info->path, alt->bInterfaceNumber, DFUMGR_ALTS_MAX,
			    intf->num_altsetting);
			break;
		}
		info->alts[info->n_alts].number = alt->bAlternateSetting;
		read_string(h, alt->iInterface, info->alts[info->n_alts].name);
		info->n_alts++;
	}
	if (!dfu_alt)
		return;
	info->interface = dfu_alt->bInterfaceNumber;
	info->dfu_mode = dfu_alt->bInterfaceProtocol == DFU_PROTOCOL_DFU_MODE;
	/*
	 * The functional descriptor follows the interface descriptor(s) (DFU 1.1 §4.1.3); libusb
	 * keeps it in the extra bytes of the alt-setting it follows, which for a multi-alt
	 * interface is usually the last one. Some devices put it after the configuration
	 * descriptor instead.
	 */
	for (int a = 0; a < intf->num_altsetting && !info->has_func; a++)
		info->has_func = usb_find_func_desc(intf->altsetting[a].extra,
						    intf->altsetting[a].extra_length, &info->func);
	if (!info->has_func)
		info->has_func = usb_find_func_desc(cfg->extra, cfg->extra_length, &info->func);
}

static bool config_has_dfu(const struct libusb_config_descriptor *cfg)
{
	for (int i = 0; i < cfg->bNumInterfaces; i++)
		for (int a = 0; a < cfg->interface[i].num_altsetting; a++)
			if (is_dfu_alt(&cfg->interface[i].altsetting[a]))
				return true;
	return false;
}

/*
 * Adds the DFU interfaces of one device. A device that cannot be read is logged and skipped,
 * one that cannot be opened (permissions) is listed without its strings: neither fails the
 * list. Only running out of memory or the list limit does.
 */
static int add_device(struct dfumgr_ctx *ctx, libusb_device *dev, libusb_device_handle *h,
		      struct info_list *l)
{
	struct libusb_device_descriptor dd;
	struct libusb_config_descriptor *cfg = NULL;
	struct dfumgr_device_info base = {0};
	int lrc, rc = 0;

	format_path(dev, base.path);
	lrc = libusb_get_device_descriptor(dev, &dd);
	if (lrc < 0) {
		dfumgr_log(ctx, DFUMGR_LOG_INFO, "skipping USB device %s: device descriptor: %s",
			   base.path, libusb_strerror(lrc));
		return 0;
	}
	if (dd.bDeviceClass == LIBUSB_CLASS_HUB)
		return 0;
	lrc = libusb_get_active_config_descriptor(dev, &cfg);
	/* an unconfigured device: its first configuration is the one open() would select */
	if (lrc == LIBUSB_ERROR_NOT_FOUND && dd.bNumConfigurations > 0)
		lrc = libusb_get_config_descriptor(dev, 0, &cfg);
	if (lrc < 0) {
		dfumgr_log(ctx, DFUMGR_LOG_INFO,
			   "skipping USB device %s (%04x:%04x): configuration descriptor: %s",
			   base.path, dd.idVendor, dd.idProduct, libusb_strerror(lrc));
		return 0;
	}
	if (!config_has_dfu(cfg))
		goto out;

	base.vid = dd.idVendor;
	base.pid = dd.idProduct;
	base.bcd_device = dd.bcdDevice;
	base.bus = libusb_get_bus_number(dev);
	base.address = libusb_get_device_address(dev);
	/* no strings here: they cost control transfers, and the monitor reads them once per
	 * enumeration (usb_read_strings) */
	for (int i = 0; i < cfg->bNumInterfaces; i++) {
		struct dfumgr_device_info info = base;
		bool dfu = false;

		for (int a = 0; a < cfg->interface[i].num_altsetting; a++)
			dfu = dfu || is_dfu_alt(&cfg->interface[i].altsetting[a]);
		if (!dfu)
			continue;
		describe_interface(cfg, &cfg->interface[i], h, ctx, &info);
		rc = list_push(ctx, l, &info);
		if (rc < 0)
			goto out;
	}
out:
	libusb_free_config_descriptor(cfg);
	return rc;
}

/* The device of one enumeration (bus, address, path, ids), or NULL when it left. */
static libusb_device *find_enumeration(libusb_device **devs, ssize_t n,
				       const struct dfumgr_device_info *info)
{
	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor dd;
		char path[DFUMGR_PATH_MAX];

		if (libusb_get_bus_number(devs[i]) != info->bus ||
		    libusb_get_device_address(devs[i]) != info->address ||
		    libusb_get_device_descriptor(devs[i], &dd) < 0)
			continue;
		format_path(devs[i], path);
		if (dd.idVendor == info->vid && dd.idProduct == info->pid &&
		    !strcmp(path, info->path))
			return devs[i];
	}
	return NULL;
}

static int usb_read_strings(void *priv, struct dfumgr_ctx *ctx, struct dfumgr_device_info *info)
{
	struct usb_backend *b = priv;
	struct libusb_device_descriptor dd;
	struct libusb_config_descriptor *cfg = NULL;
	libusb_device_handle *h = NULL;
	libusb_device **devs = NULL;
	libusb_device *dev;
	ssize_t n;
	int lrc, rc = 0;

	n = libusb_get_device_list(b->usb, &devs);
	if (n < 0)
		return usb_fail(ctx, (int)n, "list USB devices");
	dev = find_enumeration(devs, n, info);
	if (!dev || libusb_get_device_descriptor(dev, &dd) < 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_DISCONNECTED, "%s left", info->path);
		goto out;
	}
	/*
	 * Strings need an open device (control transfers); opening needs write access to the
	 * device node. Without it the VID:PID, path and descriptors are still known: listed
	 * without strings, not tried again for this enumeration.
	 */
	lrc = libusb_open(dev, &h);
	if (lrc < 0) {
		dfumgr_log(ctx, DFUMGR_LOG_INFO,
			   "USB device %s (%04x:%04x): cannot open it to read its strings: %s",
			   info->path, dd.idVendor, dd.idProduct, libusb_strerror(lrc));
		h = NULL;
		rc = lrc == LIBUSB_ERROR_NO_DEVICE ? -DFUMGR_E_DISCONNECTED
		     : lrc == LIBUSB_ERROR_ACCESS  ? -DFUMGR_E_ACCESS
						   : 0;
		goto out;
	}
	read_string(h, dd.iManufacturer, info->manufacturer);
	read_string(h, dd.iProduct, info->product);
	read_string(h, dd.iSerialNumber, info->serial);
	lrc = libusb_get_active_config_descriptor(dev, &cfg);
	if (lrc == LIBUSB_ERROR_NOT_FOUND && dd.bNumConfigurations > 0)
		lrc = libusb_get_config_descriptor(dev, 0, &cfg);
	if (lrc < 0)
		goto out;
	for (int i = 0; i < cfg->bNumInterfaces; i++) {
		const struct libusb_interface *intf = &cfg->interface[i];

		for (int a = 0; a < intf->num_altsetting; a++) {
			const struct libusb_interface_descriptor *alt = &intf->altsetting[a];

			if (alt->bInterfaceNumber != info->interface)
				continue;
			for (size_t k = 0; k < info->n_alts; k++)
				if (info->alts[k].number == alt->bAlternateSetting)
					read_string(h, alt->iInterface, info->alts[k].name);
		}
	}
out:
	if (h)
		libusb_close(h);
	libusb_free_config_descriptor(cfg);
	libusb_free_device_list(devs, 1);
	return rc;
}

static int usb_list(void *priv, struct dfumgr_ctx *ctx, struct dfumgr_device_info **ret_list,
		    size_t *ret_n)
{
	struct usb_backend *b = priv;
	struct info_list l = {0};
	libusb_device **devs = NULL;
	ssize_t n;
	int rc = 0;

	n = libusb_get_device_list(b->usb, &devs);
	if (n < 0)
		return usb_fail(ctx, (int)n, "list USB devices");
	for (ssize_t i = 0; i < n; i++) {
		rc = add_device(ctx, devs[i], NULL, &l);
		if (rc < 0)
			goto out;
	}
	/* libusb's order is its discovery order: sort so that output and "first" are stable */
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), info_cmp);
	*ret_list = l.v;
	*ret_n = l.n;
	l.v = NULL;
out:
	free(l.v);
	libusb_free_device_list(devs, 1);
	return rc;
}

/* ---- an open DFU interface ---- */

static int usb_control(void *tp, struct dfumgr_ctx *ctx, uint8_t request_type, uint8_t request,
		       uint16_t value, uint16_t index, uint8_t *data, uint16_t length,
		       unsigned timeout_ms)
{
	struct usb_transport *t = tp;
	int lrc;

	lrc = libusb_control_transfer(t->h, request_type, request, value, index, data, length,
				      timeout_ms);
	if (lrc < 0)
		return usb_fail(ctx, lrc,
				"control request 0x%02x/0x%02x (wValue %u, wIndex %u, wLength %u)",
				request_type, request, value, index, length);
	return lrc;
}

static int usb_set_alt(void *tp, struct dfumgr_ctx *ctx, uint8_t alt)
{
	struct usb_transport *t = tp;
	int lrc;

	lrc = libusb_set_interface_alt_setting(t->h, t->interface, alt);
	if (lrc < 0)
		return usb_fail(ctx, lrc, "SET_INTERFACE %u alt %u", t->interface, alt);
	return 0;
}

static int usb_reset(void *tp, struct dfumgr_ctx *ctx)
{
	struct usb_transport *t = tp;
	int lrc;

	lrc = libusb_reset_device(t->h);
	/*
	 * NOT_FOUND: the device came back with other descriptors (a DFU device that switched
	 * between run-time and DFU mode, DFU 1.1 §5 reconfiguration phase) and was re-enumerated as
	 * a new device; NO_DEVICE: it left the bus meanwhile. Either way the reset did its job and
	 * this handle is stale: nothing to release on close.
	 */
	if (lrc == LIBUSB_ERROR_NOT_FOUND || lrc == LIBUSB_ERROR_NO_DEVICE) {
		t->claimed = false;
		return 0;
	}
	if (lrc < 0)
		return usb_fail(ctx, lrc, "USB bus reset");
	return 0;
}

static void usb_close(void *tp)
{
	struct usb_transport *t = tp;

	if (!t)
		return;
	if (t->h) {
		/* the driver that auto-detach removed comes back on release */
		if (t->claimed)
			libusb_release_interface(t->h, t->interface);
		libusb_close(t->h);
	}
	free(t);
}

static const struct dfumgr_transport_ops usb_transport_ops = {
    .control = usb_control,
    .set_alt = usb_set_alt,
    .reset = usb_reset,
    .close = usb_close,
};

/*
 * bConfigurationValue of the configuration that holds DFU interface iface: the active one when
 * it does (the usual case), else the first that does. -1 if none.
 */
static int dfu_config_value(libusb_device *dev, uint8_t iface)
{
	struct libusb_device_descriptor dd;
	int value = -1;

	if (libusb_get_device_descriptor(dev, &dd) < 0)
		return -1;
	for (int i = -1; i < (int)dd.bNumConfigurations && value < 0; i++) {
		struct libusb_config_descriptor *cfg = NULL;
		int lrc = i < 0 ? libusb_get_active_config_descriptor(dev, &cfg)
				: libusb_get_config_descriptor(dev, (uint8_t)i, &cfg);

		if (lrc < 0)
			continue;
		for (int k = 0; k < cfg->bNumInterfaces && value < 0; k++)
			for (int a = 0; a < cfg->interface[k].num_altsetting; a++) {
				const struct libusb_interface_descriptor *alt =
				    &cfg->interface[k].altsetting[a];

				if (alt->bInterfaceNumber == iface && is_dfu_alt(alt)) {
					value = cfg->bConfigurationValue;
					break;
				}
			}
		libusb_free_config_descriptor(cfg);
	}
	return value;
}

static int usb_open(void *priv, struct dfumgr_ctx *ctx, const struct dfumgr_device_info *info,
		    const struct dfumgr_transport_ops **ret_ops, void **ret_t)
{
	struct usb_backend *b = priv;
	struct usb_transport *t = NULL;
	libusb_device **devs = NULL;
	libusb_device *dev = NULL;
	int lrc, rc, want, cur = -1;
	ssize_t n;

	t = calloc(1, sizeof(*t));
	if (!t)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	t->interface = info->interface;
	n = libusb_get_device_list(b->usb, &devs);
	if (n < 0) {
		rc = usb_fail(ctx, (int)n, "list USB devices");
		goto out;
	}
	/*
	 * Bus and address name one enumeration of one device: a board that re-enumerated since the
	 * list has a new address, and must be listed again rather than guessed at.
	 */
	dev = find_enumeration(devs, n, info);
	if (!dev) {
		rc = dfumgr_fail(ctx, DFUMGR_E_DISCONNECTED,
				 "the device left bus %u address %u (unplugged or re-enumerated)",
				 info->bus, info->address);
		goto out;
	}
	want = dfu_config_value(dev, info->interface);
	if (want < 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NODEV, "no DFU interface %u on the device any more",
				 info->interface);
		goto out;
	}
	lrc = libusb_open(dev, &t->h);
	if (lrc < 0) {
		t->h = NULL;
		rc = usb_fail(ctx, lrc, "open USB device");
		goto out;
	}
	/*
	 * A run-time DFU interface may share the device with interfaces that have kernel drivers;
	 * only the claimed interface's driver is detached, and it comes back on release. Platforms
	 * without the feature say NOT_SUPPORTED: the claim below then reports a busy interface.
	 */
	(void)libusb_set_auto_detach_kernel_driver(t->h, 1);
	lrc = libusb_get_configuration(t->h, &cur);
	if (lrc < 0) {
		rc = usb_fail(ctx, lrc, "GET_CONFIGURATION");
		goto out;
	}
	/*
	 * SET_CONFIGURATION re-initialises every interface of the device (USB 2.0 §9.1.1.5) and
	 * fails while other interfaces are in use: only when the device is unconfigured or in
	 * another configuration.
	 */
	if (cur != want) {
		lrc = libusb_set_configuration(t->h, want);
		if (lrc < 0) {
			rc = usb_fail(ctx, lrc, "SET_CONFIGURATION %d (was %d)", want, cur);
			goto out;
		}
	}
	lrc = libusb_claim_interface(t->h, info->interface);
	if (lrc < 0) {
		rc = usb_fail(ctx, lrc, "claim interface %u", info->interface);
		goto out;
	}
	t->claimed = true;
	*ret_ops = &usb_transport_ops;
	*ret_t = t;
	t = NULL;
	rc = 0;
out:
	usb_close(t);
	libusb_free_device_list(devs, 1);
	return rc;
}

/* ---- hotplug ---- */

static int LIBUSB_CALL on_hotplug(libusb_context *usb, libusb_device *dev,
				  libusb_hotplug_event event, void *user)
{
	struct usb_backend *b = user;

	(void)usb;
	(void)dev;
	(void)event;
	atomic_fetch_add(&b->events, 1);
	return 0; /* stay registered */
}

/* Delivers pending hotplug events without blocking; thread-safe (libusb locks). */
static uint64_t usb_events(void *priv)
{
	struct usb_backend *b = priv;
	struct timeval zero = {0, 0};

	if (b->has_hotplug)
		(void)libusb_handle_events_timeout_completed(b->usb, &zero, NULL);
	return atomic_load(&b->events);
}

static int usb_wait_event(void *priv, unsigned timeout_ms, const struct dfumgr_cancel *c)
{
	struct usb_backend *b = priv;
	uint64_t deadline = usb_now_us(b) + (uint64_t)timeout_ms * 1000;
	uint64_t seen = atomic_load(&b->events);

	/* without hotplug nothing tells us: once the time has passed, anything may have changed */
	if (!b->has_hotplug)
		return usb_sleep_us(b, (uint64_t)timeout_ms * 1000, c);
	/*
	 * Any number of threads may wait here at once: libusb lets one of them handle events and
	 * the others wait for it; each looks at the shared counter and its own token at least
	 * every EVENT_SLICE_US.
	 */
	for (;;) {
		uint64_t now = usb_now_us(b), slice;
		struct timeval tv;
		int lrc;

		if (atomic_load(&b->events) != seen)
			return 0;
		if (dfumgr_cancel_is_set(c))
			return -DFUMGR_E_CANCELLED;
		if (now >= deadline)
			return -DFUMGR_E_TIMEOUT;
		slice = deadline - now < EVENT_SLICE_US ? deadline - now : EVENT_SLICE_US;
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)slice;
		lrc = libusb_handle_events_timeout_completed(b->usb, &tv, NULL);
		if (lrc < 0 && lrc != LIBUSB_ERROR_INTERRUPTED) {
			/* no context to report to; waiting out the slice keeps the caller's loop
			 * from spinning, and it lists again either way */
			if (usb_sleep_us(b, slice, c) < 0)
				return -DFUMGR_E_CANCELLED;
		}
	}
}

/* ---- the backend ---- */

static void usb_backend_free(void *priv)
{
	struct usb_backend *b = priv;

	if (!b)
		return;
	if (b->usb) {
		if (b->has_hotplug)
			libusb_hotplug_deregister_callback(b->usb, b->hotplug);
		libusb_exit(b->usb);
	}
	free(b);
}

static const struct dfumgr_backend_ops usb_backend_ops = {
    .name = "usb",
    .list = usb_list,
    .read_strings = usb_read_strings,
    .open = usb_open,
    .events = usb_events,
    .wait_event = usb_wait_event,
    .sleep_us = usb_sleep_us,
    .now_us = usb_now_us,
    .free = usb_backend_free,
};

DFUMGR_EXPORT int dfumgr_backend_usb_new(struct dfumgr_ctx *ctx, struct dfumgr_backend **ret)
{
	struct usb_backend *b;
	int lrc, rc;

	if (!ret)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_backend_usb_new: NULL argument");
	b = calloc(1, sizeof(*b));
	if (!b)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	lrc = libusb_init(&b->usb);
	if (lrc < 0) {
		b->usb = NULL;
		rc = usb_fail(ctx, lrc, "initialise libusb (is usbfs at /dev/bus/usb available?)");
		goto err;
	}
	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		/* no ENUMERATE flag: devices already present are found by list() */
		lrc = libusb_hotplug_register_callback(
		    b->usb, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
		    0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
		    on_hotplug, b, &b->hotplug);
		if (lrc == LIBUSB_SUCCESS)
			b->has_hotplug = true;
		else
			dfumgr_log(ctx, DFUMGR_LOG_INFO,
				   "no USB hotplug events (%s): waiting for devices by polling",
				   libusb_strerror(lrc));
	}
	rc = dfumgr_backend_new(&usb_backend_ops, b, ret);
	if (rc < 0) {
		rc = dfumgr_fail(ctx, rc, "out of memory");
		goto err;
	}
	return 0;
err:
	usb_backend_free(b);
	return rc;
}
