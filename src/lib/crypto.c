/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 and ECDSA P-256 over mbedTLS. This is the only file that includes mbedTLS, so a move to
 * another crypto library (or to PSA on mbedTLS 3) touches nothing else.
 */
#include <stdlib.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "internal.h"
#include "dfumgr/crypto.h"

/* A key file larger than this is not a P-256 key. */
#define KEY_FILE_MAX 16384
/* Big enough for the DER of a P-256 SubjectPublicKeyInfo (91 bytes) or a SEC1 private key. */
#define KEY_DER_MAX 512

struct dfumgr_sha256 {
	mbedtls_sha256_context c;
};

struct dfumgr_key {
	mbedtls_pk_context pk;
	bool is_private;
	char name[256];
};

DFUMGR_EXPORT void dfumgr_sha256(const void *data, size_t size,
				 uint8_t ret_digest[static DFUMGR_SHA256_SIZE])
{
	/* Cannot fail for SHA-256 without hardware acceleration. */
	(void)mbedtls_sha256_ret(data, size, ret_digest, 0);
}

DFUMGR_EXPORT struct dfumgr_sha256 *dfumgr_sha256_new(void)
{
	struct dfumgr_sha256 *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	mbedtls_sha256_init(&h->c);
	(void)mbedtls_sha256_starts_ret(&h->c, 0);
	return h;
}

DFUMGR_EXPORT void dfumgr_sha256_update(struct dfumgr_sha256 *h, const void *data, size_t size)
{
	(void)mbedtls_sha256_update_ret(&h->c, data, size);
}

DFUMGR_EXPORT void dfumgr_sha256_final(struct dfumgr_sha256 *h,
				       uint8_t ret_digest[static DFUMGR_SHA256_SIZE])
{
	(void)mbedtls_sha256_finish_ret(&h->c, ret_digest);
}

DFUMGR_EXPORT void dfumgr_sha256_reset(struct dfumgr_sha256 *h)
{
	mbedtls_sha256_free(&h->c);
	mbedtls_sha256_init(&h->c);
	(void)mbedtls_sha256_starts_ret(&h->c, 0);
}

DFUMGR_EXPORT struct dfumgr_sha256 *dfumgr_sha256_free(struct dfumgr_sha256 *h)
{
	if (h) {
		mbedtls_sha256_free(&h->c);
		free(h);
	}
	return NULL;
}

DFUMGR_EXPORT bool dfumgr_memeq_ct(const void *a, const void *b, size_t size)
{
	const volatile uint8_t *pa = a, *pb = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < size; i++)
		diff |= pa[i] ^ pb[i];
	return diff == 0;
}

static int crypto_fail(struct dfumgr_ctx *ctx, int err, int mbed_rc, const char *what)
{
	char buf[128];

	mbedtls_strerror(mbed_rc, buf, sizeof(buf));
	return dfumgr_fail(ctx, err, "%s: %s (mbedTLS -0x%04x)", what, buf, (unsigned)-mbed_rc);
}

static struct dfumgr_key *key_alloc(void)
{
	struct dfumgr_key *key = calloc(1, sizeof(*key));

	if (key)
		mbedtls_pk_init(&key->pk);
	return key;
}

DFUMGR_EXPORT struct dfumgr_key *dfumgr_key_free(struct dfumgr_key *key)
{
	if (key) {
		mbedtls_pk_free(&key->pk);
		free(key);
	}
	return NULL;
}

static int key_check_p256(struct dfumgr_ctx *ctx, struct dfumgr_key *key)
{
	mbedtls_pk_type_t type = mbedtls_pk_get_type(&key->pk);

	if (type != MBEDTLS_PK_ECKEY && type != MBEDTLS_PK_ECKEY_DH && type != MBEDTLS_PK_ECDSA)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "key type %s is not supported (only ECDSA P-256)",
				   mbedtls_pk_get_name(&key->pk));
	if (mbedtls_pk_ec(key->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				   "EC key is not on curve P-256 (secp256r1)");
	return 0;
}

DFUMGR_EXPORT int dfumgr_key_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				   struct dfumgr_key **ret_key)
{
	struct dfumgr_key *key;
	uint8_t *copy = NULL;
	const uint8_t *in = buf;
	size_t in_size = size;
	int mrc, rc;

	if (!buf || !ret_key)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_parse: NULL argument");
	key = key_alloc();
	if (!key)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	/* mbedTLS wants PEM NUL-terminated with the NUL counted in the length */
	if (size >= 10 && memmem(buf, size, "-----BEGIN", 10)) {
		copy = malloc(size + 1);
		if (!copy) {
			rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto out;
		}
		memcpy(copy, buf, size);
		copy[size] = '\0';
		in = copy;
		in_size = size + 1;
	}
	mrc = mbedtls_pk_parse_key(&key->pk, in, in_size, NULL, 0);
	if (mrc == 0) {
		key->is_private = true;
	} else {
		mbedtls_pk_free(&key->pk);
		mbedtls_pk_init(&key->pk);
		mrc = mbedtls_pk_parse_public_key(&key->pk, in, in_size);
		if (mrc != 0) {
			rc = crypto_fail(ctx, DFUMGR_E_FORMAT, mrc,
					 "not a PEM/DER EC private or public key");
			goto out;
		}
	}
	rc = key_check_p256(ctx, key);
	if (rc < 0)
		goto out;
	*ret_key = key;
	key = NULL;
	rc = 0;
out:
	free(copy);
	dfumgr_key_free(key);
	return rc;
}

DFUMGR_EXPORT int dfumgr_key_load(struct dfumgr_ctx *ctx, const char *path,
				  struct dfumgr_key **ret_key)
{
	struct dfumgr_key *key = NULL;
	uint8_t *buf = NULL;
	size_t size = 0;
	int rc;

