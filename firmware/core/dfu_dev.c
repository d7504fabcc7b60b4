/* SPDX-License-Identifier: MIT */
/*
 * DFU 1.1 device class + the shim's vendor requests. Section numbers refer to the USB Device
 * Class Specification for Device Firmware Upgrade, version 1.1.
 */
#include <string.h>

#include "dfu_dev.h"

#define REQ_TYPE_CLASS_OUT  0x21
#define REQ_TYPE_CLASS_IN   0xa1
#define REQ_TYPE_VENDOR_OUT 0x41
#define REQ_TYPE_VENDOR_IN  0xc1

static const uint8_t boot_magic[16] = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

const char *dfu_state_name(uint8_t state)
{
	static const char *const names[] = {
	    "appIDLE",          "appDETACH",   "dfuIDLE",
	    "dfuDNLOAD-SYNC",   "dfuDNBUSY",   "dfuDNLOAD-IDLE",
	    "dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET",
	    "dfuUPLOAD-IDLE",   "dfuERROR",
	};
	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}

const char *dfu_status_name(uint8_t status)
{
	static const char *const names[] = {
	    "OK",      "errTARGET", "errFILE",    "errWRITE",      "errERASE",    "errCHECK_ERASED",
	    "errPROG", "errVERIFY", "errADDRESS", "errNOTDONE",    "errFIRMWARE", "errVENDOR",
	    "errUSBR", "errPOR",    "errUNKNOWN", "errSTALLEDPKT",
	};
	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}

/* ---- slots ---- */

/* A slot holds an image when its first word is the MCUboot magic (0x96f3b83d). */
static bool slot_has_header(struct dfu_dev *dev, enum dfu_area area, uint8_t hdr[32])
{
	if (dev->ops->read(dev->user, area, 0, hdr, 32) != 0)
		return false;
	return get32(hdr) == 0x96f3b83dU;
}

static uint8_t read_slot_state(struct dfu_dev *dev, unsigned image)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t size = dev->area[area].size;
	uint8_t hdr[32], trailer[40];

	if (!slot_has_header(dev, area, hdr))
		return DFUMGR_SLOT_EMPTY;
	if (dev->ops->read(dev->user, area, size - sizeof(trailer), trailer, sizeof(trailer)) != 0)
		return DFUMGR_SLOT_WRITTEN;
	if (memcmp(trailer + sizeof(trailer) - DFUMGR_TRAILER_MAGIC_OFF, boot_magic, 16) != 0)
		return DFUMGR_SLOT_WRITTEN;
	if (trailer[sizeof(trailer) - DFUMGR_TRAILER_IMAGE_OK_OFF] == DFUMGR_BOOT_FLAG_SET)
		return DFUMGR_SLOT_CONFIRMED;
	return DFUMGR_SLOT_PENDING;
}

/*
 * The extent of the MCUboot image at the start of a slot: header + payload + protected TLVs +
 * unprotected TLVs, read from flash; also where its unprotected TLV info is. False when the slot
 * does not start with an image header (raw data is allowed too).
 */
static bool image_extent(struct dfu_dev *dev, enum dfu_area area, uint32_t *ret_end,
			 uint32_t *ret_info)
{
	uint8_t hdr[32], info[4];
	uint64_t end;

	if (!slot_has_header(dev, area, hdr))
		return false;
	end = (uint64_t)(hdr[8] | (uint32_t)hdr[9] << 8) + get32(hdr + 12) +
	      (hdr[10] | (uint32_t)hdr[11] << 8);
	*ret_info = end > UINT32_MAX ? UINT32_MAX : (uint32_t)end;
	if (end + 4 > dev->area[area].size ||
	    dev->ops->read(dev->user, area, (uint32_t)end, info, 4) != 0 || info[0] != 0x07 ||
	    info[1] != 0x69) {
		/* the TLV info is missing or not there yet: at least the header's part */
		*ret_end = end + 4 > UINT32_MAX ? UINT32_MAX : (uint32_t)(end + 4);
		return true;
	}
	end += info[2] | (uint32_t)info[3] << 8;
	*ret_end = end > UINT32_MAX ? UINT32_MAX : (uint32_t)end;
	return true;
}

/* What an UPLOAD of the slot returns: what was written, else the image it holds, else all. */
static uint32_t uploadable(struct dfu_dev *dev, unsigned image)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t end, info;

	if (dev->written[image])
		return dev->written[image];
	if (image_extent(dev, area, &end, &info) && end <= dev->area[area].size)
		return end;
	return dev->area[area].size;
}

