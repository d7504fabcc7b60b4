/* SPDX-License-Identifier: MIT */
/*
 * The release feed: strict parsing, a canonical writer, lookup of the newest release, the
 * detached signature, and publishing a bundle into a feed file. The one place that reads and
 * writes the feed format.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

#include "json.h"
#include "dfumgr/bundle.h"
#include "dfumgr/feed.h"

/* A DER ECDSA P-256 signature is never shorter than this (two 1-byte INTEGERs and headers). */
#define SIG_MIN 8

struct dfumgr_feed {
	uint64_t sequence;
	size_t n, cap;
	/* grouped by product, in feed order; the urls point to strings the feed owns */
	struct dfumgr_feed_release *rels;
};

/* ---- the feed object ---- */

DFUMGR_EXPORT struct dfumgr_feed *dfumgr_feed_new(void)
{
	return calloc(1, sizeof(struct dfumgr_feed));
}

static void release_done(struct dfumgr_feed_release *r)
{
	for (size_t i = 0; i < r->n_urls && i < DFUMGR_FEED_URLS_MAX; i++)
		free((char *)r->urls[i]);
	r->n_urls = 0;
}

DFUMGR_EXPORT struct dfumgr_feed *dfumgr_feed_free(struct dfumgr_feed *feed)
{
	if (feed) {
		for (size_t i = 0; i < feed->n; i++)
			release_done(&feed->rels[i]);
		free(feed->rels);
		free(feed);
	}
	return NULL;
}

DFUMGR_EXPORT uint64_t dfumgr_feed_sequence(const struct dfumgr_feed *feed)
{
	return feed ? feed->sequence : 0;
}

DFUMGR_EXPORT void dfumgr_feed_set_sequence(struct dfumgr_feed *feed, uint64_t sequence)
{
	if (feed)
		feed->sequence = sequence;
}

DFUMGR_EXPORT size_t dfumgr_feed_count(const struct dfumgr_feed *feed)
{
	return feed ? feed->n : 0;
}

DFUMGR_EXPORT const struct dfumgr_feed_release *dfumgr_feed_get(const struct dfumgr_feed *feed,
								size_t index)
{
	return feed && index < feed->n ? &feed->rels[index] : NULL;
}

DFUMGR_EXPORT const struct dfumgr_feed_release *dfumgr_feed_find(const struct dfumgr_feed *feed,
								 const char *product,
								 const char *release)
{
	const struct dfumgr_feed_release *best = NULL;

	if (!feed || !product)
		return NULL;
	for (size_t i = 0; i < feed->n; i++) {
		const struct dfumgr_feed_release *r = &feed->rels[i];

		if (strcmp(r->product, product) != 0)
			continue;
		if (release) {
			if (strcmp(r->release, release) == 0)
				return r;
			continue;
		}
		if (!best || dfumgr_version_cmp(&r->version, &best->version) >= 0)
			best = r;
	}
	return best;
}

DFUMGR_EXPORT size_t dfumgr_feed_products(const struct dfumgr_feed *feed)
{
	size_t n = 0;

	for (size_t i = 0; feed && i < feed->n; i++)
		if (i == 0 || strcmp(feed->rels[i].product, feed->rels[i - 1].product) != 0)
			n++;
	return n;
}

DFUMGR_EXPORT const char *dfumgr_feed_product(const struct dfumgr_feed *feed, size_t index)
{
	size_t n = 0;

	for (size_t i = 0; feed && i < feed->n; i++) {
		if (i > 0 && strcmp(feed->rels[i].product, feed->rels[i - 1].product) == 0)
			continue;
		if (n++ == index)
			return feed->rels[i].product;
	}
	return NULL;
}

/* ---- field rules, shared by the parser and dfumgr_feed_put() ---- */

static bool url_char_ok(char c)
{
	/* printable ASCII without the characters RFC 3986 never allows unescaped */
	return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}", c);
}

/*
 * A bundle directory URL: "https://host/path/" or a reference relative to the feed's URL, in
 * printable ASCII (anything else must be percent-encoded), with no query or fragment (a file
 * name is appended to it), ending in '/'.
 */
