/* SPDX-License-Identifier: MIT */
/*
 * Host tests of the nRF5340 shim's Zephyr-free glue (firmware/zephyr/src/shim_*.c): the USB
 * descriptors against dfu-mgr-emu's (the emulated and the real board must enumerate alike), the
 * serial number, the partition map against wire.h and the core's defaults, and word-aligned
 * programming spans. (The MCUboot image reader moved to firmware/core: tests/unit/
 * test_mcuboot_image.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "board.h"
#include "shim_desc.h"
#include "shim_map.h"

/* board.c exports it for tests without a header prototype */
int emu_board_config_desc(const struct emu_board *b, uint8_t *d);

#define SERIAL "NRF5340-0123456789ABCDEF"

/* The n-th descriptor of type in a blob, as Zephyr's usb_get_descriptor() finds it. */
static const uint8_t *find_desc(const uint8_t *blob, size_t size, uint8_t type, unsigned n,
				size_t *ret_len)
{
	size_t at = 0;

	while (at < size && blob[at] != 0) {
		assert_true(at + blob[at] <= size);
		if (blob[at + 1] == type && n-- == 0) {
			*ret_len =
			    type == 2 ? (size_t)(blob[at + 2] | blob[at + 3] << 8) : blob[at];
			return blob + at;
		}
		at += blob[at];
	}
	return NULL;
}

/* What dfu-mgr-emu answers to GET_DESCRIPTOR(type, index). */
static int emu_desc(struct emu_board *b, uint8_t type, uint8_t index, uint8_t *out)
{
	const uint8_t setup[8] = {0x80, 6, index, type, 0, 0, 0xff, 0};

	return emu_board_control(b, setup, out, 0);
}

static void check_against_emu(bool dfu_mode)
{
	uint8_t blob[SHIM_DESC_MAX], emu[256];
	struct shim_desc_layout l;
	struct emu_board b;
	const uint8_t *d;
	size_t len;
	int n = shim_desc_build(blob, sizeof(blob), dfu_mode, SERIAL, &l);

	assert_true(n > 0);
	assert_int_equal((size_t)n, l.size);
	assert_int_equal(blob[l.size - 1], 0);
	memset(&b, 0, sizeof(b));
	b.mode = dfu_mode ? EMU_MODE_DFU : EMU_MODE_RUNTIME;
	snprintf(b.serial, sizeof(b.serial), "%s", SERIAL);

	/* device descriptor: first in the blob */
	d = find_desc(blob, l.size, 1, 0, &len);
	assert_ptr_equal(d, blob);
	assert_int_equal(emu_desc(&b, 1, 0, emu), (int)len);
	assert_memory_equal(d, emu, len);

	/* configuration: interfaces, alt-settings, functional descriptor */
	d = find_desc(blob, l.size, 2, 0, &len);
	assert_ptr_equal(d, blob + l.config_off);
	assert_int_equal(len, l.config_len);
	assert_int_equal(emu_board_config_desc(&b, emu), (int)len);
	assert_memory_equal(d, emu, len);
	assert_int_equal(blob[l.intf_off + 1], 4);
	assert_int_equal(blob[l.intf_off + 2], 0); /* bInterfaceNumber */
	assert_int_equal(blob[l.intf_off + 3], 0); /* bAlternateSetting */
	assert_int_equal(blob[l.intf_off + 7],
			 dfu_mode ? DFU_PROTOCOL_DFU_MODE : DFU_PROTOCOL_RUNTIME);

	/* every string index, counted the way the stack counts them */
	for (unsigned i = 0; i < SHIM_STR_COUNT; i++) {
		d = find_desc(blob, l.size, 3, i, &len);
		assert_non_null(d);
		assert_int_equal(emu_desc(&b, 3, (uint8_t)i, emu), (int)len);
		assert_memory_equal(d, emu, len);
	}
	assert_null(find_desc(blob, l.size, 3, SHIM_STR_COUNT, &len));
	assert_int_equal(emu_desc(&b, 3, SHIM_STR_COUNT, emu), -1);
	assert_ptr_equal(find_desc(blob, l.size, 3, 0, &len), blob + l.strings_off);
}

