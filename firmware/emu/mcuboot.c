/* SPDX-License-Identifier: MIT */
/*
 * What MCUboot (multi-image, swap with revert) does at power-on, on the emulated flash:
 * revert an unconfirmed test swap; else swap every image whose secondary slot is marked and
 * valid, dropping those whose dependencies the resulting set does not meet; then the
 * application starts and, if its own dependency on image 1 holds, confirms itself.
 * A model, not MCUboot's code: the swap is done at once, not sector by sector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "dfumgr/image.h"

static const uint8_t boot_magic[16] = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
};

struct slot {
	struct emu_flash *f;
	uint32_t base, size;
	uint8_t *mem;
};

struct trailer {
	bool magic;
	uint8_t swap_type;
	uint8_t image_ok;
	uint8_t copy_done;
};

static struct slot slot_of(struct emu_board *b, enum dfu_area a)
{
	struct slot s;

	s.f = emu_board_area(b, a, &s.base);
	s.size = a <= DFU_AREA_IMG0_SECONDARY ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
	s.mem = s.f->mem + s.base;
	return s;
}

static struct trailer read_trailer(const struct slot *s)
{
	const uint8_t *end = s->mem + s->size;
	struct trailer t = {0};

	t.magic = memcmp(end - DFUMGR_TRAILER_MAGIC_OFF, boot_magic, 16) == 0;
	t.swap_type = end[-DFUMGR_TRAILER_SWAP_INFO_OFF] & 0x0f;
	t.image_ok = end[-DFUMGR_TRAILER_IMAGE_OK_OFF];
	t.copy_done = end[-DFUMGR_TRAILER_COPY_DONE_OFF];
	return t;
}

static void erase_trailer(struct slot *s)
{
	uint32_t unit = s->f->erase_unit, cost = 0;

	/* the trailer's own sector; MCUboot leaves image bytes alone (they are behind it) */
	memset(s->mem + s->size - DFUMGR_TRAILER_SWAP_INFO_OFF, 0xff, DFUMGR_TRAILER_SWAP_INFO_OFF);
	(void)unit;
	(void)cost;
}

static void write_trailer(struct slot *s, bool copy_done, bool image_ok)
{
	uint8_t *end = s->mem + s->size;

	erase_trailer(s);
	if (copy_done)
		end[-DFUMGR_TRAILER_COPY_DONE_OFF] = DFUMGR_BOOT_FLAG_SET;
	if (image_ok)
		end[-DFUMGR_TRAILER_IMAGE_OK_OFF] = DFUMGR_BOOT_FLAG_SET;
	memcpy(end - DFUMGR_TRAILER_MAGIC_OFF, boot_magic, 16);
}

/* A valid image: parses, hash matches, and with a key configured, the signature verifies. */
static bool slot_image(struct emu_board *b, const struct slot *s, struct dfumgr_image *ret)
{
	if (dfumgr_image_parse(NULL, s->mem, s->size, ret) < 0)
		return false;
	if (dfumgr_image_check_hash(NULL, ret, NULL) < 0)
		return false;
	if (b->mcuboot_key) {
		struct dfumgr_key *k = (struct dfumgr_key *)b->mcuboot_key;

		if (dfumgr_image_verify(NULL, ret, &k, 1) < 0)
			return false;
	}
	return true;
}

static void swap_slots(struct slot *a, struct slot *b)
{
	uint8_t buf[4096];
	uint32_t n = a->size - DFUMGR_TRAILER_SWAP_INFO_OFF;

	for (uint32_t off = 0; off < n; off += sizeof(buf)) {
		uint32_t len = n - off < sizeof(buf) ? n - off : (uint32_t)sizeof(buf);

		memcpy(buf, a->mem + off, len);
		memcpy(a->mem + off, b->mem + off, len);
		memcpy(b->mem + off, buf, len);
	}
}

static void logf_append(struct emu_board *b, const char *msg)
{
	size_t n = strlen(b->last_boot);

	snprintf(b->last_boot + n, sizeof(b->last_boot) - n, "%s%s", n ? "; " : "", msg);
}

static bool deps_met(const struct dfumgr_image *img, const struct dfumgr_image_version *after)
{
	for (size_t d = 0; d < img->n_deps; d++) {
		unsigned j = img->deps[d].image_id;

		if (j >= DFUMGR_N_IMAGES ||
		    dfumgr_version_cmp(&after[j], &img->deps[d].min_version) < 0)
			return false;
	}
	return true;
}

