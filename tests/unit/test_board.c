/* SPDX-License-Identifier: MIT */
/*
 * The right board, every wait cancellable: board identity across re-enumeration (two boards
 * without serial numbers, a cloned serial on another VID:PID, an ambiguous port), the board
 * that asks for 4.6-hour polls forever (cancelled within a second; cut by the deadline), the
 * reboot of a plain DFU device in DFU mode, and a will-detach board that does not leave.
 * In-process emulated boards (tests/support/loop_backend.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "loop_backend.h"
#include "dfumgr/board.h"
#include "dfumgr/bundle.h"
#include "dfumgr/cancel.h"
#include "dfumgr/keyring.h"
#include "dfumgr/pack.h"
#include "dfumgr/update.h"
#include "dfumgr/wire.h"

struct fx {
	struct loop *loop;
	struct dfumgr_backend *be;
	struct dfumgr_ctx *ctx;
	struct dfumgr_key *key;
	struct dfumgr_keyring *ring;
	char *tmp;
};

static struct fx *fx_new(unsigned n)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->loop = loop_new(n, false);
	assert_non_null(f->loop);
	f->be = loop_backend(f->loop);
	f->ctx = dfumgr_ctx_new();
	assert_int_equal(dfumgr_key_load(f->ctx, test_data_path("key-A.pem"), &f->key), 0);
	assert_int_equal(dfumgr_keyring_load(f->ctx, test_data_path("key-A-pub.pem"), &f->ring), 0);
	f->tmp = test_tmpdir();
	return f;
}

static void fx_free(struct fx *f)
{
	dfumgr_backend_free(f->be);
	loop_free(f->loop);
	dfumgr_ctx_free(f->ctx);
	dfumgr_key_free(f->key);
	dfumgr_keyring_free(f->ring);
	test_rmtree(f->tmp);
	free(f->tmp);
	free(f);
}

static struct dfumgr_bundle *make_bundle_sec(struct fx *f, const char *v, bool has_sec,
					     uint32_t sec);

static struct dfumgr_bundle *make_bundle(struct fx *f, const char *v)
{
	return make_bundle_sec(f, v, false, 0);
}

static struct dfumgr_bundle *make_bundle_sec(struct fx *f, const char *v, bool has_sec,
					     uint32_t sec)
{
	struct dfumgr_pack_opts po = {
	    .key = f->key, .product = EMU_DEFAULT_PRODUCT, .has_sec_cnt = has_sec, .sec_cnt = sec};
	struct dfumgr_pack_result r = {0};
	struct dfumgr_bundle *b = NULL;
	uint8_t *p0 = malloc(20000), *p1 = malloc(60000);
	char dir[512];

	for (size_t i = 0; i < 60000; i++) {
		if (i < 20000)
			p0[i] = (uint8_t)(i * 7 + 3);
		p1[i] = (uint8_t)(i * 13 + 5);
	}
	assert_int_equal(dfumgr_version_parse(v, &po.version), 0);
	snprintf(dir, sizeof(dir), "%s/b-%s", f->tmp, v);
	if (dfumgr_pack_payloads(f->ctx, p0, 20000, 0xc200, p1, 60000, 0x10120200, &po, &r) < 0)
		fail_msg("pack: %s", dfumgr_ctx_errmsg(f->ctx));
	assert_int_equal(
	    dfumgr_bundle_write(f->ctx, dir, &r.manifest, r.image, r.image_size, f->key), 0);
	assert_int_equal(dfumgr_bundle_open(f->ctx, dir, f->ring, 0, NULL, &b), 0);
	dfumgr_pack_result_done(&r);
	free(p0);
	free(p1);
	return b;
}

/* The first n bytes of image's secondary slot of board i equal buf. */
static bool slot_holds(struct fx *f, unsigned i, unsigned image, const uint8_t *buf, size_t n)
{
	uint32_t base;
	struct emu_flash *fl =
	    emu_board_area(&f->loop->boards[i].b, dfu_area_secondary(image), &base);

	return memcmp(fl->mem + base, buf, n) == 0;
}

static void no_serial(struct fx *f, unsigned i)
{
	f->loop->boards[i].b.no_serial = true;
	f->loop->boards[i].b.desc_len = 0;
	f->loop->boards[i].gen++; /* a new enumeration: its strings are read again */
}

/*
 * Two plain DFU boards without serial numbers; the user picks 9-2 with -p, 9-1 is already in
 * DFU mode. 9-2 is detached and must be the board written, not 9-1 (which an identity by
 * serial alone, "" matching "", would take).
 */