static void test_descriptors_match_emulator(void **state)
{
	(void)state;
	check_against_emu(false);
	check_against_emu(true);
}

static void test_descriptor_limits(void **state)
{
	uint8_t blob[SHIM_DESC_MAX];
	struct shim_desc_layout l;
	char longest[DFUMGR_SERIAL_MAX + 2];
	int n;

	(void)state;
	memset(longest, 'X', sizeof(longest));
	longest[DFUMGR_SERIAL_MAX] = '\0';
	n = shim_desc_build(blob, sizeof(blob), true, longest, &l);
	assert_true(n > 0 && n <= SHIM_DESC_MAX);
	/* exactly the size needed, and one byte less */
	assert_int_equal(shim_desc_build(blob, (size_t)n, true, longest, NULL), n);
	assert_int_equal(shim_desc_build(blob, (size_t)n - 1, true, longest, NULL), -1);

	longest[DFUMGR_SERIAL_MAX] = 'X';
	longest[DFUMGR_SERIAL_MAX + 1] = '\0';
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, longest, NULL), -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, "", NULL), -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, "bad\nserial", NULL), -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, NULL, NULL), -1);
	assert_int_equal(shim_desc_build(NULL, sizeof(blob), false, SERIAL, NULL), -1);

	/* runtime mode: one interface, no alt-settings */
	n = shim_desc_build(blob, sizeof(blob), false, SERIAL, &l);
	assert_true(n > 0);
	assert_int_equal(l.config_len, 9 + 9 + DFU_FUNC_DESC_LEN);
	assert_int_equal(blob[l.intf_off + 8], SHIM_STR_RUNTIME);
}

static void test_serial(void **state)
{
	char s[DFUMGR_SERIAL_MAX + 1];
	const uint8_t id8[8] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xab, 0xcd};
	const uint8_t id1[1] = {0x01};
	const uint8_t id12[12] = {0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0x7f};

	(void)state;
	assert_int_equal(shim_serial_format(id8, sizeof(id8), s), DFUMGR_SERIAL_MAX);
	assert_string_equal(s, "NRF5340-010203040506ABCD");
	assert_int_equal(shim_serial_format(id1, sizeof(id1), s), DFUMGR_SERIAL_MAX);
	assert_string_equal(s, "NRF5340-0000000000000001"); /* the emulator's first board */
	shim_serial_format(id12, sizeof(id12), s);
	assert_string_equal(s, "NRF5340-DEADBEEF00000000");
	shim_serial_format(NULL, 0, s);
	assert_string_equal(s, "NRF5340-0000000000000000");
}

static int no_read(void *u, enum dfu_area a, uint32_t off, uint8_t *d, uint32_t len)
{
	(void)u, (void)a, (void)off, (void)d, (void)len;
	return DFU_FLASH_READ_FAILED;
}

