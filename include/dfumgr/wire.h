/* SPDX-License-Identifier: MIT */
/*
 * The shim's USB protocol: shared, byte for byte, by the host (libdfumgr) and the device
 * (firmware/core, the emulator and the nRF5340 application). Protocol version 2.
 *
 * Everything on the wire is little-endian with fixed layouts; the structs below are only a map
 * of offsets: code reads and writes the bytes with explicit helpers, never by casting, so the
 * layout does not depend on a compiler's packing.
 */
#ifndef DFUMGR_WIRE_H
#define DFUMGR_WIRE_H

#include <stdint.h>

/* ---- USB identity ---- */
#define DFUMGR_USB_VID    0x1915 /* Nordic Semiconductor */
#define DFUMGR_USB_PID    0x5300 /* dfu-mgr shim (runtime and DFU mode alike) */
#define DFUMGR_USB_BCD    0x0100
#define DFUMGR_SERIAL_MAX 24 /* ASCII, e.g. "NRF5340-0000000000000001" */

/* ---- DFU 1.1 (USB Device Class Specification for Device Firmware Upgrade, rev 1.1) ---- */
#define DFU_CLASS             0xfe
#define DFU_SUBCLASS          0x01
#define DFU_PROTOCOL_RUNTIME  0x01
#define DFU_PROTOCOL_DFU_MODE 0x02
#define DFU_FUNC_DESC_TYPE    0x21
#define DFU_FUNC_DESC_LEN     9
#define DFU_VERSION_BCD       0x0110

/* §4.1.3 bmAttributes of the functional descriptor */
#define DFU_ATTR_CAN_DNLOAD             0x01
#define DFU_ATTR_CAN_UPLOAD             0x02
#define DFU_ATTR_MANIFESTATION_TOLERANT 0x04
#define DFU_ATTR_WILL_DETACH            0x08

/* §3 class requests (bmRequestType 0x21 OUT / 0xa1 IN, wIndex = interface) */
enum dfu_request {
	DFU_DETACH = 0,
	DFU_DNLOAD = 1,
	DFU_UPLOAD = 2,
	DFU_GETSTATUS = 3,
	DFU_CLRSTATUS = 4,
	DFU_GETSTATE = 5,
	DFU_ABORT = 6,
};

/* §6.1.2 bState */
enum dfu_state {
	DFU_STATE_APP_IDLE = 0,
	DFU_STATE_APP_DETACH = 1,
	DFU_STATE_IDLE = 2,
	DFU_STATE_DNLOAD_SYNC = 3,
	DFU_STATE_DNBUSY = 4,
	DFU_STATE_DNLOAD_IDLE = 5,
	DFU_STATE_MANIFEST_SYNC = 6,
	DFU_STATE_MANIFEST = 7,
	DFU_STATE_MANIFEST_WAIT_RESET = 8,
	DFU_STATE_UPLOAD_IDLE = 9,
	DFU_STATE_ERROR = 10,
};

/* §6.1.2 bStatus */
enum dfu_status {
	DFU_STATUS_OK = 0x00,
	DFU_STATUS_ERR_TARGET = 0x01,
	DFU_STATUS_ERR_FILE = 0x02,
	DFU_STATUS_ERR_WRITE = 0x03,
	DFU_STATUS_ERR_ERASE = 0x04,
	DFU_STATUS_ERR_CHECK_ERASED = 0x05,
	DFU_STATUS_ERR_PROG = 0x06,
	DFU_STATUS_ERR_VERIFY = 0x07,
	DFU_STATUS_ERR_ADDRESS = 0x08,
	DFU_STATUS_ERR_NOTDONE = 0x09,
	DFU_STATUS_ERR_FIRMWARE = 0x0a,
	DFU_STATUS_ERR_VENDOR = 0x0b,
	DFU_STATUS_ERR_USBR = 0x0c,
	DFU_STATUS_ERR_POR = 0x0d,
	DFU_STATUS_ERR_UNKNOWN = 0x0e,
	DFU_STATUS_ERR_STALLEDPKT = 0x0f,
};

