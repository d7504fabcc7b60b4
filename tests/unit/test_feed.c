/* SPDX-License-Identifier: MIT */
/*
 * The release feed: parsing, every validation error path (code and field named in the
 * message), the writer's round trip, the newest release, adding and replacing releases, the
 * check of a manifest against its feed entry, the signature, and publishing a bundle.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/bundle.h"
#include "dfumgr/feed.h"
#include "dfumgr/keyring.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
/* the shape of a DER ECDSA signature; the parser only checks its length */
#define SIG                                                                                        \
	"304402201111111111111111111111111111111111111111111111111111111111111111"                 \
	"02202222222222222222222222222222222222222222222222222222222222222222"

/* tests/fuzz/corpus/feed/valid-two-products.json */
static const char BASE[] =
    "{\"feed_version\": 1, \"sequence\": 7, \"products\": [\n"
    " {\"product\": \"gait-sensor\", \"releases\": [\n"
    "  {\"release\": \"2.3.0\", \"version\": \"2.3.0+4\",\n"
    "   \"urls\": [\"gait-sensor-2.3.0/\", \"https://mirror.example.com/fw/gait-sensor-2.3.0/\"],\n"
    "   \"manifest\": {\"size\": 614, \"sha256\": \"" HEX_A "\", \"signature\": \"" SIG "\"},\n"
    "   \"files\": [{\"file\": \"app.signed.bin\", \"size\": 214748, \"sha256\": \"" HEX_B "\"},\n"
    "             {\"file\": \"xip.signed.bin\", \"size\": 2097152, \"sha256\": \"" HEX_C "\"}]},\n"
    "  {\"release\": \"2.4.0-rc1\", \"version\": \"2.4.0+1\", \"urls\": [\"rc/\"],\n"
    "   \"manifest\": {\"size\": 600, \"sha256\": \"" HEX_B "\", \"signature\": \"" SIG "\"},\n"
    "   \"files\": [{\"file\": \"app.signed.bin\", \"size\": 1000, \"sha256\": \"" HEX_C
    "\"}]}]},\n"
    " {\"product\": \"hub\", \"releases\": [\n"
    "  {\"release\": \"1.0\", \"version\": \"1.0.0\", \"urls\": [\"https://u.example/hub/1.0/\"],\n"
    "   \"manifest\": {\"size\": 500, \"sha256\": \"" HEX_C "\", \"signature\": \"" SIG "\"},\n"
    "   \"files\": [{\"file\": \"hub.bin\", \"size\": 4096, \"sha256\": \"" HEX_A "\"}]}]}]}\n";

/* ---- helpers ---- */

/* BASE with the first occurrence of find replaced; free() the result. */
static char *edited(const char *find, const char *repl)
{
	const char *at = strstr(BASE, find);
	size_t pre, len;
	char *out;

	if (!at)
		fail_msg("\"%s\" is not in the base feed", find);
	pre = (size_t)(at - BASE);
	len = strlen(BASE) - strlen(find) + strlen(repl);
	out = malloc(len + 1);
	memcpy(out, BASE, pre);
	memcpy(out + pre, repl, strlen(repl));
	memcpy(out + pre + strlen(repl), at + strlen(find), strlen(at + strlen(find)) + 1);
	return out;
}

static struct dfumgr_feed *parse_ok(const char *json, size_t len)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed *feed = NULL;
	int rc = dfumgr_feed_parse(ctx, (const uint8_t *)json, len, &feed);

	if (rc != 0)
		fail_msg("dfumgr_feed_parse: %d %s", rc, dfumgr_ctx_errmsg(ctx));
	dfumgr_ctx_free(ctx);
	return feed;
}

static void expect_fail_len(const char *json, size_t len, int rc, const char *field)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed *feed = (struct dfumgr_feed *)(uintptr_t)0x1;
	int got = dfumgr_feed_parse(ctx, (const uint8_t *)json, len, &feed);

	if (got != rc)
		fail_msg("expected %d (%s), got %d (%s): %s\n%s", rc, dfumgr_strerror(rc), got,
			 dfumgr_strerror(got), dfumgr_ctx_errmsg(ctx), json);
	if (!strstr(dfumgr_ctx_errmsg(ctx), field))
		fail_msg("message \"%s\" does not name \"%s\"", dfumgr_ctx_errmsg(ctx), field);
	assert_int_equal(dfumgr_ctx_errcode(ctx), -rc);
	assert_ptr_equal(feed, (struct dfumgr_feed *)(uintptr_t)0x1);
	dfumgr_ctx_free(ctx);
}

static void expect_msg(struct dfumgr_ctx *ctx, const char *part)
{
	if (!strstr(dfumgr_ctx_errmsg(ctx), part))
		fail_msg("message \"%s\" does not contain \"%s\"", dfumgr_ctx_errmsg(ctx), part);
}

