/* SPDX-License-Identifier: MIT */
/*
 * The shim's core (firmware/core/dfu_dev.c) driven request by request: every DFU 1.1 state and
 * status it can reach, and the vendor requests, over a RAM flash with fault knobs.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "dfu_dev.h"
#include "dfumgr/crypto.h"
#include "dfumgr/image.h"

struct ram {
	uint8_t *mem[DFU_AREA_COUNT];
	uint32_t size[DFU_AREA_COUNT];
	uint32_t erase_cost_us, program_cost_us; /* per call */
	int fail_erase, fail_program;            /* 1: next call fails */
	bool corrupt_program;                    /* program a flipped bit (bad cell) */
	bool stuck_erase;                        /* erase leaves byte 0 of the unit at 0xfe */
	bool fail_read;
	int fail_program_after; /* >0: that many programs succeed, then fail */
	struct dfumgr_sha256 *h[DFU_SHA_CONTEXTS];
	int detached, rebooted, erases;
	int works; /* ops->work calls (the async variant's "wake the flash thread") */
	/* called inside program, as a platform that releases its lock there lets requests in */
	void (*during_program)(void *ctx);
	void *during_ctx;
};

static int ram_erase(void *u, enum dfu_area a, uint32_t off, uint32_t len, uint32_t *cost)
{
	struct ram *r = u;

	if (r->fail_erase) {
		r->fail_erase = 0;
		return DFU_FLASH_ERASE_FAILED;
	}
	assert_true(off + len <= r->size[a]);
	memset(r->mem[a] + off, 0xff, len);
	if (r->stuck_erase)
		r->mem[a][off] = 0xfe;
	*cost += r->erase_cost_us;
	r->erases++;
	return 0;
}

static int ram_program(void *u, enum dfu_area a, uint32_t off, const uint8_t *d, uint32_t len,
		       uint32_t *cost)
{
	struct ram *r = u;

	if (r->fail_program || (r->fail_program_after && --r->fail_program_after == 0)) {
		r->fail_program = 0;
		return DFU_FLASH_PROGRAM_FAILED;
	}
	assert_true(off + len <= r->size[a]);
	if (r->during_program)
		r->during_program(r->during_ctx);
	for (uint32_t i = 0; i < len; i++)
		r->mem[a][off + i] &= d[i]; /* NOR: program only clears bits */
	if (r->corrupt_program)
		r->mem[a][off] ^= 0x01;
	*cost += r->program_cost_us;
	return 0;
}

static int ram_read(void *u, enum dfu_area a, uint32_t off, uint8_t *d, uint32_t len)
{
	struct ram *r = u;

	if (off + len > r->size[a])
		return DFU_FLASH_RANGE;
	if (r->fail_read)
		return DFU_FLASH_READ_FAILED;
	memcpy(d, r->mem[a] + off, len);
	return 0;
}

static void ram_sha_start(void *u, unsigned ctx)
{
	struct ram *r = u;

	dfumgr_sha256_reset(r->h[ctx]);
}

static void ram_sha_update(void *u, unsigned ctx, const uint8_t *d, uint32_t len)
{
	dfumgr_sha256_update(((struct ram *)u)->h[ctx], d, len);
}

static void ram_sha_finish(void *u, unsigned ctx, uint8_t out[32])
{
	dfumgr_sha256_final(((struct ram *)u)->h[ctx], out);
}

static void ram_detach(void *u)
{
	((struct ram *)u)->detached++;
}

static void ram_reboot(void *u)
{
	((struct ram *)u)->rebooted++;
}

static const struct dfu_dev_ops ops = {
    .erase = ram_erase,
    .program = ram_program,
    .read = ram_read,
    .sha256_start = ram_sha_start,
    .sha256_update = ram_sha_update,
    .sha256_finish = ram_sha_finish,
    .detach = ram_detach,
    .reboot = ram_reboot,
};

/* Small slots keep the tests fast: 64 KiB each, 4 KiB sectors. */
#define SLOT 0x10000u
static const struct dfu_area_info areas[DFU_AREA_COUNT] = {
    {SLOT, 4096}, {SLOT, 4096}, {SLOT, 4096}, {SLOT, 4096}};
static const struct dfu_dev_config cfg = {
    .areas = areas,
    .serial = "EMU-0001",
    .product = "xip-app",
    .hw_revision = 3,
    .version_cmp_build = true,
    .mcuboot_1768 = true,
};

struct fx {
	struct ram ram;
	struct dfu_dev dev;
	uint64_t now;
	uint8_t buf[DFUMGR_TRANSFER_SIZE];
};

static struct fx *fx_new(bool dfu_mode)
{
	struct fx *f = calloc(1, sizeof(*f));

	for (int a = 0; a < DFU_AREA_COUNT; a++) {
		f->ram.size[a] = SLOT;
		f->ram.mem[a] = malloc(SLOT);
		memset(f->ram.mem[a], 0xff, SLOT);
	}
	for (int i = 0; i < DFU_SHA_CONTEXTS; i++)
		f->ram.h[i] = dfumgr_sha256_new();
	dfu_dev_init(&f->dev, &ops, &f->ram, dfu_mode, &cfg);
	return f;
}

static void fx_free(struct fx *f)
{
	for (int a = 0; a < DFU_AREA_COUNT; a++)
		free(f->ram.mem[a]);
	for (int i = 0; i < DFU_SHA_CONTEXTS; i++)
		dfumgr_sha256_free(f->ram.h[i]);
	free(f);
}

static int req(struct fx *f, uint8_t type, uint8_t r, uint16_t value, uint16_t len)
{
	struct dfu_setup s = {type, r, value, 0, len};

	return dfu_dev_control(&f->dev, &s, f->buf, f->now);
}

/* GETSTATUS; returns bState, fills status and poll timeout */
static uint8_t getstatus(struct fx *f, uint8_t *status, uint32_t *poll_ms)
{
	assert_int_equal(req(f, 0xa1, DFU_GETSTATUS, 0, 6), 6);
	if (status)
		*status = f->buf[0];
	if (poll_ms)
		*poll_ms = f->buf[1] | f->buf[2] << 8 | (uint32_t)f->buf[3] << 16;
	return f->buf[4];
}

static void expect_state(struct fx *f, uint8_t state, uint8_t status)
{
	uint8_t st;

	assert_int_equal(getstatus(f, &st, NULL), state);
	assert_int_equal(st, status);
}

/* One DFU download block, waiting out bwPollTimeout as a host does. */
static void dnload_block(struct fx *f, uint16_t block, const uint8_t *data, uint16_t len)
{
	uint32_t poll = 0;
	uint8_t st;

	memcpy(f->buf, data, len);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block, len), 0);
	st = getstatus(f, NULL, &poll);
	assert_int_equal(st, poll ? DFU_STATE_DNBUSY : DFU_STATE_DNLOAD_IDLE);
	if (st == DFU_STATE_DNBUSY) {
		f->now += (uint64_t)poll * 1000;
		expect_state(f, DFU_STATE_DNLOAD_IDLE, DFU_STATUS_OK);
	}
}

static uint8_t *pattern(size_t n, uint8_t seed)
{
	uint8_t *p = malloc(n);
	uint32_t x = seed;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

/* A complete download of data to alt, ending in dfuIDLE. */
static void download(struct fx *f, uint8_t alt, const uint8_t *data, size_t n)
{
	uint16_t block = 0;

	assert_int_equal(dfu_dev_set_alt(&f->dev, alt), 0);
	for (size_t off = 0; off < n; off += DFUMGR_TRANSFER_SIZE) {
		size_t len = n - off < DFUMGR_TRANSFER_SIZE ? n - off : DFUMGR_TRANSFER_SIZE;

		dnload_block(f, block++, data + off, (uint16_t)len);
	}
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block, 0), 0);
	/* manifestation tolerant, and the last block is in flash: dfuIDLE at once (§A.1) */
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
}

/* A fake MCUboot image of n bytes (header magic + version) so slots count as written. */
/* A real (unsigned) MCUboot image of exactly n bytes, version major.3.0+4. */
static uint8_t *fake_image(size_t n, uint8_t seed, uint8_t major)
{
	struct dfumgr_image_build_opts o = {.header_size = 0x200, .pad_header = true};
	uint8_t *payload = pattern(n - 0x200 - 0x28, seed), *img = NULL;
	size_t size = 0;

	o.version = (struct dfumgr_image_version){major, 3, 0, 4};
	assert_int_equal(dfumgr_image_build(NULL, payload, n - 0x200 - 0x28, &o, &img, &size), 0);
	assert_int_equal(size, n);
	free(payload);
	return img;
}

static void test_runtime_mode(void **state)
{
	struct fx *f = fx_new(false);

	(void)state;
	expect_state(f, DFU_STATE_APP_IDLE, DFU_STATUS_OK);
	assert_int_equal(req(f, 0xa1, DFU_GETSTATE, 0, 1), 1);
	assert_int_equal(f->buf[0], DFU_STATE_APP_IDLE);
	/* §5.1: only DETACH, GETSTATUS, GETSTATE; others stall without leaving appIDLE */
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 16), DFU_DEV_STALL);
	assert_int_equal(req(f, 0xa1, DFU_UPLOAD, 0, 16), DFU_DEV_STALL);
	assert_int_equal(req(f, 0x21, DFU_CLRSTATUS, 0, 0), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_APP_IDLE, DFU_STATUS_OK);
	assert_int_equal(dfu_dev_set_alt(&f->dev, 0), DFU_DEV_STALL);
	/* DETACH: appDETACH, the platform is told to re-enumerate in DFU mode */
	assert_int_equal(req(f, 0x21, DFU_DETACH, 1000, 0), 0);
	assert_int_equal(f->ram.detached, 1);
	expect_state(f, DFU_STATE_APP_DETACH, DFU_STATUS_OK);
	/* a second DETACH in appDETACH is not valid */
	assert_int_equal(req(f, 0x21, DFU_DETACH, 1000, 0), DFU_DEV_STALL);
	/* no reset within wDetachTimeOut: back to appIDLE */
	f->now += 999000;
	expect_state(f, DFU_STATE_APP_DETACH, DFU_STATUS_OK);
	f->now += 2000;
	expect_state(f, DFU_STATE_APP_IDLE, DFU_STATUS_OK);
	/* GET_INFO works in runtime mode (for `dfu-mgr list`) */
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, DFUMGR_INFO_LEN), DFUMGR_INFO_LEN);
	/* a commit needs DFU mode; hashing a slot is read-only and allowed */
	memset(f->buf, 0, DFUMGR_COMMIT_LEN);
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_COMMIT, 0, DFUMGR_COMMIT_LEN), DFU_DEV_STALL);
	{
		uint8_t want[32], got[32];

		memset(f->ram.mem[DFU_AREA_IMG1_PRIMARY], 0x5a, 100);
		dfumgr_sha256(f->ram.mem[DFU_AREA_IMG1_PRIMARY], 100, want);
		f->buf[0] = 100, f->buf[1] = 0, f->buf[2] = 0, f->buf[3] = 0;
		assert_int_equal(
		    req(f, 0x41, DFUMGR_REQ_DIGEST_START, 1 | DFUMGR_DIGEST_PRIMARY, 4), 0);
		assert_int_equal(req(f, 0xc1, DFUMGR_REQ_DIGEST_GET, 1 | DFUMGR_DIGEST_PRIMARY, 40),
				 40);
		assert_int_equal(f->buf[DFUMGR_DIGEST_STATUS], DFUMGR_DIGEST_READY);
		memcpy(got, f->buf + DFUMGR_DIGEST_SHA256, 32);
		assert_memory_equal(got, want, 32);
		/* the secondary's digest is another job: none started */
		assert_int_equal(req(f, 0xc1, DFUMGR_REQ_DIGEST_GET, 1, 40), 40);
		assert_int_equal(f->buf[DFUMGR_DIGEST_STATUS], DFUMGR_DIGEST_NONE);
	}
	fx_free(f);
}

