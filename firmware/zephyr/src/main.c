/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr's nRF5340 DK application: the shim of ARCHITECTURE §3 around firmware/core, plus a
 * sample image-1 part that runs from QSPI. Start-up order, each step before the next:
 *
 *   POST_KERNEL  the watchdog starts (health.c), the QSPI driver initialises, XIP comes up and
 *                is checked (xip.c); no image-1 code has run
 *   main()       the flash partitions are checked against wire.h; the boot decision (recovery.c)
 *                counts a fault of the running pair and may choose safe mode; USB DFU comes up;
 *                only then the image-1 self-test and the confirmation of the pair (skipped in
 *                safe mode), so that a board whose image 1 faults or hangs is on the bus first
 *   main loop    checks in with the health check, does the core's background hashing, runs the
 *                application's image-1 work in runtime mode
 */
#include <zephyr/drivers/hwinfo.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include "shim.h"
#include "shim_desc.h"

LOG_MODULE_REGISTER(shim_main, LOG_LEVEL_INF);

/* the main loop wakes at least this often to check in */
#define CHECKIN_MS (CONFIG_DFUMGR_WDT_TIMEOUT_MS / 8)
#define WAIT_MS                                                                                    \
	(CONFIG_DFUMGR_APP_PERIOD_MS > 0 && CONFIG_DFUMGR_APP_PERIOD_MS < CHECKIN_MS               \
	     ? CONFIG_DFUMGR_APP_PERIOD_MS                                                         \
	     : CHECKIN_MS)

int main(void)
{
	struct dfu_area_info areas[DFU_AREA_COUNT];
	char serial[DFUMGR_SERIAL_MAX + 1];
	uint8_t id[8] = {0};
	ssize_t id_len;
	bool safe;
	int rc;

	/* nRF: FICR.INFO.DEVICEID, the same after every reset and in both USB modes */
	id_len = hwinfo_get_device_id(id, sizeof(id));
	if (id_len < 0) {
		LOG_WRN("No hardware device id (%d): serial number is all zeros", (int)id_len);
		id_len = 0;
	}
	shim_serial_format(id, (size_t)id_len, serial);

	rc = shim_platform_init(areas);
	if (rc != 0) {
		/* no DFU on a board whose slots differ from what the host plans with */
		LOG_ERR("Flash partitions do not match the shim's map: DFU disabled");
		shim_health_boot_done();
		for (;;) {
			shim_health_checkin();
			k_msleep(CHECKIN_MS);
		}
	}
	safe = shim_recovery_decide();
	if (safe)
		shim_xip_close("safe mode");
	if (shim_usb_start(areas, serial, IS_ENABLED(CONFIG_DFUMGR_SHIM_START_IN_DFU_MODE)) != 0)
		LOG_ERR("USB DFU is not available");
	/* the core confirms (shim_usb_confirm()), so it runs once USB has initialised it */
	if (!safe)
		(void)shim_confirm_on_boot();
	shim_health_boot_done();
	for (;;) {
		shim_health_checkin();
		if (shim_usb_poll_step()) {
			k_yield();
			continue;
		}
		if (shim_usb_runtime_mode())
			(void)shim_xip_app_tick();
		shim_usb_work_wait(WAIT_MS);
	}
	return 0;
}