static void test_wrong_board_two_serialless_plain_boards(void **state)
{
	struct fx *f = fx_new(2);
	struct dfumgr_bundle *b = make_bundle(f, "2.0.0+1");
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	const struct dfumgr_image *img1 = dfumgr_bundle_image(b, 1),
				  *img0 = dfumgr_bundle_image(b, 0);
	int rc;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		f->loop->boards[i].plain = true;
		f->loop->boards[i].b.plain = true;
		no_serial(f, i);
	}
	loop_set_dfu_mode(f->loop, 0);
	o.match.path = "9-2";
	rc = dfumgr_update(f->ctx, f->be, b, &o, &r);
	print_message("  update -p 9-2: %s [%s] -> %s\n", rc ? dfumgr_ctx_errmsg(f->ctx) : "ok",
		      dfumgr_outcome_name(r.outcome), r.board_state);
	assert_int_equal(rc, 0);
	assert_string_equal(r.path, "9-2");
	assert_string_equal(r.serial, "");
	assert_int_equal(r.outcome, DFUMGR_OUTCOME_NEW_PAIR);
	assert_true(slot_holds(f, 1, 1, img1->buf, img1->size));
	assert_true(slot_holds(f, 1, 0, img0->buf, img0->size));
	/* the board that was already in DFU mode got nothing */
	assert_false(slot_holds(f, 0, 1, img1->buf, 64));
	assert_int_equal(f->loop->boards[0].b.dl_bytes[0] + f->loop->boards[0].b.dl_bytes[1], 0);
	assert_int_equal(f->loop->boards[0].b.mode, EMU_MODE_DFU);
	dfumgr_bundle_free(b);
	fx_free(f);
}

/*
 * A look-alike in DFU mode with the board's serial but another VID:PID, on another port, is
 * there all along: the board's own re-enumeration is followed, the clone never written.
 */
static void test_cloned_serial_other_vid_cannot_take_over(void **state)
{
	struct fx *f = fx_new(2);
	struct dfumgr_bundle *b = make_bundle(f, "2.0.0+1");
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	int rc;

	(void)state;
	snprintf(f->loop->boards[1].b.serial, sizeof(f->loop->boards[1].b.serial), "%s",
		 f->loop->boards[0].b.serial);
	f->loop->boards[1].vid = 0x1234;
	f->loop->boards[1].pid = 0x5678;
	loop_set_dfu_mode(f->loop, 1);
	o.match.serial = "LOOP-0001";
	rc = dfumgr_update(f->ctx, f->be, b, &o, &r);
	print_message("  update -S LOOP-0001 with a clone at 9-2: %s -> %s\n",
		      rc ? dfumgr_ctx_errmsg(f->ctx) : "ok", r.board_state);
	assert_int_equal(rc, 0);
	assert_string_equal(r.path, "9-1");
	assert_int_equal(r.vid, DFUMGR_USB_VID);
	assert_int_equal(f->loop->boards[1].b.dl_bytes[0] + f->loop->boards[1].b.dl_bytes[1], 0);
	assert_int_equal(f->loop->boards[0].b.mode, EMU_MODE_RUNTIME);

	/* the identity rules themselves */
	{
		struct dfumgr_device_info a = {.vid = 0x1915, .path = "1-2", .serial = ""};
		struct dfumgr_device_info bb = a;
		struct dfumgr_board_id id;

		dfumgr_board_id_from_info(&a, &id);
		assert_true(dfumgr_board_id_match(&id, &a));
		snprintf(bb.path, sizeof(bb.path), "1-3"); /* serial-less elsewhere: not it */
		assert_false(dfumgr_board_id_match(&id, &bb));
		bb = a;
		snprintf(bb.serial, sizeof(bb.serial), "X"); /* another board on that port */
		assert_false(dfumgr_board_id_match(&id, &bb));
		bb = a;
		bb.vid = 0x1234;
		assert_false(dfumgr_board_id_match(&id, &bb));
		bb = a;
		bb.pid = 0x9999; /* the PID may change with the mode */
		assert_true(dfumgr_board_id_match(&id, &bb));
	}
	dfumgr_bundle_free(b);
	fx_free(f);
}

/* Two serial-less devices on one port path (two interfaces answer): refused, not guessed. */
static void test_ambiguous_identity_refused(void **state)
{
	struct fx *f = fx_new(2);
	struct dfumgr_board_id id = {.vid = DFUMGR_USB_VID, .serial = "", .path = "9-1"};
	struct dfumgr_device_info info;

	(void)state;
	no_serial(f, 0);
	no_serial(f, 1);
	f->loop->boards[1].port = 1;
	assert_int_equal(dfumgr_board_wait(f->ctx, f->be, &id, false, 1000, NULL, &info),
			 -DFUMGR_E_AMBIGUOUS);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "refusing to guess"));
	fx_free(f);
}

