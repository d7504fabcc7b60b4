/* SPDX-License-Identifier: MIT */
/*
 * The crash-safe journal (src/lib/journal.c): records survive in order, a torn tail from a crash
 * is skipped and cut, a damaged line is an error with its number, compaction is atomic, appends
 * from several processes never interleave, and a process killed at each of the hook's crash
 * points leaves exactly the records it had written.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/journal.h"

struct lines {
	size_t n;
	char text[512][128];
	size_t lineno[512];
};

static int collect(void *user, size_t line, const char *json)
{
	struct lines *l = user;

	assert_true(l->n < 512);
	snprintf(l->text[l->n], sizeof(l->text[0]), "%s", json);
	l->lineno[l->n++] = line;
	return 0;
}

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void append_n(struct dfumgr_journal *j, int from, int to)
{
	for (int i = from; i < to; i++) {
		char rec[64];

		snprintf(rec, sizeof(rec), "{\"seq\": %d, \"serial\": \"S-%d\"}", i, i);
		assert_int_equal(dfumgr_journal_append(j, rec), 0);
	}
}

static void append_raw(const char *path, const char *bytes)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0640);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	close(fd);
}

static void test_append_read(void **state)
{
	char *dir = test_tmpdir(), *path = path_in(dir, "history.jsonl");
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_journal *j = NULL;
	struct lines *l = calloc(1, sizeof(*l));
	size_t torn = 99;

	(void)state;
	/* a journal that does not exist yet has no records */
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, &torn), 0);
	assert_int_equal(l->n, 0);
	assert_int_equal(torn, 0);
	assert_int_equal(dfumgr_journal_open(ctx, path, &j), 0);
	append_n(j, 0, 3);
	/* pretty input is written compact, one line */
	assert_int_equal(dfumgr_journal_append(j, "{\n  \"a\": [1, 2],\n  \"b\": \"x\\ny\"\n}"), 0);
	/* not one object: refused, nothing written */
	assert_int_equal(dfumgr_journal_append(j, "[1, 2]"), -DFUMGR_E_FORMAT);
	assert_int_equal(dfumgr_journal_append(j, "{\"a\": 1} {\"b\": 2}"), -DFUMGR_E_FORMAT);
	assert_int_equal(dfumgr_journal_append(j, "{\"a\": "), -DFUMGR_E_FORMAT);
	{
		size_t n = DFUMGR_JOURNAL_RECORD_MAX + 10;
		char *big = malloc(n + 1);

		memset(big, ' ', n);
		memcpy(big, "{\"k\": \"", 7);
		memcpy(big + n - 2, "\"}", 2);
		big[n] = '\0';
		assert_int_equal(dfumgr_journal_append(j, big), -DFUMGR_E_TOOBIG);
		free(big);
	}
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, &torn), 0);
	assert_int_equal(l->n, 4);
	assert_string_equal(l->text[0], "{\"seq\":0,\"serial\":\"S-0\"}");
	assert_string_equal(l->text[2], "{\"seq\":2,\"serial\":\"S-2\"}");
	assert_string_equal(l->text[3], "{\"a\":[1,2],\"b\":\"x\\ny\"}");
	assert_int_equal(l->lineno[3], 4);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0640);
	}
	dfumgr_journal_free(j);
	free(l);
	dfumgr_ctx_free(ctx);
	test_rmtree(dir);
	free(path);
	free(dir);
}

static void test_torn_and_damaged(void **state)
{
	char *dir = test_tmpdir(), *path = path_in(dir, "log.jsonl");
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_journal *j = NULL;
	struct lines *l = calloc(1, sizeof(*l));
	size_t torn = 0;

	(void)state;
	assert_int_equal(dfumgr_journal_open(ctx, path, &j), 0);
	append_n(j, 0, 2);
	dfumgr_journal_free(j);
	/* a crash in the middle of the third append */
	append_raw(path, "{\"seq\": 2, \"ser");
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, &torn), 0);
	assert_int_equal(l->n, 2);
	assert_int_equal(torn, 1);
	/* the next writer cuts it off, and its record starts a line of its own */
	assert_int_equal(dfumgr_journal_open(ctx, path, &j), 0);
	append_n(j, 2, 3);
	l->n = 0;
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, &torn), 0);
	assert_int_equal(l->n, 3);
	assert_int_equal(torn, 0);
	assert_string_equal(l->text[2], "{\"seq\":2,\"serial\":\"S-2\"}");
	dfumgr_journal_free(j);
	/* a torn record that has no newline at all before it (the first one) */
	unlink(path);
	append_raw(path, "{\"se");
	assert_int_equal(dfumgr_journal_open(ctx, path, &j), 0);
	append_n(j, 7, 8);
	l->n = 0;
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, NULL), 0);
	assert_int_equal(l->n, 1);
	assert_string_equal(l->text[0], "{\"seq\":7,\"serial\":\"S-7\"}");
	/* a damaged line in the middle is an error that names the line */
	append_raw(path, "not json\n");
	append_n(j, 8, 9);
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, NULL), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "line 2 is not a JSON object"));
	dfumgr_journal_free(j);
	free(l);
	dfumgr_ctx_free(ctx);
	test_rmtree(dir);
	free(path);
	free(dir);
}

static bool keep_odd(void *user, const char *json)
{
	(void)user;
	return strstr(json, "\"seq\":1,") || strstr(json, "\"seq\":3,") ||
	       strstr(json, "\"seq\":5,");
}

