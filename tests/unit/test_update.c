/* SPDX-License-Identifier: MIT */
/*
 * The DFU host engine and the paired update over the in-process backend: emulated boards (the
 * shim's real core, flash and MCUboot models) on a virtual clock. Every fault a host can meet,
 * and after each: a clear error, the board still boots its old pair, and a re-run succeeds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "loop_backend.h"
#include "dfumgr/bundle.h"
#include "dfumgr/dfu.h"
#include "dfumgr/keyring.h"
#include "dfumgr/pack.h"
#include "dfumgr/shim.h"
#include "dfumgr/update.h"

struct fx {
	struct loop *loop;
	struct dfumgr_backend *be;
	struct dfumgr_ctx *ctx;
	struct dfumgr_keyring *ring;
	struct dfumgr_key *key;
	char *tmp;
	int n_bundles;
};

static struct fx *fx_new(unsigned boards, bool real_timing)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->loop = loop_new(boards, real_timing);
	assert_non_null(f->loop);
	f->be = loop_backend(f->loop);
	f->ctx = dfumgr_ctx_new();
	assert_int_equal(dfumgr_keyring_load(f->ctx, test_data_path("key-A-pub.pem"), &f->ring), 0);
	assert_int_equal(dfumgr_key_load(f->ctx, test_data_path("key-A.pem"), &f->key), 0);
	f->tmp = test_tmpdir();
	return f;
}

static void fx_free(struct fx *f)
{
	dfumgr_backend_free(f->be);
	loop_free(f->loop);
	dfumgr_keyring_free(f->ring);
	dfumgr_key_free(f->key);
	dfumgr_ctx_free(f->ctx);
	test_rmtree(f->tmp);
	free(f->tmp);
	free(f);
}

static uint8_t *payload(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);

	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

/* A signed pair of product at version v, written as a bundle and opened (verified) again. */
static struct dfumgr_bundle *product_bundle(struct fx *f, const char *product, const char *v,
					    size_t n0, size_t n1, uint32_t slot1)
{
	struct dfumgr_pack_opts po = {.key = f->key, .product = product};
	struct dfumgr_pack_result r = {0};
	struct dfumgr_bundle *b = NULL;
	uint8_t *p0 = payload(n0, 11 + (uint32_t)f->n_bundles), *p1 = payload(n1, 22);
	char dir[512];

	po.slot[1].slot_size = slot1;
	assert_int_equal(dfumgr_version_parse(v, &po.version), 0);
	snprintf(dir, sizeof(dir), "%s/b%d", f->tmp, f->n_bundles++);
	if (dfumgr_pack_payloads(f->ctx, p0, n0, 0xc200, p1, n1, 0x10120200, &po, &r) < 0)
		fail_msg("pack: %s", dfumgr_ctx_errmsg(f->ctx));
	assert_int_equal(
	    dfumgr_bundle_write(f->ctx, dir, &r.manifest, r.image, r.image_size, f->key), 0);
	assert_int_equal(dfumgr_bundle_open(f->ctx, dir, f->ring, 0, NULL, &b), 0);
	dfumgr_pack_result_done(&r);
	free(p0);
	free(p1);
	return b;
}

static struct dfumgr_bundle *bundle(struct fx *f, const char *v, size_t n0, size_t n1,
				    uint32_t slot1)
{
	return product_bundle(f, EMU_DEFAULT_PRODUCT, v, n0, n1, slot1);
}

static struct dfumgr_bundle *bundle_for(struct fx *f, const char *product, const char *v)
{
	return product_bundle(f, product, v, 40000, 300000, 0);
}

/* What board i runs, from its primary slots ("none" if invalid). */
static void running(struct fx *f, unsigned i, int image, char *out)
{
	struct emu_board *b = &f->loop->boards[i].b;
	uint32_t base;
	struct emu_flash *fl = emu_board_area(b, dfu_area_primary((unsigned)image), &base);
	struct dfumgr_image img;
	uint32_t size = image == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;

	if (dfumgr_image_parse(NULL, fl->mem + base, size, &img) == 0 &&
	    dfumgr_image_check_hash(NULL, &img, NULL) == 0)
		dfumgr_version_format(&img.version, out);
	else
		strcpy(out, "none");
}

static void expect_running(struct fx *f, unsigned i, const char *v0, const char *v1)
{
	char a[32], b[32];

	loop_advance(f->loop, 5000000); /* let a rebooting board come back */
	running(f, i, 0, a);
	running(f, i, 1, b);
	assert_string_equal(a, v0);
	assert_string_equal(b, v1);
	assert_int_equal(f->loop->boards[i].b.app, EMU_APP_CONFIRMED);
	assert_int_equal(f->loop->boards[i].b.mode, EMU_MODE_RUNTIME);
}

