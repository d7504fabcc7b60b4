/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 and ECDSA P-256 keys, as MCUboot and dfu-mgr manifests use them.
 * Keys are PEM or DER: a private key (PKCS#8 or SEC1) or a SubjectPublicKeyInfo public key.
 * Only NIST P-256 EC keys are accepted; other key types give -DFUMGR_E_UNSUPPORTED.
 */
#ifndef DFUMGR_CRYPTO_H
#define DFUMGR_CRYPTO_H

#include "dfumgr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_SHA256_SIZE 32
/* A DER ECDSA P-256 signature is at most 72 bytes (two 33-byte INTEGERs + headers). */
#define DFUMGR_ECDSA_SIG_MAX 72

/* One-shot SHA-256. */
DFUMGR_EXPORT void dfumgr_sha256(const void *data, size_t size,
				 uint8_t ret_digest[static DFUMGR_SHA256_SIZE]);

/* Incremental SHA-256. _new returns NULL on out of memory; _free accepts NULL, returns NULL. */
struct dfumgr_sha256;
DFUMGR_EXPORT struct dfumgr_sha256 *dfumgr_sha256_new(void);
DFUMGR_EXPORT void dfumgr_sha256_update(struct dfumgr_sha256 *h, const void *data, size_t size);
/* Writes the digest; the object may then be reused after dfumgr_sha256_reset(). */
DFUMGR_EXPORT void dfumgr_sha256_final(struct dfumgr_sha256 *h,
				       uint8_t ret_digest[static DFUMGR_SHA256_SIZE]);
DFUMGR_EXPORT void dfumgr_sha256_reset(struct dfumgr_sha256 *h);
DFUMGR_EXPORT struct dfumgr_sha256 *dfumgr_sha256_free(struct dfumgr_sha256 *h);

/* Constant-time comparison; returns true when equal. */
DFUMGR_EXPORT bool dfumgr_memeq_ct(const void *a, const void *b, size_t size);

struct dfumgr_key;

/* Loads a key from a PEM or DER file. Free with dfumgr_key_free(). */
DFUMGR_EXPORT int dfumgr_key_load(struct dfumgr_ctx *ctx, const char *path,
				  struct dfumgr_key **ret_key);
/* Loads a key from memory (PEM must be NUL-terminated; DER need not). */
DFUMGR_EXPORT int dfumgr_key_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				   struct dfumgr_key **ret_key);
/* Makes a new random P-256 private key. */
DFUMGR_EXPORT int dfumgr_key_generate(struct dfumgr_ctx *ctx, struct dfumgr_key **ret_key);
DFUMGR_EXPORT struct dfumgr_key *dfumgr_key_free(struct dfumgr_key *key);
DFUMGR_EXPORT bool dfumgr_key_is_private(const struct dfumgr_key *key);
/* The file the key was loaded from, or "" (for messages). */
DFUMGR_EXPORT const char *dfumgr_key_name(const struct dfumgr_key *key);
/* SHA-256 of the DER SubjectPublicKeyInfo: MCUboot's KEYHASH TLV. */
DFUMGR_EXPORT int dfumgr_key_hash(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				  uint8_t ret_hash[static DFUMGR_SHA256_SIZE]);
/*
 * PEM text of the public key, or of the private key when private is true (needs a private key).
 * *ret_pem is malloc'ed, NUL-terminated; free() it.
 */
DFUMGR_EXPORT int dfumgr_key_write_pem(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				       bool private_part, char **ret_pem);
/*
 * Signs a SHA-256 digest: DER ECDSA signature into sig (capacity cap, at least
 * DFUMGR_ECDSA_SIG_MAX), length in *ret_len. Needs a private key.
 */
DFUMGR_EXPORT int dfumgr_key_sign(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				  const uint8_t digest[static DFUMGR_SHA256_SIZE], uint8_t *sig,
				  size_t cap, size_t *ret_len);
/* Verifies a DER ECDSA signature over a SHA-256 digest: 0, or -DFUMGR_E_SIGNATURE. */
DFUMGR_EXPORT int dfumgr_key_verify(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				    const uint8_t digest[static DFUMGR_SHA256_SIZE],
				    const uint8_t *sig, size_t sig_len);

#ifdef __cplusplus
}
#endif
#endif