void emu_mcuboot_run(struct emu_board *b)
{
	struct slot pri[DFUMGR_N_IMAGES], sec[DFUMGR_N_IMAGES];
	struct trailer tp[DFUMGR_N_IMAGES], ts[DFUMGR_N_IMAGES];
	struct dfumgr_image ip[DFUMGR_N_IMAGES], is[DFUMGR_N_IMAGES];
	struct dfumgr_image_version after[DFUMGR_N_IMAGES];
	bool pri_ok[DFUMGR_N_IMAGES], cand[DFUMGR_N_IMAGES], revert = false, changed;
	char msg[160];

	b->last_boot[0] = '\0';
	for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
		pri[i] = slot_of(b, dfu_area_primary(i));
		sec[i] = slot_of(b, dfu_area_secondary(i));
		tp[i] = read_trailer(&pri[i]);
		ts[i] = read_trailer(&sec[i]);
	}
	/* 1. a test swap that the application did not confirm is undone, for every image */
	for (int i = 0; i < DFUMGR_N_IMAGES; i++)
		revert |= tp[i].magic && tp[i].copy_done == DFUMGR_BOOT_FLAG_SET &&
			  tp[i].image_ok != DFUMGR_BOOT_FLAG_SET;
	if (revert) {
		for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
			if (!(tp[i].magic && tp[i].copy_done == DFUMGR_BOOT_FLAG_SET &&
			      tp[i].image_ok != DFUMGR_BOOT_FLAG_SET))
				continue;
			swap_slots(&pri[i], &sec[i]);
			write_trailer(&pri[i], true, true); /* the old image, now permanent */
			erase_trailer(&sec[i]);
			snprintf(msg, sizeof(msg), "reverted image %d", i);
			logf_append(b, msg);
		}
	} else {
		/* 2. upgrades: marked, valid secondaries whose dependencies are met */
		for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
			pri_ok[i] = slot_image(b, &pri[i], &ip[i]);
			cand[i] = ts[i].magic && (ts[i].swap_type == DFUMGR_SWAP_TYPE_TEST ||
						  ts[i].swap_type == DFUMGR_SWAP_TYPE_PERM);
			if (cand[i] && !slot_image(b, &sec[i], &is[i])) {
				snprintf(msg, sizeof(msg),
					 "image %d: secondary slot invalid, erased", i);
				logf_append(b, msg);
				erase_trailer(&sec[i]);
				cand[i] = false;
			}
		}
		do {
			changed = false;
			for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
				if (cand[i])
					after[i] = is[i].version;
				else if (pri_ok[i])
					after[i] = ip[i].version;
				else
					memset(&after[i], 0, sizeof(after[i]));
			}
			for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
				if (cand[i] && !deps_met(&is[i], after)) {
					snprintf(msg, sizeof(msg),
						 "image %d not swapped: its dependency is not met",
						 i);
					logf_append(b, msg);
					cand[i] = false;
					changed = true;
				}
			}
		} while (changed);
		for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
			bool perm;

			if (!cand[i])
				continue;
			perm = ts[i].swap_type == DFUMGR_SWAP_TYPE_PERM;
			swap_slots(&pri[i], &sec[i]);
			write_trailer(&pri[i], true, perm);
			erase_trailer(&sec[i]);
			snprintf(msg, sizeof(msg), "swapped image %d (%s)", i,
				 perm ? "perm" : "test");
			logf_append(b, msg);
		}
	}
	/* 3. the application: it needs image 1 at the version it was built against */
	for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
		pri_ok[i] = slot_image(b, &pri[i], &ip[i]);
		tp[i] = read_trailer(&pri[i]);
		after[i] = ip[i].version;
	}
	if (!pri_ok[0]) {
		b->app = EMU_APP_NONE;
		logf_append(b, "no bootable image 0");
		return;
	}
	if (!pri_ok[1] || !deps_met(&ip[0], after)) {
		/* XIP code missing or older than the application needs: it faults */
		b->app = EMU_APP_CRASHED;
		logf_append(b, "application crashed: image 1 does not match image 0");
		return;
	}
	b->app = EMU_APP_CONFIRMED;
	for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
		if (tp[i].magic && tp[i].image_ok != DFUMGR_BOOT_FLAG_SET) {
			/* the self-test passed: confirm, as boot_write_img_confirmed() would */
			pri[i].mem[pri[i].size - DFUMGR_TRAILER_IMAGE_OK_OFF] =
			    DFUMGR_BOOT_FLAG_SET;
			snprintf(msg, sizeof(msg), "application confirmed image %d", i);
			logf_append(b, msg);
		}
	}
	if (!b->last_boot[0])
		logf_append(b, "booted");
}