	if (!path || !ret_key)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_load: NULL argument");
	rc = dfumgr_file_read(ctx, path, KEY_FILE_MAX, &buf, &size);
	if (rc < 0)
		return rc;
	rc = dfumgr_key_parse(ctx, buf, size, &key);
	free(buf);
	if (rc < 0)
		return dfumgr_fail_prefix(ctx, rc, "%s", path);
	snprintf(key->name, sizeof(key->name), "%s", path);
	*ret_key = key;
	return 0;
}

/* A DRBG seeded from the system entropy source, for ECDSA nonces/blinding and key generation. */
struct rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

static int rng_init(struct dfumgr_ctx *ctx, struct rng *r)
{
	static const char pers[] = "dfu-mgr";
	int mrc;

	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
	mrc = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
				    (const unsigned char *)pers, sizeof(pers) - 1);
	if (mrc != 0)
		return crypto_fail(ctx, DFUMGR_E_CRYPTO, mrc, "cannot seed the random generator");
	return 0;
}

static void rng_done(struct rng *r)
{
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
}

DFUMGR_EXPORT int dfumgr_key_generate(struct dfumgr_ctx *ctx, struct dfumgr_key **ret_key)
{
	struct dfumgr_key *key;
	struct rng r;
	int mrc, rc;

	if (!ret_key)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_generate: NULL argument");
	key = key_alloc();
	if (!key)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	rc = rng_init(ctx, &r);
	if (rc < 0)
		goto out;
	mrc = mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (mrc == 0)
		mrc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key->pk),
					  mbedtls_ctr_drbg_random, &r.drbg);
	if (mrc != 0) {
		rc = crypto_fail(ctx, DFUMGR_E_CRYPTO, mrc, "cannot generate a P-256 key");
		goto out;
	}
	key->is_private = true;
	*ret_key = key;
	key = NULL;
	rc = 0;
out:
	rng_done(&r);
	dfumgr_key_free(key);
	return rc;
}

DFUMGR_EXPORT bool dfumgr_key_is_private(const struct dfumgr_key *key)
{
	return key && key->is_private;
}

DFUMGR_EXPORT const char *dfumgr_key_name(const struct dfumgr_key *key)
{
	return key ? key->name : "";
}

DFUMGR_EXPORT int dfumgr_key_hash(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				  uint8_t ret_hash[static DFUMGR_SHA256_SIZE])
{
	uint8_t der[KEY_DER_MAX];
	int n;

	if (!key)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_hash: NULL key");
	/* mbedTLS writes DER backwards, at the end of the buffer */
	n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&key->pk, der, sizeof(der));
	if (n < 0)
		return crypto_fail(ctx, DFUMGR_E_CRYPTO, n, "cannot encode the public key");
	dfumgr_sha256(der + sizeof(der) - (size_t)n, (size_t)n, ret_hash);
	return 0;
}

DFUMGR_EXPORT int dfumgr_key_write_pem(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				       bool private_part, char **ret_pem)
{
	char *pem;
	size_t cap = 1024;
	int mrc;

	if (!key || !ret_pem)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_write_pem: NULL argument");
	if (private_part && !key->is_private)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: not a private key", key->name);
	pem = calloc(1, cap);
	if (!pem)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	if (private_part)
		mrc = mbedtls_pk_write_key_pem((mbedtls_pk_context *)&key->pk, (unsigned char *)pem,
					       cap);
	else
		mrc = mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)&key->pk,
						  (unsigned char *)pem, cap);
	if (mrc != 0) {
		free(pem);
		return crypto_fail(ctx, DFUMGR_E_CRYPTO, mrc, "cannot encode the key as PEM");
	}
	*ret_pem = pem;
	return 0;
}

DFUMGR_EXPORT int dfumgr_key_sign(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				  const uint8_t digest[static DFUMGR_SHA256_SIZE], uint8_t *sig,
				  size_t cap, size_t *ret_len)
{
	uint8_t buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t len = 0;
	struct rng r;
	int mrc, rc;

	if (!key || !sig || !ret_len)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_sign: NULL argument");
	if (!key->is_private)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "%s: a public key cannot sign (give the private key)",
				   key->name);
	rc = rng_init(ctx, &r);
	if (rc < 0)
		goto out;
	mrc = mbedtls_pk_sign((mbedtls_pk_context *)&key->pk, MBEDTLS_MD_SHA256, digest,
			      DFUMGR_SHA256_SIZE, buf, &len, mbedtls_ctr_drbg_random, &r.drbg);
	if (mrc != 0) {
		rc = crypto_fail(ctx, DFUMGR_E_CRYPTO, mrc, "ECDSA signing failed");
		goto out;
	}
	if (len > cap) {
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL, "signature buffer too small (%zu < %zu)", cap,
				 len);
		goto out;
	}
	memcpy(sig, buf, len);
	*ret_len = len;
	rc = 0;
out:
	rng_done(&r);
	return rc;
}

DFUMGR_EXPORT int dfumgr_key_verify(struct dfumgr_ctx *ctx, const struct dfumgr_key *key,
				    const uint8_t digest[static DFUMGR_SHA256_SIZE],
				    const uint8_t *sig, size_t sig_len)
{
	int mrc;

	if (!key || (!sig && sig_len))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_key_verify: NULL argument");
	mrc = mbedtls_pk_verify((mbedtls_pk_context *)&key->pk, MBEDTLS_MD_SHA256, digest,
				DFUMGR_SHA256_SIZE, sig, sig_len);
	if (mrc != 0)
		return crypto_fail(ctx, DFUMGR_E_SIGNATURE, mrc, "ECDSA P-256 signature");
	return 0;
}
