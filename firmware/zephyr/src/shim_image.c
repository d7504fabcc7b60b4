/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "shim_image.h"

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void version_get(const uint8_t *p, struct shim_version *v)
{
	v->major = p[0];
	v->minor = p[1];
	v->revision = le16(p + 2);
	v->build = le32(p + 4);
}

int shim_image_read_info(shim_read_fn read, void *ctx, uint32_t slot_size,
			 struct shim_image_info *ret_info)
{
	struct shim_image_info info;
	uint8_t hdr[SHIM_IMAGE_HDR_SIZE], tlv[4 + SHIM_DEPENDENCY_SIZE];
	uint64_t prot_start, prot_end;

	if (slot_size < sizeof(hdr) || read(ctx, 0, hdr, sizeof(hdr)) != 0)
		return slot_size < sizeof(hdr) ? SHIM_IMAGE_BAD : SHIM_IMAGE_READ;
	if (le32(hdr) != SHIM_IMAGE_MAGIC)
		return SHIM_IMAGE_EMPTY;
	memset(&info, 0, sizeof(info));
	info.hdr_size = le16(hdr + 8);
	info.prot_tlv_size = le16(hdr + 10);
	info.img_size = le32(hdr + 12);
	version_get(hdr + 20, &info.version);
	if (info.hdr_size < sizeof(hdr))
		return SHIM_IMAGE_BAD;
	/* protected TLVs: an info header (magic, total incl. itself), then type/len/value */
	prot_start = (uint64_t)info.hdr_size + info.img_size;
	prot_end = prot_start + info.prot_tlv_size;
	if (prot_end > slot_size)
		return SHIM_IMAGE_BAD;
	if (info.prot_tlv_size) {
		uint64_t at = prot_start + 4;

		if (info.prot_tlv_size < 4 || read(ctx, (uint32_t)prot_start, tlv, 4) != 0)
			return info.prot_tlv_size < 4 ? SHIM_IMAGE_BAD : SHIM_IMAGE_READ;
		if (le16(tlv) != SHIM_TLV_PROT_MAGIC || le16(tlv + 2) != info.prot_tlv_size)
			return SHIM_IMAGE_BAD;
		while (at < prot_end) {
			uint16_t len;

			if (at + 4 > prot_end || read(ctx, (uint32_t)at, tlv, 4) != 0)
				return at + 4 > prot_end ? SHIM_IMAGE_BAD : SHIM_IMAGE_READ;
			len = le16(tlv + 2);
			if (at + 4 + len > prot_end)
				return SHIM_IMAGE_BAD;
			if (tlv[0] == SHIM_TLV_DEPENDENCY) {
				struct shim_dependency *d;

				if (len != SHIM_DEPENDENCY_SIZE)
					return SHIM_IMAGE_BAD;
				if (info.n_deps == SHIM_IMAGE_MAX_DEPS)
					return SHIM_IMAGE_TOOMANY;
				if (read(ctx, (uint32_t)at + 4, tlv + 4, len) != 0)
					return SHIM_IMAGE_READ;
				d = &info.deps[info.n_deps++];
				d->image_id = tlv[4];
				version_get(tlv + 8, &d->min_version);
			}
			at += 4 + len;
		}
	}
	*ret_info = info;
	return SHIM_IMAGE_OK;
}

int shim_version_cmp(const struct shim_version *a, const struct shim_version *b, bool with_build)
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

bool shim_dependency_met(const struct shim_image_info *image, uint8_t dep_image_id,
			 const struct shim_version *other, bool with_build)
{
	for (unsigned i = 0; i < image->n_deps; i++)
		if (image->deps[i].image_id == dep_image_id &&
		    shim_version_cmp(other, &image->deps[i].min_version, with_build) < 0)
			return false;
	return true;
}