static void test_download_states_poll_timeout_and_upload(void **state)
{
	struct fx *f = fx_new(true);
	size_t n = 3 * DFUMGR_TRANSFER_SIZE + 100;
	uint8_t *data = pattern(n, 7);
	uint32_t poll;
	uint16_t block = 0;

	(void)state;
	f->ram.erase_cost_us = 87500; /* nRF5340 page erase */
	f->ram.program_cost_us = 44032;
	/* sectors that hold data are erased (blank ones are not: test_blank_sectors) */
	memset(f->ram.mem[DFU_AREA_IMG1_SECONDARY], 0x00, 4 * 4096);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), 0);
	/*
	 * First block: its flash work starts as it arrives (erase + program = 131.532 ms; the
	 * trailer sectors are blank, so clearing the pending marks costs nothing: see
	 * test_download_clears_marks for the cost when they are not). The other buffer is free:
	 * dfuDNLOAD-IDLE at once, and the host sends block 1 while block 0 is being programmed.
	 */
	memcpy(f->buf, data, DFUMGR_TRANSFER_SIZE);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block++, DFUMGR_TRANSFER_SIZE), 0);
	assert_int_equal(f->dev.state, DFU_STATE_DNLOAD_SYNC);
	assert_int_equal(req(f, 0xa1, DFU_GETSTATE, 0, 1), 1);
	assert_int_equal(f->buf[0], DFU_STATE_DNLOAD_SYNC);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNLOAD_IDLE);
	assert_int_equal(poll, 0);
	assert_int_equal(dfu_dev_blocks_pending(&f->dev), 1);
	/* block 1: both buffers full, busy until block 0 is done: 131.532 ms -> 132 (up) */
	memcpy(f->buf, data + DFUMGR_TRANSFER_SIZE, DFUMGR_TRANSFER_SIZE);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block++, DFUMGR_TRANSFER_SIZE), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
	assert_int_equal(poll, 132);
	/* dfuDNBUSY: only GETSTATUS (and, early, the same answer with the time still needed) */
	f->now += 100000;
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
	assert_int_equal(poll, 32);
	f->now += 32000;
	expect_state(f, DFU_STATE_DNLOAD_IDLE, DFU_STATUS_OK);
	/* block 2 is queued behind block 1 (which started at 131.532 ms, ends at 263.064) */
	memcpy(f->buf, data + 2 * DFUMGR_TRANSFER_SIZE, DFUMGR_TRANSFER_SIZE);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block++, DFUMGR_TRANSFER_SIZE), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
	assert_int_equal(poll, 132);
	f->now += (uint64_t)poll * 1000;
	expect_state(f, DFU_STATE_DNLOAD_IDLE, DFU_STATUS_OK);
	/*
	 * The last, short block ends the download: it is answered only when every block is in
	 * flash (block 2 ends at 394.596 ms, block 3 at 526.128 ms: 263 ms from 264 ms), so the
	 * zero-length DNLOAD finds all of it there.
	 */
	memcpy(f->buf, data + 3 * DFUMGR_TRANSFER_SIZE, 100);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block++, 100), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
	assert_int_equal(poll, 263);
	f->now += (uint64_t)poll * 1000;
	expect_state(f, DFU_STATE_DNLOAD_IDLE, DFU_STATUS_OK);
	assert_int_equal(dfu_dev_blocks_pending(&f->dev), 0);
	/* 527 ms in all for 526.128 ms of flash work: the flash never waited for USB */
	assert_int_equal(f->now, 527000);
	/* zero-length DNLOAD: dfuMANIFEST-SYNC -> dfuIDLE (tolerant, and complete, §A.1) */
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block, 0), 0);
	assert_int_equal(f->dev.state, DFU_STATE_MANIFEST_SYNC);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], data, n);
	assert_int_equal(f->dev.written[1], n);
	/* UPLOAD returns exactly what was written; the short frame ends it in dfuIDLE */
	{
		uint8_t *back = malloc(n);
		size_t got = 0;
		int r;

		while ((r = req(f, 0xa1, DFU_UPLOAD, 0, DFUMGR_TRANSFER_SIZE)) ==
		       DFUMGR_TRANSFER_SIZE) {
			memcpy(back + got, f->buf, (size_t)r);
			got += (size_t)r;
			assert_int_equal(f->dev.state, DFU_STATE_UPLOAD_IDLE);
		}
		assert_true(r >= 0);
		memcpy(back + got, f->buf, (size_t)r);
		got += (size_t)r;
		assert_int_equal(got, n);
		assert_memory_equal(back, data, n);
		expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
		free(back);
	}
	/* ABORT from dfuUPLOAD-IDLE */
	assert_int_equal(req(f, 0xa1, DFU_UPLOAD, 0, 16), 16);
	assert_int_equal(f->dev.state, DFU_STATE_UPLOAD_IDLE);
	assert_int_equal(req(f, 0x21, DFU_ABORT, 0, 0), 0);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	free(data);
	fx_free(f);
}

static void test_protocol_errors(void **state)
{
	struct fx *f = fx_new(true);
	uint8_t data[64] = {1, 2, 3};

	(void)state;
	/* zero-length DNLOAD in dfuIDLE */
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 0), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	/* in dfuERROR only GETSTATUS/GETSTATE/CLRSTATUS: ABORT stalls and stays */
	assert_int_equal(req(f, 0x21, DFU_ABORT, 0, 0), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	assert_int_equal(req(f, 0x21, DFU_CLRSTATUS, 0, 0), 0);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	/* CLRSTATUS outside dfuERROR */
	assert_int_equal(req(f, 0x21, DFU_CLRSTATUS, 0, 0), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* DETACH is a runtime request */
	assert_int_equal(req(f, 0x21, DFU_DETACH, 1000, 0), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* wTransferSize exceeded */
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, DFUMGR_TRANSFER_SIZE + 1), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* out-of-sequence block number */
	dfu_dev_set_alt(&f->dev, 0);
	dnload_block(f, 0, data, sizeof(data));
	memcpy(f->buf, data, sizeof(data));
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 5, sizeof(data)), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* a request while dfuDNBUSY (both buffers full: block 0 erasing, block 1 waiting) */
	f->ram.erase_cost_us = 1000;
	memcpy(f->buf, data, sizeof(data));
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, sizeof(data)), 0);
	assert_int_equal(getstatus(f, NULL, NULL), DFU_STATE_DNLOAD_IDLE);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 1, sizeof(data)), 0);
	assert_int_equal(getstatus(f, NULL, NULL), DFU_STATE_DNBUSY);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 2, sizeof(data)), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* a DNLOAD that does not wait for the status of the one before stalls */
	memcpy(f->buf, data, sizeof(data));
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, sizeof(data)), 0);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 1, sizeof(data)), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* GETSTATE in dfuDNBUSY stalls too */
	f->now += 10000;
	memcpy(f->buf, data, sizeof(data));
	req(f, 0x21, DFU_DNLOAD, 0, sizeof(data));
	assert_int_equal(getstatus(f, NULL, NULL), DFU_STATE_DNLOAD_IDLE);
	req(f, 0x21, DFU_DNLOAD, 1, sizeof(data));
	assert_int_equal(getstatus(f, NULL, NULL), DFU_STATE_DNBUSY);
	assert_int_equal(req(f, 0xa1, DFU_GETSTATE, 0, 1), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	f->ram.erase_cost_us = 0;
	/* ABORT from dfuDNLOAD-IDLE */
	dnload_block(f, 0, data, sizeof(data));
	assert_int_equal(req(f, 0x21, DFU_ABORT, 0, 0), 0);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	/* UPLOAD as an OUT request, DNLOAD as IN, an unknown class request */
	assert_int_equal(req(f, 0x21, DFU_UPLOAD, 0, 16), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	assert_int_equal(req(f, 0xa1, 9, 0, 16), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* GETSTATUS with a short buffer */
	assert_int_equal(req(f, 0xa1, DFU_GETSTATUS, 0, 3), DFU_DEV_STALL);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* bad alt; no alt change in the middle of a transfer */
	assert_int_equal(dfu_dev_set_alt(&f->dev, 2), DFU_DEV_STALL);
	dnload_block(f, 0, data, sizeof(data));
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), DFU_DEV_STALL);
	req(f, 0x21, DFU_ABORT, 0, 0);
	/* a standard request is not the core's */
	assert_int_equal(req(f, 0x80, 6, 0x0100, 18), DFU_DEV_STALL);
	fx_free(f);
}

static uint8_t info(struct fx *f, int off);

