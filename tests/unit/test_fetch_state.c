/* SPDX-License-Identifier: MIT */
/*
 * The files dfu-mgr fetch keeps between runs: the state file the daemon reads (round trip,
 * every outcome, strict reading with the field named) and the feed cache (the exact feed bytes
 * back, validators that could inject a header refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/fetch_state.h"

static char *tmp;

static int setup(void **state)
{
	(void)state;
	tmp = test_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(tmp);
	free(tmp);
	tmp = NULL;
	return 0;
}

static const char *in_tmp(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	return path;
}

static void put(const char *name, const char *text)
{
	assert_int_equal(dfumgr_file_write(NULL, in_tmp(name), text, strlen(text), true), 0);
}

static void expect_msg(struct dfumgr_ctx *ctx, const char *part)
{
	if (!strstr(dfumgr_ctx_errmsg(ctx), part))
		fail_msg("message \"%s\" does not contain \"%s\"", dfumgr_ctx_errmsg(ctx), part);
}

static void test_outcome_names(void **state)
{
	(void)state;
	assert_string_equal(dfumgr_fetch_outcome_name(DFUMGR_FETCH_DELIVERED), "delivered");
	assert_string_equal(dfumgr_fetch_outcome_name(DFUMGR_FETCH_UP_TO_DATE), "up-to-date");
	assert_string_equal(dfumgr_fetch_outcome_name(DFUMGR_FETCH_FAILED), "failed");
	assert_string_equal(dfumgr_fetch_outcome_name((enum dfumgr_fetch_outcome)7), "unknown");
}

static void test_state_roundtrip(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_fetch_state st, back;
	uint8_t *text = NULL;
	size_t size = 0;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.time = 1795000000; /* 2026-11-18T11:06:40Z */
	st.result = DFUMGR_FETCH_DELIVERED;
	strcpy(st.source, "https://updates.example.com/fw/feed.json");
	st.has_sequence = true;
	st.sequence = 12;
	st.has_delivered = true;
	st.delivered.time = 1795000000;
	strcpy(st.delivered.product, "gait-sensor");
	strcpy(st.delivered.release, "2.3.0");
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &st.delivered.version), 0);
	memset(st.delivered.manifest_sha256, 0xab, 32);
	strcpy(st.delivered.bundle, "/var/lib/dfu-mgr/incoming/gait-sensor-2.3.0");
	assert_int_equal(dfumgr_fetch_state_save(ctx, in_tmp("state.json"), &st), 0);
	assert_int_equal(dfumgr_file_read(ctx, in_tmp("state.json"), 65536, &text, &size), 0);
	text[size] = '\0'; /* dfumgr_file_read() leaves room for it */
	assert_non_null(strstr((char *)text, "\"time\":\t\"2026-11-18T11:06:40Z\""));
	assert_non_null(strstr((char *)text, "\"result\":\t\"delivered\""));
	assert_null(strstr((char *)text, "\"error\""));
	free(text);

	memset(&back, 0x5a, sizeof(back));
	back.size = sizeof(back);
	assert_int_equal(dfumgr_fetch_state_load(ctx, in_tmp("state.json"), &back), 0);
	assert_int_equal(back.time, st.time);
	assert_int_equal(back.result, DFUMGR_FETCH_DELIVERED);
	assert_int_equal(back.error, 0);
	assert_string_equal(back.source, st.source);
	assert_true(back.has_sequence);
	assert_int_equal(back.sequence, 12);
	assert_true(back.has_delivered);
	assert_int_equal(back.delivered.time, st.delivered.time);
	assert_string_equal(back.delivered.product, "gait-sensor");
	assert_int_equal(dfumgr_version_cmp(&back.delivered.version, &st.delivered.version), 0);
	assert_memory_equal(back.delivered.manifest_sha256, st.delivered.manifest_sha256, 32);
	assert_string_equal(back.delivered.bundle, st.delivered.bundle);

	/* a failure keeps the last delivery, and says what went wrong */
	st.result = DFUMGR_FETCH_FAILED;
	st.error = DFUMGR_E_NETWORK;
	strcpy(st.message, "https://updates.example.com/fw/feed.json: Couldn't connect to server");
	st.has_sequence = false;
	assert_int_equal(dfumgr_fetch_state_save(ctx, in_tmp("state.json"), &st), 0);
	assert_int_equal(dfumgr_fetch_state_load(ctx, in_tmp("state.json"), &back), 0);
	assert_int_equal(back.result, DFUMGR_FETCH_FAILED);
	assert_int_equal(back.error, DFUMGR_E_NETWORK);
	assert_string_equal(back.message, st.message);
	assert_false(back.has_sequence);
	assert_true(back.has_delivered);
	dfumgr_ctx_free(ctx);
}

