/* SPDX-License-Identifier: MIT */
/*
 * MCUboot images: header + payload + protected TLVs + unprotected TLVs (MCUboot
 * boot/bootutil/include/bootutil/image.h describes the layout; imgtool writes it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dfumgr/image.h"
#include "dfumgr/wire.h"

#define TLV_HDR_SIZE      4
#define TLV_INFO_SIZE     4
#define DEP_TLV_LEN       12
#define SEC_CNT_TLV_LEN   4
#define ECDSA_SIG_MIN_LEN 8
/* imgtool's defaults: --max-sectors 128, --max-align 8 */
#define DEFAULT_MAX_SECTORS 128
#define DEFAULT_MAX_ALIGN   8
#define DEFAULT_HEADER_SIZE 0x200
/* Images are built in memory; a 4 GiB payload cannot be described by img_size anyway. */
#define BUILD_PAYLOAD_MAX UINT32_MAX

static const uint8_t boot_magic[DFUMGR_BOOT_MAGIC_SIZE] = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
};

/* ---- versions ---- */

/* Parses a decimal field of at most max; advances *s. */
static int parse_field(const char **s, uint64_t max, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -1;
	}
	*s = p;
	*ret = v;
	return 0;
}

DFUMGR_EXPORT int dfumgr_version_parse(const char *s, struct dfumgr_image_version *ret_version)
{
	struct dfumgr_image_version v = {0};
	const char *p = s;
	uint64_t x;

	if (!s || !ret_version)
		return -DFUMGR_E_INVAL;
	if (parse_field(&p, UINT8_MAX, &x) < 0)
		return -DFUMGR_E_FORMAT;
	v.major = (uint8_t)x;
	if (*p == '.') {
		p++;
		if (parse_field(&p, UINT8_MAX, &x) < 0)
			return -DFUMGR_E_FORMAT;
		v.minor = (uint8_t)x;
		if (*p == '.') {
			p++;
			if (parse_field(&p, UINT16_MAX, &x) < 0)
				return -DFUMGR_E_FORMAT;
			v.revision = (uint16_t)x;
		}
	}
	if (*p == '+') {
		p++;
		if (parse_field(&p, UINT32_MAX, &x) < 0)
			return -DFUMGR_E_FORMAT;
		v.build = (uint32_t)x;
	}
	if (*p != '\0')
		return -DFUMGR_E_FORMAT;
	*ret_version = v;
	return 0;
}

DFUMGR_EXPORT char *dfumgr_version_format(const struct dfumgr_image_version *v, char *buf)
{
	snprintf(buf, DFUMGR_VERSION_STRING_MAX, "%u.%u.%u+%" PRIu32, v->major, v->minor,
		 v->revision, v->build);
	return buf;
}

DFUMGR_EXPORT int dfumgr_version_cmp(const struct dfumgr_image_version *a,
				     const struct dfumgr_image_version *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->revision != b->revision)
		return a->revision < b->revision ? -1 : 1;
	if (a->build != b->build)
		return a->build < b->build ? -1 : 1;
	return 0;
}

static void version_get(const uint8_t *p, struct dfumgr_image_version *v)
{
	v->major = p[0];
	v->minor = p[1];
	v->revision = get_le16(p + 2);
	v->build = get_le32(p + 4);
}

static void version_put(uint8_t *p, const struct dfumgr_image_version *v)
{
	p[0] = v->major;
	p[1] = v->minor;
	put_le16(p + 2, v->revision);
	put_le32(p + 4, v->build);
}

/* ---- parsing ---- */

