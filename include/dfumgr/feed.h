/* SPDX-License-Identifier: MIT */
/*
 * The release feed (dfu-mgr-feed(5)): a signed JSON list of the releases of one or more
 * products, each with the URL(s) of its bundle directory, the size, SHA-256 and signature of
 * its manifest, and the size and SHA-256 of each image file. A team publishes it with the
 * bundles on any static HTTPS server; `dfu-mgr fetch` reads it (libdfumgr-fetch, fetch.h).
 *
 * The feed is authenticated by a detached signature (feed.json.sig), made as manifest.json.sig
 * is: DER ECDSA P-256 over the SHA-256 of the exact feed bytes, checked against a keyring.
 * Its "sequence" grows with every publication, so a reader that remembers the last one it
 * accepted can refuse an older feed replayed to it.
 *
 * This part of the library does no networking and does not link libcurl.
 */
#ifndef DFUMGR_FEED_H
#define DFUMGR_FEED_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"
#include "dfumgr/image.h"
#include "dfumgr/keyring.h"
#include "dfumgr/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The only "feed_version" this library reads and writes. */
#define DFUMGR_FEED_VERSION 1

/* Hard limits; exceeding one gives -DFUMGR_E_TOOBIG. */
#define DFUMGR_FEED_SIZE_MAX     (1024u * 1024) /* feed JSON bytes */
#define DFUMGR_FEED_PRODUCTS_MAX 64
#define DFUMGR_FEED_RELEASES_MAX 256 /* per product */
#define DFUMGR_FEED_URLS_MAX     4   /* mirrors of one bundle */
#define DFUMGR_FEED_URL_MAX      1024
/* "sequence" stays below 10^15: cJSON writes larger numbers with 15 significant digits only */
#define DFUMGR_FEED_SEQUENCE_MAX 999999999999999ull

/* One image file of a release, as the release's manifest lists it. */
struct dfumgr_feed_file {
	char file[DFUMGR_MANIFEST_FILE_MAX + 1];
	uint32_t size;
	uint8_t sha256[DFUMGR_SHA256_SIZE];
};

/*
 * One release. Owned by its feed when returned by dfumgr_feed_get()/_find(); a caller that
 * builds one for dfumgr_feed_put() owns its strings (the feed copies them).
 */
struct dfumgr_feed_release {
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	struct dfumgr_image_version version; /* the highest image version of the bundle */
	size_t n_urls;                       /* 1 .. DFUMGR_FEED_URLS_MAX */
	/*
	 * The bundle directory: "https://..." or a reference relative to the feed's own URL
	 * (RFC 3986), ending in '/'. Mirrors, tried in order.
	 */
	const char *urls[DFUMGR_FEED_URLS_MAX];
	uint32_t manifest_size;                      /* bytes of manifest.json */
	uint8_t manifest_sha256[DFUMGR_SHA256_SIZE]; /* of manifest.json */
	uint8_t manifest_sig[DFUMGR_ECDSA_SIG_MAX];  /* the content of manifest.json.sig */
	size_t manifest_sig_len;
	size_t n_files; /* 1 .. DFUMGR_MANIFEST_IMAGES_MAX, in the manifest's order */
	struct dfumgr_feed_file files[DFUMGR_MANIFEST_IMAGES_MAX];
};

struct dfumgr_feed;

/* A new empty feed (sequence 0), or NULL when out of memory. Free with dfumgr_feed_free(). */
DFUMGR_EXPORT struct dfumgr_feed *dfumgr_feed_new(void);
/* Frees the feed and its releases; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_feed *dfumgr_feed_free(struct dfumgr_feed *feed);

/*
 * Parses and validates a feed of size bytes (need not be NUL-terminated), strictly: unknown,
 * duplicate and mistyped keys, values out of range, a product or a release listed twice are
 * errors whose message starts with the field path ("products[0].releases[1].urls[0]: ...").
 * Errors: -DFUMGR_E_TOOBIG (over DFUMGR_FEED_SIZE_MAX or another limit), -DFUMGR_E_FORMAT,
 * -DFUMGR_E_UNSUPPORTED (feed_version is not 1), -DFUMGR_E_UNSAFE_PATH (a file name that is not
 * a plain name). *ret_feed is written only on success; free it with dfumgr_feed_free().
 */
DFUMGR_EXPORT int dfumgr_feed_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				    struct dfumgr_feed **ret_feed);

/*
 * Writes the feed as JSON (cJSON's layout, products in order, a final newline); the same feed
 * always gives the same bytes and dfumgr_feed_parse() gives it back. *ret_json is malloc'ed and
 * NUL-terminated (free() it); *ret_size excludes the NUL. -DFUMGR_E_TOOBIG over
 * DFUMGR_FEED_SIZE_MAX.
 */
