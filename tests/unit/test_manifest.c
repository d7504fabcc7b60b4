/* SPDX-License-Identifier: MIT */
/*
 * The bundle manifest: parsing, every validation error path (code and field named in the
 * message), the canonical writer and round trip, and the detached signature.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "dfumgr/keyring.h"
#include "dfumgr/manifest.h"

/* dfu-mgr-manifest(5)'s example; the writer's exact output for it is CANONICAL below. */
static const char BASE[] =
    "{ \"manifest_version\": 1, \"product\": \"gait-sensor\", \"release\": \"2.3.0\",\n"
    "  \"device\": { \"vid\": \"0x1915\", \"pid\": \"0x5300\" },\n"
    "  \"images\": [\n"
    "    { \"image\": 0, \"alt\": \"image-0\", \"file\": \"app.signed.bin\", \"size\": 214748,\n"
    "      \"sha256\": "
    "\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\",\n"
    "      \"version\": \"2.3.0+4\" },\n"
    "    { \"image\": 1, \"alt\": \"image-1\", \"file\": \"xip.signed.bin\", \"size\": 2097152,\n"
    "      \"sha256\": "
    "\"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\",\n"
    "      \"version\": \"2.3.0+4\", \"load_address\": \"0x10120000\" } ] }\n";

static const char CANONICAL[] =
    "{\n"
    "  \"manifest_version\": 1,\n"
    "  \"product\": \"gait-sensor\",\n"
    "  \"release\": \"2.3.0\",\n"
    "  \"device\": {\n"
    "    \"vid\": \"0x1915\",\n"
    "    \"pid\": \"0x5300\"\n"
    "  },\n"
    "  \"images\": [\n"
    "    {\n"
    "      \"image\": 0,\n"
    "      \"alt\": \"image-0\",\n"
    "      \"file\": \"app.signed.bin\",\n"
    "      \"size\": 214748,\n"
    "      \"sha256\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\n"
    "      \"version\": \"2.3.0+4\"\n"
    "    },\n"
    "    {\n"
    "      \"image\": 1,\n"
    "      \"alt\": \"image-1\",\n"
    "      \"file\": \"xip.signed.bin\",\n"
    "      \"size\": 2097152,\n"
    "      \"sha256\": \"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\",\n"
    "      \"version\": \"2.3.0+4\",\n"
    "      \"load_address\": \"0x10120000\"\n"
    "    }\n"
    "  ]\n"
    "}\n";

/* ---- helpers ---- */

static int parse_str(struct dfumgr_ctx *ctx, const char *json, struct dfumgr_manifest *m)
{
	return dfumgr_manifest_parse(ctx, (const uint8_t *)json, strlen(json), m);
}

static struct dfumgr_manifest parse_ok(const char *json)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_manifest m;
	int rc = parse_str(ctx, json, &m);

	if (rc != 0)
		fail_msg("parse failed (%d): %s\n%s", rc, dfumgr_ctx_errmsg(ctx), json);
	dfumgr_ctx_free(ctx);
	return m;
}

enum edit_op { SET, DEL, DUP, RAW };

/*
 * BASE with one edit at a path like "images[1].sha256": SET replaces (or adds) the value,
 * DEL removes the member, DUP adds a second member of the same name. RAW: value is the text.
 * Returns malloc'ed JSON text.
 */
