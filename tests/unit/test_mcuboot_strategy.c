/* SPDX-License-Identifier: MIT */
/*
 * The emulator's MCUboot strategies (firmware/emu/mcuboot.c): overwrite-only's copy byte for
 * byte, its resumption after a power cut at every one of its writes, direct-XIP's choice of
 * slot, and the accounting (flash time, wear) of one update, for a layout whose counts are
 * derived by hand below. The board is the emulator's own (emu_board_open: real slot geometry,
 * the factory pair 1.0.0+0 in its primaries); the new pair is put into the secondary slots as a
 * commit leaves it (image, then the boot magic in the trailer: a test swap).
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "board.h"
#include "powercut.h"
#include "dfumgr/image.h"

/*
 * The new pair: payloads of 22,000 and 70,000 bytes, version 2.0.0+0, each depending on the
 * other at 2.0.0, no key. Signed size = header 512 + payload + protected TLVs (info 4 +
 * DEPENDENCY 4 + 12 = 20) + unprotected TLVs (info 4 + SHA256 4 + 32 = 40):
 *   image 0: 512 + 22000 + 60 = 22,572 bytes, 6 sectors of 4 KiB (20,480 < 22,572 <= 24,576)
 *   image 1: 512 + 70000 + 60 = 70,572 bytes, 18 sectors (69,632 < 70,572 <= 73,728)
 */
#define NEW0_PAYLOAD 22000u
#define NEW1_PAYLOAD 70000u
#define NEW0_SIZE    22572u
#define NEW1_SIZE    70572u

static const uint8_t boot_magic[16] = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
};

struct fixture {
	char *dir;
	struct emu_board b;
	uint8_t *img[DFUMGR_N_IMAGES];
	size_t size[DFUMGR_N_IMAGES];
};

static uint32_t slot_size(unsigned i)
{
	return i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
}

static const uint8_t *slot_mem(struct emu_board *b, enum dfu_area a)
{
	uint32_t base;
	struct emu_flash *f = emu_board_area(b, a, &base);

	return f->mem + base;
}

static void build_pair(struct fixture *fx, uint8_t major)
{
	const size_t payload[2] = {NEW0_PAYLOAD, NEW1_PAYLOAD};

	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		struct dfumgr_image_build_opts o = {.header_size = 0x200, .pad_header = true};
		uint8_t *p = malloc(payload[i]);
		uint32_t seed = 0xc0ffee00u + i + major;

		assert_non_null(p);
		for (size_t k = 0; k < payload[i]; k++) {
			seed = seed * 1664525u + 1013904223u;
			p[k] = (uint8_t)(seed >> 24);
		}
		o.version = (struct dfumgr_image_version){major, 0, 0, 0};
		o.n_deps = 1;
		o.deps[0] = (struct dfumgr_image_dep){(uint8_t)(1 - i), {major, 0, 0, 0}};
		free(fx->img[i]);
		fx->img[i] = NULL;
		assert_int_equal(
		    dfumgr_image_build(NULL, p, payload[i], &o, &fx->img[i], &fx->size[i]), 0);
		free(p);
	}
}

/* What a commit leaves: the images in the secondary slots, the boot magic in their trailers. */
static void install_secondaries(struct fixture *fx, unsigned mask)
{
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		uint32_t base;
		struct emu_flash *f = emu_board_area(&fx->b, dfu_area_secondary(i), &base);

		if (!(mask & (1u << i)))
			continue;
		emu_flash_write_raw(f, base, fx->img[i], (uint32_t)fx->size[i]);
		emu_flash_write_raw(f, base + slot_size(i) - DFUMGR_TRAILER_MAGIC_OFF, boot_magic,
				    sizeof(boot_magic));
	}
}

static struct fixture *open_fixture(enum emu_mcuboot_strategy st)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->dir = test_tmpdir();
	assert_int_equal(emu_board_open(&fx->b, 0, "STRAT-1", fx->dir, false, NULL), 0);
	fx->b.mcuboot_strategy = st;
	build_pair(fx, 2);
	assert_int_equal(fx->size[0], NEW0_SIZE);
	assert_int_equal(fx->size[1], NEW1_SIZE);
	return fx;
}

static void close_fixture(struct fixture *fx)
{
	emu_board_close(&fx->b);
	test_rmtree(fx->dir);
	free(fx->dir);
	free(fx->img[0]);
	free(fx->img[1]);
	free(fx);
}

static bool is_erased(const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != 0xff)
			return false;
	return true;
}

/* The primaries hold the new images byte for byte. */
static bool runs_new_pair(struct fixture *fx)
{
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
		if (memcmp(slot_mem(&fx->b, dfu_area_primary(i)), fx->img[i], fx->size[i]))
			return false;
	return true;
}