static void test_state_errors(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *msg;
	} cases[] = {
	    {"{\"state_version\": 2}", -DFUMGR_E_UNSUPPORTED, "state_version: version 2"},
	    {"{\"state_version\": 1, \"time\": \"2026-11-18T09:46:40Z\", \"result\": \"ok\", "
	     "\"source\": \"x\"}",
	     -DFUMGR_E_FORMAT, "result: expected \"delivered\""},
	    {"{\"state_version\": 1, \"time\": \"2026-02-31T09:46:40Z\", \"result\": "
	     "\"delivered\", "
	     "\"source\": \"x\"}",
	     -DFUMGR_E_FORMAT, "time: expected a UTC time"},
	    {"{\"state_version\": 1, \"time\": \"2026-11-18 09:46:40\", \"result\": \"delivered\", "
	     "\"source\": \"x\"}",
	     -DFUMGR_E_FORMAT, "time: expected a UTC time"},
	    {"{\"state_version\": 1, \"time\": \"2026-11-18T09:46:40Z\", \"result\": \"failed\", "
	     "\"source\": \"x\"}",
	     -DFUMGR_E_FORMAT, "error: missing (the result is \"failed\")"},
	    {"{\"state_version\": 1, \"time\": \"2026-11-18T09:46:40Z\", \"result\": "
	     "\"delivered\", "
	     "\"source\": \"x\", \"error\": {\"code\": 3, \"name\": \"x\", \"message\": \"y\"}}",
	     -DFUMGR_E_FORMAT, "only a failed run has an error"},
	    {"{\"state_version\": 1, \"time\": \"2026-11-18T09:46:40Z\", \"result\": "
	     "\"delivered\", "
	     "\"source\": \"x\", \"delivered\": {\"time\": \"2026-11-18T09:46:40Z\", \"product\": "
	     "\"a b\", \"release\": \"1\", \"version\": \"1.0.0\", \"manifest_sha256\": \"00\", "
	     "\"bundle\": \"/x\"}}",
	     -DFUMGR_E_FORMAT, "delivered.product"},
	    {"{\"state_version\": 1, \"time\": \"2026-11-18T09:46:40Z\", \"result\": "
	     "\"delivered\", "
	     "\"source\": \"x\", \"extra\": 1}",
	     -DFUMGR_E_FORMAT, "unknown key \"extra\""},
	    {"not json", -DFUMGR_E_FORMAT, "not valid JSON at line 1"},
	};
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_fetch_state st;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	assert_int_equal(dfumgr_fetch_state_load(ctx, in_tmp("none.json"), &st), -DFUMGR_E_NOENT);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		put("bad.json", cases[i].text);
		rc = dfumgr_fetch_state_load(ctx, in_tmp("bad.json"), &st);
		if (rc != cases[i].rc)
			fail_msg("case %zu: expected %d, got %d: %s", i, cases[i].rc, rc,
				 dfumgr_ctx_errmsg(ctx));
		expect_msg(ctx, cases[i].msg);
		/* the message names the file */
		expect_msg(ctx, "bad.json: ");
	}
	/* an older caller's smaller struct is refused, not overrun */
	st.size = sizeof(st) - 8;
	assert_int_equal(dfumgr_fetch_state_load(ctx, in_tmp("bad.json"), &st), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_fetch_state_save(ctx, in_tmp("s.json"), &st), -DFUMGR_E_INVAL);
	dfumgr_ctx_free(ctx);
}

