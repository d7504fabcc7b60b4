/* SPDX-License-Identifier: MIT */
/*
 * Device matching (VID:PID, serial, path), "VID:PID" parsing, and the shim's GET_INFO request
 * and its decoding, over a fake transport that records the request and plays back a reply; and
 * once against the real firmware core through the in-process loop backend, so that host and
 * device agree on the layout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "dfumgr/backend.h"
#include "loop_backend.h"
#include "dfumgr/device.h"
#include "dfumgr/shim_info.h"
#include "dfumgr/wire.h"

static void expect_msg(struct dfumgr_ctx *ctx, const char *part)
{
	if (!strstr(dfumgr_ctx_errmsg(ctx), part))
		fail_msg("message \"%s\" does not contain \"%s\"", dfumgr_ctx_errmsg(ctx), part);
}

/* ---- matching ---- */

static struct dfumgr_device_info sample_info(void)
{
	struct dfumgr_device_info d = {
	    .vid = 0x1915,
	    .pid = 0x5300,
	    .serial = "NRF5340-EMU-0001",
	    .path = "3-1.4",
	    .interface = 0,
	};
	return d;
}

static void test_parse_id(void **state)
{
	struct dfumgr_match m = {0};

	(void)state;
	assert_int_equal(dfumgr_match_parse_id(&m, "1915:5300"), 0);
	assert_int_equal(m.vid, 0x1915);
	assert_int_equal(m.pid, 0x5300);
	assert_int_equal(dfumgr_match_parse_id(&m, "abCD:Ef01"), 0);
	assert_int_equal(m.vid, 0xabcd);
	assert_int_equal(m.pid, 0xef01);
	/* fewer digits are fine: lsusb prints 4, people type 3 */
	assert_int_equal(dfumgr_match_parse_id(&m, "483:df11"), 0);
	assert_int_equal(m.vid, 0x0483);
	assert_int_equal(m.pid, 0xdf11);
}

static void test_parse_id_rejects(void **state)
{
	static const char *const bad[] = {
	    "",           "1915",        "1915:",      ":5300",      "1915:5300:1", "19150:5300",
	    "1915:53000", "0x1915:5300", "1915:5300 ", " 1915:5300", "g915:5300",   "1915-5300",
	};
	struct dfumgr_match m = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dfumgr_match_parse_id(&m, bad[i]) != -DFUMGR_E_INVAL)
			fail_msg("\"%s\" was accepted as VID:PID", bad[i]);
	assert_int_equal(dfumgr_match_parse_id(&m, NULL), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_match_parse_id(NULL, "1915:5300"), -DFUMGR_E_INVAL);
}

static void test_match_device(void **state)
{
	struct dfumgr_device_info d = sample_info();
	struct dfumgr_match m = {0};

	(void)state;
	assert_true(dfumgr_match_device(NULL, &d));
	assert_true(dfumgr_match_device(&m, &d));

	m.vid = 0x1915;
	assert_true(dfumgr_match_device(&m, &d));
	m.pid = 0x5301;
	assert_false(dfumgr_match_device(&m, &d));
	m.pid = 0x5300;
	assert_true(dfumgr_match_device(&m, &d));
	m.vid = 0x1916;
	assert_false(dfumgr_match_device(&m, &d));

	m = (struct dfumgr_match){.serial = "NRF5340-EMU-0001"};
	assert_true(dfumgr_match_device(&m, &d));
	/* exact: neither a prefix nor a different case is the same board */
	m.serial = "NRF5340-EMU-000";
	assert_false(dfumgr_match_device(&m, &d));
	m.serial = "nrf5340-emu-0001";
	assert_false(dfumgr_match_device(&m, &d));
	m.serial = "";
	assert_true(dfumgr_match_device(&m, &d));

	m = (struct dfumgr_match){.path = "3-1.4"};
	assert_true(dfumgr_match_device(&m, &d));
	m.path = "3-1";
	assert_false(dfumgr_match_device(&m, &d));
	m.path = "3-1.4.1";
	assert_false(dfumgr_match_device(&m, &d));

	m = (struct dfumgr_match){
	    .vid = 0x1915, .pid = 0x5300, .serial = "NRF5340-EMU-0001", .path = "3-1.4"};
	assert_true(dfumgr_match_device(&m, &d));
	m.path = "3-2";
	assert_false(dfumgr_match_device(&m, &d));

	/* a device without a serial only matches when no serial is asked for */
	d.serial[0] = '\0';
	m = (struct dfumgr_match){.serial = "NRF5340-EMU-0001"};
	assert_false(dfumgr_match_device(&m, &d));
}