/* Board i (path 9-<i+1>, its serial, dfu-mgr's VID) in the wanted mode. */
static int wait_board(struct fx *f, unsigned i, bool dfu_mode, struct dfumgr_device_info *ret)
{
	struct dfumgr_board_id id = {.vid = DFUMGR_USB_VID};

	snprintf(id.serial, sizeof(id.serial), "%s", f->loop->boards[i].b.serial);
	snprintf(id.path, sizeof(id.path), "9-%u", f->loop->boards[i].port);
	return dfumgr_board_wait(f->ctx, f->be, &id, dfu_mode, 5000, NULL, ret);
}

static int update(struct fx *f, struct dfumgr_bundle *b, struct dfumgr_update_opts *o,
		  struct dfumgr_update_report *r)
{
	struct dfumgr_update_opts d = DFUMGR_UPDATE_OPTS_INIT;
	int rc = dfumgr_update(f->ctx, f->be, b, o ? o : &d, r);

	print_message("  update: %s -> %s [%s]\n", rc ? dfumgr_ctx_errmsg(f->ctx) : "ok",
		      r->board_state, dfumgr_update_phase_name(r->phase));
	return rc;
}

static void test_update_pair_and_verify(void **state)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	char v[32];

	(void)state;
	expect_running(f, 0, "1.0.0+0", "1.0.0+0");
	/* a factory board does not run the bundle */
	assert_int_equal(dfumgr_verify_device(f->ctx, f->be, b, NULL, &r), -DFUMGR_E_MISMATCH);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "image 0"));

	assert_int_equal(update(f, b, NULL, &r), 0);
	assert_true(r.shim);
	assert_int_equal(r.verify, DFUMGR_VERIFY_DEVICE_DIGEST);
	assert_true(r.committed);
	assert_int_equal(r.phase, DFUMGR_PHASE_DONE);
	assert_true(r.have_before && r.have_after);
	assert_string_equal(dfumgr_version_format(&r.before[0], v), "1.0.0+0");
	assert_string_equal(dfumgr_version_format(&r.after[1], v), "2.0.0+1");
	assert_int_equal(r.downloads[0], 1);
	assert_int_equal(r.downloads[1], 1);
	assert_string_equal(r.serial, "LOOP-0001");
	assert_string_equal(r.board_state, "running the new pair");
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	/* MCUboot model: swapped both in one boot, then the app confirmed both */
	assert_non_null(strstr(f->loop->boards[0].b.last_boot, "swapped image 0"));
	assert_non_null(strstr(f->loop->boards[0].b.last_boot, "swapped image 1"));
	/* the engine never polled earlier or later than bwPollTimeout */
	assert_int_equal(f->loop->polls_early, 0);
	assert_int_equal(f->loop->polls_late, 0);

	assert_int_equal(dfumgr_verify_device(f->ctx, f->be, b, NULL, &r), 0);
	/* a reboot later the pair is still there: confirmed, not reverted */
	assert_int_equal(emu_board_state_json(&f->loop->boards[0].b, (char[4096]){0}, 4096) > 0, 1);
	f->loop->boards[0].b.mode = EMU_MODE_OFF;
	f->loop->boards[0].present = false;
	f->loop->boards[0].plug_at_us = f->loop->now_us + 1;
	f->loop->boards[0].boot_first = true;
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	dfumgr_bundle_free(b);
	fx_free(f);
}

static void test_real_timing_poll_timeouts(void **state)
{
	struct fx *f = fx_new(1, true);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 64 * 1024, 256 * 1024, 0);
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	struct emu_board *eb = &f->loop->boards[0].b;
	struct dfumgr_device_info info;
	struct dfumgr_dev *dev = NULL;
	uint8_t *data = payload(256 * 1024 + 100, 9);
	uint64_t busy0, t0, flash, took;

	(void)state;
	assert_int_equal(update(f, b, NULL, &r), 0);
	/* every wait was exactly the device's bwPollTimeout */
	assert_true(f->loop->polls_checked > 10);
	assert_int_equal(f->loop->polls_early, 0);
	assert_int_equal(f->loop->polls_late, 0);
	print_message(
	    "  virtual time slept: %.1f s, download phase %.3f s, new pair after %.3f s\n",
	    f->loop->slept_us / 1e6, r.phase_us[DFUMGR_PHASE_DOWNLOAD] / 1e6, r.new_pair_us / 1e6);
	/* QSPI: 65 sectors of 16 x 0.9 ms programs at least (its blank sectors are not erased) */
	assert_true(r.phase_us[DFUMGR_PHASE_DOWNLOAD] > 65 * 16 * 900);
	/* the new pair ran only after the download, the commit and the reboot */
	assert_true(r.new_pair_us > r.phase_us[DFUMGR_PHASE_DOWNLOAD]);
	assert_true(r.new_pair_us <= r.total_us);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");

	/*
	 * The DFU engine alone, on a slot half of which holds data (erased) and half blank: the
	 * board takes block N+1 while it programs block N, so the download takes the flash's own
	 * time (its datasheet time, as the flash model accounts it) plus one block's transfer and
	 * the final status: not flash + USB + polling for every block.
	 */
	loop_set_dfu_mode(f->loop, 0);
	assert_int_equal(wait_board(f, 0, true, &info), 0);
	assert_int_equal(dfumgr_dev_open_info(f->ctx, f->be, &info, &dev), 0);
	busy0 = eb->qspi.busy_us;
	t0 = f->loop->now_us;
	assert_int_equal(dfumgr_dfu_download(dev, 1, data, 256 * 1024 + 100, NULL), 0);
	flash = eb->qspi.busy_us - busy0;
	took = f->loop->now_us - t0;
	print_message("  256 KiB download: %.1f ms, the flash's work %.1f ms\n", took / 1e3,
		      flash / 1e3);
	assert_true(flash > 65 * 16 * 900);
	assert_true(took >= flash);
	assert_true(took - flash < 3000);
	assert_int_equal(f->loop->polls_early, 0);
	assert_int_equal(f->loop->polls_late, 0);
	dfumgr_dev_close(dev);
	free(data);
	dfumgr_bundle_free(b);
	fx_free(f);
}