/* ---- parsing ---- */

static void test_parse_base(void **state)
{
	struct dfumgr_feed *feed = parse_ok(BASE, strlen(BASE));
	const struct dfumgr_feed_release *r;
	uint8_t b[32];

	(void)state;
	assert_int_equal(dfumgr_feed_sequence(feed), 7);
	assert_int_equal(dfumgr_feed_count(feed), 3);
	assert_int_equal(dfumgr_feed_products(feed), 2);
	assert_string_equal(dfumgr_feed_product(feed, 0), "gait-sensor");
	assert_string_equal(dfumgr_feed_product(feed, 1), "hub");
	assert_null(dfumgr_feed_product(feed, 2));
	r = dfumgr_feed_get(feed, 0);
	assert_string_equal(r->product, "gait-sensor");
	assert_string_equal(r->release, "2.3.0");
	assert_int_equal(r->version.major, 2);
	assert_int_equal(r->version.minor, 3);
	assert_int_equal(r->version.build, 4);
	assert_int_equal(r->n_urls, 2);
	assert_string_equal(r->urls[0], "gait-sensor-2.3.0/");
	assert_string_equal(r->urls[1], "https://mirror.example.com/fw/gait-sensor-2.3.0/");
	assert_int_equal(r->manifest_size, 614);
	assert_int_equal(r->manifest_sig_len, 70);
	assert_int_equal(r->manifest_sig[0], 0x30);
	assert_int_equal(r->manifest_sig[69], 0x22);
	assert_int_equal(r->n_files, 2);
	assert_string_equal(r->files[1].file, "xip.signed.bin");
	assert_int_equal(r->files[1].size, 2097152);
	memset(b, 0xbb, sizeof(b));
	assert_memory_equal(r->files[0].sha256, b, 32);
	assert_null(dfumgr_feed_get(feed, 3));
	dfumgr_feed_free(feed);
}

static void test_roundtrip(void **state)
{
	struct dfumgr_feed *feed = parse_ok(BASE, strlen(BASE)), *back;
	char *json = NULL, *again = NULL;
	size_t size = 0, size2 = 0;

	(void)state;
	assert_int_equal(dfumgr_feed_serialize(NULL, feed, &json, &size), 0);
	assert_int_equal(strlen(json), size);
	assert_int_equal(json[size - 1], '\n');
	back = parse_ok(json, size);
	assert_int_equal(dfumgr_feed_count(back), 3);
	assert_int_equal(dfumgr_feed_sequence(back), 7);
	assert_int_equal(dfumgr_feed_serialize(NULL, back, &again, &size2), 0);
	assert_int_equal(size, size2);
	assert_memory_equal(json, again, size);
	/* the same content always gives the same bytes (a signature covers them) */
	for (size_t i = 0; i < dfumgr_feed_count(feed); i++)
		assert_memory_equal(dfumgr_feed_get(feed, i)->manifest_sha256,
				    dfumgr_feed_get(back, i)->manifest_sha256, 32);
	free(json);
	free(again);
	dfumgr_feed_free(feed);
	dfumgr_feed_free(back);
}

static void test_empty_feed_and_big_sequence(void **state)
{
	static const char empty[] = "{\"feed_version\": 1, \"sequence\": 0, \"products\": []}";
	struct dfumgr_feed *feed = parse_ok(empty, strlen(empty)), *back;
	char *json = NULL;
	size_t size = 0;

	(void)state;
	assert_int_equal(dfumgr_feed_count(feed), 0);
	assert_null(dfumgr_feed_find(feed, "gait-sensor", NULL));
	/* the largest sequence survives the round trip digit for digit */
	dfumgr_feed_set_sequence(feed, DFUMGR_FEED_SEQUENCE_MAX);
	assert_int_equal(dfumgr_feed_serialize(NULL, feed, &json, &size), 0);
	assert_non_null(strstr(json, "999999999999999,"));
	back = parse_ok(json, size);
	assert_int_equal(dfumgr_feed_sequence(back), DFUMGR_FEED_SEQUENCE_MAX);
	free(json);
	dfumgr_feed_free(feed);
	dfumgr_feed_free(back);
}

struct bad_case {
	const char *name;
	const char *find, *repl; /* BASE with find replaced; find NULL: repl is the whole text */
	int rc;
	const char *field; /* the message must contain this */
};