void dfu_dev_init(struct dfu_dev *dev, const struct dfu_dev_ops *ops, void *user, bool dfu_mode,
		  const char *serial, const struct dfu_area_info *areas)
{
	static const struct dfu_area_info defaults[DFU_AREA_COUNT] = {
	    [DFU_AREA_IMG0_PRIMARY] = {DFUMGR_IMG0_SLOT_SIZE, DFUMGR_INTERNAL_PAGE_SIZE},
	    [DFU_AREA_IMG0_SECONDARY] = {DFUMGR_IMG0_SLOT_SIZE, DFUMGR_QSPI_SECTOR_SIZE},
	    [DFU_AREA_IMG1_PRIMARY] = {DFUMGR_IMG1_SLOT_SIZE, DFUMGR_QSPI_SECTOR_SIZE},
	    [DFU_AREA_IMG1_SECONDARY] = {DFUMGR_IMG1_SLOT_SIZE, DFUMGR_QSPI_SECTOR_SIZE},
	};
	size_t n = 0;

	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->user = user;
	memcpy(dev->area, areas ? areas : defaults, sizeof(dev->area));
	while (serial && serial[n] && n < DFUMGR_SERIAL_MAX) {
		dev->serial[n] = serial[n];
		n++;
	}
	dev->dfu_mode = dfu_mode;
	dev->state = dfu_mode ? DFU_STATE_IDLE : DFU_STATE_APP_IDLE;
	dev->status = DFU_STATUS_OK;
	dev->digest.status = DFUMGR_DIGEST_NONE;
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
		dev->slot_state[i] = read_slot_state(dev, i);
}

/* ---- DFU state helpers ---- */

/* §6.1.2: a request not valid in the current state is stalled and the device enters dfuERROR. */
static int stall_error(struct dfu_dev *dev, uint8_t status)
{
	if (dev->dfu_mode) {
		dev->state = DFU_STATE_ERROR;
		dev->status = status;
	}
	return DFU_DEV_STALL;
}

static int fail(struct dfu_dev *dev, uint8_t status)
{
	dev->state = DFU_STATE_ERROR;
	dev->status = status;
	dev->pending_len = 0;
	return 0;
}

static bool sector_erased(const struct dfu_dev *dev, unsigned image, uint32_t sector)
{
	return dev->erased[image][sector / 8] & (1u << (sector % 8));
}

static void mark_erased(struct dfu_dev *dev, unsigned image, uint32_t sector)
{
	dev->erased[image][sector / 8] |= (uint8_t)(1u << (sector % 8));
}

static uint8_t flash_status(int rc)
{
	switch (rc) {
	case DFU_FLASH_ERASE_FAILED:
		return DFU_STATUS_ERR_ERASE;
	case DFU_FLASH_PROGRAM_FAILED:
		return DFU_STATUS_ERR_PROG;
	case DFU_FLASH_RANGE:
		return DFU_STATUS_ERR_ADDRESS;
	case DFU_FLASH_NOT_ERASED:
		return DFU_STATUS_ERR_CHECK_ERASED;
	default:
		return DFU_STATUS_ERR_WRITE;
	}
}

/* §6.1.2 errCHECK_ERASED: an erase that leaves programmed bits is caught before programming. */
static int check_erased(struct dfu_dev *dev, enum dfu_area area, uint32_t off, uint32_t len)
{
	uint8_t buf[256];

	for (uint32_t done = 0; done < len; done += sizeof(buf)) {
		uint32_t n = len - done < sizeof(buf) ? len - done : (uint32_t)sizeof(buf);

		if (dev->ops->read(dev->user, area, off + done, buf, n) != 0)
			return DFU_FLASH_READ_FAILED;
		for (uint32_t i = 0; i < n; i++)
			if (buf[i] != 0xff)
				return DFU_FLASH_NOT_ERASED;
	}
	return 0;
}

/* Erases every sector of [off, off+len) not yet erased in this session. */
static int erase_range(struct dfu_dev *dev, unsigned image, uint32_t off, uint32_t len,
		       uint32_t *cost)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t unit = dev->area[area].erase_unit;

	for (uint32_t s = off / unit; s <= (off + len - 1) / unit; s++) {
		int rc;

		if (sector_erased(dev, image, s))
			continue;
		rc = dev->ops->erase(dev->user, area, s * unit, unit, cost);
		if (rc == 0)
			rc = check_erased(dev, area, s * unit, unit);
		if (rc != 0)
			return rc;
		mark_erased(dev, image, s);
	}
	return 0;
}

