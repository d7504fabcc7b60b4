/* SPDX-License-Identifier: MIT */
/* The shim's GET_INFO vendor request: send it, decode the fixed little-endian layout. */
#include <inttypes.h>

#include "internal.h"
#include "dev_internal.h"
#include "dfumgr/shim_info.h"

#define VENDOR_IN_INTERFACE 0xc1 /* device-to-host, vendor, recipient interface */

DFUMGR_EXPORT const char *dfumgr_slot_state_name(unsigned state)
{
	static const char *const names[] = {
	    [DFUMGR_SLOT_EMPTY] = "empty",
	    [DFUMGR_SLOT_WRITTEN] = "written",
	    [DFUMGR_SLOT_PENDING] = "pending",
	    [DFUMGR_SLOT_CONFIRMED] = "confirmed",
	};

	return state < ARRAY_SIZE(names) ? names[state] : "unknown";
}

DFUMGR_EXPORT const char *dfumgr_commit_state_name(unsigned state)
{
	static const char *const names[] = {
	    [DFUMGR_COMMIT_NONE] = "none",
	    [DFUMGR_COMMIT_CHECKING] = "checking",
	    [DFUMGR_COMMIT_DONE] = "done",
	    [DFUMGR_COMMIT_REJECTED] = "rejected",
	};

	return state < ARRAY_SIZE(names) ? names[state] : "unknown";
}

DFUMGR_EXPORT int dfumgr_shim_info_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
					 struct dfumgr_shim_info *ret)
{
	struct dfumgr_shim_info info = {0};
	const uint8_t *serial;

	if (!buf || !ret)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_shim_info_parse: NULL argument");
	if (size == 0)
		return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL, "empty GET_INFO reply");
	/*
	 * The version byte leads every layout so that it can be read before anything else: a
	 * later shim may move fields, so nothing after it is trusted under another version.
	 */
	info.protocol = buf[DFUMGR_INFO_PROTO];
	if (info.protocol == 0)
		return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
				   "GET_INFO: protocol version 0 at offset %d", DFUMGR_INFO_PROTO);
	if (info.protocol != DFUMGR_PROTO_VERSION)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "GET_INFO: shim protocol version %u (this host speaks %d)",
				   info.protocol, DFUMGR_PROTO_VERSION);
	if (size < DFUMGR_INFO_LEN)
		return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
				   "GET_INFO reply is %zu bytes, protocol %d has %d", size,
				   DFUMGR_PROTO_VERSION, DFUMGR_INFO_LEN);

	info.n_images = buf[DFUMGR_INFO_N_IMAGES];
	if (info.n_images < 1 || info.n_images > DFUMGR_N_IMAGES)
		return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
				   "GET_INFO: %zu images at offset %d (1..%d allowed)",
				   info.n_images, DFUMGR_INFO_N_IMAGES, DFUMGR_N_IMAGES);
	/* informational only: an error code this host does not know still reads as "unknown" */
	info.last_error = buf[DFUMGR_INFO_LAST_ERROR];
	info.commit_state = buf[DFUMGR_INFO_COMMIT_STATE];
	if (info.commit_state > DFUMGR_COMMIT_REJECTED)
		return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL, "GET_INFO: commit state %u at offset %d",
				   info.commit_state, DFUMGR_INFO_COMMIT_STATE);

	/* NUL-padded; a serial that fills all 24 bytes has no NUL */
	serial = buf + DFUMGR_INFO_SERIAL;
	for (size_t i = 0; i < DFUMGR_SERIAL_MAX && serial[i]; i++) {
		if (serial[i] < 0x20 || serial[i] > 0x7e)
			return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
					   "GET_INFO: serial byte 0x%02x at offset %zu is not "
					   "printable ASCII",
					   serial[i], DFUMGR_INFO_SERIAL + i);
		info.serial[i] = (char)serial[i];
	}

	for (size_t i = 0; i < info.n_images; i++) {
		size_t off = DFUMGR_INFO_IMAGES + i * DFUMGR_INFO_IMAGE_LEN;
		const uint8_t *p = buf + off;
		struct dfumgr_shim_image_info *img = &info.images[i];

		img->slot_state = p[DFUMGR_INFO_IMG_SLOT_STATE];
		if (img->slot_state > DFUMGR_SLOT_CONFIRMED)
			return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
					   "GET_INFO: image %zu slot state %u at offset %zu", i,
					   img->slot_state, off + DFUMGR_INFO_IMG_SLOT_STATE);
		img->primary_valid = p[DFUMGR_INFO_IMG_FLAGS] & 0x01;
		/* the MCUboot header's ih_ver, copied as is: u8 major, u8 minor, u16 rev, u32 build
		 */
		img->running.major = p[DFUMGR_INFO_IMG_VERSION];
		img->running.minor = p[DFUMGR_INFO_IMG_VERSION + 1];
		img->running.revision = get_le16(p + DFUMGR_INFO_IMG_VERSION + 2);
		img->running.build = get_le32(p + DFUMGR_INFO_IMG_VERSION + 4);
		img->slot_size = get_le32(p + DFUMGR_INFO_IMG_SLOT_SIZE);
		img->erase_unit = get_le32(p + DFUMGR_INFO_IMG_ERASE_UNIT);
		img->written = get_le32(p + DFUMGR_INFO_IMG_WRITTEN);
		img->uploadable = get_le32(p + DFUMGR_INFO_IMG_UPLOADABLE);
		if (img->written > img->slot_size || img->uploadable > img->slot_size)
			return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
					   "GET_INFO: image %zu reports %" PRIu32 " bytes written, "
					   "%" PRIu32 " uploadable in a slot of %" PRIu32 " bytes",
					   i, img->written, img->uploadable, img->slot_size);
	}
	*ret = info;
	return 0;
}

DFUMGR_EXPORT int dfumgr_shim_get_info(struct dfumgr_dev *dev, struct dfumgr_shim_info *ret)
{
	uint8_t buf[DFUMGR_INFO_LEN];
	int rc;

	if (!dev || !ret)
		return -DFUMGR_E_INVAL;
	rc = dfumgr_dev_control(dev, VENDOR_IN_INTERFACE, DFUMGR_REQ_GET_INFO, 0, buf,
				DFUMGR_INFO_LEN);
	/*
	 * USB 2.0 §9.2.7: a device answers a request it does not support with a STALL (Request
	 * Error). Stock DFU 1.1 devices know no vendor requests, so this is how they say "not a
	 * shim", not a failure of the device.
	 */
	if (rc == -DFUMGR_E_STALL)
		return dfumgr_fail(dev->ctx, DFUMGR_E_UNSUPPORTED,
				   "GET_INFO stalled: not a dfu-mgr shim (a plain DFU device)");
	if (rc < 0)
		return dfumgr_fail_prefix(dev->ctx, rc, "GET_INFO");
	rc = dfumgr_shim_info_parse(dev->ctx, buf, (size_t)rc, ret);
	if (rc < 0)
		return dfumgr_fail_prefix(dev->ctx, rc, "serial %s", dev->info.serial);
	return 0;
}
