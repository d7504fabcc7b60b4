/* SPDX-License-Identifier: MIT */
/* Error codes, their text, and the context that carries the detail of the last failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static const char *const err_text[DFUMGR_E_MAX] = {
    [DFUMGR_OK] = "success",
    [DFUMGR_E_INVAL] = "invalid argument",
    [DFUMGR_E_NOMEM] = "out of memory",
    [DFUMGR_E_IO] = "input/output error",
    [DFUMGR_E_NOENT] = "not found",
    [DFUMGR_E_FORMAT] = "malformed input",
    [DFUMGR_E_TRUNCATED] = "input is truncated",
    [DFUMGR_E_BADMAGIC] = "bad magic number",
    [DFUMGR_E_HASH] = "hash mismatch",
    [DFUMGR_E_SIGNATURE] = "signature does not verify",
    [DFUMGR_E_NOSIG] = "no signature for a trusted key",
    [DFUMGR_E_TOOBIG] = "size limit exceeded",
    [DFUMGR_E_NOFIT] = "image does not fit its slot",
    [DFUMGR_E_UNSUPPORTED] = "not supported",
    [DFUMGR_E_CRYPTO] = "cryptography error",
    [DFUMGR_E_UNSAFE_PATH] = "unsafe file name",
    [DFUMGR_E_MISMATCH] = "mismatch",
    [DFUMGR_E_EXISTS] = "already exists",
    [DFUMGR_E_NODEV] = "no such device",
    [DFUMGR_E_TIMEOUT] = "timed out",
    [DFUMGR_E_STALL] = "device stalled the request",
    [DFUMGR_E_DISCONNECTED] = "device disconnected",
    [DFUMGR_E_DFU_STATUS] = "device reported a DFU error",
    [DFUMGR_E_PROTOCOL] = "protocol error",
    [DFUMGR_E_BUSY] = "busy",
    [DFUMGR_E_CANCELLED] = "cancelled",
    [DFUMGR_E_DOWNGRADE] = "refusing to downgrade",
    [DFUMGR_E_ACCESS] = "permission denied",
    [DFUMGR_E_REFUSED] = "refused by the board's pair rule",
    [DFUMGR_E_PRODUCT] = "bundle for another product",
    [DFUMGR_E_NETWORK] = "network error",
    [DFUMGR_E_TLS] = "TLS error",
    [DFUMGR_E_HTTP] = "HTTP error",
    [DFUMGR_E_AMBIGUOUS] = "more than one device could be the board",
};

DFUMGR_EXPORT const char *dfumgr_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= DFUMGR_E_MAX || !err_text[err])
		return "unknown error";
	return err_text[err];
}

DFUMGR_EXPORT const char *dfumgr_version(void)
{
	return DFUMGR_VERSION_STRING;
}

DFUMGR_EXPORT struct dfumgr_ctx *dfumgr_ctx_new(void)
{
	return calloc(1, sizeof(struct dfumgr_ctx));
}

DFUMGR_EXPORT struct dfumgr_ctx *dfumgr_ctx_free(struct dfumgr_ctx *ctx)
{
	free(ctx);
	return NULL;
}

DFUMGR_EXPORT const char *dfumgr_ctx_errmsg(const struct dfumgr_ctx *ctx)
{
	return ctx ? ctx->errmsg : "";
}

DFUMGR_EXPORT int dfumgr_ctx_errcode(const struct dfumgr_ctx *ctx)
{
	return ctx ? ctx->errcode : 0;
}

DFUMGR_EXPORT void dfumgr_ctx_clear_error(struct dfumgr_ctx *ctx)
{
	if (!ctx)
		return;
	ctx->errcode = 0;
	ctx->errmsg[0] = '\0';
}

DFUMGR_EXPORT void dfumgr_ctx_set_log(struct dfumgr_ctx *ctx,
				      void (*fn)(void *userdata, enum dfumgr_log_level level,
						 const char *msg),
				      void *userdata)
{
	if (!ctx)
		return;
	ctx->log_fn = fn;
	ctx->log_userdata = userdata;
}

static int fail_v(struct dfumgr_ctx *ctx, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int fail_v(struct dfumgr_ctx *ctx, int err, const char *fmt, va_list ap)
{
	if (err < 0)
		err = -err;
	if (ctx) {
		ctx->errcode = err;
		vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	}
	return -err;
}

int dfumgr_fail(struct dfumgr_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_v(ctx, err, fmt, ap);
	va_end(ap);
	return rc;
}

DFUMGR_EXPORT int dfumgr_ctx_set_error(struct dfumgr_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_v(ctx, err, fmt, ap);
	va_end(ap);
	return rc;
}

static int prefix_v(struct dfumgr_ctx *ctx, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int prefix_v(struct dfumgr_ctx *ctx, int rc, const char *fmt, va_list ap)
{
	/* room for both parts; the result is cut to the context's buffer (truncation is fine) */
	char joined[2 * DFUMGR_ERRMSG_MAX + 4];
	size_t n;
	int w;

	if (!ctx)
		return rc;
	w = vsnprintf(joined, DFUMGR_ERRMSG_MAX, fmt, ap);
	n = w < 0 ? 0 : ((size_t)w >= DFUMGR_ERRMSG_MAX ? DFUMGR_ERRMSG_MAX - 1 : (size_t)w);
	memcpy(joined + n, ": ", 3);
	n += 2;
	/*
	 * A detail recorded for another error (a stale one, or none: a path that returned without
	 * setting one) is not this failure's: say only what the code means then.
	 */
	snprintf(joined + n, sizeof(joined) - n, "%s",
		 ctx->errmsg[0] && ctx->errcode == (rc < 0 ? -rc : rc) ? ctx->errmsg
								       : dfumgr_strerror(rc));
	memcpy(ctx->errmsg, joined, DFUMGR_ERRMSG_MAX - 1);
	ctx->errmsg[DFUMGR_ERRMSG_MAX - 1] = '\0';
	ctx->errcode = rc < 0 ? -rc : rc;
	return rc;
}

