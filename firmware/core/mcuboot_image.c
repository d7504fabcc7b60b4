/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "mcuboot_image.h"

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void version_get(const uint8_t *p, struct mcuboot_version *v)
{
	v->major = p[0];
	v->minor = p[1];
	v->revision = le16(p + 2);
	v->build = le32(p + 4);
}

uint32_t mcuboot_image_hashed_end(const uint8_t hdr[MCUBOOT_IMAGE_HDR_SIZE])
{
	uint64_t end;

	if (le32(hdr) != MCUBOOT_IMAGE_MAGIC)
		return 0;
	/* ih_hdr_size + ih_img_size + ih_protect_tlv_size */
	end = (uint64_t)le16(hdr + 8) + le32(hdr + 12) + le16(hdr + 10);
	return end > UINT32_MAX ? UINT32_MAX : (uint32_t)end;
}

/* The protected TLVs: DEPENDENCY and SEC_CNT are what the pair rule and rollback need. */
static int read_protected(mcuboot_read_fn read, void *ctx, uint32_t start,
			  struct mcuboot_image_info *info)
{
	uint32_t end = start + info->prot_tlv_size, at = start + 4;
	uint8_t tlv[4 + MCUBOOT_DEPENDENCY_SIZE];

	if (info->prot_tlv_size < 4)
		return MCUBOOT_IMAGE_BAD;
	if (read(ctx, start, tlv, 4) != 0)
		return MCUBOOT_IMAGE_READ;
	if (le16(tlv) != MCUBOOT_TLV_PROT_MAGIC || le16(tlv + 2) != info->prot_tlv_size)
		return MCUBOOT_IMAGE_BAD;
	while (at < end) {
		uint16_t len;

		if (end - at < 4)
			return MCUBOOT_IMAGE_BAD;
		if (read(ctx, at, tlv, 4) != 0)
			return MCUBOOT_IMAGE_READ;
		len = le16(tlv + 2);
		if (end - at - 4 < len)
			return MCUBOOT_IMAGE_BAD;
		if (tlv[0] == MCUBOOT_TLV_DEPENDENCY && tlv[1] == 0) {
			struct mcuboot_dependency *d;

			if (len != MCUBOOT_DEPENDENCY_SIZE)
				return MCUBOOT_IMAGE_BAD;
			if (info->n_deps == MCUBOOT_IMAGE_MAX_DEPS)
				return MCUBOOT_IMAGE_TOOMANY;
			if (read(ctx, at + 4, tlv + 4, len) != 0)
				return MCUBOOT_IMAGE_READ;
			d = &info->deps[info->n_deps++];
			d->image_id = tlv[4];
			version_get(tlv + 8, &d->min_version);
		} else if (tlv[0] == MCUBOOT_TLV_SEC_CNT && tlv[1] == 0) {
			if (len != 4)
				return MCUBOOT_IMAGE_BAD;
			if (read(ctx, at + 4, tlv + 4, 4) != 0)
				return MCUBOOT_IMAGE_READ;
			info->has_sec_cnt = true;
			info->sec_cnt = le32(tlv + 4);
		}
		at += 4 + len;
	}
	return MCUBOOT_IMAGE_OK;
}

/* The unprotected TLVs: their total gives the extent; the SHA256 TLV must be among them. */
static int read_unprotected(mcuboot_read_fn read, void *ctx, uint32_t slot_size,
			    struct mcuboot_image_info *info)
{
	uint32_t start = info->hashed, end, at, len;
	uint8_t tlv[4];

	if (slot_size - start < 4)
		return MCUBOOT_IMAGE_BAD;
	if (read(ctx, start, tlv, 4) != 0)
		return MCUBOOT_IMAGE_READ;
	if (le16(tlv) != MCUBOOT_TLV_INFO_MAGIC || le16(tlv + 2) < 4 ||
	    slot_size - start < le16(tlv + 2))
		return MCUBOOT_IMAGE_BAD;
	end = start + le16(tlv + 2);
	for (at = start + 4; at < end; at += 4 + len) {
		if (end - at < 4)
			return MCUBOOT_IMAGE_BAD;
		if (read(ctx, at, tlv, 4) != 0)
			return MCUBOOT_IMAGE_READ;
		len = le16(tlv + 2);
		if (end - at - 4 < len)
			return MCUBOOT_IMAGE_BAD;
		if (tlv[0] == MCUBOOT_TLV_SHA256 && tlv[1] == 0 && len == 32 && !info->sha256_off)
			info->sha256_off = at + 4;
	}
	if (!info->sha256_off)
		return MCUBOOT_IMAGE_BAD;
	info->extent = end;
	return MCUBOOT_IMAGE_OK;
}

int mcuboot_image_read(mcuboot_read_fn read, void *ctx, uint32_t slot_size,
		       struct mcuboot_image_info *ret_info)
{
	struct mcuboot_image_info info;
	uint8_t hdr[MCUBOOT_IMAGE_HDR_SIZE];
	uint64_t prot_start;
	int rc;

	if (slot_size < sizeof(hdr))
		return MCUBOOT_IMAGE_BAD;
	if (read(ctx, 0, hdr, sizeof(hdr)) != 0)
		return MCUBOOT_IMAGE_READ;
	if (le32(hdr) != MCUBOOT_IMAGE_MAGIC)
		return MCUBOOT_IMAGE_EMPTY;
	memset(&info, 0, sizeof(info));
	info.hdr_size = le16(hdr + 8);
	info.prot_tlv_size = le16(hdr + 10);
	info.img_size = le32(hdr + 12);
	version_get(hdr + 20, &info.version);
	if (info.hdr_size < sizeof(hdr))
		return MCUBOOT_IMAGE_BAD;
	prot_start = (uint64_t)info.hdr_size + info.img_size;
	if (prot_start + info.prot_tlv_size > slot_size)
		return MCUBOOT_IMAGE_BAD;
	info.hashed = (uint32_t)prot_start + info.prot_tlv_size;
	if (info.prot_tlv_size) {
		rc = read_protected(read, ctx, (uint32_t)prot_start, &info);
		if (rc != MCUBOOT_IMAGE_OK)
			return rc;
	}
	rc = read_unprotected(read, ctx, slot_size, &info);
	if (rc != MCUBOOT_IMAGE_OK)
		return rc;
	*ret_info = info;
	return MCUBOOT_IMAGE_OK;
}

int mcuboot_version_cmp(const struct mcuboot_version *a, const struct mcuboot_version *b,
			bool with_build)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->revision != b->revision)
		return a->revision < b->revision ? -1 : 1;
	if (with_build && a->build != b->build)
		return a->build < b->build ? -1 : 1;
	return 0;
}

bool mcuboot_deps_met(const struct mcuboot_image_info *image,
		      const struct mcuboot_version *const versions[2], bool with_build)
{
	for (unsigned i = 0; i < image->n_deps; i++) {
		const struct mcuboot_dependency *d = &image->deps[i];

		/* bootutil: an id >= BOOT_IMAGE_NUMBER is BOOT_EBADARGS, which fails the check */
		if (d->image_id >= 2 || !versions[d->image_id] ||
		    mcuboot_version_cmp(versions[d->image_id], &d->min_version, with_build) < 0)
			return false;
	}
	return true;
}
