/* SPDX-License-Identifier: MIT */
/*
 * The shim's portable core: the DFU 1.1 device class (runtime and DFU mode) with the two
 * alt-settings of ARCHITECTURE §3, the vendor requests (GET_INFO, DIGEST_START/GET, COMMIT,
 * REBOOT), and the MCUboot trailer writes that mark both images for a swap.
 *
 * C11, no OS calls, no allocation: the platform (the nRF5340 application or dfu-mgr-emu) owns a
 * struct dfu_dev, feeds it control requests and time, and provides flash, SHA-256, detach and
 * reboot through struct dfu_dev_ops. One thread at a time.
 */
#ifndef DFU_DEV_H
#define DFU_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfumgr/wire.h"

/* The flash areas the core touches: each image's primary (running) and secondary slot. */
enum dfu_area {
	DFU_AREA_IMG0_PRIMARY = 0,
	DFU_AREA_IMG0_SECONDARY = 1,
	DFU_AREA_IMG1_PRIMARY = 2,
	DFU_AREA_IMG1_SECONDARY = 3,
	DFU_AREA_COUNT
};

static inline enum dfu_area dfu_area_secondary(unsigned image)
{
	return image == 0 ? DFU_AREA_IMG0_SECONDARY : DFU_AREA_IMG1_SECONDARY;
}

static inline enum dfu_area dfu_area_primary(unsigned image)
{
	return image == 0 ? DFU_AREA_IMG0_PRIMARY : DFU_AREA_IMG1_PRIMARY;
}

struct dfu_area_info {
	uint32_t size;       /* bytes; a multiple of erase_unit */
	uint32_t erase_unit; /* bytes */
};

/* Result codes of the flash operations (0 = success). */
enum dfu_flash_result {
	DFU_FLASH_OK = 0,
	DFU_FLASH_ERASE_FAILED = -1,
	DFU_FLASH_PROGRAM_FAILED = -2,
	DFU_FLASH_READ_FAILED = -3,
	DFU_FLASH_RANGE = -4,
	DFU_FLASH_NOT_ERASED = -5, /* reported by the core: an erased sector does not read 0xff */
};

struct dfu_dev_ops {
	/*
	 * Flash access within an area (offsets from the area's start). erase and program return
	 * 0 or a negative enum dfu_flash_result and add the time the operation takes on the
	 * device, in microseconds, to *cost_us: the core reports it as bwPollTimeout.
	 */
	int (*erase)(void *user, enum dfu_area area, uint32_t off, uint32_t len, uint32_t *cost_us);
	int (*program)(void *user, enum dfu_area area, uint32_t off, const uint8_t *data,
		       uint32_t len, uint32_t *cost_us);
	int (*read)(void *user, enum dfu_area area, uint32_t off, uint8_t *data, uint32_t len);
	/*
	 * SHA-256 in DFU_SHA_CONTEXTS independent contexts (0 and 1): a commit hashes a slot's
	 * whole image and its MCUboot-hashed prefix in one pass over the flash.
	 */
	void (*sha256_start)(void *user, unsigned ctx);
	void (*sha256_update)(void *user, unsigned ctx, const uint8_t *data, uint32_t len);
	void (*sha256_finish)(void *user, unsigned ctx, uint8_t digest[32]);
	/*
	 * Runtime mode, DFU_DETACH accepted: the device will detach (bitWillDetach) and come back
	 * in DFU mode with the same serial. Called from dfu_dev_control(): answer the request
	 * first, then re-enumerate.
	 */
	void (*detach)(void *user);
	/* REBOOT accepted: reset after the request has been answered (MCUboot then runs). */
	void (*reboot)(void *user);
	/*
	 * Optional: where erase and program block for the flash's real time (the nRF5340), a
	 * download block was queued: run dfu_dev_work() on the platform's flash thread, so that
	 * USB takes the next block meanwhile. NULL: the core does the flash work itself at once
	 * and keeps the time it takes from the ops' cost_us (dfu-mgr-emu, tests).
	 */
	void (*work)(void *user);
};

#define DFU_SHA_CONTEXTS 2

