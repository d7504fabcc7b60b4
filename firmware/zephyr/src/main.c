/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr's nRF5340 DK application: the shim of ARCHITECTURE §3 around firmware/core, plus a
 * sample image-1 part that runs from QSPI. Start-up: check the flash partitions against
 * wire.h, serve DFU over USB, self-test and confirm the running pair; main's thread then does
 * the core's background hashing.
 */
#include <zephyr/drivers/hwinfo.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include "shim.h"
#include "shim_desc.h"

LOG_MODULE_REGISTER(shim_main, LOG_LEVEL_INF);

int main(void)
{
	struct dfu_area_info areas[DFU_AREA_COUNT];
	char serial[DFUMGR_SERIAL_MAX + 1];
	uint8_t id[8] = {0};
	ssize_t id_len;
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
		return 0;
	}
	if (shim_usb_start(areas, serial, IS_ENABLED(CONFIG_DFUMGR_SHIM_START_IN_DFU_MODE)) != 0)
		return 0;
	/* the core confirms (shim_usb_confirm()), so it runs once USB has initialised it */
	(void)shim_confirm_on_boot();
	for (;;) {
		shim_usb_work_wait();
		while (shim_usb_poll_step())
			k_yield();
	}
	return 0;
}