/* One fault, then the checks every fault must pass. */
static void fault_case(const char *what, const char *alt_fault, int alt, uint64_t n, int want_rc)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct emu_board *eb = &f->loop->boards[0].b;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	uint32_t base;
	int rc;

	print_message("fault: %s\n", what);
	if (!strcmp(alt_fault, "disconnect"))
		eb->fault.disconnect_at[alt] = n;
	else if (!strcmp(alt_fault, "power-cut"))
		eb->fault.power_cut_at[alt] = n;
	else if (!strcmp(alt_fault, "stall"))
		eb->fault.stall_countdown = (uint32_t)n;
	else if (!strcmp(alt_fault, "program-error") || !strcmp(alt_fault, "corrupt-read")) {
		struct emu_flash *fl = emu_board_area(eb, dfu_area_secondary((unsigned)alt), &base);

		if (!strcmp(alt_fault, "program-error"))
			fl->fail_program_at = base + (uint32_t)n;
		else
			fl->corrupt_read_at = base + (uint32_t)n;
	} else if (!strcmp(alt_fault, "wrong-digest"))
		eb->fault.wrong_digest[alt] = (uint32_t)n;
	rc = update(f, b, NULL, &r);
	assert_int_equal(rc, want_rc);
	assert_false(r.committed);
	assert_true(strlen(dfumgr_ctx_errmsg(f->ctx)) > 20);
	assert_non_null(strstr(r.board_state, "nothing committed"));
	/* the board still boots its old pair */
	expect_running(f, 0, "1.0.0+0", "1.0.0+0");
	/* and a re-run succeeds (the faults were one-shot; a bad cell persists: clear it) */
	eb->qspi.corrupt_read_at = UINT32_MAX;
	memset(eb->fault.wrong_digest, 0, sizeof(eb->fault.wrong_digest));
	assert_int_equal(update(f, b, NULL, &r), 0);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	dfumgr_bundle_free(b);
	fx_free(f);
}

static void test_faults(void **state)
{
	(void)state;
	fault_case("disconnect at byte 0 of image 1", "disconnect", 1, 0, -DFUMGR_E_DISCONNECTED);
	fault_case("disconnect at byte 100000 of image 1", "disconnect", 1, 100000,
		   -DFUMGR_E_DISCONNECTED);
	fault_case("disconnect at the last block of image 1", "disconnect", 1, 300000,
		   -DFUMGR_E_DISCONNECTED);
	fault_case("disconnect at byte 5000 of image 0", "disconnect", 0, 5000,
		   -DFUMGR_E_DISCONNECTED);
	fault_case("disconnect at the end of image 0", "disconnect", 0, 40100,
		   -DFUMGR_E_DISCONNECTED);
	fault_case("power cut at byte 150000 of image 1", "power-cut", 1, 150000,
		   -DFUMGR_E_DISCONNECTED);
	fault_case("power cut at byte 20000 of image 0", "power-cut", 0, 20000,
		   -DFUMGR_E_DISCONNECTED);
	fault_case("STALL of the 40th request", "stall", 0, 40, -DFUMGR_E_STALL);
	fault_case("flash program error in image 1", "program-error", 1, 200000,
		   -DFUMGR_E_DFU_STATUS);
	fault_case("flash program error in image 0", "program-error", 0, 8192,
		   -DFUMGR_E_DFU_STATUS);
	fault_case("wrong digest from the device (image 1), every time", "wrong-digest", 1, 100,
		   -DFUMGR_E_MISMATCH);
	fault_case("wrong digest from the device (image 0), every time", "wrong-digest", 0, 100,
		   -DFUMGR_E_MISMATCH);
	fault_case("a flash cell that reads back wrong (image 1)", "corrupt-read", 1, 777,
		   -DFUMGR_E_DFU_STATUS);
}

