/* SPDX-License-Identifier: MIT */
/*
 * libdfumgr-fetch: bundles and release feeds over HTTPS (libcurl).
 *
 * A separate library, so that a process that only installs bundles (the daemon) never maps
 * libcurl and its TLS stack: link with -ldfumgr-fetch -ldfumgr (pkg-config libdfumgr-fetch).
 *
 * What it guarantees:
 * - HTTPS only, the server's certificate and name always verified (a CA file or directory may
 *   replace the system's CAs; there is no way to turn verification off); redirects only to
 *   https; proxies from the environment (https_proxy, no_proxy), as libcurl reads them.
 * - A bundle is fetched manifest first: manifest.json and its signature are checked against the
 *   trusted keys before any image is requested; each image streams into its SHA-256 as it
 *   arrives and must end with the signed size and hash. A transfer that sends more than it
 *   should is cut off at once.
 * - Files are staged in a staging directory on the destination's filesystem; a transfer cut
 *   short continues with an HTTP Range request (after the process died, the staged part is
 *   hashed once from disk). Only when every file verified is the bundle directory moved into
 *   the destination, by one rename(): nothing partial or unverified ever appears there.
 * - Temporary failures (connection refused or reset, timeouts, HTTP 408, 429, 5xx) are retried
 *   with exponential back-off and jitter; every wait is bounded and ends early on cancel.
 *
 * A fetcher is used by one thread at a time.
 */
#ifndef DFUMGR_FETCH_H
#define DFUMGR_FETCH_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"
#include "dfumgr/feed.h"
#include "dfumgr/keyring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What is being transferred, for progress displays. */
enum dfumgr_fetch_item {
	DFUMGR_FETCH_ITEM_FEED = 0,
	DFUMGR_FETCH_ITEM_SIGNATURE = 1, /* feed.json.sig or manifest.json.sig */
	DFUMGR_FETCH_ITEM_MANIFEST = 2,
	DFUMGR_FETCH_ITEM_IMAGE = 3,
};

struct dfumgr_fetch_progress {
	enum dfumgr_fetch_item item;
	const char *name;      /* the file name, e.g. "qspi.bin" */
	uint64_t done;         /* bytes of the file held now, staged bytes included */
	uint64_t total;        /* its size when known, else 0 */
	uint64_t resumed_from; /* bytes that were already staged when this transfer began */
	unsigned attempt;      /* 1 for the first try */
};

typedef void (*dfumgr_fetch_progress_fn)(void *user, const struct dfumgr_fetch_progress *p);

/* Options; fill with dfumgr_fetch_opts_init(), then change what differs. */
struct dfumgr_fetch_opts {
	size_t size;         /* sizeof(struct dfumgr_fetch_opts) */
	const char *ca_file; /* PEM file of CAs to trust instead of the system's; NULL: system */
	const char *ca_path; /* directory of hashed CA certificates (openssl rehash) */
	unsigned connect_timeout_ms; /* TCP + TLS handshake (default 15000) */
	/* a transfer slower than low_speed_bytes per second for low_speed_time_ms is cut off
	 * and counts as a temporary failure (defaults 30000 ms, 100 bytes/s) */
	unsigned low_speed_time_ms;
	unsigned low_speed_bytes;
	unsigned retries;    /* more tries of a request after a temporary failure (default 4) */
	unsigned backoff_ms; /* the first wait before a retry (default 1000); doubles each time */
	unsigned backoff_max_ms; /* the longest wait, also for a server's Retry-After (60000) */
	uint64_t feed_size_max;  /* bytes of a feed (default and at most DFUMGR_FEED_SIZE_MAX) */
	/* bytes of one image file (default and at most DFUMGR_MANIFEST_IMAGE_SIZE_MAX) */
	uint64_t file_size_max;
	dfumgr_fetch_progress_fn progress; /* may be NULL; called at most about 10 times a second */
	void *user;
	const volatile int *cancel; /* non-zero: stop at the next chance with -DFUMGR_E_CANCELLED */
};

/* Sets the defaults above. */
DFUMGR_EXPORT void dfumgr_fetch_opts_init(struct dfumgr_fetch_opts *opts);

struct dfumgr_fetcher;

/*
 * A new fetcher with a copy of opts (its strings must outlive the fetcher). It keeps one
 * connection cache, so requests to the same server reuse their connection.
 * Errors: -DFUMGR_E_INVAL (bad options), -DFUMGR_E_NOMEM, -DFUMGR_E_UNSUPPORTED (libcurl
 * without HTTPS). Free with dfumgr_fetcher_free().
 */
DFUMGR_EXPORT int dfumgr_fetcher_new(struct dfumgr_ctx *ctx, const struct dfumgr_fetch_opts *opts,
				     struct dfumgr_fetcher **ret_fetcher);
/* Accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_fetcher *dfumgr_fetcher_free(struct dfumgr_fetcher *f);
/* The libcurl version and TLS library, e.g. "libcurl/7.88.1 OpenSSL/3.0.11". */
DFUMGR_EXPORT const char *dfumgr_fetch_backend_version(void);

