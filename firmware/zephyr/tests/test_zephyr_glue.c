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
#include "shim_recovery.h"

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

/* What dfu-mgr-emu answers to the MS OS 2.0 descriptor request. */
static int emu_msos(struct emu_board *b, uint8_t *out, uint16_t wLength)
{
	const uint8_t setup[8] = {0xc0,
				  SHIM_MSOS_VENDOR_CODE,
				  0,
				  0,
				  SHIM_MSOS_DESCRIPTOR_INDEX,
				  0,
				  (uint8_t)wLength,
				  (uint8_t)(wLength >> 8)};

	return emu_board_control(b, setup, out, 0);
}

static void check_against_emu(bool dfu_mode)
{
	uint8_t blob[SHIM_DESC_MAX], emu[256];
	struct shim_desc_layout l;
	struct emu_board b;
	const uint8_t *d;
	size_t len;
	int n = shim_desc_build(blob, sizeof(blob), dfu_mode, &shim_usb_id_dev, SERIAL, &l);

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

	/* the BOS and the MS OS 2.0 set: what the board's glue and the emulator answer */
	assert_int_equal(emu_desc(&b, 15, 0, emu), (int)l.bos_len);
	assert_memory_equal(blob + l.bos_off, emu, l.bos_len);
	assert_int_equal(emu_msos(&b, emu, 0xffff), (int)l.msos_len);
	assert_memory_equal(blob + l.msos_off, emu, l.msos_len);
	assert_int_equal(emu_msos(&b, emu, 10), 10); /* wLength cuts the reply */
	/* the stack's walk never reaches them: no BOS among the blob's descriptors */
	assert_null(find_desc(blob, l.size, 15, 0, &len));
}

static void test_descriptors_match_emulator(void **state)
{
	(void)state;
	check_against_emu(false);
	check_against_emu(true);
}

#define ID_DEV (&shim_usb_id_dev)

static void test_descriptor_limits(void **state)
{
	uint8_t blob[SHIM_DESC_MAX];
	struct shim_desc_layout l;
	char longest[DFUMGR_SERIAL_MAX + 2];
	char longest_text[SHIM_STRING_MAX + 2];
	struct shim_usb_id id = shim_usb_id_dev;
	int n;

	(void)state;
	memset(longest, 'X', sizeof(longest));
	longest[DFUMGR_SERIAL_MAX] = '\0';
	n = shim_desc_build(blob, sizeof(blob), true, ID_DEV, longest, &l);
	assert_true(n > 0 && n <= SHIM_DESC_MAX);
	/* exactly the size needed, and one byte less */
	assert_int_equal(shim_desc_build(blob, (size_t)n, true, ID_DEV, longest, NULL), n);
	assert_int_equal(shim_desc_build(blob, (size_t)n - 1, true, ID_DEV, longest, NULL), -1);

	longest[DFUMGR_SERIAL_MAX] = 'X';
	longest[DFUMGR_SERIAL_MAX + 1] = '\0';
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, ID_DEV, longest, NULL), -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, ID_DEV, "", NULL), -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, ID_DEV, "bad\nserial", NULL),
			 -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, ID_DEV, NULL, NULL), -1);
	assert_int_equal(shim_desc_build(NULL, sizeof(blob), false, ID_DEV, SERIAL, NULL), -1);
	assert_int_equal(shim_desc_build(blob, sizeof(blob), false, NULL, SERIAL, NULL), -1);

	/* runtime mode: one interface, no alt-settings */
	n = shim_desc_build(blob, sizeof(blob), false, ID_DEV, SERIAL, &l);
	assert_true(n > 0);
	assert_int_equal(l.config_len, 9 + 9 + DFU_FUNC_DESC_LEN);
	assert_int_equal(blob[l.intf_off + 8], SHIM_STR_RUNTIME);

	/* the largest identity a product can configure still fits SHIM_DESC_MAX */
	memset(longest_text, '~', sizeof(longest_text));
	longest_text[SHIM_STRING_MAX] = '\0';
	longest[DFUMGR_SERIAL_MAX] = '\0';
	id.manufacturer = longest_text;
	id.product = longest_text;
	n = shim_desc_build(blob, sizeof(blob), true, &id, longest, &l);
	assert_true(n > 0 && n <= SHIM_DESC_MAX);
	assert_int_equal(blob[l.strings_off + 4], 2 + 2 * SHIM_STRING_MAX);
	longest_text[SHIM_STRING_MAX] = '~';
	longest_text[SHIM_STRING_MAX + 1] = '\0';
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL), -1);
	id = shim_usb_id_dev;
	id.product = "tab\there";
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL), -1);
	id = shim_usb_id_dev;
	id.manufacturer = "";
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL), -1);
	/* GUIDs: braces, dashes at 9/14/19/24, hex digits, 38 characters */
	id = shim_usb_id_dev;
	id.winusb_guid = "42CF0201-22A1-4ADF-99C7-3C161253133D";
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL), -1);
	id.winusb_guid = "{42CF0201-22A1-4ADF-99C7-3C161253133G}";
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL), -1);
	id.winusb_guid = "{42CF0201-22A1-4ADF99C7-3C161253133DA}";
	assert_int_equal(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL), -1);
	id.winusb_guid = "{42cf0201-22a1-4adf-99c7-3c161253133d}";
	assert_true(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, NULL) > 0);
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

