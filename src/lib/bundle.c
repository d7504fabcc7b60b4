/* SPDX-License-Identifier: MIT */
/*
 * Bundle directories: open + verify everything a paired update relies on, write a new bundle
 * without leaving half of one behind, and (re)sign a bundle's manifest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "dfumgr/bundle.h"

struct bundle_image {
	uint8_t *buf; /* owned when read from a directory; borrowed by dfumgr_bundle_write() */
	size_t size;
	struct dfumgr_image img; /* points into buf */
	bool parsed;             /* img is valid */
	bool ok;                 /* every check of this image passed */
};

struct dfumgr_bundle {
	struct dfumgr_manifest manifest;
	uint8_t manifest_sha256[DFUMGR_SHA256_SIZE];
	bool has_signer;
	char signer[256];
	struct bundle_image images[DFUMGR_MANIFEST_IMAGES_MAX]; /* as manifest.images[] */
};

/* ---- the report ---- */

/*
 * Collects check results. Later checks overwrite the context's message, so the first failure
 * is kept here and put back at the end: that is the error the caller gets.
 */
struct checker {
	struct dfumgr_ctx *ctx;
	struct dfumgr_bundle_report *report;
	int first_rc;
	char first_msg[DFUMGR_ERRMSG_MAX];
};

static struct dfumgr_bundle_check *check_add(struct checker *c, const char *what,
					     enum dfumgr_check_status status, int rc)
{
	struct dfumgr_bundle_check *chk;

	if (!c->report || c->report->n_checks >= DFUMGR_BUNDLE_CHECKS_MAX)
		return NULL;
	chk = &c->report->checks[c->report->n_checks++];
	snprintf(chk->what, sizeof(chk->what), "%s", what);
	chk->status = status;
	chk->rc = rc;
	chk->detail[0] = '\0';
	return chk;
}

__attribute__((format(printf, 4, 5))) static void check_note(struct checker *c, const char *what,
							     enum dfumgr_check_status status,
							     const char *fmt, ...)
{
	struct dfumgr_bundle_check *chk = check_add(c, what, status, 0);
	va_list ap;

	if (!chk)
		return;
	va_start(ap, fmt);
	vsnprintf(chk->detail, sizeof(chk->detail), fmt, ap);
	va_end(ap);
}

/* Records the failure whose detail is in the context; returns rc. */
static int check_failed(struct checker *c, const char *what, int rc)
{
	const char *msg = dfumgr_ctx_errmsg(c->ctx);
	struct dfumgr_bundle_check *chk = check_add(c, what, DFUMGR_CHECK_FAILED, rc);

	if (!msg[0])
		msg = dfumgr_strerror(rc);
	if (chk)
		snprintf(chk->detail, sizeof(chk->detail), "%s", msg);
	if (c->first_rc == 0) {
		c->first_rc = rc;
		snprintf(c->first_msg, sizeof(c->first_msg), "%s", msg);
	}
	return rc;
}

static int checker_result(struct checker *c)
{
	if (c->first_rc == 0)
		return 0;
	return dfumgr_fail(c->ctx, c->first_rc, "%s", c->first_msg);
}

/* ---- files ---- */

static int join(struct dfumgr_ctx *ctx, char out[static PATH_MAX], const char *dir,
		const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s/%s: path too long", dir, name);
	return 0;
}

/*
 * Reads name from the bundle directory dfd; show is the path for messages. O_NOFOLLOW because a
 * symlink could point anywhere (and even one to a file inside the bundle hides what is what);
 * O_NONBLOCK so that a FIFO planted in the bundle cannot hang the open (it is then rejected as
 * not a regular file). expect_size >= 0: the size the file must have.
 */
static int read_at(struct dfumgr_ctx *ctx, int dfd, const char *name, const char *show, size_t max,
		   int64_t expect_size, uint8_t **ret_buf, size_t *ret_size)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ELOOP)
			return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
					   "%s: is a symbolic link (not allowed in a bundle)",
					   show);
		if (errno == ENXIO || errno == ENODEV)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: not a regular file", show);
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: %s", show,
				   errno == ENOENT ? "missing" : strerror(errno));
	}
	return dfumgr_file_read_fd(ctx, fd, show, max, expect_size, ret_buf, ret_size);
}