#define DFU_GETSTATUS_LEN 6 /* bStatus, bwPollTimeout[3], bState, iString */

/* ---- the shim's alt-settings (DFU mode) and flash layout ---- */
#define DFUMGR_ALT_IMAGE0        0 /* "image-0": MCUboot image 0 secondary slot (internal code) */
#define DFUMGR_ALT_IMAGE1        1 /* "image-1": MCUboot image 1 secondary slot (QSPI XIP code) */
#define DFUMGR_N_IMAGES          2
#define DFUMGR_TRANSFER_SIZE     4096 /* wTransferSize: one flash page/sector */
#define DFUMGR_DETACH_TIMEOUT_MS 1000

/*
 * The partition map (like NCS pm_static.yml for an XIP split image), shared by the emulator,
 * the firmware and `dfu-mgr pack`'s slot sizes. Offsets are within each flash device.
 * Internal flash (nRF5340 app core, 1 MiB, 4 KiB pages):
 *   0x000000 mcuboot (48 KiB) | 0x00c000 image 0 primary (0xe0000) | 0x0ec000 storage (80 KiB)
 * QSPI (MX25R6435F, 8 MiB, 4 KiB sectors; XIP window at 0x10000000):
 *   0x000000 image 0 secondary (0xe0000) | 0x0e0000 spare (256 KiB)
 *   0x120000 image 1 primary (0x370000; code linked at 0x10120200 after the 0x200 header)
 *   0x490000 image 1 secondary (0x370000)
 */
#define DFUMGR_INTERNAL_FLASH_SIZE   0x100000u
#define DFUMGR_INTERNAL_PAGE_SIZE    0x1000u
#define DFUMGR_QSPI_FLASH_SIZE       0x800000u
#define DFUMGR_QSPI_SECTOR_SIZE      0x1000u
#define DFUMGR_QSPI_XIP_BASE         0x10000000u
#define DFUMGR_MCUBOOT_OFFSET        0x000000u
#define DFUMGR_MCUBOOT_SIZE          0x00c000u
#define DFUMGR_IMG0_PRIMARY_OFFSET   0x00c000u /* internal */
#define DFUMGR_IMG0_SLOT_SIZE        0x0e0000u
#define DFUMGR_IMG0_SECONDARY_OFFSET 0x000000u /* QSPI */
#define DFUMGR_IMG1_PRIMARY_OFFSET   0x120000u /* QSPI */
#define DFUMGR_IMG1_SECONDARY_OFFSET 0x490000u /* QSPI */
#define DFUMGR_IMG1_SLOT_SIZE        0x370000u
#define DFUMGR_IMAGE_HEADER_OFFSET   0x200u /* code starts this far into a slot */

/*
 * MCUboot's configuration for this product (firmware/zephyr/mcuboot/mcuboot.conf): swap using
 * move, two images, CONFIG_BOOT_MAX_IMG_SECTORS=1024, the nRF5340's flash write size of 4 bytes
 * (NVMC and QSPI alike), BOOT_MAX_ALIGN 8. pack, the host, the board and the emulator all size
 * the trailer from these, through dfumgr_wire_trailer_size() below.
 */
#define DFUMGR_MCUBOOT_MAX_SECTORS 1024u
#define DFUMGR_MCUBOOT_WRITE_SIZE  4u
#define DFUMGR_MCUBOOT_MAX_ALIGN   8u
#define DFUMGR_BOOT_MAGIC_LEN      16u

/* MCUboot trailer fields (max_align 8), as offsets from the end of a slot */
#define DFUMGR_TRAILER_MAGIC_OFF     16 /* boot magic, 16 bytes */
#define DFUMGR_TRAILER_IMAGE_OK_OFF  24
#define DFUMGR_TRAILER_COPY_DONE_OFF 32
#define DFUMGR_TRAILER_SWAP_INFO_OFF 40
#define DFUMGR_TRAILER_SWAP_SIZE_OFF 48
#define DFUMGR_BOOT_FLAG_SET         0x01
#define DFUMGR_SWAP_TYPE_NONE        1
#define DFUMGR_SWAP_TYPE_TEST        2
#define DFUMGR_SWAP_TYPE_PERM        3
#define DFUMGR_SWAP_TYPE_REVERT      4