/*
 * DFU 1.1 §6.1.1: the block received in dfuDNLOAD-SYNC is written when the host asks for the
 * status; bwPollTimeout then says how long erase + program take.
 */
static int write_block(struct dfu_dev *dev, uint64_t now_us)
{
	unsigned image = dev->alt;
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t len = dev->pending_len, cost = 0;
	uint8_t check[256];
	int rc;

	if (dev->offset == 0 && len >= 16 && get32(dev->block) == 0x96f3b83dU) {
		/* §6.1.2 errTARGET: an MCUboot image that cannot fit this slot is not for it */
		uint64_t need = (uint64_t)(dev->block[8] | (uint32_t)dev->block[9] << 8) +
				get32(dev->block + 12) +
				(dev->block[10] | (uint32_t)dev->block[11] << 8);

		if (need + DFUMGR_TRAILER_SWAP_INFO_OFF > dev->area[area].size)
			return fail(dev, DFU_STATUS_ERR_TARGET);
	}
	if (dev->offset == 0) {
		/*
		 * A new image: forget the old erase map, and erase the slot's last sector first so
		 * that a stale "pending" trailer can never combine with the new bytes.
		 */
		uint32_t unit = dev->area[area].erase_unit;

		memset(dev->erased[image], 0, sizeof(dev->erased[image]));
		dev->written[image] = 0;
		dev->slot_state[image] = DFUMGR_SLOT_EMPTY;
		rc = erase_range(dev, image, dev->area[area].size - unit, unit, &cost);
		if (rc != 0)
			return fail(dev, flash_status(rc));
	}
	rc = erase_range(dev, image, dev->offset, len, &cost);
	if (rc == 0)
		rc = dev->ops->program(dev->user, area, dev->offset, dev->block, len, &cost);
	if (rc != 0)
		return fail(dev, flash_status(rc));
	/* read back what was programmed: a bad cell shows here, not at boot */
	for (uint32_t done = 0; done < len; done += sizeof(check)) {
		uint32_t n = len - done < sizeof(check) ? len - done : (uint32_t)sizeof(check);

		if (dev->ops->read(dev->user, area, dev->offset + done, check, n) != 0 ||
		    memcmp(check, dev->block + done, n) != 0)
			return fail(dev, DFU_STATUS_ERR_VERIFY);
	}
	dev->offset += len;
	dev->written[image] = dev->offset;
	dev->pending_len = 0;
	dev->busy_until_us = now_us + cost;
	dev->poll_ms = (cost + 999) / 1000;
	dev->state = cost ? DFU_STATE_DNBUSY : DFU_STATE_DNLOAD_IDLE;
	return 0;
}

/* Finds the SHA256 TLV (type 0x10, 32 bytes) in the unprotected area at info. */
static bool find_sha_tlv(struct dfu_dev *dev, enum dfu_area area, uint32_t info, uint32_t end,
			 uint8_t sha[32])
{
	uint32_t off = info + 4;

	while (off + 4 <= end) {
		uint8_t t[4];
		uint32_t len;

		if (dev->ops->read(dev->user, area, off, t, 4) != 0)
			return false;
		len = t[2] | (uint32_t)t[3] << 8;
		if (t[0] == 0x10 && t[1] == 0 && len == 32 && off + 4 + len <= end)
			return dev->ops->read(dev->user, area, off + 4, sha, 32) == 0;
		off += 4 + len;
	}
	return false;
}

/*
 * At the end of a download that holds an MCUboot image (raw data passes unchecked):
 * errNOTDONE if fewer bytes arrived than the header and TLV info declare (§6.1.2), errFILE if
 * the image's own SHA256 TLV does not match what is in flash: a vendor-specific verification.
 */
static uint8_t manifest_check(struct dfu_dev *dev)
{
	enum dfu_area area = dfu_area_secondary(dev->alt);
	uint32_t end, info;
	uint8_t want[32], got[32], buf[256];

	if (!image_extent(dev, area, &end, &info))
		return DFU_STATUS_OK;
	if (end > dev->written[dev->alt])
		return DFU_STATUS_ERR_NOTDONE;
	if (!find_sha_tlv(dev, area, info, end, want))
		return DFU_STATUS_ERR_FILE;
	dev->ops->sha256_start(dev->user);
	for (uint32_t done = 0; done < info; done += sizeof(buf)) {
		uint32_t n = info - done < sizeof(buf) ? info - done : (uint32_t)sizeof(buf);

		if (dev->ops->read(dev->user, area, done, buf, n) != 0)
			return DFU_STATUS_ERR_UNKNOWN;
		dev->ops->sha256_update(dev->user, buf, n);
	}
	dev->ops->sha256_finish(dev->user, got);
	return memcmp(want, got, 32) == 0 ? DFU_STATUS_OK : DFU_STATUS_ERR_FILE;
}