/* ---- checks shared by open and write ---- */

static void label(char buf[static 48], unsigned image, const char *what)
{
	snprintf(buf, 48, "image %u %s", image, what);
}

/*
 * Checks one image's bytes against its manifest entry: SHA-256 of the file, MCUboot structure,
 * SHA256 TLV, header version, and (with a ring) the MCUboot signature. show names the file.
 */
static int check_image(struct checker *c, const struct dfumgr_manifest_image *mi,
		       struct bundle_image *bi, const char *show, const struct dfumgr_keyring *ring)
{
	struct dfumgr_ctx *ctx = c->ctx;
	uint8_t digest[DFUMGR_SHA256_SIZE];
	char what[48], want[2 * DFUMGR_SHA256_SIZE + 1], got[2 * DFUMGR_SHA256_SIZE + 1];
	char v1[DFUMGR_VERSION_STRING_MAX], v2[DFUMGR_VERSION_STRING_MAX];
	int rc;

	label(what, mi->image, "sha256");
	dfumgr_sha256(bi->buf, bi->size, digest);
	if (!dfumgr_memeq_ct(digest, mi->sha256, sizeof(digest))) {
		dfumgr_hex(mi->sha256, DFUMGR_SHA256_SIZE, want);
		dfumgr_hex(digest, DFUMGR_SHA256_SIZE, got);
		dfumgr_fail(ctx, DFUMGR_E_HASH, "%s: SHA-256 is %s, but the manifest says %s", show,
			    got, want);
		return check_failed(c, what, -DFUMGR_E_HASH);
	}
	check_note(c, what, DFUMGR_CHECK_OK, "SHA-256 of the file matches the manifest");

	label(what, mi->image, "MCUboot image");
	rc = dfumgr_image_parse(ctx, bi->buf, bi->size, &bi->img);
	if (rc < 0)
		return check_failed(c, what, dfumgr_fail_prefix(ctx, rc, "%s", show));
	bi->parsed = true;
	check_note(c, what, DFUMGR_CHECK_OK,
		   "header 0x%x bytes, payload %" PRIu32 " bytes, %zu TLV%s, %zu dependenc%s",
		   bi->img.hdr_size, bi->img.img_size, bi->img.n_tlvs,
		   bi->img.n_tlvs == 1 ? "" : "s", bi->img.n_deps,
		   bi->img.n_deps == 1 ? "y" : "ies");

	label(what, mi->image, "hash TLV");
	rc = dfumgr_image_check_hash(ctx, &bi->img, NULL);
	if (rc < 0)
		return check_failed(c, what, dfumgr_fail_prefix(ctx, rc, "%s", show));
	check_note(c, what, DFUMGR_CHECK_OK, "SHA256 TLV matches the image");

