/* SPDX-License-Identifier: MIT */
/*
 * The bundle manifest: strict JSON parsing and validation, a canonical writer, and the detached
 * signature over the manifest bytes. The one place that reads and writes the manifest format.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "dfumgr/manifest.h"

/* "images[1].load_address" and the like; longer paths never occur */
#define FIELD_PATH_MAX 48
/* a quoted, escaped excerpt of an untrusted string for an error message */
#define QUOTE_MAX 64
/* the largest integer a double holds exactly: cJSON keeps numbers as doubles */
#define JSON_INT_MAX 9007199254740992.0

/* ---- messages ---- */

/*
 * Untrusted text (keys, values) goes into messages that end up on a terminal or in a log: escape
 * everything outside printable ASCII and cut it short.
 */
static const char *quote(const char *s, char out[static QUOTE_MAX])
{
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		/* room for one escape, "...", the closing quote and the NUL */
		if (o + 4 + 3 + 2 > QUOTE_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

static const char *json_type(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsObject(item))
		return "an object";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	return "an invalid value";
}

/* "parent.name", or "name" at the top level; cut to the buffer (paths are short by design) */
static const char *field_path(char buf[static FIELD_PATH_MAX], const char *parent, const char *name)
{
	size_t n = 0;

	for (const char *p = parent; *p && n < FIELD_PATH_MAX - 1; p++)
		buf[n++] = *p;
	if (parent[0] && n < FIELD_PATH_MAX - 1)
		buf[n++] = '.';
	for (const char *p = name; *p && n < FIELD_PATH_MAX - 1; p++)
		buf[n++] = *p;
	buf[n] = '\0';
	return buf;
}

/* ---- string rules, shared by the parser and dfumgr_manifest_validate() ---- */

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * A name made of ASCII letters, digits and the characters in extra, starting with a letter or
 * digit (product, release, alt): these end up in file names, logs and USB string descriptors.
 */
static int check_name(struct dfumgr_ctx *ctx, const char *path, const char *s, size_t max,
		      const char *extra)
{
	size_t len = strlen(s);
	char q[QUOTE_MAX];

	if (len == 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: must not be empty", path);
	if (len > max)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "%s: %zu bytes, more than the limit of %zu", path, len, max);
	for (size_t i = 0; i < len; i++) {
		if (is_alnum(s[i]) || (i > 0 && strchr(extra, s[i])))
			continue;
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: %s: character %zu is not allowed (letters, digits and "
				   "\"%s\", starting with a letter or digit)",
				   path, quote(s, q), i, extra);
	}
	return 0;
}

#define PRODUCT_EXTRA "._-"
#define RELEASE_EXTRA ".+_~-"
#define ALT_EXTRA     "._-"

/*
 * Length of the UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), or 0 when it is not valid. *ret_cp gets the code point.
 */
static size_t utf8_seq(const unsigned char *s, uint32_t *ret_cp)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		/* also stops at the NUL terminator, which is not a continuation byte */
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

/*
 * A file name must name a regular file directly inside the bundle directory: no '/', nothing
 * that resolves elsewhere ("." and ".."), no hidden files, nothing a terminal or log would
 * mangle, and not one of the bundle's own files.
 */
static int check_file_name(struct dfumgr_ctx *ctx, const char *path, const char *s)
{
	size_t len = strlen(s);
	char q[QUOTE_MAX];

	if (len == 0)
		return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH, "%s: empty file name", path);
	if (len > DFUMGR_MANIFEST_FILE_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
				   "%s: file name of %zu bytes, more than the limit of %d", path,
				   len, DFUMGR_MANIFEST_FILE_MAX);
	if (strchr(s, '/'))
		return dfumgr_fail(
		    ctx, DFUMGR_E_UNSAFE_PATH,
		    "%s: %s contains '/': image files must be plain names inside the "
		    "bundle directory",
		    path, quote(s, q));
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
				   "%s: %s names a directory, not a file", path, quote(s, q));
	if (s[0] == '.')
		return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
				   "%s: %s starts with '.': hidden files are not allowed", path,
				   quote(s, q));
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_seq((const unsigned char *)s + i, &cp);

		if (n == 0)
			return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
					   "%s: %s is not valid UTF-8 at byte %zu", path,
					   quote(s, q), i);
		/* C0, DEL and C1 controls */
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
					   "%s: %s has a control character at byte %zu", path,
					   quote(s, q), i);
		i += n;
	}
	if (strcmp(s, "manifest.json") == 0 || strcmp(s, "manifest.json.sig") == 0)
		return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
				   "%s: %s is reserved for the bundle's own manifest files", path,
				   quote(s, q));
	return 0;
}