/*
 * Bytes MCUboot keeps at the end of a slot for its trailer (bootutil's boot_trailer_sz(), for a
 * swap mode): three status entries of write_size bytes per sector for max_sectors sectors, then
 * swap_size, swap_info, copy_done and image_ok on max_align rows, then the magic. 1024 sectors,
 * write size 4, max_align 8: 12,336 bytes.
 */
static inline uint32_t dfumgr_wire_trailer_size(uint32_t max_sectors, uint32_t write_size,
						uint32_t max_align)
{
	uint32_t magic = (DFUMGR_BOOT_MAGIC_LEN + max_align - 1) / max_align * max_align;

	return max_sectors * 3 * write_size + max_align * 4 + magic;
}

/*
 * The largest image (header + payload + TLVs) a slot of slot_size bytes in erase units of
 * sector bytes can take under swap-move: the sectors that hold any trailer byte are MCUboot's,
 * and one more sector is needed because the move phase shifts the primary image up by one
 * sector (bootutil's swap_move.c refuses "Not enough free space to run swap upgrade"
 * otherwise). Everything from here to the end of the slot is the board's "trailer region": a
 * download may only put erased bytes (0xff) there.
 */
static inline uint32_t dfumgr_wire_image_max(uint32_t slot_size, uint32_t sector)
{
	uint32_t trailer = dfumgr_wire_trailer_size(
	    DFUMGR_MCUBOOT_MAX_SECTORS, DFUMGR_MCUBOOT_WRITE_SIZE, DFUMGR_MCUBOOT_MAX_ALIGN);
	uint32_t reserved = (trailer + sector - 1) / sector * sector + sector;

	return slot_size > reserved ? slot_size - reserved : 0;
}

/* ---- vendor requests (bmRequestType 0x41 OUT / 0xc1 IN, wIndex = interface) ---- */
/*
 * Version 2: GET_INFO reports the product, hardware revision, capabilities and, per image,
 * the largest image the slot takes and the running image's security counter; the board owns
 * the pending set (docs/pair-rule.md). A host refuses a board of another version.
 */
#define DFUMGR_PROTO_VERSION 2

enum dfumgr_vendor_request {
	DFUMGR_REQ_GET_INFO = 0x40,     /* IN: struct layout DFUMGR_INFO_* below */
	DFUMGR_REQ_DIGEST_START = 0x41, /* OUT, wValue = alt [| PRIMARY], data: u32 length (0: bytes
					   written); allowed in runtime mode too (read-only) */
	DFUMGR_REQ_DIGEST_GET = 0x42,   /* IN, wValue as DIGEST_START: DFUMGR_DIGEST_* below */
	DFUMGR_REQ_COMMIT = 0x43,       /* OUT, data: DFUMGR_COMMIT_* below */
	DFUMGR_REQ_REBOOT = 0x44,       /* OUT, no data */
	/*
	 * Per-sector SHA-256 of a secondary slot, a page of DFUMGR_SECTORS_PER_PAGE sectors at a
	 * time (capability DFUMGR_CAP_SECTOR_DIGESTS), wValue = alt | page << 8:
	 * OUT (data: DFUMGR_SECTORS_OUT_* below): the digests the new image's sectors have; the
	 * board hashes its own sectors of that page from flash and compares, and each sector that
	 * matches counts for COMMIT as written in this session (docs/pair-rule.md, rule 3).
	 * IN (DFUMGR_SECTORS_* below): the page's digests as read from flash and which sectors
	 * matched; busy while the board hashes (polling drives it). An IN without an OUT before it
	 * only lists the digests (read-only, nothing counts as written).
	 */
	DFUMGR_REQ_SECTOR_DIGESTS = 0x45,
};