DFUMGR_EXPORT const char *dfumgr_tlv_name(uint16_t type)
{
	switch (type) {
	case DFUMGR_TLV_KEYHASH:
		return "KEYHASH";
	case DFUMGR_TLV_PUBKEY:
		return "PUBKEY";
	case DFUMGR_TLV_SHA256:
		return "SHA256";
	case DFUMGR_TLV_SHA384:
		return "SHA384";
	case DFUMGR_TLV_RSA2048_PSS:
		return "RSA2048";
	case DFUMGR_TLV_ECDSA224:
		return "ECDSA224";
	case DFUMGR_TLV_ECDSASIG:
		return "ECDSASIG";
	case DFUMGR_TLV_RSA3072_PSS:
		return "RSA3072";
	case DFUMGR_TLV_ED25519:
		return "ED25519";
	case DFUMGR_TLV_ENC_RSA2048:
		return "ENCRSA2048";
	case DFUMGR_TLV_ENC_KW:
		return "ENCKW";
	case DFUMGR_TLV_ENC_EC256:
		return "ENCEC256";
	case DFUMGR_TLV_ENC_X25519:
		return "ENCX25519";
	case DFUMGR_TLV_DEPENDENCY:
		return "DEPENDENCY";
	case DFUMGR_TLV_SEC_CNT:
		return "SEC_CNT";
	case DFUMGR_TLV_BOOT_RECORD:
		return "BOOT_RECORD";
	default:
		return "UNKNOWN";
	}
}

/*
 * MCUboot only trusts TLVs covered by the hash for security decisions: the security counter,
 * dependencies and the boot record must be protected; the hash and signature cannot be.
 */
static bool tlv_must_be_protected(uint16_t type)
{
	return type == DFUMGR_TLV_DEPENDENCY || type == DFUMGR_TLV_SEC_CNT ||
	       type == DFUMGR_TLV_BOOT_RECORD;
}

static bool tlv_must_be_unprotected(uint16_t type)
{
	return type == DFUMGR_TLV_SHA256 || type == DFUMGR_TLV_KEYHASH ||
	       type == DFUMGR_TLV_ECDSASIG || type == DFUMGR_TLV_SHA384 ||
	       type == DFUMGR_TLV_RSA2048_PSS || type == DFUMGR_TLV_RSA3072_PSS ||
	       type == DFUMGR_TLV_ED25519 || type == DFUMGR_TLV_ECDSA224;
}

static int tlv_check_len(struct dfumgr_ctx *ctx, uint16_t type, uint16_t len, size_t off)
{
	int want = -1;

	switch (type) {
	case DFUMGR_TLV_SHA256:
	case DFUMGR_TLV_KEYHASH:
		want = DFUMGR_SHA256_SIZE;
		break;
	case DFUMGR_TLV_DEPENDENCY:
		want = DEP_TLV_LEN;
		break;
	case DFUMGR_TLV_SEC_CNT:
		want = SEC_CNT_TLV_LEN;
		break;
	case DFUMGR_TLV_ECDSASIG:
		if (len < ECDSA_SIG_MIN_LEN || len > DFUMGR_ECDSA_SIG_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "ECDSASIG TLV at 0x%zx has length %u (a DER P-256 "
					   "signature is %d..%d bytes)",
					   off, len, ECDSA_SIG_MIN_LEN, DFUMGR_ECDSA_SIG_MAX);
		return 0;
	default:
		return 0;
	}
	if (len != want)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s TLV at 0x%zx has length %u (expected %d)",
				   dfumgr_tlv_name(type), off, len, want);
	return 0;
}

