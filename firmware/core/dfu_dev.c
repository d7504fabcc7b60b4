/* SPDX-License-Identifier: MIT */
/*
 * DFU 1.1 device class + the shim's vendor requests. Section numbers refer to the USB Device
 * Class Specification for Device Firmware Upgrade, version 1.1.
 */
#include <string.h>

#include "dfu_dev.h"
#include "mcuboot_image.h"

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

struct area_reader {
	struct dfu_dev *dev;
	enum dfu_area area;
};

static int area_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	struct area_reader *r = ctx;

	return r->dev->ops->read(r->dev->user, r->area, off, buf, len);
}

/* The MCUboot image at the start of an area (structure only): 0 or enum mcuboot_image_err. */
static int read_image(struct dfu_dev *dev, enum dfu_area area, struct mcuboot_image_info *ret)
{
	struct area_reader r = {dev, area};

	return mcuboot_image_read(area_read, &r, dev->area[area].size, ret);
}

/* A slot holds an image when its first word is the MCUboot magic (0x96f3b83d). */
static bool slot_has_header(struct dfu_dev *dev, enum dfu_area area, uint8_t hdr[32])
{
	if (dev->ops->read(dev->user, area, 0, hdr, 32) != 0)
		return false;
	return get32(hdr) == MCUBOOT_IMAGE_MAGIC;
}

uint32_t dfu_dev_image_max(const struct dfu_dev *dev, unsigned image)
{
	const struct dfu_area_info *a = &dev->area[dfu_area_secondary(image)];

	return dfumgr_wire_image_max(a->size, a->erase_unit);
}

/* MCUboot's trailer fields of an area (the last DFUMGR_TRAILER_SWAP_SIZE_OFF bytes). */
struct trailer {
	bool magic;       /* the boot magic is there */
	bool magic_unset; /* all 0xff */
	uint8_t swap_info;
	uint8_t copy_done;
	uint8_t image_ok;
};

static int read_trailer(struct dfu_dev *dev, enum dfu_area area, struct trailer *ret)
{
	uint8_t t[DFUMGR_TRAILER_SWAP_SIZE_OFF];
	uint32_t size = dev->area[area].size;
	const uint8_t *magic = t + sizeof(t) - DFUMGR_TRAILER_MAGIC_OFF;
	int rc = dev->ops->read(dev->user, area, size - sizeof(t), t, sizeof(t));

	if (rc != 0)
		return rc;
	ret->magic = memcmp(magic, boot_magic, sizeof(boot_magic)) == 0;
	ret->magic_unset = true;
	for (size_t i = 0; i < sizeof(boot_magic); i++)
		ret->magic_unset &= magic[i] == 0xff;
	ret->swap_info = t[sizeof(t) - DFUMGR_TRAILER_SWAP_INFO_OFF];
	ret->copy_done = t[sizeof(t) - DFUMGR_TRAILER_COPY_DONE_OFF];
	ret->image_ok = t[sizeof(t) - DFUMGR_TRAILER_IMAGE_OK_OFF];
	return 0;
}

static uint8_t read_slot_state(struct dfu_dev *dev, unsigned image)
{
	enum dfu_area area = dfu_area_secondary(image);
	struct trailer t;
	uint8_t hdr[32];

	if (!slot_has_header(dev, area, hdr))
		return DFUMGR_SLOT_EMPTY;
	/* MCUboot acts on the magic alone (boot_swap_type_multi), whatever swap_info says */
	if (read_trailer(dev, area, &t) != 0 || !t.magic)
		return DFUMGR_SLOT_WRITTEN;
	if (t.image_ok == DFUMGR_BOOT_FLAG_SET)
		return DFUMGR_SLOT_CONFIRMED;
	return DFUMGR_SLOT_PENDING;
}

/*
 * What an UPLOAD of the slot returns: what this session wrote (up to the image's end where the
 * last sectors were verified rather than downloaded), else the image it holds, else all.
 */
static uint32_t uploadable(struct dfu_dev *dev, unsigned image)
{
	enum dfu_area area = dfu_area_secondary(image);
	struct mcuboot_image_info img;
	bool have = read_image(dev, area, &img) == MCUBOOT_IMAGE_OK;

	if (dev->no_upload)
		return 0;
	if (dev->written[image]) {
		uint32_t n = dev->dl_end[image];

		if (have && img.extent > n)
			n = img.extent;
		return n < dev->written[image] ? n : dev->written[image];
	}
	if (have)
		return img.extent;
	return dev->area[area].size;
}

static void copy_string(char *dst, const char *src, size_t max)
{
	size_t n = 0;

	while (src && src[n] && n < max) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
}

void dfu_dev_init(struct dfu_dev *dev, const struct dfu_dev_ops *ops, void *user, bool dfu_mode,
		  const struct dfu_dev_config *cfg)
{
	static const struct dfu_area_info defaults[DFU_AREA_COUNT] = {
	    [DFU_AREA_IMG0_PRIMARY] = {DFUMGR_IMG0_SLOT_SIZE, DFUMGR_INTERNAL_PAGE_SIZE},
	    [DFU_AREA_IMG0_SECONDARY] = {DFUMGR_IMG0_SLOT_SIZE, DFUMGR_QSPI_SECTOR_SIZE},
	    [DFU_AREA_IMG1_PRIMARY] = {DFUMGR_IMG1_SLOT_SIZE, DFUMGR_QSPI_SECTOR_SIZE},
	    [DFU_AREA_IMG1_SECONDARY] = {DFUMGR_IMG1_SLOT_SIZE, DFUMGR_QSPI_SECTOR_SIZE},
	};

	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->user = user;
	memcpy(dev->area, cfg && cfg->areas ? cfg->areas : defaults, sizeof(dev->area));
	if (cfg) {
		copy_string(dev->serial, cfg->serial, DFUMGR_SERIAL_MAX);
		copy_string(dev->product, cfg->product, DFUMGR_PRODUCT_MAX);
		dev->hw_revision = cfg->hw_revision;
		dev->no_upload = cfg->no_upload;
		dev->version_cmp_build = cfg->version_cmp_build;
		dev->mcuboot_1768 = cfg->mcuboot_1768;
		dev->legacy_download = cfg->legacy_download;
	}
	dev->dfu_mode = dfu_mode;
	dev->state = dfu_mode ? DFU_STATE_IDLE : DFU_STATE_APP_IDLE;
	dev->status = DFU_STATUS_OK;
	dev->digest.status = DFUMGR_DIGEST_NONE;
	dev->sectors.status = DFUMGR_DIGEST_NONE;
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		dev->slot_state[i] = read_slot_state(dev, i);
		dev->flash_error[i] = DFUMGR_NO_FLASH_ERROR;
	}
}

/* ---- DFU state helpers ---- */

static bool downloading(const struct dfu_dev *dev)
{
	switch (dev->state) {
	case DFU_STATE_DNLOAD_SYNC:
	case DFU_STATE_DNBUSY:
	case DFU_STATE_DNLOAD_IDLE:
	case DFU_STATE_MANIFEST_SYNC:
	case DFU_STATE_MANIFEST:
		return true;
	default:
		return false;
	}
}

/* The download on the current alt is over (manifested, failed, aborted or cut off). */
static void end_download(struct dfu_dev *dev)
{
	if (dev->alt < DFUMGR_N_IMAGES)
		dev->sparse[dev->alt] = false;
	dev->drain = false;
	dev->block_error = DFU_STATUS_OK;
}

/* §6.1.2: a request not valid in the current state is stalled and the device enters dfuERROR. */
static int stall_error(struct dfu_dev *dev, uint8_t status)
{
	if (dev->dfu_mode) {
		if (downloading(dev))
			end_download(dev);
		dev->state = DFU_STATE_ERROR;
		dev->status = status;
	}
	return DFU_DEV_STALL;
}

