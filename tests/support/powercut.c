/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_backend.h"
#include "powercut.h"
#include "dfumgr/bundle.h"
#include "dfumgr/image.h"
#include "dfumgr/keyring.h"
#include "dfumgr/pack.h"
#include "dfumgr/update.h"

struct pc {
	const struct powercut_opts *o;
	struct powercut_result *r;
	struct dfumgr_ctx *ctx;
	struct dfumgr_key *key;
	struct dfumgr_keyring *ring;
	struct dfumgr_bundle *bundle;
	char tmp[64];
	struct dfumgr_image_version old_v, new_v;
	/* the uncut update: which phase each write belongs to */
	uint8_t *phase;
	size_t n, cap;
	struct emu_board *b;
	bool booting;
	size_t boot_at;
	/* one board for every case: its flash goes back to the factory state in between */
	struct loop *loop;
	struct dfumgr_backend *be;
	uint8_t *factory[2];
};

const char *powercut_phase_name(enum powercut_phase p)
{
	static const char *const n[POWERCUT_PHASES] = {"download image 0", "download image 1",
						       "commit", "MCUboot swap", "confirm"};

	return (unsigned)p < POWERCUT_PHASES ? n[p] : "?";
}

const char *powercut_outcome_name(enum powercut_outcome o)
{
	static const char *const n[POWERCUT_OUTCOMES] = {"old pair", "new pair", "mixed",
							 "no boot"};

	return (unsigned)o < POWERCUT_OUTCOMES ? n[o] : "?";
}

static uint8_t *payload(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	for (size_t i = 0; p && i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	return p;
}

/* The new pair as a signed bundle on disk, opened and verified again as the CLI would. */
static int make_bundle(struct pc *p)
{
	struct dfumgr_pack_opts po = {.key = p->key, .product = EMU_DEFAULT_PRODUCT};
	struct dfumgr_pack_result res = {0};
	uint8_t *p0 = payload(p->o->size[0], 7), *p1 = payload(p->o->size[1], 8);
	char dir[128];
	int rc = -1;

	po.version = p->new_v;
	snprintf(dir, sizeof(dir), "%s/bundle", p->tmp);
	if (p0 && p1 &&
	    dfumgr_pack_payloads(p->ctx, p0, p->o->size[0], 0xc200, p1, p->o->size[1], 0x10120200,
				 &po, &res) == 0 &&
	    dfumgr_bundle_write(p->ctx, dir, &res.manifest, res.image, res.image_size, p->key) ==
		0 &&
	    dfumgr_bundle_open(p->ctx, dir, p->ring, 0, NULL, &p->bundle) == 0)
		rc = 0;
	dfumgr_pack_result_done(&res);
	free(p0);
	free(p1);
	return rc;
}

static void on_write(void *user, const struct emu_flash_write *w)
{
	struct pc *p = user;
	enum powercut_phase ph;

	(void)w;
	if (p->booting)
		ph = POWERCUT_SWAP; /* split from the confirm once MCUboot's count is known */
	else if (p->b->dev.commit_state == DFUMGR_COMMIT_CHECKING)
		ph = POWERCUT_COMMIT;
	else
		ph = p->b->dev.alt == 0 ? POWERCUT_DOWNLOAD0 : POWERCUT_DOWNLOAD1;
	if (p->n == p->cap) {
		uint8_t *np = realloc(p->phase, p->cap ? 2 * p->cap : 1024);

		if (!np)
			return;
		p->phase = np;
		p->cap = p->cap ? 2 * p->cap : 1024;
	}
	p->phase[p->n++] = (uint8_t)ph;
}

static void on_pre_boot(struct loop *l, unsigned i, void *user)
{
	struct pc *p = user;

	(void)l;
	(void)i;
	if (!p->booting) {
		p->booting = true;
		p->boot_at = p->n;
	}
}

/* What the board runs once it has settled: its primary slots, and whether it runs at all. */
static enum powercut_outcome settled(struct pc *p, struct loop *l, char *desc, size_t cap)
{
	struct loop_board *lb = &l->boards[0];
	struct dfumgr_image_version v[2];
	bool ok[2];
	int old = 0, new = 0;

	loop_advance(l, 10000000);
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		uint32_t base;
		struct emu_flash *f = emu_board_area(&lb->b, dfu_area_primary(i), &base);
		struct dfumgr_image img;

		ok[i] = dfumgr_image_parse(NULL, f->mem + base,
					   i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE,
					   &img) == 0 &&
			dfumgr_image_check_hash(NULL, &img, NULL) == 0;
		v[i] = img.version;
		if (ok[i] && dfumgr_version_cmp(&v[i], &p->old_v) == 0)
			old++;
		else if (ok[i] && dfumgr_version_cmp(&v[i], &p->new_v) == 0)
			new ++;
	}
	snprintf(desc, cap, "%s, app %d, %s", lb->present ? "present" : "absent", lb->b.app,
		 lb->b.last_boot);
	if (old + new == 2 && old &&new)
		return POWERCUT_MIXED;
	if (!lb->present || (lb->b.app != EMU_APP_CONFIRMED && lb->b.app != EMU_APP_TESTING) ||
	    old + new != 2)
		return POWERCUT_NO_BOOT;
	return old == 2 ? POWERCUT_OLD : POWERCUT_NEW;
}