/* ---- a fake backend: one device, one interface, a scripted reply to control requests ---- */

struct fake {
	struct dfumgr_device_info info;
	/* the last request */
	unsigned calls;
	uint8_t request_type, request;
	uint16_t value, index, length;
	/* the reply: rc < 0 is returned as is, else reply[0..reply_len) */
	int rc;
	uint8_t reply[256];
	size_t reply_len;
	bool closed;
};

static int fake_control(void *t, struct dfumgr_ctx *ctx, uint8_t request_type, uint8_t request,
			uint16_t value, uint16_t index, uint8_t *data, uint16_t length,
			unsigned timeout_ms)
{
	struct fake *f = t;
	size_t n;

	(void)timeout_ms;
	f->calls++;
	f->request_type = request_type;
	f->request = request;
	f->value = value;
	f->index = index;
	f->length = length;
	if (f->rc < 0)
		return dfumgr_ctx_set_error(ctx, -f->rc, "fake transport: %s",
					    dfumgr_strerror(f->rc));
	n = f->reply_len < length ? f->reply_len : length;
	memcpy(data, f->reply, n);
	return (int)n;
}

static int fake_set_alt(void *t, struct dfumgr_ctx *ctx, uint8_t alt)
{
	(void)t;
	(void)ctx;
	(void)alt;
	return 0;
}

static int fake_reset(void *t, struct dfumgr_ctx *ctx)
{
	(void)t;
	(void)ctx;
	return 0;
}

static void fake_close(void *t)
{
	((struct fake *)t)->closed = true;
}

static const struct dfumgr_transport_ops fake_transport = {
    .control = fake_control,
    .set_alt = fake_set_alt,
    .reset = fake_reset,
    .close = fake_close,
};

static int fake_list(void *b, struct dfumgr_ctx *ctx, struct dfumgr_device_info **ret_list,
		     size_t *ret_n)
{
	struct fake *f = b;
	struct dfumgr_device_info *v = calloc(2, sizeof(*v));

	(void)ctx;
	assert_non_null(v);
	v[0] = f->info;
	v[1] = f->info;
	snprintf(v[1].serial, sizeof(v[1].serial), "OTHER");
	snprintf(v[1].path, sizeof(v[1].path), "1-2");
	*ret_list = v;
	*ret_n = 2;
	return 0;
}

static int fake_open(void *b, struct dfumgr_ctx *ctx, const struct dfumgr_device_info *info,
		     const struct dfumgr_transport_ops **ret_ops, void **ret_t)
{
	(void)ctx;
	(void)info;
	*ret_ops = &fake_transport;
	*ret_t = b;
	return 0;
}

static int fake_wait_event(void *b, unsigned timeout_ms, const struct dfumgr_cancel *c)
{
	(void)b;
	(void)timeout_ms;
	(void)c;
	return -DFUMGR_E_TIMEOUT;
}

static int fake_sleep_us(void *b, uint64_t us, const struct dfumgr_cancel *c)
{
	(void)b;
	(void)us;
	(void)c;
	return 0;
}

static uint64_t fake_now_us(void *b)
{
	(void)b;
	return 0;
}

static void fake_free(void *b)
{
	(void)b;
}

static const struct dfumgr_backend_ops fake_backend = {
    .name = "fake",
    .list = fake_list,
    .open = fake_open,
    .wait_event = fake_wait_event,
    .sleep_us = fake_sleep_us,
    .now_us = fake_now_us,
    .free = fake_free,
};

struct fixture {
	struct fake fake;
	struct dfumgr_ctx *ctx;
	struct dfumgr_backend *be;
	struct dfumgr_dev *dev;
};

/* A GET_INFO reply as the shim sends it (ARCHITECTURE §3): image 0 runs 2.3.0+4 with image 1's
 * slot written and pending, image 1 runs 1.0.0+0. */
