/* SPDX-License-Identifier: MIT */
/*
 * Bundle directories built from the imgtool vectors: internal-signed.bin (image 0, depends on
 * image 1 >= 2.3.0+4) and extflash-signed.bin (image 1, 2.3.0+4), both signed with key-A.
 * Every check of dfumgr_bundle_open(), writing without leftovers, and re-signing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/bundle.h"

struct fx {
	char *tmp;
	char dir[4096]; /* tmp/bundle, not created yet */
	uint8_t *img[2];
	size_t size[2];
	struct dfumgr_manifest m;
	struct dfumgr_key *key;      /* key-A.pem */
	struct dfumgr_keyring *ring; /* key-A-pub.pem */
	struct dfumgr_ctx *ctx;
};

static void fill_entry(struct dfumgr_manifest_image *mi, unsigned image, const char *file,
		       const uint8_t *buf, size_t size, const char *version)
{
	memset(mi, 0, sizeof(*mi));
	mi->image = (uint8_t)image;
	snprintf(mi->alt, sizeof(mi->alt), "image-%u", image);
	snprintf(mi->file, sizeof(mi->file), "%s", file);
	mi->size = (uint32_t)size;
	dfumgr_sha256(buf, size, mi->sha256);
	assert_int_equal(dfumgr_version_parse(version, &mi->version), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->ctx = dfumgr_ctx_new();
	f->tmp = test_tmpdir();
	snprintf(f->dir, sizeof(f->dir), "%s/bundle", f->tmp);
	f->img[0] = test_read("internal-signed.bin", &f->size[0]);
	f->img[1] = test_read("extflash-signed.bin", &f->size[1]);
	assert_int_equal(dfumgr_key_load(f->ctx, test_data_path("key-A.pem"), &f->key), 0);
	assert_int_equal(dfumgr_keyring_load(f->ctx, test_data_path("key-A-pub.pem"), &f->ring), 0);
	f->m.manifest_version = DFUMGR_MANIFEST_VERSION;
	strcpy(f->m.product, "gait-sensor");
	strcpy(f->m.release, "2.3.0");
	f->m.vid = 0x1915;
	f->m.pid = 0x5300;
	f->m.n_images = 2;
	fill_entry(&f->m.images[0], 0, "app.signed.bin", f->img[0], f->size[0], "2.3.0+4");
	fill_entry(&f->m.images[1], 1, "xip.signed.bin", f->img[1], f->size[1], "2.3.0+4");
	f->m.images[1].has_load_address = true;
	f->m.images[1].load_address = 0x10120000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	test_rmtree(f->tmp);
	free(f->tmp);
	free(f->img[0]);
	free(f->img[1]);
	dfumgr_key_free(f->key);
	dfumgr_keyring_free(f->ring);
	dfumgr_ctx_free(f->ctx);
	free(f);
	return 0;
}

static const char *in_bundle(struct fx *f, const char *name)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return path;
}

static void expect_msg(struct dfumgr_ctx *ctx, const char *part)
{
	if (!strstr(dfumgr_ctx_errmsg(ctx), part))
		fail_msg("message \"%s\" does not contain \"%s\"", dfumgr_ctx_errmsg(ctx), part);
}

static void write_ok(struct fx *f, const struct dfumgr_key *key)
{
	int rc = dfumgr_bundle_write(f->ctx, f->dir, &f->m, f->img, f->size, key);

	if (rc != 0)
		fail_msg("dfumgr_bundle_write: %d %s", rc, dfumgr_ctx_errmsg(f->ctx));
}

/* Opens with the given ring/flags, expecting rc; on failure checks *ret_bundle is untouched. */
static struct dfumgr_bundle *open_expect(struct fx *f, const struct dfumgr_keyring *ring,
					 unsigned flags, struct dfumgr_bundle_report *report,
					 int want)
{
	struct dfumgr_bundle *b = (struct dfumgr_bundle *)(uintptr_t)0x1;
	int rc = dfumgr_bundle_open(f->ctx, f->dir, ring, flags, report, &b);

	if (rc != want)
		fail_msg("dfumgr_bundle_open: expected %d (%s), got %d: %s", want,
			 dfumgr_strerror(want), rc, dfumgr_ctx_errmsg(f->ctx));
	if (rc < 0) {
		assert_ptr_equal(b, (struct dfumgr_bundle *)(uintptr_t)0x1);
		assert_int_equal(dfumgr_ctx_errcode(f->ctx), -want);
		return NULL;
	}
	return b;
}

