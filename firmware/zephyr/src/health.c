/* SPDX-License-Identifier: MIT */
/*
 * The hardware watchdog and the health check that feeds it.
 *
 * The watchdog (alias watchdog0: WDT0 on the DK, Zephyr's counter-based one on native_posix)
 * starts at POST_KERNEL, before the QSPI driver and XIP come up. A delayable work item on the
 * system work queue feeds it every quarter timeout, but only while:
 *   - the boot (up to the end of the self-test and confirmation) takes less than
 *     CONFIG_DFUMGR_HEALTH_BOOT_MS: image-1 code that hangs at boot stops the feeding;
 *   - afterwards, the main loop checked in within half a timeout;
 *   - no USB request or background step has held the DFU core, and no flash erase or program
 *     has been running, longer than CONFIG_DFUMGR_HEALTH_CORE_MAX_MS: a flash operation that
 *     never completes stops it (the flash thread of usb_dfu.c erases and programs with the core
 *     released, so the flash operations are watched on their own).
 * A long DFU download keeps all of them true: a request holds the core for at most one block's
 * flash work (a GETSTATUS waiting for the flash thread releases the core while it waits), one
 * erase or program takes milliseconds, the main loop keeps checking in between requests, and
 * nothing in it depends on the download's total time.
 *
 * Why the board reset is known at the next boot from the chip's reset reason (RESETREAS.DOG on
 * the nRF5340, through hwinfo). The nRF WDT resets two 32 kHz cycles (61 us) after its
 * interrupt: too short to rewrite the CRC-protected record safely, and a record torn by the
 * reset would lose the fault count. So the expiry callback writes the record only where the
 * chip reports no watchdog reset (native_posix, whose counter-based watchdog calls the callback
 * and then the reset). On nRF the WDT keeps running through the reset: MCUboot feeds it while
 * it copies (CONFIG_BOOT_WATCHDOG_FEED, on by default for nRF), and the new application takes
 * it over with the same timeout.
 */
#include <zephyr/device.h>
#include <zephyr/drivers/hwinfo.h>
#include <zephyr/drivers/watchdog.h>
#include <zephyr/init.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/atomic.h>

#include "shim.h"

LOG_MODULE_REGISTER(shim_health, LOG_LEVEL_INF);

#define WDT_NODE       DT_ALIAS(watchdog0)
#define FEED_PERIOD_MS (CONFIG_DFUMGR_WDT_TIMEOUT_MS / 4)
#define MAIN_MAX_MS    (CONFIG_DFUMGR_WDT_TIMEOUT_MS / 2)

BUILD_ASSERT(DT_NODE_HAS_STATUS(WDT_NODE, okay), "the health check needs a watchdog0 alias");
BUILD_ASSERT(CONFIG_DFUMGR_HEALTH_CORE_MAX_MS < CONFIG_DFUMGR_WDT_TIMEOUT_MS * 4,
	     "CONFIG_DFUMGR_HEALTH_CORE_MAX_MS is longer than the watchdog allows");

static const struct device *const wdt = DEVICE_DT_GET(WDT_NODE);
static int wdt_channel = -1;
static atomic_t main_seen_ms;
static atomic_t core_since_ms;  /* uptime | 1 when the core was taken, 0 when free */
static atomic_t flash_since_ms; /* uptime | 1 when a flash erase/program began, 0 when none */
static atomic_t boot_over;
static uint32_t boot_deadline_ms;
static uint32_t run_start_ms;
static bool cleared;
static bool reported;
static bool chip_reports_watchdog;

static void health_work_fn(struct k_work *work);
static K_WORK_DELAYABLE_DEFINE(health_work, health_work_fn);

static uint32_t now_ms(void)
{
	return k_uptime_get_32();
}

void shim_health_checkin(void)
{
	atomic_set(&main_seen_ms, (atomic_val_t)now_ms());
}

void shim_health_boot_done(void)
{
	run_start_ms = now_ms();
	shim_health_checkin();
	atomic_set(&boot_over, 1);
}

void shim_health_core_enter(void)
{
	atomic_set(&core_since_ms, (atomic_val_t)(now_ms() | 1u));
}

