/* SPDX-License-Identifier: MIT */
/*
 * After a test swap MCUboot runs the new pair once; unless the application confirms it, the
 * next reset reverts both images. The application confirms only a pair that works: image 1's
 * code runs from QSPI and gives the result computed at build time, and image 1's version meets
 * image 0's DEPENDENCY (dfu-mgr pack writes "image 1 >= this version" into image 0).
 */
#include <zephyr/dfu/mcuboot.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/sys/reboot.h>

#include "shim.h"
#include "shim_image.h"

LOG_MODULE_REGISTER(shim_confirm, LOG_LEVEL_INF);

static int slot_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	return shim_flash_read(NULL, *(const enum dfu_area *)ctx, off, buf, len);
}

static int read_primary(unsigned image, struct shim_image_info *ret_info)
{
	enum dfu_area area = dfu_area_primary(image);
	uint32_t size = image == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
	int rc = shim_image_read_info(slot_read, &area, size, ret_info);

	if (rc != SHIM_IMAGE_OK)
		LOG_ERR("image %u: no valid MCUboot header in its primary slot (%d)", image, rc);
	else
		LOG_INF("image %u: %u.%u.%u+%u", image, ret_info->version.major,
			ret_info->version.minor, ret_info->version.revision,
			ret_info->version.build);
	return rc;
}

static void revert_later(void)
{
	if (CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS == 0 || boot_is_img_confirmed())
		return;
	/*
	 * Only an unconfirmed image resets itself: after the revert the old pair is confirmed, so
	 * a pair that keeps failing cannot make the board reset forever.
	 */
	LOG_WRN("Self-test failed on an unconfirmed pair: reset in %d ms, MCUboot reverts",
		CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS);
	k_msleep(CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS);
	sys_reboot(SYS_REBOOT_COLD);
}

int shim_confirm_on_boot(void)
{
	struct shim_image_info img[DFUMGR_N_IMAGES];
	bool with_build = IS_ENABLED(CONFIG_DFUMGR_SHIM_VERSION_CMP_BUILD);
	uint32_t hash;
	int rc;

	rc = shim_xip_selftest(&hash);
	if (rc != 0) {
		LOG_ERR("XIP self-test failed: %d (hash 0x%08x)", rc, hash);
		revert_later();
		return rc;
	}
	if (read_primary(0, &img[0]) != 0 || read_primary(1, &img[1]) != 0) {
		/* e.g. flashed with a debugger, not through MCUboot: nothing to confirm */
		return -ENOENT;
	}
	if (!shim_dependency_met(&img[0], 1, &img[1].version, with_build)) {
		LOG_ERR("image 1 %u.%u.%u does not meet image 0's dependency", img[1].version.major,
			img[1].version.minor, img[1].version.revision);
		revert_later();
		return -EINVAL;
	}
	/*
	 * Image 1 first: until image 0 (the code that calls into image 1) is confirmed too, a
	 * power cut leaves MCUboot something to revert rather than a confirmed new application
	 * with a reverted QSPI image. The window between the two writes remains (see
	 * firmware/README.md, "What needs a real board").
	 */
	rc = boot_write_img_confirmed_multi(1);
	if (rc == 0)
		rc = boot_write_img_confirmed_multi(0);
	if (rc != 0) {
		LOG_ERR("Failed to confirm the pair: %d", rc);
		return rc;
	}
	LOG_INF("pair confirmed (XIP self-test hash 0x%08x)", hash);
	return 0;
}
