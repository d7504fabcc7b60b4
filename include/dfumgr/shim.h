/* SPDX-License-Identifier: MIT */
/*
 * The dfu-mgr shim's vendor requests (ARCHITECTURE §3, dfumgr/wire.h): SHA-256 of a slot read
 * back from flash, the pair COMMIT, and REBOOT. GET_INFO is in dfumgr/shim_info.h.
 */
#ifndef DFUMGR_SHIM_H
#define DFUMGR_SHIM_H

#include "dfumgr/crypto.h"
#include "dfumgr/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * SHA-256 of the first length bytes of alt's slot, as the device reads them back from flash.
 * Errors: -DFUMGR_E_UNSUPPORTED (not a shim: it stalls DIGEST_START), -DFUMGR_E_TIMEOUT,
 * -DFUMGR_E_IO (the device could not read its flash), transport errors.
 */
DFUMGR_EXPORT int dfumgr_shim_digest(struct dfumgr_dev *dev, uint8_t alt, uint32_t length,
				     uint8_t ret_digest[static DFUMGR_SHA256_SIZE]);

/* The same for image alt's primary (running) slot when primary is true. */
DFUMGR_EXPORT int dfumgr_shim_digest_slot(struct dfumgr_dev *dev, uint8_t alt, bool primary,
					  uint32_t length,
					  uint8_t ret_digest[static DFUMGR_SHA256_SIZE]);

/*
 * Asks the device to mark both images for MCUboot, after it has re-checked both slots against
 * the expected digests; waits for its verdict. permanent: a permanent swap instead of a test
 * swap (the application then need not confirm).
 * Errors: -DFUMGR_E_MISMATCH (the device found a slot that does not hash to the digest: the
 * message says which; neither image was marked), -DFUMGR_E_IO (flash error while marking),
 * -DFUMGR_E_TIMEOUT, -DFUMGR_E_PROTOCOL.
 * ret_bad_image (may be NULL): on -DFUMGR_E_MISMATCH, the image whose digest differed.
 */
DFUMGR_EXPORT int dfumgr_shim_commit(struct dfumgr_dev *dev, const uint32_t length[2],
				     const uint8_t digest[2][DFUMGR_SHA256_SIZE], bool permanent,
				     int *ret_bad_image);

/* Resets the device (MCUboot then runs). The handle is stale afterwards. */
DFUMGR_EXPORT int dfumgr_shim_reboot(struct dfumgr_dev *dev);

#ifdef __cplusplus
}
#endif
#endif