static void assert_wear(const struct emu_mcuboot_wear *w, uint32_t erases, uint32_t max,
			uint32_t programs)
{
	assert_int_equal(w->erases, erases);
	assert_int_equal(w->max_erases, max);
	assert_int_equal(w->programs, programs);
}

/*
 * Overwrite-only (MCUBOOT_OVERWRITE_ONLY_FAST), per image: erase the primary's sectors one by
 * one up to the image's size (6 and 18 calls), erase its trailer in one call (the trailer,
 * 3 * 1024 status entries of 4 bytes + 48 bytes of fields = 12,336 bytes, spans 4 sectors),
 * copy size + 4 bytes (the size is a multiple of the write size, bootutil adds one more) in
 * 1 KiB program calls (22,576 B: 23 calls; 70,576 B: 69 calls), write the primary's magic (one
 * call of 16 bytes), erase the secondary's first and last sectors (2 calls).
 *   image 0 primary: 10 sectors erased, none twice; 24 programs of 22,592 bytes
 *   image 1 primary: 22 sectors erased; 70 programs of 70,592 bytes
 *   each secondary: 2 sectors erased, no program
 *   writes (erase and program calls): 6 + 1 + 23 + 1 + 2 = 33 and 18 + 1 + 69 + 1 + 2 = 91: 124
 * Time (emulator datasheets): erases 10 * 87.5 ms (internal) + 26 * 48 ms (QSPI) = 2,123,000 us;
 * programs, internal 43 us per 4-byte word: 22 calls of 256 words + one of 12 (48 bytes) +
 * the magic's 4 = 22 * 11,008 + 516 + 172 = 242,864 us; QSPI 900 us per 256-byte page: 68 calls
 * of 4 pages + one of 944 bytes (4 pages) + the magic's 1 = 273 * 900 = 245,700 us... counted
 * per call: 68 * 3,600 + 3,600 + 900 = 249,300 us. Total 2,123,000 + 492,164 = 2,615,164 us.
 */
static void test_overwrite_only_copy_and_accounting(void **state)
{
	struct fixture *fx = open_fixture(EMU_MCUBOOT_OVERWRITE_ONLY);
	const struct emu_mcuboot_result *r = &fx->b.mcuboot;

	(void)state;
	install_secondaries(fx, 3);
	emu_board_boot(&fx->b, 0);
	assert_int_equal(r->outcome, EMU_MCUBOOT_BOOT);
	assert_int_equal(r->strategy, EMU_MCUBOOT_OVERWRITE_ONLY);
	assert_true(runs_new_pair(fx));
	assert_int_equal(fx->b.app, EMU_APP_CONFIRMED);
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		const uint8_t *p = slot_mem(&fx->b, dfu_area_primary(i));
		const uint8_t *s = slot_mem(&fx->b, dfu_area_secondary(i));
		uint32_t n = slot_size(i);

		/* the primary: the image, 4 bytes more of the secondary (erased), then erased up
		 * to its trailer, whose magic MCUboot wrote and whose image_ok the app set */
		assert_true(is_erased(p + fx->size[i], 4096 - fx->size[i] % 4096));
		assert_memory_equal(p + n - DFUMGR_TRAILER_MAGIC_OFF, boot_magic, 16);
		assert_int_equal(p[n - DFUMGR_TRAILER_IMAGE_OK_OFF], DFUMGR_BOOT_FLAG_SET);
		assert_int_equal(p[n - DFUMGR_TRAILER_COPY_DONE_OFF], 0xff);
		/* the secondary: its header sector and its last sector erased, the rest left */
		assert_true(is_erased(s, 4096));
		assert_true(is_erased(s + n - 4096, 4096));
		assert_memory_equal(s + 4096, fx->img[i] + 4096, fx->size[i] - 4096);
	}
	assert_wear(&r->wear[0], 10, 1, 24);
	assert_wear(&r->wear[1], 2, 1, 0);
	assert_wear(&r->wear[2], 22, 1, 70);
	assert_wear(&r->wear[3], 2, 1, 0);
	assert_int_equal(r->wear[0].bytes_programmed, 22592);
	assert_int_equal(r->wear[2].bytes_programmed, 70592);
	assert_int_equal(r->writes, 124);
	assert_int_equal(r->erase_us, 2123000);
	assert_int_equal(r->program_us, 242864 + 249300);
	assert_int_equal(r->busy_us, 2615164);
	assert_true(r->read_us > 0);

	/* the next boot: nothing left to do, no write; no revert whatever the app does */
	emu_board_boot(&fx->b, 0);
	assert_int_equal(r->outcome, EMU_MCUBOOT_BOOT);
	assert_int_equal(r->writes, 0);
	assert_true(runs_new_pair(fx));
	close_fixture(fx);
}

