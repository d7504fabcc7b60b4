/* SPDX-License-Identifier: MIT */
/*
 * The two files `dfu-mgr fetch` keeps between runs (dfu-mgr-feed(5)):
 *
 * - the state file: when it last ran, what came of it, and the last release it delivered into
 *   the incoming directory. The daemon reads it to show the last fetch and its result, without
 *   any networking code of its own;
 * - the feed cache: the last verified feed with its signature and the server's validators
 *   (ETag, Last-Modified), so that the next request is conditional and an older feed replayed
 *   by a server or a man in the middle is recognised by its sequence.
 *
 * Both are JSON, written atomically (a reader sees the old or the new file, never a mix). This
 * part of the library does no networking and does not link libcurl.
 */
#ifndef DFUMGR_FETCH_STATE_H
#define DFUMGR_FETCH_STATE_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"
#include "dfumgr/feed.h"
#include "dfumgr/image.h"
#include "dfumgr/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_FETCH_STATE_VERSION  1
#define DFUMGR_FETCH_STATE_SIZE_MAX (64u * 1024)
/* The largest validator (ETag, Last-Modified) kept; a longer one is not kept at all. */
#define DFUMGR_FEED_CACHE_VALIDATOR_MAX 256

/* What a fetch run came to. Stable values: they are part of the state file. */
enum dfumgr_fetch_outcome {
	DFUMGR_FETCH_DELIVERED = 0,  /* a new bundle was moved into the incoming directory */
	DFUMGR_FETCH_UP_TO_DATE = 1, /* nothing new: the newest release was delivered before */
	DFUMGR_FETCH_FAILED = 2,
	DFUMGR_FETCH_OUTCOME_COUNT
};

/* "delivered", "up-to-date", "failed" (the words of the state file); "unknown" otherwise. */
DFUMGR_EXPORT const char *dfumgr_fetch_outcome_name(enum dfumgr_fetch_outcome outcome);

/* The release a fetch run put into the incoming directory. */
struct dfumgr_fetch_delivery {
	int64_t time; /* seconds since the epoch (UTC) */
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	struct dfumgr_image_version version;
	uint8_t manifest_sha256[DFUMGR_SHA256_SIZE]; /* identifies the bundle */
	char bundle[4096];                           /* the directory it was moved to */
};

struct dfumgr_fetch_state {
	size_t size;  /* sizeof(struct dfumgr_fetch_state), set by the caller */
	int64_t time; /* when the run ended, seconds since the epoch (UTC) */
	enum dfumgr_fetch_outcome result;
	int error;                            /* FAILED: the positive enum dfumgr_err code */
	char message[512];                    /* FAILED: what went wrong, in words */
	char source[DFUMGR_FEED_URL_MAX + 1]; /* the feed or bundle URL fetched */
	bool has_sequence;
	uint64_t sequence; /* of the feed, when a feed was fetched */
	bool has_delivered;
	struct dfumgr_fetch_delivery delivered; /* the last delivery, kept across runs */
};

/*
 * Reads the state file at path into *ret_state (whose size member the caller sets; every other
 * member is written only on success).
 * Errors: -DFUMGR_E_NOENT (no state file: fetch never ran), -DFUMGR_E_FORMAT and
 * -DFUMGR_E_UNSUPPORTED (the message names the field), -DFUMGR_E_TOOBIG, -DFUMGR_E_IO,
 * -DFUMGR_E_INVAL (size too small).
 */
DFUMGR_EXPORT int dfumgr_fetch_state_load(struct dfumgr_ctx *ctx, const char *path,
					  struct dfumgr_fetch_state *ret_state);
/* Writes the state file atomically (mode 0644). Errors: -DFUMGR_E_INVAL, -DFUMGR_E_IO. */
DFUMGR_EXPORT int dfumgr_fetch_state_save(struct dfumgr_ctx *ctx, const char *path,
					  const struct dfumgr_fetch_state *state);

/* The cached copy of a verified feed. */
struct dfumgr_feed_cache {
	char url[DFUMGR_FEED_URL_MAX + 1];                       /* the feed's URL */
	char etag[DFUMGR_FEED_CACHE_VALIDATOR_MAX + 1];          /* "" when the server sent none */
	char last_modified[DFUMGR_FEED_CACHE_VALIDATOR_MAX + 1]; /* "" when the server sent none */
	uint8_t *feed;                                           /* the exact feed bytes, owned */
	size_t feed_size;
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX]; /* the feed's detached signature */
	size_t sig_len;
};

/*
 * Reads the cache file at path. *ret_cache is written only on success; release it with
 * dfumgr_feed_cache_done(). The feed in it is NOT verified here: check its signature before
 * trusting it. Errors: -DFUMGR_E_NOENT, -DFUMGR_E_FORMAT, -DFUMGR_E_UNSUPPORTED,
 * -DFUMGR_E_TOOBIG, -DFUMGR_E_IO.
 */
DFUMGR_EXPORT int dfumgr_feed_cache_load(struct dfumgr_ctx *ctx, const char *path,
					 struct dfumgr_feed_cache *ret_cache);
/* Writes the cache file atomically. A validator with characters outside printable ASCII is left
 * out (it is sent back in a request header). Errors: -DFUMGR_E_INVAL, -DFUMGR_E_TOOBIG,
 * -DFUMGR_E_IO. */
DFUMGR_EXPORT int dfumgr_feed_cache_save(struct dfumgr_ctx *ctx, const char *path,
					 const struct dfumgr_feed_cache *cache);
/* Frees the cache's feed bytes; the struct may be reused. Accepts NULL. */
DFUMGR_EXPORT void dfumgr_feed_cache_done(struct dfumgr_feed_cache *cache);
/* True when s may be sent back as a validator: 1 .. DFUMGR_FEED_CACHE_VALIDATOR_MAX bytes of
 * printable ASCII (no CR or LF that would end the header early). */
DFUMGR_EXPORT bool dfumgr_feed_cache_validator_ok(const char *s);

#ifdef __cplusplus
}
#endif
#endif