static int check_url(struct dfumgr_ctx *ctx, const char *path, const char *s)
{
	char q[DFUMGR_JSON_QUOTE_MAX];
	size_t len = strlen(s), scheme = 0;

	if (len == 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: must not be empty", path);
	if (len > DFUMGR_FEED_URL_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: %zu bytes, more than the limit of %d",
				   path, len, DFUMGR_FEED_URL_MAX);
	for (size_t i = 0; i < len; i++) {
		if (!url_char_ok(s[i]) || s[i] == '?' || s[i] == '#')
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s: %s: character %zu is not allowed in a bundle URL "
					   "(percent-encode it; no query or fragment)",
					   path, dfumgr_json_quote(s, q), i);
	}
	if (s[len - 1] != '/')
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: %s: a bundle URL names a directory and ends in '/'", path,
				   dfumgr_json_quote(s, q));
	/* RFC 3986 §3.1: a scheme is a letter, then letters, digits, '+', '-', '.', then ':' */
	if ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) {
		size_t i = 1;

		while (i < len && (strchr("+-.", s[i]) || (s[i] >= '0' && s[i] <= '9') ||
				   (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			i++;
		if (i < len && s[i] == ':')
			scheme = i;
	}
	if (scheme &&
	    (scheme != 5 || strncasecmp(s, "https://", 8) != 0 || len == 8 || s[8] == '/'))
		return dfumgr_fail(
		    ctx, DFUMGR_E_UNSUPPORTED,
		    "%s: %s: only https:// URLs (with a host) or relative references "
		    "are allowed",
		    path, dfumgr_json_quote(s, q));
	return 0;
}

static int check_terminated(struct dfumgr_ctx *ctx, const char *path, const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: not NUL-terminated within %zu bytes",
				   path, cap - 1);
	return 0;
}

static int check_file(struct dfumgr_ctx *ctx, const char *path, const struct dfumgr_feed_file *f)
{
	char fp[DFUMGR_JSON_PATH_MAX];
	int rc;

	rc = check_terminated(ctx, dfumgr_json_path(fp, path, "file"), f->file, sizeof(f->file));
	if (rc == 0)
		rc = dfumgr_check_file_name(ctx, fp, f->file);
	if (rc < 0)
		return rc;
	if (f->size == 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: must not be 0",
				   dfumgr_json_path(fp, path, "size"));
	if (f->size > DFUMGR_MANIFEST_IMAGE_SIZE_MAX)
		return dfumgr_fail(
		    ctx, DFUMGR_E_TOOBIG, "%s: %" PRIu32 " bytes, more than the limit of %u",
		    dfumgr_json_path(fp, path, "size"), f->size, DFUMGR_MANIFEST_IMAGE_SIZE_MAX);
	return 0;
}

/* Everything about one release that does not depend on the others. */
static int check_release(struct dfumgr_ctx *ctx, const char *path,
			 const struct dfumgr_feed_release *r)
{
	char fp[DFUMGR_JSON_PATH_MAX], up[DFUMGR_JSON_PATH_MAX], tmp[DFUMGR_JSON_PATH_MAX];
	char q[DFUMGR_JSON_QUOTE_MAX];
	int rc;

	rc = check_terminated(ctx, "product", r->product, sizeof(r->product));
	if (rc == 0)
		rc = dfumgr_check_product(ctx, "product", r->product);
	if (rc == 0)
		rc = check_terminated(ctx, dfumgr_json_path(fp, path, "release"), r->release,
				      sizeof(r->release));
	if (rc == 0)
		rc = dfumgr_check_release(ctx, fp, r->release);
	if (rc < 0)
		return rc;
	if (r->n_urls < 1 || r->n_urls > DFUMGR_FEED_URLS_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: %zu URLs (expected 1 to %d)",
				   dfumgr_json_path(fp, path, "urls"), r->n_urls,
				   DFUMGR_FEED_URLS_MAX);
	for (size_t i = 0; i < r->n_urls; i++) {
		if (!r->urls[i])
			return dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: NULL URL", path);
		dfumgr_json_index(up, dfumgr_json_path(tmp, path, "urls"), i);
		rc = check_url(ctx, up, r->urls[i]);
		if (rc < 0)
			return rc;
	}
	if (r->manifest_size == 0 || r->manifest_size > DFUMGR_MANIFEST_SIZE_MAX)
		return dfumgr_fail(ctx, r->manifest_size ? DFUMGR_E_TOOBIG : DFUMGR_E_FORMAT,
				   "%s.manifest.size: %" PRIu32 " (expected 1 to %u)", path,
				   r->manifest_size, DFUMGR_MANIFEST_SIZE_MAX);
	if (r->manifest_sig_len < SIG_MIN || r->manifest_sig_len > DFUMGR_ECDSA_SIG_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s.manifest.signature: %zu bytes (a DER ECDSA P-256 signature "
				   "has %d to %d)",
				   path, r->manifest_sig_len, SIG_MIN, DFUMGR_ECDSA_SIG_MAX);
	if (r->n_files < 1 || r->n_files > DFUMGR_MANIFEST_IMAGES_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s.files: %zu entries (expected 1 or 2)",
				   path, r->n_files);
	for (size_t i = 0; i < r->n_files; i++) {
		dfumgr_json_index(up, dfumgr_json_path(tmp, path, "files"), i);
		rc = check_file(ctx, up, &r->files[i]);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->files[j].file, r->files[i].file) == 0)
				return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
						   "%s.file: %s is also the file of files[%zu]", up,
						   dfumgr_json_quote(r->files[i].file, q), j);
	}
	return 0;
}

/* ---- parser ---- */

static int parse_file(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
		      struct dfumgr_feed_file *f)
{
	static const char *const names[] = {"file", "size", "sha256"};
	enum { K_FILE, K_SIZE, K_SHA256, K_N };
	const cJSON *it[K_N];
	char fp[DFUMGR_JSON_PATH_MAX];
	const char *s;
	uint64_t v;
	int rc;