static void test_flash_errors(void **state)
{
	struct fx *f = fx_new(true);
	uint8_t *data = pattern(SLOT + 4096, 3);

	(void)state;
	dfu_dev_set_alt(&f->dev, 0);
	/* a sector that is not blank is erased (a blank one is not: see test_blank_sectors) */
	memset(f->ram.mem[DFU_AREA_IMG0_SECONDARY], 0x00, 4096);
	/* erase failure -> errERASE */
	f->ram.fail_erase = 1;
	memcpy(f->buf, data, 4096);
	req(f, 0x21, DFU_DNLOAD, 0, 4096);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_ERASE);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* program failure -> errPROG */
	f->ram.fail_program = 1;
	memcpy(f->buf, data, 4096);
	req(f, 0x21, DFU_DNLOAD, 0, 4096);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_PROG);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* a bad cell: programmed, but reads back different -> errVERIFY */
	f->ram.corrupt_program = true;
	memcpy(f->buf, data, 4096);
	req(f, 0x21, DFU_DNLOAD, 0, 4096);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_VERIFY);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	f->ram.corrupt_program = false;
	/* raw data up to the slot's image limit is fine; data in the trailer region is
	 * errADDRESS (only COMMIT writes there), erased-value padding is not */
	{
		uint32_t max = dfu_dev_image_max(&f->dev, 0);
		uint16_t b;

		assert_int_equal(max, SLOT - 5 * 4096);
		for (b = 0; b < max / 4096; b++)
			dnload_block(f, b, data + b * 4096, 4096);
		memcpy(f->buf, data, 4096);
		req(f, 0x21, DFU_DNLOAD, b, 4096);
		expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_ADDRESS);
		assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_TRAILER);
		req(f, 0x21, DFU_CLRSTATUS, 0, 0);
		memset(data + max, 0xff, SLOT - max);
		for (b = 0; b < SLOT / 4096; b++)
			dnload_block(f, b, data + b * 4096, 4096);
		/* ... and the trailer region's sectors were not even erased for it */
		assert_memory_equal(f->ram.mem[DFU_AREA_IMG0_SECONDARY], data, max);
	}
	/* more than the slot -> errADDRESS */
	memset(f->buf, 0xff, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, SLOT / 4096, 4096), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_ADDRESS);
	free(data);
	fx_free(f);
}

static void digest_of(struct fx *f, uint8_t alt, uint32_t len, uint8_t out[32])
{
	f->buf[0] = (uint8_t)len, f->buf[1] = (uint8_t)(len >> 8);
	f->buf[2] = (uint8_t)(len >> 16), f->buf[3] = (uint8_t)(len >> 24);
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_DIGEST_START, alt, 4), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(req(f, 0xc1, DFUMGR_REQ_DIGEST_GET, alt, DFUMGR_DIGEST_LEN),
				 DFUMGR_DIGEST_LEN);
		if (f->buf[DFUMGR_DIGEST_STATUS] != DFUMGR_DIGEST_BUSY)
			break;
	}
	assert_int_equal(f->buf[DFUMGR_DIGEST_STATUS], DFUMGR_DIGEST_READY);
	memcpy(out, f->buf + DFUMGR_DIGEST_SHA256, 32);
}

static uint8_t info(struct fx *f, int off)
{
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, DFUMGR_INFO_LEN), DFUMGR_INFO_LEN);
	return f->buf[off];
}

static int commit(struct fx *f, const uint32_t len[2], const uint8_t sha[2][32], uint8_t flags)
{
	memset(f->buf, 0, DFUMGR_COMMIT_LEN);
	f->buf[DFUMGR_COMMIT_PROTO] = DFUMGR_PROTO_VERSION;
	f->buf[DFUMGR_COMMIT_N_IMAGES] = 2;
	f->buf[DFUMGR_COMMIT_FLAGS] = flags;
	for (int i = 0; i < 2; i++) {
		uint8_t *p = f->buf + DFUMGR_COMMIT_IMAGES + i * DFUMGR_COMMIT_IMAGE_LEN;

		p[0] = (uint8_t)len[i], p[1] = (uint8_t)(len[i] >> 8),
		p[2] = (uint8_t)(len[i] >> 16);
		memcpy(p + 4, sha[i], 32);
	}
	return req(f, 0x41, DFUMGR_REQ_COMMIT, 0, DFUMGR_COMMIT_LEN);
}

static uint8_t commit_wait(struct fx *f)
{
	for (int i = 0; i < 100; i++) {
		uint8_t st = info(f, DFUMGR_INFO_COMMIT_STATE);

		if (st != DFUMGR_COMMIT_CHECKING)
			return st;
	}
	fail_msg("commit never finished");
	return 0;
}

static bool trailer_magic(struct fx *f, enum dfu_area a)
{
	static const uint8_t magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					  0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

	return memcmp(f->ram.mem[a] + SLOT - 16, magic, 16) == 0;
}

static void test_info_digest_commit(void **state)
{
	struct fx *f = fx_new(true);
	uint32_t len[2] = {20000, 41000};
	uint8_t *img0 = fake_image(len[0], 1, 2), *img1 = fake_image(len[1], 2, 2);
	uint8_t sha[2][32], got[32];
	uint8_t running[32];

	(void)state;
	/* a running image 0 of version 1.3.0+4 in the primary slot */
	memcpy(running, img0, 32);
	running[20] = 1;
	memcpy(f->ram.mem[DFU_AREA_IMG0_PRIMARY], running, 32);

	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, DFUMGR_INFO_LEN), DFUMGR_INFO_LEN);
	assert_int_equal(f->buf[DFUMGR_INFO_PROTO], DFUMGR_PROTO_VERSION);
	assert_int_equal(f->buf[DFUMGR_INFO_N_IMAGES], 2);
	assert_string_equal((char *)f->buf + DFUMGR_INFO_SERIAL, "EMU-0001");
	{
		const uint8_t *p0 = f->buf + DFUMGR_INFO_IMAGES;
		const uint8_t *p1 = p0 + DFUMGR_INFO_IMAGE_LEN;

		/* valid, and confirmed: a primary without trailer was not swapped in */
		assert_int_equal(p0[DFUMGR_INFO_IMG_FLAGS],
				 DFUMGR_INFO_F_PRIMARY_VALID | DFUMGR_INFO_F_PRIMARY_CONFIRMED);
		assert_int_equal(p0[DFUMGR_INFO_IMG_VERSION], 1); /* major of the running image */
		assert_int_equal(p0[DFUMGR_INFO_IMG_VERSION + 4], 4);
		assert_int_equal(p1[DFUMGR_INFO_IMG_FLAGS], 0); /* no image 1 running */
		assert_int_equal(p0[DFUMGR_INFO_IMG_SLOT_STATE], DFUMGR_SLOT_EMPTY);
		assert_int_equal(p0[DFUMGR_INFO_IMG_SLOT_SIZE + 2], SLOT >> 16);
		assert_int_equal(p0[DFUMGR_INFO_IMG_ERASE_UNIT + 1], 4096 >> 8);
	}
	/* committing before anything was written is refused, with the reason readable */
	dfumgr_sha256(img0, len[0], sha[0]);
	dfumgr_sha256(img1, len[1], sha[1]);
	assert_int_equal(commit(f, len, sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);

	download(f, 0, img0, len[0]);
	download(f, 1, img1, len[1]);
	assert_int_equal(f->dev.slot_state[0], DFUMGR_SLOT_WRITTEN);

	/* digests are of what is in flash */
	digest_of(f, 0, 0, got); /* 0: what was written */
	assert_memory_equal(got, sha[0], 32);
	digest_of(f, 1, len[1], got);
	assert_memory_equal(got, sha[1], 32);
	f->ram.mem[DFU_AREA_IMG1_SECONDARY][12345] ^= 0x80; /* flash changes behind the core */
	digest_of(f, 1, len[1], got);
	assert_memory_not_equal(got, sha[1], 32);
	f->ram.mem[DFU_AREA_IMG1_SECONDARY][12345] ^= 0x80;
	/* DIGEST_GET for the other alt: none started */
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_DIGEST_GET, 0, DFUMGR_DIGEST_LEN),
			 DFUMGR_DIGEST_LEN);
	assert_int_equal(f->buf[DFUMGR_DIGEST_STATUS], DFUMGR_DIGEST_NONE);
	/* DIGEST_START errors */
	memset(f->buf, 0, 4);
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_DIGEST_START, 2, 4), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_ALT);
	f->buf[0] = 0, f->buf[1] = 0, f->buf[2] = 0x10, f->buf[3] = 0; /* 1 MiB > slot */
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_DIGEST_START, 0, 4), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_LENGTH);

	/* a wrong expected digest for image 1: rejected, NEITHER image marked */
	{
		uint8_t bad[2][32];

		memcpy(bad, sha, sizeof(bad));
		bad[1][0] ^= 1;
		assert_int_equal(commit(f, len, bad, 0), 0);
		assert_int_equal(commit_wait(f), DFUMGR_COMMIT_REJECTED);
		assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_DIGEST1);
		assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
		assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
		bad[1][0] ^= 1;
		bad[0][31] ^= 1;
		assert_int_equal(commit(f, len, bad, 0), 0);
		assert_int_equal(commit_wait(f), DFUMGR_COMMIT_REJECTED);
		assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_DIGEST0);
		assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
		assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	}
	/* bad COMMIT requests */
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_COMMIT, 0, 10), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_LENGTH);
	{
		/* the lengths must be the images' own: the board reads them from the headers */
		uint32_t huge[2] = {SLOT, 1};

		assert_int_equal(commit(f, huge, sha, 0), DFU_DEV_STALL);
		assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_EXTENT);
		huge[0] = len[0];
		huge[1] = len[1] - 1;
		assert_int_equal(commit(f, huge, sha, 0), DFU_DEV_STALL);
		assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_EXTENT);
	}
	memset(f->buf, 0, DFUMGR_COMMIT_LEN);
	f->buf[0] = 9;
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_COMMIT, 0, DFUMGR_COMMIT_LEN), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_VERSION);

	/* the right digests: both marked for a test swap */
	assert_int_equal(commit(f, len, sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_DONE);
	for (int i = 0; i < 2; i++) {
		enum dfu_area a = dfu_area_secondary(i);

		assert_true(trailer_magic(f, a));
		assert_int_equal(f->ram.mem[a][SLOT - 40], (i << 4) | DFUMGR_SWAP_TYPE_TEST);
		assert_int_equal(f->ram.mem[a][SLOT - 24], 0xff); /* not confirmed */
		assert_int_equal(f->dev.slot_state[i], DFUMGR_SLOT_PENDING);
	}
	/* state survives a power cycle: a new core reads it back from flash */
	dfu_dev_init(&f->dev, &ops, &f->ram, true, &cfg);
	assert_int_equal(f->dev.slot_state[0], DFUMGR_SLOT_PENDING);
	assert_int_equal(f->dev.slot_state[1], DFUMGR_SLOT_PENDING);

	/* after that power cycle nothing counts as written in this DFU session */
	assert_int_equal(commit(f, len, sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);

	/* a new download over a pending slot first erases BOTH pending marks */
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), 0);
	dnload_block(f, 0, img1, 4096);
	assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	assert_int_equal(f->dev.slot_state[0], DFUMGR_SLOT_WRITTEN);
	assert_int_equal(f->dev.slot_state[1], DFUMGR_SLOT_WRITTEN);
	/* ... and ending it early is errNOTDONE: the header declares more */
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 1, 0), 0);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_NOTDONE);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	download(f, 1, img1, len[1]);
	assert_int_equal(f->dev.slot_state[1], DFUMGR_SLOT_WRITTEN);
	/* image 0 is still the one in flash, but was not written since DFU mode began */
	assert_int_equal(commit(f, len, sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);
	download(f, 0, img0, len[0]);

	/* permanent: image_ok set too */
	assert_int_equal(commit(f, len, sha, DFUMGR_COMMIT_F_PERMANENT), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_DONE);
	assert_int_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY][SLOT - 24], 0x01);
	assert_int_equal(f->dev.slot_state[1], DFUMGR_SLOT_CONFIRMED);

	/* REBOOT: the platform is asked to reset */
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_REBOOT, 0, 0), 0);
	assert_int_equal(f->ram.rebooted, 1);
	/* unknown vendor request and wrong direction */
	assert_int_equal(req(f, 0x41, 0x7f, 0, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_REQUEST);
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_GET_INFO, 0, 0), DFU_DEV_STALL);
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, 10), DFU_DEV_STALL);
	free(img0);
	free(img1);
	fx_free(f);
}

