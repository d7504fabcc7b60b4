/* SPDX-License-Identifier: MIT */
/*
 * The bundle manifest (dfu-mgr-manifest(5)): which MCUboot images make up a release, where each
 * one goes (image number and DFU alt-setting), its file, size, SHA-256 and version.
 *
 * The manifest is JSON, parsed strictly: unknown keys, duplicate keys, wrong types and values out
 * of range are errors whose message starts with the field's path ("images[1].sha256: ...").
 * A manifest is authenticated by a detached signature (manifest.json.sig): DER ECDSA P-256 over
 * the SHA-256 of the exact manifest bytes, checked against a keyring.
 */
#ifndef DFUMGR_MANIFEST_H
#define DFUMGR_MANIFEST_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"
#include "dfumgr/image.h"
#include "dfumgr/keyring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The only "manifest_version" this library reads and writes. */
#define DFUMGR_MANIFEST_VERSION 1

/* Hard limits; exceeding one gives the error named next to it. */
#define DFUMGR_MANIFEST_SIZE_MAX       (64u * 1024)        /* JSON bytes: TOOBIG */
#define DFUMGR_MANIFEST_PRODUCT_MAX    64                  /* bytes: TOOBIG */
#define DFUMGR_MANIFEST_RELEASE_MAX    64                  /* bytes: TOOBIG */
#define DFUMGR_MANIFEST_ALT_MAX        32                  /* bytes: TOOBIG */
#define DFUMGR_MANIFEST_FILE_MAX       128                 /* bytes: UNSAFE_PATH */
#define DFUMGR_MANIFEST_IMAGES_MAX     2                   /* image 0 and image 1: FORMAT */
#define DFUMGR_MANIFEST_IMAGE_SIZE_MAX (16u * 1024 * 1024) /* per image: TOOBIG */

/* One entry of "images". Strings are NUL-terminated; unused bytes are zero after parsing. */
struct dfumgr_manifest_image {
	uint8_t image;                           /* MCUboot image number: 0 or 1 */
	char alt[DFUMGR_MANIFEST_ALT_MAX + 1];   /* DFU alt-setting name, e.g. "image-0" */
	char file[DFUMGR_MANIFEST_FILE_MAX + 1]; /* plain file name inside the bundle */
	uint32_t size;                           /* bytes, 1 .. DFUMGR_MANIFEST_IMAGE_SIZE_MAX */
	uint8_t sha256[DFUMGR_SHA256_SIZE];      /* of the whole file */
	struct dfumgr_image_version version;     /* must equal the image header's version */
	bool has_load_address;
	uint32_t load_address; /* informational: where the code is linked (XIP), when present */
	/* MCUboot security counter of the image (its SEC_CNT TLV), when it has one: the host
	 * refuses to install an image whose counter is lower than the running one's */
	bool has_security_counter;
	uint32_t security_counter;
};

struct dfumgr_manifest {
	unsigned manifest_version; /* DFUMGR_MANIFEST_VERSION */
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	uint16_t vid;
	uint16_t pid;
	size_t n_images;                                                 /* 1 or 2 */
	struct dfumgr_manifest_image images[DFUMGR_MANIFEST_IMAGES_MAX]; /* in file order */
};

/*
 * Parses and validates a manifest of size bytes (need not be NUL-terminated). *ret_manifest is
 * written only on success; it holds no pointers, so there is nothing to free.
 * Errors: -DFUMGR_E_TOOBIG (over DFUMGR_MANIFEST_SIZE_MAX, or a string or size over its limit),
 * -DFUMGR_E_FORMAT (not JSON, a missing, unknown, duplicate or mistyped key, a bad value),
 * -DFUMGR_E_UNSUPPORTED (manifest_version is not 1), -DFUMGR_E_UNSAFE_PATH (a file name that is
 * not a plain name). The message starts with the field path, e.g. "images[1].file: ...".
 */
DFUMGR_EXPORT int dfumgr_manifest_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
					struct dfumgr_manifest *ret_manifest);

/*
 * Checks a manifest built in memory against the same rules as dfumgr_manifest_parse() (limits,
 * charsets, file names, image numbers, no duplicate image/alt/file). Returns 0 or the error
 * dfumgr_manifest_parse() would give for the same content.
 */
DFUMGR_EXPORT int dfumgr_manifest_validate(struct dfumgr_ctx *ctx, const struct dfumgr_manifest *m);

/*
 * Writes the manifest as JSON: keys in a fixed order, 2-space indent, trailing newline, so the
 * same manifest always gives the same bytes and dfumgr_manifest_parse() gives it back.
 * Validates first (see dfumgr_manifest_validate()). *ret_json is malloc'ed and NUL-terminated
 * (free() it); *ret_size excludes the NUL.
 */
DFUMGR_EXPORT int dfumgr_manifest_serialize(struct dfumgr_ctx *ctx, const struct dfumgr_manifest *m,
					    char **ret_json, size_t *ret_size);

/* The entry for MCUboot image image_number, or NULL when the manifest has none. */
DFUMGR_EXPORT const struct dfumgr_manifest_image *dfumgr_manifest_image(
    const struct dfumgr_manifest *m, unsigned image_number);

/* True when both manifests have the same content (string tails and padding are ignored). */
DFUMGR_EXPORT bool dfumgr_manifest_equal(const struct dfumgr_manifest *a,
					 const struct dfumgr_manifest *b);

/*
 * Signs the exact manifest bytes: DER ECDSA P-256 over their SHA-256, the content of
 * manifest.json.sig. sig must hold DFUMGR_ECDSA_SIG_MAX bytes; the length goes to *ret_sig_len.
 * Errors: -DFUMGR_E_INVAL (a public key), -DFUMGR_E_CRYPTO.
 */
DFUMGR_EXPORT int dfumgr_manifest_sign(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				       const uint8_t *buf, size_t size,
				       uint8_t sig[static DFUMGR_ECDSA_SIG_MAX],
				       size_t *ret_sig_len);

/*
 * Verifies a detached manifest signature against every key of ring; the index of the key that
 * verified goes to *ret_key_index (may be NULL).
 * Errors: -DFUMGR_E_SIGNATURE (no key verifies it; the message lists the keys tried),
 * -DFUMGR_E_NOSIG (the ring is empty).
 */
DFUMGR_EXPORT int dfumgr_manifest_verify(struct dfumgr_ctx *ctx, const struct dfumgr_keyring *ring,
					 const uint8_t *buf, size_t size, const uint8_t *sig,
					 size_t sig_len, size_t *ret_key_index);

#ifdef __cplusplus
}
#endif
#endif