static char *edited(enum edit_op op, const char *path, const char *value)
{
	cJSON *root, *parent, *v = NULL;
	char tok[64], *out;
	const char *p = path;

	if (op == RAW)
		return strdup(value);
	root = cJSON_Parse(BASE);
	assert_non_null(root);
	parent = root;
	for (;;) {
		size_t n = strcspn(p, ".");
		char *br;

		assert_true(n < sizeof(tok));
		memcpy(tok, p, n);
		tok[n] = '\0';
		br = strchr(tok, '[');
		if (br) {
			int idx = atoi(br + 1);

			*br = '\0';
			parent = cJSON_GetObjectItemCaseSensitive(parent, tok);
			assert_non_null(parent);
			if (!p[n]) {
				/* the edit is on an array element itself */
				if (op == DEL) {
					cJSON_DeleteItemFromArray(parent, idx);
				} else {
					v = cJSON_Parse(value);
					assert_non_null(v);
					assert_true(cJSON_ReplaceItemInArray(parent, idx, v));
				}
				break;
			}
			parent = cJSON_GetArrayItem(parent, idx);
			assert_non_null(parent);
		} else if (p[n]) {
			parent = cJSON_GetObjectItemCaseSensitive(parent, tok);
			assert_non_null(parent);
		} else {
			if (op == DEL) {
				cJSON_DeleteItemFromObjectCaseSensitive(parent, tok);
				break;
			}
			v = cJSON_Parse(value);
			if (!v)
				fail_msg("test bug: %s does not parse", value);
			if (op == SET && cJSON_GetObjectItemCaseSensitive(parent, tok))
				assert_true(cJSON_ReplaceItemInObjectCaseSensitive(parent, tok, v));
			else
				assert_true(cJSON_AddItemToObject(parent, tok, v));
			break;
		}
		p += n + 1;
	}
	out = cJSON_Print(root);
	cJSON_Delete(root);
	assert_non_null(out);
	return out;
}

/* Parsing json_len bytes fails with rc, the message names field, and *ret stays untouched. */
static void expect_fail_len(const char *json, size_t len, int rc, const char *field)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_manifest m, before;
	int got;

	memset(&m, 0xa5, sizeof(m));
	memcpy(&before, &m, sizeof(m));
	got = dfumgr_manifest_parse(ctx, (const uint8_t *)json, len, &m);
	if (got != rc)
		fail_msg("expected %d (%s), got %d (%s): %s\n%s", rc, dfumgr_strerror(rc), got,
			 dfumgr_strerror(got), dfumgr_ctx_errmsg(ctx), json);
	if (!strstr(dfumgr_ctx_errmsg(ctx), field))
		fail_msg("message \"%s\" does not name \"%s\"", dfumgr_ctx_errmsg(ctx), field);
	assert_int_equal(dfumgr_ctx_errcode(ctx), -rc);
	assert_memory_equal(&m, &before, sizeof(m));
	dfumgr_ctx_free(ctx);
}

/* ---- positive cases ---- */

static void test_parse_example(void **state)
{
	struct dfumgr_manifest m = parse_ok(BASE);
	const struct dfumgr_manifest_image *i0, *i1;

	(void)state;
	assert_int_equal(m.manifest_version, 1);
	assert_string_equal(m.product, "gait-sensor");
	assert_string_equal(m.release, "2.3.0");
	assert_int_equal(m.vid, 0x1915);
	assert_int_equal(m.pid, 0x5300);
	assert_int_equal(m.n_images, 2);
	i0 = &m.images[0];
	i1 = &m.images[1];
	assert_int_equal(i0->image, 0);
	assert_string_equal(i0->alt, "image-0");
	assert_string_equal(i0->file, "app.signed.bin");
	assert_int_equal(i0->size, 214748);
	assert_int_equal(i0->sha256[0], 0x00);
	assert_int_equal(i0->sha256[10], 0xaa);
	assert_int_equal(i0->sha256[31], 0xff);
	assert_int_equal(i0->version.major, 2);
	assert_int_equal(i0->version.minor, 3);
	assert_int_equal(i0->version.revision, 0);
	assert_int_equal(i0->version.build, 4);
	assert_false(i0->has_load_address);
	assert_int_equal(i1->image, 1);
	assert_int_equal(i1->size, 2097152);
	assert_true(i1->has_load_address);
	assert_int_equal(i1->load_address, 0x10120000);
	assert_ptr_equal(dfumgr_manifest_image(&m, 0), i0);
	assert_ptr_equal(dfumgr_manifest_image(&m, 1), i1);
	assert_null(dfumgr_manifest_image(&m, 2));
	assert_null(dfumgr_manifest_image(NULL, 0));
}

static void test_serialize_canonical(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_manifest m = parse_ok(BASE), back;
	char *json = NULL, *again = NULL;
	size_t size = 0, size2 = 0;

	(void)state;
	assert_int_equal(dfumgr_manifest_serialize(ctx, &m, &json, &size), 0);
	assert_int_equal(size, strlen(json));
	assert_string_equal(json, CANONICAL);
	/* parse(serialize(m)) == m, and writing again gives the same bytes */
	assert_int_equal(parse_str(ctx, json, &back), 0);
	assert_true(dfumgr_manifest_equal(&m, &back));
	assert_int_equal(dfumgr_manifest_serialize(ctx, &back, &again, &size2), 0);
	assert_int_equal(size2, size);
	assert_memory_equal(again, json, size);
	free(json);
	free(again);
	dfumgr_ctx_free(ctx);
}