static void test_commit_flash_failure_marks_neither_or_only_image0(void **state)
{
	struct fx *f = fx_new(true);
	uint32_t len[2] = {8192, 8192};
	uint8_t *img0 = fake_image(len[0], 5, 3), *img1 = fake_image(len[1], 6, 3);
	uint8_t sha[2][32];

	(void)state;
	download(f, 0, img0, len[0]);
	download(f, 1, img1, len[1]);
	dfumgr_sha256(img0, len[0], sha[0]);
	dfumgr_sha256(img1, len[1], sha[1]);
	/* the very first trailer write fails: nothing is marked */
	f->ram.fail_program = 1;
	assert_int_equal(commit(f, len, sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_REJECTED);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_FLASH);
	assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	/* image 0's trailer (2 programs) done, image 1's first program fails: image 0 is the one
	 * left pending; the pair rule (test_pair_rule) keeps MCUboot from swapping it alone */
	f->ram.fail_program_after = 3;
	assert_int_equal(commit(f, len, sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_REJECTED);
	assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	/* and a retry completes the pair */
	assert_int_equal(commit(f, len, sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_DONE);
	assert_true(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	assert_true(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	free(img0);
	free(img1);
	fx_free(f);
}

static void test_more_statuses(void **state)
{
	struct fx *f = fx_new(true);
	uint8_t *img = fake_image(12000, 9, 2);
	uint8_t hdr[64];

	(void)state;
	dfu_dev_set_alt(&f->dev, 0);
	/* errFILE: the image's own SHA256 TLV does not match its bytes */
	img[0x300] ^= 1;
	dnload_block(f, 0, img, 4096);
	dnload_block(f, 1, img + 4096, 4096);
	dnload_block(f, 2, img + 8192, 12000 - 8192);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 3, 0), 0);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_FILE);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	img[0x300] ^= 1;
	/* errTARGET: a header that cannot fit this slot */
	memcpy(hdr, img, sizeof(hdr));
	hdr[14] = 0x10; /* img_size ~1 MiB > 64 KiB slot */
	memcpy(f->buf, hdr, sizeof(hdr));
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, sizeof(hdr)), 0);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_TARGET);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	/* errCHECK_ERASED: an erase that leaves a programmed bit */
	f->ram.stuck_erase = true;
	memcpy(f->buf, img, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 4096), 0);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_CHECK_ERASED);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	f->ram.stuck_erase = false;
	/* errUSBR: a bus reset in the middle of a download */
	dnload_block(f, 0, img, 4096);
	dfu_dev_bus_reset(&f->dev);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_USBR);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	dfu_dev_bus_reset(&f->dev); /* idle: nothing lost */
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	/* errUNKNOWN: flash that cannot be read during an upload */
	f->ram.fail_read = true;
	assert_int_equal(req(f, 0xa1, DFU_UPLOAD, 0, 64), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_UNKNOWN);
	req(f, 0x21, DFU_CLRSTATUS, 0, 0);
	f->ram.fail_read = false;
	/* errVENDOR: a download while a commit re-hashes the slots */
	download(f, 0, img, 12000);
	download(f, 1, img, 12000);
	{
		uint32_t len[2] = {12000, 12000};
		uint8_t sha[2][32];

		dfumgr_sha256(img, 12000, sha[0]);
		dfumgr_sha256(img, 12000, sha[1]);
		assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), 0);
		assert_int_equal(f->dev.commit_state, DFUMGR_COMMIT_CHECKING);
		memcpy(f->buf, img, 64);
		assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 64), DFU_DEV_STALL);
		expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_VENDOR);
		req(f, 0x21, DFU_CLRSTATUS, 0, 0);
		assert_int_equal(commit_wait(f), DFUMGR_COMMIT_DONE);
	}
	free(img);
	fx_free(f);
}

/* ---- the pair rule (docs/pair-rule.md) ---- */

/*
 * An unsigned MCUboot image: a payload of n bytes from seed, version ver, and (dep_id >= 0) a
 * dependency on image dep_id >= dep_ver. *ret_size gets its size.
 */
static uint8_t *image_with(size_t n, uint8_t seed, const char *ver, int dep_id, const char *dep_ver,
			   size_t *ret_size)
{
	struct dfumgr_image_build_opts o = {.header_size = 0x200, .pad_header = true};
	uint8_t *payload = pattern(n, seed), *img = NULL;

	assert_int_equal(dfumgr_version_parse(ver, &o.version), 0);
	if (dep_id >= 0) {
		o.n_deps = 1;
		o.deps[0].image_id = (uint8_t)dep_id;
		assert_int_equal(dfumgr_version_parse(dep_ver, &o.deps[0].min_version), 0);
	}
	assert_int_equal(dfumgr_image_build(NULL, payload, n, &o, &img, ret_size), 0);
	free(payload);
	return img;
}

/* What `dfu-mgr pack` makes: each image depends on the other at version ver. */
static uint8_t *pair_image(int i, uint8_t seed, const char *ver, size_t *ret_size)
{
	return image_with(i == 0 ? 9000 : 15000, seed, ver, 1 - i, ver, ret_size);
}

/* Both running images in the primaries, as a board flashed at the factory has them. */
static void install_primaries(struct fx *f, uint8_t *img[2], const size_t size[2])
{
	for (int i = 0; i < 2; i++) {
		enum dfu_area a = dfu_area_primary((unsigned)i);

		memset(f->ram.mem[a], 0xff, SLOT);
		memcpy(f->ram.mem[a], img[i], size[i]);
	}
}

/* Downloads both images and commits them; returns the commit state (or 0xff if stalled). */
static uint8_t download_commit(struct fx *f, uint8_t *img[2], const size_t size[2])
{
	uint32_t len[2] = {(uint32_t)size[0], (uint32_t)size[1]};
	uint8_t sha[2][32];

	for (int i = 1; i >= 0; i--) {
		download(f, (uint8_t)i, img[i], size[i]);
		dfumgr_sha256(img[i], size[i], sha[i]);
	}
	if (commit(f, len, (const uint8_t(*)[32])sha, 0) != 0)
		return 0xff;
	return commit_wait(f);
}

