/* SPDX-License-Identifier: MIT */
/* ELF or raw payloads -> the internal + QSPI pair of MCUboot images and their manifest. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dfumgr/pack.h"

#define DEFAULT_HEADER_SIZE 0x200
/* TLV bytes of an unsigned image (info + SHA256) and the most a signed one adds. */
#define TLVS_UNSIGNED 0x28
#define TLVS_SIGNED   (TLVS_UNSIGNED + 4 + DFUMGR_SHA256_SIZE + 4 + DFUMGR_ECDSA_SIG_MAX)

static const char *const default_file[2] = {"internal.bin", "qspi.bin"};
static const char *const region_label[2] = {"internal flash", "QSPI XIP"};

static struct dfumgr_slot_params slot_of(const struct dfumgr_pack_opts *o, int i)
{
	struct dfumgr_slot_params p = o->slot[i];

	if (!p.slot_size)
		p.slot_size = i == 0 ? DFUMGR_PACK_SLOT0_DEFAULT : DFUMGR_PACK_SLOT1_DEFAULT;
	/* by default, the geometry of this product's MCUboot (wire.h), as the board checks it */
	if (!p.align)
		p.align = DFUMGR_MCUBOOT_WRITE_SIZE;
	if (!p.max_sectors)
		p.max_sectors = DFUMGR_MCUBOOT_MAX_SECTORS;
	if (!p.max_align)
		p.max_align = DFUMGR_MCUBOOT_MAX_ALIGN;
	if (!p.swap_move_sector && !p.overwrite_only)
		p.swap_move_sector = DFUMGR_QSPI_SECTOR_SIZE; /* 4 KiB: NVMC pages too */
	return p;
}

static bool pad_header(const struct dfumgr_pack_opts *o, const uint8_t *p, size_t n)
{
	size_t hdr = o->header_size ? o->header_size : DEFAULT_HEADER_SIZE;

	if (o->header_mode != DFUMGR_HEADER_AUTO)
		return o->header_mode == DFUMGR_HEADER_PAD;
	if (n <= hdr)
		return true;
	for (size_t i = 0; i < hdr; i++)
		if (p[i])
			return true;
	return false; /* the link left room for the header: use it */
}

static int fill_manifest(struct dfumgr_ctx *ctx, const struct dfumgr_pack_opts *o,
			 struct dfumgr_pack_result *r)
{
	struct dfumgr_manifest *m = &r->manifest;
	const char *product = o->product ? o->product : "app";
	int n;

	memset(m, 0, sizeof(*m));
	m->manifest_version = DFUMGR_MANIFEST_VERSION;
	if (strlen(product) > DFUMGR_MANIFEST_PRODUCT_MAX)
		return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "product name longer than %d bytes",
				   DFUMGR_MANIFEST_PRODUCT_MAX);
	snprintf(m->product, sizeof(m->product), "%s", product);
	if (o->release) {
		if (strlen(o->release) > DFUMGR_MANIFEST_RELEASE_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "release longer than %d bytes",
					   DFUMGR_MANIFEST_RELEASE_MAX);
		snprintf(m->release, sizeof(m->release), "%s", o->release);
	} else {
		snprintf(m->release, sizeof(m->release), "%u.%u.%u", o->version.major,
			 o->version.minor, o->version.revision);
	}
	m->vid = o->vid ? o->vid : DFUMGR_PACK_VID_DEFAULT;
	m->pid = o->pid ? o->pid : DFUMGR_PACK_PID_DEFAULT;
	m->n_images = 2;
	for (int i = 0; i < 2; i++) {
		struct dfumgr_manifest_image *mi = &m->images[i];
		const char *file = o->file[i] ? o->file[i] : default_file[i];

		mi->image = (uint8_t)i;
		snprintf(mi->alt, sizeof(mi->alt), "image-%d", i);
		n = snprintf(mi->file, sizeof(mi->file), "%s", file);
		if (n < 0 || (size_t)n >= sizeof(mi->file))
			return dfumgr_fail(ctx, DFUMGR_E_UNSAFE_PATH, "image %d file name too long",
					   i);
		if (r->image_size[i] > UINT32_MAX)
			return dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "image %d too big", i);
		mi->size = (uint32_t)r->image_size[i];
		dfumgr_sha256(r->image[i], r->image_size[i], mi->sha256);
		mi->version = o->version;
		mi->has_security_counter = o->has_sec_cnt;
		mi->security_counter = o->sec_cnt;
	}
	m->images[1].has_load_address = true;
	m->images[1].load_address = r->payload_start[1];
	/* the manifest must be one that parses back: check it with the same rules */
	return dfumgr_manifest_validate(ctx, m);
}