static void test_wrong_digest_once_is_retried(void **state)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct emu_board *eb = &f->loop->boards[0].b;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;

	(void)state;
	/* one wrong digest of image 1: downloaded again, then committed */
	eb->fault.wrong_digest[1] = 1;
	assert_int_equal(update(f, b, NULL, &r), 0);
	assert_int_equal(r.downloads[1], 2);
	assert_int_equal(r.downloads[0], 1);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	/* wrong twice: the default two retries still get it right */
	{
		struct dfumgr_bundle *b3 = bundle(f, "3.0.0+0", 40000, 300000, 0);

		eb->fault.wrong_digest[0] = 2;
		assert_int_equal(update(f, b3, NULL, &r), 0);
		assert_int_equal(r.downloads[0], 3);
		expect_running(f, 0, "3.0.0+0", "3.0.0+0");
		dfumgr_bundle_free(b3);
	}
	dfumgr_bundle_free(b);
	fx_free(f);
}

static void test_preflight_refusals(void **state)
{
	struct fx *f = fx_new(2, false);
	struct dfumgr_bundle *b2 = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct dfumgr_bundle *b1 = bundle(f, "1.5.0+0", 40000, 300000, 0);
	struct dfumgr_bundle *big = bundle(f, "3.0.0+0", 40000, 0x380000, 0x400000);
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;

	(void)state;
	/* two boards: the engine will not guess */
	assert_int_equal(update(f, b2, NULL, &r), -DFUMGR_E_AMBIGUOUS);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "--serial"));
	/* wrong serial, wrong VID:PID */
	o.match.serial = "NOPE";
	assert_int_equal(update(f, b2, &o, &r), -DFUMGR_E_NODEV);
	o.match.serial = "LOOP-0001";
	/* -d VID:PID only narrows the manifest's match: another one is refused, both named */
	o.match.vid = 0x1234;
	o.match.pid = 0x5678;
	assert_int_equal(update(f, b2, &o, &r), -DFUMGR_E_PRODUCT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "1915:5300"));
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "1234:5678"));
	o.match.vid = 0x1915;
	o.match.pid = 0x5300;
	assert_int_equal(update(f, b2, &o, &r), 0);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	o.match.vid = o.match.pid = 0;
	/* a bundle for another product is refused before anything is written, both named */
	{
		struct dfumgr_bundle *other = bundle_for(f, "gait-sensor", "3.0.0+0");
		uint64_t writes = f->loop->boards[0].b.qspi.programs;

		assert_int_equal(update(f, other, &o, &r), -DFUMGR_E_PRODUCT);
		assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "\"gait-sensor\""));
		assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "\"" EMU_DEFAULT_PRODUCT "\""));
		assert_string_equal(r.board_state, "untouched");
		assert_int_equal(f->loop->boards[0].b.qspi.programs, writes);
		dfumgr_bundle_free(other);
	}
	/* a slot too small for image 1 */
	assert_int_equal(update(f, big, &o, &r), -DFUMGR_E_NOFIT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "image 1"));
	assert_string_equal(r.board_state, "untouched");
	/* the same version with other bytes is refused before anything is written */
	{
		struct dfumgr_bundle *twin = bundle(f, "2.0.0+1", 40004, 300000, 0);

		assert_int_equal(update(f, twin, &o, &r), -DFUMGR_E_REFUSED);
		assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "same version but other bytes"));
		assert_string_equal(r.board_state, "untouched");
		dfumgr_bundle_free(twin);
	}
	/* the very same pair again is fine (a re-install) */
	assert_int_equal(update(f, b2, &o, &r), 0);
	/* a downgrade is refused unless asked for */
	assert_int_equal(update(f, b1, &o, &r), -DFUMGR_E_DOWNGRADE);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "--allow-downgrade"));
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	o.allow_downgrade = true;
	assert_int_equal(update(f, b1, &o, &r), 0);
	expect_running(f, 0, "1.5.0+0", "1.5.0+0");
	/* the other board was never touched */
	expect_running(f, 1, "1.0.0+0", "1.0.0+0");
	dfumgr_bundle_free(b1);
	dfumgr_bundle_free(b2);
	dfumgr_bundle_free(big);
	fx_free(f);
}

static void test_plain_dfu_device_upload_verification(void **state)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 100000, 0);
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;

	(void)state;
	f->loop->boards[0].plain = true;
	assert_int_equal(update(f, b, &o, &r), 0);
	assert_false(r.shim);
	assert_int_equal(r.verify, DFUMGR_VERIFY_UPLOAD);
	assert_string_equal(dfumgr_verify_method_name(r.verify), "DFU_UPLOAD read-back");
	o.no_verify = true;
	assert_int_equal(update(f, b, &o, &r), 0);
	assert_int_equal(r.verify, DFUMGR_VERIFY_NONE);
	/* and dfu-mgr verify cannot work without the shim */
	assert_int_equal(dfumgr_verify_device(f->ctx, f->be, b, NULL, &r), -DFUMGR_E_UNSUPPORTED);
	dfumgr_bundle_free(b);
	fx_free(f);
}