static void good_reply(uint8_t r[static DFUMGR_INFO_LEN])
{
	uint8_t *img0 = r + DFUMGR_INFO_IMAGES, *img1 = img0 + DFUMGR_INFO_IMAGE_LEN;

	memset(r, 0, DFUMGR_INFO_LEN);
	r[DFUMGR_INFO_PROTO] = DFUMGR_PROTO_VERSION;
	r[DFUMGR_INFO_N_IMAGES] = 2;
	r[DFUMGR_INFO_LAST_ERROR] = DFUMGR_DEV_DIGEST1;
	r[DFUMGR_INFO_COMMIT_STATE] = DFUMGR_COMMIT_REJECTED;
	memcpy(r + DFUMGR_INFO_SERIAL, "NRF5340-EMU-0001", 16);
	memcpy(r + DFUMGR_INFO_PRODUCT, "gait-sensor", 11);
	r[DFUMGR_INFO_HW_REV] = 0x02; /* 0x0102 */
	r[DFUMGR_INFO_HW_REV + 1] = 0x01;
	r[DFUMGR_INFO_CAPS] =
	    DFUMGR_CAP_UPLOAD | DFUMGR_CAP_VERSION_BUILD | DFUMGR_CAP_SECTOR_DIGESTS;

	img0[DFUMGR_INFO_IMG_SLOT_STATE] = DFUMGR_SLOT_PENDING;
	img0[DFUMGR_INFO_IMG_FLAGS] = 1;
	img0[DFUMGR_INFO_IMG_VERSION] = 2;
	img0[DFUMGR_INFO_IMG_VERSION + 1] = 3;
	img0[DFUMGR_INFO_IMG_VERSION + 2] = 0x34; /* revision 0x1234, little-endian */
	img0[DFUMGR_INFO_IMG_VERSION + 3] = 0x12;
	img0[DFUMGR_INFO_IMG_VERSION + 4] = 0x04; /* build 0x01020304 */
	img0[DFUMGR_INFO_IMG_VERSION + 5] = 0x03;
	img0[DFUMGR_INFO_IMG_VERSION + 6] = 0x02;
	img0[DFUMGR_INFO_IMG_VERSION + 7] = 0x01;
	img0[DFUMGR_INFO_IMG_SLOT_SIZE + 2] = 0x0e;  /* 0x000e0000 */
	img0[DFUMGR_INFO_IMG_ERASE_UNIT + 1] = 0x10; /* 0x1000 */
	img0[DFUMGR_INFO_IMG_WRITTEN] = 0xdc;        /* 214748 = 0x346dc */
	img0[DFUMGR_INFO_IMG_WRITTEN + 1] = 0x46;
	img0[DFUMGR_INFO_IMG_WRITTEN + 2] = 0x03;
	img0[DFUMGR_INFO_IMG_UPLOADABLE + 1] = 0x50; /* 0x5000 */
	img0[DFUMGR_INFO_IMG_FLAGS] |= DFUMGR_INFO_F_HAS_SEC_CNT | DFUMGR_INFO_F_SECONDARY_WHOLE;
	img0[DFUMGR_INFO_IMG_MAX_IMAGE + 1] = 0xb0; /* 0x000db000 */
	img0[DFUMGR_INFO_IMG_MAX_IMAGE + 2] = 0x0d;
	img0[DFUMGR_INFO_IMG_SEC_CNT] = 7;
	img0[DFUMGR_INFO_IMG_SEC_EXTENT] = 0xdc; /* 214748 */
	img0[DFUMGR_INFO_IMG_SEC_EXTENT + 1] = 0x46;
	img0[DFUMGR_INFO_IMG_SEC_EXTENT + 2] = 0x03;
	img0[DFUMGR_INFO_IMG_VERIFIED] = 12;
	img0[DFUMGR_INFO_IMG_FLASH_ERROR + 1] = 0x30; /* 0x3000 */

	img1[DFUMGR_INFO_IMG_SLOT_STATE] = DFUMGR_SLOT_EMPTY;
	img1[DFUMGR_INFO_IMG_FLAGS] = 1 | DFUMGR_INFO_F_PRIMARY_CONFIRMED;
	img1[DFUMGR_INFO_IMG_VERSION] = 1;
	img1[DFUMGR_INFO_IMG_SLOT_SIZE + 2] = 0x37; /* 0x00370000 */
	img1[DFUMGR_INFO_IMG_ERASE_UNIT + 1] = 0x10;
	img1[DFUMGR_INFO_IMG_MAX_IMAGE + 1] = 0xb0; /* 0x0036b000 */
	img1[DFUMGR_INFO_IMG_MAX_IMAGE + 2] = 0x36;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->fake.info = sample_info();
	fx->fake.info.interface = 3; /* not 0: wIndex must be the DFU interface, not a constant */
	good_reply(fx->fake.reply);
	fx->fake.reply_len = DFUMGR_INFO_LEN;
	fx->ctx = dfumgr_ctx_new();
	assert_non_null(fx->ctx);
	assert_int_equal(dfumgr_backend_new(&fake_backend, &fx->fake, &fx->be), 0);
	assert_int_equal(dfumgr_dev_open_info(fx->ctx, fx->be, &fx->fake.info, &fx->dev), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	assert_null(dfumgr_dev_close(fx->dev));
	assert_true(fx->fake.closed);
	assert_null(dfumgr_backend_free(fx->be));
	dfumgr_ctx_free(fx->ctx);
	free(fx);
	return 0;
}

static void test_get_info_request_and_decoding(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_shim_info info;

	memset(&info, 0xa5, sizeof(info));
	assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), 0);

	/* ARCHITECTURE §3: vendor IN to the interface, wIndex = the DFU interface, 160 bytes */
	assert_int_equal(fx->fake.calls, 1);
	assert_int_equal(fx->fake.request_type, 0xc1);
	assert_int_equal(fx->fake.request, DFUMGR_REQ_GET_INFO);
	assert_int_equal(fx->fake.value, 0);
	assert_int_equal(fx->fake.index, 3);
	assert_int_equal(fx->fake.length, DFUMGR_INFO_LEN);

	assert_int_equal(info.protocol, 2);
	assert_int_equal(info.n_images, 2);
	assert_int_equal(info.last_error, DFUMGR_DEV_DIGEST1);
	assert_int_equal(info.commit_state, DFUMGR_COMMIT_REJECTED);
	assert_string_equal(info.serial, "NRF5340-EMU-0001");
	assert_string_equal(info.product, "gait-sensor");
	assert_int_equal(info.hw_revision, 0x0102);
	assert_int_equal(info.caps,
			 DFUMGR_CAP_UPLOAD | DFUMGR_CAP_VERSION_BUILD | DFUMGR_CAP_SECTOR_DIGESTS);

	assert_int_equal(info.images[0].slot_state, DFUMGR_SLOT_PENDING);
	assert_true(info.images[0].primary_valid);
	assert_int_equal(info.images[0].running.major, 2);
	assert_int_equal(info.images[0].running.minor, 3);
	assert_int_equal(info.images[0].running.revision, 0x1234);
	assert_int_equal(info.images[0].running.build, 0x01020304);
	assert_int_equal(info.images[0].slot_size, 0xe0000);
	assert_int_equal(info.images[0].erase_unit, 0x1000);
	assert_int_equal(info.images[0].written, 214748);
	assert_int_equal(info.images[0].uploadable, 0x5000);
	assert_int_equal(info.images[0].max_image, 0xdb000);
	assert_true(info.images[0].has_sec_cnt);
	assert_int_equal(info.images[0].sec_cnt, 7);
	assert_true(info.images[0].secondary_whole);
	assert_false(info.images[0].confirmed);
	assert_int_equal(info.images[0].secondary_extent, 214748);
	assert_int_equal(info.images[0].verified_sectors, 12);
	assert_int_equal(info.images[0].flash_error, 0x3000);

	assert_int_equal(info.images[1].slot_state, DFUMGR_SLOT_EMPTY);
	assert_true(info.images[1].primary_valid);
	assert_int_equal(info.images[1].running.major, 1);
	assert_int_equal(info.images[1].running.minor, 0);
	assert_int_equal(info.images[1].running.revision, 0);
	assert_int_equal(info.images[1].running.build, 0);
	assert_int_equal(info.images[1].slot_size, 0x370000);
	assert_int_equal(info.images[1].written, 0);
	assert_int_equal(info.images[1].max_image, 0x36b000);
	assert_true(info.images[1].confirmed);
	assert_false(info.images[1].has_sec_cnt);
	assert_false(info.images[1].secondary_whole);
}

