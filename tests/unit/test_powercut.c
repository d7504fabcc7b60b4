/* SPDX-License-Identifier: MIT */
/*
 * The power-cut matrix, short: an update of the emulated board (real slot geometry, small
 * images, virtual time) with its power cut after every 7th flash write of the download, the
 * commit, MCUboot's swap and the application's confirm. Every outcome must be the old pair or
 * the new pair, and the update must then succeed. scripts/powercut-matrix.sh runs every write.
 */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "powercut.h"

static void test_powercut_matrix_short(void **state)
{
	struct powercut_opts o = {
	    .data_dir = getenv("DFUMGR_TEST_DATA"),
	    .new_version = "2.0.0+1",
	    .size = {20 * 1024, 70 * 1024},
	    .stride = 7,
	};
	struct powercut_result r;

	(void)state;
	assert_non_null(o.data_dir);
	assert_int_equal(powercut_run(&o, &r), 0);
	powercut_print(&r);
	/* the uncut update touched every phase */
	for (int ph = 0; ph < POWERCUT_PHASES; ph++)
		assert_true(r.phase_writes[ph] > 0);
	assert_true(r.cases >= r.writes / 7);
	assert_int_equal(r.outcome[POWERCUT_MIXED], 0);
	assert_int_equal(r.outcome[POWERCUT_NO_BOOT], 0);
	assert_int_equal(r.rerun_failed, 0);
	assert_true(r.outcome[POWERCUT_OLD] > 0);
	assert_true(r.outcome[POWERCUT_NEW] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_powercut_matrix_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