/* What a feed fetch found. */
struct dfumgr_fetch_feed_info {
	/* where the feed came from after redirects: relative bundle URLs resolve against it */
	char url[DFUMGR_FEED_URL_MAX + 1];
	bool not_modified; /* the server said 304: the cached copy was used */
	bool from_cache;   /* the feed in hand is the cached copy (304) */
	uint64_t sequence; /* of the feed accepted */
	uint64_t bytes;    /* body bytes received */
	char signer[256];  /* file name of the trusted key that verified the feed */
};

/*
 * Fetches the feed at url (https) and its signature (url + ".sig"), verifies the signature
 * against ring and parses it. With cache_path, the request is conditional on the cached copy's
 * ETag / Last-Modified; a 304 answer re-verifies and uses the cached copy; a new feed whose
 * sequence is lower than the cached one is refused (-DFUMGR_E_DOWNGRADE); an accepted new feed
 * replaces the cache atomically. A cache that cannot be read is ignored (with a warning).
 * *ret_feed is written only on success (free with dfumgr_feed_free()); info may be NULL.
 * Errors: -DFUMGR_E_NETWORK, -DFUMGR_E_TIMEOUT, -DFUMGR_E_TLS, -DFUMGR_E_NOENT (HTTP 404/410),
 * -DFUMGR_E_ACCESS (401/403), -DFUMGR_E_HTTP (another status), -DFUMGR_E_TOOBIG (feed_size_max),
 * -DFUMGR_E_SIGNATURE, -DFUMGR_E_NOSIG, -DFUMGR_E_DOWNGRADE, errors of dfumgr_feed_parse(),
 * -DFUMGR_E_CANCELLED. The message names the URL.
 */
DFUMGR_EXPORT int dfumgr_fetch_feed(struct dfumgr_fetcher *f, const char *url,
				    const char *cache_path, const struct dfumgr_keyring *ring,
				    struct dfumgr_feed **ret_feed,
				    struct dfumgr_fetch_feed_info *ret_info);

/* What a bundle fetch did. */
struct dfumgr_fetch_result {
	char bundle[4096]; /* the bundle directory in the destination */
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	struct dfumgr_image_version version; /* the highest image version */
	uint8_t manifest_sha256[DFUMGR_SHA256_SIZE];
	char signer[256];          /* file name of the trusted key that verified the manifest */
	bool already_present;      /* the destination held this very bundle: nothing was moved */
	uint64_t bytes_total;      /* bytes of the bundle's image files */
	uint64_t bytes_downloaded; /* body bytes received by this call (all files, all tries) */
	uint64_t bytes_resumed;    /* bytes found staged by an earlier run, not fetched again */
	uint64_t bytes_rehashed;   /* staged bytes hashed from disk (once, after a restart) */
	unsigned requests;         /* HTTP requests made */
	unsigned retries;          /* of those, retries after a temporary failure */
	uint64_t elapsed_us;
};

/*
 * Fetches the bundle whose directory is at url (https; a trailing '/' is added when missing):
 * manifest.json and manifest.json.sig first, verified against ring, then each image the
 * manifest names. Files are staged in staging_dir/<manifest SHA-256>/ (staging_dir is created
 * if missing and must be on dest_dir's filesystem; a lock file in it keeps two fetches apart),
 * and the verified bundle is renamed to dest_dir/<product>-<release>. When dest_dir already has
 * that directory with the same manifest, nothing is fetched (already_present); with another
 * manifest it is -DFUMGR_E_EXISTS. Staged leftovers of other bundles are removed after a
 * delivery. result (may be NULL) is filled in on success and, as far as it got, on failure.
 * Errors: those of dfumgr_fetch_feed() for the transfers, -DFUMGR_E_HASH / -DFUMGR_E_MISMATCH
 * (an image is not what the signed manifest says; the staged file is removed), -DFUMGR_E_TOOBIG,
 * -DFUMGR_E_BUSY (another fetch holds the staging lock), -DFUMGR_E_EXISTS, -DFUMGR_E_IO,
 * -DFUMGR_E_INVAL (staging and destination on different filesystems).
 */
DFUMGR_EXPORT int dfumgr_fetch_bundle(struct dfumgr_fetcher *f, const char *url,
				      const struct dfumgr_keyring *ring, const char *staging_dir,
				      const char *dest_dir, struct dfumgr_fetch_result *result);

/*
 * As dfumgr_fetch_bundle(), for a release of a feed fetched from feed_url (its relative bundle
 * URLs are resolved against feed_url; mirrors are tried in order). The manifest must have the
 * size and SHA-256 the feed lists, and its signature (from the feed) must verify against ring;
 * the manifest must then agree with the release (dfumgr_feed_release_check()).
 */
DFUMGR_EXPORT int dfumgr_fetch_release(struct dfumgr_fetcher *f, const char *feed_url,
				       const struct dfumgr_feed_release *rel,
				       const struct dfumgr_keyring *ring, const char *staging_dir,
				       const char *dest_dir, struct dfumgr_fetch_result *result);

#ifdef __cplusplus
}
#endif
#endif