#define DFU_DEV_STALL (-1)
/*
 * dfu_dev_control() with an async flash (ops->work set): the request can only be answered once
 * the flash work in progress is done (a GETSTATUS while both block buffers are full, the end of
 * a download, a request that reads the slots). Nothing was changed: call again, with the same
 * setup and data, after dfu_dev_work() has finished a block. The USB stack NAKs meanwhile: flow
 * control by the data stage.
 */
#define DFU_DEV_WAIT (-2)

/* What the platform tells the core about the board and its firmware build. */
struct dfu_dev_config {
	const struct dfu_area_info *areas; /* the four areas; NULL: wire.h's map, 4 KiB units */
	const char *serial;                /* ASCII, at most DFUMGR_SERIAL_MAX characters */
	const char *product;               /* ASCII, at most DFUMGR_PRODUCT_MAX characters */
	uint16_t hw_revision;
	bool no_upload;         /* refuse DFU_UPLOAD: the product keeps its firmware unreadable */
	bool version_cmp_build; /* as MCUboot's MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER */
	/*
	 * MCUboot before 2.1 halts when two images swap and image 1's swap covers fewer sectors
	 * than image 0's (mcu-tools/mcuboot#1768): refuse such pairs at COMMIT.
	 */
	bool mcuboot_1768;
	/*
	 * The download as the shim did it before it was pipelined, for benchmarks that measure
	 * the gain in one run (dfu-mgr-emu's "legacy" control command): one block in flash at a
	 * time (each GETSTATUS busy until it is programmed), every sector erased, blank or not,
	 * dfuMANIFEST with bwPollTimeout 0 before dfuIDLE, no SECTOR_DIGESTS. Never in firmware.
	 */
	bool legacy_download;
};

/* A control request as it arrives in the SETUP packet. */
struct dfu_setup {
	uint8_t bmRequestType;
	uint8_t bRequest;
	uint16_t wValue;
	uint16_t wIndex;
	uint16_t wLength;
};

/* How many bytes the digest engine hashes per step (bounded work per call). */
#define DFU_DIGEST_STEP 4096u
/* Sectors tracked per slot for "erased in this session" (0x370000 / 4 KiB = 880). */
#define DFU_MAX_SECTORS 1024u
/* Download blocks held at once: one being programmed, one received meanwhile. */
#define DFU_BLOCKS 2

/*
 * One download block and its flash work: erase what it needs (blank sectors are not erased),
 * program, read back. A block is taken while the one before it is still being programmed; its
 * result is reported at the first GETSTATUS after its work began.
 */
struct dfu_job {
	bool active;      /* holds a block, until retired */
	bool done;        /* its flash work is over; status says how it went */
	bool running;     /* async: the flash thread is working on it */
	bool first;       /* the download's first block: the session's reset, clear_marks() */
	bool sparse;      /* a sparse download: what was verified in this session stays */
	uint8_t image;    /* the alt it was sent to */
	uint8_t status;   /* enum dfu_status of its flash work */
	uint16_t len;     /* bytes received */
	uint16_t program; /* bytes to program (the rest is erased-value padding) */
	uint32_t off;     /* slot offset */
	uint32_t seq;     /* order of arrival */
	uint32_t gen;     /* the download it belongs to */
	uint64_t start_us, end_us; /* its flash work (modelled from cost_us without ops->work) */
	uint8_t data[DFUMGR_TRANSFER_SIZE];
};

/* SECTOR_DIGESTS: one page of per-sector digests being hashed (and compared). */
struct dfu_sector_job {
	uint8_t status; /* enum dfumgr_digest_status */
	uint8_t alt;
	uint8_t page;
	bool compare; /* the host gave the digests the sectors should have */
	uint16_t first, count, done;
	uint8_t match[16];
	/* the host's digests, each replaced by the flash's once its sector is hashed */
	uint8_t digest[DFUMGR_SECTORS_PER_PAGE][32];
};