/* Slot states reported by GET_INFO (of each image's secondary slot). */
enum dfumgr_slot_state {
	DFUMGR_SLOT_EMPTY = 0,     /* no valid image header */
	DFUMGR_SLOT_WRITTEN = 1,   /* holds an image (maybe partial), not marked */
	DFUMGR_SLOT_PENDING = 2,   /* marked for MCUboot test-swap */
	DFUMGR_SLOT_CONFIRMED = 3, /* marked for a permanent swap */
};

/* Commit progress reported by GET_INFO. */
enum dfumgr_commit_state {
	DFUMGR_COMMIT_NONE = 0,
	DFUMGR_COMMIT_CHECKING = 1, /* re-reading both slots from flash */
	DFUMGR_COMMIT_DONE = 2,     /* both images marked */
	DFUMGR_COMMIT_REJECTED = 3, /* neither marked; last_error says why */
};

/* Why the device rejected (STALLed) the last vendor request, a download block or a commit. */
enum dfumgr_dev_error {
	DFUMGR_DEV_OK = 0,
	DFUMGR_DEV_BAD_REQUEST = 1, /* unknown request or bad direction */
	DFUMGR_DEV_BAD_ALT = 2,
	DFUMGR_DEV_BAD_LENGTH = 3,  /* wLength or a length field out of range */
	DFUMGR_DEV_BUSY = 4,        /* a download, digest or commit is in progress */
	DFUMGR_DEV_BAD_VERSION = 5, /* unknown protocol version in the request */
	DFUMGR_DEV_DIGEST0 = 6,     /* image 0's slot does not hash to the expected digest */
	DFUMGR_DEV_DIGEST1 = 7,     /* image 1's slot does not hash to the expected digest */
	DFUMGR_DEV_FLASH = 8,       /* a flash operation failed */
	DFUMGR_DEV_STATE = 9,       /* not allowed in the current DFU state */
	DFUMGR_DEV_NOT_WRITTEN =
	    10, /* commit of an image not wholly written since DFU mode began */
	/* version 2 */
	DFUMGR_DEV_TRAILER = 11,   /* a download put non-erased bytes past the image's end or in the
				      trailer region: only COMMIT writes MCUboot trailers */
	DFUMGR_DEV_BAD_IMAGE = 12, /* commit: not an MCUboot image, too big for the slot, or its own
				      SHA256 TLV does not match flash */
	DFUMGR_DEV_EXTENT = 13,    /* commit: the length given is not the image's extent */
	DFUMGR_DEV_PAIR = 14,      /* commit: the new images' dependencies on each other are not
				      met: MCUboot would install neither */
	DFUMGR_DEV_DIVISIBLE = 15, /* commit: MCUboot could install one image of the pair without
				      the other (no mutual dependency at the new versions) */
	DFUMGR_DEV_SAME_VERSION = 16, /* commit: an image has the running version but other bytes */
	DFUMGR_DEV_NO_UPLOAD = 17,    /* reading slots back is disabled in this firmware */
	DFUMGR_DEV_SWAP_SIZES = 18,   /* commit: image 1's swap would cover fewer sectors than
					 image 0's, which this MCUboot cannot boot
					 (mcu-tools/mcuboot#1768, fixed in MCUboot 2.1) */
};

/* GET_INFO reply: a 64-byte head, then 48 bytes per image: 160 bytes */
#define DFUMGR_INFO_LEN          160
#define DFUMGR_INFO_PROTO        0  /* u8 protocol version */
#define DFUMGR_INFO_N_IMAGES     1  /* u8 */
#define DFUMGR_INFO_LAST_ERROR   2  /* u8 enum dfumgr_dev_error */
#define DFUMGR_INFO_COMMIT_STATE 3  /* u8 enum dfumgr_commit_state */
#define DFUMGR_INFO_SERIAL       4  /* char[24], NUL-padded */
#define DFUMGR_INFO_PRODUCT      28 /* char[32], NUL-padded: the manifest's "product" */
#define DFUMGR_INFO_HW_REV       60 /* u16 hardware revision */
#define DFUMGR_INFO_CAPS         62 /* u16 DFUMGR_CAP_* */
#define DFUMGR_INFO_IMAGES       64 /* then per image, 48 bytes: */
#define DFUMGR_INFO_IMAGE_LEN    48
#define DFUMGR_PRODUCT_MAX       32