	label(what, mi->image, "version");
	dfumgr_version_format(&bi->img.version, v1);
	dfumgr_version_format(&mi->version, v2);
	if (dfumgr_version_cmp(&bi->img.version, &mi->version) != 0) {
		dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
			    "%s: the image header says version %s, but the manifest says %s", show,
			    v1, v2);
		return check_failed(c, what, -DFUMGR_E_MISMATCH);
	}
	check_note(c, what, DFUMGR_CHECK_OK, "%s, as in the manifest", v1);

	/* the counter the host compares with the board's must be the one MCUboot will see */
	if (mi->has_security_counter &&
	    (!bi->img.has_sec_cnt || bi->img.sec_cnt != mi->security_counter)) {
		label(what, mi->image, "security counter");
		if (bi->img.has_sec_cnt)
			dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				    "%s: the image's security counter is %u, but the manifest says "
				    "%u",
				    show, bi->img.sec_cnt, mi->security_counter);
		else
			dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				    "%s: the image has no security counter, but the manifest says "
				    "%u",
				    show, mi->security_counter);
		return check_failed(c, what, -DFUMGR_E_MISMATCH);
	}

	label(what, mi->image, "signature");
	if (!ring) {
		check_note(c, what, DFUMGR_CHECK_SKIPPED, "not checked (no trusted keys given)");
	} else {
		rc = dfumgr_image_verify(ctx, &bi->img, dfumgr_keyring_keys(ring),
					 dfumgr_keyring_count(ring));
		/*
		 * With trusted keys every image must be signed by one of them: an unsigned image
		 * in a signed manifest would otherwise ride on the manifest's word alone.
		 */
		if (rc == -DFUMGR_E_NOSIG && !bi->img.sig) {
			dfumgr_fail(
			    ctx, DFUMGR_E_NOSIG,
			    "%s: the image is not signed, and with trusted keys every image "
			    "must be (sign it at pack time with pack --key)",
			    show);
			return check_failed(c, what, -DFUMGR_E_NOSIG);
		} else if (rc < 0)
			return check_failed(c, what, dfumgr_fail_prefix(ctx, rc, "%s", show));
		else
			check_note(c, what, DFUMGR_CHECK_OK, "ECDSA P-256 signature verified");
	}
	bi->ok = true;
	return 0;
}

static int find_entry(const struct dfumgr_manifest *m, unsigned image_number)
{
	for (size_t i = 0; i < m->n_images; i++)
		if (m->images[i].image == image_number)
			return (int)i;
	return -1;
}

/*
 * MCUboot multi-image: an image with a DEPENDENCY TLV is only installed when the other image
 * is at least the given version. Within a pair both are in the bundle, so this is decidable
 * here; a dependency on an image the bundle does not carry is checked against the device.
 */
static int check_dependencies(struct checker *c, const struct dfumgr_manifest *m,
			      const struct bundle_image *imgs)
{
	char what[48], need[DFUMGR_VERSION_STRING_MAX], have[DFUMGR_VERSION_STRING_MAX];
	int rc = 0;

	for (size_t i = 0; i < m->n_images; i++) {
		const struct dfumgr_image *img = &imgs[i].img;
		unsigned self = m->images[i].image;

		if (!imgs[i].parsed)
			continue;
		for (size_t k = 0; k < img->n_deps; k++) {
			const struct dfumgr_image_dep *d = &img->deps[k];
			int j = find_entry(m, d->image_id);

			snprintf(what, sizeof(what), "image %u dependency", self);
			dfumgr_version_format(&d->min_version, need);
			if (j < 0) {
				check_note(c, what, DFUMGR_CHECK_SKIPPED,
					   "needs image %u >= %s, which is not in the bundle "
					   "(checked against the device)",
					   d->image_id, need);
				continue;
			}
			if ((size_t)j == i || !imgs[j].parsed) {
				check_note(c, what, DFUMGR_CHECK_SKIPPED,
					   "needs image %u >= %s; not checked", d->image_id, need);
				continue;
			}
			dfumgr_version_format(&imgs[j].img.version, have);
			if (dfumgr_version_cmp(&imgs[j].img.version, &d->min_version) < 0) {
				dfumgr_fail(c->ctx, DFUMGR_E_MISMATCH,
					    "image %u needs image %u >= %s but the bundle has %s",
					    self, d->image_id, need, have);
				rc = check_failed(c, what, -DFUMGR_E_MISMATCH);
				continue;
			}
			check_note(c, what, DFUMGR_CHECK_OK,
				   "needs image %u >= %s; the bundle has %s", d->image_id, need,
				   have);
		}
	}
	return rc;
}

/* ---- open ---- */

DFUMGR_EXPORT struct dfumgr_bundle *dfumgr_bundle_free(struct dfumgr_bundle *b)
{
	if (b) {
		for (size_t i = 0; i < DFUMGR_MANIFEST_IMAGES_MAX; i++)
			free(b->images[i].buf);
		free(b);
	}
	return NULL;
}