/* ASCII out of UTF-16LE (the test's strings are ASCII), n code units. */
static void from_utf16(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p[2 * i + 1], 0);
		out[i] = (char)p[2 * i];
	}
	out[n] = '\0';
}

/*
 * Parses a BOS descriptor and the MS OS 2.0 descriptor set back the way Windows reads them
 * (Microsoft OS 2.0 Descriptors Specification: the platform capability, then a set for a
 * non-composite device) and checks what a product's identity put there.
 */
static void parse_bos_and_set(const uint8_t *bos, size_t bos_len, const uint8_t *set,
			      size_t set_len, const char *guid)
{
	static const uint8_t msos20_uuid[16] = {0xdf, 0x60, 0xdd, 0xd8, 0x89, 0x45, 0xc7, 0x4c,
						0x9c, 0xd2, 0x65, 0x9d, 0x9e, 0x64, 0x8a, 0x9f};
	const uint8_t *cap, *d, *end;
	bool compat = false, prop = false;
	char text[64];

	/* BOS header: bLength 5, type 15, wTotalLength, bNumDeviceCaps */
	assert_true(bos_len >= 5);
	assert_int_equal(bos[0], 5);
	assert_int_equal(bos[1], 15);
	assert_int_equal(le16(bos + 2), bos_len);
	assert_int_equal(bos[4], 1);
	/* the capability: device capability (16), platform (5), the MS OS 2.0 UUID */
	cap = bos + 5;
	assert_int_equal(cap[0], 28);
	assert_int_equal(5 + cap[0], bos_len);
	assert_int_equal(cap[1], 16);
	assert_int_equal(cap[2], 5);
	assert_int_equal(cap[3], 0);
	assert_memory_equal(cap + 4, msos20_uuid, 16);
	assert_int_equal(le32(cap + 20), 0x06030000);     /* Windows 8.1 */
	assert_int_equal(le16(cap + 24), set_len);        /* wMSOSDescriptorSetTotalLength */
	assert_int_equal(cap[26], SHIM_MSOS_VENDOR_CODE); /* bMS_VendorCode */
	assert_int_equal(cap[27], 0);                     /* no alternate enumeration */

	/* the set: header, then features until wTotalLength */
	assert_int_equal(le16(set), 10);
	assert_int_equal(le16(set + 2), 0); /* MS_OS_20_SET_HEADER_DESCRIPTOR */
	assert_int_equal(le32(set + 4), 0x06030000);
	assert_int_equal(le16(set + 8), set_len);
	end = set + set_len;
	for (d = set + 10; d < end; d += le16(d)) {
		assert_true(le16(d) >= 4 && d + le16(d) <= end);
		switch (le16(d + 2)) {
		case 3: /* MS_OS_20_FEATURE_COMPATBLE_ID */
			assert_int_equal(le16(d), 20);
			assert_memory_equal(d + 4, "WINUSB\0\0", 8);
			assert_memory_equal(d + 12, "\0\0\0\0\0\0\0\0", 8);
			compat = true;
			break;
		case 4: { /* MS_OS_20_FEATURE_REG_PROPERTY */
			uint16_t name_len = le16(d + 6), data_len;

			assert_int_equal(le16(d + 4), 7); /* REG_MULTI_SZ */
			assert_true(name_len % 2 == 0 && name_len / 2 < sizeof(text));
			from_utf16(d + 8, name_len / 2, text);
			assert_string_equal(text, "DeviceInterfaceGUIDs"); /* NUL included */
			data_len = le16(d + 8 + name_len);
			assert_int_equal(10 + name_len + data_len, le16(d));
			assert_true(data_len / 2 < sizeof(text));
			from_utf16(d + 10 + name_len, data_len / 2, text);
			assert_string_equal(text, guid);
			/* the list ends with an empty string: two NUL code units */
			assert_int_equal(data_len, 2 * (strlen(guid) + 2));
			prop = true;
			break;
		}
		default:
			fail_msg("unexpected MS OS 2.0 descriptor type %u", le16(d + 2));
		}
	}
	assert_ptr_equal(d, end);
	assert_true(compat);
	assert_true(prop == (guid != NULL));
}

