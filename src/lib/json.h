/* SPDX-License-Identifier: MIT */
/*
 * Strict reading of JSON documents with cJSON, shared by the formats that use it beside the
 * manifest (the release feed, the feed cache and the fetch state file): unknown, duplicate and
 * mistyped keys are errors whose message starts with the field's path. Not installed.
 */
#ifndef DFUMGR_JSON_H
#define DFUMGR_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "internal.h"

/* "products[12].releases[255].manifest.signature" and the like */
#define DFUMGR_JSON_PATH_MAX 96
/* a quoted, escaped excerpt of an untrusted string for an error message */
#define DFUMGR_JSON_QUOTE_MAX 64
/* the largest integer a double holds exactly: cJSON keeps numbers as doubles */
#define DFUMGR_JSON_INT_MAX 9007199254740992ull

/*
 * Parses size bytes of JSON text (need not be NUL-terminated). A raw NUL or a "\u0000" escape is
 * refused, because cJSON would cut a string there and let part of a signed text hide behind it;
 * so is any other control character but whitespace between tokens (cJSON would accept them).
 * what names the document in messages ("feed: not valid JSON at line 3, column 7 (byte 40)").
 * *ret_root is written only on success; free it with cJSON_Delete().
 */
int dfumgr_json_parse(struct dfumgr_ctx *ctx, const char *what, const uint8_t *buf, size_t size,
		      cJSON **ret_root);

/* s quoted, with everything outside printable ASCII escaped, cut to the buffer. */
const char *dfumgr_json_quote(const char *s, char out[static DFUMGR_JSON_QUOTE_MAX]);
/* "a string", "an object", ... for messages. */
const char *dfumgr_json_type(const cJSON *item);
/* "parent.name", or "name" at the top level. */
const char *dfumgr_json_path(char buf[static DFUMGR_JSON_PATH_MAX], const char *parent,
			     const char *name);

/* "parent[index]"; cut to the buffer (paths are short by design). */
const char *dfumgr_json_index(char buf[static DFUMGR_JSON_PATH_MAX], const char *parent,
			      size_t index);

/*
 * Collects the members of the object obj into items[] by names[]: a key not in names[] or one
 * that appears twice is an error (cJSON keeps duplicates, and the first would win silently).
 * Missing keys leave NULL. path names obj in messages ("" for the top level).
 */
int dfumgr_json_members(struct dfumgr_ctx *ctx, const cJSON *obj, const char *path,
			const char *const names[], size_t n, const cJSON *items[]);
/* A string (item NULL: "missing"). */
int dfumgr_json_string(struct dfumgr_ctx *ctx, const cJSON *item, const char *path,
		       const char **ret);
/* An integer in [0, max] (max at most DFUMGR_JSON_INT_MAX); over max is -DFUMGR_E_TOOBIG. */
int dfumgr_json_uint(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, uint64_t max,
		     uint64_t *ret);
/* A string of exactly 2n hex digits into out[n]. */
int dfumgr_json_hex(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, uint8_t *out,
		    size_t n);
/* An array (item NULL: "missing") of min to max entries; the count goes to *ret_n. */
int dfumgr_json_array(struct dfumgr_ctx *ctx, const cJSON *item, const char *path, size_t min,
		      size_t max, size_t *ret_n);

/*
 * Prints root as JSON text (cJSON's formatted layout, a final newline): *ret_text is malloc'ed
 * and NUL-terminated, *ret_size excludes the NUL. Over max bytes is -DFUMGR_E_TOOBIG; what names
 * the document in messages.
 */
int dfumgr_json_print(struct dfumgr_ctx *ctx, const char *what, const cJSON *root, size_t max,
		      char **ret_text, size_t *ret_size);

#endif