static int open_signature(struct checker *c, struct dfumgr_bundle *b, int dfd, const char *dir,
			  const uint8_t *mbuf, size_t msize, const struct dfumgr_keyring *ring,
			  unsigned flags)
{
	struct dfumgr_ctx *ctx = c->ctx;
	char show[PATH_MAX];
	uint8_t *sig = NULL;
	size_t sig_len = 0, idx = 0;
	const char *name, *slash;
	int rc;

	rc = join(ctx, show, dir, DFUMGR_BUNDLE_SIGNATURE);
	if (rc < 0)
		return check_failed(c, "signature", rc);
	rc = read_at(ctx, dfd, DFUMGR_BUNDLE_SIGNATURE, show, DFUMGR_ECDSA_SIG_MAX, -1, &sig,
		     &sig_len);
	if (rc == -DFUMGR_E_NOENT) {
		/* trusted keys are binding: "allow unsigned" only means "no keys to check with" */
		if ((flags & DFUMGR_BUNDLE_ALLOW_UNSIGNED) && !dfumgr_keyring_count(ring)) {
			check_note(c, "signature", DFUMGR_CHECK_SKIPPED,
				   "no %s: unsigned bundle (allowed by the caller)",
				   DFUMGR_BUNDLE_SIGNATURE);
			return 0;
		}
		dfumgr_fail(ctx, DFUMGR_E_NOSIG, "%s: missing: the bundle is not signed%s", show,
			    dfumgr_keyring_count(ring)
				? " (with trusted keys a signature is required; --allow-unsigned "
				  "does not change that)"
				: "");
		return check_failed(c, "signature", -DFUMGR_E_NOSIG);
	}
	if (rc < 0)
		return check_failed(c, "signature", rc);
	if (!ring) {
		check_note(c, "signature", DFUMGR_CHECK_SKIPPED,
			   "not checked (no trusted keys given)");
		rc = 0;
		goto out;
	}
	rc = dfumgr_manifest_verify(ctx, ring, mbuf, msize, sig, sig_len, &idx);
	if (rc < 0) {
		rc = check_failed(c, "signature", dfumgr_fail_prefix(ctx, rc, "%s", show));
		goto out;
	}
	name = dfumgr_key_name(dfumgr_keyring_key(ring, idx));
	slash = strrchr(name, '/');
	snprintf(b->signer, sizeof(b->signer), "%s",
		 name[0] ? (slash ? slash + 1 : name) : "(key in memory)");
	b->has_signer = true;
	check_note(c, "signature", DFUMGR_CHECK_OK, "verified with trusted key %s", b->signer);
out:
	free(sig);
	return rc;
}

static int open_image(struct checker *c, struct dfumgr_bundle *b, size_t i, int dfd,
		      const char *dir, const struct dfumgr_keyring *ring)
{
	const struct dfumgr_manifest_image *mi = &b->manifest.images[i];
	struct bundle_image *bi = &b->images[i];
	char what[48], show[PATH_MAX];
	int rc;

	label(what, mi->image, "file");
	rc = join(c->ctx, show, dir, mi->file);
	if (rc < 0)
		return check_failed(c, what, rc);
	rc = read_at(c->ctx, dfd, mi->file, show, DFUMGR_BUNDLE_IMAGE_MAX, mi->size, &bi->buf,
		     &bi->size);
	if (rc < 0)
		return check_failed(c, what, rc);
	check_note(c, what, DFUMGR_CHECK_OK, "%s, %zu bytes", mi->file, bi->size);
	return check_image(c, mi, bi, show, ring);
}

DFUMGR_EXPORT int dfumgr_bundle_open(struct dfumgr_ctx *ctx, const char *dir,
				     const struct dfumgr_keyring *ring, unsigned flags,
				     struct dfumgr_bundle_report *report,
				     struct dfumgr_bundle **ret_bundle)
{
	return dfumgr_bundle_openat(ctx, AT_FDCWD, dir, ring, flags, report, ret_bundle);
}