#define F  -DFUMGR_E_FORMAT
#define R0 "\"release\": \"2.3.0\""
static const struct bad_case bad_cases[] = {
    /* the document */
    {"not_json", NULL, "{\"feed_version\": 1,", F, "feed: not valid JSON at line 1"},
    {"empty", NULL, "", F, "not valid JSON"},
    {"top_array", NULL, "[]", F, "top level: expected an object, got an array"},
    {"trailing", "]}]}]}\n", "]}]}]} x", F, "not valid JSON"},
    {"escaped_nul", "gait-sensor-2.3.0/", "a\\u0000b/", F, "\\u0000 in a string"},
    {"raw_control", "\"2.3.0+4\"", "\"2.3.0\x01+4\"", F, "control character 0x01"},
    {"unknown_top_key", "\"sequence\": 7,", "\"sequence\": 7, \"x\": 1,", F, "unknown key \"x\""},
    {"duplicate_top_key", "\"sequence\": 7,", "\"sequence\": 7, \"sequence\": 8,", F,
     "sequence: duplicate key"},
    /* feed_version, sequence */
    {"version_2", "\"feed_version\": 1", "\"feed_version\": 2", -DFUMGR_E_UNSUPPORTED,
     "feed_version: version 2 is not supported"},
    {"version_missing", "\"feed_version\": 1, ", "", F, "feed_version: missing"},
    {"version_string", "\"feed_version\": 1", "\"feed_version\": \"1\"", F,
     "feed_version: expected an integer, got a string"},
    {"sequence_missing", "\"sequence\": 7, ", "", F, "sequence: missing"},
    {"sequence_negative", "\"sequence\": 7", "\"sequence\": -1", F, "sequence"},
    {"sequence_fraction", "\"sequence\": 7", "\"sequence\": 7.5", F, "sequence"},
    {"sequence_2_53_plus", "\"sequence\": 7", "\"sequence\": 18014398509481984", F, "sequence"},
    {"sequence_1e15", "\"sequence\": 7", "\"sequence\": 1000000000000000", -DFUMGR_E_TOOBIG,
     "sequence: 1000000000000000, more than the limit of 999999999999999"},
    /* products */
    {"products_missing", ", \"products\": [", ", \"x\": [", F, "unknown key \"x\""},
    {"products_object", "\"products\": [", "\"products\": {\"a\": [", F, "not valid JSON"},
    {"product_name", "\"gait-sensor\", \"releases\"", "\"gait sensor\", \"releases\"", F,
     "products[0].product"},
    {"product_missing", "\"product\": \"hub\", ", "", F, "products[1].product: missing"},
    {"product_twice", "\"product\": \"hub\"", "\"product\": \"gait-sensor\"", F,
     "products[1].product: product \"gait-sensor\" is listed twice"},
    {"product_unknown_key", "\"product\": \"hub\",", "\"product\": \"hub\", \"z\": 0,", F,
     "products[1]: unknown key \"z\""},
    {"releases_empty", NULL,
     "{\"feed_version\": 1, \"sequence\": 1, \"products\": [{\"product\": \"a\", \"releases\": "
     "[]}]}",
     F, "products[0].releases: 0 entries, expected at least 1"},
    /* releases */
    {"release_twice", "\"2.4.0-rc1\"", "\"2.3.0\"", F,
     "products[0].releases[1].release: \"2.3.0\" is also releases[0]"},
    {"release_name", R0, "\"release\": \"2.3.0/x\"", F, "products[0].releases[0].release"},
    {"release_missing", R0 ", ", "", F, "products[0].releases[0].release: missing"},
    {"version_bad", "\"2.3.0+4\"", "\"two\"", F,
     "products[0].releases[0].version: expected an MCUboot version"},
    {"release_unknown_key", R0, R0 ", \"notes\": \"x\"", F,
     "products[0].releases[0]: unknown key \"notes\""},
    /* urls */
    {"urls_empty", "[\"rc/\"]", "[]", F, "products[0].releases[1].urls: 0 entries"},
    {"urls_too_many", "[\"rc/\"]", "[\"a/\", \"b/\", \"c/\", \"d/\", \"e/\"]", -DFUMGR_E_TOOBIG,
     "products[0].releases[1].urls: more than the limit of 4"},
    {"url_http", "\"rc/\"", "\"http://example.com/rc/\"", -DFUMGR_E_UNSUPPORTED,
     "products[0].releases[1].urls[0]: \"http://example.com/rc/\": only https://"},
    {"url_file", "\"rc/\"", "\"file:///etc/\"", -DFUMGR_E_UNSUPPORTED, "urls[0]"},
    {"url_https_no_host", "\"rc/\"", "\"https:///x/\"", -DFUMGR_E_UNSUPPORTED, "urls[0]"},
    {"url_no_slash", "\"rc/\"", "\"rc\"", F, "a bundle URL names a directory and ends in '/'"},
    {"url_space", "\"rc/\"", "\"r c/\"", F, "character 1 is not allowed"},
    {"url_query", "\"rc/\"", "\"rc/?a=/\"", F, "no query or fragment"},
    {"url_fragment", "\"rc/\"", "\"rc/#/\"", F, "no query or fragment"},
    {"url_non_ascii", "\"rc/\"", "\"r\xc3\xa9/\"", F, "percent-encode it"},
    {"url_empty", "\"rc/\"", "\"\"", F, "urls[0]: must not be empty"},
    {"url_number", "\"rc/\"", "5", F, "urls[0]: expected a string, got a number"},
    /* manifest */
    {"manifest_missing", "\"manifest\": {\"size\": 600", "\"x\": {\"size\": 600", F,
     "unknown key \"x\""},
    {"manifest_size_0", "\"size\": 614", "\"size\": 0", F,
     "products[0].releases[0].manifest.size: 0 (expected 1 to 65536)"},
    {"manifest_size_big", "\"size\": 614", "\"size\": 65537", -DFUMGR_E_TOOBIG,
     "products[0].releases[0].manifest.size: 65537, more than the limit of 65536"},
    {"manifest_sha_short", "\"sha256\": \"" HEX_A "\"", "\"sha256\": \"abc\"", F,
     "products[0].releases[0].manifest.sha256: expected 64 hex digits, got 3"},
    {"manifest_sig_odd", "\"signature\": \"30", "\"signature\": \"3", F,
     "products[0].releases[0].manifest.signature: expected the DER signature"},
    {"manifest_sig_short", "\"signature\": \"" SIG "\"", "\"signature\": \"3006\"", F,
     "manifest.signature"},
    {"manifest_sig_long", "\"signature\": \"" SIG "\"", "\"signature\": \"" SIG SIG "\"", F,
     "manifest.signature"},
    {"manifest_sig_not_hex", "\"signature\": \"30", "\"signature\": \"zz", F, "manifest.signature"},
    /* files */
    {"files_empty",
     "\"files\": [{\"file\": \"hub.bin\", \"size\": 4096, \"sha256\": \"" HEX_A "\"}]",
     "\"files\": []", F, "products[1].releases[0].files: 0 entries"},
    {"files_three", "{\"file\": \"hub.bin\", \"size\": 4096, \"sha256\": \"" HEX_A "\"}",
     "{\"file\": \"a\", \"size\": 1, \"sha256\": \"" HEX_A "\"}, {\"file\": \"b\", \"size\": 1, "
     "\"sha256\": \"" HEX_A "\"}, {\"file\": \"c\", \"size\": 1, \"sha256\": \"" HEX_A "\"}",
     -DFUMGR_E_TOOBIG, "products[1].releases[0].files: more than the limit of 2"},
    {"file_traversal", "\"hub.bin\"", "\"../hub.bin\"", -DFUMGR_E_UNSAFE_PATH,
     "products[1].releases[0].files[0].file"},
    {"file_hidden", "\"hub.bin\"", "\".hub\"", -DFUMGR_E_UNSAFE_PATH, "files[0].file"},
    {"file_reserved", "\"hub.bin\"", "\"manifest.json\"", -DFUMGR_E_UNSAFE_PATH,
     "reserved for the bundle's own manifest files"},
    {"file_twice", "\"xip.signed.bin\"", "\"app.signed.bin\"", F,
     "products[0].releases[0].files[1].file: \"app.signed.bin\" is also the file of files[0]"},
    {"file_size_0", "\"size\": 4096", "\"size\": 0", F,
     "products[1].releases[0].files[0].size: must not be 0"},
    {"file_size_big", "\"size\": 4096", "\"size\": 16777217", -DFUMGR_E_TOOBIG,
     "files[0].size: 16777217, more than the limit of 16777216"},
    {"file_sha_upper_ok_but_short", "\"sha256\": \"" HEX_A "\"}]}]}]}", "\"sha256\": \"AA\"}]}]}]}",
     F, "products[1].releases[0].files[0].sha256"},
    {"file_unknown_key", "\"file\": \"hub.bin\",", "\"file\": \"hub.bin\", \"mode\": 1,", F,
     "products[1].releases[0].files[0]: unknown key \"mode\""},
};
#undef F

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char *json = c->find ? edited(c->find, c->repl) : strdup(c->repl);

	expect_fail_len(json, strlen(json), c->rc, c->field);
	free(json);
}