DFUMGR_EXPORT int dfumgr_feed_serialize(struct dfumgr_ctx *ctx, const struct dfumgr_feed *feed,
					char **ret_json, size_t *ret_size);

DFUMGR_EXPORT uint64_t dfumgr_feed_sequence(const struct dfumgr_feed *feed);
DFUMGR_EXPORT void dfumgr_feed_set_sequence(struct dfumgr_feed *feed, uint64_t sequence);
/* Number of releases (of all products). */
DFUMGR_EXPORT size_t dfumgr_feed_count(const struct dfumgr_feed *feed);
/* The release at index (< count), grouped by product in feed order; NULL past the end. */
DFUMGR_EXPORT const struct dfumgr_feed_release *dfumgr_feed_get(const struct dfumgr_feed *feed,
								size_t index);
/*
 * The release of product labelled release, or with release NULL the newest one: the highest
 * version, the later entry on a tie. NULL when there is none.
 */
DFUMGR_EXPORT const struct dfumgr_feed_release *dfumgr_feed_find(const struct dfumgr_feed *feed,
								 const char *product,
								 const char *release);
/* Number of distinct products; their names in feed order by index. */
DFUMGR_EXPORT size_t dfumgr_feed_products(const struct dfumgr_feed *feed);
DFUMGR_EXPORT const char *dfumgr_feed_product(const struct dfumgr_feed *feed, size_t index);

/*
 * Checks rel as dfumgr_feed_parse() would check it, then adds it, or replaces the release of
 * the same product and label. The product's releases are kept in version order. The strings of
 * rel are copied. Errors: those of the checks, -DFUMGR_E_TOOBIG, -DFUMGR_E_NOMEM.
 */
DFUMGR_EXPORT int dfumgr_feed_put(struct dfumgr_ctx *ctx, struct dfumgr_feed *feed,
				  const struct dfumgr_feed_release *rel);

/*
 * Checks that a release's manifest (already verified against its signature) is the one the
 * feed describes: product, release label, version (the highest image version) and the files
 * with their sizes and SHA-256. -DFUMGR_E_MISMATCH names the first difference.
 */
DFUMGR_EXPORT int dfumgr_feed_release_check(struct dfumgr_ctx *ctx,
					    const struct dfumgr_feed_release *rel,
					    const struct dfumgr_manifest *m);

/*
 * Signs / verifies the exact feed bytes (the content of feed.json.sig), as
 * dfumgr_manifest_sign() and dfumgr_manifest_verify() do for a manifest.
 */
DFUMGR_EXPORT int dfumgr_feed_sign(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				   const uint8_t *buf, size_t size,
				   uint8_t sig[static DFUMGR_ECDSA_SIG_MAX], size_t *ret_sig_len);
DFUMGR_EXPORT int dfumgr_feed_verify(struct dfumgr_ctx *ctx, const struct dfumgr_keyring *ring,
				     const uint8_t *buf, size_t size, const uint8_t *sig,
				     size_t sig_len, size_t *ret_key_index);

/*
 * Publishes the signed bundle in bundle_dir into the feed file feed_path (and its signature
 * feed_path + ".sig"), as `dfu-mgr publish` does:
 * - the bundle is opened and checked completely (dfumgr_bundle_open()); its manifest.json.sig
 *   must verify with a key of ring, or with key itself when ring is NULL;
 * - an existing feed must verify with key (a feed changed behind the publisher's back is not
 *   signed again); a missing feed_path starts a new feed;
 * - the release (product, label, version, the manifest's size, SHA-256 and signature, the
 *   files) is added or replaces the one with the same product and label; urls[0..n_urls) are its
 *   bundle URLs, each ending in '/' (n_urls 0: the bundle directory's name + "/", relative to
 *   the feed);
 * - the sequence grows by one; the feed is written atomically, then its signature.
 * The new sequence goes to *ret_sequence (may be NULL).
 * Errors: those of dfumgr_bundle_open(), dfumgr_feed_parse() and dfumgr_feed_put(),
 * -DFUMGR_E_SIGNATURE (the existing feed or the bundle's manifest does not verify),
 * -DFUMGR_E_NOSIG (the existing feed has no signature file), -DFUMGR_E_INVAL (a public key),
 * -DFUMGR_E_IO.
 */
DFUMGR_EXPORT int dfumgr_feed_publish(struct dfumgr_ctx *ctx, const char *feed_path,
				      const char *bundle_dir, const struct dfumgr_key *key,
				      const struct dfumgr_keyring *ring, const char *const urls[],
				      size_t n_urls, uint64_t *ret_sequence);

#ifdef __cplusplus
}
#endif
#endif