/*
 * Swap-move for the same pair, against the factory pair (16,956 and 66,108 bytes: 5 and 17
 * sectors), so the swaps cover 6 and 18 sectors: the primary's 4 trailer sectors, each of the
 * 6 (18) sectors moved up one (erasing sectors 1..6), then swapped (erasing 0..5): 16 (40)
 * erases, sectors 1..5 (1..17) twice; the secondary's 4 trailer sectors and the 6 (18) swapped
 * ones: 10 (22) erases, each once.
 */
static void test_swap_move_wear(void **state)
{
	struct fixture *fx = open_fixture(EMU_MCUBOOT_SWAP_MOVE);
	const struct emu_mcuboot_result *r = &fx->b.mcuboot;

	(void)state;
	install_secondaries(fx, 3);
	emu_board_boot(&fx->b, 0);
	assert_int_equal(r->outcome, EMU_MCUBOOT_BOOT);
	assert_true(runs_new_pair(fx));
	assert_int_equal(r->wear[0].erases, 16);
	assert_int_equal(r->wear[0].max_erases, 2);
	assert_int_equal(r->wear[1].erases, 10);
	assert_int_equal(r->wear[1].max_erases, 1);
	assert_int_equal(r->wear[2].erases, 40);
	assert_int_equal(r->wear[2].max_erases, 2);
	assert_int_equal(r->wear[3].erases, 22);
	assert_int_equal(r->wear[3].max_erases, 1);
	/* 16 internal erases, 72 QSPI ones */
	assert_int_equal(r->erase_us, 16 * 87500 + 72 * 48000);
	close_fixture(fx);
}

/*
 * A power cut after each write of the copy: the next boot starts the copy again from the
 * still-intact secondary (or finds it done) and the new pair runs; the cut boot ran nothing.
 */
static void test_overwrite_only_power_cut_every_write(void **state)
{
	struct fixture *fx = open_fixture(EMU_MCUBOOT_OVERWRITE_ONLY);
	struct emu_board *b = &fx->b;
	uint8_t *snap[2];
	uint64_t n;

	(void)state;
	install_secondaries(fx, 3);
	snap[0] = malloc(b->internal.size);
	snap[1] = malloc(b->qspi.size);
	assert_non_null(snap[0]);
	assert_non_null(snap[1]);
	memcpy(snap[0], b->internal.mem, b->internal.size);
	memcpy(snap[1], b->qspi.mem, b->qspi.size);
	emu_board_boot(b, 0);
	n = b->mcuboot.writes;
	assert_int_equal(n, 124);
	for (uint64_t cut = 1; cut <= n; cut++) {
		memcpy(b->internal.mem, snap[0], b->internal.size);
		memcpy(b->qspi.mem, snap[1], b->qspi.size);
		emu_power_arm(&b->power, cut);
		emu_board_boot(b, 0);
		assert_int_equal(b->mcuboot.outcome, EMU_MCUBOOT_POWER_LOST);
		assert_int_equal(b->mode, EMU_MODE_OFF);
		emu_board_boot(b, 0);
		if (b->mcuboot.outcome != EMU_MCUBOOT_BOOT || !runs_new_pair(fx) ||
		    b->app != EMU_APP_CONFIRMED)
			fail_msg("cut after MCUboot write %llu: %s", (unsigned long long)cut,
				 b->last_boot);
	}
	free(snap[0]);
	free(snap[1]);
	close_fixture(fx);
}