static void test_get_info_stall_means_plain_dfu(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_shim_info info, before;

	memset(&info, 0x5a, sizeof(info));
	before = info;
	fx->fake.rc = -DFUMGR_E_STALL;
	assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), -DFUMGR_E_UNSUPPORTED);
	assert_int_equal(dfumgr_ctx_errcode(fx->ctx), DFUMGR_E_UNSUPPORTED);
	expect_msg(fx->ctx, "not a dfu-mgr shim");
	/* ret_* only on success */
	assert_memory_equal(&info, &before, sizeof(info));
}

static void test_get_info_transport_errors_pass_through(void **state)
{
	static const int errs[] = {-DFUMGR_E_DISCONNECTED, -DFUMGR_E_TIMEOUT, -DFUMGR_E_IO,
				   -DFUMGR_E_ACCESS, -DFUMGR_E_BUSY};
	struct fixture *fx = *state;
	struct dfumgr_shim_info info;

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		dfumgr_ctx_clear_error(fx->ctx);
		fx->fake.rc = errs[i];
		assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), errs[i]);
		expect_msg(fx->ctx, "GET_INFO: fake transport");
	}
}

/* Runs the parser over the fixture's reply, modified at one offset; expects rc and a message. */
static void expect_bad(struct fixture *fx, size_t off, uint8_t val, size_t len, int want_rc,
		       const char *want_msg)
{
	struct dfumgr_shim_info info;

	good_reply(fx->fake.reply);
	if (off < sizeof(fx->fake.reply))
		fx->fake.reply[off] = val;
	fx->fake.reply_len = len;
	dfumgr_ctx_clear_error(fx->ctx);
	if (dfumgr_shim_get_info(fx->dev, &info) != want_rc)
		fail_msg("byte %zu = 0x%02x, %zu bytes: want %d, got \"%s\"", off, val, len,
			 want_rc, dfumgr_ctx_errmsg(fx->ctx));
	expect_msg(fx->ctx, want_msg);
}