static void test_future_version_with_new_keys(void **state)
{
	static const char json[] = "{\"feed_version\": 2, \"channels\": {}, \"products\": 3}";

	(void)state;
	expect_fail_len(json, strlen(json), -DFUMGR_E_UNSUPPORTED, "feed_version: version 2");
}

static void test_size_limit_and_nul(void **state)
{
	size_t big = DFUMGR_FEED_SIZE_MAX + 1;
	char *buf = malloc(big);
	char *with_nul = strdup(BASE);

	(void)state;
	with_nul[20] = '\0';
	expect_fail_len(with_nul, strlen(BASE), -DFUMGR_E_FORMAT, "NUL byte at byte 20");
	memset(buf, ' ', big);
	memcpy(buf, BASE, strlen(BASE));
	expect_fail_len(buf, big, -DFUMGR_E_TOOBIG, "more than the limit of 1048576");
	/* exactly at the limit is fine */
	dfumgr_feed_free(parse_ok(buf, big - 1));
	free(buf);
	free(with_nul);
}

/* ---- lookup, changes ---- */

static void test_find_newest(void **state)
{
	struct dfumgr_feed *feed = parse_ok(BASE, strlen(BASE));
	const struct dfumgr_feed_release *r;

	(void)state;
	/* 2.4.0+1 beats 2.3.0+4, whatever the labels say */
	r = dfumgr_feed_find(feed, "gait-sensor", NULL);
	assert_non_null(r);
	assert_string_equal(r->release, "2.4.0-rc1");
	r = dfumgr_feed_find(feed, "gait-sensor", "2.3.0");
	assert_non_null(r);
	assert_string_equal(r->release, "2.3.0");
	assert_null(dfumgr_feed_find(feed, "gait-sensor", "9.9"));
	assert_null(dfumgr_feed_find(feed, "nope", NULL));
	assert_string_equal(dfumgr_feed_find(feed, "hub", NULL)->release, "1.0");
	dfumgr_feed_free(feed);
}