static int fail(struct dfu_dev *dev, uint8_t status)
{
	if (downloading(dev))
		end_download(dev);
	dev->state = DFU_STATE_ERROR;
	dev->status = status;
	return 0;
}

static bool bit_get(const uint8_t *map, uint32_t i)
{
	return map[i / 8] & (1u << (i % 8));
}

static void bit_set(uint8_t *map, uint32_t i, bool on)
{
	if (on)
		map[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		map[i / 8] &= (uint8_t) ~(1u << (i % 8));
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

/* Is [off, off+len) of area all erased value (0xff)? A read error counts as "no". */
static bool area_blank(struct dfu_dev *dev, enum dfu_area area, uint32_t off, uint32_t len)
{
	uint8_t buf[256];

	for (uint32_t done = 0; done < len; done += sizeof(buf)) {
		uint32_t n = len - done < sizeof(buf) ? len - done : (uint32_t)sizeof(buf);

		if (dev->ops->read(dev->user, area, off + done, buf, n) != 0)
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (buf[i] != 0xff)
				return false;
	}
	return true;
}

/* §6.1.2 errCHECK_ERASED: an erase that leaves programmed bits is caught before programming. */
static int check_erased(struct dfu_dev *dev, enum dfu_area area, uint32_t off, uint32_t len)
{
	return area_blank(dev, area, off, len) ? 0 : DFU_FLASH_NOT_ERASED;
}

/*
 * Erases every sector of [off, off+len) not yet erased in this download. A sector that already
 * reads blank is not erased: reading 4 KiB back costs well under a millisecond, an erase 48 ms
 * (QSPI) or 87.5 ms (NVMC), and a new board's slots, or the rest of a shrinking image, are
 * blank.
 */
static int erase_range(struct dfu_dev *dev, unsigned image, uint32_t off, uint32_t len,
		       uint32_t *cost)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t unit = dev->area[area].erase_unit;

	for (uint32_t s = off / unit; s <= (off + len - 1) / unit; s++) {
		int rc = 0;

		if (bit_get(dev->erased[image], s))
			continue;
		if (dev->legacy_download || !area_blank(dev, area, s * unit, unit)) {
			rc = dev->ops->erase(dev->user, area, s * unit, unit, cost);
			if (rc == 0)
				rc = check_erased(dev, area, s * unit, unit);
		}
		if (rc != 0)
			return rc;
		bit_set(dev->erased[image], s, true);
	}
	return 0;
}

/* Any byte other than the erased value in buf? */
static bool has_data(const uint8_t *buf, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (buf[i] != 0xff)
			return true;
	return false;
}

/*
 * The board owns the pending set: a download never leaves a mark for MCUboot behind. Starting
 * one erases the trailer sector (magic, image_ok, copy_done, swap_info) of both secondary
 * slots, image 0 first. Either single mark left by a cut between the two erases is refused by
 * MCUboot: a pair is committed only when each image's dependency rules it out alone
 * (docs/pair-rule.md, rows D1-D3).
 */
static int clear_marks(struct dfu_dev *dev, uint32_t *cost)
{
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		enum dfu_area area = dfu_area_secondary(i);
		uint32_t unit = dev->area[area].erase_unit, last = dev->area[area].size - unit;
		int rc;

		if (!area_blank(dev, area, last, unit)) {
			rc = dev->ops->erase(dev->user, area, last, unit, cost);
			if (rc == 0)
				rc = check_erased(dev, area, last, unit);
			if (rc != 0)
				return rc;
		}
		dev->slot_state[i] = read_slot_state(dev, i);
	}
	if (dev->commit_state == DFUMGR_COMMIT_DONE)
		dev->commit_state = DFUMGR_COMMIT_NONE;
	return 0;
}

/* The end of the image's TLV area per the TLV info at hashed, from flash; 0 if not there. */
static uint32_t tlv_end(struct dfu_dev *dev, unsigned image, uint32_t hashed)
{
	uint8_t info[4];

	if (dev->ops->read(dev->user, dfu_area_secondary(image), hashed, info, 4) != 0 ||
	    info[0] != (MCUBOOT_TLV_INFO_MAGIC & 0xff) || info[1] != MCUBOOT_TLV_INFO_MAGIC >> 8)
		return 0;
	return hashed + (info[2] | (uint32_t)info[3] << 8);
}

/* ---- what this session wrote or verified ---- */

static uint32_t sector_size(const struct dfu_dev *dev, unsigned image)
{
	return dev->area[dfu_area_secondary(image)].erase_unit;
}

/* Sectors SECTOR_DIGESTS covers: up to the slot's image limit, never MCUboot's trailer. */
static uint32_t digest_sectors(const struct dfu_dev *dev, unsigned image)
{
	uint32_t n = dfu_dev_image_max(dev, image) / sector_size(dev, image);

	return n < DFU_MAX_SECTORS ? n : DFU_MAX_SECTORS;
}

/* written[] grows over sectors verified in this session that follow it. */
static void extend_written(struct dfu_dev *dev, unsigned image)
{
	uint32_t unit = sector_size(dev, image);

	for (;;) {
		uint32_t k = dev->written[image] / unit;

		if (k >= digest_sectors(dev, image) || !bit_get(dev->verified[image], k))
			return;
		dev->written[image] = (k + 1) * unit;
	}
}

static void set_verified(struct dfu_dev *dev, unsigned image, uint32_t k, bool ok)
{
	uint32_t unit = sector_size(dev, image);

	if (bit_get(dev->verified[image], k) != ok)
		dev->n_verified[image] = (uint16_t)(dev->n_verified[image] + (ok ? 1 : -1));
	bit_set(dev->verified[image], k, ok);
	/* the host wants other bytes there than this session put: not written, as far as COMMIT
	 * is concerned, until a download writes it again */
	if (!ok && dev->written[image] > k * unit)
		dev->written[image] = k * unit;
	if (ok)
		extend_written(dev, image);
}

/* ---- download blocks and their flash work ---- */

static bool async_flash(const struct dfu_dev *dev)
{
	return dev->ops->work != NULL;
}

unsigned dfu_dev_blocks_pending(const struct dfu_dev *dev)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DFU_BLOCKS; i++)
		n += dev->job[i].active;
	return n;
}

/* The oldest block not yet retired, or NULL. */
static struct dfu_job *oldest_job(struct dfu_dev *dev)
{
	struct dfu_job *o = NULL;

	for (unsigned i = 0; i < DFU_BLOCKS; i++)
		if (dev->job[i].active && (!o || dev->job[i].seq < o->seq))
			o = &dev->job[i];
	return o;
}

/* When the flash will have done every block held (modelled flash). */
static uint64_t jobs_end(const struct dfu_dev *dev)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < DFU_BLOCKS; i++)
		if (dev->job[i].active && dev->job[i].end_us > end)
			end = dev->job[i].end_us;
	return end;
}

/* Blocks whose flash work is over (by now, for the modelled flash) free their buffers. */
static void retire_jobs(struct dfu_dev *dev, uint64_t now)
{
	struct dfu_job *j;

	while ((j = oldest_job(dev)) && j->done && now >= j->end_us)
		j->active = false;
}

/*
 * Requests that read or rewrite the slots (a new download, an upload, digests, a commit) need
 * the download's flash work to be over. An async flash answers them later (true); a modelled
 * flash has the bytes in place already, so its remaining time is simply not charged.
 */
static bool flash_busy(struct dfu_dev *dev)
{
	if (!dfu_dev_blocks_pending(dev))
		return false;
	if (async_flash(dev))
		return true;
	for (unsigned i = 0; i < DFU_BLOCKS; i++)
		dev->job[i].active = false;
	dev->flash_free_us = 0;
	return false;
}

