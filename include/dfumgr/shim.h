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

/*
 * Per-sector digests of alt's secondary slot (capability DFUMGR_CAP_SECTOR_DIGESTS in GET_INFO;
 * a sector is the slot's erase unit, GET_INFO's erase_unit). The board hashes sectors
 * [0, n_sectors) as it reads them back from flash, a page of DFUMGR_SECTORS_PER_PAGE at a time.
 *
 * dfumgr_shim_sectors_verify(): expected holds the digests the sectors should have (the new
 * image cut into sectors, its last one padded with 0xff, what a download leaves there). The
 * board compares, and each sector that matches counts for its COMMIT as written in this DFU
 * session; the next download of alt may skip exactly those (a sparse download: blocks of one
 * sector, numbered by sector). Bit k of ret_match (n_sectors bits, zeroed here) says sector k
 * matched. Needs DFU mode and an idle alt.
 * dfumgr_shim_sector_digests(): read-only: the board's digests of the sectors into
 * ret_digests (n_sectors entries); works in runtime mode too.
 * Errors: -DFUMGR_E_UNSUPPORTED (no such request: a plain DFU device or an older shim),
 * -DFUMGR_E_INVAL (n_sectors past the slot's image limit), -DFUMGR_E_BUSY, -DFUMGR_E_IO (the
 * board could not read its flash), -DFUMGR_E_TIMEOUT, -DFUMGR_E_PROTOCOL, transport errors.
 */
DFUMGR_EXPORT int dfumgr_shim_sectors_verify(struct dfumgr_dev *dev, uint8_t alt,
					     const uint8_t (*expected)[DFUMGR_SHA256_SIZE],
					     uint32_t n_sectors, uint8_t *ret_match);
DFUMGR_EXPORT int dfumgr_shim_sector_digests(struct dfumgr_dev *dev, uint8_t alt,
					     uint32_t n_sectors,
					     uint8_t (*ret_digests)[DFUMGR_SHA256_SIZE]);

/* Resets the device (MCUboot then runs). The handle is stale afterwards. */
DFUMGR_EXPORT int dfumgr_shim_reboot(struct dfumgr_dev *dev);

#ifdef __cplusplus
}
#endif
#endif