static int tlv_take(struct dfumgr_ctx *ctx, struct dfumgr_image *img, uint16_t type, uint16_t len,
		    size_t off, bool prot)
{
	const uint8_t *data = img->buf + off + TLV_HDR_SIZE;
	int rc;

	if (img->n_tlvs >= DFUMGR_IMAGE_TLV_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "more than %d TLVs (at 0x%zx)",
				   DFUMGR_IMAGE_TLV_MAX, off);
	if (prot && tlv_must_be_unprotected(type))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s TLV at 0x%zx is in the protected area (MCUboot expects it "
				   "in the unprotected area)",
				   dfumgr_tlv_name(type), off);
	if (!prot && tlv_must_be_protected(type))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "%s TLV at 0x%zx is in the unprotected area: it is not covered "
				   "by the hash, MCUboot would not trust it",
				   dfumgr_tlv_name(type), off);
	rc = tlv_check_len(ctx, type, len, off);
	if (rc < 0)
		return rc;

	switch (type) {
	case DFUMGR_TLV_SHA256:
	case DFUMGR_TLV_KEYHASH:
	case DFUMGR_TLV_ECDSASIG:
	case DFUMGR_TLV_SEC_CNT: {
		const uint8_t **slot = type == DFUMGR_TLV_SHA256     ? &img->sha256
				       : type == DFUMGR_TLV_KEYHASH  ? &img->keyhash
				       : type == DFUMGR_TLV_ECDSASIG ? &img->sig
								     : NULL;
		bool dup = slot ? *slot != NULL : img->has_sec_cnt;

		if (dup)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "second %s TLV at 0x%zx",
					   dfumgr_tlv_name(type), off);
		if (slot)
			*slot = data;
		if (type == DFUMGR_TLV_ECDSASIG)
			img->sig_len = len;
		if (type == DFUMGR_TLV_SEC_CNT) {
			img->has_sec_cnt = true;
			img->sec_cnt = get_le32(data);
		}
		break;
	}
	case DFUMGR_TLV_DEPENDENCY: {
		struct dfumgr_image_dep *d;

		if (img->n_deps >= DFUMGR_IMAGE_DEP_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_TOOBIG,
					   "more than %d DEPENDENCY TLVs (at 0x%zx)",
					   DFUMGR_IMAGE_DEP_MAX, off);
		d = &img->deps[img->n_deps++];
		d->image_id = data[0];
		version_get(data + 4, &d->min_version);
		break;
	}
	default:
		break;
	}
	img->tlvs[img->n_tlvs++] = (struct dfumgr_image_tlv){
	    .type = type, .len = len, .offset = (uint32_t)off, .is_protected = prot};
	return 0;
}

/* Walks the TLVs of one area [start, end), whose info header is at start. */
static int parse_tlv_area(struct dfumgr_ctx *ctx, struct dfumgr_image *img, size_t start,
			  size_t end, bool prot)
{
	const char *area = prot ? "protected" : "unprotected";
	size_t off = start + TLV_INFO_SIZE;
	int rc;

	while (off < end) {
		uint16_t type, len;

		if (end - off < TLV_HDR_SIZE)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s TLV area: %zu stray bytes at 0x%zx (not a whole TLV "
					   "header)",
					   area, end - off, off);
		type = get_le16(img->buf + off);
		len = get_le16(img->buf + off + 2);
		if ((size_t)len > end - off - TLV_HDR_SIZE)
			return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					   "%s TLV 0x%02x (%s) at 0x%zx: length %u runs past the "
					   "end of the area at 0x%zx",
					   area, type, dfumgr_tlv_name(type), off, len, end);
		rc = tlv_take(ctx, img, type, len, off, prot);
		if (rc < 0)
			return rc;
		off += TLV_HDR_SIZE + (size_t)len;
	}
	return 0;
}

static void parse_trailer(struct dfumgr_image *img)
{
	size_t n = img->size;

	if (n <= img->image_end)
		return;
	img->trailer.present = true;
	img->trailer.bytes_after = n - img->image_end;
	/* trailer offsets for imgtool's default max_align of 8 */
	if (img->trailer.bytes_after >= 40 && memcmp(img->buf + n - DFUMGR_BOOT_MAGIC_SIZE,
						     boot_magic, DFUMGR_BOOT_MAGIC_SIZE) == 0) {
		img->trailer.magic_ok = true;
		img->trailer.image_ok = img->buf[n - 24];
		img->trailer.copy_done = img->buf[n - 32];
		img->trailer.swap_info = img->buf[n - 40];
	}
}