static struct dfumgr_feed_release make_release(const char *product, const char *release,
					       const char *version)
{
	struct dfumgr_feed_release r;

	memset(&r, 0, sizeof(r));
	snprintf(r.product, sizeof(r.product), "%s", product);
	snprintf(r.release, sizeof(r.release), "%s", release);
	assert_int_equal(dfumgr_version_parse(version, &r.version), 0);
	r.n_urls = 1;
	r.urls[0] = "x/";
	r.manifest_size = 100;
	r.manifest_sig_len = 70;
	r.n_files = 1;
	strcpy(r.files[0].file, "a.bin");
	r.files[0].size = 10;
	return r;
}

static void test_put_orders_and_replaces(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed *feed = dfumgr_feed_new();
	struct dfumgr_feed_release r;
	char url[] = "later/";

	(void)state;
	r = make_release("p", "2.0", "2.0.0");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	r = make_release("q", "1.0", "1.0.0");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	r = make_release("p", "1.0", "1.0.0");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	r = make_release("p", "3.0", "3.0.0");
	r.urls[0] = url;
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	/* the feed copied the URL */
	url[0] = 'X';
	/* grouped by product, oldest first */
	assert_int_equal(dfumgr_feed_count(feed), 4);
	assert_string_equal(dfumgr_feed_get(feed, 0)->release, "1.0");
	assert_string_equal(dfumgr_feed_get(feed, 1)->release, "2.0");
	assert_string_equal(dfumgr_feed_get(feed, 2)->release, "3.0");
	assert_string_equal(dfumgr_feed_get(feed, 2)->urls[0], "later/");
	assert_string_equal(dfumgr_feed_get(feed, 3)->product, "q");
	/* the same label again replaces, and moves to its version's place */
	r = make_release("p", "2.0", "4.0.0");
	r.manifest_size = 222;
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	assert_int_equal(dfumgr_feed_count(feed), 4);
	assert_string_equal(dfumgr_feed_get(feed, 2)->release, "2.0");
	assert_int_equal(dfumgr_feed_get(feed, 2)->manifest_size, 222);
	assert_string_equal(dfumgr_feed_find(feed, "p", NULL)->release, "2.0");
	/* a bad release is refused with the parser's rules */
	r = make_release("p", "5.0", "5.0.0");
	r.urls[0] = "http://x/";
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), -DFUMGR_E_UNSUPPORTED);
	expect_msg(ctx, "only https://");
	r = make_release("p", "5.0", "5.0.0");
	strcpy(r.files[0].file, "a/b");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), -DFUMGR_E_UNSAFE_PATH);
	r = make_release("p", "5 0", "5.0.0");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), -DFUMGR_E_FORMAT);
	assert_int_equal(dfumgr_feed_count(feed), 4);
	dfumgr_feed_free(feed);
	dfumgr_ctx_free(ctx);
}

static void test_put_limits(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed *feed = dfumgr_feed_new();
	struct dfumgr_feed_release r;
	char name[16];

	(void)state;
	for (int i = 0; i < DFUMGR_FEED_PRODUCTS_MAX; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		r = make_release(name, "1", "1.0.0");
		assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	}
	r = make_release("one-more", "1", "1.0.0");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), -DFUMGR_E_TOOBIG);
	for (int i = 1; i < DFUMGR_FEED_RELEASES_MAX; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		r = make_release("p0", name, "1.0.0");
		assert_int_equal(dfumgr_feed_put(ctx, feed, &r), 0);
	}
	r = make_release("p0", "r-too-many", "1.0.0");
	assert_int_equal(dfumgr_feed_put(ctx, feed, &r), -DFUMGR_E_TOOBIG);
	expect_msg(ctx, "has 256 releases already");
	dfumgr_feed_free(feed);
	dfumgr_ctx_free(ctx);
}

