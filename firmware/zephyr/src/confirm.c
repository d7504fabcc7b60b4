/* SPDX-License-Identifier: MIT */
/*
 * After a test swap MCUboot runs the new pair once; unless the application confirms it, the
 * next reset reverts both images. The application confirms only a pair that works: image 1's
 * code (TinyCrypt's ECDSA and AES and the sample's own) runs from QSPI and gives the results
 * compiled into image 0, and the two running images meet each other's DEPENDENCY TLVs. A fault
 * or hang in that code resets the board before it confirms anything (recovery.c, health.c). The
 * confirmation itself (which image first, and why) is the shim core's dfu_dev_confirm(), the code
 * dfu-mgr-emu's boards run too.
 */
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include "shim.h"

LOG_MODULE_REGISTER(shim_confirm, LOG_LEVEL_INF);

/* the delayed self-reset happens before the boot health check gives up */
BUILD_ASSERT(CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS < CONFIG_DFUMGR_HEALTH_BOOT_MS,
	     "CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS must be shorter than the boot health deadline");

static void revert_later(void)
{
	if (CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS == 0 || !shim_pair_unconfirmed())
		return;
	/*
	 * Only an unconfirmed pair resets itself: after the revert the old pair is confirmed, so
	 * a pair that keeps failing cannot make the board reset forever. The main loop does not
	 * run meanwhile: the delay stays inside CONFIG_DFUMGR_HEALTH_BOOT_MS.
	 */
	LOG_WRN("Self-test failed on an unconfirmed pair: reset in %d ms, MCUboot reverts",
		CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS);
	k_msleep(CONFIG_DFUMGR_SHIM_REVERT_DELAY_MS);
	shim_reset(SHIM_RESET_PLANNED);
}

int shim_confirm_on_boot(void)
{
	uint32_t hash;
	int rc;

	rc = shim_xip_selftest(&hash);
	if (rc != 0) {
		LOG_ERR("XIP self-test failed: %d (hash 0x%08x)", rc, hash);
		revert_later();
		return rc;
	}
	rc = shim_usb_confirm();
	switch (rc) {
	case DFU_CONFIRM_DONE:
		LOG_INF("pair confirmed (XIP self-test hash 0x%08x)", hash);
		return 0;
	case DFU_CONFIRM_NO_IMAGE:
		/* e.g. flashed with a debugger, not through MCUboot: nothing to confirm */
		LOG_WRN("a primary slot holds no MCUboot image: nothing confirmed");
		return -ENOENT;
	case DFU_CONFIRM_MISMATCH:
		LOG_ERR("the running images do not meet each other's dependencies");
		revert_later();
		return -EINVAL;
	default:
		LOG_ERR("Failed to confirm the pair: %d", rc);
		return -EIO;
	}
}