static void test_get_info_malformed(void **state)
{
	struct fixture *fx = *state;
	size_t img1 = DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMAGE_LEN;

	expect_bad(fx, 0, 1, 0, -DFUMGR_E_PROTOCOL, "empty GET_INFO reply");
	expect_bad(fx, 0, 2, DFUMGR_INFO_LEN - 1, -DFUMGR_E_PROTOCOL,
		   "GET_INFO reply is 159 bytes, protocol 2 has 160");
	expect_bad(fx, DFUMGR_INFO_PROTO, 0, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "protocol version 0");
	/* a board of another version: not this host's layout, nothing after the byte is read */
	expect_bad(fx, DFUMGR_INFO_PROTO, 3, 4, -DFUMGR_E_UNSUPPORTED,
		   "the board speaks shim protocol version 3 and this host version 2: use a newer "
		   "dfu-mgr");
	/* version 1 boards (84-byte reply) predate the board-side pair rule: refused, clearly */
	expect_bad(fx, DFUMGR_INFO_PROTO, 1, 84, -DFUMGR_E_UNSUPPORTED,
		   "shim protocol version 1 and this host version 2: its firmware predates the "
		   "board-side pair rule");
	expect_bad(fx, DFUMGR_INFO_N_IMAGES, 0, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "0 images at offset 1");
	expect_bad(fx, DFUMGR_INFO_N_IMAGES, 3, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "3 images at offset 1");
	expect_bad(fx, DFUMGR_INFO_COMMIT_STATE, 4, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "commit state 4 at offset 3");
	expect_bad(fx, DFUMGR_INFO_SERIAL + 3, '\n', DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "serial byte 0x0a at offset 7");
	expect_bad(fx, DFUMGR_INFO_SERIAL + 3, 0x80, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "serial byte 0x80 at offset 7");
	expect_bad(fx, DFUMGR_INFO_PRODUCT + 2, 0x7f, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "product byte 0x7f at offset 30");
	expect_bad(fx, img1 + DFUMGR_INFO_IMG_SLOT_STATE, 4, DFUMGR_INFO_LEN, -DFUMGR_E_PROTOCOL,
		   "image 1 slot state 4 at offset 112");
	/* image 1 claims more written bytes (0x00ff0000) than its slot holds (0x00370000) */
	expect_bad(fx, img1 + DFUMGR_INFO_IMG_WRITTEN + 2, 0xff, DFUMGR_INFO_LEN,
		   -DFUMGR_E_PROTOCOL, "image 1 reports 16711680 bytes written");
	/* and an image limit larger than the slot */
	expect_bad(fx, img1 + DFUMGR_INFO_IMG_MAX_IMAGE + 2, 0x38, DFUMGR_INFO_LEN,
		   -DFUMGR_E_PROTOCOL, "a 3715072-byte image limit");
	/* every message names the device */
	expect_msg(fx->ctx, "serial NRF5340-EMU-0001: GET_INFO");
}