	rc = dfumgr_json_members(ctx, obj, path, names, K_N, it);
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[K_FILE], dfumgr_json_path(fp, path, "file"), &s);
	if (rc == 0)
		rc = dfumgr_check_file_name(ctx, fp, s);
	if (rc < 0)
		return rc;
	memcpy(f->file, s, strlen(s) + 1);
	rc = dfumgr_json_uint(ctx, it[K_SIZE], dfumgr_json_path(fp, path, "size"),
			      DFUMGR_MANIFEST_IMAGE_SIZE_MAX, &v);
	if (rc < 0)
		return rc;
	f->size = (uint32_t)v;
	return dfumgr_json_hex(ctx, it[K_SHA256], dfumgr_json_path(fp, path, "sha256"), f->sha256,
			       DFUMGR_SHA256_SIZE);
}

static int parse_manifest_ref(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
			      struct dfumgr_feed_release *r)
{
	static const char *const names[] = {"size", "sha256", "signature"};
	enum { K_SIZE, K_SHA256, K_SIG, K_N };
	const cJSON *it[K_N];
	char fp[DFUMGR_JSON_PATH_MAX], q[DFUMGR_JSON_QUOTE_MAX];
	const char *s;
	uint64_t v;
	size_t len;
	int rc;

	rc = dfumgr_json_members(ctx, obj, path, names, K_N, it);
	if (rc == 0)
		rc = dfumgr_json_uint(ctx, it[K_SIZE], dfumgr_json_path(fp, path, "size"),
				      DFUMGR_MANIFEST_SIZE_MAX, &v);
	if (rc < 0)
		return rc;
	r->manifest_size = (uint32_t)v;
	rc = dfumgr_json_hex(ctx, it[K_SHA256], dfumgr_json_path(fp, path, "sha256"),
			     r->manifest_sha256, DFUMGR_SHA256_SIZE);
	if (rc == 0)
		rc =
		    dfumgr_json_string(ctx, it[K_SIG], dfumgr_json_path(fp, path, "signature"), &s);
	if (rc < 0)
		return rc;
	len = strlen(s);
	if (len % 2 || len < 2 * SIG_MIN || len > 2 * DFUMGR_ECDSA_SIG_MAX ||
	    dfumgr_unhex(s, r->manifest_sig, len / 2) < 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected the DER signature as %d to %d hex digits, got %zu "
				   "characters: %s",
				   fp, 2 * SIG_MIN, 2 * DFUMGR_ECDSA_SIG_MAX, len,
				   dfumgr_json_quote(s, q));
	r->manifest_sig_len = len / 2;
	return 0;
}

static int parse_release(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
			 const char *product, struct dfumgr_feed_release *r)
{
	static const char *const names[] = {"release", "version", "urls", "manifest", "files"};
	enum { K_RELEASE, K_VERSION, K_URLS, K_MANIFEST, K_FILES, K_N };
	const cJSON *it[K_N];
	char fp[DFUMGR_JSON_PATH_MAX], up[DFUMGR_JSON_PATH_MAX], q[DFUMGR_JSON_QUOTE_MAX];
	const char *s;
	size_t n, i;
	int rc;

	memcpy(r->product, product, strlen(product) + 1);
	rc = dfumgr_json_members(ctx, obj, path, names, K_N, it);
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[K_RELEASE], dfumgr_json_path(fp, path, "release"),
					&s);
	if (rc == 0)
		rc = dfumgr_check_release(ctx, fp, s);
	if (rc < 0)
		return rc;
	memcpy(r->release, s, strlen(s) + 1);

	rc = dfumgr_json_string(ctx, it[K_VERSION], dfumgr_json_path(fp, path, "version"), &s);
	if (rc < 0)
		return rc;
	if (dfumgr_version_parse(s, &r->version) < 0)
		return dfumgr_fail(
		    ctx, DFUMGR_E_FORMAT,
		    "%s: expected an MCUboot version (major[.minor[.revision]][+build]), got %s",
		    fp, dfumgr_json_quote(s, q));

	rc = dfumgr_json_array(ctx, it[K_URLS], dfumgr_json_path(fp, path, "urls"), 1,
			       DFUMGR_FEED_URLS_MAX, &n);
	if (rc < 0)
		return rc;
	i = 0;
	for (const cJSON *c = it[K_URLS]->child; c; c = c->next, i++) {
		char *copy;

		dfumgr_json_index(up, fp, i);
		rc = dfumgr_json_string(ctx, c, up, &s);
		if (rc == 0)
			rc = check_url(ctx, up, s);
		if (rc < 0)
			return rc;
		copy = strdup(s);
		if (!copy)
			return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
		r->urls[r->n_urls++] = copy;
	}

	rc = parse_manifest_ref(ctx, it[K_MANIFEST], dfumgr_json_path(fp, path, "manifest"), r);
	if (rc < 0)
		return rc;

	rc = dfumgr_json_array(ctx, it[K_FILES], dfumgr_json_path(fp, path, "files"), 1,
			       DFUMGR_MANIFEST_IMAGES_MAX, &n);
	if (rc < 0)
		return rc;
	i = 0;
	for (const cJSON *c = it[K_FILES]->child; c; c = c->next, i++) {
		dfumgr_json_index(up, fp, i);
		rc = parse_file(ctx, c, up, &r->files[i]);
		if (rc < 0)
			return rc;
		r->n_files = i + 1;
	}
	/* the rules that span fields (distinct file names) */
	return check_release(ctx, path, r);
}