static const struct dfumgr_bundle_check *find_check(const struct dfumgr_bundle_report *r,
						    const char *what)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (strcmp(r->checks[i].what, what) == 0)
			return &r->checks[i];
	fail_msg("no check \"%s\" in the report", what);
	return NULL;
}

static void report_has(const struct dfumgr_bundle_report *r, const char *what,
		       enum dfumgr_check_status status, const char *detail_part)
{
	const struct dfumgr_bundle_check *c = find_check(r, what);

	if (c->status != status)
		fail_msg("check \"%s\": status %d, expected %d (%s)", what, c->status, status,
			 c->detail);
	if (detail_part && !strstr(c->detail, detail_part))
		fail_msg("check \"%s\": detail \"%s\" does not contain \"%s\"", what, c->detail,
			 detail_part);
	assert_int_equal(c->rc == 0, status != DFUMGR_CHECK_FAILED);
}

/*
 * Replaces manifest.json by m's serialization and signs it again with key-A, by hand: the
 * manifest may not match the files (dfumgr_bundle_sign() refuses that), as a forged or
 * hand-edited bundle would not.
 */
static void rewrite_manifest(struct fx *f, const struct dfumgr_manifest *m)
{
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX];
	size_t size = 0, sig_len = 0;
	char *json = NULL;

	assert_int_equal(dfumgr_manifest_serialize(f->ctx, m, &json, &size), 0);
	assert_int_equal(dfumgr_file_write(f->ctx, in_bundle(f, "manifest.json"), json, size, true),
			 0);
	assert_int_equal(
	    dfumgr_manifest_sign(f->ctx, f->key, (const uint8_t *)json, size, sig, &sig_len), 0);
	assert_int_equal(
	    dfumgr_file_write(f->ctx, in_bundle(f, "manifest.json.sig"), sig, sig_len, true), 0);
	/* and the library's own signing refuses it when the files do not match */
	if (dfumgr_bundle_sign(f->ctx, f->dir, f->key) == 0) {
		struct dfumgr_bundle *b = NULL;

		assert_int_equal(dfumgr_bundle_open(f->ctx, f->dir, NULL,
						    DFUMGR_BUNDLE_ALLOW_UNSIGNED, NULL, &b),
				 0);
		dfumgr_bundle_free(b);
	} else {
		expect_msg(f->ctx, "refusing to sign");
	}
	free(json);
}

/* Image 1 built here from extflash.bin like the vector, but as version (older) with key. */
static uint8_t *build_image1(const char *version, const struct dfumgr_key *key, size_t *ret_size)
{
	struct dfumgr_image_build_opts o = {0};
	size_t psize = 0;
	uint8_t *payload = test_read("extflash.bin", &psize), *out = NULL;

	assert_int_equal(dfumgr_version_parse(version, &o.version), 0);
	o.header_size = 0x200;
	o.pad_header = true;
	o.key = key;
	o.slot.slot_size = 0x300000;
	o.slot.align = 4;
	assert_int_equal(dfumgr_image_build(NULL, payload, psize, &o, &out, ret_size), 0);
	free(payload);
	return out;
}