static void test_pair_rule(void **state)
{
	static const struct {
		const char *name;
		const char *ver[2];     /* versions of the new images */
		int dep[2];             /* image i depends on image dep[i] (-1: none) */
		const char *dep_ver[2]; /* at this version */
		int same_bytes;         /* image i is the running one, byte for byte (-1: none) */
		uint8_t want_error;     /* DFUMGR_DEV_OK: committed */
		bool old_one_way;       /* the running pair has image 0's dependency only */
	} cases[] = {
	    {"upgrade, mutual dependencies",
	     {"2.0.0", "2.0.0"},
	     {1, 0},
	     {"2.0.0", "2.0.0"},
	     -1,
	     DFUMGR_DEV_OK,
	     false},
	    {"downgrade, mutual dependencies",
	     {"0.9.0", "0.9.0"},
	     {1, 0},
	     {"0.9.0", "0.9.0"},
	     -1,
	     DFUMGR_DEV_OK,
	     false},
	    {"build number only",
	     {"1.0.0+1", "1.0.0+1"},
	     {1, 0},
	     {"1.0.0+1", "1.0.0+1"},
	     -1,
	     DFUMGR_DEV_OK,
	     false},
	    {"no dependencies",
	     {"2.0.0", "2.0.0"},
	     {-1, -1},
	     {NULL, NULL},
	     -1,
	     DFUMGR_DEV_DIVISIBLE,
	     false},
	    /* image 0 on image 1 only: the running image 0 accepts the new image 1 alone */
	    {"image 0's dependency only",
	     {"2.0.0", "2.0.0"},
	     {1, -1},
	     {"2.0.0", NULL},
	     -1,
	     DFUMGR_DEV_DIVISIBLE,
	     false},
	    /* a running pair with mutual dependencies holds a one-way new downgrade together */
	    {"downgrade, image 0's dependency only",
	     {"0.9.0", "0.9.0"},
	     {1, -1},
	     {"0.9.0", NULL},
	     -1,
	     DFUMGR_DEV_OK,
	     false},
	    /* with one-way pairs on both sides, a downgrade's new image 0 fits the old image 1 */
	    {"downgrade, one-way pairs",
	     {"0.9.0", "0.9.0"},
	     {1, -1},
	     {"0.9.0", NULL},
	     -1,
	     DFUMGR_DEV_DIVISIBLE,
	     true},
	    /* ... and in an upgrade the old image 0 accepts the new image 1 */
	    {"upgrade, one-way pairs",
	     {"2.0.0", "2.0.0"},
	     {1, -1},
	     {"2.0.0", NULL},
	     -1,
	     DFUMGR_DEV_DIVISIBLE,
	     true},
	    {"same version, other bytes",
	     {"1.0.0", "1.0.0"},
	     {1, 0},
	     {"1.0.0", "1.0.0"},
	     -1,
	     DFUMGR_DEV_SAME_VERSION,
	     false},
	    {"image 0 unchanged, image 1 new",
	     {"1.0.0", "2.0.0"},
	     {1, 0},
	     {"1.0.0", "1.0.0"},
	     0,
	     DFUMGR_DEV_OK,
	     false},
	    {"dependency the pair does not meet",
	     {"2.0.0", "2.0.0"},
	     {1, 0},
	     {"3.0.0", "2.0.0"},
	     -1,
	     DFUMGR_DEV_PAIR,
	     false},
	};
	size_t old_size[2], one_way_size;
	uint8_t *old[2] = {pair_image(0, 1, "1.0.0", &old_size[0]),
			   pair_image(1, 2, "1.0.0", &old_size[1])};
	uint8_t *one_way = image_with(15000, 2, "1.0.0", -1, NULL, &one_way_size);

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fx *f = fx_new(true);
		uint8_t *img[2];
		size_t size[2];
		uint8_t st;

		if (cases[c].old_one_way)
			install_primaries(f, (uint8_t *[2]){old[0], one_way},
					  (size_t[2]){old_size[0], one_way_size});
		else
			install_primaries(f, old, old_size);
		for (int i = 0; i < 2; i++) {
			if (cases[c].same_bytes == i) {
				img[i] = malloc(old_size[i]);
				memcpy(img[i], old[i], old_size[i]);
				size[i] = old_size[i];
				continue;
			}
			img[i] = image_with(i == 0 ? 9000 : 15000, (uint8_t)(10 + c + i),
					    cases[c].ver[i], cases[c].dep[i], cases[c].dep_ver[i],
					    &size[i]);
		}
		st = download_commit(f, img, size);
		if (cases[c].want_error == DFUMGR_DEV_OK) {
			if (st != DFUMGR_COMMIT_DONE)
				fail_msg("%s: refused (%u)", cases[c].name,
					 info(f, DFUMGR_INFO_LAST_ERROR));
			assert_true(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
			assert_true(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
		} else {
			if (st != 0xff || info(f, DFUMGR_INFO_LAST_ERROR) != cases[c].want_error)
				fail_msg("%s: want refusal %u, got state %u error %u",
					 cases[c].name, cases[c].want_error, st,
					 info(f, DFUMGR_INFO_LAST_ERROR));
			assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
			assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
		}
		free(img[0]);
		free(img[1]);
		fx_free(f);
	}
	free(old[0]);
	free(old[1]);
	free(one_way);
}

/* Path 1 of issue 9: `imgtool sign --pad [--confirm]` files carry a trailer; never written. */
static void test_padded_image_with_trailer_refused(void **state)
{
	static const char *const files[] = {"int-pad.bin", "int-confirm.bin"};
	static const struct dfu_area_info real[DFU_AREA_COUNT] = {{DFUMGR_IMG0_SLOT_SIZE, 4096},
								  {DFUMGR_IMG0_SLOT_SIZE, 4096},
								  {SLOT, 4096},
								  {SLOT, 4096}};

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct fx *f = calloc(1, sizeof(*f));
		struct dfu_dev_config c = cfg;
		size_t n, off;
		uint8_t *img = test_read(files[k], &n);
		uint16_t block = 0;

		assert_int_equal(n, DFUMGR_IMG0_SLOT_SIZE);
		for (int a = 0; a < DFU_AREA_COUNT; a++) {
			f->ram.size[a] = real[a].size;
			f->ram.mem[a] = malloc(real[a].size);
			memset(f->ram.mem[a], 0xff, real[a].size);
		}
		for (int i = 0; i < DFU_SHA_CONTEXTS; i++)
			f->ram.h[i] = dfumgr_sha256_new();
		c.areas = real;
		dfu_dev_init(&f->dev, &ops, &f->ram, true, &c);
		assert_int_equal(dfu_dev_set_alt(&f->dev, 0), 0);
		/* the image and its padding go in, up to the trailer region */
		for (off = 0; off + 4096 <= dfu_dev_image_max(&f->dev, 0); off += 4096)
			dnload_block(f, block++, img + off, 4096);
		/* the padding in the trailer region is still fine... */
		while (off + 4096 < n) {
			dnload_block(f, block++, img + off, 4096);
			off += 4096;
		}
		/* ... the block with the boot magic is not */
		memcpy(f->buf, img + off, 4096);
		assert_int_equal(req(f, 0x21, DFU_DNLOAD, block, 4096), 0);
		expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_ADDRESS);
		assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_TRAILER);
		for (size_t i = DFUMGR_IMG0_SLOT_SIZE - 48; i < DFUMGR_IMG0_SLOT_SIZE; i++)
			assert_int_equal(f->ram.mem[DFU_AREA_IMG0_SECONDARY][i], 0xff);
		assert_int_equal(f->dev.slot_state[0], DFUMGR_SLOT_WRITTEN);
		free(img);
		fx_free(f);
	}
}

/* Path 2 of issue 9: after a commit, one block to either image un-pends BOTH. */
static void test_download_clears_marks(void **state)
{
	(void)state;
	for (int alt = 0; alt < 2; alt++) {
		struct fx *f = fx_new(true);
		size_t size[2];
		uint8_t *img[2] = {pair_image(0, 3, "2.0.0", &size[0]),
				   pair_image(1, 4, "2.0.0", &size[1])};
		uint32_t poll = 0;

		assert_int_equal(download_commit(f, img, size), DFUMGR_COMMIT_DONE);
		assert_int_equal(info(f, DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMG_SLOT_STATE),
				 DFUMGR_SLOT_PENDING);
		f->ram.erase_cost_us = 48000;
		f->ram.program_cost_us = 0;
		f->ram.erases = 0;
		assert_int_equal(dfu_dev_set_alt(&f->dev, (uint8_t)alt), 0);
		memcpy(f->buf, img[alt], 4096);
		assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 4096), 0);
		/* the board takes the next block while it erases this one's sectors */
		assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNLOAD_IDLE);
		/* the trailer sector of each slot, then the block's own sector */
		assert_int_equal(f->ram.erases, 3);
		assert_int_equal(f->dev.flash_free_us - f->now, 3 * 48000);
		assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
		assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
		assert_int_equal(info(f, DFUMGR_INFO_COMMIT_STATE), DFUMGR_COMMIT_NONE);
		free(img[0]);
		free(img[1]);
		fx_free(f);
	}
}

/* Path 3 of issue 9: a cut download, a reset, and a COMMIT of the bytes that landed. */
static void test_commit_of_interrupted_download_refused(void **state)
{
	struct fx *f = fx_new(true);
	size_t size[2];
	uint8_t *img[2] = {pair_image(0, 5, "2.0.0", &size[0]),
			   pair_image(1, 6, "2.0.0", &size[1])};
	uint8_t sha[2][32];
	uint32_t len[2];

	(void)state;
	download(f, 1, img[1], size[1]);
	assert_int_equal(dfu_dev_set_alt(&f->dev, 0), 0);
	dnload_block(f, 0, img[0], 4096);
	/* the board resets: a new DFU session */
	dfu_dev_init(&f->dev, &ops, &f->ram, true, &cfg);
	len[0] = 4096;
	len[1] = (uint32_t)size[1];
	dfumgr_sha256(img[0], 4096, sha[0]);
	dfumgr_sha256(img[1], size[1], sha[1]);
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);
	/* in the same session, the 4096 bytes that landed are no whole image either */
	download(f, 1, img[1], size[1]);
	assert_int_equal(dfu_dev_set_alt(&f->dev, 0), 0);
	dnload_block(f, 0, img[0], 4096);
	req(f, 0x21, DFU_ABORT, 0, 0);
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);
	assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	/* an image whose own SHA256 TLV does not match flash is refused even with the right
	 * host digest of what is there */
	download(f, 0, img[0], size[0]);
	f->ram.mem[DFU_AREA_IMG0_SECONDARY][0x400] ^= 0x10;
	len[0] = (uint32_t)size[0];
	dfumgr_sha256(f->ram.mem[DFU_AREA_IMG0_SECONDARY], size[0], sha[0]);
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_REJECTED);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_IMAGE);
	assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	free(img[0]);
	free(img[1]);
	fx_free(f);
}

/* A primary trailer as MCUboot leaves it after a test swap: magic, copy_done, no image_ok. */
static void swapped_trailer(struct fx *f, enum dfu_area a)
{
	static const uint8_t magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					  0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

	memcpy(f->ram.mem[a] + SLOT - 16, magic, 16);
	f->ram.mem[a][SLOT - DFUMGR_TRAILER_COPY_DONE_OFF] = 1;
}

static bool confirmed(struct fx *f, enum dfu_area a)
{
	return f->ram.mem[a][SLOT - DFUMGR_TRAILER_IMAGE_OK_OFF] == DFUMGR_BOOT_FLAG_SET;
}

/* MCUboot 1.10 halts when image 1's swap is shorter than image 0's (mcu-tools/mcuboot#1768). */
static void test_swap_sizes_guard(void **state)
{
	static const struct {
		size_t old0, old1, new0, new1; /* payload bytes */
		bool ok;
	} cases[] = {
	    {9000, 15000, 9000, 15000, true},   /* image 1 the larger: fine */
	    {9000, 15000, 30000, 15000, false}, /* the new image 0 outgrows image 1 */
	    {9000, 15000, 9000, 1000, true},    /* a small new image 1: the old one sets its swap */
	    {30000, 9000, 9000, 15000, false},  /* the old image 0 is the larger */
	    {9000, 9000, 9000, 9000, true},     /* equal: fine */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int guard = 0; guard < 2; guard++) {
			struct fx *f = fx_new(true);
			struct dfu_dev_config conf = cfg;
			size_t os[2], ns[2];
			uint8_t *old[2] = {
			    image_with(cases[c].old0, 1, "1.0.0", 1, "1.0.0", &os[0]),
			    image_with(cases[c].old1, 2, "1.0.0", 0, "1.0.0", &os[1])};
			uint8_t *img[2] = {
			    image_with(cases[c].new0, 3, "2.0.0", 1, "2.0.0", &ns[0]),
			    image_with(cases[c].new1, 4, "2.0.0", 0, "2.0.0", &ns[1])};
			uint8_t st;

			conf.mcuboot_1768 = guard;
			dfu_dev_init(&f->dev, &ops, &f->ram, true, &conf);
			install_primaries(f, old, os);
			st = download_commit(f, img, ns);
			if (!guard || cases[c].ok) {
				assert_int_equal(st, DFUMGR_COMMIT_DONE);
			} else {
				assert_int_equal(st, 0xff);
				assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR),
						 DFUMGR_DEV_SWAP_SIZES);
				assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
			}
			for (int i = 0; i < 2; i++) {
				free(old[i]);
				free(img[i]);
			}
			fx_free(f);
		}
	}
}