static void test_get_info_edge_cases(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_shim_info info;

	/* a 24-character serial fills the field: no NUL on the wire */
	memcpy(fx->fake.reply + DFUMGR_INFO_SERIAL, "NRF5340-0000000000000001", DFUMGR_SERIAL_MAX);
	/* so does a 32-character product */
	memcpy(fx->fake.reply + DFUMGR_INFO_PRODUCT, "abcdefghijklmnopqrstuvwxyz-01234",
	       DFUMGR_PRODUCT_MAX);
	assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), 0);
	assert_string_equal(info.serial, "NRF5340-0000000000000001");
	assert_string_equal(info.product, "abcdefghijklmnopqrstuvwxyz-01234");

	/* one image: the second is not read and stays zero */
	good_reply(fx->fake.reply);
	fx->fake.reply[DFUMGR_INFO_N_IMAGES] = 1;
	fx->fake.reply[DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMAGE_LEN] = 0xee; /* would be invalid */
	assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), 0);
	assert_int_equal(info.n_images, 1);
	assert_int_equal(info.images[1].slot_state, 0);
	assert_false(info.images[1].primary_valid);

	/* no image in the primary slot: the version bytes are not meaningful */
	good_reply(fx->fake.reply);
	fx->fake.reply[DFUMGR_INFO_IMAGES + DFUMGR_INFO_IMG_FLAGS] = 0;
	assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), 0);
	assert_false(info.images[0].primary_valid);

	/* an error code this host does not know is kept, not rejected */
	good_reply(fx->fake.reply);
	fx->fake.reply[DFUMGR_INFO_LAST_ERROR] = 200;
	assert_int_equal(dfumgr_shim_get_info(fx->dev, &info), 0);
	assert_int_equal(info.last_error, 200);

	/* a longer reply than asked for cannot happen (wLength = 160), a longer buffer is fine */
	good_reply(fx->fake.reply);
	assert_int_equal(dfumgr_shim_info_parse(fx->ctx, fx->fake.reply, 200, &info), 0);

	assert_int_equal(dfumgr_shim_get_info(NULL, &info), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_shim_get_info(fx->dev, NULL), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_shim_info_parse(fx->ctx, NULL, DFUMGR_INFO_LEN, &info),
			 -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_shim_info_parse(fx->ctx, fx->fake.reply, DFUMGR_INFO_LEN, NULL),
			 -DFUMGR_E_INVAL);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(dfumgr_slot_state_name(DFUMGR_SLOT_EMPTY), "empty");
	assert_string_equal(dfumgr_slot_state_name(DFUMGR_SLOT_WRITTEN), "written");
	assert_string_equal(dfumgr_slot_state_name(DFUMGR_SLOT_PENDING), "pending");
	assert_string_equal(dfumgr_slot_state_name(DFUMGR_SLOT_CONFIRMED), "confirmed");
	assert_string_equal(dfumgr_slot_state_name(4), "unknown");
	assert_string_equal(dfumgr_commit_state_name(DFUMGR_COMMIT_NONE), "none");
	assert_string_equal(dfumgr_commit_state_name(DFUMGR_COMMIT_CHECKING), "checking");
	assert_string_equal(dfumgr_commit_state_name(DFUMGR_COMMIT_DONE), "done");
	assert_string_equal(dfumgr_commit_state_name(DFUMGR_COMMIT_REJECTED), "rejected");
	assert_string_equal(dfumgr_commit_state_name(99), "unknown");
}

