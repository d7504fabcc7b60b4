/* SPDX-License-Identifier: MIT */
/*
 * The dfu-mgr shim's GET_INFO vendor request (ARCHITECTURE §3; byte layout DFUMGR_INFO_* in
 * dfumgr/wire.h): what the board runs and the state of each image's secondary slot. The other
 * vendor requests are in dfumgr/shim.h.
 */
#ifndef DFUMGR_SHIM_INFO_H
#define DFUMGR_SHIM_INFO_H

#include "dfumgr/device.h"
#include "dfumgr/image.h"
#include "dfumgr/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dfumgr_shim_image_info {
	uint8_t slot_state;   /* enum dfumgr_slot_state of the secondary slot */
	bool primary_valid;   /* the primary slot holds an image: running is meaningful */
	bool confirmed;       /* the running image is confirmed (no revert pending) */
	bool secondary_whole; /* a whole image was written and checked in this DFU session */
	bool has_sec_cnt;     /* the running image carries a security counter */
	struct dfumgr_image_version running; /* version of the primary (running) image */
	uint32_t sec_cnt;                    /* its MCUboot security counter (0 when none) */
	uint32_t slot_size;                  /* bytes of the secondary slot */
	uint32_t erase_unit;                 /* bytes */
	uint32_t max_image;        /* the largest image (header + payload + TLVs) the slot takes */
	uint32_t written;          /* bytes written to the secondary slot in this DFU session */
	uint32_t uploadable;       /* bytes an UPLOAD of the slot returns (0: uploads disabled) */
	uint32_t secondary_extent; /* bytes of the image in the secondary slot, 0 when none */
	uint16_t verified_sectors; /* sectors verified unchanged by digest in this DFU session */
	uint32_t flash_error;      /* slot offset of the last block whose flash write failed, or
				      DFUMGR_NO_FLASH_ERROR */
};

struct dfumgr_shim_info {
	uint8_t protocol;     /* DFUMGR_PROTO_VERSION */
	uint8_t last_error;   /* enum dfumgr_dev_error: why the last vendor request was refused */
	uint8_t commit_state; /* enum dfumgr_commit_state */
	char serial[DFUMGR_SERIAL_MAX + 1];   /* printable ASCII, NUL-terminated */
	char product[DFUMGR_PRODUCT_MAX + 1]; /* the manifest's "product"; "" when unset */
	uint16_t hw_revision;
	uint16_t caps;   /* DFUMGR_CAP_* */
	size_t n_images; /* 1..DFUMGR_N_IMAGES */
	struct dfumgr_shim_image_info images[DFUMGR_N_IMAGES];
};

/*
 * Sends GET_INFO (bmRequestType 0xc1, wIndex = the DFU interface) to an open device and decodes
 * the reply. Works in runtime and DFU mode. *ret is written only on success.
 * Errors: -DFUMGR_E_UNSUPPORTED when the device stalls the request (a plain DFU device, not the
 * shim) or speaks another shim protocol version (the message says which; this host speaks
 * DFUMGR_PROTO_VERSION only: a version-1 board needs its firmware updated by other means);
 * -DFUMGR_E_PROTOCOL for a malformed reply; the transport's -DFUMGR_E_DISCONNECTED,
 * -DFUMGR_E_TIMEOUT, -DFUMGR_E_IO, -DFUMGR_E_BUSY. The detail is in the device's context.
 */
DFUMGR_EXPORT int dfumgr_shim_get_info(struct dfumgr_dev *dev, struct dfumgr_shim_info *ret);

/*
 * Decodes a GET_INFO reply of size bytes (what the device sent). Exposed for tests and fuzzing.
 * Errors: -DFUMGR_E_PROTOCOL (short reply, bad field: named in the message),
 * -DFUMGR_E_UNSUPPORTED (another protocol version), -DFUMGR_E_INVAL.
 */
DFUMGR_EXPORT int dfumgr_shim_info_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
					 struct dfumgr_shim_info *ret);

/* "empty", "written", "pending", "confirmed"; "unknown" otherwise. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_slot_state_name(unsigned state);
/* "none", "checking", "done", "rejected"; "unknown" otherwise. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_commit_state_name(unsigned state);
/* What the device's last_error code (enum dfumgr_dev_error) means, in words. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_dev_error_text(unsigned err);

#ifdef __cplusplus
}
#endif
#endif
