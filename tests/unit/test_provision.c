/* SPDX-License-Identifier: MIT */
/*
 * libdfumgr's provisioning run over in-process emulated boards (the loop backend): one board
 * with a disconnect and one of another product among four; each board's record, the events
 * (the station log holds a board's record before its DONE event), the summary, the reports
 * (CSV quoting and formula neutralising), the serials file and option checks. Several worker
 * threads share one backend: the TSan build runs this too (label "threads").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "loop_backend.h"
#include "dfumgr/bundle.h"
#include "dfumgr/keyring.h"
#include "dfumgr/pack.h"
#include "dfumgr/provision.h"

#define N_BOARDS 4

struct fixture {
	struct loop *l;
	struct dfumgr_backend *be;
	struct dfumgr_ctx *ctx;
	struct dfumgr_key *key;
	struct dfumgr_keyring *ring;
	struct dfumgr_pack_result pr;
	struct dfumgr_bundle *b;
	char *tmp;
	char log[512];
};

struct seen {
	const char *log;
	unsigned found[N_BOARDS + 2], start[N_BOARDS + 2], done[N_BOARDS + 2];
	unsigned done_before_log; /* DONE events whose record was not in the log yet */
	unsigned progress;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct dfumgr_pack_opts po = {0};
	uint8_t *p0 = calloc(1, 6000), *p1 = calloc(1, 30000);
	char dir[512];

	assert_non_null(fx);
	for (size_t i = 0; i < 30000; i++) {
		if (i < 6000)
			p0[i] = (uint8_t)(i * 7);
		p1[i] = (uint8_t)(i * 11 + 3);
	}
	fx->l = loop_new(N_BOARDS, false);
	assert_non_null(fx->l);
	fx->be = loop_backend(fx->l);
	fx->ctx = dfumgr_ctx_new();
	fx->tmp = test_tmpdir();
	snprintf(fx->log, sizeof(fx->log), "%s/station.jsonl", fx->tmp);
	assert_int_equal(dfumgr_key_load(fx->ctx, test_data_path("key-A.pem"), &fx->key), 0);
	assert_int_equal(dfumgr_keyring_load(fx->ctx, test_data_path("key-A-pub.pem"), &fx->ring),
			 0);
	po.key = fx->key;
	po.product = EMU_DEFAULT_PRODUCT;
	assert_int_equal(dfumgr_version_parse("2.0.0+1", &po.version), 0);
	assert_int_equal(
	    dfumgr_pack_payloads(fx->ctx, p0, 6000, 0xc200, p1, 30000, 0x10120200, &po, &fx->pr),
	    0);
	snprintf(dir, sizeof(dir), "%s/b", fx->tmp);
	assert_int_equal(dfumgr_bundle_write(fx->ctx, dir, &fx->pr.manifest, fx->pr.image,
					     fx->pr.image_size, fx->key),
			 0);
	assert_int_equal(dfumgr_bundle_open(fx->ctx, dir, fx->ring, 0, NULL, &fx->b), 0);
	free(p0);
	free(p1);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	dfumgr_bundle_free(fx->b);
	dfumgr_pack_result_done(&fx->pr);
	dfumgr_keyring_free(fx->ring);
	dfumgr_key_free(fx->key);
	dfumgr_backend_free(fx->be);
	loop_free(fx->l);
	dfumgr_ctx_free(fx->ctx);
	test_rmtree(fx->tmp);
	free(fx->tmp);
	free(fx);
	return 0;
}

static void on_event(void *user, const struct dfumgr_provision_event *ev)
{
	struct seen *s = user;
	unsigned i = ev->record->index;

	assert_true(i < N_BOARDS + 2);
	switch (ev->type) {
	case DFUMGR_PROVISION_EV_FOUND:
		s->found[i]++;
		break;
	case DFUMGR_PROVISION_EV_START:
		s->start[i]++;
		break;
	case DFUMGR_PROVISION_EV_PROGRESS:
		assert_non_null(ev->progress);
		s->progress++;
		break;
	case DFUMGR_PROVISION_EV_DONE: {
		char *text = read_text(s->log), needle[DFUMGR_STRING_MAX + 16];

		s->done[i]++;
		snprintf(needle, sizeof(needle), "\"serial\":\"%s\"", ev->record->serial);
		s->done_before_log += strstr(text, needle) == NULL;
		free(text);
		break;
	}
	}
}

static const struct dfumgr_provision_record *by_serial(struct dfumgr_provision *run,
						       const char *serial)
{
	for (size_t i = 0; i < dfumgr_provision_count(run); i++)
		if (!strcmp(dfumgr_provision_record(run, i)->serial, serial))
			return dfumgr_provision_record(run, i);
	fail_msg("no record of %s", serial);
	return NULL;
}

