/* SPDX-License-Identifier: MIT */
/* The crash-safe journal: JSON lines, one write + fdatasync per record, atomic compaction. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "dfumgr/journal.h"

enum crash_point { CRASH_NONE, CRASH_WRITE, CRASH_SYNC, CRASH_COMPACT_WRITE, CRASH_COMPACT_RENAME };

struct dfumgr_journal {
	struct dfumgr_ctx *ctx;
	char *path;
	int fd;
	enum crash_point crash_at;
	unsigned long crash_countdown;
};

static int io_fail(struct dfumgr_ctx *ctx, const char *what, const char *path)
{
	int err = errno;

	return dfumgr_fail(ctx, err == EACCES || err == EPERM ? DFUMGR_E_ACCESS : DFUMGR_E_IO,
			   "%s: %s: %s", path, what, strerror(err));
}

/* DFUMGR_JOURNAL_CRASH=POINT:N (see journal.h): a test's crash, at the same place every run. */
static void crash_hook_parse(struct dfumgr_journal *j)
{
	static const char *const names[] = {NULL, "write", "sync", "compact-write",
					    "compact-rename"};
	const char *env = getenv("DFUMGR_JOURNAL_CRASH"), *colon;

	if (!env || !(colon = strchr(env, ':')))
		return;
	for (size_t i = 1; i < ARRAY_SIZE(names); i++) {
		char *end;
		unsigned long n;

		if (strlen(names[i]) != (size_t)(colon - env) ||
		    strncmp(env, names[i], strlen(names[i])) != 0)
			continue;
		errno = 0;
		n = strtoul(colon + 1, &end, 10);
		if (!errno && !*end && n > 0) {
			j->crash_at = (enum crash_point)i;
			j->crash_countdown = n;
		}
	}
}

static void crash_point(struct dfumgr_journal *j, enum crash_point p)
{
	if (j->crash_at == p && --j->crash_countdown == 0)
		raise(SIGKILL);
}

static int sync_dir(struct dfumgr_ctx *ctx, const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = io_fail(ctx, "cannot sync its directory", path);
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/*
 * A crash in the middle of an append leaves a last line without its newline: cut it off, so
 * that the next record starts on a line of its own. Called with the lock held.
 */
static int cut_torn_tail(struct dfumgr_journal *j)
{
	char buf[4096];
	struct stat st;
	off_t end;

	if (fstat(j->fd, &st) < 0)
		return io_fail(j->ctx, "cannot stat", j->path);
	end = st.st_size;
	if (end == 0)
		return 0; /* a new journal */
	while (end > 0) {
		size_t n = end < (off_t)sizeof(buf) ? (size_t)end : sizeof(buf);
		ssize_t got = pread(j->fd, buf, n, end - (off_t)n);

		if (got != (ssize_t)n)
			return io_fail(j->ctx, "cannot read", j->path);
		if (end == st.st_size && buf[n - 1] == '\n')
			return 0; /* whole */
		for (size_t i = n; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				end = end - (off_t)n + (off_t)i;
				goto cut;
			}
		}
		end -= (off_t)n;
	}
cut:
	dfumgr_log(j->ctx, DFUMGR_LOG_WARNING,
		   "%s: dropping %lld bytes of a record torn by a crash", j->path,
		   (long long)(st.st_size - end));
	if (ftruncate(j->fd, end) < 0 || fdatasync(j->fd) < 0)
		return io_fail(j->ctx, "cannot cut off a torn record", j->path);
	return 0;
}

static int open_fd(struct dfumgr_journal *j)
{
	j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (j->fd < 0)
		return io_fail(j->ctx, "cannot open", j->path);
	return 0;
}

/*
 * Takes the lock; when a compaction replaced the file since we opened it, reopens the new one
 * (our descriptor would append to the unlinked old file).
 */
static int lock(struct dfumgr_journal *j)
{
	for (;;) {
		struct stat a, b;

		if (flock(j->fd, LOCK_EX) < 0)
			return io_fail(j->ctx, "cannot lock", j->path);
		if (fstat(j->fd, &a) < 0)
			return io_fail(j->ctx, "cannot stat", j->path);
		if (stat(j->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return 0;
		close(j->fd);
		if (open_fd(j) < 0)
			return -DFUMGR_E_IO;
	}
}

static void unlock(struct dfumgr_journal *j)
{
	(void)flock(j->fd, LOCK_UN);
}

DFUMGR_EXPORT int dfumgr_journal_open(struct dfumgr_ctx *ctx, const char *path,
				      struct dfumgr_journal **ret_journal)
{
	struct dfumgr_journal *j;
	int rc;

	if (!path || !ret_journal)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_journal_open: NULL argument");
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(path))) {
		free(j);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	j->ctx = ctx;
	j->fd = -1;
	crash_hook_parse(j);
	rc = open_fd(j);
	if (rc == 0)
		rc = lock(j);
	if (rc == 0) {
		rc = cut_torn_tail(j);
		unlock(j);
	}
	if (rc < 0) {
		dfumgr_journal_free(j);
		return rc;
	}
	*ret_journal = j;
	return 0;
}

DFUMGR_EXPORT struct dfumgr_journal *dfumgr_journal_free(struct dfumgr_journal *j)
{
	if (j) {
		if (j->fd >= 0)
			close(j->fd);
		free(j->path);
		free(j);
	}
	return NULL;
}

/* The record as one compact line with its newline (malloc'ed). */
static int record_line(struct dfumgr_ctx *ctx, const char *json, char **ret_line, size_t *ret_len)
{
	cJSON *obj;
	char *text, *line;
	size_t n;

	if (strlen(json) > DFUMGR_JOURNAL_RECORD_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "journal record of %zu bytes (at most %u)",
				   strlen(json), DFUMGR_JOURNAL_RECORD_MAX);
	obj = cJSON_ParseWithOpts(json, NULL, true);
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "a journal record must be one JSON object");
	}
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	n = strlen(text);
	line = malloc(n + 2);
	if (line) {
		memcpy(line, text, n);
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	cJSON_free(text);
	if (!line)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	*ret_line = line;
	*ret_len = n + 1;
	return 0;
}

