/* SPDX-License-Identifier: MIT */
/*
 * What the shim needs to know of an MCUboot image in a slot, read through a callback so that the
 * same code runs on flash (the board, the emulator) and on a buffer (host tests): the header's
 * sizes and version, the protected TLVs (DEPENDENCY, SEC_CNT), where the unprotected TLV area
 * ends (the image's extent) and where its SHA256 TLV is. Layouts from MCUboot's docs/design.md
 * (image format, TLVs). Structure only: the hash is checked by whoever reads the bytes.
 *
 * Pure C11, freestanding, no allocation.
 */
#ifndef MCUBOOT_IMAGE_H
#define MCUBOOT_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#define MCUBOOT_IMAGE_MAGIC     0x96f3b83dU
#define MCUBOOT_IMAGE_HDR_SIZE  32
#define MCUBOOT_TLV_INFO_MAGIC  0x6907 /* unprotected TLV area */
#define MCUBOOT_TLV_PROT_MAGIC  0x6908 /* protected TLV area */
#define MCUBOOT_TLV_SHA256      0x10
#define MCUBOOT_TLV_DEPENDENCY  0x40
#define MCUBOOT_TLV_SEC_CNT     0x50
#define MCUBOOT_IMAGE_MAX_DEPS  4
#define MCUBOOT_DEPENDENCY_SIZE 12

struct mcuboot_version {
	uint8_t major;
	uint8_t minor;
	uint16_t revision;
	uint32_t build;
};

struct mcuboot_dependency {
	uint8_t image_id;
	struct mcuboot_version min_version;
};

struct mcuboot_image_info {
	uint32_t hdr_size;
	uint32_t img_size;
	uint16_t prot_tlv_size;
	struct mcuboot_version version;
	/* protected TLVs */
	unsigned n_deps;
	struct mcuboot_dependency deps[MCUBOOT_IMAGE_MAX_DEPS];
	bool has_sec_cnt;
	uint32_t sec_cnt;
	/* what the SHA256 TLV covers: header + payload + protected TLVs */
	uint32_t hashed;
	/* hashed + the unprotected TLV area: every byte of the image */
	uint32_t extent;
	/* offset of the SHA256 TLV's 32-byte value */
	uint32_t sha256_off;
};

/* Reads len bytes at off of the slot into buf; 0 or negative. */
typedef int (*mcuboot_read_fn)(void *ctx, uint32_t off, void *buf, uint32_t len);

enum mcuboot_image_err {
	MCUBOOT_IMAGE_OK = 0,
	MCUBOOT_IMAGE_EMPTY = -1,  /* no image magic: empty or erased slot */
	MCUBOOT_IMAGE_BAD = -2,    /* header or TLV area malformed, missing or outside the slot */
	MCUBOOT_IMAGE_READ = -3,   /* the read callback failed */
	MCUBOOT_IMAGE_TOOMANY = -4 /* more than MCUBOOT_IMAGE_MAX_DEPS dependencies */
};

/*
 * Parses the image at the start of a slot of slot_size bytes: header, protected TLVs and the
 * unprotected TLV area (which must hold a 32-byte SHA256 TLV). Returns 0 with *ret_info
 * filled, or a negative enum mcuboot_image_err.
 */
int mcuboot_image_read(mcuboot_read_fn read, void *ctx, uint32_t slot_size,
		       struct mcuboot_image_info *ret_info);

/*
 * The end of the header + payload + protected TLVs, from the 32-byte header alone (0 when hdr
 * is not an image header). What a download can know from its first block.
 */
uint32_t mcuboot_image_hashed_end(const uint8_t hdr[MCUBOOT_IMAGE_HDR_SIZE]);

/*
 * MCUboot's boot_version_cmp(): major, minor, revision, and the build number only with
 * with_build (MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER). <0, 0, >0 like memcmp.
 */
int mcuboot_version_cmp(const struct mcuboot_version *a, const struct mcuboot_version *b,
			bool with_build);

/*
 * MCUboot's dependency rule for one image of a two-image set: every DEPENDENCY TLV of image
 * must name an image of the set (0 or 1) whose version is at least the TLV's. versions[i] is
 * image i's version in the set, NULL when the set has no image i. A dependency on an image the
 * set lacks, or on an id MCUboot does not know, is unmet.
 */
bool mcuboot_deps_met(const struct mcuboot_image_info *image,
		      const struct mcuboot_version *const versions[2], bool with_build);

#endif