static void test_confirm(void **state)
{
	struct fx *f = fx_new(false);
	size_t size[2], other_size;
	uint8_t *img[2] = {pair_image(0, 7, "2.0.0", &size[0]),
			   pair_image(1, 8, "2.0.0", &size[1])};
	uint8_t *other = pair_image(1, 9, "1.0.0", &other_size);

	(void)state;
	/* no image at all: nothing to confirm */
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_CONFIRM_NO_IMAGE);
	/* flashed, not swapped (no trailer): nothing written */
	install_primaries(f, img, size);
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_CONFIRM_DONE);
	assert_false(confirmed(f, DFU_AREA_IMG0_PRIMARY));
	/* after a test swap: both confirmed */
	swapped_trailer(f, DFU_AREA_IMG0_PRIMARY);
	swapped_trailer(f, DFU_AREA_IMG1_PRIMARY);
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_CONFIRM_DONE);
	assert_true(confirmed(f, DFU_AREA_IMG0_PRIMARY));
	assert_true(confirmed(f, DFU_AREA_IMG1_PRIMARY));
	/* image 0 first: power lost after the first write leaves image 0 confirmed alone */
	install_primaries(f, img, size);
	swapped_trailer(f, DFU_AREA_IMG0_PRIMARY);
	swapped_trailer(f, DFU_AREA_IMG1_PRIMARY);
	f->ram.fail_program_after = 2;
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_FLASH_PROGRAM_FAILED);
	assert_true(confirmed(f, DFU_AREA_IMG0_PRIMARY));
	assert_false(confirmed(f, DFU_AREA_IMG1_PRIMARY));
	/* the next boot confirms the other */
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_CONFIRM_DONE);
	assert_true(confirmed(f, DFU_AREA_IMG1_PRIMARY));
	/* a mixed set (image 0 needs image 1 2.0.0, image 1 is 1.0.0) is never confirmed */
	install_primaries(f, (uint8_t *[2]){img[0], other}, (size_t[2]){size[0], other_size});
	swapped_trailer(f, DFU_AREA_IMG0_PRIMARY);
	swapped_trailer(f, DFU_AREA_IMG1_PRIMARY);
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_CONFIRM_MISMATCH);
	assert_false(confirmed(f, DFU_AREA_IMG0_PRIMARY));
	assert_false(confirmed(f, DFU_AREA_IMG1_PRIMARY));
	/* a damaged magic: bootutil's BOOT_EBADVECT */
	install_primaries(f, img, size);
	swapped_trailer(f, DFU_AREA_IMG0_PRIMARY);
	f->ram.mem[DFU_AREA_IMG0_PRIMARY][SLOT - 3] = 0;
	assert_int_equal(dfu_dev_confirm(&f->dev), DFU_CONFIRM_BAD_MAGIC);
	free(img[0]);
	free(img[1]);
	free(other);
	fx_free(f);
}

static void test_no_upload(void **state)
{
	struct fx *f = fx_new(true);
	struct dfu_dev_config c = cfg;
	uint8_t *img = fake_image(12000, 9, 2);

	(void)state;
	c.no_upload = true;
	dfu_dev_init(&f->dev, &ops, &f->ram, true, &c);
	download(f, 0, img, 12000);
	assert_int_equal(req(f, 0xa1, DFU_UPLOAD, 0, 64), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NO_UPLOAD);
	assert_int_equal(f->buf[DFUMGR_INFO_CAPS] & DFUMGR_CAP_UPLOAD, 0);
	assert_int_equal(f->buf[DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMG_UPLOADABLE], 0);
	/* the digests stay */
	{
		uint8_t want[32], got[32];

		dfumgr_sha256(img, 12000, want);
		req(f, 0x21, DFU_CLRSTATUS, 0, 0);
		digest_of(f, 0, 12000, got);
		assert_memory_equal(got, want, 32);
	}
	/* identity in GET_INFO */
	info(f, 0);
	assert_string_equal((char *)f->buf + DFUMGR_INFO_PRODUCT, "xip-app");
	assert_int_equal(f->buf[DFUMGR_INFO_HW_REV], 3);
	free(img);
	fx_free(f);
}

/*
 * Pipelining: a flash failure of block N is reported at the first GETSTATUS after its flash
 * work began, although the board took block N+1 meanwhile; nothing after it is written.
 */
static void test_pipelined_program_error(void **state)
{
	struct fx *f = fx_new(true);
	uint8_t *data = pattern(5 * 4096, 11), zeros[4096] = {0};
	uint32_t poll;

	(void)state;
	f->ram.erase_cost_us = 48000; /* MX25R64: a sector, and its 16 pages */
	f->ram.program_cost_us = 14400;
	memset(f->ram.mem[DFU_AREA_IMG1_SECONDARY], 0x00, 5 * 4096);
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), 0);
	f->ram.fail_program_after = 3; /* blocks 0 and 1 program, block 2 fails */
	memcpy(f->buf, data, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 4096), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNLOAD_IDLE);
	memcpy(f->buf, data + 4096, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 1, 4096), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
	assert_int_equal(poll, 63); /* block 0: 62.4 ms */
	f->now += (uint64_t)poll * 1000;
	expect_state(f, DFU_STATE_DNLOAD_IDLE, DFU_STATUS_OK);
	/* block 2 is taken: its flash work begins when block 1's ends, at 124.8 ms */
	memcpy(f->buf, data + 2 * 4096, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 2, 4096), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
	assert_int_equal(poll, 62);
	f->now += (uint64_t)poll * 1000;
	/* the next status reports it: errPROG, and GET_INFO says which block failed */
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_PROG);
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, DFUMGR_INFO_LEN), DFUMGR_INFO_LEN);
	{
		const uint8_t *p = f->buf + DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMAGE_LEN;
		uint32_t at = p[DFUMGR_INFO_IMG_FLASH_ERROR] |
			      (uint32_t)p[DFUMGR_INFO_IMG_FLASH_ERROR + 1] << 8 |
			      (uint32_t)p[DFUMGR_INFO_IMG_FLASH_ERROR + 2] << 16 |
			      (uint32_t)p[DFUMGR_INFO_IMG_FLASH_ERROR + 3] << 24;
		uint32_t written = p[DFUMGR_INFO_IMG_WRITTEN] |
				   (uint32_t)p[DFUMGR_INFO_IMG_WRITTEN + 1] << 8 |
				   (uint32_t)p[DFUMGR_INFO_IMG_WRITTEN + 2] << 16;

		assert_int_equal(at, 2 * 4096);
		/* blocks 0 and 1 count as written; the failed one does not */
		assert_int_equal(written, 2 * 4096);
	}
	/* a block after the failed one is never written (its sector was not even erased) */
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY] + 3 * 4096, zeros, 4096);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], data, 2 * 4096);
	/* CLRSTATUS; a DNLOAD now starts a new download from block 0 */
	assert_int_equal(req(f, 0x21, DFU_CLRSTATUS, 0, 0), 0);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	free(data);
	fx_free(f);
}

/* Blank sectors are not erased: an erase costs 48 ms, reading 4 KiB back well under one. */
static void test_blank_sectors(void **state)
{
	struct fx *f = fx_new(true);
	uint8_t *data = pattern(3 * 4096, 12);

	(void)state;
	download(f, 1, data, 3 * 4096);
	assert_int_equal(f->ram.erases, 0);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], data, 3 * 4096);
	/* again: the three sectors hold data now and are erased, once each */
	download(f, 1, data, 3 * 4096);
	assert_int_equal(f->ram.erases, 3);
	/* one programmed bit anywhere in a sector is enough to erase it */
	memset(f->ram.mem[DFU_AREA_IMG1_SECONDARY], 0xff, 3 * 4096);
	f->ram.mem[DFU_AREA_IMG1_SECONDARY][2 * 4096 + 4095] = 0xfe;
	f->ram.erases = 0;
	download(f, 1, data, 3 * 4096);
	assert_int_equal(f->ram.erases, 1);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], data, 3 * 4096);
	free(data);
	fx_free(f);
}

/*
 * The benchmarks' baseline (legacy_download): one block at a time, every sector erased, no
 * SECTOR_DIGESTS, dfuMANIFEST before dfuIDLE; the bytes it leaves are the same.
 */
static void test_legacy_download(void **state)
{
	struct fx *f = fx_new(true);
	struct dfu_dev_config legacy = cfg;
	uint8_t *data = pattern(3 * 4096, 13);
	uint32_t poll;

	(void)state;
	legacy.legacy_download = true;
	dfu_dev_init(&f->dev, &ops, &f->ram, true, &legacy);
	f->ram.erase_cost_us = 48000;
	f->ram.program_cost_us = 14400;
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, DFUMGR_INFO_LEN), DFUMGR_INFO_LEN);
	assert_int_equal(f->buf[DFUMGR_INFO_CAPS] & DFUMGR_CAP_SECTOR_DIGESTS, 0);
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_SECTOR_DIGESTS, 1, DFUMGR_SECTORS_LEN),
			 DFU_DEV_STALL);
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), 0);
	for (uint16_t b = 0; b < 3; b++) {
		memcpy(f->buf, data + b * 4096, 4096);
		assert_int_equal(req(f, 0x21, DFU_DNLOAD, b, 4096), 0);
		/* busy until this very block is in flash: erase (blank or not) and program */
		assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_DNBUSY);
		assert_int_equal(poll, 63);
		f->now += (uint64_t)poll * 1000;
		expect_state(f, DFU_STATE_DNLOAD_IDLE, DFU_STATUS_OK);
	}
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 3, 0), 0);
	assert_int_equal(getstatus(f, NULL, &poll), DFU_STATE_MANIFEST);
	assert_int_equal(poll, 0);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	assert_int_equal(f->ram.erases, 3);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], data, 3 * 4096);
	free(data);
	fx_free(f);
}

/* The SHA-256 of sector k of data as a download leaves it (padded with 0xff). */
static void sector_sha(const uint8_t *data, size_t size, uint32_t k, uint8_t out[32])
{
	uint8_t s[4096];
	size_t at = (size_t)k * 4096;

	memset(s, 0xff, sizeof(s));
	if (at < size)
		memcpy(s, data + at, size - at < 4096 ? size - at : 4096);
	dfumgr_sha256(s, sizeof(s), out);
}

/* SECTOR_DIGESTS OUT: the digests of data's n first sectors for page 0 of alt. */
static int sectors_out(struct fx *f, uint8_t alt, const uint8_t *data, size_t size, uint16_t n)
{
	memset(f->buf, 0, DFUMGR_SECTORS_OUT_HEAD_LEN);
	f->buf[DFUMGR_SECTORS_OUT_PROTO] = DFUMGR_PROTO_VERSION;
	f->buf[DFUMGR_SECTORS_OUT_COUNT] = (uint8_t)n;
	for (uint16_t k = 0; k < n; k++)
		sector_sha(data, size, k, f->buf + DFUMGR_SECTORS_OUT_DIGESTS + k * 32);
	return req(f, 0x41, DFUMGR_REQ_SECTOR_DIGESTS, alt,
		   (uint16_t)(DFUMGR_SECTORS_OUT_HEAD_LEN + n * 32));
}