static int grow(struct dfumgr_ctx *ctx, struct dfumgr_feed *feed)
{
	struct dfumgr_feed_release *p;
	size_t cap;

	if (feed->n < feed->cap)
		return 0;
	cap = feed->cap ? 2 * feed->cap : 8;
	p = realloc(feed->rels, cap * sizeof(*p));
	if (!p)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	feed->rels = p;
	feed->cap = cap;
	return 0;
}

static int parse_product(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
			 struct dfumgr_feed *feed)
{
	static const char *const names[] = {"product", "releases"};
	enum { K_PRODUCT, K_RELEASES, K_N };
	const cJSON *it[K_N];
	char fp[DFUMGR_JSON_PATH_MAX], rp[DFUMGR_JSON_PATH_MAX], q[DFUMGR_JSON_QUOTE_MAX];
	const char *product;
	size_t n, first = feed->n, i;
	int rc;

	rc = dfumgr_json_members(ctx, obj, path, names, K_N, it);
	if (rc == 0)
		rc = dfumgr_json_string(ctx, it[K_PRODUCT], dfumgr_json_path(fp, path, "product"),
					&product);
	if (rc == 0)
		rc = dfumgr_check_product(ctx, fp, product);
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < first; k++)
		if (strcmp(feed->rels[k].product, product) == 0)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: product %s is listed twice",
					   fp, dfumgr_json_quote(product, q));
	rc = dfumgr_json_array(ctx, it[K_RELEASES], dfumgr_json_path(fp, path, "releases"), 1,
			       DFUMGR_FEED_RELEASES_MAX, &n);
	if (rc < 0)
		return rc;
	i = 0;
	for (const cJSON *c = it[K_RELEASES]->child; c; c = c->next, i++) {
		struct dfumgr_feed_release *r;

		rc = grow(ctx, feed);
		if (rc < 0)
			return rc;
		r = &feed->rels[feed->n];
		memset(r, 0, sizeof(*r));
		/* counted before parsing, so that the urls of a failed release are freed too */
		feed->n++;
		dfumgr_json_index(rp, fp, i);
		rc = parse_release(ctx, c, rp, product, r);
		if (rc < 0)
			return rc;
		for (size_t k = first; k + 1 < feed->n; k++)
			if (strcmp(feed->rels[k].release, r->release) == 0)
				return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
						   "%s.release: %s is also releases[%zu]", rp,
						   dfumgr_json_quote(r->release, q), k - first);
	}
	return 0;
}