static void test_dfu_engine_download_upload_and_errors(void **state)
{
	struct fx *f = fx_new(1, true);
	struct dfumgr_match m = {0};
	struct dfumgr_device_info info;
	struct dfumgr_dev *dev = NULL;
	uint8_t *data = payload(50000, 5), *back = NULL;
	size_t n = 0;
	uint8_t st;

	(void)state;
	assert_int_equal(dfumgr_dev_open(f->ctx, f->be, &m, &dev), 0);
	assert_false(dfumgr_dev_info(dev)->dfu_mode);
	assert_int_equal(dfumgr_dfu_get_state(dev, &st), 0);
	assert_int_equal(st, DFU_STATE_APP_IDLE);
	/* a download in runtime mode: the device is not in DFU mode */
	assert_int_equal(dfumgr_dfu_download(dev, 0, data, 100, NULL), -DFUMGR_E_PROTOCOL);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "appIDLE, not in DFU mode"));
	assert_int_equal(dfumgr_dfu_detach(dev), 0);
	dfumgr_dev_close(dev);
	assert_int_equal(wait_board(f, 0, true, &info), 0);
	assert_int_equal(dfumgr_dev_open_info(f->ctx, f->be, &info, &dev), 0);
	assert_int_equal(dfumgr_dev_find_alt(dev, "image-1"), 1);
	assert_int_equal(dfumgr_dev_find_alt(dev, "0"), 0);
	assert_int_equal(dfumgr_dev_find_alt(dev, "image-7"), -DFUMGR_E_NOENT);
	assert_int_equal(dfumgr_dfu_download(dev, 1, data, 50000, NULL), 0);
	assert_int_equal(dfumgr_dfu_upload(dev, 1, 1 << 20, &back, &n, NULL), 0);
	assert_int_equal(n, 50000);
	assert_memory_equal(back, data, n);
	free(back);
	/* a device error names the status, the block and the state */
	f->loop->boards[0].b.qspi.fail_program_at = DFUMGR_IMG1_SECONDARY_OFFSET + 9000;
	assert_int_equal(dfumgr_dfu_download(dev, 1, data, 50000, NULL), -DFUMGR_E_DFU_STATUS);
	print_message("  %s\n", dfumgr_ctx_errmsg(f->ctx));
	assert_non_null(
	    strstr(dfumgr_ctx_errmsg(f->ctx), "errPROG (program memory function failed)"));
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "block 2 (bytes 8192..12288) of alt 1"));
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "now back in dfuIDLE"));
	assert_int_equal(dfumgr_dfu_get_state(dev, &st), 0);
	assert_int_equal(st, DFU_STATE_IDLE);
	/* COMMIT with a digest that is not what the slots hold: refused, image named */
	{
		struct dfumgr_bundle *bu = bundle(f, "2.0.0+1", 30000, 40000, 0);
		const struct dfumgr_image *i0 = dfumgr_bundle_image(bu, 0);
		const struct dfumgr_image *i1 = dfumgr_bundle_image(bu, 1);
		uint32_t len[2] = {(uint32_t)i0->size, (uint32_t)i1->size};
		uint8_t sha[2][32] = {{0}};
		int bad = -1;

		assert_int_equal(dfumgr_dfu_download(dev, 0, i0->buf, i0->size, NULL), 0);
		assert_int_equal(dfumgr_dfu_download(dev, 1, i1->buf, i1->size, NULL), 0);
		dfumgr_sha256(i0->buf, i0->size, sha[0]);
		assert_int_equal(
		    dfumgr_shim_commit(dev, len, (const uint8_t(*)[32])sha, false, &bad),
		    -DFUMGR_E_MISMATCH);
		assert_int_equal(bad, 1);
		assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "neither image was marked"));
		dfumgr_sha256(i1->buf, i1->size, sha[1]);
		assert_int_equal(
		    dfumgr_shim_commit(dev, len, (const uint8_t(*)[32])sha, false, &bad), 0);
		assert_int_equal(f->loop->boards[0].b.dev.slot_state[1], DFUMGR_SLOT_PENDING);
		/* a truncated image: the device says errNOTDONE at the end of the download */
		assert_int_equal(dfumgr_dfu_download(dev, 1, i1->buf, i1->size - 100, NULL),
				 -DFUMGR_E_DFU_STATUS);
		if (!strstr(dfumgr_ctx_errmsg(f->ctx), "errNOTDONE"))
			fail_msg("%s", dfumgr_ctx_errmsg(f->ctx));
		dfumgr_bundle_free(bu);
	}
	/* cancellation */
	{
		struct dfumgr_cancel *c = NULL;

		assert_int_equal(dfumgr_cancel_new(&c), 0);
		dfumgr_cancel_trigger(c);
		dfumgr_dev_set_limits(dev, c, 0);
		assert_int_equal(dfumgr_dfu_download(dev, 1, data, 50000, NULL),
				 -DFUMGR_E_CANCELLED);
		assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "cancelled"));
		dfumgr_dev_set_limits(dev, NULL, 0);
		dfumgr_cancel_free(c);
	}
	/* unplugged under us */
	f->loop->boards[0].gen++;
	assert_int_equal(dfumgr_dfu_download(dev, 1, data, 50000, NULL), -DFUMGR_E_DISCONNECTED);
	dfumgr_dev_close(dev);
	free(data);
	fx_free(f);
}