static void test_roundtrip_variants(void **state)
{
	/* one image only, a short version, upper-case hex, names with every allowed character */
	static const char one[] =
	    "{\"manifest_version\":1,\"product\":\"P.r_o-d9\",\"release\":\"1.0.0-rc1+b~2\","
	    "\"device\":{\"vid\":\"0xABCD\",\"pid\":\"0x0001\"},\"images\":[{\"image\":1,"
	    "\"alt\":\"image_1\",\"file\":\"q spi \\\"x\\\\y\\\" \xc3\xa9.bin\",\"size\":16777216,"
	    "\"sha256\":\"FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100\","
	    "\"version\":\"2.3\",\"load_address\":\"0x0\"}]}";
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_manifest m = parse_ok(one), back;
	char *json = NULL;
	size_t size = 0;

	(void)state;
	assert_int_equal(m.n_images, 1);
	assert_int_equal(m.vid, 0xabcd);
	assert_int_equal(m.images[0].image, 1);
	assert_string_equal(m.images[0].file, "q spi \"x\\y\" \xc3\xa9.bin");
	assert_int_equal(m.images[0].size, 16777216);
	assert_int_equal(m.images[0].version.minor, 3);
	assert_int_equal(m.images[0].version.build, 0);
	assert_true(m.images[0].has_load_address);
	assert_int_equal(m.images[0].load_address, 0);
	assert_null(dfumgr_manifest_image(&m, 0));
	assert_non_null(dfumgr_manifest_image(&m, 1));
	assert_int_equal(dfumgr_manifest_serialize(ctx, &m, &json, &size), 0);
	assert_non_null(strstr(json, "\"file\": \"q spi \\\"x\\\\y\\\" \xc3\xa9.bin\""));
	assert_non_null(strstr(json, "\"version\": \"2.3.0+0\""));
	assert_non_null(strstr(json, "\"load_address\": \"0x00000000\""));
	assert_non_null(strstr(json, "\"vid\": \"0xabcd\""));
	assert_int_equal(parse_str(ctx, json, &back), 0);
	assert_true(dfumgr_manifest_equal(&m, &back));
	back.images[0].load_address = 1;
	assert_false(dfumgr_manifest_equal(&m, &back));
	free(json);
	dfumgr_ctx_free(ctx);
}

static void test_optional_load_address_absent_and_whitespace(void **state)
{
	char *json = edited(DEL, "images[1].load_address", NULL);
	struct dfumgr_manifest m = parse_ok(json);
	char *padded = malloc(strlen(BASE) + 8);

	(void)state;
	assert_false(m.images[1].has_load_address);
	/* a byte-order mark and trailing whitespace are fine */
	strcpy(padded, "\xef\xbb\xbf");
	strcat(padded, BASE);
	strcat(padded, " \n\t");
	m = parse_ok(padded);
	assert_string_equal(m.product, "gait-sensor");
	free(padded);
	free(json);
}

static void test_validate_and_serialize_reject_bad_structs(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_manifest good = parse_ok(BASE), m;
	char *json = (char *)"untouched";
	size_t size = 7;

	(void)state;
	assert_int_equal(dfumgr_manifest_validate(ctx, &good), 0);
	m = good;
	strcpy(m.images[1].file, "../x");
	assert_int_equal(dfumgr_manifest_serialize(ctx, &m, &json, &size), -DFUMGR_E_UNSAFE_PATH);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "images[1].file"));
	assert_string_equal(json, "untouched");
	assert_int_equal(size, 7);
	m = good;
	m.n_images = 0;
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "images"));
	m = good;
	m.n_images = 3;
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_FORMAT);
	m = good;
	memset(m.product, 'a', sizeof(m.product));
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_TOOBIG);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "product"));
	m = good;
	memset(m.images[0].file, 'a', sizeof(m.images[0].file));
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_UNSAFE_PATH);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "images[0].file"));
	m = good;
	m.manifest_version = 2;
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_UNSUPPORTED);
	m = good;
	m.images[1].image = 0;
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "images[1].image"));
	m = good;
	m.images[0].size = DFUMGR_MANIFEST_IMAGE_SIZE_MAX + 1;
	assert_int_equal(dfumgr_manifest_validate(ctx, &m), -DFUMGR_E_TOOBIG);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "images[0].size"));
	assert_int_equal(dfumgr_manifest_validate(ctx, NULL), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_manifest_parse(ctx, NULL, 0, &m), -DFUMGR_E_INVAL);
	dfumgr_ctx_free(ctx);
}