void shim_health_core_exit(void)
{
	atomic_set(&core_since_ms, 0);
}

void shim_health_flash_enter(void)
{
	atomic_set(&flash_since_ms, (atomic_val_t)(now_ms() | 1u));
}

void shim_health_flash_exit(void)
{
	atomic_set(&flash_since_ms, 0);
}

/* What is wrong, or NULL. */
static const char *health_problem(uint32_t now)
{
	uint32_t core = (uint32_t)atomic_get(&core_since_ms);
	uint32_t flash = (uint32_t)atomic_get(&flash_since_ms);

	if (!atomic_get(&boot_over)) {
		if ((int32_t)(now - boot_deadline_ms) > 0)
			return "the boot did not finish (image-1 code hanging?)";
	} else if (now - (uint32_t)atomic_get(&main_seen_ms) > MAIN_MAX_MS) {
		return "the main loop stopped checking in";
	}
	if (core && now - core > CONFIG_DFUMGR_HEALTH_CORE_MAX_MS)
		return "a request has held the DFU core too long (flash hanging?)";
	if (flash && now - flash > CONFIG_DFUMGR_HEALTH_CORE_MAX_MS)
		return "a flash erase or program has not finished (flash hanging?)";
	return NULL;
}

static void health_work_fn(struct k_work *work)
{
	uint32_t now = now_ms();
	const char *why = health_problem(now);

	ARG_UNUSED(work);
	if (!why) {
		(void)wdt_feed(wdt, wdt_channel);
		if (atomic_get(&boot_over) && !cleared && !shim_safe_mode() &&
		    now - run_start_ms >= CONFIG_DFUMGR_FAULT_CLEAR_S * 1000u) {
			shim_recovery_mark_healthy();
			cleared = true;
		}
	} else if (!reported) {
		LOG_ERR("Health check failed: %s; no more watchdog feeding, reset in <= %d ms", why,
			CONFIG_DFUMGR_WDT_TIMEOUT_MS);
		reported = true;
	}
	k_work_reschedule(&health_work, K_MSEC(FEED_PERIOD_MS));
}

/* Runs in the watchdog's interrupt (or, on native_posix, just before its reset). */
static void wdt_expired(const struct device *dev, int channel_id)
{
	ARG_UNUSED(dev);
	ARG_UNUSED(channel_id);
	if (!chip_reports_watchdog)
		shim_reset_note(SHIM_RESET_WATCHDOG);
}

static int health_start(void)
{
	const struct wdt_timeout_cfg cfg = {
	    .window = {.min = 0, .max = CONFIG_DFUMGR_WDT_TIMEOUT_MS},
	    .callback = wdt_expired,
	    .flags = WDT_FLAG_RESET_SOC,
	};
	uint32_t causes = 0;
	int rc;

	chip_reports_watchdog =
	    hwinfo_get_supported_reset_cause(&causes) == 0 && (causes & RESET_WATCHDOG) != 0;
	if (!device_is_ready(wdt)) {
		LOG_ERR("Watchdog %s not ready: no watchdog", wdt->name);
		return 0;
	}
	rc = wdt_install_timeout(wdt, &cfg);
	if (rc < 0) {
		LOG_ERR("Failed to install the watchdog timeout: %d", rc);
		return 0;
	}
	wdt_channel = rc;
	/* a debugger halting the CPU must not reset it */
	rc = wdt_setup(wdt, WDT_OPT_PAUSE_HALTED_BY_DBG);
	if (rc != 0) {
		LOG_ERR("Failed to start the watchdog: %d", rc);
		return 0;
	}
	boot_deadline_ms = now_ms() + CONFIG_DFUMGR_HEALTH_BOOT_MS;
	k_work_reschedule(&health_work, K_NO_WAIT);
	LOG_INF("watchdog %s: %d ms, fed by the health check", wdt->name,
		CONFIG_DFUMGR_WDT_TIMEOUT_MS);
	return 0;
}

SYS_INIT(health_start, POST_KERNEL, CONFIG_DFUMGR_WDT_INIT_PRIORITY);
