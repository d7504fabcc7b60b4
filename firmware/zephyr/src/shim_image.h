/* SPDX-License-Identifier: MIT */
/*
 * What the application needs from the MCUboot images in its primary slots before it confirms
 * itself: each image's version and image 0's DEPENDENCY TLVs (the pair rule dfu-mgr pack writes:
 * image 0 requires image 1 >= its own version). Read through a callback, so the same code runs
 * on flash_area (device) and on a buffer (host tests).
 *
 * Pure C11, no Zephyr headers. Layouts from MCUboot's docs/design.md (image format, TLVs).
 */
#ifndef SHIM_IMAGE_H
#define SHIM_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#define SHIM_IMAGE_MAGIC     0x96f3b83dU
#define SHIM_TLV_PROT_MAGIC  0x6908
#define SHIM_TLV_DEPENDENCY  0x40
#define SHIM_IMAGE_MAX_DEPS  4
#define SHIM_IMAGE_HDR_SIZE  32
#define SHIM_DEPENDENCY_SIZE 12

struct shim_version {
	uint8_t major;
	uint8_t minor;
	uint16_t revision;
	uint32_t build;
};

struct shim_dependency {
	uint8_t image_id;
	struct shim_version min_version;
};

struct shim_image_info {
	uint32_t hdr_size;
	uint32_t img_size;
	uint16_t prot_tlv_size;
	struct shim_version version;
	unsigned n_deps;
	struct shim_dependency deps[SHIM_IMAGE_MAX_DEPS];
};

/* Reads len bytes at off of the slot into buf; 0 or negative. */
typedef int (*shim_read_fn)(void *ctx, uint32_t off, void *buf, uint32_t len);

enum shim_image_err {
	SHIM_IMAGE_OK = 0,
	SHIM_IMAGE_EMPTY = -1,  /* no image magic: empty or erased slot */
	SHIM_IMAGE_BAD = -2,    /* header or protected TLV area malformed or outside the slot */
	SHIM_IMAGE_READ = -3,   /* the read callback failed */
	SHIM_IMAGE_TOOMANY = -4 /* more than SHIM_IMAGE_MAX_DEPS dependencies */
};

/*
 * Parses the header and the protected TLV area of the image in a slot of slot_size bytes.
 * Checks structure only, not the hash or signature (MCUboot did that before booting it).
 * Returns 0 with *ret_info filled, or a negative enum shim_image_err.
 */
int shim_image_read_info(shim_read_fn read, void *ctx, uint32_t slot_size,
			 struct shim_image_info *ret_info);

/*
 * MCUboot's comparison for dependencies: major, minor, revision; the build number only when
 * with_build (MCUboot's CONFIG_BOOT_VERSION_CMP_USE_BUILD_NUMBER). <0, 0, >0 like memcmp.
 */
int shim_version_cmp(const struct shim_version *a, const struct shim_version *b, bool with_build);

/*
 * True when every dependency of image on image dep_image_id is met by other's version (and
 * vacuously true when image has none on it).
 */
bool shim_dependency_met(const struct shim_image_info *image, uint8_t dep_image_id,
			 const struct shim_version *other, bool with_build);

#endif