static void test_release_check(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed_release r = make_release("gait-sensor", "2.3.0", "2.3.0+4");
	struct dfumgr_manifest m;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.manifest_version = 1;
	strcpy(m.product, "gait-sensor");
	strcpy(m.release, "2.3.0");
	m.n_images = 2;
	strcpy(m.images[0].file, "a.bin");
	m.images[0].size = 10;
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &m.images[0].version), 0);
	strcpy(m.images[1].file, "b.bin");
	m.images[1].size = 20;
	assert_int_equal(dfumgr_version_parse("2.3.0+3", &m.images[1].version), 0);
	r.n_files = 2;
	strcpy(r.files[1].file, "b.bin");
	r.files[1].size = 20;
	assert_int_equal(dfumgr_feed_release_check(ctx, &r, &m), 0);
	/* the version is the highest image version */
	assert_int_equal(dfumgr_version_parse("2.3.0+5", &m.images[1].version), 0);
	assert_int_equal(dfumgr_feed_release_check(ctx, &r, &m), -DFUMGR_E_MISMATCH);
	expect_msg(ctx, "the feed lists version 2.3.0+4, the manifest's images say 2.3.0+5");
	assert_int_equal(dfumgr_version_parse("2.3.0+3", &m.images[1].version), 0);
	r.files[1].sha256[0] = 1;
	assert_int_equal(dfumgr_feed_release_check(ctx, &r, &m), -DFUMGR_E_MISMATCH);
	expect_msg(ctx, "files[1]");
	r.files[1].sha256[0] = 0;
	strcpy(m.release, "2.3.1");
	assert_int_equal(dfumgr_feed_release_check(ctx, &r, &m), -DFUMGR_E_MISMATCH);
	expect_msg(ctx, "the feed lists release 2.3.0, the manifest says 2.3.1");
	strcpy(m.release, "2.3.0");
	strcpy(m.product, "hub");
	assert_int_equal(dfumgr_feed_release_check(ctx, &r, &m), -DFUMGR_E_MISMATCH);
	strcpy(m.product, "gait-sensor");
	m.n_images = 1;
	assert_int_equal(dfumgr_feed_release_check(ctx, &r, &m), -DFUMGR_E_MISMATCH);
	expect_msg(ctx, "the feed lists 2 file(s), the manifest 1 image(s)");
	dfumgr_ctx_free(ctx);
}

static void test_sign_verify(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_key *key = NULL;
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX];
	size_t len = 0, idx = 9;
	char *copy = strdup(BASE);

	(void)state;
	assert_int_equal(dfumgr_key_load(ctx, test_data_path("key-A.pem"), &key), 0);
	assert_int_equal(dfumgr_keyring_load(ctx, test_data_path("key-A-pub.pem"), &ring), 0);
	assert_int_equal(dfumgr_feed_sign(ctx, key, (const uint8_t *)BASE, strlen(BASE), sig, &len),
			 0);
	assert_int_equal(
	    dfumgr_feed_verify(ctx, ring, (const uint8_t *)BASE, strlen(BASE), sig, len, &idx), 0);
	assert_int_equal(idx, 0);
	/* one byte of whitespace is another feed */
	copy[strlen(copy) - 1] = ' ';
	assert_int_equal(
	    dfumgr_feed_verify(ctx, ring, (const uint8_t *)copy, strlen(copy), sig, len, NULL),
	    -DFUMGR_E_SIGNATURE);
	free(copy);
	dfumgr_key_free(key);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

/* ---- publish ---- */

struct fx {
	char *tmp;
	char bundle[4200], feed[4200], sig[4200];
	struct dfumgr_ctx *ctx;
	struct dfumgr_key *key;
};

static void fill_entry(struct dfumgr_manifest_image *mi, unsigned image, const char *file,
		       const uint8_t *buf, size_t size)
{
	memset(mi, 0, sizeof(*mi));
	mi->image = (uint8_t)image;
	snprintf(mi->alt, sizeof(mi->alt), "image-%u", image);
	snprintf(mi->file, sizeof(mi->file), "%s", file);
	mi->size = (uint32_t)size;
	dfumgr_sha256(buf, size, mi->sha256);
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &mi->version), 0);
}

