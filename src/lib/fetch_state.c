/* SPDX-License-Identifier: MIT */
/*
 * The files dfu-mgr fetch keeps between runs: the state file (read by the daemon) and the feed
 * cache. The one place that reads and writes these two formats.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "json.h"
#include "dfumgr/fetch_state.h"

#define FEED_CACHE_VERSION 1
/* the feed text is kept as a JSON string: at most every byte escaped into two */
#define FEED_CACHE_SIZE_MAX (2u * DFUMGR_FEED_SIZE_MAX + 64u * 1024)
/* "2026-11-26T10:00:00Z" */
#define TIME_LEN 20

static const char *const outcome_names[DFUMGR_FETCH_OUTCOME_COUNT] = {
    [DFUMGR_FETCH_DELIVERED] = "delivered",
    [DFUMGR_FETCH_UP_TO_DATE] = "up-to-date",
    [DFUMGR_FETCH_FAILED] = "failed",
};

DFUMGR_EXPORT const char *dfumgr_fetch_outcome_name(enum dfumgr_fetch_outcome outcome)
{
	if ((unsigned)outcome >= DFUMGR_FETCH_OUTCOME_COUNT)
		return "unknown";
	return outcome_names[outcome];
}

/* ---- shared pieces ---- */

/* RFC 3339 in UTC, to the second. */
static const char *format_time(int64_t t, char buf[static TIME_LEN + 1])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, TIME_LEN + 1, "1970-01-01T00:00:00Z");
	return buf;
}

static int get_time(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, int64_t *ret)
{
	char q[DFUMGR_JSON_QUOTE_MAX], again[TIME_LEN + 1];
	struct tm tm = {0};
	const char *s;
	int n = 0, rc;

	rc = dfumgr_json_string(ctx, item, path, &s);
	if (rc < 0)
		return rc;
	if (strlen(s) != TIME_LEN ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != TIME_LEN)
		goto bad;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ret = (int64_t)timegm(&tm);
	/* timegm() normalises 2026-02-31 into March: only a date that survives the round trip */
	if (strcmp(format_time(*ret, again), s) != 0)
		goto bad;
	return 0;
bad:
	return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
			   "%s: expected a UTC time as YYYY-MM-DDTHH:MM:SSZ, got %s", path,
			   dfumgr_json_quote(s, q));
}

/* A string of at most cap - 1 bytes into out. */
static int get_text(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, char *out,
		    size_t cap)
{
	const char *s;
	int rc = dfumgr_json_string(ctx, item, path, &s);

	if (rc < 0)
		return rc;
	if (strlen(s) >= cap)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "%s: %zu bytes, more than the limit of %zu", path, strlen(s),
				   cap - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int read_json(struct dfumgr_ctx *ctx, const char *path, size_t max, cJSON **ret_root)
{
	uint8_t *buf = NULL;
	size_t size = 0;
	int rc = dfumgr_file_read(ctx, path, max, &buf, &size);

	if (rc < 0)
		return rc;
	rc = dfumgr_json_parse(ctx, path, buf, size, ret_root);
	free(buf);
	return rc;
}

static int write_json(struct dfumgr_ctx *ctx, const char *path, const cJSON *root, size_t max)
{
	char *text = NULL;
	size_t size = 0;
	int rc = dfumgr_json_print(ctx, path, root, max, &text, &size);

	if (rc < 0)
		return rc;
	rc = dfumgr_file_write(ctx, path, text, size, true);
	free(text);
	return rc;
}

/* ---- the state file ---- */

static int parse_delivered(struct dfumgr_ctx *ctx, const cJSON *obj,
			   struct dfumgr_fetch_delivery *d)
{
	static const char *const names[] = {"time",    "product",         "release",
					    "version", "manifest_sha256", "bundle"};
	enum { K_TIME, K_PRODUCT, K_RELEASE, K_VERSION, K_SHA, K_BUNDLE, K_N };
	const cJSON *it[K_N];
	char q[DFUMGR_JSON_QUOTE_MAX];
	const char *s;
	int rc;

	rc = dfumgr_json_members(ctx, obj, "delivered", names, K_N, it);
	if (rc == 0)
		rc = get_time(ctx, it[K_TIME], "delivered.time", &d->time);
	if (rc == 0)
		rc = get_text(ctx, it[K_PRODUCT], "delivered.product", d->product,
			      sizeof(d->product));
	if (rc == 0)
		rc = dfumgr_check_product(ctx, "delivered.product", d->product);
	if (rc == 0)
		rc = get_text(ctx, it[K_RELEASE], "delivered.release", d->release,
			      sizeof(d->release));
	if (rc == 0)
		rc = dfumgr_check_release(ctx, "delivered.release", d->release);
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[K_VERSION], "delivered.version", &s);
	if (rc < 0)
		return rc;
	if (dfumgr_version_parse(s, &d->version) < 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "delivered.version: expected an MCUboot version, got %s",
				   dfumgr_json_quote(s, q));
	rc = dfumgr_json_hex(ctx, it[K_SHA], "delivered.manifest_sha256", d->manifest_sha256,
			     DFUMGR_SHA256_SIZE);
	if (rc == 0)
		rc = get_text(ctx, it[K_BUNDLE], "delivered.bundle", d->bundle, sizeof(d->bundle));
	return rc;
}