static int getstatus(struct dfu_dev *dev, uint8_t *data, uint16_t wLength, uint64_t now_us)
{
	if (wLength < DFU_GETSTATUS_LEN)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	dev->poll_ms = 0;
	switch (dev->state) {
	case DFU_STATE_DNLOAD_SYNC:
		if (dev->pending_len)
			write_block(dev, now_us);
		else
			dev->state = DFU_STATE_DNLOAD_IDLE;
		break;
	case DFU_STATE_DNBUSY:
		/*
		 * A host that polls early gets dfuDNBUSY again with the time still needed, rather
		 * than a stall: clocks on both sides of the cable never agree to the millisecond.
		 */
		if (now_us >= dev->busy_until_us)
			dev->state = DFU_STATE_DNLOAD_IDLE;
		else
			dev->poll_ms = (uint32_t)((dev->busy_until_us - now_us + 999) / 1000);
		break;
	case DFU_STATE_MANIFEST_SYNC:
		/* manifestation: the slot now holds a complete download; check what we can */
		{
			uint8_t st = manifest_check(dev);

			if (st != DFU_STATUS_OK) {
				fail(dev, st);
				break;
			}
		}
		dev->slot_state[dev->alt] = read_slot_state(dev, dev->alt);
		dev->state = DFU_STATE_MANIFEST;
		break;
	case DFU_STATE_MANIFEST:
		/* manifestation tolerant (§7): back through dfuMANIFEST-SYNC to dfuIDLE */
		dev->state = DFU_STATE_IDLE;
		break;
	default:
		break;
	}
	data[0] = dev->status;
	data[1] = (uint8_t)dev->poll_ms;
	data[2] = (uint8_t)(dev->poll_ms >> 8);
	data[3] = (uint8_t)(dev->poll_ms >> 16);
	data[4] = dev->state;
	data[5] = 0;
	return DFU_GETSTATUS_LEN;
}

static int dnload(struct dfu_dev *dev, const struct dfu_setup *s, const uint8_t *data)
{
	enum dfu_area area = dfu_area_secondary(dev->alt);

	if (s->wLength > DFUMGR_TRANSFER_SIZE)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	switch (dev->state) {
	case DFU_STATE_IDLE:
		if (s->wLength == 0) /* §6.1.1: no data to manifest yet */
			return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
		/* the slots are being re-hashed for a commit: writing now would race it */
		if (dev->commit_state == DFUMGR_COMMIT_CHECKING)
			return stall_error(dev, DFU_STATUS_ERR_VENDOR);
		dev->offset = 0;
		break;
	case DFU_STATE_DNLOAD_IDLE:
		if (s->wLength == 0) {
			/* §6.1.1: a zero-length download ends the transfer */
			dev->state = DFU_STATE_MANIFEST_SYNC;
			return 0;
		}
		if (s->wValue != dev->next_block)
			return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
		break;
	default:
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	}
	if ((uint64_t)dev->offset + s->wLength > dev->area[area].size)
		return stall_error(dev, DFU_STATUS_ERR_ADDRESS);
	memcpy(dev->block, data, s->wLength);
	dev->pending_len = s->wLength;
	dev->next_block = (uint16_t)(s->wValue + 1);
	dev->state = DFU_STATE_DNLOAD_SYNC;
	return 0;
}

static int upload(struct dfu_dev *dev, const struct dfu_setup *s, uint8_t *data)
{
	enum dfu_area area = dfu_area_secondary(dev->alt);
	uint32_t total, n;

	if (s->wLength > DFUMGR_TRANSFER_SIZE)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	if (dev->state == DFU_STATE_IDLE)
		dev->offset = 0;
	else if (dev->state != DFU_STATE_UPLOAD_IDLE)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	total = uploadable(dev, dev->alt);
	n = total - dev->offset < s->wLength ? total - dev->offset : s->wLength;
	if (n && dev->ops->read(dev->user, area, dev->offset, data, n) != 0)
		return stall_error(dev, DFU_STATUS_ERR_UNKNOWN);
	dev->offset += n;
	/* §6.2: a short frame ends the upload */
	dev->state = n < s->wLength ? DFU_STATE_IDLE : DFU_STATE_UPLOAD_IDLE;
	return (int)n;
}