/* SECTOR_DIGESTS IN of page 0 of alt until it is ready; the reply stays in f->buf. */
static uint8_t sectors_in(struct fx *f, uint8_t alt)
{
	for (int i = 0; i < 100; i++) {
		assert_true(req(f, 0xc1, DFUMGR_REQ_SECTOR_DIGESTS, alt, DFUMGR_SECTORS_LEN) >=
			    DFUMGR_SECTORS_HEAD_LEN);
		if (f->buf[DFUMGR_SECTORS_STATUS] != DFUMGR_DIGEST_BUSY)
			break;
	}
	return f->buf[DFUMGR_SECTORS_STATUS];
}

static uint32_t info32(struct fx *f, int image, int off)
{
	const uint8_t *p;

	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_GET_INFO, 0, DFUMGR_INFO_LEN), DFUMGR_INFO_LEN);
	p = f->buf + DFUMGR_INFO_IMAGES + image * DFUMGR_INFO_IMAGE_LEN + off;
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Sector digests: the board's SHA-256 of each sector read back from flash; sectors verified
 * against the host's digests count for COMMIT as written in this session, and a sparse download
 * may skip exactly those. COMMIT's own checks stay as strict.
 */
static void test_sector_digests_and_sparse_download(void **state)
{
	struct fx *f = fx_new(true);
	size_t size[2];
	uint8_t *img[2] = {pair_image(0, 21, "2.0.0", &size[0]),
			   pair_image(1, 22, "2.0.0", &size[1])};
	uint8_t want[32], sha[2][32];
	uint32_t len[2] = {(uint32_t)size[0], (uint32_t)size[1]};
	uint16_t n0 = (uint16_t)((size[0] + 4095) / 4096), n1 = (uint16_t)((size[1] + 4095) / 4096);

	(void)state;
	dfumgr_sha256(img[0], size[0], sha[0]);
	dfumgr_sha256(img[1], size[1], sha[1]);
	assert_int_equal(n0, 3);
	assert_int_equal(n1, 4);
	/* a read-only listing: every sector up to the image limit (11 of a 64 KiB slot) */
	assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY);
	assert_int_equal(f->buf[DFUMGR_SECTORS_COUNT], 11);
	assert_int_equal(f->buf[DFUMGR_SECTORS_FIRST], 0);
	sector_sha(NULL, 0, 0, want);
	assert_memory_equal(f->buf + DFUMGR_SECTORS_DIGESTS + 10 * 32, want, 32);
	/* page 1 does not exist in a slot of 11 sectors; alt 2 does not either */
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_SECTOR_DIGESTS, 1 | 1 << 8, DFUMGR_SECTORS_LEN),
			 DFU_DEV_STALL);
	assert_int_equal(req(f, 0xc1, DFUMGR_REQ_SECTOR_DIGESTS, 2, DFUMGR_SECTORS_LEN),
			 DFU_DEV_STALL);

	/* image 1 in the slot from before a reset: it is there, but this session did not put it */
	download(f, 1, img[1], size[1]);
	dfu_dev_init(&f->dev, &ops, &f->ram, true, &cfg);
	download(f, 0, img[0], size[0]);
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);
	/* the host's digests of image 1: the board hashes its sectors and all four match */
	assert_int_equal(sectors_out(f, 1, img[1], size[1], n1), 0);
	assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY);
	assert_int_equal(f->buf[DFUMGR_SECTORS_COUNT], n1);
	assert_int_equal(f->buf[DFUMGR_SECTORS_MATCH], 0x0f);
	sector_sha(img[1], size[1], 3, want);
	assert_memory_equal(f->buf + DFUMGR_SECTORS_DIGESTS + 3 * 32, want, 32);
	assert_int_equal(info32(f, 1, DFUMGR_INFO_IMG_VERIFIED) & 0xffff, 4);
	assert_int_equal(info32(f, 1, DFUMGR_INFO_IMG_WRITTEN), 4 * 4096);
	/* COMMIT still re-hashes both slots: a wrong host digest is refused as before */
	sha[1][0] ^= 1;
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_REJECTED);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_DIGEST1);
	sha[1][0] ^= 1;
	/* a digest that does not match takes the sector (and what follows) out of the count */
	{
		uint8_t *other = malloc(size[1]);

		memcpy(other, img[1], size[1]);
		other[4096 + 7] ^= 0x40;
		assert_int_equal(sectors_out(f, 1, other, size[1], n1), 0);
		assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY);
		assert_int_equal(f->buf[DFUMGR_SECTORS_MATCH], 0x0d);
		assert_int_equal(info32(f, 1, DFUMGR_INFO_IMG_WRITTEN), 4096);
		free(other);
	}
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);
	/*
	 * A sparse download sends sector 1 alone: block numbers are sector numbers, and a block
	 * may only follow sectors written or verified in this session.
	 */
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), 0);
	memset(f->ram.mem[DFU_AREA_IMG1_SECONDARY] + 4096, 0x00, 16); /* sector 1 goes bad */
	assert_int_equal(sectors_out(f, 1, img[1], size[1], n1), 0);
	assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY);
	assert_int_equal(f->buf[DFUMGR_SECTORS_MATCH], 0x0d);
	/* block 2 first: sector 1 is neither written nor verified: refused */
	memcpy(f->buf, img[1] + 2 * 4096, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 2, 4096), DFU_DEV_STALL);
	expect_state(f, DFU_STATE_ERROR, DFU_STATUS_ERR_STALLEDPKT);
	assert_int_equal(req(f, 0x21, DFU_CLRSTATUS, 0, 0), 0);
	/* the digests again (dfu-mgr asks before each download), then sector 1 alone */
	assert_int_equal(sectors_out(f, 1, img[1], size[1], n1), 0);
	assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY);
	f->ram.erases = 0;
	dnload_block(f, 1, img[1] + 4096, 4096);
	/* sectors 2 and 3 are verified: the download may end here */
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 4, 0), 0);
	expect_state(f, DFU_STATE_IDLE, DFU_STATUS_OK);
	assert_int_equal(f->ram.erases, 1); /* sector 1, nothing else */
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], img[1], size[1]);
	assert_int_equal(info32(f, 1, DFUMGR_INFO_IMG_WRITTEN), 4 * 4096);
	assert_true(info(f, DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMAGE_LEN + DFUMGR_INFO_IMG_FLAGS) &
		    DFUMGR_INFO_F_SECONDARY_WHOLE);
	/* a plain download after it (no digests first) starts the count over, from block 0 */
	dnload_block(f, 0, img[1], 4096);
	req(f, 0x21, DFU_ABORT, 0, 0);
	assert_int_equal(info32(f, 1, DFUMGR_INFO_IMG_WRITTEN), 4096);
	assert_int_equal(info32(f, 1, DFUMGR_INFO_IMG_VERIFIED) & 0xffff, 0);
	assert_int_equal(sectors_out(f, 1, img[1], size[1], n1), 0);
	assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY);
	/* image 1 was verified, image 0 downloaded: the pair commits */
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_DONE);
	assert_true(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	/* the request's own checks: bad length, bad version, not in runtime mode */
	f->buf[DFUMGR_SECTORS_OUT_PROTO] = DFUMGR_PROTO_VERSION;
	f->buf[DFUMGR_SECTORS_OUT_COUNT] = 12;
	assert_int_equal(
	    req(f, 0x41, DFUMGR_REQ_SECTOR_DIGESTS, 1, DFUMGR_SECTORS_OUT_HEAD_LEN + 12 * 32),
	    DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_LENGTH);
	f->buf[DFUMGR_SECTORS_OUT_PROTO] = 1;
	f->buf[DFUMGR_SECTORS_OUT_COUNT] = 1;
	assert_int_equal(
	    req(f, 0x41, DFUMGR_REQ_SECTOR_DIGESTS, 1, DFUMGR_SECTORS_OUT_HEAD_LEN + 32),
	    DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_BAD_VERSION);
	dfu_dev_init(&f->dev, &ops, &f->ram, false, &cfg);
	assert_int_equal(sectors_out(f, 1, img[1], size[1], n1), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_STATE);
	assert_int_equal(sectors_in(f, 1), DFUMGR_DIGEST_READY); /* listing is read-only */
	free(img[0]);
	free(img[1]);
	fx_free(f);
}

/* ---- the async flash variant (ops->work: the Zephyr glue's flash thread) ---- */

static void ram_work(void *u)
{
	((struct ram *)u)->works++;
}

static const struct dfu_dev_ops async_ops = {
    .erase = ram_erase,
    .program = ram_program,
    .read = ram_read,
    .sha256_start = ram_sha_start,
    .sha256_update = ram_sha_update,
    .sha256_finish = ram_sha_finish,
    .detach = ram_detach,
    .reboot = ram_reboot,
    .work = ram_work,
};

/* GETSTATUS that may have to wait: DFU_DEV_WAIT, or the state. */
static int try_getstatus(struct fx *f, uint8_t *status)
{
	int rc = req(f, 0xa1, DFU_GETSTATUS, 0, 6);

	if (rc == DFU_DEV_WAIT)
		return rc;
	assert_int_equal(rc, 6);
	assert_int_equal(f->buf[1] | f->buf[2] << 8 | f->buf[3] << 16, 0); /* no bwPollTimeout */
	if (status)
		*status = f->buf[0];
	return f->buf[4];
}

/*
 * One block as the glue handles it: the DNLOAD returns at once; a GETSTATUS the core cannot
 * answer yet (DFU_DEV_WAIT) is held back while the "flash thread" finishes a block, then asked
 * again. Returns the state and status the host finally sees.
 */
static uint8_t async_block(struct fx *f, uint16_t block, const uint8_t *data, uint16_t len,
			   uint8_t *status)
{
	int st;

	memcpy(f->buf, data, len);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block, len), 0);
	while ((st = try_getstatus(f, status)) == DFU_DEV_WAIT)
		assert_true(dfu_dev_work(&f->dev, f->now));
	return (uint8_t)st;
}

/* A whole download in the async variant, ending in dfuIDLE; the flash work left is run. */
static void async_download(struct fx *f, uint8_t alt, const uint8_t *data, size_t n)
{
	uint16_t block = 0;
	uint8_t status;

	assert_int_equal(dfu_dev_set_alt(&f->dev, alt), 0);
	for (size_t off = 0; off < n; off += DFUMGR_TRANSFER_SIZE) {
		size_t len = n - off < DFUMGR_TRANSFER_SIZE ? n - off : DFUMGR_TRANSFER_SIZE;

		assert_int_equal(async_block(f, block++, data + off, (uint16_t)len, &status),
				 DFU_STATE_DNLOAD_IDLE);
	}
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, block, 0), 0);
	assert_int_equal(try_getstatus(f, &status), DFU_STATE_IDLE);
	assert_int_equal(status, DFU_STATUS_OK);
}