/* Board 2 is pulled in image 1, board 3 is a "=1+1,\"x\"" product; boards 1 and 4 succeed. */
static void test_fixture_with_faults(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_provision_opts o = DFUMGR_PROVISION_OPTS_INIT;
	struct dfumgr_provision_summary sum = {.size = sizeof(sum)};
	struct dfumgr_provision *run = NULL;
	struct seen seen = {.log = fx->log};
	const struct dfumgr_provision_record *r;
	const struct dfumgr_manifest *m = dfumgr_bundle_manifest(fx->b);
	char path[512], *csv, *log, *json = NULL;
	unsigned lines = 0;
	int rc;

	fx->l->boards[1].b.fault.disconnect_at[1] = 8192;
	snprintf(fx->l->boards[2].b.product, sizeof(fx->l->boards[2].b.product), "=1+1,\"x\"");
	snprintf(fx->l->boards[2].b.dev.product, sizeof(fx->l->boards[2].b.dev.product),
		 "=1+1,\"x\"");
	o.all = true;
	o.log_path = fx->log;
	o.event = on_event;
	o.user = &seen;
	write_file(fx->log, ""); /* the DONE check reads it */
	assert_int_equal(dfumgr_provision_new(fx->ctx, fx->b, &o, &run), 0);
	rc = dfumgr_provision_run(run, fx->be);
	assert_int_equal(rc, 1); /* one failed board */
	assert_int_equal(dfumgr_provision_count(run), N_BOARDS);

	r = by_serial(run, fx->l->boards[0].b.serial);
	assert_int_equal(r->result, DFUMGR_PROVISION_UPDATED);
	assert_int_equal(r->outcome, DFUMGR_OUTCOME_NEW_PAIR);
	assert_true(r->have_after && r->digest_valid[0] && r->digest_valid[1]);
	assert_false(r->digest_running);
	assert_memory_equal(r->digest[1], dfumgr_manifest_image(m, 1)->sha256, DFUMGR_SHA256_SIZE);
	assert_true(r->bytes >= 36000);
	r = by_serial(run, fx->l->boards[1].b.serial);
	assert_int_equal(r->result, DFUMGR_PROVISION_FAILED);
	assert_int_equal(r->error, -DFUMGR_E_DISCONNECTED);
	assert_int_equal(r->outcome, DFUMGR_OUTCOME_OLD_PAIR);
	assert_non_null(strstr(r->message, "image 1"));
	r = by_serial(run, fx->l->boards[2].b.serial);
	assert_int_equal(r->result, DFUMGR_PROVISION_IGNORED);
	assert_int_equal(r->bytes, 0);
	assert_int_equal(by_serial(run, fx->l->boards[3].b.serial)->result,
			 DFUMGR_PROVISION_UPDATED);
	for (int i = 0; i < N_BOARDS; i++) {
		assert_int_equal(seen.found[i], 1);
		assert_int_equal(seen.start[i], 1);
		assert_int_equal(seen.done[i], 1);
	}
	assert_int_equal(seen.done_before_log, 0);
	assert_true(seen.progress > 8);

	assert_int_equal(dfumgr_provision_summary(run, &sum), 0);
	assert_int_equal(sum.boards, N_BOARDS);
	assert_int_equal(sum.counts[DFUMGR_PROVISION_UPDATED], 2);
	assert_int_equal(sum.counts[DFUMGR_PROVISION_FAILED], 1);
	assert_int_equal(sum.counts[DFUMGR_PROVISION_IGNORED], 1);

	/* the station log: one line per board, each the record's JSON */
	log = read_text(fx->log);
	for (char *p = log; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, N_BOARDS);
	assert_int_equal(dfumgr_provision_record_json(run, dfumgr_provision_record(run, 0), &json),
			 0);
	assert_non_null(strstr(log, json));
	free(json);
	free(log);

	/* CSV: a board's string that starts like a formula is quoted text, quotes doubled */
	snprintf(path, sizeof(path), "%s/r.csv", fx->tmp);
	assert_int_equal(dfumgr_provision_write_report(run, path), 0);
	csv = read_text(path);
	assert_non_null(strstr(csv, ",\"'=1+1,\"\"x\"\"\",ignored,"));
	assert_non_null(strstr(csv, "\r\n"));
	free(csv);
	snprintf(path, sizeof(path), "%s/r.txt", fx->tmp);
	assert_int_equal(dfumgr_provision_write_report(run, path), -DFUMGR_E_INVAL);
	dfumgr_provision_free(run);
}