static int class_request(struct dfu_dev *dev, const struct dfu_setup *s, uint8_t *data,
			 uint64_t now_us)
{
	bool in = s->bmRequestType == REQ_TYPE_CLASS_IN;

	if (s->bRequest == DFU_GETSTATUS && in)
		return getstatus(dev, data, s->wLength, now_us);
	if (s->bRequest == DFU_GETSTATE && in) {
		if (dev->state == DFU_STATE_DNBUSY || s->wLength < 1)
			return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
		data[0] = dev->state;
		return 1;
	}
	if (!dev->dfu_mode) {
		/* §5.1 runtime mode: DETACH, GETSTATUS and GETSTATE only */
		if (s->bRequest == DFU_DETACH && !in && dev->state == DFU_STATE_APP_IDLE) {
			dev->state = DFU_STATE_APP_DETACH;
			dev->detach_deadline_us = now_us + (uint64_t)s->wValue * 1000;
			if (dev->ops->detach)
				dev->ops->detach(dev->user);
			return 0;
		}
		return DFU_DEV_STALL;
	}
	if (dev->state == DFU_STATE_DNBUSY)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	switch (s->bRequest) {
	case DFU_DNLOAD:
		return in ? stall_error(dev, DFU_STATUS_ERR_STALLEDPKT) : dnload(dev, s, data);
	case DFU_UPLOAD:
		return in ? upload(dev, s, data) : stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	case DFU_CLRSTATUS:
		if (in || dev->state != DFU_STATE_ERROR)
			return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
		dev->state = DFU_STATE_IDLE;
		dev->status = DFU_STATUS_OK;
		return 0;
	case DFU_ABORT:
		if (in || dev->state == DFU_STATE_ERROR || dev->state == DFU_STATE_MANIFEST)
			return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
		dev->state = DFU_STATE_IDLE;
		dev->pending_len = 0;
		return 0;
	default: /* DETACH in DFU mode, unknown requests */
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	}
}

/* ---- digests and commit ---- */

static void digest_begin(struct dfu_dev *dev, uint8_t alt, bool primary, uint32_t length)
{
	dev->digest.status = DFUMGR_DIGEST_BUSY;
	dev->digest.alt = alt;
	dev->digest.primary = primary;
	dev->digest.length = length;
	dev->digest.done = 0;
	dev->ops->sha256_start(dev->user);
}

/* Hashes up to budget bytes of the slot, READ BACK FROM FLASH. */
static void digest_step(struct dfu_dev *dev, uint32_t budget)
{
	struct dfu_digest_job *j = &dev->digest;
	enum dfu_area area = j->primary ? dfu_area_primary(j->alt) : dfu_area_secondary(j->alt);
	uint8_t buf[512];

	while (j->status == DFUMGR_DIGEST_BUSY && budget) {
		uint32_t n = j->length - j->done;

		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > budget)
			n = budget;
		if (n == 0) {
			dev->ops->sha256_finish(dev->user, j->sha256);
			j->status = DFUMGR_DIGEST_READY;
			break;
		}
		if (dev->ops->read(dev->user, area, j->done, buf, n) != 0) {
			j->status = DFUMGR_DIGEST_ERROR;
			break;
		}
		dev->ops->sha256_update(dev->user, buf, n);
		j->done += n;
		budget -= n;
		if (j->done == j->length) {
			dev->ops->sha256_finish(dev->user, j->sha256);
			j->status = DFUMGR_DIGEST_READY;
		}
	}
}

static bool digest_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;

	for (int i = 0; i < 32; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* Programs the MCUboot trailer of image's secondary slot: swap_info, image_ok, magic. */
static int write_trailer(struct dfu_dev *dev, unsigned image, bool permanent)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t size = dev->area[area].size, unit = dev->area[area].erase_unit;
	uint32_t cost = 0, start = size - DFUMGR_TRAILER_SWAP_INFO_OFF;
	uint8_t t[DFUMGR_TRAILER_SWAP_INFO_OFF];
	bool blank = true;
	int rc;

	rc = dev->ops->read(dev->user, area, start, t, sizeof(t));
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(t); i++)
		blank &= t[i] == 0xff;
	if (!blank) {
		/* the image may share the last sector with the trailer: never erase image bytes */
		if (dev->commit_len[image] > size - unit)
			return DFU_FLASH_PROGRAM_FAILED;
		rc = dev->ops->erase(dev->user, area, size - unit, unit, &cost);
		if (rc != 0)
			return rc;
	}
	/* each field on its own max_align (8-byte) row, as MCUboot writes them */
	memset(t, 0xff, sizeof(t));
	t[0] = (uint8_t)(image << 4 | (permanent ? DFUMGR_SWAP_TYPE_PERM : DFUMGR_SWAP_TYPE_TEST));
	if (permanent)
		t[DFUMGR_TRAILER_SWAP_INFO_OFF - DFUMGR_TRAILER_IMAGE_OK_OFF] =
		    DFUMGR_BOOT_FLAG_SET;
	memcpy(t + DFUMGR_TRAILER_SWAP_INFO_OFF - DFUMGR_TRAILER_MAGIC_OFF, boot_magic, 16);
	rc = dev->ops->program(dev->user, area, start, t, 8, &cost);
	if (rc == 0 && permanent)
		rc = dev->ops->program(
		    dev->user, area, size - DFUMGR_TRAILER_IMAGE_OK_OFF,
		    t + DFUMGR_TRAILER_SWAP_INFO_OFF - DFUMGR_TRAILER_IMAGE_OK_OFF, 8, &cost);
	/* the magic goes last: until it is there, MCUboot sees nothing to do */
	if (rc == 0)
		rc = dev->ops->program(dev->user, area, size - DFUMGR_TRAILER_MAGIC_OFF,
				       t + DFUMGR_TRAILER_SWAP_INFO_OFF - DFUMGR_TRAILER_MAGIC_OFF,
				       16, &cost);
	return rc;
}