struct dfu_digest_job {
	uint8_t status; /* enum dfumgr_digest_status */
	uint8_t alt;
	bool primary; /* hashing the primary (running) slot */
	uint32_t length;
	uint32_t prefix; /* also hash the first prefix bytes in context 1 (0: no) */
	uint32_t done;
	uint8_t sha256[32];
	uint8_t prefix_sha256[32];
};

struct dfu_dev {
	const struct dfu_dev_ops *ops;
	void *user;
	struct dfu_area_info area[DFU_AREA_COUNT];
	char serial[DFUMGR_SERIAL_MAX + 1];
	char product[DFUMGR_PRODUCT_MAX + 1];
	uint16_t hw_revision;
	bool no_upload;
	bool version_cmp_build;
	bool mcuboot_1768;
	bool legacy_download; /* dfu_dev_config.legacy_download */
	bool dfu_mode;

	uint8_t state;  /* enum dfu_state */
	uint8_t status; /* enum dfu_status */
	uint8_t alt;
	uint32_t poll_ms; /* bwPollTimeout of the last GETSTATUS */

	/* download / upload session on the current alt */
	uint32_t offset; /* where the next block goes (download) or comes from (upload) */
	uint16_t next_block;
	uint16_t last_len;    /* the previous block's length: a shorter one is the last */
	uint8_t block_error;  /* a block refused before any flash work: reported at GETSTATUS */
	bool drain;           /* this block ends the image: busy until all of it is in flash */
	bool manifested;      /* the manifestation check of this download ran */
	uint32_t dl_gen;      /* downloads begun: a block of an ended one is no error of this one */
	uint8_t dl_error;     /* the first flash failure of this download's blocks, or 0 */
	uint64_t dl_error_us; /* when that block's flash work began: reported from then on */
	uint32_t job_seq;
	uint64_t flash_free_us; /* without ops->work: when the modelled flash is idle again */
	struct dfu_job job[DFU_BLOCKS];
	uint8_t erased[DFUMGR_N_IMAGES][DFU_MAX_SECTORS / 8];
	/* what the download knows of the image it carries, from its blocks (or, for sectors a
	 * sparse download skips, from flash): the header, then the unprotected TLV info */
	uint8_t hdr[32];
	uint8_t hdr_len;     /* bytes of hdr known, from offset 0 */
	uint8_t tlv_info[4]; /* at data_end */
	uint8_t tlv_mask;    /* which of its bytes are known */
	uint32_t data_end;   /* the image's hashed part (header + payload + protected TLVs) */

	/*
	 * What this DFU-mode session wrote or verified: bytes from the slot's start, contiguous,
	 * each in a sector a download of this session programmed or that the board verified
	 * against the host's digest (SECTOR_DIGESTS). Zero after init: a slot written before a
	 * reset never counts for COMMIT. A plain download (from block 0, nothing verified before
	 * it) starts it over at 0. whole: the download reached manifestation and the image's own
	 * SHA256 TLV matched flash.
	 */
	uint32_t written[DFUMGR_N_IMAGES];
	uint8_t verified[DFUMGR_N_IMAGES][DFU_MAX_SECTORS / 8];
	uint16_t n_verified[DFUMGR_N_IMAGES];
	bool sparse[DFUMGR_N_IMAGES];     /* SECTOR_DIGESTS OUT since the alt's last download */
	uint32_t dl_end[DFUMGR_N_IMAGES]; /* end of the last block a download wrote */
	uint32_t flash_error[DFUMGR_N_IMAGES]; /* DFUMGR_NO_FLASH_ERROR or a block's offset */
	bool whole[DFUMGR_N_IMAGES];
	uint8_t slot_state[DFUMGR_N_IMAGES];

	struct dfu_digest_job digest;
	struct dfu_sector_job sectors;

	/* commit: re-hash both slots from flash, then mark both or neither */
	uint8_t commit_state; /* enum dfumgr_commit_state */
	uint8_t commit_flags;
	uint8_t commit_image; /* image being hashed */
	uint32_t commit_len[DFUMGR_N_IMAGES];
	uint32_t commit_hashed[DFUMGR_N_IMAGES]; /* what the image's SHA256 TLV covers */
	uint8_t commit_sha[DFUMGR_N_IMAGES][32];
	uint8_t commit_tlv[DFUMGR_N_IMAGES][32]; /* the image's own SHA256 TLV */