static void test_compact(void **state)
{
	char *dir = test_tmpdir(), *path = path_in(dir, "h.jsonl");
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_journal *j = NULL, *other = NULL;
	struct lines *l = calloc(1, sizeof(*l));

	(void)state;
	assert_int_equal(dfumgr_journal_open(ctx, path, &j), 0);
	assert_int_equal(dfumgr_journal_open(ctx, path, &other), 0);
	append_n(j, 0, 6);
	assert_int_equal(dfumgr_journal_compact(j, keep_odd, NULL), 0);
	/* appends after the compaction, from this handle and one opened before it */
	append_n(j, 6, 7);
	append_n(other, 7, 8);
	assert_int_equal(dfumgr_journal_read(ctx, path, collect, l, NULL), 0);
	assert_int_equal(l->n, 5);
	assert_string_equal(l->text[0], "{\"seq\":1,\"serial\":\"S-1\"}");
	assert_string_equal(l->text[2], "{\"seq\":5,\"serial\":\"S-5\"}");
	assert_string_equal(l->text[3], "{\"seq\":6,\"serial\":\"S-6\"}");
	assert_string_equal(l->text[4], "{\"seq\":7,\"serial\":\"S-7\"}");
	{
		char *tmp = path_in(dir, "h.jsonl.compact");

		assert_int_equal(access(tmp, F_OK), -1); /* no leftovers */
		free(tmp);
	}
	dfumgr_journal_free(j);
	dfumgr_journal_free(other);
	free(l);
	dfumgr_ctx_free(ctx);
	test_rmtree(dir);
	free(path);
	free(dir);
}

/* A child appends 0..9 and compacts to the odd ones, with DFUMGR_JOURNAL_CRASH=hook. */
static int child_run(const char *path, const char *hook)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct dfumgr_journal *j = NULL;

		setenv("DFUMGR_JOURNAL_CRASH", hook, 1);
		if (dfumgr_journal_open(NULL, path, &j) < 0)
			_exit(2);
		for (int i = 0; i < 10; i++) {
			char rec[64];

			snprintf(rec, sizeof(rec), "{\"seq\": %d, \"serial\": \"S-%d\"}", i, i);
			if (dfumgr_journal_append(j, rec) < 0)
				_exit(3);
		}
		if (dfumgr_journal_compact(j, keep_odd, NULL) < 0)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

static void test_crash_points(void **state)
{
	static const struct {
		const char *hook;
		size_t records; /* what a reader finds afterwards */
	} cases[] = {
	    {"write:1", 1},  {"write:4", 4},          {"sync:1", 1},
	    {"sync:10", 10}, {"compact-write:1", 10}, {"compact-rename:1", 3},
	};
	char *dir = test_tmpdir();

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *path = path_in(dir, "crash.jsonl");
		struct lines *l = calloc(1, sizeof(*l));
		struct dfumgr_journal *j = NULL;
		size_t torn = 9;

		unlink(path);
		assert_int_equal(child_run(path, cases[c].hook), -SIGKILL);
		assert_int_equal(dfumgr_journal_read(NULL, path, collect, l, &torn), 0);
		if (l->n != cases[c].records || torn != 0)
			fail_msg("%s: %zu records (%zu torn), want %zu", cases[c].hook, l->n, torn,
				 cases[c].records);
		/* the journal goes on: a new writer appends after what survived */
		assert_int_equal(dfumgr_journal_open(NULL, path, &j), 0);
		append_n(j, 100, 101);
		l->n = 0;
		assert_int_equal(dfumgr_journal_read(NULL, path, collect, l, &torn), 0);
		assert_int_equal(l->n, cases[c].records + 1);
		assert_string_equal(l->text[l->n - 1], "{\"seq\":100,\"serial\":\"S-100\"}");
		dfumgr_journal_free(j);
		free(l);
		free(path);
	}
	/* without the hook, the same run completes */
	{
		char *path = path_in(dir, "ok.jsonl");
		struct lines *l = calloc(1, sizeof(*l));

		assert_int_equal(child_run(path, ""), 0);
		assert_int_equal(dfumgr_journal_read(NULL, path, collect, l, NULL), 0);
		assert_int_equal(l->n, 3);
		free(l);
		free(path);
	}
	test_rmtree(dir);
	free(dir);
}

static void test_concurrent_writers(void **state)
{
	char *dir = test_tmpdir(), *path = path_in(dir, "station.jsonl");
	struct lines *l = calloc(1, sizeof(*l));
	pid_t pids[4];
	int seen[4][50] = {{0}};

	(void)state;
	for (int p = 0; p < 4; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct dfumgr_journal *j = NULL;

			if (dfumgr_journal_open(NULL, path, &j) < 0)
				_exit(2);
			for (int i = 0; i < 50; i++) {
				char rec[96];

				snprintf(rec, sizeof(rec),
					 "{\"writer\": %d, \"i\": %d, \"pad\": \"%040d\"}", p, i,
					 i);
				if (dfumgr_journal_append(j, rec) < 0)
					_exit(3);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < 4; p++) {
		int status;

		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(dfumgr_journal_read(NULL, path, collect, l, NULL), 0);
	assert_int_equal(l->n, 200);
	for (size_t i = 0; i < l->n; i++) {
		int w, k;

		assert_int_equal(sscanf(l->text[i], "{\"writer\":%d,\"i\":%d", &w, &k), 2);
		seen[w][k]++;
	}
	for (int p = 0; p < 4; p++)
		for (int i = 0; i < 50; i++)
			assert_int_equal(seen[p][i], 1);
	free(l);
	test_rmtree(dir);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_read),
	    cmocka_unit_test(test_torn_and_damaged),
	    cmocka_unit_test(test_compact),
	    cmocka_unit_test(test_crash_points),
	    cmocka_unit_test(test_concurrent_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