static int parse_root(struct dfumgr_ctx *ctx, const cJSON *root, struct dfumgr_feed *feed)
{
	static const char *const names[] = {"feed_version", "sequence", "products"};
	enum { K_VERSION, K_SEQUENCE, K_PRODUCTS, K_N };
	const cJSON *it[K_N];
	char pp[DFUMGR_JSON_PATH_MAX];
	uint64_t v;
	size_t n, i;
	int rc;

	if (!cJSON_IsObject(root))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "top level: expected an object, got %s",
				   dfumgr_json_type(root));
	/* the version first: a newer feed may have keys this reader does not know */
	rc = dfumgr_json_uint(ctx, cJSON_GetObjectItemCaseSensitive(root, "feed_version"),
			      "feed_version", DFUMGR_JSON_INT_MAX, &v);
	if (rc < 0)
		return rc;
	if (v != DFUMGR_FEED_VERSION)
		return dfumgr_fail(
		    ctx, DFUMGR_E_UNSUPPORTED,
		    "feed_version: version %llu is not supported (this dfu-mgr reads "
		    "version %d)",
		    (unsigned long long)v, DFUMGR_FEED_VERSION);
	rc = dfumgr_json_members(ctx, root, "", names, K_N, it);
	if (rc == 0)
		rc = dfumgr_json_uint(ctx, it[K_SEQUENCE], "sequence", DFUMGR_FEED_SEQUENCE_MAX,
				      &feed->sequence);
	if (rc == 0)
		rc = dfumgr_json_array(ctx, it[K_PRODUCTS], "products", 0, DFUMGR_FEED_PRODUCTS_MAX,
				       &n);
	if (rc < 0)
		return rc;
	i = 0;
	for (const cJSON *c = it[K_PRODUCTS]->child; c; c = c->next, i++) {
		snprintf(pp, sizeof(pp), "products[%zu]", i);
		rc = parse_product(ctx, c, pp, feed);
		if (rc < 0)
			return rc;
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_feed_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				    struct dfumgr_feed **ret_feed)
{
	struct dfumgr_feed *feed;
	cJSON *root = NULL;
	int rc;

	if (!buf || !ret_feed)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_parse: NULL argument");
	if (size > DFUMGR_FEED_SIZE_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "feed: %zu bytes, more than the limit of %u", size,
				   DFUMGR_FEED_SIZE_MAX);
	rc = dfumgr_json_parse(ctx, "feed", buf, size, &root);
	if (rc < 0)
		return rc;
	feed = dfumgr_feed_new();
	if (!feed) {
		cJSON_Delete(root);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	rc = parse_root(ctx, root, feed);
	cJSON_Delete(root);
	if (rc < 0) {
		dfumgr_feed_free(feed);
		return rc;
	}
	*ret_feed = feed;
	return 0;
}

/* ---- writer ---- */

static cJSON *add_hex(cJSON *obj, const char *key, const uint8_t *buf, size_t n)
{
	char hex[2 * DFUMGR_ECDSA_SIG_MAX + 1];

	dfumgr_hex(buf, n, hex);
	return cJSON_AddStringToObject(obj, key, hex);
}

static bool release_to_json(const struct dfumgr_feed_release *r, cJSON *arr)
{
	char ver[DFUMGR_VERSION_STRING_MAX];
	cJSON *o = cJSON_CreateObject(), *urls, *m, *files;

	if (!o || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return false;
	}
	if (!cJSON_AddStringToObject(o, "release", r->release) ||
	    !cJSON_AddStringToObject(o, "version", dfumgr_version_format(&r->version, ver)))
		return false;
	urls = cJSON_AddArrayToObject(o, "urls");
	if (!urls)
		return false;
	for (size_t i = 0; i < r->n_urls; i++) {
		cJSON *u = cJSON_CreateString(r->urls[i]);

		if (!u || !cJSON_AddItemToArray(urls, u)) {
			cJSON_Delete(u);
			return false;
		}
	}
	m = cJSON_AddObjectToObject(o, "manifest");
	if (!m || !cJSON_AddNumberToObject(m, "size", r->manifest_size) ||
	    !add_hex(m, "sha256", r->manifest_sha256, DFUMGR_SHA256_SIZE) ||
	    !add_hex(m, "signature", r->manifest_sig, r->manifest_sig_len))
		return false;
	files = cJSON_AddArrayToObject(o, "files");
	if (!files)
		return false;
	for (size_t i = 0; i < r->n_files; i++) {
		cJSON *f = cJSON_CreateObject();

		if (!f || !cJSON_AddItemToArray(files, f)) {
			cJSON_Delete(f);
			return false;
		}
		if (!cJSON_AddStringToObject(f, "file", r->files[i].file) ||
		    !cJSON_AddNumberToObject(f, "size", r->files[i].size) ||
		    !add_hex(f, "sha256", r->files[i].sha256, DFUMGR_SHA256_SIZE))
			return false;
	}
	return true;
}

DFUMGR_EXPORT int dfumgr_feed_serialize(struct dfumgr_ctx *ctx, const struct dfumgr_feed *feed,
					char **ret_json, size_t *ret_size)
{
	cJSON *root, *products, *p = NULL, *rels = NULL;
	int rc;

	if (!feed || !ret_json || !ret_size)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_serialize: NULL argument");
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddNumberToObject(root, "feed_version", DFUMGR_FEED_VERSION) ||
	    !cJSON_AddNumberToObject(root, "sequence", (double)feed->sequence))
		goto nomem;
	products = cJSON_AddArrayToObject(root, "products");
	if (!products)
		goto nomem;
	for (size_t i = 0; i < feed->n; i++) {
		const struct dfumgr_feed_release *r = &feed->rels[i];

		if (i == 0 || strcmp(r->product, feed->rels[i - 1].product) != 0) {
			p = cJSON_CreateObject();
			if (!p || !cJSON_AddItemToArray(products, p)) {
				cJSON_Delete(p);
				goto nomem;
			}
			if (!cJSON_AddStringToObject(p, "product", r->product))
				goto nomem;
			rels = cJSON_AddArrayToObject(p, "releases");
			if (!rels)
				goto nomem;
		}
		if (!release_to_json(r, rels))
			goto nomem;
	}
	rc = dfumgr_json_print(ctx, "feed", root, DFUMGR_FEED_SIZE_MAX, ret_json, ret_size);
	cJSON_Delete(root);
	return rc;
nomem:
	cJSON_Delete(root);
	return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "feed: cannot format: out of memory");
}

/* ---- changes ---- */

