/* SPDX-License-Identifier: MIT */
/*
 * The update history's records (src/lib/history.c): every field survives a write and a read,
 * absent fields read as empty, unknown keys are ignored and unknown events skipped (a newer
 * daemon may add both), malformed records are errors naming the field and line, and a record
 * torn by a crash is not seen.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/history.h"

static struct dfumgr_history_record full(void)
{
	struct dfumgr_history_record r = {.size = sizeof(r)};

	r.time_ms = 1795851485123; /* 2026-11-28T07:38:05.123Z */
	r.event = DFUMGR_HISTORY_RESULT;
	strcpy(r.serial, "NRF5340-0001");
	strcpy(r.product, "gait-sensor");
	strcpy(r.release, "2.3.0");
	strcpy(r.release_id, "2.3.0_c7d43e5a0011");
	strcpy(r.version[0], "2.3.0+4");
	strcpy(r.version[1], "2.3.0+4");
	r.attempt = 3;
	r.manual = true;
	strcpy(r.phase, "commit");
	r.result = DFUMGR_HISTORY_FAILED;
	r.error = DFUMGR_E_REFUSED;
	strcpy(r.message, "board refused the pair: \"image 1\"\nsecond line");
	r.committed = false;
	r.duration_ms = 12345;
	r.have_before = true;
	strcpy(r.before[0], "2.2.0+1");
	strcpy(r.before[1], "2.2.0+1");
	r.have_after = true;
	strcpy(r.after[0], "2.2.0+1");
	strcpy(r.after[1], "2.2.0+1");
	strcpy(r.board_state, "nothing committed; rebooted into its previous images");
	strcpy(r.outcome, "old pair running");
	return r;
}

static void test_round_trip(void **state)
{
	struct dfumgr_history_record r = full(), back = {.size = sizeof(back)};
	char *json = NULL;

	(void)state;
	assert_int_equal(dfumgr_history_format(NULL, &r, &json), 0);
	assert_non_null(strstr(json, "\"time\":\"2026-11-28T07:38:05.123Z\""));
	assert_non_null(strstr(json, "\"event\":\"result\""));
	assert_non_null(strstr(json, "\"result\":\"failed\""));
	assert_non_null(strstr(json, "\"error\":28"));
	assert_non_null(strstr(json, "\"error_name\":"));
	assert_null(strchr(json, '\n')); /* one line, whatever the message holds */
	assert_int_equal(dfumgr_history_parse(NULL, json, &back), 0);
	assert_int_equal(back.time_ms, r.time_ms);
	assert_int_equal(back.event, r.event);
	assert_string_equal(back.serial, r.serial);
	assert_string_equal(back.product, r.product);
	assert_string_equal(back.release, r.release);
	assert_string_equal(back.release_id, r.release_id);
	assert_string_equal(back.version[1], "2.3.0+4");
	assert_int_equal(back.attempt, 3);
	assert_true(back.manual);
	assert_string_equal(back.phase, "commit");
	assert_int_equal(back.result, DFUMGR_HISTORY_FAILED);
	assert_int_equal(back.error, DFUMGR_E_REFUSED);
	assert_string_equal(back.message, r.message);
	assert_false(back.committed);
	assert_int_equal(back.duration_ms, 12345);
	assert_true(back.have_before);
	assert_true(back.have_after);
	assert_string_equal(back.before[0], "2.2.0+1");
	assert_string_equal(back.after[1], "2.2.0+1");
	assert_string_equal(back.board_state, r.board_state);
	assert_string_equal(back.outcome, "old pair running");
	free(json);
}

static void test_sparse_record(void **state)
{
	struct dfumgr_history_record r = {
	    .size = sizeof(r), .time_ms = 1000, .event = DFUMGR_HISTORY_PAUSE};
	struct dfumgr_history_record back = {.size = sizeof(back)};
	char *json = NULL;

	(void)state;
	assert_int_equal(dfumgr_history_format(NULL, &r, &json), 0);
	assert_string_equal(json, "{\"time\":\"1970-01-01T00:00:01.000Z\",\"event\":\"pause\"}");
	assert_int_equal(dfumgr_history_parse(NULL, json, &back), 0);
	assert_int_equal(back.event, DFUMGR_HISTORY_PAUSE);
	assert_string_equal(back.serial, "");
	assert_false(back.have_before);
	assert_int_equal(back.error, 0);
	free(json);
}