	uint8_t last_error; /* enum dfumgr_dev_error */
	uint64_t detach_deadline_us;
};

/*
 * Initialises dev in runtime (application) mode or DFU mode (a new DFU session: nothing counts
 * as written). cfg: the board and build (see struct dfu_dev_config). Reads the secondary slots
 * to find their state.
 */
void dfu_dev_init(struct dfu_dev *dev, const struct dfu_dev_ops *ops, void *user, bool dfu_mode,
		  const struct dfu_dev_config *cfg);

/* dfu_dev_confirm() results besides 0 and the negative enum dfu_flash_result values. */
enum dfu_confirm_result {
	DFU_CONFIRM_DONE = 0,        /* both images confirmed (or had nothing to confirm) */
	DFU_CONFIRM_NO_IMAGE = -10,  /* a primary slot holds no valid image header */
	DFU_CONFIRM_MISMATCH = -11,  /* the running images' dependencies are not met */
	DFU_CONFIRM_BAD_MAGIC = -12, /* a primary trailer holds a damaged boot magic */
};

/*
 * The application's confirmation after a test swap, after its own self-test passed: checks
 * that the two running images meet each other's dependencies, then writes image_ok into the
 * primary trailer of image 0, then of image 1 (docs/pair-rule.md says why that order). An
 * image without a trailer (not swapped in by MCUboot) or already confirmed is left alone.
 * Returns an enum dfu_confirm_result or a negative enum dfu_flash_result.
 */
int dfu_dev_confirm(struct dfu_dev *dev);

/* The largest image a secondary slot takes (dfumgr_wire_image_max() of its geometry). */
uint32_t dfu_dev_image_max(const struct dfu_dev *dev, unsigned image);

/*
 * Handles a class (0x21/0xa1) or vendor (0x41/0xc1) request for the DFU interface. data holds
 * wLength bytes: the OUT data stage, or room for the IN reply. Returns the number of bytes of
 * the IN reply (0 for OUT), or DFU_DEV_STALL. now_us: a monotonic clock.
 */
int dfu_dev_control(struct dfu_dev *dev, const struct dfu_setup *setup, uint8_t *data,
		    uint64_t now_us);

/*
 * A USB bus reset while in DFU mode (the platform calls it; USB/IP platforms when the link comes
 * back after a cable pull). A transfer in progress is lost: dfuERROR with errUSBR (§6.1.2), so
 * that the host learns of it; otherwise dfuIDLE.
 */
void dfu_dev_bus_reset(struct dfu_dev *dev);

/* SET_INTERFACE in DFU mode: 0 or DFU_DEV_STALL (bad alt, or a transfer is in progress). */
int dfu_dev_set_alt(struct dfu_dev *dev, uint8_t alt);

/*
 * Background work: the digest/commit/sector-digest engine (at most budget bytes hashed), the
 * end of modelled flash work, detach timeout.
 */
void dfu_dev_poll(struct dfu_dev *dev, uint64_t now_us, uint32_t budget);

/*
 * With ops->work: the platform's flash thread runs the oldest queued download block's flash
 * work. Called with the platform's lock held, like every other function here; erase and
 * program may drop that lock while they wait for the flash (the core touches nothing of the
 * block meanwhile, and requests that need the flash idle get DFU_DEV_WAIT). Returns true when
 * it ran a block (call again), false when none is queued.
 */
bool dfu_dev_work(struct dfu_dev *dev, uint64_t now_us);

/* Download blocks not yet retired (in flash or still being programmed). */
unsigned dfu_dev_blocks_pending(const struct dfu_dev *dev);

/*
 * The slot offset a DNLOAD with this setup would write (a sparse download numbers its blocks
 * by sector), or -1 when the core would refuse it. For fault injection at a byte offset.
 */
int64_t dfu_dev_dnload_offset(const struct dfu_dev *dev, const struct dfu_setup *setup);

/* Names for logs. */
const char *dfu_state_name(uint8_t state);
const char *dfu_status_name(uint8_t status);

#endif