/* ---- JSON access ---- */

/*
 * Collects the members of obj into items[] by names[], rejecting unknown and duplicate keys
 * (cJSON keeps duplicates as separate members; the first would silently win otherwise).
 */
static int get_members(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
		       const char *const names[], size_t n, const cJSON *items[])
{
	char q[QUOTE_MAX], fp[FIELD_PATH_MAX];

	if (!cJSON_IsObject(obj))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected an object, got %s",
				   path[0] ? path : "top level", json_type(obj));
	for (size_t k = 0; k < n; k++)
		items[k] = NULL;
	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t k;

		if (!c->string)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: member without a key",
					   path[0] ? path : "top level");
		for (k = 0; k < n && strcmp(c->string, names[k]) != 0; k++)
			;
		if (k == n)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: unknown key %s",
					   path[0] ? path : "top level", quote(c->string, q));
		if (items[k])
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: duplicate key",
					   field_path(fp, path, names[k]));
		items[k] = c;
	}
	return 0;
}

static int get_string(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, const char **ret)
{
	if (!item)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: missing", path);
	if (!cJSON_IsString(item) || !item->valuestring)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected a string, got %s", path,
				   json_type(item));
	*ret = item->valuestring;
	return 0;
}

/* A non-negative integer; the caller checks the range with its own message. */
static int get_uint(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, uint64_t *ret)
{
	double d;

	if (!item)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: missing", path);
	if (!cJSON_IsNumber(item))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected an integer, got %s", path,
				   json_type(item));
	d = item->valuedouble;
	/* the range check first: converting an out-of-range double is undefined */
	if (!(d >= 0 && d <= JSON_INT_MAX) || d != (double)(uint64_t)d)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected a non-negative integer, got %.17g", path, d);
	*ret = (uint64_t)d;
	return 0;
}

/* "0x" and min_digits..max_digits hex digits. */
static int parse_hex(const char *s, size_t min_digits, size_t max_digits, uint32_t *ret)
{
	uint32_t v = 0;
	size_t n;

	if (s[0] != '0' || s[1] != 'x')
		return -1;
	for (n = 0; s[2 + n]; n++) {
		char c = s[2 + n];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return -1;
		if (n >= max_digits)
			return -1;
		v = v << 4 | d;
	}
	if (n < min_digits)
		return -1;
	*ret = v;
	return 0;
}

static int get_usb_id(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, uint16_t *ret)
{
	const char *s;
	char q[QUOTE_MAX];
	uint32_t v;
	int rc = get_string(ctx, item, path, &s);

	if (rc < 0)
		return rc;
	if (parse_hex(s, 4, 4, &v) < 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected \"0x\" and 4 hex digits, got %s", path,
				   quote(s, q));
	*ret = (uint16_t)v;
	return 0;
}

/* ---- parser ---- */

/*
 * cJSON decodes "\u0000" into a NUL inside keys and strings, which silently cuts them:
 * "app.bin\u0000/../x" would be checked as "app.bin" while the signed bytes say more. A raw NUL
 * is not JSON either. Both are rejected before cJSON sees the text.
 */
static int check_no_nul(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size)
{
	bool in_string = false;

	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\0')
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "manifest: NUL byte at byte %zu",
					   i);
		if (!in_string) {
			in_string = buf[i] == '"';
		} else if (buf[i] == '"') {
			in_string = false;
		} else if (buf[i] == '\\') {
			if (size - i > 5 && memcmp(buf + i + 1, "u0000", 5) == 0)
				return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
						   "manifest: \\u0000 in a string at byte %zu", i);
			i++; /* the escaped character cannot end the string */
		}
	}
	return 0;
}