static void test_bad_records(void **state)
{
	static const struct {
		const char *json;
		int rc;
		const char *field;
	} cases[] = {
	    {"[1]", -DFUMGR_E_FORMAT, "JSON object"},
	    {"{\"event\":\"stop\"}", -DFUMGR_E_FORMAT, "\"time\""},
	    {"{\"time\":\"yesterday\",\"event\":\"stop\"}", -DFUMGR_E_FORMAT, "\"time\""},
	    {"{\"time\":\"2026-13-01T00:00:00Z\",\"event\":\"stop\"}", -DFUMGR_E_FORMAT,
	     "\"time\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\"}", -DFUMGR_E_FORMAT, "\"event\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":7}", -DFUMGR_E_FORMAT, "\"event\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"warp\"}", -DFUMGR_E_UNSUPPORTED,
	     "warp"},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"result\"}", -DFUMGR_E_FORMAT,
	     "\"result\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"result\",\"result\":\"meh\"}",
	     -DFUMGR_E_FORMAT, "\"result\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"attempt\",\"attempt\":-1}",
	     -DFUMGR_E_FORMAT, "\"attempt\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"attempt\",\"attempt\":1.5}",
	     -DFUMGR_E_FORMAT, "\"attempt\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"attempt\",\"serial\":5}",
	     -DFUMGR_E_FORMAT, "\"serial\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"result\",\"result\":\"ok\","
	     "\"after\":[\"1\"]}",
	     -DFUMGR_E_FORMAT, "\"after\""},
	    {"{\"time\":\"2026-11-28T07:38:05Z\",\"event\":\"attempt\",\"manual\":\"yes\"}",
	     -DFUMGR_E_FORMAT, "\"manual\""},
	};
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dfumgr_history_record r = {.size = sizeof(r)};
		int rc = dfumgr_history_parse(ctx, cases[i].json, &r);

		if (rc != cases[i].rc || !strstr(dfumgr_ctx_errmsg(ctx), cases[i].field))
			fail_msg("case %zu (%s): rc %d (want %d), message \"%s\" (want \"%s\")", i,
				 cases[i].json, rc, cases[i].rc, dfumgr_ctx_errmsg(ctx),
				 cases[i].field);
	}
	dfumgr_ctx_free(ctx);
}

static void test_unknown_keys_ignored(void **state)
{
	struct dfumgr_history_record r = {.size = sizeof(r)};

	(void)state;
	assert_int_equal(dfumgr_history_parse(NULL,
					      "{\"time\":\"2026-11-28T07:38:05Z\",\"event\":"
					      "\"phase\",\"serial\":\"A\",\"phase\":\"verify\","
					      "\"colour\":\"blue\",\"nested\":{\"x\":[1,2]}}",
					      &r),
			 0);
	assert_string_equal(r.serial, "A");
	assert_string_equal(r.phase, "verify");
}

static void test_arguments(void **state)
{
	struct dfumgr_history_record r = full(), small = {.size = 8};
	char *json = NULL;

	(void)state;
	assert_int_equal(dfumgr_history_format(NULL, &small, &json), -DFUMGR_E_INVAL);
	r.event = DFUMGR_HISTORY_EVENT_COUNT;
	assert_int_equal(dfumgr_history_format(NULL, &r, &json), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_history_parse(NULL, "{}", &small), -DFUMGR_E_INVAL);
	assert_string_equal(dfumgr_history_event_name(DFUMGR_HISTORY_INTERRUPTED), "interrupted");
	assert_string_equal(dfumgr_history_event_name(99), "unknown");
	assert_string_equal(dfumgr_history_result_name(DFUMGR_HISTORY_CANCELLED), "cancelled");
}

static void put(int fd, const char *text)
{
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

struct seen {
	size_t n;
	enum dfumgr_history_event ev[16];
	char serial[16][DFUMGR_STRING_MAX];
};

static int collect(void *user, const struct dfumgr_history_record *rec)
{
	struct seen *s = user;

	assert_true(s->n < 16);
	s->ev[s->n] = rec->event;
	snprintf(s->serial[s->n], sizeof(s->serial[0]), "%s", rec->serial);
	s->n++;
	return 0;
}

static void test_journal(void **state)
{
	char *dir = test_tmpdir(), path[4096];
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_journal *j = NULL;
	struct dfumgr_history_record r = full();
	struct seen s = {0};
	size_t skipped = 99;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	/* a missing history has no records */
	assert_int_equal(dfumgr_history_read(ctx, path, collect, &s, &skipped), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(skipped, 0);
	assert_int_equal(dfumgr_journal_open(ctx, path, &j), 0);
	r.event = DFUMGR_HISTORY_ATTEMPT;
	r.time_ms = 0; /* now */
	assert_int_equal(dfumgr_history_append(ctx, j, &r), 0);
	r.event = DFUMGR_HISTORY_RESULT;
	assert_int_equal(dfumgr_history_append(ctx, j, &r), 0);
	j = dfumgr_journal_free(j);
	/* a newer daemon's event, then a record torn by a crash */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	put(fd, "{\"time\":\"2030-01-01T00:00:00Z\",\"event\":\"teleport\"}\n");
	put(fd, "{\"time\":\"2030-01-01T00:00:01Z\",\"ev");
	close(fd);
	assert_int_equal(dfumgr_history_read(ctx, path, collect, &s, &skipped), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[0], DFUMGR_HISTORY_ATTEMPT);
	assert_int_equal(s.ev[1], DFUMGR_HISTORY_RESULT);
	assert_string_equal(s.serial[1], "NRF5340-0001");
	assert_int_equal(skipped, 1);
	/* a record that is JSON but not a history record: an error naming the line */
	snprintf(path, sizeof(path), "%s/damaged.jsonl", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	put(fd, "{\"time\":\"2030-01-01T00:00:00Z\",\"event\":\"stop\"}\n");
	put(fd, "{\"time\":\"never\",\"event\":\"stop\"}\n");
	close(fd);
	s.n = 0;
	assert_int_equal(dfumgr_history_read(ctx, path, collect, &s, NULL), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "damaged.jsonl: line 2"));
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "\"time\""));
	assert_int_equal(s.n, 1);
	dfumgr_ctx_free(ctx);
	test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_sparse_record),
	    cmocka_unit_test(test_bad_records), cmocka_unit_test(test_unknown_keys_ignored),
	    cmocka_unit_test(test_arguments),   cmocka_unit_test(test_journal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