DFUMGR_EXPORT int dfumgr_bundle_openat(struct dfumgr_ctx *ctx, int dirfd, const char *dir,
				       const struct dfumgr_keyring *ring, unsigned flags,
				       struct dfumgr_bundle_report *report,
				       struct dfumgr_bundle **ret_bundle)
{
	struct checker c = {.ctx = ctx, .report = report};
	struct dfumgr_bundle *b = NULL;
	uint8_t *mbuf = NULL;
	size_t msize = 0;
	char show[PATH_MAX];
	int dfd = -1, rc;

	if (report)
		report->n_checks = 0;
	if (!dir || !ret_bundle)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_bundle_open: NULL argument");
	if (flags & ~(unsigned)DFUMGR_BUNDLE_ALLOW_UNSIGNED)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_bundle_open: unknown flags 0x%x",
				   flags);
	if (!ring && !(flags & DFUMGR_BUNDLE_ALLOW_UNSIGNED))
		return dfumgr_fail(
		    ctx, DFUMGR_E_INVAL,
		    "dfumgr_bundle_open: no trusted keys (pass "
		    "DFUMGR_BUNDLE_ALLOW_UNSIGNED to open without signature checks)");
	b = calloc(1, sizeof(*b));
	if (!b)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");

	/*
	 * Relative to dirfd, the bundle directory itself must not be a symlink either: a daemon
	 * that checks what was dropped into its incoming directory must check that directory,
	 * not what a link points to. A path given to dfumgr_bundle_open() may go through links.
	 */
	dfd = openat(dirfd, dir,
		     O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dirfd == AT_FDCWD ? 0 : O_NOFOLLOW));
	if (dfd < 0 && dirfd != AT_FDCWD && (errno == ELOOP || errno == ENOTDIR)) {
		struct stat st;

		if (fstatat(dirfd, dir, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
			rc = dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH,
					 "%s: is a symbolic link, not a bundle directory", dir);
			check_failed(&c, "bundle directory", rc);
			goto out;
		}
		errno = ENOTDIR;
	}
	if (dfd < 0) {
		rc = dfumgr_fail(ctx, dfumgr_errno_to_err(errno),
				 "%s: cannot open bundle directory: %s", dir, strerror(errno));
		check_failed(&c, "bundle directory", rc);
		goto out;
	}
	rc = join(ctx, show, dir, DFUMGR_BUNDLE_MANIFEST);
	if (rc == 0)
		rc = read_at(ctx, dfd, DFUMGR_BUNDLE_MANIFEST, show, DFUMGR_MANIFEST_SIZE_MAX, -1,
			     &mbuf, &msize);
	if (rc == 0) {
		rc = dfumgr_manifest_parse(ctx, mbuf, msize, &b->manifest);
		if (rc < 0)
			rc = dfumgr_fail_prefix(ctx, rc, "%s", show);
	}
	if (rc < 0) {
		check_failed(&c, "manifest", rc);
		goto out;
	}
	dfumgr_sha256(mbuf, msize, b->manifest_sha256);
	check_note(&c, "manifest", DFUMGR_CHECK_OK, "product %s, release %s, %zu image(s)",
		   b->manifest.product, b->manifest.release, b->manifest.n_images);

	/* nothing in an unauthenticated manifest is worth checking further */
	if (open_signature(&c, b, dfd, dir, mbuf, msize, ring, flags) < 0)
		goto out;

	/* each image on its own, so the report shows every broken file at once */
	for (size_t i = 0; i < b->manifest.n_images; i++)
		(void)open_image(&c, b, i, dfd, dir, ring);
	(void)check_dependencies(&c, &b->manifest, b->images);
out:
	rc = checker_result(&c);
	if (rc == 0) {
		*ret_bundle = b;
		b = NULL;
	}
	if (dfd >= 0)
		close(dfd);
	free(mbuf);
	dfumgr_bundle_free(b);
	return rc;
}

DFUMGR_EXPORT const struct dfumgr_manifest *dfumgr_bundle_manifest(const struct dfumgr_bundle *b)
{
	return b ? &b->manifest : NULL;
}

