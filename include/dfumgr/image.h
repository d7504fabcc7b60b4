/* SPDX-License-Identifier: MIT */
/*
 * MCUboot images: parse the header and TLV areas, check the SHA-256 TLV, verify an ECDSA P-256
 * signature, compute slot fit the way imgtool does, and build images (what `imgtool sign` does).
 *
 * Layout (little-endian): a 32-byte header (magic 0x96f3b83d, load_addr, hdr_size,
 * protect_tlv_size, img_size, flags, version, pad1) padded to hdr_size, the payload (img_size
 * bytes), an optional protected TLV area (info magic 0x6908), the unprotected TLV area (info magic
 * 0x6907). The SHA-256 TLV covers header + payload + protected area; the signature signs that
 * same digest.
 */
#ifndef DFUMGR_IMAGE_H
#define DFUMGR_IMAGE_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_IMAGE_MAGIC         0x96f3b83dU
#define DFUMGR_IMAGE_HEADER_SIZE   32 /* the struct; hdr_size may be larger (padding) */
#define DFUMGR_TLV_INFO_MAGIC      0x6907
#define DFUMGR_TLV_PROT_INFO_MAGIC 0x6908
#define DFUMGR_IMAGE_TLV_MAX       32 /* more TLVs than this: -DFUMGR_E_TOOBIG */
#define DFUMGR_IMAGE_DEP_MAX       4
#define DFUMGR_BOOT_MAGIC_SIZE     16
#define DFUMGR_VERSION_STRING_MAX  32 /* "255.255.65535+4294967295" fits */

enum dfumgr_tlv_type {
	DFUMGR_TLV_KEYHASH = 0x01,
	DFUMGR_TLV_PUBKEY = 0x02,
	DFUMGR_TLV_SHA256 = 0x10,
	DFUMGR_TLV_SHA384 = 0x11,
	DFUMGR_TLV_RSA2048_PSS = 0x20,
	DFUMGR_TLV_ECDSA224 = 0x21,
	DFUMGR_TLV_ECDSASIG = 0x22,
	DFUMGR_TLV_RSA3072_PSS = 0x23,
	DFUMGR_TLV_ED25519 = 0x24,
	DFUMGR_TLV_ENC_RSA2048 = 0x30,
	DFUMGR_TLV_ENC_KW = 0x31,
	DFUMGR_TLV_ENC_EC256 = 0x32,
	DFUMGR_TLV_ENC_X25519 = 0x33,
	DFUMGR_TLV_DEPENDENCY = 0x40,
	DFUMGR_TLV_SEC_CNT = 0x50,
	DFUMGR_TLV_BOOT_RECORD = 0x60,
};

/* Header flags (MCUboot image.h). */
#define DFUMGR_IMAGE_F_PIC          0x00000001U
#define DFUMGR_IMAGE_F_ENCRYPTED    0x00000004U
#define DFUMGR_IMAGE_F_NON_BOOTABLE 0x00000010U
#define DFUMGR_IMAGE_F_RAM_LOAD     0x00000020U
#define DFUMGR_IMAGE_F_ROM_FIXED    0x00000100U

/* MCUboot semantic version: major.minor.revision+build. */
struct dfumgr_image_version {
	uint8_t major;
	uint8_t minor;
	uint16_t revision;
	uint32_t build;
};

/*
 * Parses "M", "M.m", "M.m.r", each optionally "+build" (imgtool's forms); every field must fit
 * its width. Returns 0 or -DFUMGR_E_FORMAT.
 */
DFUMGR_EXPORT int dfumgr_version_parse(const char *s, struct dfumgr_image_version *ret_version);
/* "M.m.r+b" into buf (at least DFUMGR_VERSION_STRING_MAX bytes); returns buf. */
DFUMGR_EXPORT char *dfumgr_version_format(const struct dfumgr_image_version *v, char *buf);
/* <0, 0, >0 comparing major, minor, revision, then build. */
DFUMGR_EXPORT int dfumgr_version_cmp(const struct dfumgr_image_version *a,
				     const struct dfumgr_image_version *b);