/* Direct-XIP: the higher version runs from its slot; no write; the pair rule by dependencies. */
static void test_direct_xip(void **state)
{
	struct fixture *fx = open_fixture(EMU_MCUBOOT_DIRECT_XIP);
	const struct emu_mcuboot_result *r = &fx->b.mcuboot;
	uint8_t *factory[2];

	(void)state;
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		factory[i] = malloc(slot_size(i));
		assert_non_null(factory[i]);
		memcpy(factory[i], slot_mem(&fx->b, dfu_area_primary(i)), slot_size(i));
	}
	/* only image 1 new: its dependency on image 0 2.0.0 fails, the old pair runs */
	install_secondaries(fx, 2);
	emu_board_boot(&fx->b, 0);
	assert_int_equal(r->outcome, EMU_MCUBOOT_BOOT);
	assert_int_equal(r->active_slot[0], 0);
	assert_int_equal(r->active_slot[1], 0);
	assert_int_equal(r->writes, 0);
	assert_memory_equal(slot_mem(&fx->b, dfu_area_primary(1)), factory[1], slot_size(1));

	/* both: each runs from its secondary (the emulator then calls it the primary) */
	install_secondaries(fx, 3);
	emu_board_boot(&fx->b, 0);
	assert_int_equal(r->outcome, EMU_MCUBOOT_BOOT);
	assert_int_equal(r->active_slot[0], 1);
	assert_int_equal(r->active_slot[1], 1);
	assert_int_equal(r->writes, 0);
	assert_int_equal(r->busy_us, 0);
	for (unsigned k = 0; k < EMU_MCUBOOT_AREAS; k++) {
		assert_wear(&r->wear[k], 0, 0, 0);
		assert_true(r->wear[k].bytes_read > 0);
	}
	/* the reads: both slots' headers and the active images' hashes, at least */
	assert_true(r->wear[1].bytes_read >= NEW0_SIZE - 40);
	assert_true(r->read_us >=
		    (NEW0_SIZE + NEW1_SIZE - 80) / EMU_MCUBOOT_QSPI_READ_BYTES_PER_US);
	assert_true(runs_new_pair(fx));
	assert_int_equal(fx->b.app, EMU_APP_CONFIRMED);
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
		assert_memory_equal(slot_mem(&fx->b, dfu_area_secondary(i)), factory[i],
				    slot_size(i));

	/* the next boot stays; a lower version in the other slot never runs */
	emu_board_boot(&fx->b, 0);
	assert_int_equal(r->active_slot[0], 0);
	assert_int_equal(r->active_slot[1], 0);
	assert_true(runs_new_pair(fx));

	/* an invalid image in the chosen slot is erased (either slot) and the other one runs */
	{
		uint32_t base;
		struct emu_flash *f = emu_board_area(&fx->b, dfu_area_secondary(1), &base);
		uint8_t bad = 0;

		build_pair(fx, 3);
		install_secondaries(fx, 3);
		emu_flash_write_raw(f, base + 0x1000, &bad, 1); /* image 1's payload */
		build_pair(fx, 2);
		emu_board_boot(&fx->b, 0);
		assert_int_equal(r->outcome, EMU_MCUBOOT_BOOT);
		/* image 1 3.0.0 invalid: erased, 2.0.0 runs; image 0 3.0.0 needs image 1 3.0.0 */
		assert_int_equal(r->active_slot[0], 0);
		assert_int_equal(r->active_slot[1], 0);
		assert_int_equal(r->wear[3].erases, slot_size(1) / 4096);
		assert_true(runs_new_pair(fx));
	}
	free(factory[0]);
	free(factory[1]);
	close_fixture(fx);
}

/* The update through the shim with the power cut after every MCUboot write (and some others). */
static void run_matrix(enum emu_mcuboot_strategy st, unsigned stride, unsigned swap_stride)
{
	struct powercut_opts o = {
	    .data_dir = getenv("DFUMGR_TEST_DATA"),
	    .new_version = "2.0.0+1",
	    .size = {20 * 1024, 70 * 1024},
	    .stride = stride,
	    .swap_stride = swap_stride,
	    .strategy = (int)st,
	};
	struct powercut_result r;

	assert_non_null(o.data_dir);
	assert_int_equal(powercut_run(&o, &r), 0);
	powercut_print(&r);
	if (r.first_bad[0])
		print_message("first bad case: %s\n", r.first_bad);
	assert_int_equal(r.outcome[POWERCUT_MIXED], 0);
	assert_int_equal(r.outcome[POWERCUT_NO_BOOT], 0);
	assert_int_equal(r.rerun_failed, 0);
	assert_true(r.outcome[POWERCUT_OLD] > 0);
	assert_true(r.outcome[POWERCUT_NEW] > 0);
	if (st == EMU_MCUBOOT_DIRECT_XIP)
		assert_int_equal(r.phase_writes[POWERCUT_SWAP], 0);
	else
		assert_true(r.count[POWERCUT_SWAP][POWERCUT_NEW] >= r.phase_writes[POWERCUT_SWAP]);
}

static void test_overwrite_only_powercut_matrix(void **state)
{
	(void)state;
	run_matrix(EMU_MCUBOOT_OVERWRITE_ONLY, 16, 1);
}

static void test_direct_xip_powercut_matrix(void **state)
{
	(void)state;
	run_matrix(EMU_MCUBOOT_DIRECT_XIP, 5, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_overwrite_only_copy_and_accounting),
	    cmocka_unit_test(test_swap_move_wear),
	    cmocka_unit_test(test_overwrite_only_power_cut_every_write),
	    cmocka_unit_test(test_direct_xip),
	    cmocka_unit_test(test_overwrite_only_powercut_matrix),
	    cmocka_unit_test(test_direct_xip_powercut_matrix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