static int parse_image(struct dfumgr_ctx *ctx, const cJSON *obj, size_t index,
		       struct dfumgr_manifest_image *mi)
{
	static const char *const names[] = {
	    "image",  "alt",     "file",         "size",
	    "sha256", "version", "load_address", "security_counter"};
	enum {
		K_IMAGE,
		K_ALT,
		K_FILE,
		K_SIZE,
		K_SHA256,
		K_VERSION,
		K_LOAD_ADDRESS,
		K_SEC_CNT,
		K_N
	};
	const cJSON *it[K_N];
	char path[FIELD_PATH_MAX], fp[FIELD_PATH_MAX], q[QUOTE_MAX];
	const char *s;
	uint64_t v;
	uint32_t addr;
	int rc;

	snprintf(path, sizeof(path), "images[%zu]", index);
	rc = get_members(ctx, obj, path, names, K_N, it);
	if (rc < 0)
		return rc;

	rc = get_uint(ctx, it[K_IMAGE], field_path(fp, path, "image"), &v);
	if (rc < 0)
		return rc;
	if (v >= DFUMGR_MANIFEST_IMAGES_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected 0 (internal flash) or 1 (QSPI), got %llu", fp,
				   (unsigned long long)v);
	mi->image = (uint8_t)v;

	rc = get_string(ctx, it[K_ALT], field_path(fp, path, "alt"), &s);
	if (rc < 0)
		return rc;
	rc = check_name(ctx, fp, s, DFUMGR_MANIFEST_ALT_MAX, ALT_EXTRA);
	if (rc < 0)
		return rc;
	memcpy(mi->alt, s, strlen(s) + 1);

	rc = get_string(ctx, it[K_FILE], field_path(fp, path, "file"), &s);
	if (rc < 0)
		return rc;
	rc = check_file_name(ctx, fp, s);
	if (rc < 0)
		return rc;
	memcpy(mi->file, s, strlen(s) + 1);

	rc = get_uint(ctx, it[K_SIZE], field_path(fp, path, "size"), &v);
	if (rc < 0)
		return rc;
	if (v == 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: must not be 0", fp);
	if (v > DFUMGR_MANIFEST_IMAGE_SIZE_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "%s: %llu bytes, more than the limit of %u", fp,
				   (unsigned long long)v, DFUMGR_MANIFEST_IMAGE_SIZE_MAX);
	mi->size = (uint32_t)v;

	rc = get_string(ctx, it[K_SHA256], field_path(fp, path, "sha256"), &s);
	if (rc < 0)
		return rc;
	if (strlen(s) != 2 * DFUMGR_SHA256_SIZE || dfumgr_unhex(s, mi->sha256, DFUMGR_SHA256_SIZE))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected 64 hex digits, got %zu characters: %s", fp,
				   strlen(s), quote(s, q));

	rc = get_string(ctx, it[K_VERSION], field_path(fp, path, "version"), &s);
	if (rc < 0)
		return rc;
	if (dfumgr_version_parse(s, &mi->version) < 0)
		return dfumgr_fail(
		    ctx, DFUMGR_E_FORMAT,
		    "%s: expected an MCUboot version (major[.minor[.revision]][+build] "
		    "within 255.255.65535+4294967295), got %s",
		    fp, quote(s, q));

	if (it[K_LOAD_ADDRESS]) {
		rc = get_string(ctx, it[K_LOAD_ADDRESS], field_path(fp, path, "load_address"), &s);
		if (rc < 0)
			return rc;
		if (parse_hex(s, 1, 8, &addr) < 0)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s: expected \"0x\" and 1 to 8 hex digits, got %s", fp,
					   quote(s, q));
		mi->has_load_address = true;
		mi->load_address = addr;
	}
	if (it[K_SEC_CNT]) {
		rc = get_uint(ctx, it[K_SEC_CNT], field_path(fp, path, "security_counter"), &v);
		if (rc < 0)
			return rc;
		if (v > UINT32_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s: %llu does not fit MCUboot's 32-bit counter", fp,
					   (unsigned long long)v);
		mi->has_security_counter = true;
		mi->security_counter = (uint32_t)v;
	}
	return 0;
}