/* ---- every validation error path ---- */

struct bad_case {
	const char *name;
	enum edit_op op;
	const char *path;
	const char *value;
	int rc;
	const char *field; /* must appear in the message */
};

#define F  (-DFUMGR_E_FORMAT)
#define U  (-DFUMGR_E_UNSAFE_PATH)
#define TB (-DFUMGR_E_TOOBIG)

static const struct bad_case bad_cases[] = {
    /* the document */
    {"not_json", RAW, NULL, "{\"manifest_version\": 1,", F, "not valid JSON at line 1"},
    {"empty_input", RAW, NULL, "", F, "not valid JSON"},
    {"trailing_garbage", RAW, NULL, "{\"manifest_version\": 1} x", F, "not valid JSON"},
    {"top_level_array", RAW, NULL, "[1]", F, "top level"},
    {"top_level_string", RAW, NULL, "\"manifest\"", F, "top level"},
    {"escaped_nul", RAW, NULL, "{\"manifest_version\": 1, \"product\": \"a\\u0000b\"}", F,
     "\\u0000"},
    {"unknown_top_key", SET, "extra", "1", F, "unknown key \"extra\""},
    {"unknown_key_control_chars", SET, "a\x01", "1", F, "unknown key \"a\\x01\""},
    /* manifest_version */
    {"version_missing", DEL, "manifest_version", NULL, F, "manifest_version: missing"},
    {"version_string", SET, "manifest_version", "\"1\"", F,
     "manifest_version: expected an integer, got a string"},
    {"version_2", SET, "manifest_version", "2", -DFUMGR_E_UNSUPPORTED, "manifest_version"},
    {"version_0", SET, "manifest_version", "0", -DFUMGR_E_UNSUPPORTED, "manifest_version"},
    {"version_fraction", SET, "manifest_version", "1.5", F, "manifest_version"},
    {"version_negative", SET, "manifest_version", "-1", F, "manifest_version"},
    {"version_huge", RAW, NULL, "{\"manifest_version\": 1e400}", F,
     "manifest_version: expected a non-negative integer, got inf"},
    {"version_duplicate", DUP, "manifest_version", "1", F, "manifest_version: duplicate key"},
    /* product */
    {"product_missing", DEL, "product", NULL, F, "product: missing"},
    {"product_number", SET, "product", "5", F, "product: expected a string, got a number"},
    {"product_null", SET, "product", "null", F, "product: expected a string, got null"},
    {"product_empty", SET, "product", "\"\"", F, "product: must not be empty"},
    {"product_space", SET, "product", "\"gait sensor\"", F, "product"},
    {"product_leading_dash", SET, "product", "\"-gait\"", F, "product"},
    {"product_slash", SET, "product", "\"a/b\"", F, "product"},
    {"product_too_long", SET, "product",
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", TB,
     "product: 65 bytes"},
    {"product_duplicate", DUP, "product", "\"other\"", F, "product: duplicate key"},
    /* release */
    {"release_missing", DEL, "release", NULL, F, "release: missing"},
    {"release_array", SET, "release", "[]", F, "release: expected a string, got an array"},
    {"release_space", SET, "release", "\"2.3.0 beta\"", F, "release"},
    {"release_newline", SET, "release", "\"2.3.0\\n\"", F, "release"},
    {"release_too_long", SET, "release",
     "\"11111111111111111111111111111111111111111111111111111111111111111\"", TB,
     "release: 65 bytes"},
    /* device */
    {"device_missing", DEL, "device", NULL, F, "device: missing"},
    {"device_array", SET, "device", "[]", F, "device: expected an object, got an array"},
    {"device_unknown_key", SET, "device.serial", "\"x\"", F, "device: unknown key \"serial\""},
    {"device_vid_duplicate", DUP, "device.vid", "\"0x1915\"", F, "device.vid: duplicate key"},
    {"vid_missing", DEL, "device.vid", NULL, F, "device.vid: missing"},
    {"vid_number", SET, "device.vid", "6421", F, "device.vid: expected a string"},
    {"vid_no_prefix", SET, "device.vid", "\"1915\"", F, "device.vid: expected \"0x\""},
    {"vid_upper_prefix", SET, "device.vid", "\"0X1915\"", F, "device.vid"},
    {"vid_3_digits", SET, "device.vid", "\"0x191\"", F, "device.vid"},
    {"vid_5_digits", SET, "device.vid", "\"0x19150\"", F, "device.vid"},
    {"vid_not_hex", SET, "device.vid", "\"0x19g5\"", F, "device.vid"},
    {"pid_missing", DEL, "device.pid", NULL, F, "device.pid: missing"},
    {"pid_bad", SET, "device.pid", "\"0x\"", F, "device.pid"},
    /* images */
    {"images_missing", DEL, "images", NULL, F, "images: missing"},
    {"images_object", SET, "images", "{}", F, "images: expected an array, got an object"},
    {"images_empty", SET, "images", "[]", F, "images: empty"},
    {"images_three", SET, "images",
     "[{\"image\":0,\"alt\":\"a\",\"file\":\"a\",\"size\":1,\"sha256\":\"0000000000000000000000"
     "000000000000000000000000000000000000000000\",\"version\":\"1\"},"
     "{\"image\":1,\"alt\":\"b\",\"file\":\"b\",\"size\":1,\"sha256\":\"0000000000000000000000"
     "000000000000000000000000000000000000000000\",\"version\":\"1\"},"
     "{\"image\":1,\"alt\":\"c\",\"file\":\"c\",\"size\":1,\"sha256\":\"0000000000000000000000"
     "000000000000000000000000000000000000000000\",\"version\":\"1\"}]",
     F, "images: more than 2 entries"},
    {"images_entry_not_object", SET, "images[0]", "5", F,
     "images[0]: expected an object, got a number"},
    {"images_duplicate_key", DUP, "images", "[]", F, "images: duplicate key"},
    {"image_unknown_key", SET, "images[0].foo", "1", F, "images[0]: unknown key \"foo\""},
    {"image_duplicate_key", DUP, "images[1].size", "5", F, "images[1].size: duplicate key"},
    /* images[].image */
    {"image_missing", DEL, "images[0].image", NULL, F, "images[0].image: missing"},
    {"image_string", SET, "images[0].image", "\"0\"", F, "images[0].image: expected an integer"},
    {"image_2", SET, "images[1].image", "2", F, "images[1].image: expected 0"},
    {"image_negative", SET, "images[1].image", "-1", F, "images[1].image"},
    {"image_fraction", SET, "images[1].image", "0.5", F, "images[1].image"},
    {"image_duplicate_number", SET, "images[1].image", "0", F,
     "images[1].image: image 0 is listed twice"},
    /* images[].alt */
    {"alt_missing", DEL, "images[0].alt", NULL, F, "images[0].alt: missing"},
    {"alt_bool", SET, "images[0].alt", "true", F,
     "images[0].alt: expected a string, got a boolean"},
    {"alt_empty", SET, "images[0].alt", "\"\"", F, "images[0].alt: must not be empty"},
    {"alt_space", SET, "images[0].alt", "\"image 0\"", F, "images[0].alt"},
    {"alt_too_long", SET, "images[0].alt", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", TB,
     "images[0].alt: 33 bytes"},
    {"alt_duplicate", SET, "images[1].alt", "\"image-0\"", F, "images[1].alt"},
    /* images[].file: path rules */
    {"file_missing", DEL, "images[0].file", NULL, F, "images[0].file: missing"},
    {"file_number", SET, "images[0].file", "1", F, "images[0].file: expected a string"},
    {"file_dotdot_slash", SET, "images[0].file", "\"../x\"", U, "images[0].file"},
    {"file_subdir", SET, "images[0].file", "\"a/b\"", U, "images[0].file"},
    {"file_absolute", SET, "images[0].file", "\"/abs\"", U, "images[0].file"},
    {"file_escaped_slash", SET, "images[1].file", "\"a\\/b\"", U, "images[1].file"},
    {"file_hidden", SET, "images[0].file", "\".hidden\"", U, "images[0].file"},
    {"file_empty", SET, "images[0].file", "\"\"", U, "images[0].file: empty"},
    {"file_dot", SET, "images[0].file", "\".\"", U, "images[0].file"},
    {"file_dotdot", SET, "images[0].file", "\"..\"", U, "images[0].file"},
    {"file_escaped_dotdot", SET, "images[0].file", "\"\\u002e\\u002e\"", U, "images[0].file"},
    {"file_control", SET, "images[0].file", "\"a\\u0001b\"", U, "images[0].file"},
    {"file_newline", SET, "images[0].file", "\"a\\nb\"", U, "images[0].file"},
    {"file_del", SET, "images[0].file", "\"a\\u007fb\"", U, "images[0].file"},
    {"file_c1_control", SET, "images[0].file", "\"a\\u0085b\"", U, "images[0].file"},
    {"file_bad_utf8", SET, "images[0].file", "\"a\xff.bin\"", U, "images[0].file"},
    {"file_reserved_manifest", SET, "images[0].file", "\"manifest.json\"", U, "images[0].file"},
    {"file_reserved_sig", SET, "images[1].file", "\"manifest.json.sig\"", U, "images[1].file"},
    {"file_too_long", SET, "images[0].file",
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
     U, "images[0].file: file name of 129 bytes"},
    {"file_duplicate", SET, "images[1].file", "\"app.signed.bin\"", F, "images[1].file"},
    /* images[].size */
    {"size_missing", DEL, "images[0].size", NULL, F, "images[0].size: missing"},
    {"size_string", SET, "images[0].size", "\"214748\"", F, "images[0].size: expected an integer"},
    {"size_zero", SET, "images[0].size", "0", F, "images[0].size: must not be 0"},
    {"size_negative", SET, "images[0].size", "-5", F, "images[0].size"},
    {"size_fraction", SET, "images[0].size", "1.5", F, "images[0].size"},
    {"size_too_big", SET, "images[0].size", "16777217", TB, "images[0].size"},
    {"size_huge", SET, "images[0].size", "1e300", F, "images[0].size"},
    /* images[].sha256 */
    {"sha256_missing", DEL, "images[1].sha256", NULL, F, "images[1].sha256: missing"},
    {"sha256_number", SET, "images[1].sha256", "0", F, "images[1].sha256: expected a string"},
    {"sha256_short", SET, "images[1].sha256",
     "\"ffeeddccbbaa99887766554433221100ffeeddccbbaa9988776655443322110\"", F,
     "images[1].sha256: expected 64 hex digits, got 63 characters"},
    {"sha256_long", SET, "images[1].sha256",
     "\"ffeeddccbbaa99887766554433221100ffeeddccbbaa998877665544332211000\"", F,
     "images[1].sha256: expected 64 hex digits"},
    {"sha256_not_hex", SET, "images[1].sha256",
     "\"zzeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\"", F,
     "images[1].sha256: expected 64 hex digits"},
    /* images[].version */
    {"iversion_missing", DEL, "images[0].version", NULL, F, "images[0].version: missing"},
    {"iversion_number", SET, "images[0].version", "2.3", F, "images[0].version: expected a string"},
    {"iversion_garbage", SET, "images[0].version", "\"2.x\"", F, "images[0].version"},
    {"iversion_empty", SET, "images[0].version", "\"\"", F, "images[0].version"},
    {"iversion_major_overflow", SET, "images[0].version", "\"256.0.0\"", F, "images[0].version"},
    {"iversion_four_fields", SET, "images[0].version", "\"1.2.3.4\"", F, "images[0].version"},
    {"iversion_build_overflow", SET, "images[0].version", "\"1.2.3+4294967296\"", F,
     "images[0].version"},
    /* images[].load_address */
    {"load_address_number", SET, "images[1].load_address", "269615104", F,
     "images[1].load_address: expected a string"},
    {"load_address_no_prefix", SET, "images[1].load_address", "\"10120000\"", F,
     "images[1].load_address"},
    {"load_address_no_digits", SET, "images[1].load_address", "\"0x\"", F,
     "images[1].load_address"},
    {"load_address_9_digits", SET, "images[1].load_address", "\"0x101200000\"", F,
     "images[1].load_address"},
    {"load_address_not_hex", SET, "images[1].load_address", "\"0x1012g000\"", F,
     "images[1].load_address"},
};

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char *json = edited(c->op, c->path, c->value);

	expect_fail_len(json, strlen(json), c->rc, c->field);
	free(json);
}