struct reentry {
	struct fx *f;
	int calls;
	int getstatus_rc, upload_rc, info_rc;
	uint8_t state;
};

/* A USB request while the flash thread programs with the platform's lock released. */
static void requests_meanwhile(void *ctx)
{
	struct reentry *r = ctx;
	struct dfu_setup gs = {0xa1, DFU_GETSTATUS, 0, 0, 6};
	struct dfu_setup gi = {0xc1, DFUMGR_REQ_GET_INFO, 0, 0, DFUMGR_INFO_LEN};
	uint8_t buf[DFUMGR_INFO_LEN];

	if (r->calls++)
		return;
	r->getstatus_rc = dfu_dev_control(&r->f->dev, &gs, buf, r->f->now);
	r->info_rc = dfu_dev_control(&r->f->dev, &gi, buf, r->f->now);
	r->state = r->f->dev.state;
}

/*
 * The Zephyr glue's mode: ops->work set, the flash work on the platform's thread (here the
 * test calls dfu_dev_work()). Block N+1 is taken while block N waits for or is in flash work;
 * a GETSTATUS with both buffers full, the status of the block that ends the image and requests
 * that read the slots wait (DFU_DEV_WAIT) instead of answering dfuDNBUSY with a time; a
 * program error of block N is reported at the next status and the slot cannot be committed;
 * requests that arrive while a program runs (the platform released its lock) are answered.
 */
static void test_async_flash(void **state)
{
	struct fx *f = fx_new(true);
	size_t old_size[2], size[2];
	uint8_t *old[2] = {pair_image(0, 31, "1.0.0", &old_size[0]),
			   pair_image(1, 32, "1.0.0", &old_size[1])};
	uint8_t *img[2] = {pair_image(0, 33, "2.0.0", &size[0]),
			   pair_image(1, 34, "2.0.0", &size[1])};
	uint8_t blank[4096], status, sha[2][32];
	uint32_t len[2] = {0, 0};
	struct reentry re = {.f = f};

	(void)state;
	memset(blank, 0xff, sizeof(blank));
	dfu_dev_init(&f->dev, &async_ops, &f->ram, true, &cfg);
	install_primaries(f, old, old_size);
	assert_true(size[1] > 3 * 4096 && size[1] < 4 * 4096);

	/* block 0 is taken and handed to the flash thread, nothing is written yet */
	assert_int_equal(dfu_dev_set_alt(&f->dev, 1), 0);
	memcpy(f->buf, img[1], 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 0, 4096), 0);
	assert_int_equal(f->ram.works, 1);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], blank, 4096);
	/* one buffer is free: dfuDNLOAD-IDLE at once, bwPollTimeout 0 */
	assert_int_equal(try_getstatus(f, &status), DFU_STATE_DNLOAD_IDLE);
	/* block 1 while block 0 is still not written: both buffers full, the status waits */
	memcpy(f->buf, img[1] + 4096, 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 1, 4096), 0);
	assert_int_equal(dfu_dev_blocks_pending(&f->dev), 2);
	assert_int_equal(try_getstatus(f, NULL), DFU_DEV_WAIT);
	assert_int_equal(f->dev.state, DFU_STATE_DNLOAD_SYNC); /* nothing changed */
	/* requests from USB while block 0 is programmed (the platform's lock released) */
	f->ram.during_program = requests_meanwhile;
	f->ram.during_ctx = &re;
	assert_true(dfu_dev_work(&f->dev, f->now));
	f->ram.during_program = NULL;
	assert_int_equal(re.getstatus_rc, DFU_DEV_WAIT);
	assert_int_equal(re.info_rc, DFUMGR_INFO_LEN);
	assert_int_equal(re.state, DFU_STATE_DNLOAD_SYNC);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], img[1], 4096);
	/* block 0 done: its buffer is free again */
	assert_int_equal(try_getstatus(f, &status), DFU_STATE_DNLOAD_IDLE);
	assert_int_equal(dfu_dev_blocks_pending(&f->dev), 1);
	/* block 2 is taken, block 3 ends the image: its status waits until all is in flash */
	assert_int_equal(async_block(f, 2, img[1] + 2 * 4096, 4096, &status),
			 DFU_STATE_DNLOAD_IDLE);
	memcpy(f->buf, img[1] + 3 * 4096, size[1] - 3 * 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 3, (uint16_t)(size[1] - 3 * 4096)), 0);
	assert_int_equal(try_getstatus(f, NULL), DFU_DEV_WAIT);
	assert_true(dfu_dev_work(&f->dev, f->now)); /* block 2 */
	/* one buffer is free, but block 3 ends the image and is not yet in flash */
	assert_int_equal(try_getstatus(f, NULL), DFU_DEV_WAIT);
	assert_true(dfu_dev_work(&f->dev, f->now));
	assert_false(dfu_dev_work(&f->dev, f->now));
	assert_int_equal(try_getstatus(f, &status), DFU_STATE_DNLOAD_IDLE);
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG1_SECONDARY], img[1], size[1]);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 4, 0), 0);
	assert_int_equal(try_getstatus(f, &status), DFU_STATE_IDLE);

	/* image 0: the program of block 1 fails while block 2 is taken */
	assert_int_equal(dfu_dev_set_alt(&f->dev, 0), 0);
	assert_int_equal(async_block(f, 0, img[0], 4096, &status), DFU_STATE_DNLOAD_IDLE);
	f->ram.fail_program_after = 2; /* block 0's program succeeds, block 1's fails */
	assert_int_equal(async_block(f, 1, img[0] + 4096, 4096, &status), DFU_STATE_DNLOAD_IDLE);
	memcpy(f->buf, img[0] + 2 * 4096, size[0] - 2 * 4096);
	assert_int_equal(req(f, 0x21, DFU_DNLOAD, 2, (uint16_t)(size[0] - 2 * 4096)), 0);
	/* the status of block 2 waits for block 1's flash work, and reports its failure */
	while (try_getstatus(f, &status) == DFU_DEV_WAIT)
		assert_true(dfu_dev_work(&f->dev, f->now));
	assert_int_equal(f->dev.state, DFU_STATE_ERROR);
	assert_int_equal(status, DFU_STATUS_ERR_PROG);
	assert_int_equal(info32(f, 0, DFUMGR_INFO_IMG_FLASH_ERROR), 4096);
	assert_int_equal(info32(f, 0, DFUMGR_INFO_IMG_WRITTEN), 4096);
	/* block 2's turn comes, but it is never written; the pair cannot be committed */
	assert_true(dfu_dev_work(&f->dev, f->now));
	assert_false(dfu_dev_work(&f->dev, f->now));
	assert_memory_equal(f->ram.mem[DFU_AREA_IMG0_SECONDARY] + 2 * 4096, blank, 4096);
	assert_int_equal(req(f, 0x21, DFU_CLRSTATUS, 0, 0), 0);
	for (int i = 0; i < 2; i++) {
		len[i] = (uint32_t)size[i];
		dfumgr_sha256(img[i], size[i], sha[i]);
	}
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), DFU_DEV_STALL);
	assert_int_equal(info(f, DFUMGR_INFO_LAST_ERROR), DFUMGR_DEV_NOT_WRITTEN);
	assert_false(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	assert_false(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));

	/* requests that read the slots wait for flash work still queued */
	assert_int_equal(dfu_dev_set_alt(&f->dev, 0), 0);
	assert_int_equal(async_block(f, 0, img[0], 4096, &status), DFU_STATE_DNLOAD_IDLE);
	assert_int_equal(req(f, 0x21, DFU_ABORT, 0, 0), 0);
	assert_int_equal(dfu_dev_blocks_pending(&f->dev), 1);
	assert_int_equal(req(f, 0xa1, DFU_UPLOAD, 0, 64), DFU_DEV_WAIT);
	f->buf[0] = f->buf[1] = f->buf[2] = f->buf[3] = 0;
	assert_int_equal(req(f, 0x41, DFUMGR_REQ_DIGEST_START, 0, 4), DFU_DEV_WAIT);
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), DFU_DEV_WAIT);
	assert_true(dfu_dev_work(&f->dev, f->now));
	assert_int_equal(req(f, 0xa1, DFU_UPLOAD, 0, 64), 64);
	assert_memory_equal(f->buf, img[0], 64);
	assert_int_equal(req(f, 0x21, DFU_ABORT, 0, 0), 0);

	/* a whole download of image 0 again, and the pair commits */
	async_download(f, 0, img[0], size[0]);
	assert_int_equal(commit(f, len, (const uint8_t(*)[32])sha, 0), 0);
	assert_int_equal(commit_wait(f), DFUMGR_COMMIT_DONE);
	assert_true(trailer_magic(f, DFU_AREA_IMG0_SECONDARY));
	assert_true(trailer_magic(f, DFU_AREA_IMG1_SECONDARY));
	for (int i = 0; i < 2; i++) {
		free(old[i]);
		free(img[i]);
	}
	fx_free(f);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(dfu_state_name(DFU_STATE_DNBUSY), "dfuDNBUSY");
	assert_string_equal(dfu_state_name(99), "unknown");
	assert_string_equal(dfu_status_name(DFU_STATUS_ERR_STALLEDPKT), "errSTALLEDPKT");
	assert_string_equal(dfu_status_name(DFU_STATUS_ERR_CHECK_ERASED), "errCHECK_ERASED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runtime_mode),
	    cmocka_unit_test(test_download_states_poll_timeout_and_upload),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_flash_errors),
	    cmocka_unit_test(test_info_digest_commit),
	    cmocka_unit_test(test_commit_flash_failure_marks_neither_or_only_image0),
	    cmocka_unit_test(test_more_statuses),
	    cmocka_unit_test(test_pair_rule),
	    cmocka_unit_test(test_padded_image_with_trailer_refused),
	    cmocka_unit_test(test_download_clears_marks),
	    cmocka_unit_test(test_commit_of_interrupted_download_refused),
	    cmocka_unit_test(test_swap_sizes_guard),
	    cmocka_unit_test(test_confirm),
	    cmocka_unit_test(test_no_upload),
	    cmocka_unit_test(test_pipelined_program_error),
	    cmocka_unit_test(test_blank_sectors),
	    cmocka_unit_test(test_legacy_download),
	    cmocka_unit_test(test_sector_digests_and_sparse_download),
	    cmocka_unit_test(test_async_flash),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