#define DFUMGR_INFO_IMG_SLOT_STATE 0  /* u8 enum dfumgr_slot_state */
#define DFUMGR_INFO_IMG_FLAGS      1  /* u8 DFUMGR_INFO_F_* */
#define DFUMGR_INFO_IMG_RESERVED   2  /* u16 0 */
#define DFUMGR_INFO_IMG_VERSION    4  /* running version: u8 major, u8 minor, u16 rev, u32 build */
#define DFUMGR_INFO_IMG_SLOT_SIZE  12 /* u32 */
#define DFUMGR_INFO_IMG_ERASE_UNIT 16 /* u32 */
#define DFUMGR_INFO_IMG_WRITTEN                                                                    \
	20 /* u32 bytes from the slot's start written, or verified by SECTOR_DIGESTS, in this      \
	      DFU session: what COMMIT may count */
#define DFUMGR_INFO_IMG_UPLOADABLE 24 /* u32 bytes an UPLOAD returns (0: uploads disabled) */
#define DFUMGR_INFO_IMG_MAX_IMAGE                                                                  \
	28                            /* u32 largest image the slot takes (dfumgr_wire_image_max)  \
				       */
#define DFUMGR_INFO_IMG_SEC_CNT    32 /* u32 the running image's security counter (TLV 0x50), 0 */
#define DFUMGR_INFO_IMG_SEC_EXTENT 36 /* u32 extent of the image in the secondary slot, 0 none */
#define DFUMGR_INFO_IMG_VERIFIED   40 /* u16 sectors verified unchanged by digest this session */
#define DFUMGR_INFO_IMG_RESERVED2  42 /* u16 0 */
#define DFUMGR_INFO_IMG_FLASH_ERROR                                                                \
	44 /* u32 slot offset of the last block whose erase or program failed (0xffffffff: none);  \
	      a pipelined board reports it one status late, so the host names the right block */
#define DFUMGR_NO_FLASH_ERROR 0xffffffffu

#define DFUMGR_INFO_F_PRIMARY_VALID     0x01 /* the primary holds an image: version valid */
#define DFUMGR_INFO_F_PRIMARY_CONFIRMED 0x02 /* the running image is confirmed (image_ok) */
#define DFUMGR_INFO_F_SECONDARY_WHOLE   0x04 /* whole image written (and checked) this session */
#define DFUMGR_INFO_F_HAS_SEC_CNT       0x08 /* the running image carries a security counter */

#define DFUMGR_CAP_UPLOAD         0x0001 /* UPLOAD reads the slots back */
#define DFUMGR_CAP_VERSION_BUILD  0x0002 /* versions compare with their build numbers */
#define DFUMGR_CAP_SECTOR_DIGESTS 0x0004 /* DFUMGR_REQ_SECTOR_DIGESTS, sparse downloads */

/* wValue flag of DIGEST_START/GET: hash image ALT's primary (running) slot, not the secondary */
#define DFUMGR_DIGEST_PRIMARY 0x0100

/* DIGEST_GET reply: 40 bytes */
#define DFUMGR_DIGEST_LEN      40
#define DFUMGR_DIGEST_PROTO    0 /* u8 */
#define DFUMGR_DIGEST_STATUS   1 /* u8: 0 ready, 1 busy, 2 none started, 3 flash error */
#define DFUMGR_DIGEST_ALT      2 /* u8 */
#define DFUMGR_DIGEST_RESERVED 3 /* u8 */
#define DFUMGR_DIGEST_LENGTH   4 /* u32 bytes hashed */
#define DFUMGR_DIGEST_SHA256   8 /* u8[32], of the slot's first LENGTH bytes read from flash */
enum dfumgr_digest_status {
	DFUMGR_DIGEST_READY = 0,
	DFUMGR_DIGEST_BUSY = 1,
	DFUMGR_DIGEST_NONE = 2,
	DFUMGR_DIGEST_ERROR = 3,
};

