/* SPDX-License-Identifier: MIT */
/*
 * libdfumgr: error codes, the library context and the export macro.
 *
 * Every fallible function returns an int: >= 0 on success (possibly a count), or a negative
 * enum dfumgr_err. The detail of the last failure (which file, field, byte offset) is kept in the
 * context and read with dfumgr_ctx_errmsg(). A context is used by one thread at a time.
 */
#ifndef DFUMGR_COMMON_H
#define DFUMGR_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DFUMGR_BUILDING_LIBRARY)
#define DFUMGR_EXPORT __attribute__((visibility("default")))
#else
#define DFUMGR_EXPORT
#endif

/* Stable values: they are part of the ABI and of the --json output. */
enum dfumgr_err {
	DFUMGR_OK = 0,
	DFUMGR_E_INVAL = 1,        /* bad argument from the caller */
	DFUMGR_E_NOMEM = 2,        /* out of memory */
	DFUMGR_E_IO = 3,           /* read/write/open failed (errno in the message) */
	DFUMGR_E_NOENT = 4,        /* file or object not found */
	DFUMGR_E_FORMAT = 5,       /* malformed input (field named in the message) */
	DFUMGR_E_TRUNCATED = 6,    /* input ends before a structure it declares */
	DFUMGR_E_BADMAGIC = 7,     /* a magic number is wrong: not the expected kind of file */
	DFUMGR_E_HASH = 8,         /* a SHA-256 does not match the content */
	DFUMGR_E_SIGNATURE = 9,    /* a signature is present but does not verify */
	DFUMGR_E_NOSIG = 10,       /* no signature that the given/trusted keys can check */
	DFUMGR_E_TOOBIG = 11,      /* a hard limit was exceeded */
	DFUMGR_E_NOFIT = 12,       /* an image does not fit its slot */
	DFUMGR_E_UNSUPPORTED = 13, /* valid but not supported (e.g. big-endian ELF, RSA key) */
	DFUMGR_E_CRYPTO = 14,      /* the crypto library failed */
	DFUMGR_E_UNSAFE_PATH = 15, /* a bundle file name leaves the bundle */
	DFUMGR_E_MISMATCH = 16,    /* two things that must agree do not (manifest vs image) */
	DFUMGR_E_EXISTS = 17,      /* refusing to overwrite */
	DFUMGR_E_NODEV = 18,       /* no matching device */
	DFUMGR_E_TIMEOUT = 19,
	DFUMGR_E_STALL = 20, /* the device stalled a request */
	DFUMGR_E_DISCONNECTED = 21,
	DFUMGR_E_DFU_STATUS = 22, /* the device reported a DFU error status */
	DFUMGR_E_PROTOCOL = 23,   /* the device broke the protocol */
	DFUMGR_E_BUSY = 24,
	DFUMGR_E_CANCELLED = 25,
	DFUMGR_E_DOWNGRADE = 26,
	DFUMGR_E_ACCESS = 27,  /* permission denied */
	DFUMGR_E_REFUSED = 28, /* the board refused the images under its pair rule */
	DFUMGR_E_PRODUCT = 29, /* the bundle is for another product than the board */
	/* cannot reach the server, or the connection broke (try again) */
	DFUMGR_E_NETWORK = 30,
	/* TLS failed: the server's certificate is not trusted, or is for another name */
	DFUMGR_E_TLS = 31,
	/* the server answered with an HTTP error status */
	DFUMGR_E_HTTP = 32,
	DFUMGR_E_AMBIGUOUS = 33, /* two or more devices could be the board: refused, not guessed */
	DFUMGR_E_MAX
};

/* Text for an error code; accepts the negative return value or the positive code. Never NULL. */
DFUMGR_EXPORT const char *dfumgr_strerror(int err);

/* Library version, e.g. "0.1.0". */
DFUMGR_EXPORT const char *dfumgr_version(void);

enum dfumgr_log_level {
	DFUMGR_LOG_ERROR = 3,
	DFUMGR_LOG_WARNING = 4,
	DFUMGR_LOG_INFO = 6,
	DFUMGR_LOG_DEBUG = 7,
};

struct dfumgr_ctx;

/* A new context, or NULL when out of memory. Free with dfumgr_ctx_free(). */
DFUMGR_EXPORT struct dfumgr_ctx *dfumgr_ctx_new(void);
/* Frees the context; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_ctx *dfumgr_ctx_free(struct dfumgr_ctx *ctx);
/*
 * The detail of the last failure in this context ("" if none). Valid until the next call that
 * uses the context. Functions accept a NULL context; they then keep no detail.
 */
DFUMGR_EXPORT const char *dfumgr_ctx_errmsg(const struct dfumgr_ctx *ctx);
/* The code of the last failure (positive), 0 if none. */
DFUMGR_EXPORT int dfumgr_ctx_errcode(const struct dfumgr_ctx *ctx);
/*
 * Records a failure in the context as the library does (for front ends that detect an error
 * themselves); returns -err so that it can be returned directly.
 */
DFUMGR_EXPORT int dfumgr_ctx_set_error(struct dfumgr_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Prepends "prefix: " to the detail of the last failure (for front ends and the libraries built
 * on libdfumgr, as the library does on the way up); returns rc so that it can be returned
 * directly. The code is kept; a context without detail gets the text of rc after the prefix.
 */
DFUMGR_EXPORT int dfumgr_ctx_prefix_error(struct dfumgr_ctx *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Hands a message to the context's log sink (see dfumgr_ctx_set_log()); nothing without one. */
DFUMGR_EXPORT void dfumgr_ctx_log(struct dfumgr_ctx *ctx, enum dfumgr_log_level level,
				  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Clears the last failure. */
DFUMGR_EXPORT void dfumgr_ctx_clear_error(struct dfumgr_ctx *ctx);
/*
 * Sets the log sink: the library never prints; it hands warnings and progress notes to fn.
 * fn is called from the thread that uses the context. NULL disables logging (the default).
 */
DFUMGR_EXPORT void dfumgr_ctx_set_log(struct dfumgr_ctx *ctx,
				      void (*fn)(void *userdata, enum dfumgr_log_level level,
						 const char *msg),
				      void *userdata);

/*
 * Reads a whole regular file (symlinks followed) of at most max_size bytes.
 * On success *ret_buf is malloc'ed (free() it) and *ret_size set.
 * Errors: -DFUMGR_E_NOENT, -DFUMGR_E_IO, -DFUMGR_E_TOOBIG, -DFUMGR_E_NOMEM.
 */
DFUMGR_EXPORT int dfumgr_file_read(struct dfumgr_ctx *ctx, const char *path, size_t max_size,
				   uint8_t **ret_buf, size_t *ret_size);
/*
 * Writes a file atomically: a temporary file in the same directory, fsync, rename, fsync of the
 * directory. An existing file is replaced only when overwrite is true (else -DFUMGR_E_EXISTS).
 */
DFUMGR_EXPORT int dfumgr_file_write(struct dfumgr_ctx *ctx, const char *path, const void *buf,
				    size_t size, bool overwrite);
/* The same with the file's mode (e.g. 0600 for a private key; 0644 above). */
DFUMGR_EXPORT int dfumgr_file_write_mode(struct dfumgr_ctx *ctx, const char *path, const void *buf,
					 size_t size, bool overwrite, unsigned mode);

#ifdef __cplusplus
}
#endif
#endif