DFUMGR_EXPORT int dfumgr_pack_payloads(struct dfumgr_ctx *ctx, const uint8_t *internal,
				       size_t internal_size, uint32_t internal_start,
				       const uint8_t *qspi, size_t qspi_size, uint32_t qspi_start,
				       const struct dfumgr_pack_opts *opts,
				       struct dfumgr_pack_result *ret_result)
{
	const uint8_t *payload[2] = {internal, qspi};
	const size_t psize[2] = {internal_size, qspi_size};
	struct dfumgr_pack_result r = {0};
	int rc;

	if (!internal || !qspi || !opts || !ret_result)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_pack_payloads: NULL argument");
	r.payload_start[0] = internal_start;
	r.payload_start[1] = qspi_start;
	for (int i = 0; i < 2; i++) {
		struct dfumgr_image_build_opts b = {
		    .version = opts->version,
		    .header_size = opts->header_size ? opts->header_size : DEFAULT_HEADER_SIZE,
		    .pad_header = pad_header(opts, payload[i], psize[i]),
		    .key = opts->key,
		    .slot = slot_of(opts, i),
		    .has_sec_cnt = opts->has_sec_cnt,
		    .sec_cnt = opts->sec_cnt,
		};

		if (!psize[i]) {
			rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT, "the %s payload (image %d) is empty",
					 region_label[i], i);
			goto fail;
		}
		/*
		 * The pair rule as MCUboot enforces it: each image depends on the other at this
		 * very version. Then MCUboot installs neither alone, whether the new pair is
		 * newer or older than the running one: with one image marked (a cut between the
		 * board's two trailer writes) or one reverting (a cut between the two confirms),
		 * the set it would produce has an unmet dependency and it swaps nothing
		 * (docs/pair-rule.md).
		 */
		if (!opts->no_dependency) {
			b.n_deps = 1;
			b.deps[0].image_id = (uint8_t)(1 - i);
			b.deps[0].min_version = opts->version;
		}
		r.payload_size[i] = psize[i];
		rc = dfumgr_image_build(ctx, payload[i], psize[i], &b, &r.image[i],
					&r.image_size[i]);
		if (rc < 0) {
			dfumgr_fail_prefix(ctx, rc,
					   "image %d (%s, %zu-byte payload, slot 0x%" PRIx32 ")", i,
					   region_label[i], psize[i], b.slot.slot_size);
			goto fail;
		}
	}
	/*
	 * This product's MCUboot (1.10) cannot swap a pair whose image 1 swap is the shorter one
	 * (mcu-tools/mcuboot#1768): the board refuses it at COMMIT unless the image 1 it runs
	 * is large enough to make up for it. Say so now.
	 */
	if ((r.image_size[1] + DFUMGR_QSPI_SECTOR_SIZE - 1) / DFUMGR_QSPI_SECTOR_SIZE <
	    (r.image_size[0] + DFUMGR_QSPI_SECTOR_SIZE - 1) / DFUMGR_QSPI_SECTOR_SIZE)
		dfumgr_log(
		    ctx, DFUMGR_LOG_WARNING,
		    "image 1 (%zu bytes) is smaller than image 0 (%zu bytes): MCUboot before "
		    "2.1 cannot swap such a pair (mcu-tools/mcuboot#1768), so a dfu-mgr board "
		    "refuses it unless the image 1 it runs is at least as large as image 0",
		    r.image_size[1], r.image_size[0]);
	rc = fill_manifest(ctx, opts, &r);
	if (rc < 0)
		goto fail;
	*ret_result = r;
	return 0;
fail:
	dfumgr_pack_result_done(&r);
	return rc;
}

