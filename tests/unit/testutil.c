/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "dfumgr/common.h"

const char *test_data_path(const char *name)
{
	static char path[4096];
	const char *dir = getenv("DFUMGR_TEST_DATA");

	if (!dir)
		dir = "tests/data";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

uint8_t *test_read(const char *name, size_t *ret_size)
{
	uint8_t *buf = NULL;
	size_t size = 0;
	int rc = dfumgr_file_read(NULL, test_data_path(name), 1u << 30, &buf, &size);

	if (rc < 0)
		fail_msg("cannot read test data %s: %s", test_data_path(name), dfumgr_strerror(rc));
	*ret_size = size;
	return buf;
}

const cJSON *test_vectors(void)
{
	static cJSON *root;

	if (!root) {
		size_t size;
		uint8_t *buf = test_read("vectors.json", &size);

		root = cJSON_ParseWithLength((const char *)buf, size);
		free(buf);
		if (!root)
			fail_msg("tests/data/vectors.json does not parse");
	}
	return root;
}

const cJSON *test_vector(const char *name)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(test_vectors(), "files"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "file");

		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return f;
	}
	return NULL;
}

char *test_tmpdir(void)
{
	char tmpl[] = "/tmp/dfumgr-test-XXXXXX";
	char *dir = mkdtemp(tmpl);

	if (!dir)
		fail_msg("mkdtemp: %s", strerror(errno));
	return strdup(dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void test_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

unsigned long long test_json_uint(const cJSON *item)
{
	if (cJSON_IsNumber(item))
		return (unsigned long long)item->valuedouble;
	if (cJSON_IsString(item))
		return strtoull(item->valuestring, NULL, 0);
	fail_msg("expected a number or numeric string in vectors.json");
	return 0;
}