static size_t count_entries(const char *dir)
{
	char cmd[4200], out[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	return (size_t)strtoul(out, NULL, 10);
}

/* ---- a good bundle ---- */

static void test_write_open_ok(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_bundle *b;
	const struct dfumgr_image *i0, *i1;
	uint8_t *mbytes = NULL, digest[32];
	size_t msize = 0;

	write_ok(f, f->key);
	assert_int_equal(count_entries(f->dir), 4);
	b = open_expect(f, f->ring, 0, &r, 0);
	assert_true(dfumgr_manifest_equal(dfumgr_bundle_manifest(b), &f->m));
	i0 = dfumgr_bundle_image(b, 0);
	i1 = dfumgr_bundle_image(b, 1);
	assert_non_null(i0);
	assert_non_null(i1);
	assert_null(dfumgr_bundle_image(b, 2));
	assert_int_equal(i0->size, f->size[0]);
	assert_memory_equal(i0->buf, f->img[0], f->size[0]);
	assert_int_equal(i1->size, f->size[1]);
	assert_memory_equal(i1->buf, f->img[1], f->size[1]);
	assert_int_equal(i0->n_deps, 1);
	assert_int_equal(i1->version.build, 4);
	assert_string_equal(dfumgr_bundle_signer(b), "key-A-pub.pem");
	assert_int_equal(
	    dfumgr_file_read(NULL, in_bundle(f, "manifest.json"), 1 << 16, &mbytes, &msize), 0);
	dfumgr_sha256(mbytes, msize, digest);
	assert_memory_equal(dfumgr_bundle_manifest_sha256(b), digest, 32);

	report_has(&r, "manifest", DFUMGR_CHECK_OK, "gait-sensor");
	report_has(&r, "signature", DFUMGR_CHECK_OK, "key-A-pub.pem");
	report_has(&r, "image 0 file", DFUMGR_CHECK_OK, "9158 bytes");
	report_has(&r, "image 0 sha256", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 0 MCUboot image", DFUMGR_CHECK_OK, "1 dependency");
	report_has(&r, "image 0 hash TLV", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 0 version", DFUMGR_CHECK_OK, "2.3.0+4");
	report_has(&r, "image 0 signature", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 1 file", DFUMGR_CHECK_OK, "307908 bytes");
	report_has(&r, "image 1 signature", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 0 dependency", DFUMGR_CHECK_OK,
		   "needs image 1 >= 2.3.0+4; the bundle has 2.3.0+4");
	assert_int_equal(r.n_checks, 2 + 2 * 6 + 1);
	free(mbytes);
	dfumgr_bundle_free(b);

	/* the report is optional; the ring can be a key directory too */
	{
		struct dfumgr_keyring *dring = NULL;
		char kd[4200];

		snprintf(kd, sizeof(kd), "%s/keys", f->tmp);
		assert_int_equal(mkdir(kd, 0755), 0);
		snprintf(kd, sizeof(kd), "%s/keys/a.der", f->tmp);
		assert_int_equal(symlink(test_data_path("key-A-pub.der"), kd), 0); /* skipped */
		snprintf(kd, sizeof(kd), "%s/keys/b.pem", f->tmp);
		{
			size_t n;
			uint8_t *pem = test_read("key-A-pub.pem", &n);

			assert_int_equal(dfumgr_file_write(NULL, kd, pem, n, false), 0);
			free(pem);
		}
		snprintf(kd, sizeof(kd), "%s/keys", f->tmp);
		assert_int_equal(dfumgr_keyring_load(f->ctx, kd, &dring), 0);
		assert_int_equal(dfumgr_keyring_count(dring), 1);
		b = open_expect(f, dring, 0, NULL, 0);
		assert_string_equal(dfumgr_bundle_signer(b), "b.pem");
		dfumgr_bundle_free(b);
		dfumgr_keyring_free(dring);
	}
}

/* A daemon's view: the bundle as an entry of its drop directory, open on a directory fd. */
static void test_openat(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle *b = NULL;
	char link[4200];
	int dfd;

	write_ok(f, f->key);
	dfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(dfumgr_bundle_openat(f->ctx, dfd, "bundle", f->ring, 0, NULL, &b), 0);
	assert_true(dfumgr_manifest_equal(dfumgr_bundle_manifest(b), &f->m));
	b = dfumgr_bundle_free(b);
	/* a symlink in place of the bundle directory: refused, even to a valid bundle */
	snprintf(link, sizeof(link), "%s/link", f->tmp);
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(dfumgr_bundle_openat(f->ctx, dfd, "link", f->ring, 0, NULL, &b),
			 -DFUMGR_E_UNSAFE_PATH);
	assert_null(b);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "link: is a symbolic link"));
	/* through a path, a link is followed as before */
	assert_int_equal(dfumgr_bundle_open(f->ctx, link, f->ring, 0, NULL, &b), 0);
	b = dfumgr_bundle_free(b);
	/* messages name the file relative to the directory */
	assert_int_equal(unlink(in_bundle(f, "xip.signed.bin")), 0);
	assert_int_equal(dfumgr_bundle_openat(f->ctx, dfd, "bundle", f->ring, 0, NULL, &b),
			 -DFUMGR_E_NOENT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(f->ctx), "bundle/xip.signed.bin: missing"));
	assert_int_equal(dfumgr_bundle_openat(f->ctx, dfd, "nothing", f->ring, 0, NULL, &b),
			 -DFUMGR_E_NOENT);
	close(dfd);
}

static void test_single_unsigned_image(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_bundle *b;
	size_t size;
	uint8_t *unsigned_img = test_read("int-unsigned.bin", &size);

	/* image 0 alone, not MCUboot-signed: with trusted keys every image must be signed */
	free(f->img[0]);
	f->img[0] = unsigned_img;
	f->size[0] = size;
	f->m.n_images = 1;
	fill_entry(&f->m.images[0], 0, "app.bin", f->img[0], f->size[0], "2.3.0+4");
	write_ok(f, f->key);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_NOSIG);
	report_has(&r, "image 0 signature", DFUMGR_CHECK_FAILED, "not signed");
	open_expect(f, f->ring, DFUMGR_BUNDLE_ALLOW_UNSIGNED, &r, -DFUMGR_E_NOSIG);
	/* without trusted keys (and only then) it is the caller's call */
	b = open_expect(f, NULL, DFUMGR_BUNDLE_ALLOW_UNSIGNED, &r, 0);
	report_has(&r, "image 0 signature", DFUMGR_CHECK_SKIPPED, "no trusted keys");
	assert_null(dfumgr_bundle_image(b, 1));
	assert_non_null(dfumgr_bundle_image(b, 0));
	dfumgr_bundle_free(b);
}