static int copy_release(struct dfumgr_ctx *ctx, struct dfumgr_feed_release *dst,
			const struct dfumgr_feed_release *src)
{
	memcpy(dst, src, sizeof(*dst));
	for (size_t i = 0; i < DFUMGR_FEED_URLS_MAX; i++)
		dst->urls[i] = NULL;
	dst->n_urls = 0;
	for (size_t i = 0; i < src->n_urls; i++) {
		char *copy = strdup(src->urls[i]);

		if (!copy) {
			release_done(dst);
			return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
		}
		dst->urls[dst->n_urls++] = copy;
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_feed_put(struct dfumgr_ctx *ctx, struct dfumgr_feed *feed,
				  const struct dfumgr_feed_release *rel)
{
	struct dfumgr_feed_release copy;
	size_t first = feed ? feed->n : 0, end, at, n_products = 0;
	int rc;

	if (!feed || !rel)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_put: NULL argument");
	rc = check_release(ctx, "release", rel);
	if (rc < 0)
		return rc;
	/* the product's group, [first, end) */
	for (size_t i = 0; i < feed->n; i++) {
		if (i == 0 || strcmp(feed->rels[i].product, feed->rels[i - 1].product) != 0)
			n_products++;
		if (first == feed->n && strcmp(feed->rels[i].product, rel->product) == 0)
			first = i;
	}
	for (end = first; end < feed->n && strcmp(feed->rels[end].product, rel->product) == 0;
	     end++)
		;
	if (first == feed->n && n_products >= DFUMGR_FEED_PRODUCTS_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "feed: more than %d products",
				   DFUMGR_FEED_PRODUCTS_MAX);
	rc = copy_release(ctx, &copy, rel);
	if (rc < 0)
		return rc;
	/* a release of the same label is replaced in place, then moved to its version's place */
	for (size_t i = first; i < end; i++) {
		if (strcmp(feed->rels[i].release, rel->release) != 0)
			continue;
		release_done(&feed->rels[i]);
		memmove(&feed->rels[i], &feed->rels[i + 1], (feed->n - i - 1) * sizeof(copy));
		feed->n--;
		end--;
		break;
	}
	if (end - first >= DFUMGR_FEED_RELEASES_MAX) {
		release_done(&copy);
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "feed: product %s has %d releases already",
				   rel->product, DFUMGR_FEED_RELEASES_MAX);
	}
	rc = grow(ctx, feed);
	if (rc < 0) {
		release_done(&copy);
		return rc;
	}
	/* after the releases of the same or a lower version: oldest first, newest last */
	for (at = first;
	     at < end && dfumgr_version_cmp(&feed->rels[at].version, &copy.version) <= 0; at++)
		;
	memmove(&feed->rels[at + 1], &feed->rels[at], (feed->n - at) * sizeof(copy));
	feed->rels[at] = copy;
	feed->n++;
	return 0;
}

/* The highest image version of a manifest: what a release is ordered by. */
static void manifest_version(const struct dfumgr_manifest *m, struct dfumgr_image_version *ret)
{
	*ret = m->images[0].version;
	for (size_t i = 1; i < m->n_images; i++)
		if (dfumgr_version_cmp(&m->images[i].version, ret) > 0)
			*ret = m->images[i].version;
}

DFUMGR_EXPORT int dfumgr_feed_release_check(struct dfumgr_ctx *ctx,
					    const struct dfumgr_feed_release *rel,
					    const struct dfumgr_manifest *m)
{
	char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX];
	struct dfumgr_image_version v;

	if (!rel || !m)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_release_check: NULL argument");
	if (strcmp(rel->product, m->product) != 0)
		return dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				   "the feed lists product %s, the manifest says %s", rel->product,
				   m->product);
	if (strcmp(rel->release, m->release) != 0)
		return dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				   "the feed lists release %s, the manifest says %s", rel->release,
				   m->release);
	manifest_version(m, &v);
	if (dfumgr_version_cmp(&v, &rel->version) != 0)
		return dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				   "the feed lists version %s, the manifest's images say %s",
				   dfumgr_version_format(&rel->version, a),
				   dfumgr_version_format(&v, b));
	if (rel->n_files != m->n_images)
		return dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				   "the feed lists %zu file(s), the manifest %zu image(s)",
				   rel->n_files, m->n_images);
	for (size_t i = 0; i < m->n_images; i++) {
		const struct dfumgr_feed_file *f = &rel->files[i];
		const struct dfumgr_manifest_image *mi = &m->images[i];

		if (strcmp(f->file, mi->file) != 0 || f->size != mi->size ||
		    !dfumgr_memeq_ct(f->sha256, mi->sha256, DFUMGR_SHA256_SIZE))
			return dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
					   "files[%zu]: the feed lists %s (%" PRIu32
					   " bytes), the manifest %s (%" PRIu32
					   " bytes), or their SHA-256 differ",
					   i, f->file, f->size, mi->file, mi->size);
	}
	return 0;
}

/* ---- signature ---- */

DFUMGR_EXPORT int dfumgr_feed_sign(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				   const uint8_t *buf, size_t size,
				   uint8_t sig[static DFUMGR_ECDSA_SIG_MAX], size_t *ret_sig_len)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];

	if (!key || !buf || !ret_sig_len)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_sign: NULL argument");
	dfumgr_sha256(buf, size, digest);
	return dfumgr_key_sign(ctx, key, digest, sig, DFUMGR_ECDSA_SIG_MAX, ret_sig_len);
}

DFUMGR_EXPORT int dfumgr_feed_verify(struct dfumgr_ctx *ctx, const struct dfumgr_keyring *ring,
				     const uint8_t *buf, size_t size, const uint8_t *sig,
				     size_t sig_len, size_t *ret_key_index)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];

	if (!ring || !buf || !sig)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_verify: NULL argument");
	dfumgr_sha256(buf, size, digest);
	return dfumgr_keyring_verify(ctx, ring, digest, sig, sig_len, ret_key_index);
}