/* A block's flash work: the session's reset for a new image, erase, program, read back. */
static uint8_t job_flash(struct dfu_dev *dev, struct dfu_job *j, uint32_t *cost)
{
	unsigned image = j->image;
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t max = dfu_dev_image_max(dev, image);
	uint8_t check[256];
	int rc;

	if (j->first) {
		/* a new image: the session forgets the old one before anything is written */
		memset(dev->erased[image], 0, sizeof(dev->erased[image]));
		dev->whole[image] = false;
		dev->dl_end[image] = 0;
		if (!j->sparse) {
			/* a plain download: what counts is what it writes, from block 0 on */
			dev->written[image] = 0;
			memset(dev->verified[image], 0, sizeof(dev->verified[image]));
			dev->n_verified[image] = 0;
		}
		rc = clear_marks(dev, cost);
		if (rc != 0)
			return flash_status(rc);
	}
	/* padding below the slot's image limit is erased like data; the trailer region is not */
	if (j->off < max) {
		uint32_t span = max - j->off < j->len ? max - j->off : j->len;

		rc = erase_range(dev, image, j->off, span, cost);
		if (rc == 0 && j->program)
			rc = dev->ops->program(dev->user, area, j->off, j->data, j->program, cost);
		if (rc != 0)
			return flash_status(rc);
	}
	/* read back what was programmed: a bad cell shows here, not at boot */
	for (uint32_t done = 0; done < j->program; done += sizeof(check)) {
		uint32_t n =
		    j->program - done < sizeof(check) ? j->program - done : (uint32_t)sizeof(check);

		if (dev->ops->read(dev->user, area, j->off + done, check, n) != 0 ||
		    memcmp(check, j->data + done, n) != 0)
			return DFU_STATUS_ERR_VERIFY;
	}
	dev->dl_end[image] = j->off + j->len;
	if (j->off <= dev->written[image] && j->off + j->len > dev->written[image])
		dev->written[image] = j->off + j->len;
	extend_written(dev, image);
	dev->slot_state[image] = DFUMGR_SLOT_WRITTEN;
	return DFU_STATUS_OK;
}

/*
 * Runs a block's flash work, modelled as starting at start_us (0 with an async flash). After a
 * block of this download failed nothing more of it is written: the host learns of the failure
 * at its next GETSTATUS and the download is over.
 */
static void run_job(struct dfu_dev *dev, struct dfu_job *j, uint64_t start_us)
{
	uint32_t cost = 0;

	j->start_us = j->end_us = start_us;
	if (dev->dl_error && j->gen == dev->dl_gen) {
		j->status = DFU_STATUS_OK;
		j->done = true;
		return;
	}
	j->status = job_flash(dev, j, &cost);
	j->done = true;
	if (!async_flash(dev))
		j->end_us = start_us + cost;
	if (j->status != DFU_STATUS_OK) {
		dev->flash_error[j->image] = j->off;
		if (j->gen == dev->dl_gen && !dev->dl_error) {
			dev->dl_error = j->status;
			dev->dl_error_us = j->start_us;
		}
	}
}

bool dfu_dev_work(struct dfu_dev *dev, uint64_t now_us)
{
	struct dfu_job *j = NULL;

	(void)now_us;
	for (unsigned i = 0; i < DFU_BLOCKS; i++) {
		struct dfu_job *c = &dev->job[i];

		if (c->active && !c->done && !c->running && (!j || c->seq < j->seq))
			j = c;
	}
	if (!j)
		return false;
	j->running = true;
	run_job(dev, j, 0);
	j->running = false;
	return true;
}

/* Hands a received block to the flash: at once (modelled), or to the platform's thread. */
static void queue_job(struct dfu_dev *dev, struct dfu_job *j, uint64_t now)
{
	j->active = true;
	j->done = false;
	j->running = false;
	j->seq = ++dev->job_seq;
	if (async_flash(dev)) {
		dev->ops->work(dev->user);
		return;
	}
	/* the modelled flash takes a block when it is done with the one before */
	run_job(dev, j, now > dev->flash_free_us ? now : dev->flash_free_us);
	dev->flash_free_us = j->end_us;
}

/*
 * What the download learns of the image it carries from bytes [off, off+len): the header, then
 * (once the header says where) the unprotected TLV info. From the block, or (block NULL) from
 * flash, for sectors a sparse download skips: verified, and no block of this download is bound
 * for them. 0, or -1 when flash cannot be read.
 */
static int learn(struct dfu_dev *dev, unsigned image, uint32_t off, uint32_t len,
		 const uint8_t *block)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint64_t end = (uint64_t)off + len;

	if (dev->hdr_len < sizeof(dev->hdr) && off <= dev->hdr_len && dev->hdr_len < end) {
		uint32_t n =
		    (uint32_t)((end < sizeof(dev->hdr) ? end : sizeof(dev->hdr)) - dev->hdr_len);

		if (block)
			memcpy(dev->hdr + dev->hdr_len, block + (dev->hdr_len - off), n);
		else if (dev->ops->read(dev->user, area, dev->hdr_len, dev->hdr + dev->hdr_len,
					n) != 0)
			return -1;
		dev->hdr_len = (uint8_t)(dev->hdr_len + n);
		if (dev->hdr_len == sizeof(dev->hdr))
			dev->data_end = mcuboot_image_hashed_end(dev->hdr);
	}
	if (!dev->data_end)
		return 0;
	for (uint32_t b = 0; b < sizeof(dev->tlv_info); b++) {
		uint64_t at = (uint64_t)dev->data_end + b;

		if ((dev->tlv_mask & (1u << b)) || at < off || at >= end)
			continue;
		if (block)
			dev->tlv_info[b] = block[at - off];
		else if (dev->ops->read(dev->user, area, (uint32_t)at, &dev->tlv_info[b], 1) != 0)
			return -1;
		dev->tlv_mask |= (uint8_t)(1u << b);
	}
	return 0;
}

/* The end of the image per its TLV info, once the download knows it; else 0. */
static uint32_t known_image_end(const struct dfu_dev *dev)
{
	if (!dev->data_end || dev->tlv_mask != 0x0f ||
	    dev->tlv_info[0] != (MCUBOOT_TLV_INFO_MAGIC & 0xff) ||
	    dev->tlv_info[1] != MCUBOOT_TLV_INFO_MAGIC >> 8)
		return 0;
	return dev->data_end + (dev->tlv_info[2] | (uint32_t)dev->tlv_info[3] << 8);
}

/*
 * Where a download's data must end. Past it only erased-value padding (0xff) may follow: up to
 * the slot's image limit, the rest of the MCUboot image is not there yet or has ended; from the
 * limit on is the trailer region, which only COMMIT writes. The image's own header says where
 * it ends: its hashed part from the first block, its TLV area once those 4 bytes are in.
 */
static uint32_t data_limit(const struct dfu_dev *dev, unsigned image)
{
	uint32_t max = dfu_dev_image_max(dev, image), end = known_image_end(dev);

	return end && end < max ? end : max;
}

/*
 * Where a DNLOAD's block goes. A plain download starts at 0 whatever its first block number
 * (hosts start at 0 or 1) and goes on block after block. A sparse one (SECTOR_DIGESTS OUT on
 * this alt since its last download) numbers its blocks by sector and may skip sectors, but only
 * sectors the board verified in this session: the session then holds every byte before the
 * block, as COMMIT requires.
 */