static void test_dependency_on_image_not_in_bundle(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_bundle *b;

	f->m.n_images = 1;
	write_ok(f, f->key);
	b = open_expect(f, f->ring, 0, &r, 0);
	report_has(&r, "image 0 dependency", DFUMGR_CHECK_SKIPPED, "not in the bundle");
	dfumgr_bundle_free(b);
}

/* ---- signature ---- */

static void test_wrong_keyring(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_keyring *other = NULL;
	struct dfumgr_key *k = NULL;
	char *pem = NULL, path[4200];

	write_ok(f, f->key);
	assert_int_equal(dfumgr_key_generate(f->ctx, &k), 0);
	assert_int_equal(dfumgr_key_write_pem(f->ctx, k, false, &pem), 0);
	snprintf(path, sizeof(path), "%s/other-pub.pem", f->tmp);
	assert_int_equal(dfumgr_file_write(f->ctx, path, pem, strlen(pem), false), 0);
	assert_int_equal(dfumgr_keyring_load(f->ctx, path, &other), 0);
	open_expect(f, other, 0, &r, -DFUMGR_E_SIGNATURE);
	expect_msg(f->ctx, "manifest.json.sig");
	expect_msg(f->ctx, "other-pub.pem");
	/* nothing after a failed signature is checked */
	report_has(&r, "manifest", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "signature", DFUMGR_CHECK_FAILED, "other-pub.pem");
	assert_int_equal(r.n_checks, 2);
	/* allowing unsigned bundles does not excuse a signature that does not verify */
	open_expect(f, other, DFUMGR_BUNDLE_ALLOW_UNSIGNED, NULL, -DFUMGR_E_SIGNATURE);
	dfumgr_keyring_free(other);
	dfumgr_key_free(k);
	free(pem);
}