static int parse_error(struct dfumgr_ctx *ctx, const cJSON *obj, struct dfumgr_fetch_state *st)
{
	static const char *const names[] = {"code", "name", "message"};
	const cJSON *it[3];
	const char *s;
	uint64_t v;
	int rc;

	rc = dfumgr_json_members(ctx, obj, "error", names, 3, it);
	if (rc == 0)
		rc = dfumgr_json_uint(ctx, it[0], "error.code", 1000, &v);
	/* the name is for people; the code is what counts */
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[1], "error.name", &s);
	if (rc == 0)
		rc = get_text(ctx, it[2], "error.message", st->message, sizeof(st->message));
	if (rc < 0)
		return rc;
	if (v == 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "error.code: must not be 0");
	st->error = (int)v;
	return 0;
}

static int parse_state(struct dfumgr_ctx *ctx, const cJSON *root, struct dfumgr_fetch_state *st)
{
	static const char *const names[] = {"state_version", "time",          "result",   "error",
					    "source",        "feed_sequence", "delivered"};
	enum { K_VERSION, K_TIME, K_RESULT, K_ERROR, K_SOURCE, K_SEQUENCE, K_DELIVERED, K_N };
	const cJSON *it[K_N];
	char q[DFUMGR_JSON_QUOTE_MAX];
	const char *s;
	uint64_t v;
	size_t k;
	int rc;

	if (!cJSON_IsObject(root))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "top level: expected an object, got %s",
				   dfumgr_json_type(root));
	rc = dfumgr_json_uint(ctx, cJSON_GetObjectItemCaseSensitive(root, "state_version"),
			      "state_version", DFUMGR_JSON_INT_MAX, &v);
	if (rc < 0)
		return rc;
	if (v != DFUMGR_FETCH_STATE_VERSION)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "state_version: version %llu is not supported (this dfu-mgr "
				   "reads version %d)",
				   (unsigned long long)v, DFUMGR_FETCH_STATE_VERSION);
	rc = dfumgr_json_members(ctx, root, "", names, K_N, it);
	if (rc == 0)
		rc = get_time(ctx, it[K_TIME], "time", &st->time);
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[K_RESULT], "result", &s);
	if (rc < 0)
		return rc;
	for (k = 0; k < DFUMGR_FETCH_OUTCOME_COUNT && strcmp(s, outcome_names[k]) != 0; k++)
		;
	if (k == DFUMGR_FETCH_OUTCOME_COUNT)
		return dfumgr_fail(
		    ctx, DFUMGR_E_FORMAT,
		    "result: expected \"delivered\", \"up-to-date\" or \"failed\", got "
		    "%s",
		    dfumgr_json_quote(s, q));
	st->result = (enum dfumgr_fetch_outcome)k;
	if ((st->result == DFUMGR_FETCH_FAILED) != (it[K_ERROR] != NULL))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "error: %s",
				   it[K_ERROR] ? "only a failed run has an error"
					       : "missing (the result is \"failed\")");
	if (it[K_ERROR]) {
		rc = parse_error(ctx, it[K_ERROR], st);
		if (rc < 0)
			return rc;
	}
	rc = get_text(ctx, it[K_SOURCE], "source", st->source, sizeof(st->source));
	if (rc < 0)
		return rc;
	if (it[K_SEQUENCE]) {
		rc = dfumgr_json_uint(ctx, it[K_SEQUENCE], "feed_sequence",
				      DFUMGR_FEED_SEQUENCE_MAX, &st->sequence);
		if (rc < 0)
			return rc;
		st->has_sequence = true;
	}
	if (it[K_DELIVERED]) {
		rc = parse_delivered(ctx, it[K_DELIVERED], &st->delivered);
		if (rc < 0)
			return rc;
		st->has_delivered = true;
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_fetch_state_load(struct dfumgr_ctx *ctx, const char *path,
					  struct dfumgr_fetch_state *ret_state)
{
	struct dfumgr_fetch_state *st;
	cJSON *root = NULL;
	int rc;

	if (!path || !ret_state)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_fetch_state_load: NULL argument");
	if (ret_state->size < sizeof(*ret_state))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "dfumgr_fetch_state_load: struct of %zu bytes, this library "
				   "fills %zu",
				   ret_state->size, sizeof(*ret_state));
	rc = read_json(ctx, path, DFUMGR_FETCH_STATE_SIZE_MAX, &root);
	if (rc < 0)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st) {
		cJSON_Delete(root);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	rc = parse_state(ctx, root, st);
	cJSON_Delete(root);
	if (rc < 0) {
		free(st);
		return dfumgr_fail_prefix(ctx, rc, "%s", path);
	}
	st->size = ret_state->size;
	memcpy(ret_state, st, sizeof(*st));
	free(st);
	return 0;
}