static int parse_root(struct dfumgr_ctx *ctx, const cJSON *root, struct dfumgr_manifest *m)
{
	static const char *const names[] = {"manifest_version", "product", "release", "device",
					    "images"};
	static const char *const device_names[] = {"vid", "pid"};
	enum { K_VERSION, K_PRODUCT, K_RELEASE, K_DEVICE, K_IMAGES, K_N };
	const cJSON *it[K_N], *dev[2];
	const char *s;
	uint64_t v;
	size_t n;
	int rc;

	if (!cJSON_IsObject(root))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "top level: expected an object, got %s",
				   json_type(root));
	/*
	 * The version before anything else: a newer manifest may carry keys this reader does not
	 * know, and "unsupported version" is then the message that helps.
	 */
	rc = get_uint(ctx, cJSON_GetObjectItemCaseSensitive(root, "manifest_version"),
		      "manifest_version", &v);
	if (rc < 0)
		return rc;
	if (v != DFUMGR_MANIFEST_VERSION)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "manifest_version: version %llu is not supported (this dfu-mgr "
				   "reads version %d)",
				   (unsigned long long)v, DFUMGR_MANIFEST_VERSION);
	m->manifest_version = (unsigned)v;

	rc = get_members(ctx, root, "", names, K_N, it);
	if (rc < 0)
		return rc;

	rc = get_string(ctx, it[K_PRODUCT], "product", &s);
	if (rc < 0)
		return rc;
	rc = check_name(ctx, "product", s, DFUMGR_MANIFEST_PRODUCT_MAX, PRODUCT_EXTRA);
	if (rc < 0)
		return rc;
	memcpy(m->product, s, strlen(s) + 1);

	rc = get_string(ctx, it[K_RELEASE], "release", &s);
	if (rc < 0)
		return rc;
	rc = check_name(ctx, "release", s, DFUMGR_MANIFEST_RELEASE_MAX, RELEASE_EXTRA);
	if (rc < 0)
		return rc;
	memcpy(m->release, s, strlen(s) + 1);

	if (!it[K_DEVICE])
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "device: missing");
	rc = get_members(ctx, it[K_DEVICE], "device", device_names, 2, dev);
	if (rc < 0)
		return rc;
	rc = get_usb_id(ctx, dev[0], "device.vid", &m->vid);
	if (rc < 0)
		return rc;
	rc = get_usb_id(ctx, dev[1], "device.pid", &m->pid);
	if (rc < 0)
		return rc;

	if (!it[K_IMAGES])
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "images: missing");
	if (!cJSON_IsArray(it[K_IMAGES]))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "images: expected an array, got %s",
				   json_type(it[K_IMAGES]));
	n = 0;
	for (const cJSON *c = it[K_IMAGES]->child; c; c = c->next) {
		if (n >= DFUMGR_MANIFEST_IMAGES_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "images: more than %d entries (a bundle holds image 0, "
					   "image 1 or the pair)",
					   DFUMGR_MANIFEST_IMAGES_MAX);
		rc = parse_image(ctx, c, n, &m->images[n]);
		if (rc < 0)
			return rc;
		n++;
	}
	if (n == 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "images: empty (expected 1 or 2 images)");
	m->n_images = n;
	return 0;
}

DFUMGR_EXPORT int dfumgr_manifest_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
					struct dfumgr_manifest *ret_manifest)
{
	struct dfumgr_manifest m;
	const char *end = NULL;
	cJSON *root = NULL;
	char *text = NULL;
	int rc;

	if (!buf || !ret_manifest)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_manifest_parse: NULL argument");
	if (size > DFUMGR_MANIFEST_SIZE_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "manifest: %zu bytes, more than the limit of %u", size,
				   DFUMGR_MANIFEST_SIZE_MAX);
	rc = check_no_nul(ctx, buf, size);
	if (rc < 0)
		return rc;
	/* cJSON's "nothing after the value" check wants the terminating NUL inside the length */
	text = malloc(size + 1);
	if (!text)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	memcpy(text, buf, size);
	text[size] = '\0';
	root = cJSON_ParseWithLengthOpts(text, size + 1, &end, true);
	if (!root) {
		size_t off = end && end >= text && end <= text + size ? (size_t)(end - text) : 0;
		size_t line = 1, col = 1;

		for (size_t i = 0; i < off; i++) {
			col++;
			if (text[i] == '\n')
				line++, col = 1;
		}
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				 "manifest: not valid JSON at line %zu, column %zu (byte %zu)",
				 line, col, off);
		goto out;
	}
	memset(&m, 0, sizeof(m));
	rc = parse_root(ctx, root, &m);
	if (rc < 0)
		goto out;
	/* the cross-entry rules (distinct image numbers, alts and files) */
	rc = dfumgr_manifest_validate(ctx, &m);
	if (rc < 0)
		goto out;
	memcpy(ret_manifest, &m, sizeof(m));