static void test_missing_signature(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_bundle *b;

	write_ok(f, NULL);
	assert_int_equal(access(in_bundle(f, "manifest.json.sig"), F_OK), -1);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_NOSIG);
	expect_msg(f->ctx, "manifest.json.sig: missing");
	report_has(&r, "signature", DFUMGR_CHECK_FAILED, NULL);
	/* trusted keys are binding: the caller's flag does not bypass them */
	open_expect(f, f->ring, DFUMGR_BUNDLE_ALLOW_UNSIGNED, &r, -DFUMGR_E_NOSIG);
	expect_msg(f->ctx, "does not change that");
	/* only without trusted keys does the caller's flag let it through */
	b = open_expect(f, NULL, DFUMGR_BUNDLE_ALLOW_UNSIGNED, &r, 0);
	report_has(&r, "signature", DFUMGR_CHECK_SKIPPED, "unsigned");
	assert_null(dfumgr_bundle_signer(b));
	report_has(&r, "image 1 signature", DFUMGR_CHECK_SKIPPED, "no trusted keys");
	dfumgr_bundle_free(b);
	/* no keyring without the flag is a caller error */
	open_expect(f, NULL, 0, NULL, -DFUMGR_E_INVAL);
	open_expect(f, f->ring, 0x80, NULL, -DFUMGR_E_INVAL);
}

static void test_flipped_manifest_byte(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = NULL;
	size_t size = 0;

	write_ok(f, f->key);
	assert_int_equal(
	    dfumgr_file_read(NULL, in_bundle(f, "manifest.json"), 1 << 16, &buf, &size), 0);
	/* "gait-sensor" -> "gait-sensos": still a valid manifest, no longer the signed one */
	buf[strstr((char *)buf, "sensor") - (char *)buf + 5] = 's';
	assert_int_equal(dfumgr_file_write(NULL, in_bundle(f, "manifest.json"), buf, size, true),
			 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_SIGNATURE);
	expect_msg(f->ctx, "key-A-pub.pem");
	/* re-signing makes it good again */
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->dir, f->key), 0);
	dfumgr_bundle_free(open_expect(f, f->ring, 0, NULL, 0));
	free(buf);
}

static void test_sign(void **state)
{
	struct fx *f = *state;
	struct dfumgr_key *other = NULL;

	write_ok(f, NULL);
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->dir, f->key), 0);
	dfumgr_bundle_free(open_expect(f, f->ring, 0, NULL, 0));
	/* re-signing with another key replaces the signature */
	assert_int_equal(dfumgr_key_generate(f->ctx, &other), 0);
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->dir, other), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_SIGNATURE);
	assert_int_equal(count_entries(f->dir), 4); /* no temporary files left */
	/* a public key cannot sign; a missing bundle or manifest is reported */
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->dir, dfumgr_keyring_key(f->ring, 0)),
			 -DFUMGR_E_INVAL);
	assert_int_equal(unlink(in_bundle(f, "manifest.json")), 0);
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->dir, f->key), -DFUMGR_E_NOENT);
	expect_msg(f->ctx, "manifest.json: missing");
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->tmp, f->key), -DFUMGR_E_NOENT);
	/* an invalid manifest is not signed */
	assert_int_equal(dfumgr_file_write(NULL, in_bundle(f, "manifest.json"), "{}", 2, false), 0);
	assert_int_equal(dfumgr_bundle_sign(f->ctx, f->dir, f->key), -DFUMGR_E_FORMAT);
	expect_msg(f->ctx, "manifest.json: manifest_version: missing");
	dfumgr_key_free(other);
}

/* ---- image checks ---- */

static void test_tampered_image_byte(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;

	write_ok(f, f->key);
	f->img[1][1000] ^= 0x01;
	assert_int_equal(
	    dfumgr_file_write(NULL, in_bundle(f, "xip.signed.bin"), f->img[1], f->size[1], true),
	    0);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_HASH);
	expect_msg(f->ctx, "xip.signed.bin: SHA-256 is");
	/* the other image is still checked and reported */
	report_has(&r, "image 0 signature", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 1 sha256", DFUMGR_CHECK_FAILED, "xip.signed.bin");
}