/*
 * SECTOR_DIGESTS. A sector is one erase unit of the slot (GET_INFO's erase unit: 4 KiB); its
 * digest is the SHA-256 of all of its bytes as read from flash (the host pads an image's last
 * sector with 0xff, what a download leaves there). Page p covers sectors
 * p * DFUMGR_SECTORS_PER_PAGE on, up to the slot's image limit (dfumgr_wire_image_max()).
 * IN reply: a 24-byte head, then COUNT digests: at most 24 + 127 * 32 = 4088 bytes.
 */
#define DFUMGR_SECTORS_PER_PAGE 127
#define DFUMGR_SECTORS_PROTO    0  /* u8 */
#define DFUMGR_SECTORS_STATUS   1  /* u8 enum dfumgr_digest_status */
#define DFUMGR_SECTORS_ALT      2  /* u8 */
#define DFUMGR_SECTORS_PAGE     3  /* u8 */
#define DFUMGR_SECTORS_FIRST    4  /* u16 first sector of the page */
#define DFUMGR_SECTORS_COUNT    6  /* u16 sectors in the page */
#define DFUMGR_SECTORS_MATCH    8  /* u8[16] bit k: sector FIRST + k matched the host's digest */
#define DFUMGR_SECTORS_DIGESTS  24 /* u8[COUNT][32] */
#define DFUMGR_SECTORS_HEAD_LEN 24
#define DFUMGR_SECTORS_LEN      (DFUMGR_SECTORS_HEAD_LEN + DFUMGR_SECTORS_PER_PAGE * 32)
/* OUT data: an 8-byte head, then COUNT expected digests (at most 8 + 127 * 32 = 4072 bytes) */
#define DFUMGR_SECTORS_OUT_PROTO     0 /* u8 protocol version */
#define DFUMGR_SECTORS_OUT_RESERVED  1 /* u8 0 */
#define DFUMGR_SECTORS_OUT_COUNT     2 /* u16 sectors, 1..DFUMGR_SECTORS_PER_PAGE */
#define DFUMGR_SECTORS_OUT_RESERVED2 4 /* u32 0 */
#define DFUMGR_SECTORS_OUT_DIGESTS   8
#define DFUMGR_SECTORS_OUT_HEAD_LEN  8

/*
 * A sparse download (after SECTOR_DIGESTS OUT on the alt, until the download ends): blocks are
 * whole sectors (the last may be short) and a DNLOAD's wValue is its sector number; the host
 * skips sectors the board verified, and the board accepts a block only where everything before
 * it is written or verified in this session. Plain hosts number blocks 0, 1, 2, ... as ever.
 */

/* COMMIT request data: 4 + 2 * 36 = 76 bytes */
#define DFUMGR_COMMIT_LEN         76
#define DFUMGR_COMMIT_PROTO       0 /* u8 protocol version */
#define DFUMGR_COMMIT_N_IMAGES    1 /* u8, must be 2 */
#define DFUMGR_COMMIT_FLAGS       2 /* u8: bit0 permanent (else test-swap, confirmed by the app) */
#define DFUMGR_COMMIT_RESERVED    3
#define DFUMGR_COMMIT_IMAGES      4 /* per image (index order), 36 bytes: */
#define DFUMGR_COMMIT_IMAGE_LEN   36
#define DFUMGR_COMMIT_IMG_LENGTH  0 /* u32 the image's extent (header + payload + TLVs) */
#define DFUMGR_COMMIT_IMG_SHA256  4 /* u8[32] expected SHA-256 of those bytes (the file's) */
#define DFUMGR_COMMIT_F_PERMANENT 0x01

#endif