DFUMGR_EXPORT const struct dfumgr_image *dfumgr_bundle_image(const struct dfumgr_bundle *b,
							     unsigned image_number)
{
	int i;

	if (!b)
		return NULL;
	i = find_entry(&b->manifest, image_number);
	return i < 0 ? NULL : &b->images[i].img;
}

DFUMGR_EXPORT const char *dfumgr_bundle_signer(const struct dfumgr_bundle *b)
{
	return b && b->has_signer ? b->signer : NULL;
}

DFUMGR_EXPORT const uint8_t *dfumgr_bundle_manifest_sha256(const struct dfumgr_bundle *b)
{
	return b ? b->manifest_sha256 : NULL;
}

/* ---- write ---- */

/* Makes the rename of a new entry in dir's parent durable (what fsync of dir itself cannot). */
static void fsync_parent(const char *dir)
{
	char parent[PATH_MAX];
	const char *slash;
	size_t n;
	int fd;

	snprintf(parent, sizeof(parent), "%s", dir);
	n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		parent[slash - parent] = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Creates dir, or accepts an existing empty one; *ret_created tells which. */
static int make_bundle_dir(struct dfumgr_ctx *ctx, const char *dir, bool *ret_created)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (mkdir(dir, 0755) == 0) {
		*ret_created = true;
		return 0;
	}
	if (errno != EEXIST)
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: cannot create: %s", dir,
				   strerror(errno));
	/* O_NOFOLLOW: the files would land wherever a symlink points, not in the path given */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dfumgr_fail(ctx, DFUMGR_E_EXISTS, "%s: exists and is not a directory%s", dir,
				   errno == ELOOP ? " (a symbolic link)" : "");
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return dfumgr_fail(ctx, DFUMGR_E_IO, "%s: cannot read: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			break;
	closedir(d);
	if (de)
		return dfumgr_fail(ctx, DFUMGR_E_EXISTS,
				   "%s: exists and is not empty (refusing to mix bundles)", dir);
	*ret_created = false;
	return 0;
}

DFUMGR_EXPORT int dfumgr_bundle_write(struct dfumgr_ctx *ctx, const char *dir,
				      const struct dfumgr_manifest *m, uint8_t *const images[],
				      const size_t image_sizes[], const struct dfumgr_key *key)
{
	struct bundle_image imgs[DFUMGR_MANIFEST_IMAGES_MAX] = {0};
	struct checker c = {.ctx = ctx};
	const char *written[DFUMGR_MANIFEST_IMAGES_MAX + 2];
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX];
	size_t n_written = 0, sig_len = 0, json_size = 0;
	char *json = NULL, path[PATH_MAX], show[48];
	bool created = false;
	int rc;

	if (!dir || !m || !images || !image_sizes)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_bundle_write: NULL argument");
	rc = dfumgr_manifest_validate(ctx, m);
	if (rc < 0)
		return rc;
	if (key && !dfumgr_key_is_private(key))
		return dfumgr_fail(
		    ctx, DFUMGR_E_INVAL,
		    "%s: a public key cannot sign the manifest (give the private key)",
		    dfumgr_key_name(key));
	/* the checks dfumgr_bundle_open() makes, so that what is written also opens */
	for (size_t i = 0; i < m->n_images; i++) {
		const struct dfumgr_manifest_image *mi = &m->images[i];

		snprintf(show, sizeof(show), "images[%zu]", i);
		if (!images[i])
			return dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: NULL buffer", show);
		if (image_sizes[i] != mi->size)
			return dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
					   "%s: %s is %zu bytes, but the manifest says %" PRIu32,
					   show, mi->file, image_sizes[i], mi->size);
		imgs[i].buf = images[i];
		imgs[i].size = image_sizes[i];
		rc = check_image(&c, mi, &imgs[i], mi->file, NULL);
		if (rc < 0)
			return rc;
	}
	rc = check_dependencies(&c, m, imgs);
	if (rc < 0)
		return rc;

	rc = dfumgr_manifest_serialize(ctx, m, &json, &json_size);
	if (rc < 0)
		return rc;
	if (key) {
		rc =
		    dfumgr_manifest_sign(ctx, key, (const uint8_t *)json, json_size, sig, &sig_len);
		if (rc < 0)
			goto out;
	}

	rc = make_bundle_dir(ctx, dir, &created);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < m->n_images; i++) {
		rc = join(ctx, path, dir, m->images[i].file);
		if (rc == 0)
			rc = dfumgr_file_write(ctx, path, images[i], image_sizes[i], false);
		if (rc < 0)
			goto out;
		written[n_written++] = m->images[i].file;
	}
	/* the manifest after the images: a reader that finds it finds the files it names */
	rc = join(ctx, path, dir, DFUMGR_BUNDLE_MANIFEST);
	if (rc == 0)
		rc = dfumgr_file_write(ctx, path, json, json_size, false);
	if (rc < 0)
		goto out;
	written[n_written++] = DFUMGR_BUNDLE_MANIFEST;
	if (key) {
		rc = join(ctx, path, dir, DFUMGR_BUNDLE_SIGNATURE);
		if (rc == 0)
			rc = dfumgr_file_write(ctx, path, sig, sig_len, false);
		if (rc < 0)
			goto out;
		written[n_written++] = DFUMGR_BUNDLE_SIGNATURE;
	}
	if (created)
		fsync_parent(dir);
	rc = 0;