/* A signed bundle of the imgtool vectors in dir (release label rel), signed with key. */
static void write_bundle(const char *dir, const char *rel, const struct dfumgr_key *key)
{
	struct dfumgr_manifest m = {.manifest_version = 1, .vid = 0x1915, .pid = 0x5300};
	uint8_t *img[2];
	size_t size[2];

	img[0] = test_read("internal-signed.bin", &size[0]);
	img[1] = test_read("extflash-signed.bin", &size[1]);
	strcpy(m.product, "gait-sensor");
	snprintf(m.release, sizeof(m.release), "%s", rel);
	m.n_images = 2;
	fill_entry(&m.images[0], 0, "app.bin", img[0], size[0]);
	fill_entry(&m.images[1], 1, "xip.bin", img[1], size[1]);
	assert_int_equal(dfumgr_bundle_write(NULL, dir, &m, img, size, key), 0);
	free(img[0]);
	free(img[1]);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->tmp = test_tmpdir();
	f->ctx = dfumgr_ctx_new();
	snprintf(f->bundle, sizeof(f->bundle), "%s/gait-2.3.0", f->tmp);
	snprintf(f->feed, sizeof(f->feed), "%s/feed.json", f->tmp);
	snprintf(f->sig, sizeof(f->sig), "%s/feed.json.sig", f->tmp);
	assert_int_equal(dfumgr_key_load(f->ctx, test_data_path("key-A.pem"), &f->key), 0);
	write_bundle(f->bundle, "2.3.0", f->key);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	test_rmtree(f->tmp);
	free(f->tmp);
	dfumgr_key_free(f->key);
	dfumgr_ctx_free(f->ctx);
	free(f);
	return 0;
}

static struct dfumgr_feed *load_feed(struct fx *f)
{
	struct dfumgr_keyring *ring = NULL;
	uint8_t *buf = NULL, *sig = NULL;
	size_t size = 0, sig_len = 0;
	struct dfumgr_feed *feed = NULL;

	assert_int_equal(dfumgr_file_read(f->ctx, f->feed, DFUMGR_FEED_SIZE_MAX, &buf, &size), 0);
	assert_int_equal(dfumgr_file_read(f->ctx, f->sig, 100, &sig, &sig_len), 0);
	assert_int_equal(dfumgr_keyring_load(f->ctx, test_data_path("key-A-pub.pem"), &ring), 0);
	assert_int_equal(dfumgr_feed_verify(f->ctx, ring, buf, size, sig, sig_len, NULL), 0);
	assert_int_equal(dfumgr_feed_parse(f->ctx, buf, size, &feed), 0);
	dfumgr_keyring_free(ring);
	free(buf);
	free(sig);
	return feed;
}

static void test_publish(void **state)
{
	struct fx *f = *state;
	const char *mirrors[] = {"https://a.example/fw/gait-2.3.0/", "https://b.example/gait/"};
	const struct dfumgr_feed_release *r;
	struct dfumgr_feed *feed;
	uint8_t *mbuf = NULL, digest[32];
	size_t msize = 0;
	uint64_t seq = 0;
	char path[4300];

	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, f->bundle, f->key, NULL, NULL, 0, &seq), 0);
	assert_int_equal(seq, 1);
	feed = load_feed(f);
	assert_int_equal(dfumgr_feed_count(feed), 1);
	r = dfumgr_feed_get(feed, 0);
	assert_string_equal(r->product, "gait-sensor");
	assert_string_equal(r->release, "2.3.0");
	/* default URL: the bundle directory's name, next to the feed */
	assert_int_equal(r->n_urls, 1);
	assert_string_equal(r->urls[0], "gait-2.3.0/");
	snprintf(path, sizeof(path), "%s/manifest.json", f->bundle);
	assert_int_equal(dfumgr_file_read(f->ctx, path, 65536, &mbuf, &msize), 0);
	dfumgr_sha256(mbuf, msize, digest);
	assert_int_equal(r->manifest_size, msize);
	assert_memory_equal(r->manifest_sha256, digest, 32);
	assert_int_equal(r->n_files, 2);
	assert_string_equal(r->files[1].file, "xip.bin");
	free(mbuf);
	dfumgr_feed_free(feed);

	/* again, with mirrors: replaced, not added; the sequence grows */
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, f->bundle, f->key, NULL, mirrors, 2, &seq), 0);
	assert_int_equal(seq, 2);
	feed = load_feed(f);
	assert_int_equal(dfumgr_feed_count(feed), 1);
	assert_int_equal(dfumgr_feed_get(feed, 0)->n_urls, 2);
	assert_string_equal(dfumgr_feed_get(feed, 0)->urls[1], "https://b.example/gait/");
	dfumgr_feed_free(feed);

	/* a bad URL is refused and the feed stays as it was */
	mirrors[0] = "ftp://x/";
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, f->bundle, f->key, NULL, mirrors, 1, &seq),
	    -DFUMGR_E_UNSUPPORTED);
	feed = load_feed(f);
	assert_int_equal(dfumgr_feed_sequence(feed), 2);
	dfumgr_feed_free(feed);
}

