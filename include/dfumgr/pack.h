/* SPDX-License-Identifier: MIT */
/*
 * Packing: a linked ELF (or two raw payloads) into the PAIR of MCUboot images an nRF5340 with
 * QSPI XIP code needs: image 0 for internal flash, image 1 for the QSPI XIP window; and the
 * manifest that describes them. Writing the bundle directory is bundle.h's job.
 */
#ifndef DFUMGR_PACK_H
#define DFUMGR_PACK_H

#include "dfumgr/common.h"
#include "dfumgr/elfsplit.h"
#include "dfumgr/image.h"
#include "dfumgr/manifest.h"
#include "dfumgr/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults: the partition map of dfumgr/wire.h (image 0 slot 0xe0000, image 1 slot 0x370000). */
#define DFUMGR_PACK_SLOT0_DEFAULT DFUMGR_IMG0_SLOT_SIZE
#define DFUMGR_PACK_SLOT1_DEFAULT DFUMGR_IMG1_SLOT_SIZE
#define DFUMGR_PACK_VID_DEFAULT   0x1915u /* Nordic Semiconductor */
#define DFUMGR_PACK_PID_DEFAULT   0x5300u
/* Where image 1's code runs: the XIP window + its primary slot + the 0x200-byte header. */
#define DFUMGR_PACK_QSPI_ADDRESS_DEFAULT                                                           \
	(DFUMGR_QSPI_XIP_BASE + DFUMGR_IMG1_PRIMARY_OFFSET + 0x200u)

struct dfumgr_pack_opts {
	struct dfumgr_image_version version; /* of both images */
	const struct dfumgr_key *key;        /* NULL: unsigned images */
	uint16_t header_size;                /* 0: 0x200 */
	/* slot_size 0: the defaults above; align, max_sectors, max_align, swap_move_sector 0:
	 * this product's MCUboot (wire.h: 4, 1024, 8, 4 KiB sectors) */
	struct dfumgr_slot_params slot[2];
	bool no_dependency; /* do not make each image depend on the other >= version */
	bool has_sec_cnt;
	uint32_t sec_cnt;
	const char *product; /* NULL: "app" */
	const char *release; /* NULL: the version without +build */
	uint16_t vid, pid;   /* 0: the defaults above */
	const char *file[2]; /* NULL: "internal.bin", "qspi.bin" */
	/*
	 * Where the MCUboot header goes. AUTO: into the payload when it starts with header_size
	 * zero bytes (a Zephyr build with CONFIG_BOOTLOADER_MCUBOOT links its code after such a
	 * gap at the slot start, as imgtool without --pad-header expects), else prepended
	 * (imgtool --pad-header: code linked at slot + header_size).
	 */
	enum { DFUMGR_HEADER_AUTO = 0, DFUMGR_HEADER_PAD, DFUMGR_HEADER_IN_PAYLOAD } header_mode;
};

struct dfumgr_pack_result {
	uint8_t *image[2]; /* malloc'ed MCUboot images; image[i] for MCUboot image i */
	size_t image_size[2];
	uint32_t payload_start[2]; /* load address of the payload's first byte (from the ELF) */
	size_t payload_size[2];
	struct dfumgr_manifest manifest;
};

/*
 * Builds both images from a split ELF: the internal payload becomes image 0, the QSPI payload
 * image 1, each with a dependency on the other >= version unless no_dependency. Both regions must
 * have content (-DFUMGR_E_FORMAT otherwise: an app without XIP code needs no pair). Errors: those
 * of dfumgr_image_build(); -DFUMGR_E_NOFIT names the image and its slot. Release with
 * dfumgr_pack_result_done().
 */
DFUMGR_EXPORT int dfumgr_pack_elf(struct dfumgr_ctx *ctx, const struct dfumgr_elf_split *split,
				  const struct dfumgr_pack_opts *opts,
				  struct dfumgr_pack_result *ret_result);

/* The same from two raw payloads (e.g. objcopy outputs); starts are informational. */
DFUMGR_EXPORT int dfumgr_pack_payloads(struct dfumgr_ctx *ctx, const uint8_t *internal,
				       size_t internal_size, uint32_t internal_start,
				       const uint8_t *qspi, size_t qspi_size, uint32_t qspi_start,
				       const struct dfumgr_pack_opts *opts,
				       struct dfumgr_pack_result *ret_result);

/*
 * What packing the whole ELF as ONE image into image 0's slot would give: 0 if it would fit,
 * else -DFUMGR_E_NOFIT with imgtool's "Image size (...) + trailer (...) exceeds requested size"
 * followed by the diagnosis: which range is internal flash, which is QSPI, and that
 * `dfu-mgr pack` splits them. Allocates nothing of the span's size.
 */
DFUMGR_EXPORT int dfumgr_pack_check_single(struct dfumgr_ctx *ctx,
					   const struct dfumgr_elf_split *split,
					   const struct dfumgr_pack_opts *opts);

/* Frees the images; accepts a zeroed or half-filled result. */
DFUMGR_EXPORT void dfumgr_pack_result_done(struct dfumgr_pack_result *result);

#ifdef __cplusplus
}
#endif
#endif