DFUMGR_EXPORT int dfumgr_image_parse(struct dfumgr_ctx *ctx, const uint8_t *buf, size_t size,
				     struct dfumgr_image *ret_img)
{
	struct dfumgr_image *img;
	uint64_t end;
	size_t off;
	uint16_t magic;
	int rc;

	if (!buf || !ret_img)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_image_parse: NULL argument");
	if (size < DFUMGR_IMAGE_HEADER_SIZE)
		return dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
				   "file is %zu bytes, shorter than the %d-byte MCUboot header",
				   size, DFUMGR_IMAGE_HEADER_SIZE);
	/* The struct is big; build it in place but only report it filled on success. */
	img = calloc(1, sizeof(*img));
	if (!img)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	img->buf = buf;
	img->size = size;
	img->magic = get_le32(buf);
	img->load_addr = get_le32(buf + 4);
	img->hdr_size = get_le16(buf + 8);
	img->protect_tlv_size = get_le16(buf + 10);
	img->img_size = get_le32(buf + 12);
	img->flags = get_le32(buf + 16);
	version_get(buf + 20, &img->version);
	img->pad1 = get_le32(buf + 28);

	if (img->magic != DFUMGR_IMAGE_MAGIC) {
		rc = dfumgr_fail(ctx, DFUMGR_E_BADMAGIC,
				 "bad image header magic 0x%08" PRIx32 " at offset 0 (expected "
				 "0x%08x): not an MCUboot image",
				 img->magic, DFUMGR_IMAGE_MAGIC);
		goto out;
	}
	if (img->hdr_size < DFUMGR_IMAGE_HEADER_SIZE) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				 "header field hdr_size (offset 8) is 0x%x, smaller than the "
				 "%d-byte header",
				 img->hdr_size, DFUMGR_IMAGE_HEADER_SIZE);
		goto out;
	}
	img->payload_offset = img->hdr_size;
	end = (uint64_t)img->hdr_size + img->img_size;
	if (end > size) {
		rc = dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
				 "payload 0x%x..0x%" PRIx64 " (header field img_size at offset 12 "
				 "= 0x%" PRIx32 ") runs past the end of the file (0x%zx bytes): "
				 "file ends before the TLV info at 0x%" PRIx64,
				 img->hdr_size, end, img->img_size, size, end);
		goto out;
	}
	off = (size_t)end;
	img->tlv_area_offset = off;

	if (size - off < TLV_INFO_SIZE) {
		rc = dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
				 "file ends at 0x%zx, before the TLV info header at 0x%zx", size,
				 off);
		goto out;
	}
	magic = get_le16(buf + off);
	if (img->protect_tlv_size) {
		uint16_t tot = get_le16(buf + off + 2);

		if (magic != DFUMGR_TLV_PROT_INFO_MAGIC) {
			rc = dfumgr_fail(ctx, DFUMGR_E_BADMAGIC,
					 "protected TLV info at 0x%zx has magic 0x%04x (expected "
					 "0x%04x, since header protect_tlv_size is 0x%x)",
					 off, magic, DFUMGR_TLV_PROT_INFO_MAGIC,
					 img->protect_tlv_size);
			goto out;
		}
		if (tot != img->protect_tlv_size || tot < TLV_INFO_SIZE) {
			rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					 "protected TLV info at 0x%zx: tlv_tot 0x%x does not match "
					 "header protect_tlv_size 0x%x",
					 off, tot, img->protect_tlv_size);
			goto out;
		}
		if ((size_t)tot > size - off) {
			rc = dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
					 "protected TLV area 0x%zx..0x%zx runs past the end of "
					 "the file (0x%zx bytes)",
					 off, off + tot, size);
			goto out;
		}
		img->has_protected = true;
		img->prot_info_offset = off;
		img->prot_tlv_tot = tot;
		rc = parse_tlv_area(ctx, img, off, off + tot, true);
		if (rc < 0)
			goto out;
		off += tot;
		if (size - off < TLV_INFO_SIZE) {
			rc = dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
					 "file ends at 0x%zx, before the unprotected TLV info at "
					 "0x%zx",
					 size, off);
			goto out;
		}
		magic = get_le16(buf + off);
	} else if (magic == DFUMGR_TLV_PROT_INFO_MAGIC) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				 "protected TLV info at 0x%zx but header protect_tlv_size "
				 "(offset 10) is 0",
				 off);
		goto out;
	}
	if (magic != DFUMGR_TLV_INFO_MAGIC) {
		rc = dfumgr_fail(ctx, DFUMGR_E_BADMAGIC,
				 "TLV info at 0x%zx has magic 0x%04x (expected 0x%04x)", off, magic,
				 DFUMGR_TLV_INFO_MAGIC);
		goto out;
	}
	img->info_offset = off;
	img->tlv_tot = get_le16(buf + off + 2);
	if (img->tlv_tot < TLV_INFO_SIZE) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				 "TLV info at 0x%zx: tlv_tot 0x%x is smaller than the info itself",
				 off, img->tlv_tot);
		goto out;
	}
	if ((size_t)img->tlv_tot > size - off) {
		rc = dfumgr_fail(ctx, DFUMGR_E_TRUNCATED,
				 "unprotected TLV area (0x%zx..0x%zx) runs past end of file "
				 "(0x%zx bytes, truncated)",
				 off, off + img->tlv_tot, size);
		goto out;
	}
	img->image_end = off + img->tlv_tot;
	rc = parse_tlv_area(ctx, img, off, img->image_end, false);
	if (rc < 0)
		goto out;
	parse_trailer(img);
	*ret_img = *img;
	rc = 0;