int64_t dfu_dev_dnload_offset(const struct dfu_dev *dev, const struct dfu_setup *s)
{
	unsigned image = dev->alt;
	uint32_t unit, from;
	uint64_t off;

	if (image >= DFUMGR_N_IMAGES)
		return -1;
	unit = sector_size(dev, image);
	if (dev->state == DFU_STATE_IDLE) {
		if (!dev->sparse[image] || s->wValue == 0)
			return 0;
		from = 0;
	} else if (dev->state == DFU_STATE_DNLOAD_IDLE) {
		if (s->wValue == dev->next_block)
			return dev->offset;
		if (!dev->sparse[image] || s->wValue < dev->next_block ||
		    dev->offset != (uint64_t)dev->next_block * unit)
			return -1;
		from = dev->next_block;
	} else {
		return -1;
	}
	off = (uint64_t)s->wValue * unit;
	if (s->wValue > digest_sectors(dev, image))
		return -1;
	for (uint32_t k = from; k < s->wValue; k++)
		if (!bit_get(dev->verified[image], k))
			return -1;
	return (int64_t)off;
}

/* Hashes [0, len) of area from flash in context ctx. */
static int hash_area(struct dfu_dev *dev, enum dfu_area area, unsigned ctx, uint32_t len,
		     uint8_t out[32])
{
	uint8_t buf[256];

	dev->ops->sha256_start(dev->user, ctx);
	for (uint32_t done = 0; done < len; done += sizeof(buf)) {
		uint32_t n = len - done < sizeof(buf) ? len - done : (uint32_t)sizeof(buf);

		if (dev->ops->read(dev->user, area, done, buf, n) != 0)
			return DFU_FLASH_READ_FAILED;
		dev->ops->sha256_update(dev->user, ctx, buf, n);
	}
	dev->ops->sha256_finish(dev->user, ctx, out);
	return 0;
}

/*
 * At the end of a download that holds an MCUboot image (raw data passes unchecked):
 * errNOTDONE if fewer bytes arrived than the header and TLV info declare (§6.1.2), errFILE if
 * the image's own SHA256 TLV does not match what is in flash: a vendor-specific verification.
 */
static uint8_t manifest_check(struct dfu_dev *dev)
{
	enum dfu_area area = dfu_area_secondary(dev->alt);
	struct mcuboot_image_info img;
	uint8_t want[32], got[32], hdr[32];
	int rc;

	if (!slot_has_header(dev, area, hdr))
		return DFU_STATUS_OK;
	/* what the header and the TLV info declare, before anything else is trusted */
	if ((uint64_t)dev->written[dev->alt] < (uint64_t)mcuboot_image_hashed_end(hdr) + 4 ||
	    dev->written[dev->alt] < tlv_end(dev, dev->alt, mcuboot_image_hashed_end(hdr)))
		return DFU_STATUS_ERR_NOTDONE;
	rc = read_image(dev, area, &img);
	if (rc == MCUBOOT_IMAGE_READ)
		return DFU_STATUS_ERR_UNKNOWN;
	if (rc != MCUBOOT_IMAGE_OK)
		return DFU_STATUS_ERR_FILE;
	if (img.extent > dev->written[dev->alt])
		return DFU_STATUS_ERR_NOTDONE;
	if (dev->ops->read(dev->user, area, img.sha256_off, want, 32) != 0 ||
	    hash_area(dev, area, 0, img.hashed, got) != 0)
		return DFU_STATUS_ERR_UNKNOWN;
	if (memcmp(want, got, 32) != 0)
		return DFU_STATUS_ERR_FILE;
	dev->whole[dev->alt] = true;
	return DFU_STATUS_OK;
}

/* A flash failure of this download's blocks that has happened by now (modelled: begun). */
static bool download_failed(const struct dfu_dev *dev, uint64_t now)
{
	return dev->dl_error && now >= dev->dl_error_us;
}

/* bwPollTimeout until t: whole milliseconds, rounded up so that the host never comes early. */
static uint32_t poll_until(uint64_t t, uint64_t now)
{
	return t > now ? (uint32_t)((t - now + 999) / 1000) : 1;
}