static void test_manifest_size_mismatch(void **state)
{
	struct fx *f = *state;
	struct dfumgr_manifest m;

	write_ok(f, f->key);
	m = f->m;
	m.images[0].size += 1;
	rewrite_manifest(f, &m);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_MISMATCH);
	expect_msg(f->ctx, "app.signed.bin: 9158 bytes, but the manifest says 9159");
	/* write refuses the same inconsistency before touching the disk */
	test_rmtree(f->dir);
	assert_int_equal(dfumgr_bundle_write(f->ctx, f->dir, &m, f->img, f->size, f->key),
			 -DFUMGR_E_MISMATCH);
	expect_msg(f->ctx, "images[0]");
	assert_int_equal(access(f->dir, F_OK), -1);
}

static void test_missing_file(void **state)
{
	struct fx *f = *state;

	write_ok(f, f->key);
	assert_int_equal(unlink(in_bundle(f, "xip.signed.bin")), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_NOENT);
	expect_msg(f->ctx, "xip.signed.bin: missing");
	assert_int_equal(unlink(in_bundle(f, "manifest.json")), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_NOENT);
	expect_msg(f->ctx, "manifest.json: missing");
	test_rmtree(f->dir);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_NOENT);
	expect_msg(f->ctx, "cannot open bundle directory");
}

static void test_symlink_inside_bundle(void **state)
{
	struct fx *f = *state;
	char copy[4200];

	/* even a link to a valid copy of the very same bytes, inside the bundle */
	write_ok(f, f->key);
	snprintf(copy, sizeof(copy), "%s", in_bundle(f, "xip.copy"));
	assert_int_equal(rename(in_bundle(f, "xip.signed.bin"), copy), 0);
	assert_int_equal(symlink("xip.copy", in_bundle(f, "xip.signed.bin")), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_UNSAFE_PATH);
	expect_msg(f->ctx, "xip.signed.bin: is a symbolic link");
}

static void test_symlink_leaving_bundle(void **state)
{
	struct fx *f = *state;
	char target[4200];

	write_ok(f, f->key);
	assert_int_equal(unlink(in_bundle(f, "app.signed.bin")), 0);
	assert_non_null(realpath(test_data_path("internal-signed.bin"), target));
	assert_int_equal(symlink(target, in_bundle(f, "app.signed.bin")), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_UNSAFE_PATH);
	expect_msg(f->ctx, "app.signed.bin: is a symbolic link");
	/* the manifest and its signature are held to the same rule */
	assert_int_equal(unlink(in_bundle(f, "app.signed.bin")), 0);
	assert_int_equal(
	    dfumgr_file_write(NULL, in_bundle(f, "app.signed.bin"), f->img[0], f->size[0], false),
	    0);
	snprintf(target, sizeof(target), "%s/elsewhere.sig", f->tmp);
	assert_int_equal(rename(in_bundle(f, "manifest.json.sig"), target), 0);
	assert_int_equal(symlink(target, in_bundle(f, "manifest.json.sig")), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_UNSAFE_PATH);
	expect_msg(f->ctx, "manifest.json.sig: is a symbolic link");
	snprintf(target, sizeof(target), "%s/elsewhere.json", f->tmp);
	assert_int_equal(rename(in_bundle(f, "manifest.json"), target), 0);
	assert_int_equal(symlink(target, in_bundle(f, "manifest.json")), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_UNSAFE_PATH);
	expect_msg(f->ctx, "manifest.json: is a symbolic link");
}

static void test_special_files_rejected(void **state)
{
	struct fx *f = *state;

	write_ok(f, f->key);
	/* a FIFO must be rejected without blocking in open() */
	assert_int_equal(unlink(in_bundle(f, "xip.signed.bin")), 0);
	assert_int_equal(mkfifo(in_bundle(f, "xip.signed.bin"), 0644), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_FORMAT);
	expect_msg(f->ctx, "xip.signed.bin: not a regular file");
	assert_int_equal(unlink(in_bundle(f, "xip.signed.bin")), 0);
	assert_int_equal(mkdir(in_bundle(f, "xip.signed.bin"), 0755), 0);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_FORMAT);
	expect_msg(f->ctx, "xip.signed.bin: not a regular file");
}

