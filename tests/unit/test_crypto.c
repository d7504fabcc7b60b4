/* SPDX-License-Identifier: MIT */
/* SHA-256 and ECDSA P-256 keys against the vector key files made by imgtool/OpenSSL. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "dfumgr/crypto.h"
#include "internal.h"

static void test_sha256_known(void **state)
{
	uint8_t d[32];
	char hex[65];

	(void)state;
	dfumgr_sha256("abc", 3, d);
	dfumgr_hex(d, 32, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sha256_incremental_matches_oneshot(void **state)
{
	size_t size;
	uint8_t *buf = test_read("payload-int.bin", &size);
	struct dfumgr_sha256 *h = dfumgr_sha256_new();
	uint8_t a[32], b[32];
	char hex[65];

	(void)state;
	assert_non_null(h);
	for (size_t off = 0; off < size; off += 4096)
		dfumgr_sha256_update(h, buf + off, size - off < 4096 ? size - off : 4096);
	dfumgr_sha256_final(h, a);
	dfumgr_sha256(buf, size, b);
	assert_memory_equal(a, b, 32);
	dfumgr_hex(a, 32, hex);
	/* vectors.json: payload-int.bin sha256 */
	assert_string_equal(hex,
			    "060d672bbcd287cbccb04532eeaf9078dbf71d234e15eefd88eef36db0cbaac8");
	dfumgr_sha256_free(h);
	free(buf);
}

static void test_keyhash_matches_imgtool(void **state)
{
	static const char *const files[] = {"key-A.pem", "key-A-pub.pem", "key-A-pub.der"};
	size_t size;
	uint8_t *expect = test_read("key-A-pubhash.bin", &size);

	(void)state;
	assert_int_equal(size, 32);
	for (size_t i = 0; i < 3; i++) {
		struct dfumgr_ctx *ctx = dfumgr_ctx_new();
		struct dfumgr_key *key = NULL;
		uint8_t h[32];
		int rc = dfumgr_key_load(ctx, test_data_path(files[i]), &key);

		assert_int_equal(rc, 0);
		assert_int_equal(dfumgr_key_is_private(key), i == 0);
		assert_int_equal(dfumgr_key_hash(ctx, key, h), 0);
		assert_memory_equal(h, expect, 32);
		dfumgr_key_free(key);
		dfumgr_ctx_free(ctx);
	}
	free(expect);
}

static void test_sign_verify_roundtrip_and_other_key_fails(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_key *a = NULL, *pub = NULL, *other = NULL;
	uint8_t digest[32], sig[DFUMGR_ECDSA_SIG_MAX];
	size_t len = 0;

	(void)state;
	dfumgr_sha256("manifest", 8, digest);
	assert_int_equal(dfumgr_key_load(ctx, test_data_path("key-A.pem"), &a), 0);
	assert_int_equal(dfumgr_key_load(ctx, test_data_path("key-A-pub.pem"), &pub), 0);
	assert_int_equal(dfumgr_key_generate(ctx, &other), 0);
	assert_int_equal(dfumgr_key_sign(ctx, a, digest, sig, sizeof(sig), &len), 0);
	assert_in_range(len, 68, 72);
	assert_int_equal(dfumgr_key_verify(ctx, pub, digest, sig, len), 0);
	assert_int_equal(dfumgr_key_verify(ctx, other, digest, sig, len), -DFUMGR_E_SIGNATURE);
	digest[0] ^= 1;
	assert_int_equal(dfumgr_key_verify(ctx, pub, digest, sig, len), -DFUMGR_E_SIGNATURE);
	/* a public key cannot sign */
	assert_int_equal(dfumgr_key_sign(ctx, pub, digest, sig, sizeof(sig), &len),
			 -DFUMGR_E_INVAL);
	dfumgr_key_free(a);
	dfumgr_key_free(pub);
	dfumgr_key_free(other);
	dfumgr_ctx_free(ctx);
}

static void test_generated_key_pem_roundtrip(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_key *k = NULL, *back = NULL;
	uint8_t h1[32], h2[32];
	char *pem = NULL;

	(void)state;
	assert_int_equal(dfumgr_key_generate(ctx, &k), 0);
	assert_int_equal(dfumgr_key_write_pem(ctx, k, true, &pem), 0);
	assert_non_null(strstr(pem, "-----BEGIN EC PRIVATE KEY-----"));
	assert_int_equal(dfumgr_key_parse(ctx, (const uint8_t *)pem, strlen(pem), &back), 0);
	assert_true(dfumgr_key_is_private(back));
	assert_int_equal(dfumgr_key_hash(ctx, k, h1), 0);
	assert_int_equal(dfumgr_key_hash(ctx, back, h2), 0);
	assert_memory_equal(h1, h2, 32);
	free(pem);
	dfumgr_key_free(k);
	dfumgr_key_free(back);
	dfumgr_ctx_free(ctx);
}

static void test_bad_key_files(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_key *k = NULL;
	static const char rsa_like[] =
	    "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n";

	(void)state;
	assert_int_equal(dfumgr_key_parse(ctx, (const uint8_t *)"hello", 5, &k), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "not a PEM/DER EC"));
	assert_int_equal(dfumgr_key_parse(ctx, (const uint8_t *)rsa_like, sizeof(rsa_like) - 1, &k),
			 -DFUMGR_E_FORMAT);
	assert_int_equal(dfumgr_key_load(ctx, "/nonexistent/key.pem", &k), -DFUMGR_E_NOENT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "/nonexistent/key.pem"));
	assert_null(k);
	dfumgr_ctx_free(ctx);
}

static void test_memeq_ct(void **state)
{
	(void)state;
	assert_true(dfumgr_memeq_ct("abcd", "abcd", 4));
	assert_false(dfumgr_memeq_ct("abcd", "abce", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_known),
	    cmocka_unit_test(test_sha256_incremental_matches_oneshot),
	    cmocka_unit_test(test_keyhash_matches_imgtool),
	    cmocka_unit_test(test_sign_verify_roundtrip_and_other_key_fails),
	    cmocka_unit_test(test_generated_key_pem_roundtrip),
	    cmocka_unit_test(test_bad_key_files),
	    cmocka_unit_test(test_memeq_ct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