static struct emu_flash *dev_of(struct emu_board *b, int d)
{
	return d ? &b->qspi : &b->internal;
}

/* The board as it left the factory, powered on: what changed since is copied back. */
static void factory_reset(struct pc *p)
{
	struct loop_board *lb = &p->loop->boards[0];

	for (int d = 0; d < 2; d++) {
		struct emu_flash *f = dev_of(&lb->b, d);

		for (uint32_t k = 0; k < f->size / f->erase_unit; k++)
			if (emu_flash_dirty(f, k))
				emu_flash_write_raw(f, k * f->erase_unit,
						    p->factory[d] + k * f->erase_unit,
						    f->erase_unit);
		emu_flash_dirty_clear(f);
	}
	emu_power_restore(&lb->b.power);
	lb->b.mode = EMU_MODE_OFF;
	lb->present = false;
	lb->gen++;
	lb->crash_boots = 0;
	lb->plug_at_us = p->loop->now_us + 1;
	lb->boot_first = true;
	loop_advance(p->loop, 1000000);
}

static int open_board(struct pc *p)
{
	struct emu_board *b;

	p->loop = loop_new(1, false);
	p->be = p->loop ? loop_backend(p->loop) : NULL;
	if (!p->be)
		return -1;
	b = &p->loop->boards[0].b;
	b->mcuboot_strategy = (enum emu_mcuboot_strategy)p->o->strategy;
	for (int d = 0; d < 2; d++) {
		struct emu_flash *f = dev_of(b, d);

		p->factory[d] = malloc(f->size);
		if (!p->factory[d])
			return -1;
		memcpy(p->factory[d], f->mem, f->size);
		emu_flash_dirty_clear(f);
	}
	return 0;
}

/* One update from the factory state, the power cut after write `cut` (0: never). */
static int one_case(struct pc *p, unsigned cut, bool reference)
{
	struct loop *l = p->loop;
	struct dfumgr_backend *be = p->be;
	struct dfumgr_update_opts uo = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report rep = DFUMGR_UPDATE_REPORT_INIT;
	struct emu_board *b = &l->boards[0].b;
	enum powercut_outcome out;
	char desc[300];
	int rc, rerun = 0;

	factory_reset(p);
	p->b = b;
	b->power.trace = reference ? on_write : NULL;
	b->power.trace_user = p;
	l->pre_boot = reference ? on_pre_boot : NULL;
	l->pre_boot_user = p;
	emu_power_arm(&b->power, cut ? cut : UINT64_MAX);
	rc = dfumgr_update(p->ctx, be, p->bundle, &uo, &rep);
	if (reference) {
		/* after MCUboot's own writes come the application's (the confirm) */
		for (size_t i = p->boot_at + b->mcuboot.writes; p->booting && i < p->n; i++)
			p->phase[i] = POWERCUT_CONFIRM;
		p->r->swap_us = b->mcuboot.busy_us;
		p->r->mcuboot = b->mcuboot;
		b->power.trace = NULL;
		l->pre_boot = NULL;
		if (rc == 0 && !p->booting)
			rc = -1;
		return rc;
	}
	out = settled(p, l, desc, sizeof(desc));
	if (out != POWERCUT_NO_BOOT) {
		/* the second update, no cut: it must install the new pair */
		rerun = dfumgr_update(p->ctx, be, p->bundle, &uo, &rep);
		char after[300];

		if (rerun == 0 && settled(p, l, after, sizeof(after)) != POWERCUT_NEW)
			rerun = -1;
	}
	if (out == POWERCUT_NO_BOOT || rerun != 0)
		p->r->rerun_failed++;
	{
		enum powercut_phase ph = (enum powercut_phase)p->phase[cut - 1];

		p->r->count[ph][out]++;
		p->r->outcome[out]++;
		p->r->cases++;
		if ((out == POWERCUT_MIXED || out == POWERCUT_NO_BOOT || rerun != 0) &&
		    !p->r->first_bad[0])
			snprintf(p->r->first_bad, sizeof(p->r->first_bad),
				 "cut after write %u (%s): %s; re-run %s: %.160s", cut,
				 powercut_phase_name(ph), powercut_outcome_name(out),
				 rerun ? "failed" : "ok", desc);
		if (p->o->verbose)
			printf("  cut after write %4u (%s): %s (update: %s); re-run %s; %s\n", cut,
			       powercut_phase_name(ph), powercut_outcome_name(out),
			       rc ? "failed" : "ok", rerun ? "FAILED" : "ok", desc);
	}
	return 0;
}

