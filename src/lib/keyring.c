/* SPDX-License-Identifier: MIT */
/* Trusted public keys for manifest and image signatures, loaded from a key directory or files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "dfumgr/keyring.h"

/* A fixed array: the limit is small, and dfumgr_image_verify() wants the keys contiguous. */
struct dfumgr_keyring {
	size_t n;
	struct dfumgr_key *keys[DFUMGR_KEYRING_MAX];
};

DFUMGR_EXPORT struct dfumgr_keyring *dfumgr_keyring_new(void)
{
	return calloc(1, sizeof(struct dfumgr_keyring));
}

DFUMGR_EXPORT struct dfumgr_keyring *dfumgr_keyring_free(struct dfumgr_keyring *ring)
{
	if (ring) {
		for (size_t i = 0; i < ring->n; i++)
			dfumgr_key_free(ring->keys[i]);
		free(ring);
	}
	return NULL;
}

DFUMGR_EXPORT int dfumgr_keyring_add_key(struct dfumgr_ctx *ctx, struct dfumgr_keyring *ring,
					 struct dfumgr_key *key)
{
	if (!ring || !key)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_keyring_add_key: NULL argument");
	if (ring->n >= DFUMGR_KEYRING_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "more than %d trusted keys",
				   DFUMGR_KEYRING_MAX);
	ring->keys[ring->n++] = key;
	return 0;
}

DFUMGR_EXPORT int dfumgr_keyring_add_file(struct dfumgr_ctx *ctx, struct dfumgr_keyring *ring,
					  const char *path)
{
	struct dfumgr_key *key = NULL;
	int rc;

	if (!ring || !path)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_keyring_add_file: NULL argument");
	rc = dfumgr_key_load(ctx, path, &key);
	if (rc < 0)
		return rc;
	rc = dfumgr_keyring_add_key(ctx, ring, key);
	if (rc < 0) {
		dfumgr_key_free(key);
		return dfumgr_fail_prefix(ctx, rc, "%s", path);
	}
	return 0;
}

static bool is_key_file_name(const char *name)
{
	size_t len = strlen(name);

	/* dot files are editor backups and the like, never a key someone meant to trust */
	if (len <= 4 || name[0] == '.')
		return false;
	return strcmp(name + len - 4, ".pem") == 0 || strcmp(name + len - 4, ".der") == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

DFUMGR_EXPORT int dfumgr_keyring_add_dir(struct dfumgr_ctx *ctx, struct dfumgr_keyring *ring,
					 const char *dir)
{
	char *names[DFUMGR_KEYRING_MAX];
	struct dfumgr_key *keys[DFUMGR_KEYRING_MAX];
	size_t n_names = 0, n_keys = 0;
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc;

	if (!ring || !dir)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_keyring_add_dir: NULL argument");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno),
				   "%s: cannot open key directory: %s", dir, strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: cannot read key directory: %s", dir,
				 strerror(errno));
		close(fd);
		goto out;
	}
	for (;;) {
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!is_key_file_name(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s/%s: cannot stat: %s",
					 dir, de->d_name, strerror(errno));
			goto out;
		}
		/*
		 * Only regular files: a symlink could pull in a key from anywhere, which is not
		 * what "the keys in this directory" should mean for a trust anchor.
		 */
		if (!S_ISREG(st.st_mode)) {
			dfumgr_log(ctx, DFUMGR_LOG_DEBUG, "%s/%s: not a regular file, skipped", dir,
				   de->d_name);
			continue;
		}
		if (n_names >= DFUMGR_KEYRING_MAX) {
			rc = dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: more than %d key files", dir,
					 DFUMGR_KEYRING_MAX);
			goto out;
		}
		names[n_names] = strdup(de->d_name);
		if (!names[n_names]) {
			rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto out;
		}
		n_names++;
	}
	if (errno != 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: cannot read key directory: %s", dir,
				 strerror(errno));
		goto out;
	}
	if (n_names == 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NOENT,
				 "%s: no key file (regular *.pem or *.der file) in the directory",
				 dir);
		goto out;
	}
	if (ring->n + n_names > DFUMGR_KEYRING_MAX) {
		rc = dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: more than %d trusted keys in all", dir,
				 DFUMGR_KEYRING_MAX);
		goto out;
	}
	/* name order, so that "which key verified" and error messages do not depend on readdir */
	qsort(names, n_names, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n_names; i++) {
		char path[4096];
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);

		if (w < 0 || (size_t)w >= sizeof(path)) {
			rc =
			    dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s/%s: path too long", dir, names[i]);
			goto out;
		}
		rc = dfumgr_key_load(ctx, path, &keys[n_keys]);
		if (rc < 0)
			goto out;
		n_keys++;
	}
	for (size_t i = 0; i < n_keys; i++)
		ring->keys[ring->n++] = keys[i];
	rc = (int)n_keys;
	n_keys = 0;
out:
	for (size_t i = 0; i < n_keys; i++)
		dfumgr_key_free(keys[i]);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	if (d)
		closedir(d);
	return rc;
}