static int getstatus(struct dfu_dev *dev, uint8_t *data, uint16_t wLength, uint64_t now_us)
{
	if (wLength < DFU_GETSTATUS_LEN)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	switch (dev->state) {
	case DFU_STATE_DNLOAD_SYNC:
	case DFU_STATE_DNBUSY: {
		unsigned held = dfu_dev_blocks_pending(dev);
		uint64_t until;

		if (dev->block_error) {
			fail(dev, dev->block_error);
			break;
		}
		if (download_failed(dev, now_us)) {
			fail(dev, dev->dl_error);
			break;
		}
		/*
		 * Double buffering: while one block is being programmed the host may send the
		 * next. Only with both buffers full, or when this block ends the image (the
		 * download is complete only once all of it is in flash), is the board busy.
		 */
		if (dev->drain ? held == 0 : held < DFU_BLOCKS) {
			dev->state = DFU_STATE_DNLOAD_IDLE;
			dev->poll_ms = 0;
			break;
		}
		if (async_flash(dev))
			return DFU_DEV_WAIT;
		/*
		 * A host that polls early gets dfuDNBUSY again with the time still needed, rather
		 * than a stall: clocks on both sides of the cable never agree to the millisecond.
		 */
		until = dev->drain ? jobs_end(dev) : oldest_job(dev)->end_us;
		if (dev->dl_error && dev->dl_error_us > now_us && dev->dl_error_us < until)
			until = dev->dl_error_us;
		dev->state = DFU_STATE_DNBUSY;
		dev->poll_ms = poll_until(until, now_us);
		break;
	}
	case DFU_STATE_MANIFEST_SYNC:
	case DFU_STATE_MANIFEST:
		if (download_failed(dev, now_us)) {
			fail(dev, dev->dl_error);
			break;
		}
		if (dfu_dev_blocks_pending(dev)) {
			/* the last blocks are still being programmed (raw data: its end was not
			 * known, so it was not waited for at its last block) */
			if (async_flash(dev))
				return DFU_DEV_WAIT;
			dev->state = DFU_STATE_MANIFEST;
			dev->poll_ms = poll_until(jobs_end(dev), now_us);
			break;
		}
		/* manifestation: the slot now holds a complete download; check what we can */
		if (!dev->manifested) {
			uint8_t st = manifest_check(dev);

			dev->manifested = true;
			if (st != DFU_STATUS_OK) {
				fail(dev, st);
				break;
			}
			dev->slot_state[dev->alt] = read_slot_state(dev, dev->alt);
			if (dev->legacy_download) {
				dev->state = DFU_STATE_MANIFEST;
				dev->poll_ms = 0;
				break;
			}
		}
		/*
		 * Manifestation tolerant and complete: straight back to dfuIDLE (§A.1). dfuMANIFEST
		 * would cost a host such as dfu-util a second's sleep per image.
		 */
		end_download(dev);
		dev->state = DFU_STATE_IDLE;
		dev->poll_ms = 0;
		break;
	default:
		dev->poll_ms = 0;
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

/* A new download on the current alt: what the board knows of the last one is forgotten. */
static void begin_download(struct dfu_dev *dev)
{
	dev->dl_gen++;
	dev->dl_error = DFU_STATUS_OK;
	dev->block_error = DFU_STATUS_OK;
	dev->hdr_len = 0;
	dev->tlv_mask = 0;
	dev->data_end = 0;
	dev->last_len = 0;
	dev->offset = 0;
	dev->manifested = false;
	/* the slot is about to change: a page of sector digests no longer says what it holds */
	dev->sectors.status = DFUMGR_DIGEST_NONE;
}

/*
 * DFU 1.1 §6.1.1. The block is checked (where the image ends, the trailer region) and handed
 * to the flash at once; GETSTATUS then says whether the board takes the next one yet.
 */
static int dnload(struct dfu_dev *dev, const struct dfu_setup *s, const uint8_t *data, uint64_t now)
{
	unsigned image = dev->alt;
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t max = dfu_dev_image_max(dev, image), len = s->wLength, limit, keep, end;
	uint8_t had_hdr;
	struct dfu_job *j = NULL;
	bool first = false;
	int64_t off;

	if (s->wLength > DFUMGR_TRANSFER_SIZE)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	switch (dev->state) {
	case DFU_STATE_IDLE:
		if (s->wLength == 0) /* §6.1.1: no data to manifest yet */
			return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
		/* the slots are being re-hashed for a commit: writing now would race it */
		if (dev->commit_state == DFUMGR_COMMIT_CHECKING)
			return stall_error(dev, DFU_STATUS_ERR_VENDOR);
		if (flash_busy(dev))
			return DFU_DEV_WAIT;
		first = true;
		break;
	case DFU_STATE_DNLOAD_IDLE:
		if (s->wLength == 0) {
			/* §6.1.1: a zero-length download ends the transfer */
			dev->state = DFU_STATE_MANIFEST_SYNC;
			return 0;
		}
		break;
	default:
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	}
	off = dfu_dev_dnload_offset(dev, s);
	if (off < 0)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	if ((uint64_t)off + len > dev->area[area].size)
		return stall_error(dev, DFU_STATUS_ERR_ADDRESS);
	for (unsigned i = 0; i < DFU_BLOCKS && !j; i++)
		if (!dev->job[i].active)
			j = &dev->job[i];
	if (!j) /* the host did not wait for dfuDNLOAD-IDLE */
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	if (first)
		begin_download(dev);
	/* sectors a sparse download skips: what they hold of the image's layout is in flash */
	if ((uint64_t)off > dev->offset &&
	    learn(dev, image, dev->offset, (uint32_t)((uint64_t)off - dev->offset), NULL) < 0)
		dev->block_error = DFU_STATUS_ERR_UNKNOWN;
	had_hdr = dev->hdr_len;
	learn(dev, image, (uint32_t)off, len, data);
	dev->offset = (uint32_t)off + len;
	dev->next_block = (uint16_t)(s->wValue + 1);
	dev->state = DFU_STATE_DNLOAD_SYNC;
	/* §6.1.2 errTARGET: an MCUboot image that cannot fit this slot is not for it */
	if (had_hdr < sizeof(dev->hdr) && dev->hdr_len == sizeof(dev->hdr) && dev->data_end &&
	    (uint64_t)dev->data_end + 4 > max) {
		dev->last_error = DFUMGR_DEV_BAD_IMAGE;
		dev->block_error = DFU_STATUS_ERR_TARGET;
	}
	limit = data_limit(dev, image);
	keep = limit > off ? (limit - (uint32_t)off < len ? limit - (uint32_t)off : len) : 0;
	if (!dev->block_error && has_data(data + keep, len - keep)) {
		/*
		 * §6.1.2 errADDRESS: bytes past the image's end or in the trailer region, e.g. an
		 * `imgtool sign --pad --confirm` file: a download must never mark an image for
		 * MCUboot by itself.
		 */
		dev->last_error = DFUMGR_DEV_TRAILER;
		dev->block_error = DFU_STATUS_ERR_ADDRESS;
	}
	/*
	 * The block that ends the image (or, for raw data, a short block after longer ones: the
	 * last) is answered only once everything is in flash, so that the zero-length DNLOAD
	 * finds the download complete.
	 */
	end = known_image_end(dev);
	dev->drain = dev->legacy_download || (end && (uint64_t)off + len >= end) ||
		     (dev->last_len && len < dev->last_len);
	dev->last_len = (uint16_t)len;
	if (dev->block_error)
		return 0;
	memcpy(j->data, data, len);
	j->first = first;
	j->sparse = dev->sparse[image];
	j->image = (uint8_t)image;
	j->len = (uint16_t)len;
	j->program = (uint16_t)keep;
	j->off = (uint32_t)off;
	j->gen = dev->dl_gen;
	queue_job(dev, j, now);
	return 0;
}

static int upload(struct dfu_dev *dev, const struct dfu_setup *s, uint8_t *data)
{
	enum dfu_area area = dfu_area_secondary(dev->alt);
	uint32_t total, n;

	if (s->wLength > DFUMGR_TRANSFER_SIZE)
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	if (dev->no_upload) {
		/* bitCanUpload is clear (CONFIG_DFUMGR_SHIM_UPLOAD=n): §6.2 has no such request */
		dev->last_error = DFUMGR_DEV_NO_UPLOAD;
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	}
	if (dev->state == DFU_STATE_IDLE) {
		if (flash_busy(dev))
			return DFU_DEV_WAIT;
		dev->offset = 0;
	} else if (dev->state != DFU_STATE_UPLOAD_IDLE) {
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	}
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
		return in ? stall_error(dev, DFU_STATUS_ERR_STALLEDPKT)
			  : dnload(dev, s, data, now_us);
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
		/* blocks already taken are still programmed: the next download waits for them */
		if (downloading(dev))
			end_download(dev);
		dev->state = DFU_STATE_IDLE;
		return 0;
	default: /* DETACH in DFU mode, unknown requests */
		return stall_error(dev, DFU_STATUS_ERR_STALLEDPKT);
	}
}

/* ---- digests and commit ---- */

static void digest_begin(struct dfu_dev *dev, uint8_t alt, bool primary, uint32_t length,
			 uint32_t prefix)
{
	dev->digest.status = DFUMGR_DIGEST_BUSY;
	dev->digest.alt = alt;
	dev->digest.primary = primary;
	dev->digest.length = length;
	dev->digest.prefix = prefix;
	dev->digest.done = 0;
	dev->ops->sha256_start(dev->user, 0);
	if (prefix)
		dev->ops->sha256_start(dev->user, 1);
}

/*
 * Hashes up to budget bytes of the slot, READ BACK FROM FLASH, in context 0; the first
 * prefix bytes also in context 1.
 */
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
		if (n && dev->ops->read(dev->user, area, j->done, buf, n) != 0) {
			j->status = DFUMGR_DIGEST_ERROR;
			break;
		}
		dev->ops->sha256_update(dev->user, 0, buf, n);
		if (j->done < j->prefix) {
			uint32_t p = j->prefix - j->done < n ? j->prefix - j->done : n;

			dev->ops->sha256_update(dev->user, 1, buf, p);
			if (j->done + p == j->prefix)
				dev->ops->sha256_finish(dev->user, 1, j->prefix_sha256);
		}
		j->done += n;
		budget -= n;
		if (j->done == j->length) {
			dev->ops->sha256_finish(dev->user, 0, j->sha256);
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

/* ---- per-sector digests ---- */

static void sectors_begin(struct dfu_dev *dev, uint8_t alt, uint8_t page, uint16_t count,
			  const uint8_t *expected)
{
	struct dfu_sector_job *j = &dev->sectors;

	j->status = DFUMGR_DIGEST_BUSY;
	j->alt = alt;
	j->page = page;
	j->first = (uint16_t)(page * DFUMGR_SECTORS_PER_PAGE);
	j->count = count;
	j->done = 0;
	j->compare = expected != NULL;
	memset(j->match, 0, sizeof(j->match));
	if (expected)
		memcpy(j->digest, expected, (size_t)count * 32);
}

/*
 * Hashes sectors of the page, READ BACK FROM FLASH, up to budget bytes. With the host's digests,
 * each sector that matches counts for COMMIT as written in this session (the board verified it
 * holds what the host would have sent); one that does not stops counting.
 */
static void sectors_step(struct dfu_dev *dev, uint32_t budget)
{
	struct dfu_sector_job *j = &dev->sectors;
	enum dfu_area area = dfu_area_secondary(j->alt);
	uint32_t unit = sector_size(dev, j->alt);
	uint8_t buf[512], got[32];

	while (j->status == DFUMGR_DIGEST_BUSY && budget) {
		uint32_t k = (uint32_t)j->first + j->done;

		dev->ops->sha256_start(dev->user, 0);
		for (uint32_t done = 0; done < unit; done += sizeof(buf)) {
			uint32_t n =
			    unit - done < sizeof(buf) ? unit - done : (uint32_t)sizeof(buf);

			if (dev->ops->read(dev->user, area, k * unit + done, buf, n) != 0) {
				j->status = DFUMGR_DIGEST_ERROR;
				dev->ops->sha256_finish(dev->user, 0, got);
				return;
			}
			dev->ops->sha256_update(dev->user, 0, buf, n);
		}
		dev->ops->sha256_finish(dev->user, 0, got);
		if (j->compare) {
			bool ok = digest_equal(got, j->digest[j->done]);

			set_verified(dev, j->alt, k, ok);
			if (ok)
				j->match[j->done / 8] |= (uint8_t)(1u << (j->done % 8));
		}
		memcpy(j->digest[j->done], got, 32);
		j->done++;
		budget = budget > unit ? budget - unit : 0;
		if (j->done == j->count)
			j->status = DFUMGR_DIGEST_READY;
	}
}

/* Hashing of any kind in progress (they share SHA-256 context 0). */
static bool hashing(const struct dfu_dev *dev)
{
	return dev->digest.status == DFUMGR_DIGEST_BUSY ||
	       dev->sectors.status == DFUMGR_DIGEST_BUSY ||
	       dev->commit_state == DFUMGR_COMMIT_CHECKING;
}

/* Programs the MCUboot trailer of image's secondary slot: swap_info, image_ok, magic. */
static int write_trailer(struct dfu_dev *dev, unsigned image, bool permanent)
{
	enum dfu_area area = dfu_area_secondary(image);
	uint32_t size = dev->area[area].size, unit = dev->area[area].erase_unit;
	uint32_t cost = 0, start = size - DFUMGR_TRAILER_SWAP_INFO_OFF;
	uint8_t t[DFUMGR_TRAILER_SWAP_INFO_OFF];
	int rc;

	rc = dev->ops->read(dev->user, area, start, t, sizeof(t));
	if (rc != 0)
		return rc;
	if (has_data(t, sizeof(t))) {
		/* no image reaches the trailer region (dfumgr_wire_image_max): safe to erase */
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

static void commit_reject(struct dfu_dev *dev, uint8_t err)
{
	dev->commit_state = DFUMGR_COMMIT_REJECTED;
	dev->last_error = err;
	dev->digest.status = DFUMGR_DIGEST_NONE;
}

static void commit_step(struct dfu_dev *dev, uint32_t budget)
{
	unsigned i = dev->commit_image;

	if (dev->commit_state != DFUMGR_COMMIT_CHECKING)
		return;
	if (dev->digest.status != DFUMGR_DIGEST_BUSY)
		digest_begin(dev, (uint8_t)i, false, dev->commit_len[i], dev->commit_hashed[i]);
	digest_step(dev, budget);
	if (dev->digest.status == DFUMGR_DIGEST_BUSY)
		return;
	if (dev->digest.status != DFUMGR_DIGEST_READY) {
		commit_reject(dev, DFUMGR_DEV_FLASH);
		return;
	}
	/* the image is what MCUboot will check (its own SHA256 TLV) ... */
	if (!digest_equal(dev->digest.prefix_sha256, dev->commit_tlv[i])) {
		commit_reject(dev, DFUMGR_DEV_BAD_IMAGE);
		return;
	}
	/* ... and what the host verified against its signed manifest */
	if (!digest_equal(dev->digest.sha256, dev->commit_sha[i])) {
		commit_reject(dev, i == 0 ? DFUMGR_DEV_DIGEST0 : DFUMGR_DEV_DIGEST1);
		return;
	}
	/* the digest job belonged to the commit; do not leave it looking like a host's */
	dev->digest.status = DFUMGR_DIGEST_NONE;
	if (++dev->commit_image < DFUMGR_N_IMAGES)
		return;
	/*
	 * Both slots hold the images the host expects and that MCUboot will accept: mark image 0,
	 * then image 1. A cut between the two leaves image 0 marked alone, which MCUboot refuses:
	 * commit_begin() accepted the pair only because neither image can be installed without
	 * the other (docs/pair-rule.md, rows C1-C6).
	 */
	for (unsigned k = 0; k < DFUMGR_N_IMAGES; k++) {
		bool perm = dev->commit_flags & DFUMGR_COMMIT_F_PERMANENT;

		if (write_trailer(dev, k, perm) != 0) {
			commit_reject(dev, DFUMGR_DEV_FLASH);
			return;
		}
		dev->slot_state[k] = perm ? DFUMGR_SLOT_CONFIRMED : DFUMGR_SLOT_PENDING;
	}
	dev->commit_state = DFUMGR_COMMIT_DONE;
}

/* ---- the pair rule ---- */

/* An image of a set: valid, its parsed header/TLVs and its own SHA256 TLV. */
struct set_image {
	bool valid;
	struct mcuboot_image_info info;
	uint8_t sha[32];
};

static void load_set_image(struct dfu_dev *dev, enum dfu_area area, struct set_image *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->valid = read_image(dev, area, &ret->info) == MCUBOOT_IMAGE_OK &&
		     dev->ops->read(dev->user, area, ret->info.sha256_off, ret->sha, 32) == 0;
}

/* MCUboot would run image 0 a and image 1 b together: each meets the other's dependencies. */
static bool set_bootable(const struct dfu_dev *dev, const struct set_image *a,
			 const struct set_image *b)
{
	const struct mcuboot_version *v[2] = {
	    a->valid ? &a->info.version : NULL,
	    b->valid ? &b->info.version : NULL,
	};

	return a->valid && b->valid && mcuboot_deps_met(&a->info, v, dev->version_cmp_build) &&
	       mcuboot_deps_met(&b->info, v, dev->version_cmp_build);
}

static bool same_image(const struct set_image *a, const struct set_image *b)
{
	return a->valid && b->valid && digest_equal(a->sha, b->sha);
}

/*
 * The board's pair rule (docs/pair-rule.md): MCUboot must install the new pair as a whole and
 * refuse each half. With every image marked, MCUboot checks the dependencies of the set it
 * would produce and, if one is unmet, swaps nothing at all (boot_verify_dependencies()). So a
 * half, {new image 0, running image 1} or {running image 0, new image 1}, must fail that check
 * unless it is the old or the new pair itself (an image that is not changing). The same two
 * sets are what a revert of one image alone would produce, so this also covers the confirm.
 */
static uint8_t pair_rule(struct dfu_dev *dev, const struct set_image sec[2],
			 const struct set_image pri[2])
{
	if (!set_bootable(dev, &sec[0], &sec[1]))
		return DFUMGR_DEV_PAIR;
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
		if (pri[i].valid && !same_image(&sec[i], &pri[i]) &&
		    mcuboot_version_cmp(&sec[i].info.version, &pri[i].info.version,
					dev->version_cmp_build) == 0)
			return DFUMGR_DEV_SAME_VERSION;
	if (same_image(&sec[0], &pri[0]) || same_image(&sec[1], &pri[1]))
		return DFUMGR_DEV_OK;
	if (set_bootable(dev, &sec[0], &pri[1]) || set_bootable(dev, &pri[0], &sec[1]))
		return DFUMGR_DEV_DIVISIBLE;
	return DFUMGR_DEV_OK;
}

/* Sectors swap-move moves for image i: those of the larger of its old and new image. */
static uint32_t swap_sectors(const struct dfu_dev *dev, unsigned i, const struct set_image *sec,
			     const struct set_image *pri)
{
	uint32_t unit = dev->area[dfu_area_primary(i)].erase_unit;
	uint32_t size = sec->info.extent;

	if (pri->valid && pri->info.extent > size)
		size = pri->info.extent;
	return (size + unit - 1) / unit;
}

/*
 * MCUboot 1.10 (Zephyr 3.4's) reads a swapped image's primary header with the swap status of
 * the last image it handled: when image 1's swap is the shorter, image 0's header comes from
 * the wrong slot, the validation fails and MCUboot halts, after the swap and again after the
 * revert (mcu-tools/mcuboot#1768, fixed in MCUboot 2.1). docs/pair-rule.md.
 */
static bool swap_sizes_ok(const struct dfu_dev *dev, const struct set_image sec[2],
			  const struct set_image pri[2])
{
	return swap_sectors(dev, 1, &sec[1], &pri[1]) >= swap_sectors(dev, 0, &sec[0], &pri[0]);
}

/*
 * COMMIT's checks that need no hashing. Each slot must hold a whole MCUboot image that fits the
 * slot, written in this DFU session (a slot that merely holds bytes from before a reset never
 * counts), with the extent the host names; and the pair must satisfy the pair rule.
 */
static uint8_t commit_begin(struct dfu_dev *dev, const uint8_t *data)
{
	struct set_image sec[DFUMGR_N_IMAGES], pri[DFUMGR_N_IMAGES];
	uint8_t err;

	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		const uint8_t *p = data + DFUMGR_COMMIT_IMAGES + i * DFUMGR_COMMIT_IMAGE_LEN;

		load_set_image(dev, dfu_area_secondary(i), &sec[i]);
		load_set_image(dev, dfu_area_primary(i), &pri[i]);
		if (!sec[i].valid) {
			uint8_t hdr[MCUBOOT_IMAGE_HDR_SIZE];
			uint32_t end = slot_has_header(dev, dfu_area_secondary(i), hdr)
					   ? mcuboot_image_hashed_end(hdr)
					   : 0;

			/* cut short (the header declares more), or not an image at all */
			return !dev->written[i] || (end && dev->written[i] < end + 4)
				   ? DFUMGR_DEV_NOT_WRITTEN
				   : DFUMGR_DEV_BAD_IMAGE;
		}
		if (sec[i].info.extent > dfu_dev_image_max(dev, i))
			return DFUMGR_DEV_BAD_IMAGE;
		if (dev->written[i] < sec[i].info.extent)
			return DFUMGR_DEV_NOT_WRITTEN;
		if (get32(p + DFUMGR_COMMIT_IMG_LENGTH) != sec[i].info.extent)
			return DFUMGR_DEV_EXTENT;
		dev->commit_len[i] = sec[i].info.extent;
		dev->commit_hashed[i] = sec[i].info.hashed;
		memcpy(dev->commit_sha[i], p + DFUMGR_COMMIT_IMG_SHA256, 32);
		memcpy(dev->commit_tlv[i], sec[i].sha, 32);
	}
	err = pair_rule(dev, sec, pri);
	if (err == DFUMGR_DEV_OK && dev->mcuboot_1768 && !swap_sizes_ok(dev, sec, pri))
		err = DFUMGR_DEV_SWAP_SIZES;
	if (err != DFUMGR_DEV_OK)
		return err;
	dev->commit_flags = data[DFUMGR_COMMIT_FLAGS];
	dev->commit_image = 0;
	dev->commit_state = DFUMGR_COMMIT_CHECKING;
	dev->digest.status = DFUMGR_DIGEST_NONE;
	dev->sectors.status = DFUMGR_DIGEST_NONE;
	return DFUMGR_DEV_OK;
}

/* ---- the application's confirm ---- */

int dfu_dev_confirm(struct dfu_dev *dev)
{
	struct set_image pri[DFUMGR_N_IMAGES];

	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		load_set_image(dev, dfu_area_primary(i), &pri[i]);
		if (!pri[i].valid)
			return DFU_CONFIRM_NO_IMAGE;
	}
	if (!set_bootable(dev, &pri[0], &pri[1]))
		return DFU_CONFIRM_MISMATCH;
	/*
	 * Image 0 first. Confirmed alone, it leaves image 1 to revert at the next boot, and
	 * MCUboot then checks running image 0's dependency against the image 1 the revert would
	 * bring back: with dfu-mgr's mutual dependencies it is unmet, so nothing reverts and this
	 * function confirms image 1 at that boot. (Image 1 first is refused the same way, by
	 * image 1's own dependency; image 0 first also holds for image pairs that carry only
	 * image 0's dependency on image 1.) docs/pair-rule.md, rows B1-B4.
	 */
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		enum dfu_area area = dfu_area_primary(i);
		uint8_t row[8];
		struct trailer t;
		uint32_t cost = 0;
		int rc = read_trailer(dev, area, &t);

		if (rc != 0)
			return rc;
		/* bootutil's boot_set_confirmed_multi(): no magic, nothing to confirm */
		if (t.magic_unset)
			continue;
		if (!t.magic)
			return DFU_CONFIRM_BAD_MAGIC;
		if (t.image_ok != 0xff) /* set, or not erased: MCUboot counts both as confirmed */
			continue;
		memset(row, 0xff, sizeof(row));
		row[0] = DFUMGR_BOOT_FLAG_SET;
		rc = dev->ops->program(dev->user, area,
				       dev->area[area].size - DFUMGR_TRAILER_IMAGE_OK_OFF, row,
				       sizeof(row), &cost);
		if (rc != 0)
			return rc;
	}
	return DFU_CONFIRM_DONE;
}

/* ---- GET_INFO ---- */

static int get_info(struct dfu_dev *dev, uint8_t *data, uint16_t wLength)
{
	uint16_t caps = DFUMGR_CAP_UPLOAD | DFUMGR_CAP_VERSION_BUILD | DFUMGR_CAP_SECTOR_DIGESTS;

	if (wLength < DFUMGR_INFO_LEN)
		return DFU_DEV_STALL;
	/* a host polling for a commit drives it */
	commit_step(dev, 16 * DFU_DIGEST_STEP);
	if (dev->no_upload)
		caps &= (uint16_t)~DFUMGR_CAP_UPLOAD;
	if (dev->legacy_download)
		caps &= (uint16_t)~DFUMGR_CAP_SECTOR_DIGESTS;
	if (!dev->version_cmp_build)
		caps &= (uint16_t)~DFUMGR_CAP_VERSION_BUILD;
	memset(data, 0, DFUMGR_INFO_LEN);
	data[DFUMGR_INFO_PROTO] = DFUMGR_PROTO_VERSION;
	data[DFUMGR_INFO_N_IMAGES] = DFUMGR_N_IMAGES;
	data[DFUMGR_INFO_LAST_ERROR] = dev->last_error;
	data[DFUMGR_INFO_COMMIT_STATE] = dev->commit_state;
	memcpy(data + DFUMGR_INFO_SERIAL, dev->serial, strlen(dev->serial));
	memcpy(data + DFUMGR_INFO_PRODUCT, dev->product, strlen(dev->product));
	put16(data + DFUMGR_INFO_HW_REV, dev->hw_revision);
	put16(data + DFUMGR_INFO_CAPS, caps);
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		uint8_t *p = data + DFUMGR_INFO_IMAGES + i * DFUMGR_INFO_IMAGE_LEN;
		enum dfu_area sec = dfu_area_secondary(i);
		struct mcuboot_image_info img;
		struct trailer t;
		uint8_t flags = 0, hdr[32];

		p[DFUMGR_INFO_IMG_SLOT_STATE] = dev->slot_state[i];
		if (slot_has_header(dev, dfu_area_primary(i), hdr)) {
			flags |= DFUMGR_INFO_F_PRIMARY_VALID;
			memcpy(p + DFUMGR_INFO_IMG_VERSION, hdr + 20, 8);
			if (read_image(dev, dfu_area_primary(i), &img) == MCUBOOT_IMAGE_OK &&
			    img.has_sec_cnt) {
				flags |= DFUMGR_INFO_F_HAS_SEC_CNT;
				put32(p + DFUMGR_INFO_IMG_SEC_CNT, img.sec_cnt);
			}
			/* no trailer (flashed, not swapped) counts as confirmed, as for MCUboot */
			if (read_trailer(dev, dfu_area_primary(i), &t) == 0 &&
			    (t.magic_unset || t.image_ok == DFUMGR_BOOT_FLAG_SET))
				flags |= DFUMGR_INFO_F_PRIMARY_CONFIRMED;
		}
		if (dev->whole[i])
			flags |= DFUMGR_INFO_F_SECONDARY_WHOLE;
		p[DFUMGR_INFO_IMG_FLAGS] = flags;
		put32(p + DFUMGR_INFO_IMG_SLOT_SIZE, dev->area[sec].size);
		put32(p + DFUMGR_INFO_IMG_ERASE_UNIT, dev->area[sec].erase_unit);
		put32(p + DFUMGR_INFO_IMG_WRITTEN, dev->written[i]);
		put32(p + DFUMGR_INFO_IMG_UPLOADABLE, uploadable(dev, i));
		put32(p + DFUMGR_INFO_IMG_MAX_IMAGE, dfu_dev_image_max(dev, i));
		if (read_image(dev, sec, &img) == MCUBOOT_IMAGE_OK)
			put32(p + DFUMGR_INFO_IMG_SEC_EXTENT, img.extent);
		put16(p + DFUMGR_INFO_IMG_VERIFIED, dev->n_verified[i]);
		put32(p + DFUMGR_INFO_IMG_FLASH_ERROR, dev->flash_error[i]);
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

/*
 * SECTOR_DIGESTS (wire.h). OUT: the host's digests of a page; the board hashes its sectors and
 * marks those that match as written in this session. IN: the page as hashed, or busy; an IN for
 * a page no OUT asked about starts a read-only listing of it.
 */
static int sector_digests(struct dfu_dev *dev, const struct dfu_setup *s, uint8_t *data)
{
	struct dfu_sector_job *j = &dev->sectors;
	uint8_t alt = (uint8_t)s->wValue, page = (uint8_t)(s->wValue >> 8);
	uint32_t first = (uint32_t)page * DFUMGR_SECTORS_PER_PAGE, n;
	bool in = s->bmRequestType == REQ_TYPE_VENDOR_IN;

	if (dev->legacy_download)
		return reject(dev, DFUMGR_DEV_BAD_REQUEST);
	if (alt >= DFUMGR_N_IMAGES)
		return reject(dev, DFUMGR_DEV_BAD_ALT);
	if (first >= digest_sectors(dev, alt))
		return reject(dev, DFUMGR_DEV_BAD_LENGTH);
	n = digest_sectors(dev, alt) - first;
	if (n > DFUMGR_SECTORS_PER_PAGE)
		n = DFUMGR_SECTORS_PER_PAGE;
	if (!in) {
		uint16_t count;

		/* counting as written is a matter of this DFU session: DFU mode only */
		if (!dev->dfu_mode)
			return reject(dev, DFUMGR_DEV_STATE);
		if (!transfer_idle(dev) || hashing(dev))
			return reject(dev, DFUMGR_DEV_BUSY);
		if (s->wLength < DFUMGR_SECTORS_OUT_HEAD_LEN)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		if (data[DFUMGR_SECTORS_OUT_PROTO] != DFUMGR_PROTO_VERSION)
			return reject(dev, DFUMGR_DEV_BAD_VERSION);
		count = (uint16_t)(data[DFUMGR_SECTORS_OUT_COUNT] |
				   data[DFUMGR_SECTORS_OUT_COUNT + 1] << 8);
		if (count == 0 || count > n ||
		    s->wLength != DFUMGR_SECTORS_OUT_HEAD_LEN + (uint32_t)count * 32)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		if (flash_busy(dev))
			return DFU_DEV_WAIT;
		sectors_begin(dev, alt, page, count, data + DFUMGR_SECTORS_OUT_DIGESTS);
		/* the next download of this alt may skip the sectors that match */
		dev->sparse[alt] = true;
		dev->last_error = DFUMGR_DEV_OK;
		return 0;
	}
	if (s->wLength < DFUMGR_SECTORS_HEAD_LEN + n * 32)
		return reject(dev, DFUMGR_DEV_BAD_LENGTH);
	if (j->status == DFUMGR_DIGEST_NONE || j->alt != alt || j->page != page) {
		/* read-only, so runtime mode may list them too */
		if ((dev->dfu_mode && !transfer_idle(dev)) || hashing(dev))
			return reject(dev, DFUMGR_DEV_BUSY);
		if (flash_busy(dev))
			return DFU_DEV_WAIT;
		sectors_begin(dev, alt, page, (uint16_t)n, NULL);
	}
	/* a host polling for the page drives the hashing */
	sectors_step(dev, 16 * DFU_DIGEST_STEP);
	memset(data, 0, DFUMGR_SECTORS_HEAD_LEN);
	data[DFUMGR_SECTORS_PROTO] = DFUMGR_PROTO_VERSION;
	data[DFUMGR_SECTORS_STATUS] = j->status;
	data[DFUMGR_SECTORS_ALT] = alt;
	data[DFUMGR_SECTORS_PAGE] = page;
	put16(data + DFUMGR_SECTORS_FIRST, j->first);
	put16(data + DFUMGR_SECTORS_COUNT, j->count);
	if (j->status != DFUMGR_DIGEST_READY)
		return DFUMGR_SECTORS_HEAD_LEN;
	memcpy(data + DFUMGR_SECTORS_MATCH, j->match, sizeof(j->match));
	memcpy(data + DFUMGR_SECTORS_DIGESTS, j->digest, (size_t)j->count * 32);
	dev->last_error = DFUMGR_DEV_OK;
	return DFUMGR_SECTORS_HEAD_LEN + j->count * 32;
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
		    dev->commit_state == DFUMGR_COMMIT_CHECKING ||
		    dev->sectors.status == DFUMGR_DIGEST_BUSY)
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
		if (flash_busy(dev))
			return DFU_DEV_WAIT;
		digest_begin(dev, alt, primary, len, 0);
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
	case DFUMGR_REQ_COMMIT: {
		uint8_t err;

		if (in)
			return reject(dev, DFUMGR_DEV_BAD_REQUEST);
		if (!dev->dfu_mode || !transfer_idle(dev) || hashing(dev))
			return reject(dev, DFUMGR_DEV_BUSY);
		if (flash_busy(dev))
			return DFU_DEV_WAIT;
		if (s->wLength != DFUMGR_COMMIT_LEN)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		if (data[DFUMGR_COMMIT_PROTO] != DFUMGR_PROTO_VERSION)
			return reject(dev, DFUMGR_DEV_BAD_VERSION);
		if (data[DFUMGR_COMMIT_N_IMAGES] != DFUMGR_N_IMAGES)
			return reject(dev, DFUMGR_DEV_BAD_LENGTH);
		err = commit_begin(dev, data);
		if (err != DFUMGR_DEV_OK) {
			/* a refused commit leaves the marks as they were (none, or the last pair)
			 */
			return reject(dev, err);
		}
		dev->last_error = DFUMGR_DEV_OK;
		return 0;
	}
	case DFUMGR_REQ_SECTOR_DIGESTS:
		return sector_digests(dev, s, data);
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
	if (downloading(dev))
		end_download(dev);
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
	retire_jobs(dev, now_us);
	/* §5.1: no reset before wDetachTimeOut: back to appIDLE */
	if (dev->state == DFU_STATE_APP_DETACH && now_us >= dev->detach_deadline_us)
		dev->state = DFU_STATE_APP_IDLE;
	if (!budget)
		return;
	if (dev->commit_state == DFUMGR_COMMIT_CHECKING)
		commit_step(dev, budget);
	else if (dev->sectors.status == DFUMGR_DIGEST_BUSY)
		sectors_step(dev, budget);
	else
		digest_step(dev, budget);
}
