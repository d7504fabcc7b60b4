/* SPDX-License-Identifier: MIT */
/*
 * 16 emulated boards updated at once by 16 threads on one backend (one shared device monitor),
 * each thread with its own context: all succeed, each board runs the new pair, and discovery
 * costs each board no string-descriptor requests beyond one read per enumeration of its own
 * (the monitor's cache). Built under ThreadSanitizer by scripts/test.sh (label "threads").
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "loop_backend.h"
#include "dfumgr/bundle.h"
#include "dfumgr/keyring.h"
#include "dfumgr/pack.h"
#include "dfumgr/update.h"

#define N_BOARDS 16
/* string requests of one enumeration, two per string (language table + string), as libusb */
#define STRINGS_RUNTIME (2 * 4) /* manufacturer, product, serial, the runtime alt */
#define STRINGS_DFU     (2 * 5) /* manufacturer, product, serial, image-0, image-1 */
#define EXCESS_MAX      10

struct job {
	struct dfumgr_backend *be;
	const struct dfumgr_bundle *bundle;
	char serial[32];
	int rc;
	char err[512];
	struct dfumgr_update_report r;
};

static void *run(void *arg)
{
	struct job *j = arg;
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;

	j->r.size = sizeof(j->r);
	o.match.serial = j->serial;
	j->rc = dfumgr_update(ctx, j->be, j->bundle, &o, &j->r);
	snprintf(j->err, sizeof(j->err), "%s", dfumgr_ctx_errmsg(ctx));
	dfumgr_ctx_free(ctx);
	return NULL;
}

static void test_sixteen_boards_sixteen_threads(void **state)
{
	struct loop *l = loop_new(N_BOARDS, false);
	struct dfumgr_backend *be = loop_backend(l);
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_key *key = NULL;
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_pack_opts po = {0};
	struct dfumgr_pack_result pr = {0};
	struct dfumgr_bundle *b = NULL;
	struct dfumgr_monitor_stats ms = {.size = sizeof(ms)};
	static struct job jobs[N_BOARDS];
	pthread_t th[N_BOARDS];
	uint8_t *p0 = calloc(1, 16000), *p1 = calloc(1, 40000);
	char *tmp = test_tmpdir(), dir[512];
	uint64_t worst = 0, total = 0;
	int excess_max = 0;

	(void)state;
	assert_non_null(l);
	for (size_t i = 0; i < 40000; i++) {
		if (i < 16000)
			p0[i] = (uint8_t)(i * 3);
		p1[i] = (uint8_t)(i * 5 + 1);
	}
	assert_int_equal(dfumgr_key_load(ctx, test_data_path("key-A.pem"), &key), 0);
	assert_int_equal(dfumgr_keyring_load(ctx, test_data_path("key-A-pub.pem"), &ring), 0);
	po.key = key;
	po.product = EMU_DEFAULT_PRODUCT;
	assert_int_equal(dfumgr_version_parse("3.1.0+7", &po.version), 0);
	assert_int_equal(
	    dfumgr_pack_payloads(ctx, p0, 16000, 0xc200, p1, 40000, 0x10120200, &po, &pr), 0);
	snprintf(dir, sizeof(dir), "%s/b", tmp);
	assert_int_equal(dfumgr_bundle_write(ctx, dir, &pr.manifest, pr.image, pr.image_size, key),
			 0);
	assert_int_equal(dfumgr_bundle_open(ctx, dir, ring, 0, NULL, &b), 0);
	for (unsigned i = 0; i < N_BOARDS; i++) {
		jobs[i].be = be;
		jobs[i].bundle = b;
		snprintf(jobs[i].serial, sizeof(jobs[i].serial), "%s", l->boards[i].b.serial);
		l->boards[i].b.string_requests = 0;
		l->boards[i].plugs = 1; /* the enumeration it is in now */
	}
	for (unsigned i = 0; i < N_BOARDS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run, &jobs[i]), 0);
	for (unsigned i = 0; i < N_BOARDS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < N_BOARDS; i++) {
		struct loop_board *lb = &l->boards[i];
		/* enumerations: runtime at the start, DFU after DETACH, runtime after REBOOT */
		int expected = 2 * STRINGS_RUNTIME + STRINGS_DFU;
		int excess = (int)lb->b.string_requests - expected;

		if (jobs[i].rc)
			fail_msg("board %u: %s", i, jobs[i].err);
		assert_int_equal(jobs[i].r.outcome, DFUMGR_OUTCOME_NEW_PAIR);
		assert_string_equal(jobs[i].r.serial, lb->b.serial);
		assert_int_equal(lb->plugs, 3);
		excess_max = excess > excess_max ? excess : excess_max;
		worst = lb->b.string_requests > worst ? lb->b.string_requests : worst;
		total += lb->b.string_requests;
	}
	assert_int_equal(dfumgr_backend_monitor_stats(be, &ms), 0);
	print_message("threads: %d boards updated by %d threads; string-descriptor requests per "
		      "board: max %llu, total %llu (one read per enumeration = %d); excess over "
		      "its own re-enumerations: max %d (limit %d); monitor: %llu refreshes, %llu "
		      "string reads\n",
		      N_BOARDS, N_BOARDS, (unsigned long long)worst, (unsigned long long)total,
		      2 * STRINGS_RUNTIME + STRINGS_DFU, excess_max, EXCESS_MAX,
		      (unsigned long long)ms.refreshes, (unsigned long long)ms.string_reads);
	assert_true(excess_max <= EXCESS_MAX);
	dfumgr_bundle_free(b);
	dfumgr_pack_result_done(&pr);
	dfumgr_keyring_free(ring);
	dfumgr_key_free(key);
	dfumgr_backend_free(be);
	loop_free(l);
	dfumgr_ctx_free(ctx);
	test_rmtree(tmp);
	free(tmp);
	free(p0);
	free(p1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sixteen_boards_sixteen_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
