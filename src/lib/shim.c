/* SPDX-License-Identifier: MIT */
/* The shim's digest, commit and reboot vendor requests (layouts in dfumgr/wire.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dev_internal.h"
#include "dfumgr/shim.h"
#include "dfumgr/shim_info.h"
#include "dfumgr/wire.h"

#define VENDOR_OUT 0x41
#define VENDOR_IN  0xc1
/* Hashing 3.4 MiB of QSPI on the device takes well under this. */
#define DIGEST_TIMEOUT_US (60ull * 1000 * 1000)
#define POLL_INTERVAL_US  1000

/* The library error for a reason the board gave. */
static int refusal_code(uint8_t e)
{
	switch (e) {
	case DFUMGR_DEV_NOT_WRITTEN:
	case DFUMGR_DEV_TRAILER:
	case DFUMGR_DEV_BAD_IMAGE:
	case DFUMGR_DEV_EXTENT:
	case DFUMGR_DEV_PAIR:
	case DFUMGR_DEV_DIVISIBLE:
	case DFUMGR_DEV_SAME_VERSION:
	case DFUMGR_DEV_SWAP_SIZES:
		return DFUMGR_E_REFUSED;
	case DFUMGR_DEV_BUSY:
		return DFUMGR_E_BUSY;
	case DFUMGR_DEV_NO_UPLOAD:
		return DFUMGR_E_UNSUPPORTED;
	default:
		return DFUMGR_E_PROTOCOL;
	}
}

/* A STALLed vendor request: the reason the device gave is in GET_INFO. */
static int refused(struct dfumgr_dev *dev, int rc, const char *what)
{
	struct dfumgr_shim_info info;

	if (rc != -DFUMGR_E_STALL)
		return dfumgr_fail_prefix(dev->ctx, rc, "%s", what);
	if (dfumgr_shim_get_info(dev, &info) < 0)
		return dfumgr_fail(dev->ctx, DFUMGR_E_UNSUPPORTED,
				   "%s: the device does not implement the dfu-mgr shim protocol",
				   what);
	return dfumgr_fail(dev->ctx, refusal_code(info.last_error), "%s: the board refused: %s",
			   what, dfumgr_dev_error_text(info.last_error));
}

/* Between two polls: wakes on the cancel token, never past the deadline. */
static int wait_a_little(struct dfumgr_dev *dev, const char *what)
{
	return dfumgr_dev_sleep(dev, POLL_INTERVAL_US, what);
}

DFUMGR_EXPORT int dfumgr_shim_digest(struct dfumgr_dev *dev, uint8_t alt, uint32_t length,
				     uint8_t ret_digest[static DFUMGR_SHA256_SIZE])
{
	return dfumgr_shim_digest_slot(dev, alt, false, length, ret_digest);
}

DFUMGR_EXPORT int dfumgr_shim_digest_slot(struct dfumgr_dev *dev, uint8_t alt, bool primary,
					  uint32_t length,
					  uint8_t ret_digest[static DFUMGR_SHA256_SIZE])
{
	uint16_t which = (uint16_t)(alt | (primary ? DFUMGR_DIGEST_PRIMARY : 0));
	uint8_t b[DFUMGR_DIGEST_LEN];
	uint64_t start;
	int rc;

	if (!dev)
		return -DFUMGR_E_INVAL;
	put_le32(b, length);
	rc = dfumgr_dev_control(dev, VENDOR_OUT, DFUMGR_REQ_DIGEST_START, which, b, 4);
	if (rc < 0)
		return refused(dev, rc, "DIGEST_START");
	start = dfumgr_dev_now(dev);
	for (;;) {
		rc = dfumgr_dev_control(dev, VENDOR_IN, DFUMGR_REQ_DIGEST_GET, which, b, sizeof(b));
		if (rc < 0)
			return refused(dev, rc, "DIGEST_GET");
		if (rc < DFUMGR_DIGEST_LEN)
			return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL, "DIGEST_GET: %d bytes", rc);
		switch (b[DFUMGR_DIGEST_STATUS]) {
		case DFUMGR_DIGEST_READY:
			if (get_le32(b + DFUMGR_DIGEST_LENGTH) != length)
				return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
						   "DIGEST_GET: hashed %u bytes, asked for %u",
						   get_le32(b + DFUMGR_DIGEST_LENGTH), length);
			memcpy(ret_digest, b + DFUMGR_DIGEST_SHA256, DFUMGR_SHA256_SIZE);
			return 0;
		case DFUMGR_DIGEST_BUSY:
			break;
		case DFUMGR_DIGEST_ERROR:
			return dfumgr_fail(dev->ctx, DFUMGR_E_IO,
					   "the device could not read back alt %u from its flash",
					   alt);
		default:
			return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
					   "DIGEST_GET: no digest of alt %u in progress", alt);
		}
		if (dfumgr_dev_now(dev) - start > DIGEST_TIMEOUT_US)
			return dfumgr_fail(dev->ctx, DFUMGR_E_TIMEOUT, "digest of alt %u timed out",
					   alt);
		rc = wait_a_little(dev, "waiting for the device's digest");
		if (rc < 0)
			return rc;
	}
}