DFUMGR_EXPORT int dfumgr_journal_append(struct dfumgr_journal *j, const char *json)
{
	char *line = NULL;
	size_t len = 0;
	ssize_t n;
	int rc;

	if (!j || !json)
		return -DFUMGR_E_INVAL;
	rc = record_line(j->ctx, json, &line, &len);
	if (rc < 0)
		return rc;
	rc = lock(j);
	if (rc < 0)
		goto out;
	/* one write: O_APPEND puts the whole line at the end, after any other writer's */
	do
		n = write(j->fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len) {
		rc = n < 0 ? io_fail(j->ctx, "cannot append", j->path)
			   : dfumgr_fail(j->ctx, DFUMGR_E_IO, "%s: short append (%zd of %zu bytes)",
					 j->path, n, len);
		/* a partial line would glue the next record to it: cut it off again */
		if (n > 0)
			(void)cut_torn_tail(j);
		goto unlock;
	}
	crash_point(j, CRASH_WRITE);
	if (fdatasync(j->fd) < 0) {
		rc = io_fail(j->ctx, "cannot sync", j->path);
		goto unlock;
	}
	crash_point(j, CRASH_SYNC);
	rc = 0;
unlock:
	unlock(j);
out:
	free(line);
	return rc;
}

/* Splits buf into lines; calls fn for each whole one. */
static int each_record(struct dfumgr_ctx *ctx, const char *path, char *buf, size_t size,
		       dfumgr_journal_record_fn fn, void *user, size_t *ret_torn)
{
	size_t line = 0, torn = 0;
	char *p = buf, *end = buf + size;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		cJSON *obj;
		int rc;

		line++;
		if (!nl) {
			torn++; /* the tail of an append a crash interrupted */
			break;
		}
		*nl = '\0';
		obj = cJSON_ParseWithOpts(p, NULL, true);
		rc = cJSON_IsObject(obj);
		cJSON_Delete(obj);
		if (!rc)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s: line %zu is not a JSON object (a damaged journal)",
					   path, line);
		rc = fn(user, line, p);
		if (rc != 0)
			return rc;
		p = nl + 1;
	}
	if (ret_torn)
		*ret_torn = torn;
	return 0;
}

DFUMGR_EXPORT int dfumgr_journal_read(struct dfumgr_ctx *ctx, const char *path,
				      dfumgr_journal_record_fn fn, void *user, size_t *ret_torn)
{
	uint8_t *buf = NULL;
	size_t size = 0;
	int fd, rc;

	if (!path || !fn)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_journal_read: NULL argument");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (ret_torn)
			*ret_torn = 0;
		return 0;
	}
	if (fd < 0)
		return io_fail(ctx, "cannot open", path);
	rc = dfumgr_file_read_fd(ctx, fd, path, DFUMGR_JOURNAL_FILE_MAX, -1, &buf, &size);
	if (rc < 0)
		return rc;
	rc = each_record(ctx, path, (char *)buf, size, fn, user, ret_torn);
	free(buf);
	return rc;
}

struct compaction {
	bool (*keep)(void *user, const char *json);
	void *user;
	FILE *out;
	int err;
};

static int keep_record(void *user, size_t line, const char *json)
{
	struct compaction *c = user;

	(void)line;
	if (c->keep(c->user, json) && fprintf(c->out, "%s\n", json) < 0)
		c->err = errno ? errno : EIO;
	return 0;
}

DFUMGR_EXPORT int dfumgr_journal_compact(struct dfumgr_journal *j,
					 bool (*keep)(void *user, const char *json), void *user)
{
	struct compaction c = {.keep = keep, .user = user};
	char *tmp = NULL;
	int fd = -1, rc;

	if (!j || !keep)
		return -DFUMGR_E_INVAL;
	rc = lock(j);
	if (rc < 0)
		return rc;
	if (asprintf(&tmp, "%s.compact", j->path) < 0) {
		tmp = NULL;
		rc = dfumgr_fail(j->ctx, DFUMGR_E_NOMEM, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || !(c.out = fdopen(fd, "w"))) {
		rc = io_fail(j->ctx, "cannot create", tmp);
		goto out;
	}
	fd = -1; /* the FILE owns it */
	rc = dfumgr_journal_read(j->ctx, j->path, keep_record, &c, NULL);
	if (rc < 0)
		goto out;
	if (c.err || fflush(c.out) != 0 || fsync(fileno(c.out)) < 0) {
		errno = c.err ? c.err : errno;
		rc = io_fail(j->ctx, "cannot write", tmp);
		goto out;
	}
	crash_point(j, CRASH_COMPACT_WRITE);
	if (rename(tmp, j->path) < 0) {
		rc = io_fail(j->ctx, "cannot replace the journal with", tmp);
		goto out;
	}
	crash_point(j, CRASH_COMPACT_RENAME);
	rc = sync_dir(j->ctx, j->path);
out:
	if (c.out)
		fclose(c.out);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	unlock(j);
	/* appends go to the new file from now on (lock() notices the inode changed) */
	return rc;
}