struct canceller {
	struct dfumgr_cancel *c;
	unsigned delay_ms;
	struct timespec at;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;
	struct timespec d = {.tv_sec = k->delay_ms / 1000,
			     .tv_nsec = (long)(k->delay_ms % 1000) * 1000000};

	nanosleep(&d, NULL);
	clock_gettime(CLOCK_MONOTONIC, &k->at);
	dfumgr_cancel_trigger(k->c);
	return NULL;
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * The board answers every GETSTATUS after a DNLOAD with dfuDNBUSY and bwPollTimeout 0xFFFFFF
 * (4.6 hours). On the real clock: cancelled from another thread, the update returns within a
 * second of the trigger, and the board is rebooted into its old pair.
 */
static void test_endless_busy_board_is_cancelled_within_a_second(void **state)
{
	struct fx *f = fx_new(1);
	struct dfumgr_bundle *b = make_bundle(f, "2.0.0+1");
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	struct canceller k = {.delay_ms = 400};
	pthread_t th;
	double late;
	int rc;

	(void)state;
	f->loop->real_clock = true;
	f->loop->replug_ms = 50;
	f->loop->boards[0].busy_forever = true;
	assert_int_equal(dfumgr_cancel_new(&k.c), 0);
	o.cancel = k.c;
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &k), 0);
	rc = dfumgr_update(f->ctx, f->be, b, &o, &r);
	late = since(&k.at);
	pthread_join(th, NULL);
	print_message("  endless dfuDNBUSY: %s; returned %.3f s after the cancel -> %s [%s]\n",
		      dfumgr_ctx_errmsg(f->ctx), late, r.board_state,
		      dfumgr_outcome_name(r.outcome));
	assert_int_equal(rc, -DFUMGR_E_CANCELLED);
	assert_true(late < 1.0);
	assert_true(r.cancelled);
	assert_int_equal(r.phase, DFUMGR_PHASE_DOWNLOAD);
	assert_int_equal(r.outcome, DFUMGR_OUTCOME_OLD_PAIR);
	assert_non_null(strstr(r.board_state, "rebooted into its previous images"));
	dfumgr_cancel_free(k.c);
	dfumgr_bundle_free(b);
	fx_free(f);
}

/* On the virtual clock: the deadline, and without one the busy limit, end the same board. */
static void test_endless_busy_board_meets_the_deadline(void **state)
{
	struct fx *f = fx_new(1);
	struct dfumgr_bundle *b = make_bundle(f, "2.0.0+1");
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	uint64_t t0;
	int rc;

	(void)state;
	f->loop->boards[0].busy_forever = true;
	o.timeout_ms = 10000;
	t0 = f->loop->now_us;
	rc = dfumgr_update(f->ctx, f->be, b, &o, &r);
	print_message("  deadline 10 s: %s after %.1f virtual s\n", dfumgr_ctx_errmsg(f->ctx),
		      (double)(f->loop->now_us - t0) / 1e6);
	assert_int_equal(rc, -DFUMGR_E_TIMEOUT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "time limit"));
	assert_true(f->loop->now_us - t0 < 20000000ull);
	loop_advance(f->loop, 5000000);

	o.timeout_ms = 0; /* only the busy limit of 120 s per block */
	t0 = f->loop->now_us;
	rc = dfumgr_update(f->ctx, f->be, b, &o, &r);
	print_message("  no deadline: %s after %.1f virtual s\n", dfumgr_ctx_errmsg(f->ctx),
		      (double)(f->loop->now_us - t0) / 1e6);
	assert_int_equal(rc, -DFUMGR_E_TIMEOUT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "dfuDNBUSY after 120 s"));
	assert_true(f->loop->now_us - t0 < 140000000ull);
	dfumgr_bundle_free(b);
	fx_free(f);
}