out:
	free(img);
	return rc;
}

DFUMGR_EXPORT int dfumgr_image_check_hash(struct dfumgr_ctx *ctx, const struct dfumgr_image *img,
					  uint8_t *ret_digest)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];
	char want[2 * DFUMGR_SHA256_SIZE + 1], got[2 * DFUMGR_SHA256_SIZE + 1];

	if (!img)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_image_check_hash: NULL image");
	dfumgr_sha256(img->buf, img->info_offset, digest);
	if (ret_digest)
		memcpy(ret_digest, digest, sizeof(digest));
	if (!img->sha256)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT, "image has no SHA256 TLV");
	if (!dfumgr_memeq_ct(digest, img->sha256, sizeof(digest))) {
		dfumgr_hex(img->sha256, DFUMGR_SHA256_SIZE, want);
		dfumgr_hex(digest, DFUMGR_SHA256_SIZE, got);
		return dfumgr_fail(ctx, DFUMGR_E_HASH,
				   "image hash mismatch: SHA256 TLV says %s, bytes 0x0..0x%zx hash "
				   "to %s",
				   want, img->info_offset, got);
	}
	return 0;
}

static bool has_other_signature(const struct dfumgr_image *img, uint16_t *ret_type)
{
	for (size_t i = 0; i < img->n_tlvs; i++) {
		uint16_t t = img->tlvs[i].type;

		if (t == DFUMGR_TLV_RSA2048_PSS || t == DFUMGR_TLV_RSA3072_PSS ||
		    t == DFUMGR_TLV_ED25519 || t == DFUMGR_TLV_ECDSA224) {
			*ret_type = t;
			return true;
		}
	}
	return false;
}

