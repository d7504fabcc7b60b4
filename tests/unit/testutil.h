/* SPDX-License-Identifier: MIT */
/* Shared helpers for the cmocka unit tests: test data files and vectors.json. */
#ifndef DFUMGR_TESTUTIL_H
#define DFUMGR_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

/* Path of a file in tests/data ($DFUMGR_TEST_DATA); static buffer, valid until the next call. */
const char *test_data_path(const char *name);
/* Reads tests/data/NAME; fails the test if it cannot. free() the result. */
uint8_t *test_read(const char *name, size_t *ret_size);
/* vectors.json, parsed once per process; never NULL (fails the test instead). */
const cJSON *test_vectors(void);
/* The entry of vectors.json "files" whose "file" is name, or NULL. */
const cJSON *test_vector(const char *name);
/* A fresh empty temporary directory (removed by test_rmtree). */
char *test_tmpdir(void);
void test_rmtree(const char *path);
/* Parses "0x..." or decimal JSON string/number into an unsigned value. */
unsigned long long test_json_uint(const cJSON *item);

#endif