out:
	cJSON_Delete(root);
	free(text);
	return rc;
}

/* ---- validation of a manifest in memory ---- */

static int check_terminated(struct dfumgr_ctx *ctx, const char *path, const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: not NUL-terminated within %zu bytes",
				   path, cap - 1);
	return 0;
}

DFUMGR_EXPORT int dfumgr_manifest_validate(struct dfumgr_ctx *ctx, const struct dfumgr_manifest *m)
{
	char path[FIELD_PATH_MAX], q[QUOTE_MAX];
	int rc;

	if (!m)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_manifest_validate: NULL manifest");
	if (m->manifest_version != DFUMGR_MANIFEST_VERSION)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "manifest_version: version %u is not supported (this dfu-mgr "
				   "writes version %d)",
				   m->manifest_version, DFUMGR_MANIFEST_VERSION);
	rc = check_terminated(ctx, "product", m->product, sizeof(m->product));
	if (rc == 0)
		rc = check_name(ctx, "product", m->product, DFUMGR_MANIFEST_PRODUCT_MAX,
				PRODUCT_EXTRA);
	if (rc == 0)
		rc = check_terminated(ctx, "release", m->release, sizeof(m->release));
	if (rc == 0)
		rc = check_name(ctx, "release", m->release, DFUMGR_MANIFEST_RELEASE_MAX,
				RELEASE_EXTRA);
	if (rc < 0)
		return rc;
	if (m->n_images < 1 || m->n_images > DFUMGR_MANIFEST_IMAGES_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "images: %zu entries (expected 1 or 2)",
				   m->n_images);
	for (size_t i = 0; i < m->n_images; i++) {
		const struct dfumgr_manifest_image *mi = &m->images[i];
		char fp[FIELD_PATH_MAX];

		snprintf(path, sizeof(path), "images[%zu]", i);
		if (mi->image >= DFUMGR_MANIFEST_IMAGES_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s: expected 0 (internal flash) or 1 (QSPI), got %u",
					   field_path(fp, path, "image"), mi->image);
		rc = check_terminated(ctx, field_path(fp, path, "alt"), mi->alt, sizeof(mi->alt));
		if (rc == 0)
			rc = check_name(ctx, fp, mi->alt, DFUMGR_MANIFEST_ALT_MAX, ALT_EXTRA);
		if (rc < 0)
			return rc;
		rc =
		    check_terminated(ctx, field_path(fp, path, "file"), mi->file, sizeof(mi->file));
		if (rc < 0)
			return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
					   "%s: file name not NUL-terminated within %d bytes", fp,
					   DFUMGR_MANIFEST_FILE_MAX);
		rc = check_file_name(ctx, fp, mi->file);
		if (rc < 0)
			return rc;
		if (mi->size == 0)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: must not be 0",
					   field_path(fp, path, "size"));
		if (mi->size > DFUMGR_MANIFEST_IMAGE_SIZE_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
					   "%s: %" PRIu32 " bytes, more than the limit of %u",
					   field_path(fp, path, "size"), mi->size,
					   DFUMGR_MANIFEST_IMAGE_SIZE_MAX);
		for (size_t j = 0; j < i; j++) {
			const struct dfumgr_manifest_image *o = &m->images[j];

			if (o->image == mi->image)
				return dfumgr_fail(
				    ctx, DFUMGR_E_FORMAT,
				    "%s: image %u is listed twice (also images[%zu])",
				    field_path(fp, path, "image"), mi->image, j);
			if (strcmp(o->alt, mi->alt) == 0)
				return dfumgr_fail(
				    ctx, DFUMGR_E_FORMAT, "%s: %s is also the alt of images[%zu]",
				    field_path(fp, path, "alt"), quote(mi->alt, q), j);
			if (strcmp(o->file, mi->file) == 0)
				return dfumgr_fail(
				    ctx, DFUMGR_E_FORMAT, "%s: %s is also the file of images[%zu]",
				    field_path(fp, path, "file"), quote(mi->file, q), j);
		}
	}
	return 0;
}