static void commit_step(struct dfu_dev *dev, uint32_t budget)
{
	unsigned i = dev->commit_image;

	if (dev->commit_state != DFUMGR_COMMIT_CHECKING)
		return;
	if (dev->digest.status != DFUMGR_DIGEST_BUSY)
		digest_begin(dev, (uint8_t)i, false, dev->commit_len[i]);
	digest_step(dev, budget);
	if (dev->digest.status == DFUMGR_DIGEST_BUSY)
		return;
	if (dev->digest.status != DFUMGR_DIGEST_READY) {
		dev->commit_state = DFUMGR_COMMIT_REJECTED;
		dev->last_error = DFUMGR_DEV_FLASH;
		return;
	}
	if (!digest_equal(dev->digest.sha256, dev->commit_sha[i])) {
		dev->commit_state = DFUMGR_COMMIT_REJECTED;
		dev->last_error = i == 0 ? DFUMGR_DEV_DIGEST0 : DFUMGR_DEV_DIGEST1;
		return;
	}
	/* the digest job belonged to the commit; do not leave it looking like a host's */
	dev->digest.status = DFUMGR_DIGEST_NONE;
	if (++dev->commit_image < DFUMGR_N_IMAGES)
		return;
	/*
	 * Both slots hold what the host expects: mark image 0 first, then image 1. Power lost in
	 * between leaves only image 0 pending, and its DEPENDENCY on image 1 keeps MCUboot from
	 * swapping it alone; image 1 pending alone would run old app code against new XIP code.
	 */
	for (unsigned k = 0; k < DFUMGR_N_IMAGES; k++) {
		bool perm = dev->commit_flags & DFUMGR_COMMIT_F_PERMANENT;

		if (write_trailer(dev, k, perm) != 0) {
			dev->commit_state = DFUMGR_COMMIT_REJECTED;
			dev->last_error = DFUMGR_DEV_FLASH;
			return;
		}
		dev->slot_state[k] = perm ? DFUMGR_SLOT_CONFIRMED : DFUMGR_SLOT_PENDING;
	}
	dev->commit_state = DFUMGR_COMMIT_DONE;
}

static void version_from_header(const uint8_t hdr[32], uint8_t out[8])
{
	memcpy(out, hdr + 20, 8);
}

static int get_info(struct dfu_dev *dev, uint8_t *data, uint16_t wLength)
{
	if (wLength < DFUMGR_INFO_LEN)
		return DFU_DEV_STALL;
	/* a host polling for a commit drives it */
	commit_step(dev, 16 * DFU_DIGEST_STEP);
	memset(data, 0, DFUMGR_INFO_LEN);
	data[DFUMGR_INFO_PROTO] = DFUMGR_PROTO_VERSION;
	data[DFUMGR_INFO_N_IMAGES] = DFUMGR_N_IMAGES;
	data[DFUMGR_INFO_LAST_ERROR] = dev->last_error;
	data[DFUMGR_INFO_COMMIT_STATE] = dev->commit_state;
	memcpy(data + DFUMGR_INFO_SERIAL, dev->serial, strlen(dev->serial));
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		uint8_t *p = data + DFUMGR_INFO_IMAGES + i * DFUMGR_INFO_IMAGE_LEN;
		enum dfu_area sec = dfu_area_secondary(i);
		uint8_t hdr[32];

		p[DFUMGR_INFO_IMG_SLOT_STATE] = dev->slot_state[i];
		if (slot_has_header(dev, dfu_area_primary(i), hdr)) {
			p[DFUMGR_INFO_IMG_FLAGS] = 1;
			version_from_header(hdr, p + DFUMGR_INFO_IMG_VERSION);
		}
		put32(p + DFUMGR_INFO_IMG_SLOT_SIZE, dev->area[sec].size);
		put32(p + DFUMGR_INFO_IMG_ERASE_UNIT, dev->area[sec].erase_unit);
		put32(p + DFUMGR_INFO_IMG_WRITTEN, dev->written[i]);
		put32(p + DFUMGR_INFO_IMG_UPLOADABLE, uploadable(dev, i));
	}
	return DFUMGR_INFO_LEN;
}