/* A newer manifest with keys this reader does not know: "unsupported version" comes first. */
static void test_future_version_with_new_keys(void **state)
{
	static const char json[] = "{\"manifest_version\": 2, \"signed_by\": \"x\", \"images\": 3}";

	(void)state;
	expect_fail_len(json, strlen(json), -DFUMGR_E_UNSUPPORTED, "manifest_version: version 2");
}

static void test_raw_nul_and_size_limit(void **state)
{
	size_t big = DFUMGR_MANIFEST_SIZE_MAX + 1;
	char *buf = malloc(big);
	char *with_nul = strdup(BASE);

	(void)state;
	/* a NUL byte in the middle is not JSON, and must not cut the text short */
	with_nul[10] = '\0';
	expect_fail_len(with_nul, strlen(BASE), -DFUMGR_E_FORMAT, "NUL byte at byte 10");
	/* one byte over the limit, even if it is all whitespace after a valid manifest */
	memset(buf, ' ', big);
	memcpy(buf, BASE, strlen(BASE));
	expect_fail_len(buf, big, -DFUMGR_E_TOOBIG, "manifest: 65537 bytes");
	/* exactly at the limit is fine */
	{
		struct dfumgr_manifest m;

		assert_int_equal(dfumgr_manifest_parse(NULL, (const uint8_t *)buf, big - 1, &m), 0);
	}
	free(buf);
	free(with_nul);
}