static void test_cache_roundtrip_exact_bytes(void **state)
{
	/* quotes, backslashes, tabs, CR LF and UTF-8: the cached feed is the same byte string */
	static const char feed[] = "{\"feed_version\": 1,\r\n\t\"x\": \"a\\\"b\\\\c \xc3\xa9\"}\n";
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed_cache c = {0}, back;

	(void)state;
	strcpy(c.url, "https://u.example/feed.json");
	strcpy(c.etag, "W/\"6b0a84dd-315\"");
	strcpy(c.last_modified, "Sat, 28 Nov 2026 07:38:05 GMT");
	c.feed = (uint8_t *)strdup(feed);
	c.feed_size = strlen(feed);
	memset(c.sig, 0x30, 71);
	c.sig_len = 71;
	assert_int_equal(dfumgr_feed_cache_save(ctx, in_tmp("cache.json"), &c), 0);
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("cache.json"), &back), 0);
	assert_string_equal(back.url, c.url);
	assert_string_equal(back.etag, c.etag);
	assert_string_equal(back.last_modified, c.last_modified);
	assert_int_equal(back.feed_size, c.feed_size);
	assert_memory_equal(back.feed, feed, c.feed_size);
	assert_int_equal(back.sig_len, 71);
	assert_memory_equal(back.sig, c.sig, 71);
	dfumgr_feed_cache_done(&back);
	assert_null(back.feed);

	/* a validator that would end the request header early is not kept */
	strcpy(c.etag, "\"x\"\r\nX-Evil: 1");
	assert_int_equal(dfumgr_feed_cache_save(ctx, in_tmp("cache.json"), &c), 0);
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("cache.json"), &back), 0);
	assert_string_equal(back.etag, "");
	assert_string_equal(back.last_modified, c.last_modified);
	dfumgr_feed_cache_done(&back);
	/* and one written into the file by someone else is refused */
	put("evil.json", "{\"cache_version\": 1, \"url\": \"https://u/\", \"etag\": \"a\\r\\nb\", "
			 "\"signature\": \"3000\", \"feed\": \"{}\"}");
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("evil.json"), &back), -DFUMGR_E_FORMAT);
	expect_msg(ctx, "etag: not a header value");
	assert_false(dfumgr_feed_cache_validator_ok(""));
	assert_false(dfumgr_feed_cache_validator_ok("a\tb"));
	assert_true(dfumgr_feed_cache_validator_ok("\"abc\""));
	free(c.feed);
	dfumgr_ctx_free(ctx);
}

static void test_cache_errors(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed_cache c;

	(void)state;
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("none"), &c), -DFUMGR_E_NOENT);
	put("v2.json",
	    "{\"cache_version\": 2, \"url\": \"u\", \"signature\": \"30\", \"feed\": \"\"}");
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("v2.json"), &c), -DFUMGR_E_UNSUPPORTED);
	put("sig.json",
	    "{\"cache_version\": 1, \"url\": \"u\", \"signature\": \"3\", \"feed\": \"\"}");
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("sig.json"), &c), -DFUMGR_E_FORMAT);
	expect_msg(ctx, "signature");
	put("nofeed.json", "{\"cache_version\": 1, \"url\": \"u\", \"signature\": \"30\"}");
	assert_int_equal(dfumgr_feed_cache_load(ctx, in_tmp("nofeed.json"), &c), -DFUMGR_E_FORMAT);
	expect_msg(ctx, "feed: missing");
	memset(&c, 0, sizeof(c));
	assert_int_equal(dfumgr_feed_cache_save(ctx, in_tmp("x.json"), &c), -DFUMGR_E_INVAL);
	dfumgr_ctx_free(ctx);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outcome_names),
	    cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_roundtrip_exact_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_errors, setup, teardown),
	};

	return cmocka_run_group_tests_name("fetch_state", tests, NULL, NULL);
}