static void test_partition_map(void **state)
{
	static const struct dfu_dev_ops ops = {.read = no_read};
	static struct dfu_dev dev;
	struct shim_area_actual a;

	(void)state;
	/* the core's defaults (what dfu-mgr-emu serves) are the same map */
	dfu_dev_init(&dev, &ops, NULL, true, &(struct dfu_dev_config){.serial = SERIAL});
	for (int i = 0; i < DFU_AREA_COUNT; i++) {
		const struct shim_area_spec *s = &shim_area_map[i];

		assert_int_equal(s->area, i);
		assert_int_equal(dev.area[i].size, s->size);
		assert_int_equal(dev.area[i].erase_unit, s->erase_unit);
		a = (struct shim_area_actual){s->dev, s->offset, s->size, s->erase_unit};
		assert_null(shim_area_mismatch((enum dfu_area)i, &a));
		assert_int_equal(s->size % s->erase_unit, 0);
		assert_int_equal(s->offset % s->erase_unit, 0);
	}
	assert_int_equal(shim_area_map[DFU_AREA_IMG0_PRIMARY].dev, SHIM_FLASH_INTERNAL);
	assert_int_equal(shim_area_map[DFU_AREA_IMG0_PRIMARY].offset,
			 DFUMGR_MCUBOOT_OFFSET + DFUMGR_MCUBOOT_SIZE);
	assert_true(shim_area_map[DFU_AREA_IMG0_PRIMARY].offset +
			shim_area_map[DFU_AREA_IMG0_PRIMARY].size <=
		    DFUMGR_INTERNAL_FLASH_SIZE);
	for (int i = DFU_AREA_IMG0_SECONDARY; i < DFU_AREA_COUNT; i++) {
		assert_int_equal(shim_area_map[i].dev, SHIM_FLASH_QSPI);
		assert_true(shim_area_map[i].offset + shim_area_map[i].size <=
			    DFUMGR_QSPI_FLASH_SIZE);
	}
	/* the QSPI slots do not overlap */
	assert_true(shim_area_map[DFU_AREA_IMG0_SECONDARY].offset + DFUMGR_IMG0_SLOT_SIZE <=
		    shim_area_map[DFU_AREA_IMG1_PRIMARY].offset);
	assert_true(shim_area_map[DFU_AREA_IMG1_PRIMARY].offset + DFUMGR_IMG1_SLOT_SIZE <=
		    shim_area_map[DFU_AREA_IMG1_SECONDARY].offset);
	/* primary and secondary of one image: same size (MCUboot swap) */
	assert_int_equal(shim_area_map[0].size, shim_area_map[1].size);
	assert_int_equal(shim_area_map[2].size, shim_area_map[3].size);
	assert_string_equal(shim_area_map[DFU_AREA_IMG1_SECONDARY].node_label, "slot3_partition");

	a = (struct shim_area_actual){SHIM_FLASH_QSPI, DFUMGR_IMG1_PRIMARY_OFFSET,
				      DFUMGR_IMG1_SLOT_SIZE, 0x10000};
	assert_string_equal(shim_area_mismatch(DFU_AREA_IMG1_PRIMARY, &a),
			    "with the wrong erase unit");
	a.erase_unit = 0x1000;
	a.size = 0x300000; /* dfu-mgr pack's default slot, not the board's */
	assert_string_equal(shim_area_mismatch(DFU_AREA_IMG1_PRIMARY, &a), "of the wrong size");
	a.size = DFUMGR_IMG1_SLOT_SIZE;
	a.offset = 0;
	assert_string_equal(shim_area_mismatch(DFU_AREA_IMG1_PRIMARY, &a), "at the wrong offset");
	a.dev = SHIM_FLASH_INTERNAL;
	assert_string_equal(shim_area_mismatch(DFU_AREA_IMG1_PRIMARY, &a),
			    "on the wrong flash device");
	assert_non_null(shim_area_mismatch(DFU_AREA_COUNT, &a));
	assert_non_null(shim_area_mismatch(DFU_AREA_IMG0_PRIMARY, NULL));
}

static void test_align_span(void **state)
{
	uint32_t start, len;

	(void)state;
	assert_true(shim_align_span(0x1000, 0x1000, 4, &start, &len));
	assert_int_equal(start, 0x1000);
	assert_int_equal(len, 0x1000);
	/* the last DNLOAD block of an image: any length */
	assert_true(shim_align_span(0x3000, 0x3a1, 4, &start, &len));
	assert_int_equal(start, 0x3000);
	assert_int_equal(len, 0x3a4);
	assert_true(shim_align_span(0x1002, 3, 4, &start, &len));
	assert_int_equal(start, 0x1000);
	assert_int_equal(len, 8);
	assert_true(shim_align_span(0x36ffd8, 8, 8, &start, &len)); /* a trailer row */
	assert_int_equal(start, 0x36ffd8);
	assert_int_equal(len, 8);
	assert_true(shim_align_span(5, 0, 4, &start, &len));
	assert_int_equal(start, 4);
	assert_int_equal(len, 4);
	assert_false(shim_align_span(0xfffffffe, 1, 4, &start, &len));
	assert_false(shim_align_span(0, 4, 3, &start, &len));
	assert_false(shim_align_span(0, 4, 0, &start, &len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptors_match_emulator),
	    cmocka_unit_test(test_descriptor_limits),
	    cmocka_unit_test(test_serial),
	    cmocka_unit_test(test_partition_map),
	    cmocka_unit_test(test_align_span),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