struct dfumgr_image_tlv {
	uint16_t type;
	uint16_t len;
	uint32_t offset; /* of the TLV (its 4-byte type/len header) in the file; data follows */
	bool is_protected;
};

struct dfumgr_image_dep {
	uint8_t image_id;
	struct dfumgr_image_version min_version;
};

/*
 * A parsed image. It points into the caller's buffer (buf), which must outlive it; there is
 * nothing to free.
 */
struct dfumgr_image {
	const uint8_t *buf;
	size_t size; /* bytes in buf (may include padding and a trailer after image_end) */

	uint32_t magic;
	uint32_t load_addr;
	uint16_t hdr_size;
	uint16_t protect_tlv_size;
	uint32_t img_size;
	uint32_t flags;
	struct dfumgr_image_version version;
	uint32_t pad1;

	size_t payload_offset;  /* == hdr_size */
	size_t tlv_area_offset; /* hdr_size + img_size: first TLV info (protected if any) */
	bool has_protected;
	size_t prot_info_offset; /* valid when has_protected */
	uint16_t prot_tlv_tot;
	size_t info_offset; /* unprotected TLV info; also the end of the hashed region */
	uint16_t tlv_tot;
	size_t image_end; /* end of the unprotected TLV area */

	size_t n_tlvs; /* protected ones first, in file order */
	struct dfumgr_image_tlv tlvs[DFUMGR_IMAGE_TLV_MAX];

	const uint8_t *sha256;  /* SHA256 TLV data, or NULL */
	const uint8_t *keyhash; /* KEYHASH TLV data, or NULL */
	const uint8_t *sig;     /* ECDSASIG TLV data, or NULL */
	size_t sig_len;
	bool has_sec_cnt;
	uint32_t sec_cnt;
	size_t n_deps;
	struct dfumgr_image_dep deps[DFUMGR_IMAGE_DEP_MAX];

	/* The MCUboot trailer when the file extends past image_end (imgtool --pad/--confirm). */
	struct {
		bool present;       /* there are bytes after image_end */
		bool magic_ok;      /* the last 16 bytes are the boot magic */
		size_t bytes_after; /* size - image_end */
		uint8_t image_ok;   /* at size-24 (max_align 8) */
		uint8_t copy_done;  /* at size-32 */
		uint8_t swap_info;  /* at size-40 */
	} trailer;
};

/*
 * Parses the header and both TLV areas of an image in buf. Checks the structure only; see
 * dfumgr_image_check_hash() and dfumgr_image_verify() for content.
 * Errors: -DFUMGR_E_BADMAGIC (header or TLV info magic), -DFUMGR_E_TRUNCATED (the file ends
 * before something the header declares), -DFUMGR_E_FORMAT (inconsistent sizes, a TLV of the
 * wrong length, a TLV that belongs in the other area), -DFUMGR_E_TOOBIG (too many TLVs).
 * The message names the field and the byte offset.
 */
DFUMGR_EXPORT int dfumgr_image_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				     struct dfumgr_image *ret_img);

/* Name of a TLV type ("SHA256", "DEPENDENCY", ...) or "UNKNOWN". */
DFUMGR_EXPORT const char *dfumgr_tlv_name(uint16_t type);

/*
 * Recomputes SHA-256 over bytes 0 .. info_offset and compares it (constant time) with the SHA256
 * TLV. ret_digest (may be NULL) receives the computed digest either way.
 * Errors: -DFUMGR_E_HASH (mismatch), -DFUMGR_E_FORMAT (no SHA256 TLV).
 */
DFUMGR_EXPORT int dfumgr_image_check_hash(struct dfumgr_ctx *ctx, const struct dfumgr_image *img,
					  uint8_t *ret_digest);

