/* SPDX-License-Identifier: MIT */
/* Strict JSON reading helpers over cJSON (see json.h). */
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

const char *dfumgr_json_quote(const char *s, char out[static DFUMGR_JSON_QUOTE_MAX])
{
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		/* room for one escape, "...", the closing quote and the NUL */
		if (o + 4 + 3 + 2 > DFUMGR_JSON_QUOTE_MAX) {
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

const char *dfumgr_json_type(const cJSON *item)
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

const char *dfumgr_json_path(char buf[static DFUMGR_JSON_PATH_MAX], const char *parent,
			     const char *name)
{
	size_t n = 0;

	for (const char *p = parent; *p && n < DFUMGR_JSON_PATH_MAX - 1; p++)
		buf[n++] = *p;
	if (parent[0] && n < DFUMGR_JSON_PATH_MAX - 1)
		buf[n++] = '.';
	for (const char *p = name; *p && n < DFUMGR_JSON_PATH_MAX - 1; p++)
		buf[n++] = *p;
	buf[n] = '\0';
	return buf;
}

const char *dfumgr_json_index(char buf[static DFUMGR_JSON_PATH_MAX], const char *parent,
			      size_t index)
{
	int n = snprintf(buf, DFUMGR_JSON_PATH_MAX, "%s[%zu]", parent, index);

	if (n < 0)
		buf[0] = '\0';
	return buf;
}

static int check_no_nul(struct dfumgr_ctx *ctx, const char *what, const uint8_t *buf, size_t size)
{
	bool in_string = false;

	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\0')
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: NUL byte at byte %zu", what,
					   i);
		/* RFC 8259: the only control characters are whitespace outside strings */
		if (buf[i] < 0x20 && (in_string || !strchr("\t\n\r", buf[i])))
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s: control character 0x%02x at byte %zu", what, buf[i],
					   i);
		if (!in_string) {
			in_string = buf[i] == '"';
		} else if (buf[i] == '"') {
			in_string = false;
		} else if (buf[i] == '\\') {
			if (size - i > 5 && memcmp(buf + i + 1, "u0000", 5) == 0)
				return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
						   "%s: \\u0000 in a string at byte %zu", what, i);
			i++; /* the escaped character cannot end the string */
		}
	}
	return 0;
}

int dfumgr_json_parse(struct dfumgr_ctx *ctx, const char *what, const uint8_t *buf, size_t size,
		      cJSON **ret_root)
{
	const char *end = NULL;
	cJSON *root;
	char *text;
	int rc;

	rc = check_no_nul(ctx, what, buf, size);
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
		free(text);
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: not valid JSON at line %zu, column %zu (byte %zu)", what,
				   line, col, off);
	}
	free(text);
	*ret_root = root;
	return 0;
}

int dfumgr_json_members(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
			const char *const names[], size_t n, const cJSON *items[])
{
	char q[DFUMGR_JSON_QUOTE_MAX], fp[DFUMGR_JSON_PATH_MAX];
	const char *show = path[0] ? path : "top level";

	if (!obj)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: missing", show);
	if (!cJSON_IsObject(obj))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected an object, got %s", show,
				   dfumgr_json_type(obj));
	for (size_t k = 0; k < n; k++)
		items[k] = NULL;
	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t k;

		if (!c->string)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: member without a key", show);
		for (k = 0; k < n && strcmp(c->string, names[k]) != 0; k++)
			;
		if (k == n)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: unknown key %s", show,
					   dfumgr_json_quote(c->string, q));
		if (items[k])
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: duplicate key",
					   dfumgr_json_path(fp, path, names[k]));
		items[k] = c;
	}
	return 0;
}

int dfumgr_json_string(struct dfumgr_ctx *ctx, const cJSON *item, const char *path,
		       const char **ret)
{
	if (!item)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: missing", path);
	if (!cJSON_IsString(item) || !item->valuestring)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected a string, got %s", path,
				   dfumgr_json_type(item));
	*ret = item->valuestring;
	return 0;
}

int dfumgr_json_uint(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, uint64_t max,
		     uint64_t *ret)
{
	double d;

	if (!item)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: missing", path);
	if (!cJSON_IsNumber(item))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected an integer, got %s", path,
				   dfumgr_json_type(item));
	d = item->valuedouble;
	/* the range check first: converting an out-of-range double is undefined */
	if (!(d >= 0 && d <= (double)DFUMGR_JSON_INT_MAX) || d != (double)(uint64_t)d)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected a non-negative integer, got %.17g", path, d);
	if ((uint64_t)d > max)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: %llu, more than the limit of %llu",
				   path, (unsigned long long)d, (unsigned long long)max);
	*ret = (uint64_t)d;
	return 0;
}

int dfumgr_json_hex(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, uint8_t *out,
		    size_t n)
{
	char q[DFUMGR_JSON_QUOTE_MAX];
	const char *s;
	int rc = dfumgr_json_string(ctx, item, path, &s);

	if (rc < 0)
		return rc;
	if (strlen(s) != 2 * n || dfumgr_unhex(s, out, n) < 0)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s: expected %zu hex digits, got %zu characters: %s", path,
				   2 * n, strlen(s), dfumgr_json_quote(s, q));
	return 0;
}

int dfumgr_json_array(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, size_t min,
		      size_t max, size_t *ret_n)
{
	size_t n = 0;

	if (!item)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: missing", path);
	if (!cJSON_IsArray(item))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: expected an array, got %s", path,
				   dfumgr_json_type(item));
	for (const cJSON *c = item->child; c; c = c->next)
		if (++n > max)
			return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
					   "%s: more than the limit of %zu entries", path, max);
	if (n < min)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: %zu entries, expected at least %zu",
				   path, n, min);
	*ret_n = n;
	return 0;
}

int dfumgr_json_print(struct dfumgr_ctx *ctx, const char *what, const cJSON *root, size_t max,
		      char **ret_text, size_t *ret_size)
{
	char *text = cJSON_Print(root), *out;
	size_t len;

	if (!text)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "%s: cannot format: out of memory", what);
	len = strlen(text);
	if (len + 1 > max) {
		cJSON_free(text);
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
				   "%s: %zu bytes, more than the limit of %zu", what, len + 1, max);
	}
	/* a copy in our own allocator, with the final newline text files have */
	out = malloc(len + 2);
	if (!out) {
		cJSON_free(text);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	memcpy(out, text, len);
	out[len] = '\n';
	out[len + 1] = '\0';
	cJSON_free(text);
	*ret_text = out;
	*ret_size = len + 1;
	return 0;
}