static void test_size_limits(void **state)
{
	struct fx *f = *state;
	int fd;

	write_ok(f, f->key);
	/* a sparse image file one byte over the limit: refused before it is read */
	fd = open(in_bundle(f, "xip.signed.bin"), O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DFUMGR_BUNDLE_IMAGE_MAX + 1), 0);
	close(fd);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_TOOBIG);
	expect_msg(f->ctx, "xip.signed.bin: 16777217 bytes");
	/* a manifest over 64 KiB */
	fd = open(in_bundle(f, "manifest.json"), O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DFUMGR_MANIFEST_SIZE_MAX + 1), 0);
	close(fd);
	open_expect(f, f->ring, 0, NULL, -DFUMGR_E_TOOBIG);
	expect_msg(f->ctx, "manifest.json: 65537 bytes");
}

static void test_wrong_version_in_manifest(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_manifest m;

	write_ok(f, f->key);
	m = f->m;
	assert_int_equal(dfumgr_version_parse("2.3.1", &m.images[1].version), 0);
	rewrite_manifest(f, &m);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_MISMATCH);
	expect_msg(f->ctx, "xip.signed.bin: the image header says version 2.3.0+4, but the "
			   "manifest says 2.3.1+0");
	report_has(&r, "image 1 version", DFUMGR_CHECK_FAILED, NULL);
	/* and write does not produce such a bundle */
	test_rmtree(f->dir);
	assert_int_equal(dfumgr_bundle_write(f->ctx, f->dir, &m, f->img, f->size, f->key),
			 -DFUMGR_E_MISMATCH);
	assert_int_equal(access(f->dir, F_OK), -1);
}

static void test_not_an_mcuboot_image(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	size_t size;
	uint8_t *bad = test_read("int-signed-badmagic.bin", &size);

	write_ok(f, f->key);
	assert_int_equal(dfumgr_file_write(NULL, in_bundle(f, "bad.bin"), bad, size, false), 0);
	fill_entry(&f->m.images[0], 0, "bad.bin", bad, size, "2.3.0+4");
	rewrite_manifest(f, &f->m);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_BADMAGIC);
	expect_msg(f->ctx, "bad.bin");
	report_has(&r, "image 0 sha256", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 0 MCUboot image", DFUMGR_CHECK_FAILED, "bad.bin");
	free(bad);
}

static void test_image_signed_by_untrusted_key(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	struct dfumgr_key *other = NULL;
	size_t size;
	uint8_t *img;

	assert_int_equal(dfumgr_key_generate(f->ctx, &other), 0);
	img = build_image1("2.3.0+4", other, &size);
	free(f->img[1]);
	f->img[1] = img;
	f->size[1] = size;
	fill_entry(&f->m.images[1], 1, "xip.signed.bin", img, size, "2.3.0+4");
	write_ok(f, f->key);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_NOSIG);
	expect_msg(f->ctx, "xip.signed.bin");
	report_has(&r, "signature", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 1 signature", DFUMGR_CHECK_FAILED, "not trusted");
	/* without MCUboot key checks (no keyring) it opens */
	unlink(in_bundle(f, "manifest.json.sig"));
	dfumgr_bundle_free(open_expect(f, NULL, DFUMGR_BUNDLE_ALLOW_UNSIGNED, NULL, 0));
	dfumgr_key_free(other);
}