static void test_commit_only_after_another_tool_wrote_the_slots(void **state)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct dfumgr_update_opts o = {.size = sizeof(o), .commit_only = true};
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	struct dfumgr_device_info info;
	struct dfumgr_dev *dev = NULL;
	struct dfumgr_match m = {0};

	(void)state;
	/* nothing written yet: refused, nothing committed */
	assert_int_equal(update(f, b, &o, &r), -DFUMGR_E_MISMATCH);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "image-1 slot does not hold"));
	expect_running(f, 0, "1.0.0+0", "1.0.0+0");
	/* "another tool": plain DFU downloads of both alts */
	assert_int_equal(dfumgr_dev_open(f->ctx, f->be, &m, &dev), 0);
	assert_int_equal(dfumgr_dfu_detach(dev), 0);
	dev = dfumgr_dev_close(dev);
	assert_int_equal(wait_board(f, 0, true, &info), 0);
	assert_int_equal(dfumgr_dev_open_info(f->ctx, f->be, &info, &dev), 0);
	for (unsigned i = 0; i < 2; i++) {
		const struct dfumgr_image *img = dfumgr_bundle_image(b, i);

		assert_int_equal(dfumgr_dfu_download(dev, (uint8_t)i, img->buf, img->size, NULL),
				 0);
	}
	dev = dfumgr_dev_close(dev);
	assert_int_equal(update(f, b, &o, &r), 0);
	assert_int_equal(r.downloads[0] + r.downloads[1], 0);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	dfumgr_bundle_free(b);
	fx_free(f);
}

/*
 * A pipelined download (datasheet timing: the board takes block N+1 while it programs block N)
 * with a program error in the middle of image 1: reported, with the bytes that failed; nothing
 * is committed; the board runs its old pair; a re-run succeeds and resumes after the sectors
 * that made it.
 */
static void test_pipelined_program_error(void **state)
{
	struct fx *f = fx_new(1, true);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct emu_board *eb = &f->loop->boards[0].b;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;

	(void)state;
	eb->qspi.fail_program_at = DFUMGR_IMG1_SECONDARY_OFFSET + 200000;
	assert_int_equal(update(f, b, NULL, &r), -DFUMGR_E_DFU_STATUS);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "its flash failed at bytes "
							  "196608..200704"));
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "errPROG"));
	assert_false(r.committed);
	assert_int_equal(r.phase, DFUMGR_PHASE_DOWNLOAD);
	assert_int_equal(r.outcome, DFUMGR_OUTCOME_OLD_PAIR);
	assert_non_null(strstr(r.board_state, "nothing committed"));
	assert_int_equal(f->loop->polls_early, 0);
	expect_running(f, 0, "1.0.0+0", "1.0.0+0");
	assert_int_equal(eb->dev.slot_state[0], DFUMGR_SLOT_EMPTY);
	assert_int_equal(eb->dev.slot_state[1], DFUMGR_SLOT_WRITTEN);
	/* the re-run keeps the 48 sectors before the bad one */
	assert_int_equal(update(f, b, NULL, &r), 0);
	assert_int_equal(r.sectors_skipped[1], 48);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	dfumgr_bundle_free(b);
	fx_free(f);
}

/* Which sectors of each secondary slot the download phase erased or programmed. */
struct touched {
	struct emu_board *b;
	bool on;
	uint8_t map[2][DFU_MAX_SECTORS / 8];
};

static void touched_write(void *user, const struct emu_flash_write *w)
{
	struct touched *t = user;

	if (!t->on || w->flash != &t->b->qspi)
		return;
	for (unsigned i = 0; i < 2; i++) {
		uint32_t base = i ? DFUMGR_IMG1_SECONDARY_OFFSET : DFUMGR_IMG0_SECONDARY_OFFSET;
		uint32_t size = i ? DFUMGR_IMG1_SLOT_SIZE : DFUMGR_IMG0_SLOT_SIZE;

		/* the trailer sector is the pending marks' (cleared by a download), not data */
		if (w->off < base || w->off >= base + size - 4096)
			continue;
		for (uint32_t k = (w->off - base) / 4096; k <= (w->off - base + w->len - 1) / 4096;
		     k++)
			t->map[i][k / 8] |= (uint8_t)(1u << (k % 8));
	}
}

static void touched_progress(void *user, const struct dfumgr_progress *ev)
{
	struct touched *t = user;

	if (ev->phase == DFUMGR_PHASE_COMMIT)
		t->on = false;
}

