/* SPDX-License-Identifier: MIT */
/* Internal helpers shared by the library's files; not installed. */
#ifndef DFUMGR_INTERNAL_H
#define DFUMGR_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "dfumgr/common.h"

#define DFUMGR_ERRMSG_MAX 512
#define ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))

struct dfumgr_ctx {
	int errcode;
	char errmsg[DFUMGR_ERRMSG_MAX];
	void (*log_fn)(void *userdata, enum dfumgr_log_level level, const char *msg);
	void *log_userdata;
};

/* Records err (positive code) with a formatted detail; returns -err for `return dfumgr_fail(...)`.
 */
int dfumgr_fail(struct dfumgr_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the current detail, keeping the code; returns the (negative) rc. */
int dfumgr_fail_prefix(struct dfumgr_ctx *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dfumgr_log(struct dfumgr_ctx *ctx, enum dfumgr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* errno -> dfumgr error code (positive). */
int dfumgr_errno_to_err(int errnum);

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * Reads the whole regular file open on fd (and closes fd): at most max_size bytes, exactly
 * expect_size when >= 0 (-DFUMGR_E_MISMATCH). show names the file in messages.
 */
int dfumgr_file_read_fd(struct dfumgr_ctx *ctx, int fd, const char *show, size_t max_size,
			int64_t expect_size, uint8_t **ret_buf, size_t *ret_size);

/*
 * A caller's versioned struct (it starts with size_t size) into dst (dst_size bytes, zeroed
 * first): fields the caller's older struct lacks stay 0. -DFUMGR_E_INVAL when the size is below
 * min_size (the first version's) or not set. src NULL: dst is only zeroed (size set).
 */
int dfumgr_sized_copy(struct dfumgr_ctx *ctx, void *dst, size_t dst_size, const void *src,
		      size_t min_size, const char *what);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void dfumgr_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits; returns 0 or -1. */
int dfumgr_unhex(const char *in, uint8_t *out, size_t n);

/*
 * The manifest's rules (dfu-mgr-manifest(5)) for a product name, a release label and a bundle
 * file name, for the other formats that carry them; path names the field in the message.
 */
int dfumgr_check_product(struct dfumgr_ctx *ctx, const char *path, const char *s);
int dfumgr_check_release(struct dfumgr_ctx *ctx, const char *path, const char *s);
int dfumgr_check_file_name(struct dfumgr_ctx *ctx, const char *path, const char *s);

#endif