out:
	if (rc < 0) {
		/* no half bundle: take back what this call wrote */
		while (n_written > 0)
			if (join(NULL, path, dir, written[--n_written]) == 0)
				(void)unlink(path);
		if (created)
			(void)rmdir(dir);
	}
	free(json);
	return rc;
}

/* ---- sign ---- */

DFUMGR_EXPORT int dfumgr_bundle_sign(struct dfumgr_ctx *ctx, const char *dir,
				     const struct dfumgr_key *key)
{
	struct dfumgr_manifest m;
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX], *mbuf = NULL;
	size_t msize = 0, sig_len = 0;
	char show[PATH_MAX];
	int dfd, rc;

	if (!dir || !key)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_bundle_sign: NULL argument");
	if (!dfumgr_key_is_private(key))
		return dfumgr_fail(
		    ctx, DFUMGR_E_INVAL,
		    "%s: a public key cannot sign the manifest (give the private key)",
		    dfumgr_key_name(key));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno),
				   "%s: cannot open bundle directory: %s", dir, strerror(errno));
	rc = join(ctx, show, dir, DFUMGR_BUNDLE_MANIFEST);
	if (rc == 0)
		rc = read_at(ctx, dfd, DFUMGR_BUNDLE_MANIFEST, show, DFUMGR_MANIFEST_SIZE_MAX, -1,
			     &mbuf, &msize);
	if (rc < 0)
		goto out;
	/* never put a signature on something that would not open */
	rc = dfumgr_manifest_parse(ctx, mbuf, msize, &m);
	if (rc < 0) {
		rc = dfumgr_fail_prefix(ctx, rc, "%s", show);
		goto out;
	}
	/* nor on files that are not the ones the manifest names (sizes, SHA-256, versions) */
	{
		struct dfumgr_bundle *b = NULL;

		rc = dfumgr_bundle_open(ctx, dir, NULL, DFUMGR_BUNDLE_ALLOW_UNSIGNED, NULL, &b);
		dfumgr_bundle_free(b);
		if (rc < 0) {
			rc = dfumgr_fail_prefix(ctx, rc, "refusing to sign %s", dir);
			goto out;
		}
	}
	rc = dfumgr_manifest_sign(ctx, key, mbuf, msize, sig, &sig_len);
	if (rc < 0)
		goto out;
	rc = join(ctx, show, dir, DFUMGR_BUNDLE_SIGNATURE);
	if (rc == 0)
		rc = dfumgr_file_write(ctx, show, sig, sig_len, true);
out:
	free(mbuf);
	close(dfd);
	return rc;
}
