/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgrd's configuration file (src/daemon/config.c): defaults, INI sections and bare keys,
 * product mappings, and every error naming the file and line while leaving the configuration
 * as it was (a bad SIGHUP reload changes nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "config.h"

static char *write_conf(const char *dir, const char *text)
{
	char *path = NULL;
	FILE *f;

	assert_true(asprintf(&path, "%s/dfu-mgrd.conf", dir) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	assert_int_equal(config_defaults(&c), 0);
	assert_string_equal(c.paths[PATH_INCOMING], "/var/lib/dfu-mgr/incoming");
	assert_string_equal(c.paths[PATH_STATE], "/var/lib/dfu-mgr");
	assert_string_equal(c.paths[PATH_RUNTIME], "/run/dfu-mgr");
	assert_string_equal(c.paths[PATH_KEYS], "/etc/dfu-mgr/keys.d");
	assert_string_equal(c.paths[PATH_FETCH_STATE], "/var/lib/dfu-mgr/fetch/state.json");
	assert_true(c.usb);
	assert_false(c.allow_downgrade);
	assert_int_equal(c.max_parallel, 4);
	assert_int_equal(c.max_attempts, 5);
	assert_int_equal(c.retry_initial_s, 60);
	assert_int_equal(c.retry_max_s, 3600);
	assert_string_equal(c.control_group, "dfu-mgr");
	config_done(&c);
}

static void test_full_file(void **state)
{
	char *dir = test_tmpdir(), err[512] = "";
	char *path = write_conf(dir, "# a comment\n"
				     "; another\n"
				     "\n"
				     "[paths]\n"
				     "  incoming = /srv/drop  \n"
				     "keys=/etc/keys.pem\r\n"
				     "[policy]\n"
				     "allow_downgrade = yes\n"
				     "max_parallel = 8\n"
				     "retry_initial = 30\n"
				     "retry_max = 600\n"
				     "usb = off\n"
				     "[control]\n"
				     "group = lab\n"
				     "[products]\n"
				     "2fe3:0100 = gait-sensor\n"
				     "serial:RACK-07 = other_product.v2\n");
	struct config c;

	(void)state;
	assert_int_equal(config_defaults(&c), 0);
	if (config_load(&c, path, false, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_string_equal(c.paths[PATH_INCOMING], "/srv/drop");
	assert_string_equal(c.paths[PATH_KEYS], "/etc/keys.pem");
	assert_string_equal(c.paths[PATH_STATE], "/var/lib/dfu-mgr"); /* untouched */
	assert_true(c.allow_downgrade);
	assert_false(c.usb);
	assert_int_equal(c.max_parallel, 8);
	assert_int_equal(c.retry_initial_s, 30);
	assert_int_equal(c.retry_max_s, 600);
	assert_string_equal(c.control_group, "lab");
	assert_int_equal(c.n_maps, 2);
	/* a serial names one board and wins over the VID:PID of its kind */
	assert_string_equal(config_map_product(&c, "", 0x2fe3, 0x0100), "gait-sensor");
	assert_string_equal(config_map_product(&c, "RACK-07", 0x2fe3, 0x0100), "other_product.v2");
	assert_null(config_map_product(&c, "RACK-08", 0x2fe3, 0x0101));
	config_done(&c);
	free(path);
	test_rmtree(dir);
	free(dir);
}

static void test_bare_keys(void **state)
{
	char *dir = test_tmpdir(), err[512] = "";
	char *path = write_conf(dir, "state = /tmp/x\nmax_attempts = 2\ngroup = wheel\n");
	struct config c;

	(void)state;
	assert_int_equal(config_defaults(&c), 0);
	if (config_load(&c, path, false, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_string_equal(c.paths[PATH_STATE], "/tmp/x");
	assert_int_equal(c.max_attempts, 2);
	assert_string_equal(c.control_group, "wheel");
	config_done(&c);
	free(path);
	test_rmtree(dir);
	free(dir);
}

static void test_errors_change_nothing(void **state)
{
	static const struct {
		const char *text;
		const char *want; /* in the message, after "FILE:" */
	} cases[] = {
	    {"max_parralel = 3\n", ":1: unknown key \"max_parralel\""},
	    {"[policy]\nincoming = /x\n", ":2: unknown key \"incoming\" in section [policy]"},
	    {"[polcy]\n", ":1: unknown section [polcy]"},
	    {"[policy\n", ":1: a section header must end with ']'"},
	    {"\n\nusb\n", ":3: expected key = value"},
	    {"= 3\n", ":1: a key is missing"},
	    {"usb = maybe\n", ":1: usb: \"maybe\" is not yes or no"},
	    {"max_parallel = 0\n", ":1: max_parallel: \"0\" is not a number from 1 to 64"},
	    {"max_parallel = 4x\n", "not a number from 1 to 64"},
	    {"max_parallel = -1\n", "is not a number"},
	    {"retry_initial = 99999999999999999999\n", "not a number from 1 to 86400"},
	    {"incoming = relative/dir\n", ":1: incoming: \"relative/dir\" is not an absolute path"},
	    {"max_attempts = 2\nmax_attempts = 3\n", ":2: max_attempts is set twice"},
	    {"group = a b\n", "is not a group name"},
	    {"[products]\n1234 = x\n", ":2: \"1234\": a board is VVVV:PPPP"},
	    {"[products]\n12g4:0001 = x\n", "a board is VVVV:PPPP"},
	    {"[products]\nserial: = x\n", "give serial:SERIAL"},
	    {"[products]\n1234:5678 = ../up\n", "the product must be letters"},
	    {"[products]\n1234:5678 = a\n1234:5678 = b\n", ":3: \"1234:5678\" is mapped twice"},
	    {"retry_initial = 100\nretry_max = 50\n", "retry_max (50) is less than retry_initial"},
	};
	char *dir = test_tmpdir();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = write_conf(dir, cases[i].text), err[512] = "";
		struct config c;

		assert_int_equal(config_defaults(&c), 0);
		assert_int_equal(config_set_path(&c, PATH_INCOMING, "/before"), 0);
		c.max_attempts = 9;
		if (config_load(&c, path, false, err, sizeof(err)) != -1 ||
		    !strstr(err, cases[i].want) || strncmp(err, path, strlen(path)) != 0)
			fail_msg("case %zu (%s): message \"%s\", want \"%s\"", i, cases[i].text,
				 err, cases[i].want);
		/* nothing of a bad file is applied */
		assert_string_equal(c.paths[PATH_INCOMING], "/before");
		assert_int_equal(c.max_attempts, 9);
		assert_int_equal(c.n_maps, 0);
		config_done(&c);
		free(path);
	}
	test_rmtree(dir);
	free(dir);
}

static void test_files(void **state)
{
	char *dir = test_tmpdir(), err[512] = "", missing[4096], *path;
	struct config c;
	FILE *f;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/nope.conf", dir);
	assert_int_equal(config_defaults(&c), 0);
	/* the default file may be missing; one named on the command line may not */
	assert_int_equal(config_load(&c, missing, true, err, sizeof(err)), 0);
	assert_int_equal(config_load(&c, missing, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	/* a NUL byte, an over-long line, an over-long file */
	path = write_conf(dir, "");
	f = fopen(path, "w");
	fwrite("usb = yes\n\0x = 1\n", 1, 17, f);
	fclose(f);
	assert_int_equal(config_load(&c, path, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL byte"));
	f = fopen(path, "w");
	fprintf(f, "# %02000d\n", 0);
	fclose(f);
	assert_int_equal(config_load(&c, path, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: line longer than 1024 bytes"));
	f = fopen(path, "w");
	for (int i = 0; i < 2000; i++)
		fprintf(f, "# %060d\n", i);
	fclose(f);
	assert_int_equal(config_load(&c, path, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than 64 KiB"));
	/* [products] are replaced, not added to, by each load (a reload) */
	free(path);
	path = write_conf(dir, "[products]\n1111:2222 = a\n");
	assert_int_equal(config_load(&c, path, false, err, sizeof(err)), 0);
	assert_int_equal(config_load(&c, path, false, err, sizeof(err)), 0);
	assert_int_equal(c.n_maps, 1);
	config_done(&c);
	free(path);
	test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),  cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_bare_keys), cmocka_unit_test(test_errors_change_nothing),
	    cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