/* A re-run skips the boards at the release (by their digests) and fixes the failed one. */
static void test_rerun_skips(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_provision_opts o = DFUMGR_PROVISION_OPTS_INIT;
	struct dfumgr_provision_summary sum = {.size = sizeof(sum)};
	struct dfumgr_provision *run = NULL;
	const char *serials[] = {fx->l->boards[0].b.serial, fx->l->boards[1].b.serial, "ABSENT-1"};
	const struct dfumgr_provision_record *r;

	for (int i = 0; i < N_BOARDS; i++)
		fx->l->boards[i].b.fault.disconnect_at[1] = UINT64_MAX;
	o.serials = serials;
	o.n_serials = 3;
	/* board 2 may still be coming back from its disconnect: a listed board is waited for */
	o.wait_timeout_ms = 20000;
	assert_int_equal(dfumgr_provision_new(fx->ctx, fx->b, &o, &run), 0);
	/* the earlier test's boards: 1 at 2.0.0, 2 failed; "ABSENT-1" is not connected */
	assert_int_equal(dfumgr_provision_run(run, fx->be), 1);
	r = by_serial(run, fx->l->boards[0].b.serial);
	assert_int_equal(r->result, DFUMGR_PROVISION_SKIPPED);
	assert_true(r->digest_running && r->digest_valid[0] && r->digest_valid[1]);
	assert_int_equal(r->bytes, 0);
	assert_int_equal(by_serial(run, fx->l->boards[1].b.serial)->result,
			 DFUMGR_PROVISION_UPDATED);
	r = by_serial(run, "ABSENT-1");
	assert_int_equal(r->result, DFUMGR_PROVISION_MISSING);
	assert_int_equal(r->error, -DFUMGR_E_NODEV);
	assert_int_equal(dfumgr_provision_summary(run, &sum), 0);
	assert_int_equal(sum.wanted, 3);
	assert_int_equal(sum.counts[DFUMGR_PROVISION_MISSING], 1);
	dfumgr_provision_free(run);
}

static void test_options(void **state)
{
	struct fixture *fx = *state;
	struct dfumgr_provision_opts o = DFUMGR_PROVISION_OPTS_INIT;
	struct dfumgr_provision *run = NULL;
	const char *two[] = {"A-1", "A-1"};
	char path[512];

	assert_int_equal(dfumgr_provision_new(fx->ctx, fx->b, &o, &run), -DFUMGR_E_INVAL);
	o.all = true;
	o.serials = two;
	o.n_serials = 1;
	assert_int_equal(dfumgr_provision_new(fx->ctx, fx->b, &o, &run), -DFUMGR_E_INVAL);
	o.all = false;
	o.n_serials = 2;
	assert_int_equal(dfumgr_provision_new(fx->ctx, fx->b, &o, &run), -DFUMGR_E_INVAL);
	assert_non_null(strstr(dfumgr_ctx_errmsg(fx->ctx), "A-1 is given twice"));
	o.n_serials = 1;
	o.wait_count = 2;
	assert_int_equal(dfumgr_provision_new(fx->ctx, fx->b, &o, &run), -DFUMGR_E_INVAL);
	o.wait_count = 0;
	snprintf(path, sizeof(path), "%s/no/such/dir/log", fx->tmp);
	o.log_path = path;
	assert_true(dfumgr_provision_new(fx->ctx, fx->b, &o, &run) < 0);
	assert_null(run);
	assert_int_equal(dfumgr_provision_report_format(fx->ctx, "x/R.JSON"),
			 DFUMGR_PROVISION_REPORT_JSON);
	assert_int_equal(dfumgr_provision_report_format(fx->ctx, "r.csv"),
			 DFUMGR_PROVISION_REPORT_CSV);
	assert_int_equal(dfumgr_provision_report_format(fx->ctx, "r.json/x"), -DFUMGR_E_INVAL);
}

static void test_serials_file(void **state)
{
	struct fixture *fx = *state;
	char path[512], **s = NULL, big[200];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/serials.txt", fx->tmp);
	write_file(path, "# line 3\r\n\n  B-1\t\r\nB-2\n#B-3\nB 4");
	assert_int_equal(dfumgr_provision_serials_load(fx->ctx, path, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(s[0], "B-1");
	assert_string_equal(s[1], "B-2");
	assert_string_equal(s[2], "B 4");
	assert_null(s[3]);
	s = dfumgr_provision_serials_free(s);
	write_file(path, "B-1\nB-2\nB-1\n");
	assert_int_equal(dfumgr_provision_serials_load(fx->ctx, path, &s, &n), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(fx->ctx), "line 3"));
	write_file(path, "B-1\nB\x7f"
			 "2\n");
	assert_int_equal(dfumgr_provision_serials_load(fx->ctx, path, &s, &n), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(fx->ctx), "line 2"));
	assert_non_null(strstr(dfumgr_ctx_errmsg(fx->ctx), "0x7f"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big);
	assert_int_equal(dfumgr_provision_serials_load(fx->ctx, path, &s, &n), -DFUMGR_E_FORMAT);
	write_file(path, "# nothing\n\n");
	assert_int_equal(dfumgr_provision_serials_load(fx->ctx, path, &s, &n), -DFUMGR_E_FORMAT);
	snprintf(path, sizeof(path), "%s/none.txt", fx->tmp);
	assert_int_equal(dfumgr_provision_serials_load(fx->ctx, path, &s, &n), -DFUMGR_E_NOENT);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_with_faults),
	    cmocka_unit_test(test_rerun_skips),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_serials_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
