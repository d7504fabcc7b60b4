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

DFUMGR_EXPORT const char *dfumgr_dev_error_text(unsigned err)
{
	static const char *const text[] = {
	    [DFUMGR_DEV_OK] = "no error",
	    [DFUMGR_DEV_BAD_REQUEST] = "unknown request",
	    [DFUMGR_DEV_BAD_ALT] = "no such alt-setting",
	    [DFUMGR_DEV_BAD_LENGTH] = "length out of range for the slot",
	    [DFUMGR_DEV_BUSY] = "busy with a transfer, digest or commit",
	    [DFUMGR_DEV_BAD_VERSION] = "protocol version not supported by the device",
	    [DFUMGR_DEV_DIGEST0] = "image 0's slot does not hash to the expected digest",
	    [DFUMGR_DEV_DIGEST1] = "image 1's slot does not hash to the expected digest",
	    [DFUMGR_DEV_FLASH] = "a flash operation failed",
	    [DFUMGR_DEV_STATE] = "not allowed in the current DFU state",
	    [DFUMGR_DEV_NOT_WRITTEN] =
		"an image was not wholly written since the board entered DFU "
		"mode",
	    [DFUMGR_DEV_TRAILER] = "the download put data past the image's end or into the "
				   "MCUboot trailer region (only COMMIT marks images)",
	    [DFUMGR_DEV_BAD_IMAGE] = "a slot does not hold a whole MCUboot image that fits it and "
				     "matches its own SHA256 TLV",
	    [DFUMGR_DEV_EXTENT] = "the length given is not the image's size from its header",
	    [DFUMGR_DEV_PAIR] = "the new images do not meet each other's dependencies",
	    [DFUMGR_DEV_DIVISIBLE] =
		"MCUboot could install one image of the pair without the other "
		"(each image must depend on the other at its new version)",
	    [DFUMGR_DEV_SAME_VERSION] = "an image has the running image's version but other bytes",
	    [DFUMGR_DEV_NO_UPLOAD] = "this firmware does not allow reading its slots back",
	    [DFUMGR_DEV_SWAP_SIZES] = "image 1 (with the running one) is smaller than image 0 in "
				      "sectors, which the board's MCUboot cannot swap "
				      "(mcu-tools/mcuboot#1768): make image 1 at least as large",
	};

	return err < ARRAY_SIZE(text) && text[err] ? text[err] : "unknown device error";
}

/* A NUL-padded ASCII field of max bytes (one that fills them has no NUL). */
static int get_ascii(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t off, size_t max,
		     const char *what, char *out)
{
	const uint8_t *p = buf + off;

	for (size_t i = 0; i < max && p[i]; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
					   "GET_INFO: %s byte 0x%02x at offset %zu is not "
					   "printable ASCII",
					   what, p[i], off + i);
		out[i] = (char)p[i];
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_shim_info_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
					 struct dfumgr_shim_info *ret)
{
	struct dfumgr_shim_info info = {0};
	int rc;

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
				   "GET_INFO: the board speaks shim protocol version %u and this "
				   "host version %d%s",
				   info.protocol, DFUMGR_PROTO_VERSION,
				   info.protocol < DFUMGR_PROTO_VERSION
				       ? ": its firmware predates the board-side pair rule; "
					 "flash a current shim with a debugger"
				       : ": use a newer dfu-mgr");
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

	rc = get_ascii(ctx, buf, DFUMGR_INFO_SERIAL, DFUMGR_SERIAL_MAX, "serial", info.serial);
	if (rc < 0)
		return rc;
	rc = get_ascii(ctx, buf, DFUMGR_INFO_PRODUCT, DFUMGR_PRODUCT_MAX, "product", info.product);
	if (rc < 0)
		return rc;
	info.hw_revision = get_le16(buf + DFUMGR_INFO_HW_REV);
	info.caps = get_le16(buf + DFUMGR_INFO_CAPS);

	for (size_t i = 0; i < info.n_images; i++) {
		size_t off = DFUMGR_INFO_IMAGES + i * DFUMGR_INFO_IMAGE_LEN;
		const uint8_t *p = buf + off;
		struct dfumgr_shim_image_info *img = &info.images[i];
		uint8_t flags = p[DFUMGR_INFO_IMG_FLAGS];

		img->slot_state = p[DFUMGR_INFO_IMG_SLOT_STATE];
		if (img->slot_state > DFUMGR_SLOT_CONFIRMED)
			return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
					   "GET_INFO: image %zu slot state %u at offset %zu", i,
					   img->slot_state, off + DFUMGR_INFO_IMG_SLOT_STATE);
		img->primary_valid = flags & DFUMGR_INFO_F_PRIMARY_VALID;
		img->confirmed = flags & DFUMGR_INFO_F_PRIMARY_CONFIRMED;
		img->secondary_whole = flags & DFUMGR_INFO_F_SECONDARY_WHOLE;
		img->has_sec_cnt = flags & DFUMGR_INFO_F_HAS_SEC_CNT;
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
		img->max_image = get_le32(p + DFUMGR_INFO_IMG_MAX_IMAGE);
		img->sec_cnt = get_le32(p + DFUMGR_INFO_IMG_SEC_CNT);
		img->secondary_extent = get_le32(p + DFUMGR_INFO_IMG_SEC_EXTENT);
		img->verified_sectors = get_le16(p + DFUMGR_INFO_IMG_VERIFIED);
		img->flash_error = get_le32(p + DFUMGR_INFO_IMG_FLASH_ERROR);
		if ((img->flash_error != DFUMGR_NO_FLASH_ERROR &&
		     img->flash_error >= img->slot_size) ||
		    (img->erase_unit && img->verified_sectors > img->slot_size / img->erase_unit))
			return dfumgr_fail(
			    ctx, DFUMGR_E_PROTOCOL,
			    "GET_INFO: image %zu reports a flash error at offset "
			    "%" PRIu32 " and %u verified sectors in a slot of %" PRIu32 " bytes",
			    i, img->flash_error, img->verified_sectors, img->slot_size);
		if (img->written > img->slot_size || img->uploadable > img->slot_size ||
		    img->max_image > img->slot_size || img->secondary_extent > img->slot_size)
			return dfumgr_fail(ctx, DFUMGR_E_PROTOCOL,
					   "GET_INFO: image %zu reports %" PRIu32 " bytes written, "
					   "%" PRIu32 " uploadable, a %" PRIu32 "-byte image limit "
					   "and a %" PRIu32 "-byte image in a slot of %" PRIu32
					   " bytes",
					   i, img->written, img->uploadable, img->max_image,
					   img->secondary_extent, img->slot_size);
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