static void test_device_list_filters(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_device_info *list = NULL;
	struct dfumgr_match m = {.serial = "OTHER"};
	size_t n = 0;

	assert_int_equal(dfumgr_device_list(fx->ctx, fx->be, NULL, &list, &n), 0);
	assert_int_equal(n, 2);
	free(list);
	assert_int_equal(dfumgr_device_list(fx->ctx, fx->be, &m, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].path, "1-2");
	free(list);
	m = (struct dfumgr_match){.path = "3-9"};
	assert_int_equal(dfumgr_device_list(fx->ctx, fx->be, &m, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
}

/* The firmware core's GET_INFO, decoded by the host: both sides read wire.h the same way. */
static void test_get_info_against_firmware_core(void **state)
{
	struct loop *l = loop_new(1, false);
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_backend *be;
	struct dfumgr_dev *dev = NULL;
	struct dfumgr_match m = {.serial = "LOOP-0001"};
	struct dfumgr_shim_info info;

	(void)state;
	assert_non_null(l);
	be = loop_backend(l);
	assert_non_null(be);
	if (dfumgr_dev_open(ctx, be, &m, &dev) != 0)
		fail_msg("open LOOP-0001: %s", dfumgr_ctx_errmsg(ctx));
	if (dfumgr_shim_get_info(dev, &info) != 0)
		fail_msg("GET_INFO: %s", dfumgr_ctx_errmsg(ctx));
	assert_int_equal(info.protocol, DFUMGR_PROTO_VERSION);
	assert_string_equal(info.serial, "LOOP-0001");
	assert_string_equal(info.product, EMU_DEFAULT_PRODUCT);
	assert_int_equal(info.hw_revision, 1);
	assert_int_equal(info.caps,
			 DFUMGR_CAP_UPLOAD | DFUMGR_CAP_VERSION_BUILD | DFUMGR_CAP_SECTOR_DIGESTS);
	assert_int_equal(info.n_images, DFUMGR_N_IMAGES);
	for (size_t i = 0; i < DFUMGR_N_IMAGES; i++) {
		/* the emulator's factory pair is 1.0.0+0 */
		assert_true(info.images[i].primary_valid);
		assert_int_equal(info.images[i].running.major, 1);
		assert_int_equal(info.images[i].running.minor, 0);
		assert_int_equal(info.images[i].running.revision, 0);
		assert_int_equal(info.images[i].running.build, 0);
		assert_int_equal(info.images[i].erase_unit, 4096);
		assert_int_equal(info.images[i].written, 0);
		assert_int_equal(info.images[i].verified_sectors, 0);
		assert_int_equal(info.images[i].flash_error, DFUMGR_NO_FLASH_ERROR);
		/* flashed at the factory, not swapped in: no trailer counts as confirmed */
		assert_true(info.images[i].confirmed);
		assert_int_equal(info.images[i].max_image,
				 dfumgr_wire_image_max(info.images[i].slot_size, 4096));
	}
	assert_int_equal(info.images[0].max_image, 0xdb000);
	assert_int_equal(info.images[1].max_image, 0x36b000);
	assert_int_equal(info.images[0].slot_size, DFUMGR_IMG0_SLOT_SIZE);
	assert_int_equal(info.images[1].slot_size, DFUMGR_IMG1_SLOT_SIZE);

	/* a plain DFU device stalls vendor requests */
	dfumgr_dev_close(dev);
	l->boards[0].plain = true;
	assert_int_equal(dfumgr_dev_open(ctx, be, &m, &dev), 0);
	assert_int_equal(dfumgr_shim_get_info(dev, &info), -DFUMGR_E_UNSUPPORTED);
	dfumgr_dev_close(dev);
	dfumgr_backend_free(be);
	loop_free(l);
	dfumgr_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_id),
	    cmocka_unit_test(test_parse_id_rejects),
	    cmocka_unit_test(test_match_device),
	    cmocka_unit_test_setup_teardown(test_get_info_request_and_decoding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_info_stall_means_plain_dfu, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_info_transport_errors_pass_through, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_get_info_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_info_edge_cases, setup, teardown),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test_setup_teardown(test_device_list_filters, setup, teardown),
	    cmocka_unit_test(test_get_info_against_firmware_core),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