/* ---- publish ---- */

/* The last path component of dir (trailing slashes ignored) + "/", into out. */
static int default_url(struct dfumgr_ctx *ctx, const char *dir, char *out, size_t cap)
{
	size_t end = strlen(dir), start;
	int n;

	while (end > 1 && dir[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	if (end == start || (end - start == 1 && dir[start] == '.') ||
	    (end - start == 2 && dir[start] == '.' && dir[start + 1] == '.'))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "%s: no directory name to make the bundle URL from (give one)",
				   dir);
	n = snprintf(out, cap, "%.*s/", (int)(end - start), dir + start);
	if (n < 0 || (size_t)n >= cap)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: name too long for a URL", dir);
	return 0;
}

static int read_sig(struct dfumgr_ctx *ctx, const char *path,
		    uint8_t sig[static DFUMGR_ECDSA_SIG_MAX], size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t size = 0;
	int rc = dfumgr_file_read(ctx, path, DFUMGR_ECDSA_SIG_MAX, &buf, &size);

	if (rc < 0)
		return rc;
	memcpy(sig, buf, size);
	free(buf);
	*ret_len = size;
	return 0;
}

/* Fills rel from the opened bundle and the exact manifest bytes and signature. */
static void release_from_bundle(const struct dfumgr_manifest *m, const uint8_t *mbuf, size_t msize,
				const uint8_t *sig, size_t sig_len, struct dfumgr_feed_release *rel)
{
	memcpy(rel->product, m->product, sizeof(rel->product));
	memcpy(rel->release, m->release, sizeof(rel->release));
	manifest_version(m, &rel->version);
	rel->manifest_size = (uint32_t)msize;
	dfumgr_sha256(mbuf, msize, rel->manifest_sha256);
	memcpy(rel->manifest_sig, sig, sig_len);
	rel->manifest_sig_len = sig_len;
	rel->n_files = m->n_images;
	for (size_t i = 0; i < m->n_images; i++) {
		memcpy(rel->files[i].file, m->images[i].file, sizeof(rel->files[i].file));
		rel->files[i].size = m->images[i].size;
		memcpy(rel->files[i].sha256, m->images[i].sha256, DFUMGR_SHA256_SIZE);
	}
}

/* The existing feed at path, its signature checked with key; a new feed when there is none. */
static int load_for_publish(struct dfumgr_ctx *ctx, const char *path, const char *sig_path,
			    const struct dfumgr_key *key, struct dfumgr_feed **ret_feed)
{
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX], digest[DFUMGR_SHA256_SIZE], *buf = NULL;
	size_t size = 0, sig_len = 0;
	int rc;

	rc = dfumgr_file_read(ctx, path, DFUMGR_FEED_SIZE_MAX, &buf, &size);
	if (rc == -DFUMGR_E_NOENT) {
		*ret_feed = dfumgr_feed_new();
		return *ret_feed ? 0 : dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	if (rc < 0)
		return rc;
	rc = read_sig(ctx, sig_path, sig, &sig_len);
	if (rc == -DFUMGR_E_NOENT) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NOSIG,
				 "%s: missing: refusing to sign a feed whose origin is unknown "
				 "(remove %s to start a new feed)",
				 sig_path, path);
		goto out;
	}
	if (rc < 0)
		goto out;
	dfumgr_sha256(buf, size, digest);
	rc = dfumgr_key_verify(ctx, key, digest, sig, sig_len);
	if (rc < 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_SIGNATURE,
				 "%s: the feed's signature does not verify with %s: refusing to "
				 "sign a feed changed by someone else",
				 path, dfumgr_key_name(key)[0] ? dfumgr_key_name(key) : "the key");
		goto out;
	}
	rc = dfumgr_feed_parse(ctx, buf, size, ret_feed);
	if (rc < 0)
		rc = dfumgr_fail_prefix(ctx, rc, "%s", path);
out:
	free(buf);
	return rc;
}