/*
 * One page of SECTOR_DIGESTS: OUT with the expected digests (when given), then IN until the
 * board has hashed it.
 */
static int sectors_page(struct dfumgr_dev *dev, uint8_t alt, unsigned page, uint32_t count,
			const uint8_t (*expected)[DFUMGR_SHA256_SIZE], uint8_t *ret_match,
			uint8_t (*ret_digests)[DFUMGR_SHA256_SIZE])
{
	uint16_t which = (uint16_t)(alt | page << 8);
	uint32_t first = page * DFUMGR_SECTORS_PER_PAGE;
	uint8_t *b = malloc(DFUMGR_SECTORS_LEN);
	uint64_t start;
	int rc;

	if (!b)
		return dfumgr_fail(dev->ctx, DFUMGR_E_NOMEM, "out of memory");
	if (expected) {
		memset(b, 0, DFUMGR_SECTORS_OUT_HEAD_LEN);
		b[DFUMGR_SECTORS_OUT_PROTO] = DFUMGR_PROTO_VERSION;
		put_le16(b + DFUMGR_SECTORS_OUT_COUNT, (uint16_t)count);
		memcpy(b + DFUMGR_SECTORS_OUT_DIGESTS, expected + first,
		       (size_t)count * DFUMGR_SHA256_SIZE);
		rc = dfumgr_dev_control(
		    dev, VENDOR_OUT, DFUMGR_REQ_SECTOR_DIGESTS, which, b,
		    (uint16_t)(DFUMGR_SECTORS_OUT_HEAD_LEN + count * DFUMGR_SHA256_SIZE));
		if (rc < 0) {
			rc = refused(dev, rc, "SECTOR_DIGESTS");
			goto out;
		}
	}
	start = dfumgr_dev_now(dev);
	for (;;) {
		rc = dfumgr_dev_control(dev, VENDOR_IN, DFUMGR_REQ_SECTOR_DIGESTS, which, b,
					DFUMGR_SECTORS_LEN);
		if (rc < 0) {
			rc = refused(dev, rc, "SECTOR_DIGESTS");
			goto out;
		}
		if (rc < DFUMGR_SECTORS_HEAD_LEN || b[DFUMGR_SECTORS_ALT] != alt ||
		    b[DFUMGR_SECTORS_PAGE] != (uint8_t)page ||
		    get_le16(b + DFUMGR_SECTORS_FIRST) != first) {
			rc = dfumgr_fail(
			    dev->ctx, DFUMGR_E_PROTOCOL,
			    "SECTOR_DIGESTS: a %d-byte reply that is not page %u of alt "
			    "%u",
			    rc, page, alt);
			goto out;
		}
		if (b[DFUMGR_SECTORS_STATUS] == DFUMGR_DIGEST_READY)
			break;
		if (b[DFUMGR_SECTORS_STATUS] == DFUMGR_DIGEST_ERROR) {
			rc =
			    dfumgr_fail(dev->ctx, DFUMGR_E_IO,
					"the device could not read back sectors of alt %u from its "
					"flash",
					alt);
			goto out;
		}
		if (b[DFUMGR_SECTORS_STATUS] != DFUMGR_DIGEST_BUSY) {
			rc = dfumgr_fail(
			    dev->ctx, DFUMGR_E_PROTOCOL,
			    "SECTOR_DIGESTS: no digests of page %u of alt %u in progress", page,
			    alt);
			goto out;
		}
		if (dfumgr_dev_now(dev) - start > DIGEST_TIMEOUT_US) {
			rc = dfumgr_fail(dev->ctx, DFUMGR_E_TIMEOUT,
					 "sector digests of alt %u timed out", alt);
			goto out;
		}
		rc = wait_a_little(dev, "waiting for the device's sector digests");
		if (rc < 0)
			goto out;
	}
	/* a page of another length than asked for is another question's answer */
	if (get_le16(b + DFUMGR_SECTORS_COUNT) != count ||
	    (uint32_t)rc != DFUMGR_SECTORS_HEAD_LEN + count * DFUMGR_SHA256_SIZE) {
		rc = dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
				 "SECTOR_DIGESTS: page %u of alt %u has %u sectors in %d bytes, "
				 "expected %" PRIu32,
				 page, alt, get_le16(b + DFUMGR_SECTORS_COUNT), rc, count);
		goto out;
	}
	for (uint32_t k = 0; ret_match && k < count; k++)
		if (b[DFUMGR_SECTORS_MATCH + k / 8] & (1u << (k % 8)))
			ret_match[(first + k) / 8] |= (uint8_t)(1u << ((first + k) % 8));
	if (ret_digests)
		memcpy(ret_digests + first, b + DFUMGR_SECTORS_DIGESTS,
		       (size_t)count * DFUMGR_SHA256_SIZE);
	rc = 0;