DFUMGR_EXPORT int dfumgr_image_verify(struct dfumgr_ctx *ctx, const struct dfumgr_image *img,
				      struct dfumgr_key *const *keys, size_t n_keys)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];
	uint16_t other;
	int rc;

	if (!img || (!keys && n_keys))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_image_verify: NULL argument");
	rc = dfumgr_image_check_hash(ctx, img, digest);
	if (rc < 0)
		return rc;
	if (!img->sig) {
		if (has_other_signature(img, &other))
			return dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
					   "image is signed with %s; only ECDSA P-256 is supported",
					   dfumgr_tlv_name(other));
		return dfumgr_fail(ctx, DFUMGR_E_NOSIG, "image is not signed (no ECDSASIG TLV)");
	}
	for (size_t i = 0; i < n_keys; i++) {
		uint8_t kh[DFUMGR_SHA256_SIZE];

		if (img->keyhash) {
			rc = dfumgr_key_hash(ctx, keys[i], kh);
			if (rc < 0)
				return rc;
			if (!dfumgr_memeq_ct(kh, img->keyhash, sizeof(kh)))
				continue;
		}
		rc = dfumgr_key_verify(ctx, keys[i], digest, img->sig, img->sig_len);
		if (rc == 0 || img->keyhash)
			return rc < 0 ? dfumgr_fail_prefix(ctx, rc, "image signature with key %s",
							   dfumgr_key_name(keys[i]))
				      : 0;
	}
	if (img->keyhash) {
		char kh[2 * DFUMGR_SHA256_SIZE + 1];

		dfumgr_hex(img->keyhash, DFUMGR_SHA256_SIZE, kh);
		return dfumgr_fail(ctx, DFUMGR_E_NOSIG,
				   "image is signed by a key that is not trusted (KEYHASH %s; %zu "
				   "key(s) tried)",
				   kh, n_keys);
	}
	return dfumgr_fail(ctx, n_keys ? DFUMGR_E_SIGNATURE : DFUMGR_E_NOSIG,
			   "no trusted key verifies the image signature (%zu key(s) tried)",
			   n_keys);
}

/* ---- slot fit ---- */

static uint32_t align_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) / a * a;
}

static bool valid_align(uint32_t a)
{
	return a == 1 || a == 2 || a == 4 || a == 8 || a == 16 || a == 32;
}

DFUMGR_EXPORT uint32_t dfumgr_trailer_size(const struct dfumgr_slot_params *p)
{
	uint32_t max_align = p->max_align ? p->max_align : DEFAULT_MAX_ALIGN;
	uint32_t sectors = p->max_sectors ? p->max_sectors : DEFAULT_MAX_SECTORS;
	uint32_t magic = align_up(DFUMGR_BOOT_MAGIC_SIZE, max_align);

	if (p->overwrite_only)
		return max_align * 2 + magic;
	/* the one formula the board and the emulator use too */
	return dfumgr_wire_trailer_size(sectors, p->align, max_align);
}

DFUMGR_EXPORT int dfumgr_image_check_fit(struct dfumgr_ctx *ctx, uint64_t image_size,
					 const struct dfumgr_slot_params *p)
{
	uint32_t trailer;

	if (!p)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_image_check_fit: NULL params");
	if (!valid_align(p->align))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "invalid alignment %" PRIu32 " (must be 1, 2, 4, 8, 16 or 32)",
				   p->align);
	if (p->max_align && !valid_align(p->max_align))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "invalid max-align %" PRIu32, p->max_align);
	if (!p->slot_size)
		return 0;
	trailer = dfumgr_trailer_size(p);
	if (image_size + trailer > p->slot_size)
		return dfumgr_fail(ctx, DFUMGR_E_NOFIT,
				   "Image size (0x%" PRIx64 ") + trailer (0x%" PRIx32 ") exceeds "
				   "requested size 0x%" PRIx32,
				   image_size, trailer, p->slot_size);
	if (p->swap_move_sector && !p->overwrite_only) {
		uint32_t sec = p->swap_move_sector;
		uint64_t reserved = (uint64_t)align_up(trailer, sec) + sec;
		uint64_t max = p->slot_size > reserved ? p->slot_size - reserved : 0;

		if (image_size > max)
			return dfumgr_fail(
			    ctx, DFUMGR_E_NOFIT,
			    "Image size (0x%" PRIx64 ") exceeds 0x%" PRIx64
			    ", the largest image MCUboot's swap-move takes in a slot "
			    "of 0x%" PRIx32 ": the trailer (0x%" PRIx32 ") rounded up to 0x%" PRIx32
			    "-byte sectors, plus one "
			    "sector for the move, are not the image's",
			    image_size, max, p->slot_size, trailer, sec);
	}
	return 0;
}