static void test_unsatisfied_dependency(void **state)
{
	struct fx *f = *state;
	struct dfumgr_bundle_report r;
	size_t size;
	uint8_t *older = build_image1("2.3.0+3", f->key, &size);

	free(f->img[1]);
	f->img[1] = older;
	f->size[1] = size;
	fill_entry(&f->m.images[1], 1, "xip.signed.bin", older, size, "2.3.0+3");
	/* write refuses the pair */
	assert_int_equal(dfumgr_bundle_write(f->ctx, f->dir, &f->m, f->img, f->size, f->key),
			 -DFUMGR_E_MISMATCH);
	expect_msg(f->ctx, "image 0 needs image 1 >= 2.3.0+4 but the bundle has 2.3.0+3");
	assert_int_equal(access(f->dir, F_OK), -1);
	/* and open rejects one put together by hand */
	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(
	    dfumgr_file_write(NULL, in_bundle(f, "app.signed.bin"), f->img[0], f->size[0], false),
	    0);
	assert_int_equal(
	    dfumgr_file_write(NULL, in_bundle(f, "xip.signed.bin"), f->img[1], f->size[1], false),
	    0);
	rewrite_manifest(f, &f->m);
	open_expect(f, f->ring, 0, &r, -DFUMGR_E_MISMATCH);
	expect_msg(f->ctx, "image 0 needs image 1 >= 2.3.0+4 but the bundle has 2.3.0+3");
	report_has(&r, "image 0 signature", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 1 signature", DFUMGR_CHECK_OK, NULL);
	report_has(&r, "image 0 dependency", DFUMGR_CHECK_FAILED, "needs image 1 >= 2.3.0+4");
}

/* ---- write ---- */

static void test_write_refuses_existing(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = NULL;
	size_t size = 0;

	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(dfumgr_file_write(NULL, in_bundle(f, "keep.txt"), "mine", 4, false), 0);
	assert_int_equal(dfumgr_bundle_write(f->ctx, f->dir, &f->m, f->img, f->size, f->key),
			 -DFUMGR_E_EXISTS);
	expect_msg(f->ctx, "not empty");
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(dfumgr_file_read(NULL, in_bundle(f, "keep.txt"), 16, &buf, &size), 0);
	assert_memory_equal(buf, "mine", 4);
	free(buf);
	/* a file where the directory should be */
	test_rmtree(f->dir);
	assert_int_equal(dfumgr_file_write(NULL, f->dir, "x", 1, false), 0);
	assert_int_equal(dfumgr_bundle_write(f->ctx, f->dir, &f->m, f->img, f->size, f->key),
			 -DFUMGR_E_EXISTS);
	expect_msg(f->ctx, "not a directory");
	/* an existing empty directory is fine */
	assert_int_equal(unlink(f->dir), 0);
	assert_int_equal(mkdir(f->dir, 0755), 0);
	write_ok(f, f->key);
	dfumgr_bundle_free(open_expect(f, f->ring, 0, NULL, 0));
	/* a public key cannot sign: refused before anything is written */
	test_rmtree(f->dir);
	assert_int_equal(dfumgr_bundle_write(f->ctx, f->dir, &f->m, f->img, f->size,
					     dfumgr_keyring_key(f->ring, 0)),
			 -DFUMGR_E_INVAL);
	assert_int_equal(access(f->dir, F_OK), -1);
}

/* Runs dfumgr_bundle_write() with writes above limit bytes failing (EFBIG). */
static int write_with_fsize_limit(struct fx *f, rlim_t limit)
{
	struct rlimit old, lim;
	int rc;

	/* the kernel sends SIGXFSZ on the write that crosses the limit; we want EFBIG instead */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = dfumgr_bundle_write(f->ctx, f->dir, &f->m, f->img, f->size, f->key);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	return rc;
}

static void test_failed_write_leaves_nothing(void **state)
{
	struct fx *f = *state;

	/* image 0 (9158 bytes) is written, image 1 (307908 bytes) fails half way */
	assert_int_equal(write_with_fsize_limit(f, 64 * 1024), -DFUMGR_E_TOOBIG);
	expect_msg(f->ctx, "xip.signed.bin");
	assert_int_equal(access(f->dir, F_OK), -1);
	assert_int_equal(count_entries(f->tmp), 0);
	/* into an existing empty directory: it stays, empty */
	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(write_with_fsize_limit(f, 64 * 1024), -DFUMGR_E_TOOBIG);
	assert_int_equal(count_entries(f->dir), 0);
	/* the same harness with room for every file: the failure above was the limit's */
	assert_int_equal(write_with_fsize_limit(f, 512 * 1024), 0);
	dfumgr_bundle_free(open_expect(f, f->ring, 0, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_open_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_openat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_unsigned_image, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dependency_on_image_not_in_bundle, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_keyring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flipped_manifest_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sign, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_image_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_manifest_size_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_inside_bundle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_leaving_bundle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_special_files_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_version_in_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_mcuboot_image, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_signed_by_untrusted_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsatisfied_dependency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_refuses_existing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_leaves_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