static int reject(struct dfu_dev *dev, uint8_t err)
{
	dev->last_error = err;
	return DFU_DEV_STALL;
}

static bool transfer_idle(const struct dfu_dev *dev)
{
	return dev->state == DFU_STATE_IDLE;
}

static int vendor_request(struct dfu_dev *dev, const struct dfu_setup *s, uint8_t *data)
{
	bool in = s->bmRequestType == REQ_TYPE_VENDOR_IN;

	switch (s->bRequest) {
	case DFUMGR_REQ_GET_INFO:
		return in ? get_info(dev, data, s->wLength) : reject(dev, DFUMGR_DEV_BAD_REQUEST);
	case DFUMGR_REQ_REBOOT:
		if (in)
			return reject(dev, DFUMGR_DEV_BAD_REQUEST);
		dev->last_error = DFUMGR_DEV_OK;
		if (dev->ops->reboot)
			dev->ops->reboot(dev->user);
		return 0;
	case DFUMGR_REQ_DIGEST_START: {
		uint8_t alt = (uint8_t)s->wValue;
		bool primary = s->wValue & DFUMGR_DIGEST_PRIMARY;
		enum dfu_area area = primary ? dfu_area_primary(alt) : dfu_area_secondary(alt);
		uint32_t len;

		if (in)
			return reject(dev, DFUMGR_DEV_BAD_REQUEST);
		/* read-only, so runtime mode may hash its slots too (dfu-mgr verify) */
		if ((dev->dfu_mode && !transfer_idle(dev)) ||
		    dev->commit_state == DFUMGR_COMMIT_CHECKING)
			return reject(dev, DFUMGR_DEV_BUSY);
		if (alt >= DFUMGR_N_IMAGES || (s->wValue & ~(0xffu | DFUMGR_DIGEST_PRIMARY)))
			return reject(dev, DFUMGR_DEV_BAD_ALT);
		if (s->wLength != 4)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		len = get32(data);
		if (len == 0)
			len = primary ? dev->area[area].size : uploadable(dev, alt);
		if (len > dev->area[area].size)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		digest_begin(dev, alt, primary, len);
		dev->last_error = DFUMGR_DEV_OK;
		return 0;
	}
	case DFUMGR_REQ_DIGEST_GET: {
		uint8_t alt = (uint8_t)s->wValue;
		bool primary = s->wValue & DFUMGR_DIGEST_PRIMARY;

		if (!in || s->wLength < DFUMGR_DIGEST_LEN)
			return reject(dev, in ? DFUMGR_DEV_BAD_LENGTH : DFUMGR_DEV_BAD_REQUEST);
		if (alt >= DFUMGR_N_IMAGES)
			return reject(dev, DFUMGR_DEV_BAD_ALT);
		if (dev->commit_state != DFUMGR_COMMIT_CHECKING)
			digest_step(dev, 16 * DFU_DIGEST_STEP);
		memset(data, 0, DFUMGR_DIGEST_LEN);
		data[DFUMGR_DIGEST_PROTO] = DFUMGR_PROTO_VERSION;
		data[DFUMGR_DIGEST_ALT] = alt;
		if (dev->commit_state == DFUMGR_COMMIT_CHECKING || dev->digest.alt != alt ||
		    dev->digest.primary != primary) {
			data[DFUMGR_DIGEST_STATUS] = dev->commit_state == DFUMGR_COMMIT_CHECKING
							 ? DFUMGR_DIGEST_BUSY
							 : DFUMGR_DIGEST_NONE;
			return DFUMGR_DIGEST_LEN;
		}
		data[DFUMGR_DIGEST_STATUS] = dev->digest.status;
		put32(data + DFUMGR_DIGEST_LENGTH, dev->digest.length);
		if (dev->digest.status == DFUMGR_DIGEST_READY)
			memcpy(data + DFUMGR_DIGEST_SHA256, dev->digest.sha256, 32);
		return DFUMGR_DIGEST_LEN;
	}
	case DFUMGR_REQ_COMMIT:
		if (in)
			return reject(dev, DFUMGR_DEV_BAD_REQUEST);
		if (!dev->dfu_mode || !transfer_idle(dev) ||
		    dev->commit_state == DFUMGR_COMMIT_CHECKING)
			return reject(dev, DFUMGR_DEV_BUSY);
		if (s->wLength != DFUMGR_COMMIT_LEN)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		if (data[DFUMGR_COMMIT_PROTO] != DFUMGR_PROTO_VERSION)
			return reject(dev, DFUMGR_DEV_BAD_VERSION);
		if (data[DFUMGR_COMMIT_N_IMAGES] != DFUMGR_N_IMAGES)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
			const uint8_t *p =
			    data + DFUMGR_COMMIT_IMAGES + i * DFUMGR_COMMIT_IMAGE_LEN;
			uint32_t len = get32(p + DFUMGR_COMMIT_IMG_LENGTH);
			enum dfu_area a = dfu_area_secondary(i);

			/* the trailer must still fit after the image */
			if (len == 0 || len > dev->area[a].size - DFUMGR_TRAILER_SWAP_INFO_OFF)
				return reject(dev, DFUMGR_DEV_BAD_LENGTH);
			if (dev->slot_state[i] == DFUMGR_SLOT_EMPTY)
				return reject(dev, DFUMGR_DEV_NOT_WRITTEN);
			dev->commit_len[i] = len;
			memcpy(dev->commit_sha[i], p + DFUMGR_COMMIT_IMG_SHA256, 32);
		}
		dev->commit_flags = data[DFUMGR_COMMIT_FLAGS];
		dev->commit_image = 0;
		dev->commit_state = DFUMGR_COMMIT_CHECKING;
		dev->digest.status = DFUMGR_DIGEST_NONE;
		dev->last_error = DFUMGR_DEV_OK;
		return 0;
	default:
		return reject(dev, DFUMGR_DEV_BAD_REQUEST);
	}
}