/*
 * Checks the hash, then the ECDSA P-256 signature against the first of keys[] whose public key
 * hash equals the KEYHASH TLV (or each key, if the image has no KEYHASH TLV).
 * Returns 0 on success; -DFUMGR_E_HASH; -DFUMGR_E_NOSIG if the image is unsigned or no key
 * matches its KEYHASH; -DFUMGR_E_SIGNATURE if the matching key does not verify it.
 */
DFUMGR_EXPORT int dfumgr_image_verify(struct dfumgr_ctx *ctx, const struct dfumgr_image *img,
				      struct dfumgr_key *const *keys, size_t n_keys);

/* Slot parameters as imgtool takes them (--slot-size, --align, --max-sectors, --max-align). */
struct dfumgr_slot_params {
	uint32_t slot_size;   /* 0: no check */
	uint32_t align;       /* flash write size: 1, 2, 4, 8, 16 or 32 (imgtool --align) */
	uint32_t max_sectors; /* 0 means imgtool's default, 128 */
	uint32_t max_align;   /* 0 means imgtool's default, 8 */
	bool overwrite_only;
	/*
	 * Sector size for MCUboot's swap-using-move (0: no such check, as imgtool): the sectors
	 * holding any trailer byte and one more for the move phase are not the image's. See
	 * dfumgr_wire_image_max().
	 */
	uint32_t swap_move_sector;
};

/* The MCUboot trailer size imgtool reserves (0x630 for align 4, 128 sectors, max_align 8). */
DFUMGR_EXPORT uint32_t dfumgr_trailer_size(const struct dfumgr_slot_params *p);

/*
 * Checks that an image of image_size bytes (header + payload + TLVs) plus the trailer fits the
 * slot. -DFUMGR_E_NOFIT with imgtool's wording: "Image size (0x...) + trailer (0x...) exceeds
 * requested size 0x...", or, with swap_move_sector, a message naming the largest image
 * swap-move takes. -DFUMGR_E_INVAL for an alignment imgtool rejects.
 */
DFUMGR_EXPORT int dfumgr_image_check_fit(struct dfumgr_ctx *ctx, uint64_t image_size,
					 const struct dfumgr_slot_params *p);

struct dfumgr_image_build_opts {
	struct dfumgr_image_version version;
	uint16_t header_size; /* 0 means 0x200 */
	bool pad_header;      /* prepend header_size bytes (imgtool --pad-header); else the
				 payload's first header_size bytes must be 0 and hold the header */
	uint32_t load_addr;
	uint32_t flags;
	bool has_sec_cnt;
	uint32_t sec_cnt;
	size_t n_deps;
	struct dfumgr_image_dep deps[DFUMGR_IMAGE_DEP_MAX];
	const struct dfumgr_key *key; /* NULL: unsigned (SHA256 TLV only) */
	struct dfumgr_slot_params slot;
	bool pad;     /* fill to slot_size with 0xff and write the boot magic (--pad) */
	bool confirm; /* also set image_ok (--confirm, implies pad) */
};

/*
 * Builds an MCUboot image from a payload, as `imgtool sign` does with the same options: the same
 * header, TLV order (protected: SEC_CNT, DEPENDENCY; unprotected: SHA256, KEYHASH, ECDSASIG) and
 * bytes. *ret_buf is malloc'ed; free() it.
 * Errors: -DFUMGR_E_NOFIT (slot too small, imgtool's message), -DFUMGR_E_INVAL (options),
 * -DFUMGR_E_TOOBIG (payload over 4 GiB), -DFUMGR_E_CRYPTO.
 */
DFUMGR_EXPORT int dfumgr_image_build(struct dfumgr_ctx *ctx, const uint8_t *payload,
				     size_t payload_size,
				     const struct dfumgr_image_build_opts *opts, uint8_t **ret_buf,
				     size_t *ret_size);

#ifdef __cplusplus
}
#endif
#endif