static unsigned touched_count(const struct touched *t, unsigned i)
{
	unsigned n = 0;

	for (unsigned k = 0; k < DFU_MAX_SECTORS; k++)
		n += (t->map[i][k / 8] >> (k % 8)) & 1;
	return n;
}

static bool touched_sector(const struct touched *t, unsigned i, unsigned k)
{
	return (t->map[i][k / 8] >> (k % 8)) & 1;
}

/*
 * Sector skipping never skips a sector that differs: the slots hold the bundle's images with
 * one byte flipped in several sectors (the first and the last among them); the update sends
 * exactly those sectors, and the board commits and runs the pair.
 */
static void test_sector_skipping_never_skips_a_difference(void **state)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct emu_board *eb = &f->loop->boards[0].b;
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	struct dfumgr_device_info info;
	struct dfumgr_dev *dev = NULL;
	struct dfumgr_match m = {0};
	struct touched t = {.b = eb};
	unsigned n[2] = {0, 0}, flips1[4] = {0}, flips0[2] = {0};
	uint64_t sent = 0;

	(void)state;
	assert_int_equal(dfumgr_dev_open(f->ctx, f->be, &m, &dev), 0);
	assert_int_equal(dfumgr_dfu_detach(dev), 0);
	dev = dfumgr_dev_close(dev);
	assert_int_equal(wait_board(f, 0, true, &info), 0);
	assert_int_equal(dfumgr_dev_open_info(f->ctx, f->be, &info, &dev), 0);
	for (unsigned i = 0; i < 2; i++) {
		const struct dfumgr_image *img = dfumgr_bundle_image(b, i);
		uint32_t base = i ? DFUMGR_IMG1_SECONDARY_OFFSET : DFUMGR_IMG0_SECONDARY_OFFSET;
		unsigned *flips = i ? flips1 : flips0, nf = i ? 4 : 2;

		n[i] = (unsigned)((img->size + 4095) / 4096);
		if (i) {
			flips1[0] = 0, flips1[1] = 5, flips1[2] = 37, flips1[3] = n[1] - 1;
		} else {
			flips0[0] = 0, flips0[1] = n[0] - 1;
		}
		/*
		 * The right image goes in (the board checks an image's own hash as a download
		 * ends), then one bit of flash flips in each chosen sector: a byte in the middle
		 * of the sector, in the last one the image's last.
		 */
		assert_int_equal(dfumgr_dfu_download(dev, (uint8_t)i, img->buf, img->size, NULL),
				 0);
		for (unsigned k = 0; k < nf; k++) {
			size_t at = flips[k] == n[i] - 1 ? img->size - 1 : flips[k] * 4096 + 1234;

			eb->qspi.mem[base + at] ^= 0x01;
			sent += flips[k] == n[i] - 1 ? img->size - flips[k] * 4096 : 4096;
		}
	}
	dev = dfumgr_dev_close(dev);
	/* the board is in DFU mode: the update starts there */
	eb->power.trace = touched_write;
	eb->power.trace_user = &t;
	t.on = true;
	o.progress = touched_progress;
	o.user = &t;
	assert_int_equal(update(f, b, &o, &r), 0);
	eb->power.trace = NULL;
	print_message("  sent %" PRIu64 " bytes, skipped %" PRIu64 " (%u + %u sectors)\n", r.bytes,
		      r.bytes_skipped, r.sectors_skipped[0], r.sectors_skipped[1]);
	assert_int_equal(touched_count(&t, 1), 4);
	for (unsigned k = 0; k < 4; k++)
		assert_true(touched_sector(&t, 1, flips1[k]));
	assert_int_equal(touched_count(&t, 0), 2);
	for (unsigned k = 0; k < 2; k++)
		assert_true(touched_sector(&t, 0, flips0[k]));
	assert_int_equal(r.sectors_skipped[1], n[1] - 4);
	assert_int_equal(r.sectors_skipped[0], n[0] - 2);
	assert_int_equal(r.bytes, sent);
	assert_int_equal(r.bytes + r.bytes_skipped,
			 dfumgr_bundle_image(b, 0)->size + dfumgr_bundle_image(b, 1)->size);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	assert_int_equal(dfumgr_verify_device(f->ctx, f->be, b, NULL, &r), 0);
	dfumgr_bundle_free(b);
	fx_free(f);
}