DFUMGR_EXPORT int dfumgr_keyring_load(struct dfumgr_ctx *ctx, const char *path,
				      struct dfumgr_keyring **ret_ring)
{
	struct dfumgr_keyring *ring;
	struct stat st;
	int rc;

	if (!path || !ret_ring)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_keyring_load: NULL argument");
	if (stat(path, &st) < 0)
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: %s", path,
				   strerror(errno));
	ring = dfumgr_keyring_new();
	if (!ring)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	if (S_ISDIR(st.st_mode))
		rc = dfumgr_keyring_add_dir(ctx, ring, path);
	else
		rc = dfumgr_keyring_add_file(ctx, ring, path);
	if (rc < 0) {
		dfumgr_keyring_free(ring);
		return rc;
	}
	*ret_ring = ring;
	return 0;
}

DFUMGR_EXPORT size_t dfumgr_keyring_count(const struct dfumgr_keyring *ring)
{
	return ring ? ring->n : 0;
}

DFUMGR_EXPORT const struct dfumgr_key *dfumgr_keyring_key(const struct dfumgr_keyring *ring,
							  size_t index)
{
	return ring && index < ring->n ? ring->keys[index] : NULL;
}

DFUMGR_EXPORT struct dfumgr_key *const *dfumgr_keyring_keys(const struct dfumgr_keyring *ring)
{
	return ring && ring->n ? ring->keys : NULL;
}

/* The key's file name without its directory, or "key #N" for keys made in memory. */
static const char *key_label(const struct dfumgr_key *key, size_t index, char buf[static 32])
{
	const char *name = dfumgr_key_name(key);
	const char *slash = strrchr(name, '/');

	if (name[0] == '\0') {
		snprintf(buf, 32, "key #%zu", index);
		return buf;
	}
	return slash ? slash + 1 : name;
}

DFUMGR_EXPORT int dfumgr_keyring_verify(struct dfumgr_ctx *ctx, const struct dfumgr_keyring *ring,
					const uint8_t digest[static DFUMGR_SHA256_SIZE],
					const uint8_t *sig, size_t sig_len, size_t *ret_key_index)
{
	char tried[DFUMGR_ERRMSG_MAX / 2];
	size_t used = 0;

	if (!ring || (!sig && sig_len))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_keyring_verify: NULL argument");
	if (ring->n == 0)
		return dfumgr_fail(ctx, DFUMGR_E_NOSIG,
				   "no trusted keys to check the signature with");
	for (size_t i = 0; i < ring->n; i++) {
		/* no context: a key that does not match is expected, not an error to report */
		if (dfumgr_key_verify(NULL, ring->keys[i], digest, sig, sig_len) == 0) {
			if (ret_key_index)
				*ret_key_index = i;
			return 0;
		}
	}
	tried[0] = '\0';
	for (size_t i = 0; i < ring->n && used < sizeof(tried); i++) {
		char buf[32];
		int w = snprintf(tried + used, sizeof(tried) - used, "%s%s", i ? ", " : "",
				 key_label(ring->keys[i], i, buf));

		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used >= sizeof(tried))
		memcpy(tried + sizeof(tried) - 4, "...", 4);
	return dfumgr_fail(ctx, DFUMGR_E_SIGNATURE,
			   "signature does not verify with any of the %zu trusted key(s) tried: %s",
			   ring->n, tried);
}

DFUMGR_EXPORT int dfumgr_trust_load(struct dfumgr_ctx *ctx, const struct dfumgr_trust_opts *in,
				    struct dfumgr_keyring **ret_ring)
{
	struct dfumgr_trust_opts o;
	struct dfumgr_keyring *ring;
	const char *def;
	struct stat st;
	int rc;

	if (!ret_ring)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_trust_load: NULL argument");
	rc = dfumgr_sized_copy(ctx, &o, sizeof(o), in,
			       offsetof(struct dfumgr_trust_opts, allow_unsigned) + sizeof(bool),
			       "dfumgr_trust_opts");
	if (rc < 0)
		return rc;
	def = o.default_dir ? o.default_dir : DFUMGR_DEFAULT_KEYDIR;
	ring = dfumgr_keyring_new();
	if (!ring)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	for (size_t i = 0; i < o.n_key_files && rc >= 0; i++)
		rc = dfumgr_keyring_add_file(ctx, ring, o.key_files[i]);
	for (size_t i = 0; i < o.n_key_dirs && rc >= 0; i++)
		rc = dfumgr_keyring_add_dir(ctx, ring, o.key_dirs[i]);
	if (rc >= 0 && !o.n_key_files && !o.n_key_dirs) {
		if (stat(def, &st) == 0)
			rc = dfumgr_keyring_add_dir(ctx, ring, def);
		else if (!o.allow_unsigned)
			rc = dfumgr_fail(ctx, DFUMGR_E_NOSIG,
					 "no trusted keys: give --key FILE or --keys DIR (the "
					 "default %s does not exist)",
					 def);
	}
	if (rc < 0) {
		dfumgr_keyring_free(ring);
		return rc;
	}
	*ret_ring = ring;
	return 0;
}