out:
	free(b);
	return rc;
}

static int sectors(struct dfumgr_dev *dev, uint8_t alt, const uint8_t (*expected)[32],
		   uint32_t n_sectors, uint8_t *ret_match, uint8_t (*ret_digests)[32])
{
	int rc;

	if (!dev || !n_sectors || (!expected && !ret_digests) || (expected && !ret_match))
		return -DFUMGR_E_INVAL;
	if (n_sectors > 255u * DFUMGR_SECTORS_PER_PAGE)
		return dfumgr_fail(dev->ctx, DFUMGR_E_INVAL, "%" PRIu32 " sectors: too many",
				   n_sectors);
	if (ret_match)
		memset(ret_match, 0, (n_sectors + 7) / 8);
	for (unsigned page = 0; page * DFUMGR_SECTORS_PER_PAGE < n_sectors; page++) {
		uint32_t first = page * DFUMGR_SECTORS_PER_PAGE, count = n_sectors - first;

		if (count > DFUMGR_SECTORS_PER_PAGE)
			count = DFUMGR_SECTORS_PER_PAGE;
		rc = sectors_page(dev, alt, page, count, expected, ret_match, ret_digests);
		if (rc < 0)
			return rc;
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_shim_sectors_verify(struct dfumgr_dev *dev, uint8_t alt,
					     const uint8_t (*expected)[DFUMGR_SHA256_SIZE],
					     uint32_t n_sectors, uint8_t *ret_match)
{
	if (!expected)
		return -DFUMGR_E_INVAL;
	return sectors(dev, alt, expected, n_sectors, ret_match, NULL);
}

DFUMGR_EXPORT int dfumgr_shim_sector_digests(struct dfumgr_dev *dev, uint8_t alt,
					     uint32_t n_sectors,
					     uint8_t (*ret_digests)[DFUMGR_SHA256_SIZE])
{
	if (!ret_digests)
		return -DFUMGR_E_INVAL;
	return sectors(dev, alt, NULL, n_sectors, NULL, ret_digests);
}

DFUMGR_EXPORT int dfumgr_shim_commit(struct dfumgr_dev *dev, const uint32_t length[2],
				     const uint8_t digest[2][DFUMGR_SHA256_SIZE], bool permanent,
				     int *ret_bad_image)
{
	uint8_t b[DFUMGR_COMMIT_LEN] = {0};
	struct dfumgr_shim_info info;
	uint64_t start;
	int rc;

	if (!dev || !length || !digest)
		return -DFUMGR_E_INVAL;
	b[DFUMGR_COMMIT_PROTO] = DFUMGR_PROTO_VERSION;
	b[DFUMGR_COMMIT_N_IMAGES] = DFUMGR_N_IMAGES;
	b[DFUMGR_COMMIT_FLAGS] = permanent ? DFUMGR_COMMIT_F_PERMANENT : 0;
	for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
		uint8_t *p = b + DFUMGR_COMMIT_IMAGES + i * DFUMGR_COMMIT_IMAGE_LEN;

		put_le32(p + DFUMGR_COMMIT_IMG_LENGTH, length[i]);
		memcpy(p + DFUMGR_COMMIT_IMG_SHA256, digest[i], DFUMGR_SHA256_SIZE);
	}
	rc = dfumgr_dev_control(dev, VENDOR_OUT, DFUMGR_REQ_COMMIT, 0, b, sizeof(b));
	if (rc < 0)
		return refused(dev, rc, "COMMIT");
	start = dfumgr_dev_now(dev);
	for (;;) {
		rc = dfumgr_shim_get_info(dev, &info);
		if (rc < 0)
			return dfumgr_fail_prefix(dev->ctx, rc, "waiting for the commit");
		switch (info.commit_state) {
		case DFUMGR_COMMIT_DONE:
			return 0;
		case DFUMGR_COMMIT_CHECKING:
			break;
		case DFUMGR_COMMIT_REJECTED: {
			uint8_t e = info.last_error;

			if (e == DFUMGR_DEV_DIGEST0 || e == DFUMGR_DEV_DIGEST1) {
				if (ret_bad_image)
					*ret_bad_image = e == DFUMGR_DEV_DIGEST0 ? 0 : 1;
				return dfumgr_fail(dev->ctx, DFUMGR_E_MISMATCH,
						   "the device refused the commit: %s; neither "
						   "image was marked",
						   dfumgr_dev_error_text(e));
			}
			return dfumgr_fail(dev->ctx,
					   e == DFUMGR_DEV_FLASH ? DFUMGR_E_IO : refusal_code(e),
					   "the board refused the commit: %s; neither image was "
					   "marked",
					   dfumgr_dev_error_text(e));
		}
		default:
			return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
					   "the device reports no commit in progress");
		}
		if (dfumgr_dev_now(dev) - start > DIGEST_TIMEOUT_US)
			return dfumgr_fail(dev->ctx, DFUMGR_E_TIMEOUT, "the commit timed out");
		rc = wait_a_little(dev, "waiting for the board's commit verdict");
		if (rc < 0)
			return rc;
	}
}

DFUMGR_EXPORT int dfumgr_shim_reboot(struct dfumgr_dev *dev)
{
	int rc;

	if (!dev)
		return -DFUMGR_E_INVAL;
	/*
	 * Back to alt 0 first: releasing an interface in another alt-setting makes Linux send
	 * SET_INTERFACE (usb_unbind_interface), which a board that is resetting never answers:
	 * closing the handle would then wait for the kernel's 5 s control timeout.
	 */
	if (dev->alt != 0 && dfumgr_dev_set_alt(dev, 0) < 0)
		dfumgr_ctx_clear_error(dev->ctx);
	rc = dfumgr_dev_control(dev, VENDOR_OUT, DFUMGR_REQ_REBOOT, 0, NULL, 0);
	/* the device may reset before the status stage completes */
	if (rc < 0 && rc != -DFUMGR_E_DISCONNECTED && rc != -DFUMGR_E_IO)
		return refused(dev, rc, "REBOOT");
	return 0;
}