/* ---- writer ---- */

struct strbuf {
	char *buf;
	size_t len, cap;
	int err; /* the first failure (positive code); later appends do nothing */
};

static void sb_append(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->err)
		return;
	if (sb->len + n + 1 > DFUMGR_MANIFEST_SIZE_MAX + 1) {
		sb->err = DFUMGR_E_TOOBIG;
		return;
	}
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 1024;
		char *p;

		while (cap < sb->len + n + 1)
			cap *= 2;
		p = realloc(sb->buf, cap);
		if (!p) {
			sb->err = DFUMGR_E_NOMEM;
			return;
		}
		sb->buf = p;
		sb->cap = cap;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* only short, fixed fields go through here; strings use sb_string() */
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		if (!sb->err)
			sb->err = DFUMGR_E_INVAL;
		return;
	}
	sb_append(sb, tmp, (size_t)n);
}

/* A JSON string literal; validated names contain no control characters, but stay correct anyway. */
static void sb_string(struct strbuf *sb, const char *s)
{
	sb_append(sb, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			sb_append(sb, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			sb_append(sb, esc, 6);
		} else {
			sb_append(sb, s, 1);
		}
	}
	sb_append(sb, "\"", 1);
}

static void sb_key_string(struct strbuf *sb, const char *indent, const char *key, const char *val,
			  bool last)
{
	sb_printf(sb, "%s\"%s\": ", indent, key);
	sb_string(sb, val);
	sb_append(sb, last ? "\n" : ",\n", last ? 1 : 2);
}

DFUMGR_EXPORT int dfumgr_manifest_serialize(struct dfumgr_ctx *ctx, const struct dfumgr_manifest *m,
					    char **ret_json, size_t *ret_size)
{
	struct strbuf sb = {0};
	char hex[2 * DFUMGR_SHA256_SIZE + 1], ver[DFUMGR_VERSION_STRING_MAX], num[16];
	int rc;

	if (!m || !ret_json || !ret_size)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_manifest_serialize: NULL argument");
	rc = dfumgr_manifest_validate(ctx, m);
	if (rc < 0)
		return rc;
	sb_printf(&sb, "{\n  \"manifest_version\": %u,\n", m->manifest_version);
	sb_key_string(&sb, "  ", "product", m->product, false);
	sb_key_string(&sb, "  ", "release", m->release, false);
	sb_printf(&sb, "  \"device\": {\n    \"vid\": \"0x%04x\",\n    \"pid\": \"0x%04x\"\n  },\n",
		  m->vid, m->pid);
	sb_printf(&sb, "  \"images\": [\n");
	for (size_t i = 0; i < m->n_images; i++) {
		const struct dfumgr_manifest_image *mi = &m->images[i];
		const char *in = "      ";

		sb_printf(&sb, "    {\n%s\"image\": %u,\n", in, mi->image);
		sb_key_string(&sb, in, "alt", mi->alt, false);
		sb_key_string(&sb, in, "file", mi->file, false);
		sb_printf(&sb, "%s\"size\": %" PRIu32 ",\n", in, mi->size);
		dfumgr_hex(mi->sha256, DFUMGR_SHA256_SIZE, hex);
		sb_key_string(&sb, in, "sha256", hex, false);
		sb_key_string(&sb, in, "version", dfumgr_version_format(&mi->version, ver),
			      !mi->has_load_address && !mi->has_security_counter);
		if (mi->has_load_address) {
			snprintf(num, sizeof(num), "0x%08" PRIx32, mi->load_address);
			sb_key_string(&sb, in, "load_address", num, !mi->has_security_counter);
		}
		if (mi->has_security_counter)
			sb_printf(&sb, "%s\"security_counter\": %" PRIu32 "\n", in,
				  mi->security_counter);
		sb_printf(&sb, "    }%s\n", i + 1 < m->n_images ? "," : "");
	}
	sb_printf(&sb, "  ]\n}\n");
	if (sb.err) {
		free(sb.buf);
		if (sb.err == DFUMGR_E_TOOBIG)
			return dfumgr_fail(ctx, sb.err, "manifest: more than %u bytes",
					   DFUMGR_MANIFEST_SIZE_MAX);
		return dfumgr_fail(ctx, sb.err, "manifest: cannot format: %s",
				   dfumgr_strerror(sb.err));
	}
	*ret_json = sb.buf;
	*ret_size = sb.len;
	return 0;
}