/* ---- building ---- */

static size_t prot_area_size(const struct dfumgr_image_build_opts *o)
{
	size_t n = 0;

	if (o->has_sec_cnt)
		n += TLV_HDR_SIZE + SEC_CNT_TLV_LEN;
	n += o->n_deps * (TLV_HDR_SIZE + DEP_TLV_LEN);
	return n ? n + TLV_INFO_SIZE : 0;
}

static uint8_t *put_tlv(uint8_t *p, uint16_t type, const void *data, uint16_t len)
{
	put_le16(p, type);
	put_le16(p + 2, len);
	memcpy(p + TLV_HDR_SIZE, data, len);
	return p + TLV_HDR_SIZE + len;
}

DFUMGR_EXPORT int dfumgr_image_build(struct dfumgr_ctx *ctx, const uint8_t *payload,
				     size_t payload_size, const struct dfumgr_image_build_opts *o,
				     uint8_t **ret_buf, size_t *ret_size)
{
	uint8_t keyhash[DFUMGR_SHA256_SIZE], digest[DFUMGR_SHA256_SIZE];
	uint8_t sig[DFUMGR_ECDSA_SIG_MAX];
	size_t sig_len = 0, hdr, body, prot, unprot, total, out_size;
	uint8_t *out = NULL, *p;
	int rc;

	if ((!payload && payload_size) || !o || !ret_buf || !ret_size)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_image_build: NULL argument");
	hdr = o->header_size ? o->header_size : DEFAULT_HEADER_SIZE;
	if (hdr < DFUMGR_IMAGE_HEADER_SIZE)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "header size 0x%zx is smaller than %d", hdr,
				   DFUMGR_IMAGE_HEADER_SIZE);
	if (o->n_deps > DFUMGR_IMAGE_DEP_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "at most %d dependencies",
				   DFUMGR_IMAGE_DEP_MAX);
	if (o->slot.align && !valid_align(o->slot.align))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "invalid alignment %" PRIu32 " (must be 1, 2, 4, 8, 16 or 32)",
				   o->slot.align);
	if ((o->pad || o->confirm) && !o->slot.slot_size)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "padding needs a slot size");
	if (!o->pad_header) {
		if (payload_size < hdr)
			return dfumgr_fail(ctx, DFUMGR_E_INVAL,
					   "payload (%zu bytes) is smaller than the 0x%zx-byte "
					   "header it must reserve",
					   payload_size, hdr);
		for (size_t i = 0; i < hdr; i++)
			if (payload[i])
				return dfumgr_fail(
				    ctx, DFUMGR_E_INVAL,
				    "payload byte 0x%zx is not zero: without header "
				    "padding its first 0x%zx bytes are overwritten by "
				    "the header (pad the header instead)",
				    i, hdr);
	}
	body = o->pad_header ? payload_size : payload_size - hdr;
	if (body > BUILD_PAYLOAD_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "payload of %zu bytes is too big", body);
	if (o->key) {
		rc = dfumgr_key_hash(ctx, o->key, keyhash);
		if (rc < 0)
			return rc;
	}
	prot = prot_area_size(o);
	if (prot > UINT16_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "protected TLV area too big");
	/* the signature length is known only after signing: reserve the maximum */
	unprot = TLV_INFO_SIZE + TLV_HDR_SIZE + DFUMGR_SHA256_SIZE;
	if (o->key)
		unprot += 2 * TLV_HDR_SIZE + DFUMGR_SHA256_SIZE + DFUMGR_ECDSA_SIG_MAX;
	total = hdr + body + prot + unprot;
	out_size = total;
	if ((o->pad || o->confirm) && o->slot.slot_size > out_size)
		out_size = o->slot.slot_size;
	out = malloc(out_size);
	if (!out)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory for a %zu-byte image",
				   out_size);

	/* imgtool fills the padding it prepends with the erased value of flash, 0xff */
	if (o->pad_header)
		memset(out, 0xff, hdr);
	else
		memcpy(out, payload, hdr);
	put_le32(out, DFUMGR_IMAGE_MAGIC);
	put_le32(out + 4, o->load_addr);
	put_le16(out + 8, (uint16_t)hdr);
	put_le16(out + 10, (uint16_t)prot);
	put_le32(out + 12, (uint32_t)body);
	put_le32(out + 16, o->flags);
	version_put(out + 20, &o->version);
	put_le32(out + 28, 0);
	memcpy(out + hdr, o->pad_header ? payload : payload + hdr, body);
	p = out + hdr + body;
	if (prot) {
		put_le16(p, DFUMGR_TLV_PROT_INFO_MAGIC);
		put_le16(p + 2, (uint16_t)prot);
		p += TLV_INFO_SIZE;
		/* imgtool's order: security counter, then dependencies */
		if (o->has_sec_cnt) {
			uint8_t v[SEC_CNT_TLV_LEN];

			put_le32(v, o->sec_cnt);
			p = put_tlv(p, DFUMGR_TLV_SEC_CNT, v, sizeof(v));
		}
		for (size_t i = 0; i < o->n_deps; i++) {
			uint8_t d[DEP_TLV_LEN] = {0};

			d[0] = o->deps[i].image_id;
			version_put(d + 4, &o->deps[i].min_version);
			p = put_tlv(p, DFUMGR_TLV_DEPENDENCY, d, sizeof(d));
		}
	}
	dfumgr_sha256(out, (size_t)(p - out), digest);
	if (o->key) {
		rc = dfumgr_key_sign(ctx, o->key, digest, sig, sizeof(sig), &sig_len);
		if (rc < 0)
			goto out;
		unprot = TLV_INFO_SIZE + 3 * TLV_HDR_SIZE + 2 * DFUMGR_SHA256_SIZE + sig_len;
	}
	put_le16(p, DFUMGR_TLV_INFO_MAGIC);
	put_le16(p + 2, (uint16_t)unprot);
	p += TLV_INFO_SIZE;
	p = put_tlv(p, DFUMGR_TLV_SHA256, digest, DFUMGR_SHA256_SIZE);
	if (o->key) {
		p = put_tlv(p, DFUMGR_TLV_KEYHASH, keyhash, DFUMGR_SHA256_SIZE);
		p = put_tlv(p, DFUMGR_TLV_ECDSASIG, sig, (uint16_t)sig_len);
	}
	total = (size_t)(p - out);

	if (o->slot.slot_size) {
		struct dfumgr_slot_params sp = o->slot;

		if (!sp.align)
			sp.align = 1;
		rc = dfumgr_image_check_fit(ctx, total, &sp);
		if (rc < 0)
			goto out;
	}
	if (o->pad || o->confirm) {
		memset(out + total, 0xff, out_size - total);
		uint32_t max_align = o->slot.max_align ? o->slot.max_align : DEFAULT_MAX_ALIGN;

		memcpy(out + out_size - DFUMGR_BOOT_MAGIC_SIZE, boot_magic, DFUMGR_BOOT_MAGIC_SIZE);
		/* image_ok sits just below the (max_align-aligned) magic */
		if (o->confirm)
			out[out_size - align_up(DFUMGR_BOOT_MAGIC_SIZE, max_align) - max_align] =
			    0x01;
		total = out_size;
	}
	*ret_buf = out;
	*ret_size = total;
	out = NULL;
	rc = 0;
out:
	free(out);
	return rc;
}