DFUMGR_EXPORT int dfumgr_feed_publish(struct dfumgr_ctx *ctx, const char *feed_path,
				      const char *bundle_dir, const struct dfumgr_key *key,
				      const struct dfumgr_keyring *ring, const char *const urls[],
				      size_t n_urls, uint64_t *ret_sequence)
{
	struct dfumgr_feed_release rel;
	struct dfumgr_bundle *b = NULL;
	struct dfumgr_feed *feed = NULL;
	uint8_t *mbuf = NULL, msig[DFUMGR_ECDSA_SIG_MAX], digest[DFUMGR_SHA256_SIZE];
	uint8_t fsig[DFUMGR_ECDSA_SIG_MAX];
	size_t msize = 0, msig_len = 0, json_size = 0, fsig_len = 0;
	char path[PATH_MAX], sig_path[PATH_MAX], url0[DFUMGR_FEED_URL_MAX + 2], *json = NULL;
	struct stat st_old, st_new;
	int n, rc;

	if (!feed_path || !bundle_dir || !key || (n_urls && !urls))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_feed_publish: NULL argument");
	if (!dfumgr_key_is_private(key))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "%s: a public key cannot sign the feed (give the private key)",
				   dfumgr_key_name(key));
	if (n_urls > DFUMGR_FEED_URLS_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "more than %d bundle URLs",
				   DFUMGR_FEED_URLS_MAX);
	n = snprintf(sig_path, sizeof(sig_path), "%s.sig", feed_path);
	if (n < 0 || (size_t)n >= sizeof(sig_path))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: path too long", feed_path);

	/* the bundle, checked as a device update would check it */
	rc = dfumgr_bundle_open(ctx, bundle_dir, ring, ring ? 0 : DFUMGR_BUNDLE_ALLOW_UNSIGNED,
				NULL, &b);
	if (rc < 0) {
		rc = dfumgr_fail_prefix(ctx, rc, "bundle %s", bundle_dir);
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/%s", bundle_dir, DFUMGR_BUNDLE_MANIFEST);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: path too long", bundle_dir);
		goto out;
	}
	rc = dfumgr_file_read(ctx, path, DFUMGR_MANIFEST_SIZE_MAX, &mbuf, &msize);
	if (rc < 0)
		goto out;
	dfumgr_sha256(mbuf, msize, digest);
	/* the bytes read now are the bytes the bundle check read */
	if (!dfumgr_memeq_ct(digest, dfumgr_bundle_manifest_sha256(b), DFUMGR_SHA256_SIZE)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_MISMATCH, "%s: changed while it was read", path);
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/%s", bundle_dir, DFUMGR_BUNDLE_SIGNATURE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: path too long", bundle_dir);
		goto out;
	}
	rc = read_sig(ctx, path, msig, &msig_len);
	if (rc == -DFUMGR_E_NOENT)
		rc = dfumgr_fail(ctx, DFUMGR_E_NOSIG,
				 "%s: missing: only signed bundles are published (dfu-mgr sign)",
				 path);
	if (rc < 0)
		goto out;
	if (!ring) {
		rc = dfumgr_key_verify(ctx, key, digest, msig, msig_len);
		if (rc < 0) {
			rc = dfumgr_fail(ctx, DFUMGR_E_SIGNATURE,
					 "%s: does not verify with the feed's key %s (sign the "
					 "bundle with it, or give the keys that verify it)",
					 path, dfumgr_key_name(key));
			goto out;
		}
	}

	memset(&rel, 0, sizeof(rel));
	release_from_bundle(dfumgr_bundle_manifest(b), mbuf, msize, msig, msig_len, &rel);
	if (n_urls == 0) {
		rc = default_url(ctx, bundle_dir, url0, sizeof(url0));
		if (rc < 0)
			goto out;
		rel.urls[0] = url0;
		rel.n_urls = 1;
	} else {
		for (size_t i = 0; i < n_urls; i++)
			rel.urls[i] = urls[i];
		rel.n_urls = n_urls;
	}

	rc = load_for_publish(ctx, feed_path, sig_path, key, &feed);
	if (rc < 0)
		goto out;
	if (stat(feed_path, &st_old) < 0)
		st_old.st_mtim.tv_sec = 0;
	if (feed->sequence >= DFUMGR_FEED_SEQUENCE_MAX) {
		rc = dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: sequence at its limit", feed_path);
		goto out;
	}
	rc = dfumgr_feed_put(ctx, feed, &rel);
	if (rc < 0)
		goto out;
	feed->sequence++;
	rc = dfumgr_feed_serialize(ctx, feed, &json, &json_size);
	if (rc == 0)
		rc = dfumgr_feed_sign(ctx, key, (const uint8_t *)json, json_size, fsig, &fsig_len);
	if (rc < 0)
		goto out;
	/*
	 * Two files cannot change at once: a reader between the two renames sees a signature
	 * that does not verify and tries again later, never a feed it accepts wrongly.
	 */
	rc = dfumgr_file_write(ctx, feed_path, json, json_size, true);
	if (rc == 0)
		rc = dfumgr_file_write(ctx, sig_path, fsig, fsig_len, true);
	if (rc < 0)
		goto out;
	/*
	 * Web servers make their validators from the modification time in seconds and the size
	 * (nginx: ETag "mtime-size", Last-Modified): a feed replaced within the same second by
	 * one of the same size would be answered 304, and readers would keep the old one.
	 */
	if (st_old.st_mtim.tv_sec && stat(feed_path, &st_new) == 0 &&
	    st_new.st_mtim.tv_sec <= st_old.st_mtim.tv_sec) {
		struct timespec ts[2] = {{.tv_sec = st_old.st_mtim.tv_sec + 1},
					 {.tv_sec = st_old.st_mtim.tv_sec + 1}};

		(void)utimensat(AT_FDCWD, feed_path, ts, 0);
	}
	if (ret_sequence)
		*ret_sequence = feed->sequence;
out:
	free(json);
	free(mbuf);
	dfumgr_feed_free(feed);
	dfumgr_bundle_free(b);
	return rc;
}