/* A plain DFU device in DFU mode: reboot is a bus reset, no DETACH, no 30 s wait. */
static void test_reboot_plain_device_in_dfu_mode(void **state)
{
	struct fx *f = fx_new(1);
	struct dfumgr_board_opts o = DFUMGR_BOARD_OPTS_INIT;
	struct dfumgr_device_info info;
	struct dfumgr_match m = {0};
	uint64_t t0;

	(void)state;
	f->loop->boards[0].plain = true;
	f->loop->boards[0].b.plain = true;
	/* runtime mode: DFU 1.1 has no restart request */
	assert_int_equal(dfumgr_board_reboot(f->ctx, f->be, &m, &o, &info), -DFUMGR_E_UNSUPPORTED);
	loop_set_dfu_mode(f->loop, 0);
	t0 = f->loop->now_us;
	assert_int_equal(dfumgr_board_reboot(f->ctx, f->be, &m, &o, &info), 0);
	assert_false(info.dfu_mode);
	assert_string_equal(info.path, "9-1");
	assert_int_equal(f->loop->boards[0].b.mode, EMU_MODE_RUNTIME);
	assert_true(f->loop->now_us - t0 < 2000000);
	/* one that stays in DFU mode after the reset is told apart quickly, and said so */
	f->loop->boards[0].reset_keeps_mode = true;
	loop_set_dfu_mode(f->loop, 0);
	t0 = f->loop->now_us;
	assert_int_equal(dfumgr_board_reboot(f->ctx, f->be, &m, &o, &info), 0);
	assert_true(info.dfu_mode);
	assert_true(f->loop->now_us - t0 < 5000000);
	print_message("  stays in DFU mode: told after %.1f virtual s\n",
		      (double)(f->loop->now_us - t0) / 1e6);
	fx_free(f);
}

/* bitWillDetach announced, but the board stays: a bus reset after wDetachTimeOut. */
static void test_will_detach_board_that_stays_gets_a_reset(void **state)
{
	struct fx *f = fx_new(1);
	struct dfumgr_board_opts o = DFUMGR_BOARD_OPTS_INIT;
	struct dfumgr_dev *dev = NULL;
	struct dfumgr_match m = {0};
	uint64_t t0;

	(void)state;
	f->loop->boards[0].stays_on_detach = true;
	t0 = f->loop->now_us;
	if (dfumgr_board_enter_dfu(f->ctx, f->be, &m, &o, &dev) < 0)
		fail_msg("%s", dfumgr_ctx_errmsg(f->ctx));
	assert_true(dfumgr_dev_info(dev)->dfu_mode);
	assert_int_equal(f->loop->boards[0].b.mode, EMU_MODE_DFU);
	print_message("  in DFU mode after %.2f virtual s (wDetachTimeOut %u ms)\n",
		      (double)(f->loop->now_us - t0) / 1e6, DFUMGR_DETACH_TIMEOUT_MS);
	assert_true(f->loop->now_us - t0 < 5000000);
	dfumgr_dev_close(dev);
	fx_free(f);
}

/* The manifest carries the security counter; a lower one than the board runs is refused. */
static void test_security_counter_downgrade_refused(void **state)
{
	struct fx *f = fx_new(1);
	struct dfumgr_bundle *b5 = make_bundle_sec(f, "2.0.0+1", true, 5);
	struct dfumgr_bundle *b3 = make_bundle_sec(f, "2.1.0+0", true, 3);
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	const struct dfumgr_manifest *m = dfumgr_bundle_manifest(b5);

	(void)state;
	assert_true(m->images[0].has_security_counter);
	assert_int_equal(m->images[0].security_counter, 5);
	assert_int_equal(dfumgr_update(f->ctx, f->be, b5, &o, &r), 0);
	loop_advance(f->loop, 5000000);
	/* a newer version with a lower counter: MCUboot would never boot it */
	assert_int_equal(dfumgr_update(f->ctx, f->be, b3, &o, &r), -DFUMGR_E_DOWNGRADE);
	print_message("  %s\n", dfumgr_ctx_errmsg(f->ctx));
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "security counter 5"));
	assert_int_equal(r.outcome, DFUMGR_OUTCOME_UNTOUCHED);
	assert_int_equal(f->loop->boards[0].b.dl_bytes[0] + f->loop->boards[0].b.dl_bytes[1], 0);
	dfumgr_bundle_free(b5);
	dfumgr_bundle_free(b3);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wrong_board_two_serialless_plain_boards),
	    cmocka_unit_test(test_cloned_serial_other_vid_cannot_take_over),
	    cmocka_unit_test(test_ambiguous_identity_refused),
	    cmocka_unit_test(test_endless_busy_board_is_cancelled_within_a_second),
	    cmocka_unit_test(test_endless_busy_board_meets_the_deadline),
	    cmocka_unit_test(test_reboot_plain_device_in_dfu_mode),
	    cmocka_unit_test(test_will_detach_board_that_stays_gets_a_reset),
	    cmocka_unit_test(test_security_counter_downgrade_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