static void test_publish_refusals(void **state)
{
	struct fx *f = *state;
	struct dfumgr_key *other = NULL, *pub = NULL;
	char other_bundle[4300], unsigned_bundle[4300];
	FILE *fp;

	assert_int_equal(dfumgr_key_generate(f->ctx, &other), 0);
	assert_int_equal(dfumgr_key_load(f->ctx, test_data_path("key-A-pub.pem"), &pub), 0);
	/* a public key cannot sign */
	assert_int_equal(dfumgr_feed_publish(f->ctx, f->feed, f->bundle, pub, NULL, NULL, 0, NULL),
			 -DFUMGR_E_INVAL);
	/* a bundle signed with another key than the feed's (and no keys given that verify it) */
	snprintf(other_bundle, sizeof(other_bundle), "%s/other", f->tmp);
	write_bundle(other_bundle, "2.4.0", other);
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, other_bundle, f->key, NULL, NULL, 0, NULL),
	    -DFUMGR_E_SIGNATURE);
	expect_msg(f->ctx, "does not verify with the feed's key");
	/* an unsigned bundle */
	snprintf(unsigned_bundle, sizeof(unsigned_bundle), "%s/unsigned", f->tmp);
	write_bundle(unsigned_bundle, "2.5.0", NULL);
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, unsigned_bundle, f->key, NULL, NULL, 0, NULL),
	    -DFUMGR_E_NOSIG);
	expect_msg(f->ctx, "only signed bundles are published");
	assert_int_equal(access(f->feed, F_OK), -1);

	/* a feed changed behind the publisher's back is not signed again */
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, f->bundle, f->key, NULL, NULL, 0, NULL), 0);
	fp = fopen(f->feed, "a");
	fputs(" ", fp);
	fclose(fp);
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, f->bundle, f->key, NULL, NULL, 0, NULL),
	    -DFUMGR_E_SIGNATURE);
	expect_msg(f->ctx, "refusing to sign a feed changed by someone else");
	/* nor one without its signature */
	assert_int_equal(unlink(f->sig), 0);
	assert_int_equal(
	    dfumgr_feed_publish(f->ctx, f->feed, f->bundle, f->key, NULL, NULL, 0, NULL),
	    -DFUMGR_E_NOSIG);
	expect_msg(f->ctx, "feed.json.sig: missing");
	dfumgr_key_free(other);
	dfumgr_key_free(pub);
}

/* ---- the fuzz corpus replays as a test ---- */

static void test_fuzz_corpus(void **state)
{
	char path[4096], file[4400];
	size_t files = 0, ok = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	snprintf(path, sizeof(path), "%s/../fuzz/corpus/feed", test_data_path(""));
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct dfumgr_feed *feed = NULL;
		uint8_t *buf = NULL;
		size_t size = 0;
		int rc;

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		assert_int_equal(dfumgr_file_read(NULL, file, 1u << 21, &buf, &size), 0);
		rc = dfumgr_feed_parse(NULL, buf, size, &feed);
		files++;
		/* the names say what to expect */
		if (strncmp(de->d_name, "valid-", 6) == 0) {
			if (rc != 0)
				fail_msg("%s: %d", de->d_name, rc);
			ok++;
		} else {
			assert_true(rc < 0 && rc > -DFUMGR_E_MAX);
		}
		dfumgr_feed_free(feed);
		free(buf);
	}
	closedir(d);
	assert_in_range(files, 4, 1000);
	assert_in_range(ok, 2, files - 1);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_parse_base),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_empty_feed_and_big_sequence),
	    cmocka_unit_test(test_future_version_with_new_keys),
	    cmocka_unit_test(test_size_limit_and_nul),
	    cmocka_unit_test(test_find_newest),
	    cmocka_unit_test(test_put_orders_and_replaces),
	    cmocka_unit_test(test_put_limits),
	    cmocka_unit_test(test_release_check),
	    cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publish_refusals, setup, teardown),
	    cmocka_unit_test(test_fuzz_corpus),
	};
	enum {
		N_FIXED = sizeof(fixed) / sizeof(fixed[0]),
		N_BAD = sizeof(bad_cases) / sizeof(bad_cases[0])
	};
	/* one named cmocka test per error path, so a failure says which one */
	static struct CMUnitTest tests[N_FIXED + N_BAD];
	static char names[N_BAD][64];

	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_BAD; i++) {
		snprintf(names[i], sizeof(names[i]), "reject_%s", bad_cases[i].name);
		tests[N_FIXED + i] = (struct CMUnitTest){
		    .name = names[i],
		    .test_func = test_bad_case,
		    .initial_state = (void *)&bad_cases[i],
		};
	}
	return _cmocka_run_group_tests("feed", tests, N_FIXED + N_BAD, NULL, NULL);
}