int powercut_run(const struct powercut_opts *o, struct powercut_result *r)
{
	struct pc p = {.o = o, .r = r};
	char path[512], cmd[128];
	int rc = -1;

	memset(r, 0, sizeof(*r));
	snprintf(p.tmp, sizeof(p.tmp), "/tmp/dfumgr-powercut-XXXXXX");
	p.ctx = dfumgr_ctx_new();
	if (!p.ctx || !mkdtemp(p.tmp))
		goto out;
	p.old_v = (struct dfumgr_image_version){1, 0, 0, 0}; /* the boards' factory pair */
	snprintf(path, sizeof(path), "%s/key-A.pem", o->data_dir);
	if (dfumgr_version_parse(o->new_version, &p.new_v) < 0 ||
	    dfumgr_key_load(p.ctx, path, &p.key) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/key-A-pub.pem", o->data_dir);
	if (dfumgr_keyring_load(p.ctx, path, &p.ring) < 0 || make_bundle(&p) < 0)
		goto out;
	if (open_board(&p) < 0) {
		fprintf(stderr, "powercut: cannot set up the emulated board\n");
		goto out;
	}
	/* the uncut update, to count and classify its writes */
	if (one_case(&p, 0, true) != 0) {
		fprintf(stderr, "powercut: the update without a cut failed: %s\n",
			dfumgr_ctx_errmsg(p.ctx));
		goto out;
	}
	r->writes = (unsigned)p.n;
	for (size_t i = 0; i < p.n; i++)
		r->phase_writes[p.phase[i]]++;
	for (unsigned cut = 1, in_phase = 0; cut <= r->writes && !o->no_cuts; cut++) {
		enum powercut_phase ph = (enum powercut_phase)p.phase[cut - 1];
		bool first = cut == 1 || p.phase[cut - 2] != ph;
		bool last = cut == r->writes || p.phase[cut] != ph;

		unsigned stride =
		    ph == POWERCUT_SWAP && o->swap_stride ? o->swap_stride : o->stride;

		in_phase = first ? 0 : in_phase + 1;
		/* the commit's and the confirm's few writes, and each phase's ends, always */
		if (stride > 1 && ph != POWERCUT_COMMIT && ph != POWERCUT_CONFIRM && !first &&
		    !last && in_phase % stride)
			continue;
		if (one_case(&p, cut, false) < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "powercut: %s\n",
			p.ctx ? dfumgr_ctx_errmsg(p.ctx) : "out of memory");
	dfumgr_backend_free(p.be);
	loop_free(p.loop);
	free(p.factory[0]);
	free(p.factory[1]);
	dfumgr_bundle_free(p.bundle);
	dfumgr_keyring_free(p.ring);
	dfumgr_key_free(p.key);
	dfumgr_ctx_free(p.ctx);
	free(p.phase);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p.tmp);
	if (p.tmp[0] == '/' && system(cmd) != 0)
		fprintf(stderr, "powercut: could not remove %s\n", p.tmp);
	return rc;
}

void powercut_print(const struct powercut_result *r)
{
	printf("%-18s %6s %6s %8s %8s %6s %8s\n", "cut in", "writes", "cases", "old pair",
	       "new pair", "mixed", "no boot");
	for (int ph = 0; ph < POWERCUT_PHASES; ph++) {
		unsigned n = 0;

		for (int k = 0; k < POWERCUT_OUTCOMES; k++)
			n += r->count[ph][k];
		printf("%-18s %6u %6u %8u %8u %6u %8u\n",
		       powercut_phase_name((enum powercut_phase)ph), r->phase_writes[ph], n,
		       r->count[ph][POWERCUT_OLD], r->count[ph][POWERCUT_NEW],
		       r->count[ph][POWERCUT_MIXED], r->count[ph][POWERCUT_NO_BOOT]);
	}
	printf("%-18s %6u %6u %8u %8u %6u %8u\n", "total", r->writes, r->cases,
	       r->outcome[POWERCUT_OLD], r->outcome[POWERCUT_NEW], r->outcome[POWERCUT_MIXED],
	       r->outcome[POWERCUT_NO_BOOT]);
	printf("re-runs of the update that failed: %u\n", r->rerun_failed);
	if (r->first_bad[0])
		printf("first bad case: %s\n", r->first_bad);
}
