/* SPDX-License-Identifier: MIT */
/*
 * The core's platform operations on the nRF5340 DK: flash_area for the four slots (image 0
 * primary in the NVMC, the other three on the MX25R64 over QSPI) and TinyCrypt's SHA-256.
 *
 * Threads: erase and program run on usb_dfu.c's flash thread with the DFU core released (a
 * download's blocks), or under the core (COMMIT's trailer rows, the boot's confirmation);
 * write_lock makes them one at a time (the bounce buffer, the statistics). Reads take no lock
 * here: the QSPI driver makes a read wait while the flash erases or programs.
 */
#include <string.h>

#include <zephyr/device.h>
#include <zephyr/drivers/flash.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/storage/flash_map.h>
#include <zephyr/sys/util.h>
#include <tinycrypt/constants.h>
#include <tinycrypt/sha256.h>

#include "shim.h"
#include "shim_map.h"

LOG_MODULE_REGISTER(shim_platform, LOG_LEVEL_INF);

#if DT_NODE_EXISTS(DT_NODELABEL(mx25r64))
/* nRF5340 DK: the MX25R64 is its own flash device */
#define QSPI_NODE     DT_NODELABEL(mx25r64)
#define QSPI_DEV_NODE QSPI_NODE
#define QSPI_BASE     0u
#else
/*
 * Host test build (boards/native_posix_64.overlay): one simulated flash holds "internal flash"
 * and, from 1 MiB on, "QSPI".
 */
#define QSPI_NODE     DT_CHOSEN(zephyr_flash)
#define QSPI_DEV_NODE DT_CHOSEN(zephyr_flash_controller)
#define QSPI_BASE     DFUMGR_INTERNAL_FLASH_SIZE
#endif