static bool add_delivered(cJSON *root, const struct dfumgr_fetch_delivery *d)
{
	char t[TIME_LEN + 1], ver[DFUMGR_VERSION_STRING_MAX], hex[2 * DFUMGR_SHA256_SIZE + 1];
	cJSON *o = cJSON_AddObjectToObject(root, "delivered");

	dfumgr_hex(d->manifest_sha256, DFUMGR_SHA256_SIZE, hex);
	return o && cJSON_AddStringToObject(o, "time", format_time(d->time, t)) &&
	       cJSON_AddStringToObject(o, "product", d->product) &&
	       cJSON_AddStringToObject(o, "release", d->release) &&
	       cJSON_AddStringToObject(o, "version", dfumgr_version_format(&d->version, ver)) &&
	       cJSON_AddStringToObject(o, "manifest_sha256", hex) &&
	       cJSON_AddStringToObject(o, "bundle", d->bundle);
}

DFUMGR_EXPORT int dfumgr_fetch_state_save(struct dfumgr_ctx *ctx, const char *path,
					  const struct dfumgr_fetch_state *st)
{
	char t[TIME_LEN + 1];
	cJSON *root, *err;
	bool ok;
	int rc;

	if (!path || !st || st->size < sizeof(*st) ||
	    (unsigned)st->result >= DFUMGR_FETCH_OUTCOME_COUNT)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_fetch_state_save: bad argument");
	if (strnlen(st->source, sizeof(st->source)) == sizeof(st->source) ||
	    strnlen(st->message, sizeof(st->message)) == sizeof(st->message) ||
	    strnlen(st->delivered.bundle, sizeof(st->delivered.bundle)) ==
		sizeof(st->delivered.bundle))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "dfumgr_fetch_state_save: a string is not terminated");
	if (st->has_delivered &&
	    (dfumgr_check_product(ctx, "delivered.product", st->delivered.product) < 0 ||
	     dfumgr_check_release(ctx, "delivered.release", st->delivered.release) < 0))
		return -DFUMGR_E_INVAL;
	root = cJSON_CreateObject();
	ok = root && cJSON_AddNumberToObject(root, "state_version", DFUMGR_FETCH_STATE_VERSION) &&
	     cJSON_AddStringToObject(root, "time", format_time(st->time, t)) &&
	     cJSON_AddStringToObject(root, "result", outcome_names[st->result]);
	if (ok && st->result == DFUMGR_FETCH_FAILED) {
		err = cJSON_AddObjectToObject(root, "error");
		ok = err && cJSON_AddNumberToObject(err, "code", st->error > 0 ? st->error : 1) &&
		     cJSON_AddStringToObject(err, "name", dfumgr_strerror(st->error)) &&
		     cJSON_AddStringToObject(err, "message", st->message);
	}
	ok = ok && cJSON_AddStringToObject(root, "source", st->source);
	if (ok && st->has_sequence)
		ok = cJSON_AddNumberToObject(root, "feed_sequence", (double)st->sequence);
	if (ok && st->has_delivered)
		ok = add_delivered(root, &st->delivered);
	if (!ok) {
		cJSON_Delete(root);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	rc = write_json(ctx, path, root, DFUMGR_FETCH_STATE_SIZE_MAX);
	cJSON_Delete(root);
	return rc;
}

/* ---- the feed cache ---- */

DFUMGR_EXPORT bool dfumgr_feed_cache_validator_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > DFUMGR_FEED_CACHE_VALIDATOR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

DFUMGR_EXPORT void dfumgr_feed_cache_done(struct dfumgr_feed_cache *c)
{
	if (!c)
		return;
	free(c->feed);
	c->feed = NULL;
	c->feed_size = 0;
}

static int get_validator(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, char *out)
{
	int rc;

	out[0] = '\0';
	if (!item)
		return 0;
	rc = get_text(ctx, item, path, out, DFUMGR_FEED_CACHE_VALIDATOR_MAX + 1);
	if (rc == 0 && !dfumgr_feed_cache_validator_ok(out))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: not a header value (printable ASCII)",
				   path);
	return rc;
}