int dfumgr_fail_prefix(struct dfumgr_ctx *ctx, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = prefix_v(ctx, rc, fmt, ap);
	va_end(ap);
	return rc;
}

DFUMGR_EXPORT int dfumgr_ctx_prefix_error(struct dfumgr_ctx *ctx, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = prefix_v(ctx, rc, fmt, ap);
	va_end(ap);
	return rc;
}

static void log_v(struct dfumgr_ctx *ctx, enum dfumgr_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void log_v(struct dfumgr_ctx *ctx, enum dfumgr_log_level level, const char *fmt, va_list ap)
{
	char msg[DFUMGR_ERRMSG_MAX];

	if (!ctx || !ctx->log_fn)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	ctx->log_fn(ctx->log_userdata, level, msg);
}

void dfumgr_log(struct dfumgr_ctx *ctx, enum dfumgr_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(ctx, level, fmt, ap);
	va_end(ap);
}

DFUMGR_EXPORT void dfumgr_ctx_log(struct dfumgr_ctx *ctx, enum dfumgr_log_level level,
				  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(ctx, level, fmt, ap);
	va_end(ap);
}

int dfumgr_errno_to_err(int errnum)
{
	switch (errnum) {
	case ENOENT:
	case ENOTDIR:
		return DFUMGR_E_NOENT;
	case ENOMEM:
		return DFUMGR_E_NOMEM;
	case EACCES:
	case EPERM:
		return DFUMGR_E_ACCESS;
	case EEXIST:
		return DFUMGR_E_EXISTS;
	case ELOOP:
		return DFUMGR_E_UNSAFE_PATH;
	case EFBIG:
		return DFUMGR_E_TOOBIG;
	case ETIMEDOUT:
		return DFUMGR_E_TIMEOUT;
	default:
		return DFUMGR_E_IO;
	}
}

void dfumgr_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dfumgr_unhex(const char *in, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]);
		int lo = hi < 0 ? -1 : hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * n] == '\0' ? 0 : -1;
}

int dfumgr_sized_copy(struct dfumgr_ctx *ctx, void *dst, size_t dst_size, const void *src,
		      size_t min_size, const char *what)
{
	size_t size;

	memset(dst, 0, dst_size);
	*(size_t *)dst = dst_size;
	if (!src)
		return 0;
	memcpy(&size, src, sizeof(size));
	if (size < min_size)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "%s: size field %zu (set it to sizeof(struct %s), at least %zu)",
				   what, size, what, min_size);
	memcpy(dst, src, size < dst_size ? size : dst_size);
	*(size_t *)dst = dst_size;
	return 0;
}