/* The partition map is compiled in on both sides of the cable: catch a drifted overlay here. */
#define CHECK_PARTITION(label, dev_node, off, size)                                                \
	BUILD_ASSERT(DT_SAME_NODE(DT_GPARENT(DT_NODELABEL(label)), dev_node),                      \
		     #label " is on the wrong flash device");                                      \
	BUILD_ASSERT(DT_REG_ADDR(DT_NODELABEL(label)) == (off), #label " offset != wire.h");       \
	BUILD_ASSERT(DT_REG_SIZE(DT_NODELABEL(label)) == (size), #label " size != wire.h")

CHECK_PARTITION(slot0_partition, DT_CHOSEN(zephyr_flash), DFUMGR_IMG0_PRIMARY_OFFSET,
		DFUMGR_IMG0_SLOT_SIZE);
CHECK_PARTITION(slot1_partition, QSPI_NODE, QSPI_BASE + DFUMGR_IMG0_SECONDARY_OFFSET,
		DFUMGR_IMG0_SLOT_SIZE);
CHECK_PARTITION(slot2_partition, QSPI_NODE, QSPI_BASE + DFUMGR_IMG1_PRIMARY_OFFSET,
		DFUMGR_IMG1_SLOT_SIZE);
CHECK_PARTITION(slot3_partition, QSPI_NODE, QSPI_BASE + DFUMGR_IMG1_SECONDARY_OFFSET,
		DFUMGR_IMG1_SLOT_SIZE);

static const uint8_t area_id[DFU_AREA_COUNT] = {
    [DFU_AREA_IMG0_PRIMARY] = FIXED_PARTITION_ID(slot0_partition),
    [DFU_AREA_IMG0_SECONDARY] = FIXED_PARTITION_ID(slot1_partition),
    [DFU_AREA_IMG1_PRIMARY] = FIXED_PARTITION_ID(slot2_partition),
    [DFU_AREA_IMG1_SECONDARY] = FIXED_PARTITION_ID(slot3_partition),
};

static const struct flash_area *area_fa[DFU_AREA_COUNT];
static struct tc_sha256_state_struct sha[DFU_SHA_CONTEXTS];
static struct shim_flash_stats stats;
static K_MUTEX_DEFINE(write_lock);

/*
 * EasyDMA (QSPI) reads only word-aligned RAM, and the driver programs whole words at aligned
 * addresses; the core's buffers have no such promise (the trailer rows live on its stack).
 */
static uint32_t bounce[64];

static uint32_t cycles_to_us(uint32_t cycles)
{
	return (uint32_t)k_cyc_to_us_ceil64(cycles);
}

static void account(uint32_t *total, uint32_t *max, uint32_t *count, uint32_t t0)
{
	uint32_t us = cycles_to_us(k_cycle_get_32() - t0);

	*total += us;
	*max = MAX(*max, us);
	(*count)++;
}

/*
 * Every erase and program of a QSPI area holds the XIP gate exclusively (xip.c): the MX25R64
 * cannot be read, so no image-1 code may run, until it is done.
 */
static void write_begin(enum dfu_area area)
{
	if (shim_area_map[area].dev != SHIM_FLASH_QSPI)
		return;
	shim_qspi_write_begin();
#ifdef CONFIG_DFUMGR_TEST_HOOKS
	/* a QSPI operation that never completes (test hook): the health check must notice */
	if (shim_hooks.stall_flash)
		LOG_WRN("QSPI %s stalls (test hook)", shim_area_map[area].node_label);
	while (shim_hooks.stall_flash)
		k_msleep(100);
#endif
}

static void write_end(enum dfu_area area)
{
	if (shim_area_map[area].dev == SHIM_FLASH_QSPI)
		shim_qspi_write_end();
}

#ifdef CONFIG_DFUMGR_TEST_HOOKS
/*
 * native_posix: the flash simulator is instantaneous. A QSPI erase or program first takes its
 * time (shim_hooks: the MX25R64's typical times unless the test says otherwise) in a sleep,
 * as the nRF QSPI driver waits for its interrupt: other threads run meanwhile, and reads wait
 * for write_lock as they would for the driver. The bytes change at the end of that time.
 */
static void qspi_time(enum dfu_area area, uint32_t us)
{
	if (shim_area_map[area].dev == SHIM_FLASH_QSPI && us)
		k_usleep((int32_t)MIN(us, (uint32_t)INT32_MAX));
}

static void erase_time(enum dfu_area area, uint32_t len)
{
	qspi_time(area, DIV_ROUND_UP(len, 4096) * shim_hooks.qspi_erase_us);
}

/* per 256-byte page the write touches */
static void program_time(enum dfu_area area, uint32_t off, uint32_t len)
{
	uint32_t n = len ? (off + len - 1) / 256 - off / 256 + 1 : 0;

	qspi_time(area, n * shim_hooks.qspi_page_us);
}

/* A program of a secondary slot over the byte the test named fails, once. */
static bool program_fails(enum dfu_area area, uint32_t off, uint32_t len)
{
	uint32_t at = shim_hooks.fail_program_at;

	if ((area != DFU_AREA_IMG0_SECONDARY && area != DFU_AREA_IMG1_SECONDARY) ||
	    at == UINT32_MAX || at < off || at - off >= len)
		return false;
	shim_hooks.fail_program_at = UINT32_MAX;
	LOG_WRN("program of %s 0x%x+0x%x fails (test hook)", shim_area_map[area].node_label, off,
		len);
	return true;
}
#else
static inline void erase_time(enum dfu_area area, uint32_t len)
{
	ARG_UNUSED(area);
	ARG_UNUSED(len);
}

static inline void program_time(enum dfu_area area, uint32_t off, uint32_t len)
{
	ARG_UNUSED(area);
	ARG_UNUSED(off);
	ARG_UNUSED(len);
}

static inline bool program_fails(enum dfu_area area, uint32_t off, uint32_t len)
{
	ARG_UNUSED(area);
	ARG_UNUSED(off);
	ARG_UNUSED(len);
	return false;
}
#endif

/* Every erase and program: watched by the health check, one at a time. */
static void op_begin(enum dfu_area area)
{
	shim_health_flash_enter();
	k_mutex_lock(&write_lock, K_FOREVER);
	write_begin(area);
}

static void op_end(enum dfu_area area)
{
	write_end(area);
	k_mutex_unlock(&write_lock);
	shim_health_flash_exit();
}

static bool in_area(enum dfu_area area, uint32_t off, uint32_t len)
{
	return (unsigned)area < DFU_AREA_COUNT && area_fa[area] &&
	       (uint64_t)off + len <= area_fa[area]->fa_size;
}

int shim_platform_init(struct dfu_area_info areas[DFU_AREA_COUNT])
{
	const struct device *qspi = DEVICE_DT_GET(QSPI_DEV_NODE);

	if (!device_is_ready(qspi)) {
		LOG_ERR("QSPI flash not ready");
		return -ENODEV;
	}
	for (int a = 0; a < DFU_AREA_COUNT; a++) {
		const struct flash_area *fa;
		struct flash_pages_info page;
		struct shim_area_actual actual;
		const char *why;
		int rc = flash_area_open(area_id[a], &fa);

		if (rc != 0) {
			LOG_ERR("Failed to open %s: %d", shim_area_map[a].node_label, rc);
			return rc;
		}
		rc = flash_get_page_info_by_offs(flash_area_get_device(fa), fa->fa_off, &page);
		if (rc != 0) {
			LOG_ERR("Failed to get the page layout of %s: %d",
				shim_area_map[a].node_label, rc);
			flash_area_close(fa);
			return rc;
		}
		actual.dev = flash_area_get_device(fa) == qspi && fa->fa_off >= (off_t)QSPI_BASE
				 ? SHIM_FLASH_QSPI
				 : SHIM_FLASH_INTERNAL;
		actual.offset =
		    (uint32_t)fa->fa_off - (actual.dev == SHIM_FLASH_QSPI ? QSPI_BASE : 0);
		actual.size = (uint32_t)fa->fa_size;
		actual.erase_unit = (uint32_t)page.size;
		why = shim_area_mismatch((enum dfu_area)a, &actual);
		if (why) {
			LOG_ERR("%s is %s (0x%x+0x%x, unit 0x%x): not the wire.h partition map",
				shim_area_map[a].node_label, why, actual.offset, actual.size,
				actual.erase_unit);
			flash_area_close(fa);
			return -EINVAL;
		}
		area_fa[a] = fa;
		areas[a].size = actual.size;
		areas[a].erase_unit = actual.erase_unit;
	}
	return 0;
}

/*
 * About cost_us (bwPollTimeout): flash_area_erase/write return only when the flash is done, and
 * the core answers GETSTATUS only once the flash work it has to wait for is done (the flash
 * thread runs it; usb_dfu.c holds the request back meanwhile). Reporting the time as well would
 * make the host sleep it a second time (DFU 1.1 §6.1.2: it waits bwPollTimeout before the next
 * GETSTATUS); so nothing is added and bwPollTimeout stays 0. The measured times go to
 * shim_flash_stats (and the log) to compare with the datasheet model dfu-mgr-emu uses.
 */
int shim_flash_erase(void *user, enum dfu_area area, uint32_t off, uint32_t len, uint32_t *cost_us)
{
	uint32_t t0;
	int rc;

	ARG_UNUSED(user);
	ARG_UNUSED(cost_us);
	if (!in_area(area, off, len))
		return DFU_FLASH_RANGE;
	op_begin(area);
	t0 = k_cycle_get_32();
	erase_time(area, len);
	rc = flash_area_erase(area_fa[area], off, len);
	account(&stats.erase_us, &stats.max_erase_us, &stats.erases, t0);
	op_end(area);
	if (rc != 0) {
		LOG_ERR("Failed to erase %s 0x%x+0x%x: %d", shim_area_map[area].node_label, off,
			len, rc);
		return DFU_FLASH_ERASE_FAILED;
	}
	return 0;
}

int shim_flash_program(void *user, enum dfu_area area, uint32_t off, const uint8_t *data,
		       uint32_t len, uint32_t *cost_us)
{
	uint32_t start, span, t0, done = 0;
	int rc = 0;

	ARG_UNUSED(user);
	ARG_UNUSED(cost_us);
	if (!in_area(area, off, len) || !shim_align_span(off, len, 4, &start, &span) ||
	    (uint64_t)start + span > area_fa[area]->fa_size)
		return DFU_FLASH_RANGE;
	op_begin(area);
	t0 = k_cycle_get_32();
	program_time(area, off, len);
	if (program_fails(area, off, len)) {
		rc = -EIO;
	} else if (start == off && span == len && ((uintptr_t)data & 3) == 0) {
		rc = flash_area_write(area_fa[area], off, data, len);
	} else {
		/* 0xff around the data: programming 1s leaves NOR cells as they are */
		uint32_t head = off - start;

		while (rc == 0 && done < len) {
			uint32_t take = MIN(len - done, (uint32_t)sizeof(bounce) - head);
			uint32_t n = ROUND_UP(head + take, 4);

			memset(bounce, 0xff, n);
			memcpy((uint8_t *)bounce + head, data + done, take);
			rc = flash_area_write(area_fa[area], off + done - head, bounce, n);
			done += take;
			head = 0;
		}
	}
	account(&stats.program_us, &stats.max_program_us, &stats.programs, t0);
	op_end(area);
	if (rc != 0) {
		LOG_ERR("Failed to program %s 0x%x+0x%x: %d", shim_area_map[area].node_label, off,
			len, rc);
		return DFU_FLASH_PROGRAM_FAILED;
	}
	return 0;
}

int shim_flash_read(void *user, enum dfu_area area, uint32_t off, uint8_t *data, uint32_t len)
{
	int rc;

	ARG_UNUSED(user);
	if (!in_area(area, off, len))
		return DFU_FLASH_RANGE;
	if (len == 0)
		return 0;
	/* native_posix: wait for the simulated flash as the QSPI driver makes a read wait */
	if (IS_ENABLED(CONFIG_DFUMGR_TEST_HOOKS))
		k_mutex_lock(&write_lock, K_FOREVER);
	/* the nRF QSPI driver handles unaligned addresses, lengths and buffers for reads */
	rc = flash_area_read(area_fa[area], off, data, len);
	if (IS_ENABLED(CONFIG_DFUMGR_TEST_HOOKS))
		k_mutex_unlock(&write_lock);
	return rc == 0 ? 0 : DFU_FLASH_READ_FAILED;
}

void shim_sha256_start(void *user, unsigned ctx)
{
	ARG_UNUSED(user);
	(void)tc_sha256_init(&sha[ctx]);
}

void shim_sha256_update(void *user, unsigned ctx, const uint8_t *data, uint32_t len)
{
	ARG_UNUSED(user);
	(void)tc_sha256_update(&sha[ctx], data, len);
}

void shim_sha256_finish(void *user, unsigned ctx, uint8_t digest[32])
{
	ARG_UNUSED(user);
	(void)tc_sha256_final(digest, &sha[ctx]);
}

void shim_flash_stats_take(struct shim_flash_stats *ret_stats)
{
	k_mutex_lock(&write_lock, K_FOREVER);
	*ret_stats = stats;
	memset(&stats, 0, sizeof(stats));
	k_mutex_unlock(&write_lock);
}