static int parse_cache(struct dfumgr_ctx *ctx, const cJSON *root, struct dfumgr_feed_cache *c)
{
	static const char *const names[] = {"cache_version", "url",       "etag",
					    "last_modified", "signature", "feed"};
	enum { K_VERSION, K_URL, K_ETAG, K_LM, K_SIG, K_FEED, K_N };
	const cJSON *it[K_N];
	const char *s;
	uint64_t v;
	size_t len;
	int rc;

	rc = dfumgr_json_members(ctx, root, "", names, K_N, it);
	if (rc == 0)
		rc = dfumgr_json_uint(ctx, it[K_VERSION], "cache_version", DFUMGR_JSON_INT_MAX, &v);
	if (rc < 0)
		return rc;
	if (v != FEED_CACHE_VERSION)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "cache_version: version %llu is not supported",
				   (unsigned long long)v);
	rc = get_text(ctx, it[K_URL], "url", c->url, sizeof(c->url));
	if (rc == 0)
		rc = get_validator(ctx, it[K_ETAG], "etag", c->etag);
	if (rc == 0)
		rc = get_validator(ctx, it[K_LM], "last_modified", c->last_modified);
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[K_SIG], "signature", &s);
	if (rc < 0)
		return rc;
	len = strlen(s);
	if (len == 0 || len % 2 || len > 2 * DFUMGR_ECDSA_SIG_MAX ||
	    dfumgr_unhex(s, c->sig, len / 2) < 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "signature: expected up to %d hex digits",
				   2 * DFUMGR_ECDSA_SIG_MAX);
	c->sig_len = len / 2;
	rc = dfumgr_json_string(ctx, it[K_FEED], "feed", &s);
	if (rc < 0)
		return rc;
	len = strlen(s);
	if (len > DFUMGR_FEED_SIZE_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "feed: %zu bytes, more than the limit of %u", len,
				   DFUMGR_FEED_SIZE_MAX);
	c->feed = malloc(len + 1);
	if (!c->feed)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	memcpy(c->feed, s, len + 1);
	c->feed_size = len;
	return 0;
}

DFUMGR_EXPORT int dfumgr_feed_cache_load(struct dfumgr_ctx *ctx, const char *path,
					 struct dfumgr_feed_cache *ret_cache)
{
	struct dfumgr_feed_cache *c;
	cJSON *root = NULL;
	int rc;

	if (!path || !ret_cache)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_cache_load: NULL argument");
	rc = read_json(ctx, path, FEED_CACHE_SIZE_MAX, &root);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c) {
		cJSON_Delete(root);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	rc = parse_cache(ctx, root, c);
	cJSON_Delete(root);
	if (rc < 0) {
		dfumgr_feed_cache_done(c);
		free(c);
		return dfumgr_fail_prefix(ctx, rc, "%s", path);
	}
	memcpy(ret_cache, c, sizeof(*c));
	free(c);
	return 0;
}

DFUMGR_EXPORT int dfumgr_feed_cache_save(struct dfumgr_ctx *ctx, const char *path,
					 const struct dfumgr_feed_cache *c)
{
	char hex[2 * DFUMGR_ECDSA_SIG_MAX + 1], *text;
	cJSON *root;
	bool ok;
	int rc;

	if (!path || !c || !c->feed || c->sig_len == 0 || c->sig_len > DFUMGR_ECDSA_SIG_MAX ||
	    strnlen(c->url, sizeof(c->url)) == sizeof(c->url))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_cache_save: bad argument");
	if (c->feed_size > DFUMGR_FEED_SIZE_MAX || memchr(c->feed, 0, c->feed_size))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "dfumgr_feed_cache_save: not a feed text of at most %u bytes",
				   DFUMGR_FEED_SIZE_MAX);
	/* the exact bytes, NUL-terminated for cJSON */
	text = malloc(c->feed_size + 1);
	if (!text)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	memcpy(text, c->feed, c->feed_size);
	text[c->feed_size] = '\0';
	dfumgr_hex(c->sig, c->sig_len, hex);
	root = cJSON_CreateObject();
	ok = root && cJSON_AddNumberToObject(root, "cache_version", FEED_CACHE_VERSION) &&
	     cJSON_AddStringToObject(root, "url", c->url);
	if (ok && dfumgr_feed_cache_validator_ok(c->etag))
		ok = cJSON_AddStringToObject(root, "etag", c->etag);
	if (ok && dfumgr_feed_cache_validator_ok(c->last_modified))
		ok = cJSON_AddStringToObject(root, "last_modified", c->last_modified);
	ok = ok && cJSON_AddStringToObject(root, "signature", hex) &&
	     cJSON_AddStringToObject(root, "feed", text);
	free(text);
	if (!ok) {
		cJSON_Delete(root);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	rc = write_json(ctx, path, root, FEED_CACHE_SIZE_MAX);
	cJSON_Delete(root);
	return rc;
}