static void test_bos_msos20(void **state)
{
	uint8_t blob[SHIM_DESC_MAX];
	struct shim_desc_layout l;
	struct shim_usb_id id = {0x1209, 0x0001, "ACME", "Widget", NULL, false};

	(void)state;
	assert_true(shim_desc_build(blob, sizeof(blob), false, ID_DEV, SERIAL, &l) > 0);
	/* bcdUSB 2.01: below it Windows does not ask for the BOS */
	assert_int_equal(le16(blob + 2), 0x0201);
	parse_bos_and_set(blob + l.bos_off, l.bos_len, blob + l.msos_off, l.msos_len,
			  SHIM_WINUSB_GUID);
	assert_int_equal(l.msos_len, 162);

	/* a product's identity: its VID:PID and strings, no interface GUID */
	assert_true(shim_desc_build(blob, sizeof(blob), true, &id, SERIAL, &l) > 0);
	assert_int_equal(le16(blob + 8), 0x1209);
	assert_int_equal(le16(blob + 10), 0x0001);
	parse_bos_and_set(blob + l.bos_off, l.bos_len, blob + l.msos_off, l.msos_len, NULL);
	assert_int_equal(l.msos_len, 30);

	assert_true(shim_desc_is_msos_request(0xc0, SHIM_MSOS_VENDOR_CODE, 7));
	assert_false(shim_desc_is_msos_request(0xc1, SHIM_MSOS_VENDOR_CODE, 7));
	assert_false(shim_desc_is_msos_request(0xc0, SHIM_MSOS_VENDOR_CODE, 4));
	assert_false(shim_desc_is_msos_request(0xc0, DFUMGR_REQ_GET_INFO, 7));
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

static void test_crc32(void **state)
{
	(void)state;
	/* the check value of CRC-32/ISO-HDLC (zlib's crc32) */
	assert_int_equal(shim_crc32(0, "123456789", 9), 0xcbf43926);
	assert_int_equal(shim_crc32(0, "", 0), 0);
	/* continuing is the same as one pass */
	assert_int_equal(shim_crc32(shim_crc32(0, "1234", 4), "56789", 5), 0xcbf43926);
}

static void boot(struct shim_retained *r, uint32_t pair, enum shim_hw_cause hw,
		 struct shim_boot_decision *d)
{
	shim_recovery_boot(r, pair, hw, 3, d);
	assert_true(shim_retained_valid(r));
	assert_int_equal(r->reason, SHIM_RESET_NONE); /* consumed */
	assert_int_equal(r->pair_id, pair);
}

static void test_recovery_confirmed_pair_faults(void **state)
{
	struct shim_retained r;
	struct shim_boot_decision d;

	(void)state;
	memset(&r, 0xa5, sizeof(r)); /* RAM after power-on: anything */
	boot(&r, 0x1111, SHIM_HW_POWER_ON, &d);
	assert_true(d.fresh);
	assert_false(d.fault_counted);
	assert_false(d.safe_mode);
	assert_int_equal(r.boots, 1);
	assert_int_equal(sizeof(r), 32);

	/* a fatal error: counted at the next boot of the same pair */
	shim_recovery_note_reset(&r, SHIM_RESET_FATAL, 0x10120abc, 3);
	assert_true(shim_retained_valid(&r));
	boot(&r, 0x1111, SHIM_HW_OTHER, &d);
	assert_false(d.fresh);
	assert_false(d.new_pair);
	assert_int_equal(d.reason, SHIM_RESET_FATAL);
	assert_true(d.fault_counted);
	assert_int_equal(d.faults, 1);
	assert_false(d.safe_mode);
	assert_int_equal(r.fault_pc, 0x10120abc);
	assert_int_equal(r.fault_code, 3);

	/* a watchdog reset with no note (interrupts were locked): the chip's reason counts */
	boot(&r, 0x1111, SHIM_HW_WATCHDOG, &d);
	assert_int_equal(d.reason, SHIM_RESET_WATCHDOG);
	assert_int_equal(d.faults, 2);
	assert_int_equal(r.last_fault, SHIM_RESET_WATCHDOG);
	assert_false(d.safe_mode);

	/* a planned reset in between counts nothing */
	shim_recovery_note_reset(&r, SHIM_RESET_PLANNED, 0, 0);
	boot(&r, 0x1111, SHIM_HW_OTHER, &d);
	assert_false(d.fault_counted);
	assert_int_equal(d.faults, 2);

	/* the third fault (a lockup, seen only in the chip's reason): safe mode */
	boot(&r, 0x1111, SHIM_HW_LOCKUP, &d);
	assert_int_equal(d.reason, SHIM_RESET_LOCKUP);
	assert_int_equal(d.faults, 3);
	assert_true(d.safe_mode);
	assert_int_equal(r.safe_mode, 1);
	/* and it stays there across plain resets: no image-1 code runs that could fault */
	boot(&r, 0x1111, SHIM_HW_OTHER, &d);
	assert_true(d.safe_mode);
	assert_int_equal(r.boots, 6);

	/* a new pair (installed over USB in safe mode) starts from zero */
	boot(&r, 0x2222, SHIM_HW_OTHER, &d);
	assert_true(d.new_pair);
	assert_false(d.safe_mode);
	assert_int_equal(d.faults, 0);
	assert_int_equal(r.boots, 1);
}

static void test_recovery_unconfirmed_pair(void **state)
{
	struct shim_retained r;
	struct shim_boot_decision d;

	(void)state;
	memset(&r, 0, sizeof(r));
	boot(&r, 0xaaaa, SHIM_HW_POWER_ON, &d); /* the old, confirmed pair */
	boot(&r, 0xbbbb, SHIM_HW_OTHER, &d);    /* the test-swapped new pair */
	assert_true(d.new_pair);
	/* it faults; MCUboot reverts at the reset: the old pair boots, with a clean count */
	shim_recovery_note_reset(&r, SHIM_RESET_FATAL, 0x10120001, 0);
	boot(&r, 0xaaaa, SHIM_HW_OTHER, &d);
	assert_true(d.new_pair);
	assert_int_equal(d.reason, SHIM_RESET_FATAL);
	assert_false(d.fault_counted);
	assert_int_equal(d.faults, 0);
	assert_false(d.safe_mode);
}

static void test_recovery_record(void **state)
{
	struct shim_retained r;
	struct shim_boot_decision d;
	uint8_t sha0[32], sha1[32];

	(void)state;
	memset(&r, 0, sizeof(r));
	boot(&r, 7, SHIM_HW_UNKNOWN, &d);
	assert_true(d.fresh);
	shim_recovery_note_reset(&r, SHIM_RESET_WATCHDOG, 0, 0);
	/* one flipped bit (RAM not retained through the reset): the record starts over */
	r.faults ^= 0x10;
	assert_false(shim_retained_valid(&r));
	boot(&r, 7, SHIM_HW_OTHER, &d);
	assert_true(d.fresh);
	assert_false(d.fault_counted);
	/* a power-on starts over even with a valid record */
	shim_recovery_note_reset(&r, SHIM_RESET_FATAL, 0, 0);
	boot(&r, 7, SHIM_HW_POWER_ON, &d);
	assert_true(d.fresh);
	assert_false(d.fault_counted);
	/* another record version is not trusted */
	r.version = SHIM_RETAINED_VERSION + 1;
	r.crc = shim_crc32(0, &r, 28);
	assert_false(shim_retained_valid(&r));
	/* noting a reset on an invalid record makes a valid one that belongs to no pair */
	shim_recovery_note_reset(&r, SHIM_RESET_FATAL, 1, 2);
	assert_true(shim_retained_valid(&r));
	assert_int_equal(r.pair_id, 0);
	/* healthy: the count goes back to zero, safe mode is decided at the next boot */
	boot(&r, 9, SHIM_HW_OTHER, &d);
	shim_recovery_note_reset(&r, SHIM_RESET_FATAL, 0, 0);
	boot(&r, 9, SHIM_HW_OTHER, &d);
	assert_int_equal(d.faults, 1);
	shim_recovery_healthy(&r);
	assert_true(shim_retained_valid(&r));
	assert_int_equal(r.faults, 0);
	/* limit 0: never safe mode */
	for (int i = 0; i < 300; i++) {
		shim_recovery_note_reset(&r, SHIM_RESET_FATAL, 0, 0);
		shim_recovery_boot(&r, 9, SHIM_HW_OTHER, 0, &d);
		assert_false(d.safe_mode);
	}
	assert_int_equal(r.faults, UINT8_MAX); /* saturates */

	/* pair ids: both hashes count, a missing image is 32 zero bytes */
	memset(sha0, 1, sizeof(sha0));
	memset(sha1, 2, sizeof(sha1));
	assert_int_not_equal(shim_recovery_pair_id(sha0, sha1), shim_recovery_pair_id(sha1, sha0));
	assert_int_not_equal(shim_recovery_pair_id(sha0, sha1), shim_recovery_pair_id(sha0, NULL));
	memset(sha1, 0, sizeof(sha1));
	assert_int_equal(shim_recovery_pair_id(sha0, sha1), shim_recovery_pair_id(sha0, NULL));
	assert_string_equal(shim_reset_reason_name(SHIM_RESET_WATCHDOG), "watchdog");
	assert_string_equal(shim_reset_reason_name(200), "unknown");
}

static void test_trailer_unconfirmed(void **state)
{
	static const uint8_t magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					  0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
	uint8_t erased[16], other[16];

	(void)state;
	memset(erased, 0xff, sizeof(erased));
	memcpy(other, magic, sizeof(other));
	other[15] ^= 1;
	assert_true(shim_trailer_unconfirmed(magic, 0xff));   /* test swap, not confirmed */
	assert_false(shim_trailer_unconfirmed(magic, 0x01));  /* confirmed */
	assert_false(shim_trailer_unconfirmed(magic, 0x00));  /* not erased: MCUboot keeps it */
	assert_false(shim_trailer_unconfirmed(erased, 0xff)); /* flashed by a debugger */
	assert_false(shim_trailer_unconfirmed(other, 0xff));
}

/* CONFIG_DFUMGR_SHIM_UPLOAD=n: the functional descriptor says so (bitCanUpload clear). */
static void test_no_upload_descriptor(void **state)
{
	uint8_t blob[SHIM_DESC_MAX];
	struct shim_usb_id id = shim_usb_id_dev;
	const uint8_t *f;
	size_t len;

	(void)state;
	for (int dfu = 0; dfu < 2; dfu++) {
		assert_true(shim_desc_build(blob, sizeof(blob), dfu, &id, SERIAL, NULL) > 0);
		f = find_desc(blob, sizeof(blob), DFU_FUNC_DESC_TYPE, 0, &len);
		assert_non_null(f);
		assert_int_equal(f[2] & DFU_ATTR_CAN_UPLOAD, DFU_ATTR_CAN_UPLOAD);
	}
	id.no_upload = true;
	for (int dfu = 0; dfu < 2; dfu++) {
		assert_true(shim_desc_build(blob, sizeof(blob), dfu, &id, SERIAL, NULL) > 0);
		f = find_desc(blob, sizeof(blob), DFU_FUNC_DESC_TYPE, 0, &len);
		assert_non_null(f);
		assert_int_equal(f[2], DFU_ATTR_CAN_DNLOAD | DFU_ATTR_MANIFESTATION_TOLERANT |
					   DFU_ATTR_WILL_DETACH);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_upload_descriptor),
	    cmocka_unit_test(test_descriptors_match_emulator),
	    cmocka_unit_test(test_descriptor_limits),
	    cmocka_unit_test(test_bos_msos20),
	    cmocka_unit_test(test_serial),
	    cmocka_unit_test(test_partition_map),
	    cmocka_unit_test(test_align_span),
	    cmocka_unit_test(test_crc32),
	    cmocka_unit_test(test_recovery_confirmed_pair_faults),
	    cmocka_unit_test(test_recovery_unconfirmed_pair),
	    cmocka_unit_test(test_recovery_record),
	    cmocka_unit_test(test_trailer_unconfirmed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