DFUMGR_EXPORT int dfumgr_pack_elf(struct dfumgr_ctx *ctx, const struct dfumgr_elf_split *split,
				  const struct dfumgr_pack_opts *opts,
				  struct dfumgr_pack_result *ret_result)
{
	if (!split || !opts || !ret_result)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_pack_elf: NULL argument");
	if (!split->internal.size)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "the ELF loads nothing into internal flash (0x%08x..0x%08x)",
				   DFUMGR_REGION_INTERNAL_START, DFUMGR_REGION_INTERNAL_END - 1);
	if (!split->qspi.size)
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "the ELF loads nothing into the QSPI XIP window "
				   "(0x%08x..0x%08x): it is one ordinary image, sign it with "
				   "imgtool or `dfu-mgr pack --single`",
				   DFUMGR_REGION_QSPI_START, DFUMGR_REGION_QSPI_END - 1);
	return dfumgr_pack_payloads(ctx, split->internal.data, split->internal.size,
				    split->internal.start, split->qspi.data, split->qspi.size,
				    split->qspi.start, opts, ret_result);
}

/* ".text, .rodata, .data" for the sections of one region, cut to fit. */
static void section_list(const struct dfumgr_elf_split *s, enum dfumgr_region region, char *buf,
			 size_t cap)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_sections && used + 1 < cap; i++) {
		int n;

		if (s->sections[i].region != region)
			continue;
		n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", s->sections[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

DFUMGR_EXPORT int dfumgr_pack_check_single(struct dfumgr_ctx *ctx,
					   const struct dfumgr_elf_split *split,
					   const struct dfumgr_pack_opts *opts)
{
	struct dfumgr_slot_params p;
	uint64_t hdr, image_size;
	char fit[160], secs[2][96];
	int rc;

	if (!split || !opts)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_pack_check_single: NULL argument");
	/*
	 * imgtool's own check with its defaults (128 sectors, no swap-move sector): the message a
	 * user who runs `imgtool sign` on the whole ELF gets, and then why.
	 */
	p = opts->slot[0];
	if (!p.slot_size)
		p.slot_size = DFUMGR_PACK_SLOT0_DEFAULT;
	if (!p.align)
		p.align = DFUMGR_MCUBOOT_WRITE_SIZE;
	hdr = opts->header_size ? opts->header_size : DEFAULT_HEADER_SIZE;
	image_size = hdr + split->span_size + (opts->key ? TLVS_SIGNED : TLVS_UNSIGNED);
	rc = dfumgr_image_check_fit(ctx, image_size, &p);
	if (rc != -DFUMGR_E_NOFIT)
		return rc;
	if (!split->internal.size || !split->qspi.size)
		return rc; /* too big, but not because of the split: imgtool's message says it */
	snprintf(fit, sizeof(fit), "%s", dfumgr_ctx_errmsg(ctx));
	section_list(split, DFUMGR_REGION_INTERNAL, secs[0], sizeof(secs[0]));
	section_list(split, DFUMGR_REGION_QSPI, secs[1], sizeof(secs[1]));
	return dfumgr_fail(
	    ctx, DFUMGR_E_NOFIT,
	    "%s: the ELF's content spans two address regions: internal flash "
	    "0x%08" PRIx32 "..0x%08" PRIx32 " (%" PRIu32 " bytes: %s) and QSPI XIP "
	    "0x%08" PRIx32 "..0x%08" PRIx32 " (%" PRIu32 " bytes: %s); one image would have "
	    "to cover 0x%08" PRIx32 "..0x%08" PRIx64 " (0x%" PRIx64 " bytes, nearly all of it "
	    "the gap between the two). Use `dfu-mgr pack` (without --single): it makes image 0 "
	    "for internal flash and image 1 for QSPI, updated as a pair",
	    fit, split->internal.start, split->internal.start + split->internal.size,
	    split->internal.size, secs[0], split->qspi.start, split->qspi.start + split->qspi.size,
	    split->qspi.size, secs[1], split->span_start,
	    (uint64_t)split->span_start + split->span_size, split->span_size);
}

DFUMGR_EXPORT void dfumgr_pack_result_done(struct dfumgr_pack_result *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++) {
		free(r->image[i]);
		r->image[i] = NULL;
		r->image_size[i] = 0;
	}
}
