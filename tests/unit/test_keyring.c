/* SPDX-License-Identifier: MIT */
/* Keyrings: loading key directories and files, and verifying with the keys in turn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/keyring.h"

static char *tmp;

static int setup(void **state)
{
	(void)state;
	tmp = test_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(tmp);
	free(tmp);
	tmp = NULL;
	return 0;
}

static const char *in_tmp(const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	return path;
}

static void put(const char *name, const void *buf, size_t size)
{
	assert_int_equal(dfumgr_file_write(NULL, in_tmp(name), buf, size, false), 0);
}

static void copy_data(const char *from, const char *to)
{
	size_t size;
	uint8_t *buf = test_read(from, &size);

	put(to, buf, size);
	free(buf);
}

static void expect_msg(struct dfumgr_ctx *ctx, const char *part)
{
	if (!strstr(dfumgr_ctx_errmsg(ctx), part))
		fail_msg("message \"%s\" does not contain \"%s\"", dfumgr_ctx_errmsg(ctx), part);
}

static void test_dir_loads_pem_and_der_in_name_order(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = NULL;
	uint8_t h0[32], h1[32], *want;
	size_t size;

	(void)state;
	copy_data("key-A-pub.pem", "b-key.pem");
	copy_data("key-A-pub.der", "a-key.der");
	/* not keys by name, hidden, or not regular files: skipped */
	put("README", "x", 1);
	put("notes.pem.txt", "x", 1);
	put(".old.pem", "garbage", 7);
	assert_int_equal(mkdir(in_tmp("sub.pem"), 0755), 0);
	assert_int_equal(symlink(test_data_path("key-A-pub.pem"), in_tmp("link.pem")), 0);

	assert_int_equal(dfumgr_keyring_load(ctx, tmp, &ring), 0);
	assert_int_equal(dfumgr_keyring_count(ring), 2);
	assert_non_null(strstr(dfumgr_key_name(dfumgr_keyring_key(ring, 0)), "/a-key.der"));
	assert_non_null(strstr(dfumgr_key_name(dfumgr_keyring_key(ring, 1)), "/b-key.pem"));
	assert_null(dfumgr_keyring_key(ring, 2));
	assert_ptr_equal(dfumgr_keyring_keys(ring)[1], dfumgr_keyring_key(ring, 1));
	want = test_read("key-A-pubhash.bin", &size);
	assert_int_equal(dfumgr_key_hash(ctx, dfumgr_keyring_key(ring, 0), h0), 0);
	assert_int_equal(dfumgr_key_hash(ctx, dfumgr_keyring_key(ring, 1), h1), 0);
	assert_memory_equal(h0, want, 32);
	assert_memory_equal(h1, want, 32);
	/* adding the directory again adds its keys again; count is the return value */
	assert_int_equal(dfumgr_keyring_add_dir(ctx, ring, tmp), 2);
	assert_int_equal(dfumgr_keyring_count(ring), 4);
	free(want);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

static void test_dir_without_keys(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = (struct dfumgr_keyring *)(uintptr_t)1;

	(void)state;
	put("README", "x", 1);
	assert_int_equal(symlink(test_data_path("key-A-pub.pem"), in_tmp("link.pem")), 0);
	assert_int_equal(dfumgr_keyring_load(ctx, tmp, &ring), -DFUMGR_E_NOENT);
	expect_msg(ctx, tmp);
	expect_msg(ctx, "no key file");
	assert_ptr_equal(ring, (struct dfumgr_keyring *)(uintptr_t)1);
	assert_int_equal(dfumgr_keyring_load(ctx, in_tmp("nonexistent"), &ring), -DFUMGR_E_NOENT);
	expect_msg(ctx, "nonexistent");
	dfumgr_ctx_free(ctx);
}