static void test_error_position(void **state)
{
	static const char json[] = "{\n  \"manifest_version\": 1,\n  \"product\": x\n}";

	(void)state;
	expect_fail_len(json, strlen(json), -DFUMGR_E_FORMAT, "line 3");
}

/* ---- detached signature ---- */

static void test_signature(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_key *priv = NULL, *other = NULL;
	struct dfumgr_keyring *ring = dfumgr_keyring_new(), *wrong = dfumgr_keyring_new();
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX], *bytes = (uint8_t *)strdup(CANONICAL);
	size_t len = 0, idx = 99, n = strlen(CANONICAL);

	(void)state;
	assert_int_equal(dfumgr_key_load(ctx, test_data_path("key-A.pem"), &priv), 0);
	assert_int_equal(dfumgr_keyring_add_file(ctx, ring, test_data_path("key-A-pub.pem")), 0);
	assert_int_equal(dfumgr_key_generate(ctx, &other), 0);
	assert_int_equal(dfumgr_keyring_add_key(ctx, wrong, other), 0);

	assert_int_equal(dfumgr_manifest_sign(ctx, priv, bytes, n, sig, &len), 0);
	assert_in_range(len, 68, DFUMGR_ECDSA_SIG_MAX);
	assert_int_equal(dfumgr_manifest_verify(ctx, ring, bytes, n, sig, len, &idx), 0);
	assert_int_equal(idx, 0);

	/* another key */
	idx = 99;
	assert_int_equal(dfumgr_manifest_verify(ctx, wrong, bytes, n, sig, len, &idx),
			 -DFUMGR_E_SIGNATURE);
	assert_int_equal(idx, 99);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "1 trusted key(s) tried: key #0"));

	/* one flipped manifest byte, anywhere */
	bytes[n / 2] ^= 0x01;
	assert_int_equal(dfumgr_manifest_verify(ctx, ring, bytes, n, sig, len, &idx),
			 -DFUMGR_E_SIGNATURE);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "key-A-pub.pem"));
	bytes[n / 2] ^= 0x01;
	/* a flipped signature byte; a truncated signature */
	sig[len - 1] ^= 0x01;
	assert_int_equal(dfumgr_manifest_verify(ctx, ring, bytes, n, sig, len, NULL),
			 -DFUMGR_E_SIGNATURE);
	sig[len - 1] ^= 0x01;
	assert_int_equal(dfumgr_manifest_verify(ctx, ring, bytes, n, sig, len - 1, NULL),
			 -DFUMGR_E_SIGNATURE);
	/* the wrong key first, the right one second: index 1 */
	assert_int_equal(dfumgr_keyring_add_file(ctx, wrong, test_data_path("key-A-pub.der")), 0);
	assert_int_equal(dfumgr_manifest_verify(ctx, wrong, bytes, n, sig, len, &idx), 0);
	assert_int_equal(idx, 1);

	/* a public key cannot sign */
	assert_int_equal(
	    dfumgr_manifest_sign(ctx, dfumgr_keyring_key(ring, 0), bytes, n, sig, &len),
	    -DFUMGR_E_INVAL);
	dfumgr_key_free(priv);
	dfumgr_keyring_free(ring);
	dfumgr_keyring_free(wrong);
	free(bytes);
	dfumgr_ctx_free(ctx);
}

