/* SPDX-License-Identifier: MIT */
/* transport_usb.c's pure functions: descriptor walking, DFU interface class, paths, strings. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "transport_usb.h"
#include "dfumgr/wire.h"

static void test_func_desc_dfu_1_1(void **state)
{
	/* an endpoint-less interface's extra bytes: a vendor descriptor, then DFU functional */
	const unsigned char d[] = {4, 0x24, 0xaa, 0xbb, /* some class-specific descriptor */
				   9, 0x21, 0x0f, 0xe8, 0x03, 0x00, 0x10, 0x10, 0x01};
	struct dfumgr_dfu_func f = {0};

	(void)state;
	assert_true(usb_find_func_desc(d, (int)sizeof(d), &f));
	assert_int_equal(f.attributes, 0x0f);
	assert_int_equal(f.detach_timeout_ms, 1000);
	assert_int_equal(f.transfer_size, 4096);
	assert_int_equal(f.dfu_version, 0x0110);
}

static void test_func_desc_dfu_1_0_and_bad_chains(void **state)
{
	const unsigned char v10[] = {7, 0x21, 0x0b, 0xff, 0x00, 0x00, 0x04};
	const unsigned char zero_len[] = {0, 0x21, 0x0f, 0xe8, 0x03, 0x00, 0x10, 0x10, 0x01};
	const unsigned char overrun[] = {9, 0x21, 0x0f, 0xe8, 0x03}; /* says 9, has 5 */
	const unsigned char too_short[] = {5, 0x21, 0x0f, 0xe8, 0x03};
	const unsigned char other[] = {9, 0x04, 0, 0, 0, 0xfe, 1, 2, 0};
	struct dfumgr_dfu_func f = {0};

	(void)state;
	assert_true(usb_find_func_desc(v10, (int)sizeof(v10), &f));
	assert_int_equal(f.dfu_version, 0x0100);
	assert_int_equal(f.transfer_size, 1024);
	assert_int_equal(f.detach_timeout_ms, 255);
	assert_false(usb_find_func_desc(zero_len, (int)sizeof(zero_len), &f));
	assert_false(usb_find_func_desc(overrun, (int)sizeof(overrun), &f));
	assert_false(usb_find_func_desc(too_short, (int)sizeof(too_short), &f));
	assert_false(usb_find_func_desc(other, (int)sizeof(other), &f));
	assert_false(usb_find_func_desc(NULL, 0, &f));
	assert_false(usb_find_func_desc(v10, 1, &f));
}

static void test_dfu_interface_class(void **state)
{
	(void)state;
	assert_true(usb_is_dfu_alt_class(0xfe, 1, 1));  /* runtime */
	assert_true(usb_is_dfu_alt_class(0xfe, 1, 2));  /* DFU mode */
	assert_false(usb_is_dfu_alt_class(0xfe, 1, 0)); /* no protocol */
	assert_false(usb_is_dfu_alt_class(0xfe, 2, 1)); /* IrDA bridge */
	assert_false(usb_is_dfu_alt_class(0xff, 1, 1)); /* vendor */
}

static void test_paths(void **state)
{
	const uint8_t ports[] = {2, 10, 3};
	const uint8_t deep[7] = {255, 255, 255, 255, 255, 255, 255};
	char p[DFUMGR_PATH_MAX];

	(void)state;
	usb_path_format(1, ports, 0, p);
	assert_string_equal(p, "1");
	usb_path_format(3, ports, 1, p);
	assert_string_equal(p, "3-2");
	usb_path_format(3, ports, 3, p);
	assert_string_equal(p, "3-2.10.3");
	/* the deepest topology with the largest numbers still fits, NUL-terminated */
	usb_path_format(255, deep, 7, p);
	assert_string_equal(p, "255-255.255.255.255.255.255.255");
	assert_true(strlen(p) < DFUMGR_PATH_MAX);

	assert_true(usb_path_cmp("1-2", "1-10") < 0); /* numbers, not text */
	assert_true(usb_path_cmp("1-10", "1-2") > 0);
	assert_true(usb_path_cmp("2-1", "10-1") < 0);
	assert_true(usb_path_cmp("1-2", "1-2.1") < 0); /* a hub's port after the hub */
	assert_int_equal(usb_path_cmp("3-2.10.3", "3-2.10.3"), 0);
	assert_true(usb_path_cmp("1-2.9", "1-2.10") < 0);
}

static void test_strings(void **state)
{
	unsigned char raw[300];
	char out[DFUMGR_STRING_MAX];

	(void)state;
	usb_string_sanitize((const unsigned char *)"EMU-0001", 8, out);
	assert_string_equal(out, "EMU-0001");
	usb_string_sanitize((const unsigned char *)"a\nb\x7f\x01\"", 6, out);
	assert_string_equal(out, "a?b??\"");
	usb_string_sanitize((const unsigned char *)"x", 0, out);
	assert_string_equal(out, "");
	usb_string_sanitize((const unsigned char *)"x", -5, out); /* a libusb error */
	assert_string_equal(out, "");
	memset(raw, 'Z', sizeof(raw));
	usb_string_sanitize(raw, (int)sizeof(raw), out);
	assert_int_equal(strlen(out), DFUMGR_STRING_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_func_desc_dfu_1_1),
	    cmocka_unit_test(test_func_desc_dfu_1_0_and_bad_chains),
	    cmocka_unit_test(test_dfu_interface_class),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