/* ---- lookup and comparison ---- */

DFUMGR_EXPORT const struct dfumgr_manifest_image *dfumgr_manifest_image(
    const struct dfumgr_manifest *m, unsigned image_number)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_images && i < DFUMGR_MANIFEST_IMAGES_MAX; i++)
		if (m->images[i].image == image_number)
			return &m->images[i];
	return NULL;
}

static bool image_equal(const struct dfumgr_manifest_image *a,
			const struct dfumgr_manifest_image *b)
{
	return a->image == b->image && strcmp(a->alt, b->alt) == 0 &&
	       strcmp(a->file, b->file) == 0 && a->size == b->size &&
	       memcmp(a->sha256, b->sha256, sizeof(a->sha256)) == 0 &&
	       dfumgr_version_cmp(&a->version, &b->version) == 0 &&
	       a->has_load_address == b->has_load_address &&
	       (!a->has_load_address || a->load_address == b->load_address) &&
	       a->has_security_counter == b->has_security_counter &&
	       (!a->has_security_counter || a->security_counter == b->security_counter);
}

DFUMGR_EXPORT bool dfumgr_manifest_equal(const struct dfumgr_manifest *a,
					 const struct dfumgr_manifest *b)
{
	if (!a || !b)
		return a == b;
	if (a->manifest_version != b->manifest_version || strcmp(a->product, b->product) != 0 ||
	    strcmp(a->release, b->release) != 0 || a->vid != b->vid || a->pid != b->pid ||
	    a->n_images != b->n_images || a->n_images > DFUMGR_MANIFEST_IMAGES_MAX)
		return false;
	for (size_t i = 0; i < a->n_images; i++)
		if (!image_equal(&a->images[i], &b->images[i]))
			return false;
	return true;
}

/* ---- detached signature ---- */

DFUMGR_EXPORT int dfumgr_manifest_sign(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				       const uint8_t *buf, size_t size,
				       uint8_t sig[static DFUMGR_ECDSA_SIG_MAX],
				       size_t *ret_sig_len)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];

	if (!key || !buf || !ret_sig_len)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_manifest_sign: NULL argument");
	dfumgr_sha256(buf, size, digest);
	return dfumgr_key_sign(ctx, key, digest, sig, DFUMGR_ECDSA_SIG_MAX, ret_sig_len);
}

DFUMGR_EXPORT int dfumgr_manifest_verify(struct dfumgr_ctx *ctx, const struct dfumgr_keyring *ring,
					 const uint8_t *buf, size_t size, const uint8_t *sig,
					 size_t sig_len, size_t *ret_key_index)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];

	if (!ring || !buf || !sig)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_manifest_verify: NULL argument");
	dfumgr_sha256(buf, size, digest);
	return dfumgr_keyring_verify(ctx, ring, digest, sig, sig_len, ret_key_index);
}

/* ---- the same name rules for the formats that carry manifest fields (the release feed) ---- */

int dfumgr_check_product(struct dfumgr_ctx *ctx, const char *path, const char *s)
{
	return check_name(ctx, path, s, DFUMGR_MANIFEST_PRODUCT_MAX, PRODUCT_EXTRA);
}

int dfumgr_check_release(struct dfumgr_ctx *ctx, const char *path, const char *s)
{
	return check_name(ctx, path, s, DFUMGR_MANIFEST_RELEASE_MAX, RELEASE_EXTRA);
}

int dfumgr_check_file_name(struct dfumgr_ctx *ctx, const char *path, const char *s)
{
	return check_file_name(ctx, path, s);
}
