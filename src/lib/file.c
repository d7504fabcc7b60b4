/* SPDX-License-Identifier: MIT */
/* Whole-file reads with a size limit, and crash-safe writes (temp file, fsync, rename). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int dfumgr_file_read_fd(struct dfumgr_ctx *ctx, int fd, const char *show, size_t max_size,
			int64_t expect_size, uint8_t **ret_buf, size_t *ret_size)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t done = 0, size;
	int rc;

	if (fstat(fd, &st) < 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: cannot stat: %s", show, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: not a regular file", show);
		goto out;
	}
	if ((uint64_t)st.st_size > max_size) {
		rc = dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: %lld bytes, more than the limit of %zu",
				 show, (long long)st.st_size, max_size);
		goto out;
	}
	if (expect_size >= 0 && st.st_size != expect_size) {
		rc = dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
				 "%s: %lld bytes, but the manifest says %lld", show,
				 (long long)st.st_size, (long long)expect_size);
		goto out;
	}
	size = (size_t)st.st_size;
	/* +1 so that an empty file still gets a valid pointer */
	buf = malloc(size + 1);
	if (!buf) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "%s: out of memory", show);
		goto out;
	}
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: read failed at byte %zu: %s", show,
					 done, strerror(errno));
			goto out;
		}
		if (n == 0) {
			rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: shrank to %zu bytes while reading",
					 show, done);
			goto out;
		}
		done += (size_t)n;
	}
	*ret_buf = buf;
	*ret_size = size;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

DFUMGR_EXPORT int dfumgr_file_read(struct dfumgr_ctx *ctx, const char *path, size_t max_size,
				   uint8_t **ret_buf, size_t *ret_size)
{
	int fd;

	if (!path || !ret_buf || !ret_size)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_file_read: NULL argument");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: cannot open: %s", path,
				   strerror(errno));
	return dfumgr_file_read_fd(ctx, fd, path, max_size, -1, ret_buf, ret_size);
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

DFUMGR_EXPORT int dfumgr_file_write(struct dfumgr_ctx *ctx, const char *path, const void *buf,
				    size_t size, bool overwrite)
{
	return dfumgr_file_write_mode(ctx, path, buf, size, overwrite, 0644);
}

DFUMGR_EXPORT int dfumgr_file_write_mode(struct dfumgr_ctx *ctx, const char *path, const void *buf,
					 size_t size, bool overwrite, unsigned mode)
{
	char tmp[4096];
	const uint8_t *p = buf;
	size_t done = 0;
	int fd, n, rc;

	if (!path || (!buf && size))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_file_write: NULL argument");
	if (!overwrite && access(path, F_OK) == 0)
		return dfumgr_fail(ctx, DFUMGR_E_EXISTS, "%s: exists (refusing to overwrite)",
				   path);
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: cannot create: %s", tmp,
				   strerror(errno));
	while (done < size) {
		ssize_t w = write(fd, p + done, size - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: write failed: %s",
					 tmp, strerror(errno));
			goto fail;
		}
		done += (size_t)w;
	}
	/* mkostemp made it 0600: a secret is never readable by others, not even briefly */
	if (fchmod(fd, (mode_t)(mode & 07777)) < 0 || fsync(fd) < 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: cannot sync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = dfumgr_fail(ctx, DFUMGR_E_IO, "%s: close failed: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (!overwrite) {
		/* link() fails with EEXIST instead of silently replacing a file made meanwhile */
		if (link(tmp, path) < 0) {
			rc = dfumgr_fail(ctx, dfumgr_errno_to_err(errno), "%s: cannot create: %s",
					 path, strerror(errno));
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		rc = dfumgr_fail(ctx, dfumgr_errno_to_err(errno),
				 "%s: cannot rename into place: %s", path, strerror(errno));
		goto fail;
	}
	(void)fsync_dir_of(path);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}