static void test_bad_key_file_names_the_file(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = dfumgr_keyring_new();
	static const char broken[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";

	(void)state;
	copy_data("key-A-pub.pem", "a.pem");
	put("broken.pem", broken, strlen(broken));
	assert_int_equal(dfumgr_keyring_add_dir(ctx, ring, tmp), -DFUMGR_E_FORMAT);
	expect_msg(ctx, "broken.pem");
	/* all or nothing: a.pem was not added either */
	assert_int_equal(dfumgr_keyring_count(ring), 0);
	assert_int_equal(dfumgr_keyring_add_file(ctx, ring, in_tmp("broken.pem")),
			 -DFUMGR_E_FORMAT);
	expect_msg(ctx, "broken.pem");
	assert_int_equal(dfumgr_keyring_add_file(ctx, ring, in_tmp("a.pem")), 0);
	assert_int_equal(dfumgr_keyring_count(ring), 1);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

static void test_limit(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = NULL;
	size_t size;
	uint8_t *der = test_read("key-A-pub.der", &size);
	char name[32];

	(void)state;
	for (int i = 0; i <= DFUMGR_KEYRING_MAX; i++) {
		snprintf(name, sizeof(name), "k%03d.der", i);
		put(name, der, size);
	}
	assert_int_equal(dfumgr_keyring_load(ctx, tmp, &ring), -DFUMGR_E_TOOBIG);
	expect_msg(ctx, "more than 64 key files");
	assert_int_equal(unlink(in_tmp("k000.der")), 0);
	assert_int_equal(dfumgr_keyring_load(ctx, tmp, &ring), 0);
	assert_int_equal(dfumgr_keyring_count(ring), DFUMGR_KEYRING_MAX);
	assert_int_equal(dfumgr_keyring_add_file(ctx, ring, test_data_path("key-A-pub.pem")),
			 -DFUMGR_E_TOOBIG);
	dfumgr_keyring_free(ring);
	free(der);
	dfumgr_ctx_free(ctx);
}

static void test_verify_tries_each_key(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = dfumgr_keyring_new();
	struct dfumgr_key *a = NULL, *g1 = NULL, *g2 = NULL;
	uint8_t digest[32], sig[DFUMGR_ECDSA_SIG_MAX];
	size_t len = 0, idx = 7;

	(void)state;
	dfumgr_sha256("manifest bytes", 14, digest);
	assert_int_equal(dfumgr_key_load(ctx, test_data_path("key-A.pem"), &a), 0);
	assert_int_equal(dfumgr_key_sign(ctx, a, digest, sig, sizeof(sig), &len), 0);
	assert_int_equal(dfumgr_key_generate(ctx, &g1), 0);
	assert_int_equal(dfumgr_key_generate(ctx, &g2), 0);
	assert_int_equal(dfumgr_keyring_verify(ctx, ring, digest, sig, len, &idx), -DFUMGR_E_NOSIG);
	assert_int_equal(dfumgr_keyring_add_key(ctx, ring, g1), 0);
	assert_int_equal(dfumgr_keyring_add_file(ctx, ring, test_data_path("key-A-pub.der")), 0);
	assert_int_equal(dfumgr_keyring_add_key(ctx, ring, g2), 0);
	assert_int_equal(dfumgr_keyring_verify(ctx, ring, digest, sig, len, &idx), 0);
	assert_int_equal(idx, 1);
	digest[3] ^= 0x10;
	idx = 7;
	assert_int_equal(dfumgr_keyring_verify(ctx, ring, digest, sig, len, &idx),
			 -DFUMGR_E_SIGNATURE);
	assert_int_equal(idx, 7);
	expect_msg(ctx, "3 trusted key(s) tried: key #0, key-A-pub.der, key #2");
	assert_int_equal(dfumgr_keyring_verify(ctx, NULL, digest, sig, len, &idx), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_keyring_add_key(ctx, ring, NULL), -DFUMGR_E_INVAL);
	assert_int_equal(dfumgr_keyring_count(NULL), 0);
	assert_null(dfumgr_keyring_keys(NULL));
	assert_null(dfumgr_keyring_free(NULL));
	dfumgr_key_free(a);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dir_loads_pem_and_der_in_name_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_dir_without_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_key_file_names_the_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_tries_each_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