int dfu_dev_control(struct dfu_dev *dev, const struct dfu_setup *s, uint8_t *data, uint64_t now_us)
{
	bool class_req =
	    s->bmRequestType == REQ_TYPE_CLASS_OUT || s->bmRequestType == REQ_TYPE_CLASS_IN;
	bool vendor_req =
	    s->bmRequestType == REQ_TYPE_VENDOR_OUT || s->bmRequestType == REQ_TYPE_VENDOR_IN;

	dfu_dev_poll(dev, now_us, 0);
	if (class_req)
		return class_request(dev, s, data, now_us);
	if (vendor_req)
		return vendor_request(dev, s, data);
	return DFU_DEV_STALL;
}

void dfu_dev_bus_reset(struct dfu_dev *dev)
{
	if (!dev->dfu_mode)
		return;
	dev->pending_len = 0;
	switch (dev->state) {
	case DFU_STATE_DNLOAD_SYNC:
	case DFU_STATE_DNBUSY:
	case DFU_STATE_DNLOAD_IDLE:
	case DFU_STATE_MANIFEST_SYNC:
	case DFU_STATE_UPLOAD_IDLE:
		dev->state = DFU_STATE_ERROR;
		dev->status = DFU_STATUS_ERR_USBR;
		break;
	case DFU_STATE_ERROR:
		break;
	default:
		dev->state = DFU_STATE_IDLE;
		dev->status = DFU_STATUS_OK;
		break;
	}
}

int dfu_dev_set_alt(struct dfu_dev *dev, uint8_t alt)
{
	if (!dev->dfu_mode || alt >= DFUMGR_N_IMAGES)
		return DFU_DEV_STALL;
	if (dev->state != DFU_STATE_IDLE && dev->state != DFU_STATE_ERROR)
		return DFU_DEV_STALL;
	dev->alt = alt;
	return 0;
}

void dfu_dev_poll(struct dfu_dev *dev, uint64_t now_us, uint32_t budget)
{
	/* §5.1: no reset before wDetachTimeOut: back to appIDLE */
	if (dev->state == DFU_STATE_APP_DETACH && now_us >= dev->detach_deadline_us)
		dev->state = DFU_STATE_APP_IDLE;
	if (!budget)
		return;
	if (dev->commit_state == DFUMGR_COMMIT_CHECKING)
		commit_step(dev, budget);
	else
		digest_step(dev, budget);
}