static void test_signature_empty_keyring(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = dfumgr_keyring_new();
	uint8_t sig[8] = {0};

	(void)state;
	assert_int_equal(dfumgr_manifest_verify(ctx, ring, (const uint8_t *)"x", 1, sig, 8, NULL),
			 -DFUMGR_E_NOSIG);
	assert_int_equal(dfumgr_manifest_verify(ctx, NULL, (const uint8_t *)"x", 1, sig, 8, NULL),
			 -DFUMGR_E_INVAL);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

/* ---- fuzz seeds and regressions ---- */

/* Parses every file of tests/fuzz/DIR whose name starts with prefix; returns how many parsed. */
static size_t replay_dir(const char *dir, const char *prefix, size_t *ret_files)
{
	char path[4096];
	struct dirent *de;
	size_t ok = 0, files = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/../fuzz/%s", test_data_path(""), dir);
	d = opendir(path);
	if (!d) {
		*ret_files = 0;
		return 0;
	}
	while ((de = readdir(d))) {
		struct dfumgr_manifest m, back;
		uint8_t *buf = NULL;
		char *json = NULL;
		size_t size = 0, jsize = 0;
		char file[4352];
		int rc;

		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		assert_int_equal(dfumgr_file_read(NULL, file, 1u << 20, &buf, &size), 0);
		files++;
		rc = dfumgr_manifest_parse(NULL, buf, size, &m);
		assert_true(rc == 0 || (rc < 0 && rc > -DFUMGR_E_MAX));
		if (rc == 0) {
			ok++;
			assert_int_equal(dfumgr_manifest_serialize(NULL, &m, &json, &jsize), 0);
			assert_int_equal(dfumgr_manifest_parse(NULL, (uint8_t *)json, jsize, &back),
					 0);
			assert_true(dfumgr_manifest_equal(&m, &back));
		}
		free(json);
		free(buf);
	}
	closedir(d);
	*ret_files = files;
	return ok;
}

static void test_fuzz_corpus_and_regressions(void **state)
{
	size_t files = 0, ok;

	(void)state;
	ok = replay_dir("corpus/manifest", "", &files);
	/* the seed corpus has valid and invalid manifests */
	assert_in_range(files, 4, 1000);
	assert_in_range(ok, 2, files - 1);
	(void)replay_dir("regressions", "manifest-", &files);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_parse_example),
	    cmocka_unit_test(test_serialize_canonical),
	    cmocka_unit_test(test_roundtrip_variants),
	    cmocka_unit_test(test_optional_load_address_absent_and_whitespace),
	    cmocka_unit_test(test_validate_and_serialize_reject_bad_structs),
	    cmocka_unit_test(test_future_version_with_new_keys),
	    cmocka_unit_test(test_raw_nul_and_size_limit),
	    cmocka_unit_test(test_error_position),
	    cmocka_unit_test(test_signature),
	    cmocka_unit_test(test_signature_empty_keyring),
	    cmocka_unit_test(test_fuzz_corpus_and_regressions),
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
	return _cmocka_run_group_tests("manifest", tests, N_FIXED + N_BAD, NULL, NULL);
}