/* Resume after a cut: a power cut at byte `at` of image `alt`, then a re-run. */
static void resume_case(int alt, uint64_t at)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b = bundle(f, "2.0.0+1", 40000, 300000, 0);
	struct emu_board *eb = &f->loop->boards[0].b;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	size_t size[2] = {dfumgr_bundle_image(b, 0)->size, dfumgr_bundle_image(b, 1)->size};
	unsigned whole = (unsigned)(at / 4096);

	print_message("resume: power cut at byte %" PRIu64 " of image %d\n", at, alt);
	eb->fault.power_cut_at[alt] = at;
	assert_int_equal(update(f, b, NULL, &r), -DFUMGR_E_DISCONNECTED);
	assert_false(r.committed);
	expect_running(f, 0, "1.0.0+0", "1.0.0+0");
	assert_int_equal(update(f, b, NULL, &r), 0);
	print_message("  re-run: sent %" PRIu64 " of %zu bytes\n", r.bytes, size[0] + size[1]);
	/* every sector the download had finished before the cut is kept */
	assert_int_equal(r.sectors_skipped[alt], whole);
	if (alt == 0) /* image 1 was whole before the cut: nothing of it is sent again */
		assert_int_equal(r.sectors_skipped[1], (size[1] + 4095) / 4096);
	assert_int_equal(r.bytes + r.bytes_skipped, size[0] + size[1]);
	expect_running(f, 0, "2.0.0+1", "2.0.0+1");
	/* the right digests: what the board runs is the bundle's pair */
	assert_int_equal(dfumgr_verify_device(f->ctx, f->be, b, NULL, &r), 0);
	dfumgr_bundle_free(b);
	fx_free(f);
}

static void test_resume_after_a_cut(void **state)
{
	(void)state;
	resume_case(1, 100);
	resume_case(1, 3 * 4096 + 100);
	resume_case(1, 150000);
	resume_case(1, 299000);
	resume_case(0, 20000);
	resume_case(0, 40000);
}

/*
 * A release whose image 1 payload does not change: swap-move leaves the image the board ran
 * before in its update slot, so from the second such release on only image 1's header and TLV
 * sectors travel.
 */
static void test_unchanged_payload_sends_little(void **state)
{
	struct fx *f = fx_new(1, false);
	struct dfumgr_bundle *b[4] = {
	    bundle(f, "2.0.0+1", 40000, 300000, 0), bundle(f, "2.1.0+0", 40000, 300000, 0),
	    bundle(f, "2.2.0+0", 40000, 300000, 0), bundle(f, "2.3.0+0", 40000, 300000, 0)};
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	size_t n1 = (dfumgr_bundle_image(b[2], 1)->size + 4095) / 4096;
	size_t whole = dfumgr_bundle_image(b[3], 0)->size + dfumgr_bundle_image(b[3], 1)->size;

	(void)state;
	assert_int_equal(update(f, b[0], NULL, &r), 0);
	assert_int_equal(update(f, b[1], NULL, &r), 0);
	assert_int_equal(update(f, b[2], NULL, &r), 0);
	print_message("  third release: image 1 %u of %zu sectors skipped, %" PRIu64
		      " bytes sent\n",
		      r.sectors_skipped[1], n1, r.bytes);
	/* the header's sector and the TLVs' (signature, hash) changed; the payload's did not */
	assert_int_equal(r.sectors_skipped[1], n1 - 2);
	assert_true(r.bytes_skipped > 0);
	expect_running(f, 0, "2.2.0+0", "2.2.0+0");
	/* --no-skip: the same kind of release, every byte sent */
	o.no_skip = true;
	assert_int_equal(update(f, b[3], &o, &r), 0);
	assert_int_equal(r.sectors_skipped[1], 0);
	assert_int_equal(r.bytes_skipped, 0);
	assert_int_equal(r.bytes, whole);
	expect_running(f, 0, "2.3.0+0", "2.3.0+0");
	for (int i = 0; i < 4; i++)
		dfumgr_bundle_free(b[i]);
	fx_free(f);
}

static void test_status_texts(void **state)
{
	(void)state;
	for (int s = 0; s < 16; s++) {
		assert_true(strncmp(dfumgr_dfu_status_name((uint8_t)s), s ? "err" : "OK", 2) == 0);
		assert_true(strlen(dfumgr_dfu_status_text((uint8_t)s)) > 5);
	}
	assert_string_equal(dfumgr_dfu_status_name(DFU_STATUS_ERR_CHECK_ERASED), "errCHECK_ERASED");
	assert_string_equal(dfumgr_dfu_status_name(99), "unknown status");
	for (int s = 0; s <= 10; s++)
		assert_string_not_equal(dfumgr_dfu_state_name((uint8_t)s), "unknown state");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_update_pair_and_verify),
	    cmocka_unit_test(test_real_timing_poll_timeouts),
	    cmocka_unit_test(test_faults),
	    cmocka_unit_test(test_wrong_digest_once_is_retried),
	    cmocka_unit_test(test_preflight_refusals),
	    cmocka_unit_test(test_plain_dfu_device_upload_verification),
	    cmocka_unit_test(test_dfu_engine_download_upload_and_errors),
	    cmocka_unit_test(test_commit_only_after_another_tool_wrote_the_slots),
	    cmocka_unit_test(test_pipelined_program_error),
	    cmocka_unit_test(test_sector_skipping_never_skips_a_difference),
	    cmocka_unit_test(test_resume_after_a_cut),
	    cmocka_unit_test(test_unchanged_payload_sends_little),
	    cmocka_unit_test(test_status_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
