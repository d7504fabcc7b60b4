/* SPDX-License-Identifier: MIT */
/*
 * MCUboot's own bootutil (built for the host: bootutil_port.h) and firmware/emu's MCUboot model,
 * booted side by side on identical copies of a board's flash, for every state of the pair-rule
 * state table (docs/pair-rule.md): after each flash write of the download of both images, of the
 * commit, of MCUboot's swap and of the application's confirm, for upgrade, same-version and
 * downgrade pairs, with the dependency rules old and new.
 *
 * How the states are made: an emulated board (the loop backend: firmware/core on the flash
 * model) is updated by the host library's own requests (detach, download, commit, reboot) and
 * then boots (the model's swap, the application's confirm); every flash write it makes is
 * recorded. The state after write N is the starting flash plus the first N writes, i.e. exactly
 * what "cut power after write N" leaves. From each such state both implementations boot; when
 * that boot writes anything, it is also cut after each of its writes k, both again, and then
 * booted once more from there ("boot again").
 *
 * Agreement means: the same outcome (boots, no bootable image, hangs, power lost), the same swap
 * type per image, the same number of flash writes and the same datasheet time for them, and
 * byte-identical flash afterwards. Exit status 0 only when every state agrees.
 *
 * usage: test_bootutil [--quick] [--verbose]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bootutil_port.h"
#include "loop_backend.h"
#include "mcuboot.h"
#include "dfumgr/crypto.h"
#include "dfumgr/dfu.h"
#include "dfumgr/image.h"
#include "dfumgr/shim.h"

#define KIB 1024u

/* ---- the pairs ---- */

enum deps {
	DEPS_NONE = 0,
	DEPS_ONE_WAY = 1, /* image 0 needs image 1 >= its own version (dfu-mgr pack until v2) */
	DEPS_MUTUAL = 2,  /* each needs the other at its own version (the pair rule) */
};

struct pair_spec {
	const char *version;
	uint32_t size[2]; /* payload bytes */
	enum deps deps;
};

struct scenario {
	const char *name;
	struct pair_spec old, new;
	bool permanent;
	/* a stock DFU tool: image 1 alone, imgtool --pad with the trailer (pending), no commit */
	bool padded_image1_only;
	bool quick; /* part of --quick */
};

static const struct scenario scenarios[] = {
    {"upgrade, mutual dependencies",
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_MUTUAL},
     {"2.0.0+0", {12 * KIB, 36 * KIB}, DEPS_MUTUAL},
     false,
     false,
     true},
    {"upgrade, one-way dependency",
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_ONE_WAY},
     {"2.0.0+0", {14 * KIB, 25 * KIB}, DEPS_ONE_WAY},
     false,
     false,
     false},
    {"upgrade, permanent",
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_MUTUAL},
     {"1.1.0+0", {9 * KIB, 33 * KIB}, DEPS_MUTUAL},
     true,
     false,
     false},
    {"same version, other bytes",
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_MUTUAL},
     {"1.0.0+0", {11 * KIB, 29 * KIB}, DEPS_MUTUAL},
     false,
     false,
     false},
    {"build number only",
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_MUTUAL},
     {"1.0.0+1", {10 * KIB, 31 * KIB}, DEPS_MUTUAL},
     false,
     false,
     true},
    {"downgrade",
     {"2.0.0+0", {10 * KIB, 30 * KIB}, DEPS_MUTUAL},
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_MUTUAL},
     false,
     false,
     false},
    {"downgrade, one-way dependency",
     {"2.0.0+0", {10 * KIB, 30 * KIB}, DEPS_ONE_WAY},
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_ONE_WAY},
     false,
     false,
     false},
    {"image 0 larger than image 1 (mcuboot#1768)",
     {"1.0.0+0", {40 * KIB, 8 * KIB}, DEPS_MUTUAL},
     {"2.0.0+0", {44 * KIB, 9 * KIB}, DEPS_MUTUAL},
     false,
     false,
     true},
    {"stock tool: padded image 1 with its trailer",
     {"1.0.0+0", {10 * KIB, 30 * KIB}, DEPS_NONE},
     {"2.0.0+0", {12 * KIB, 20 * KIB}, DEPS_NONE},
     false,
     true,
     false},
};

/* ---- one recorded flash write ---- */

struct rec {
	uint8_t dev; /* 0 internal, 1 qspi */
	bool erase;
	uint32_t off, len;
	uint8_t *after; /* a program's bytes as they are in flash afterwards */
};

enum phase { PH_DL0, PH_DL1, PH_COMMIT, PH_SWAP, PH_CONFIRM, PH_COUNT, PH_DAMAGE = PH_COUNT };
static const char *const phase_names[PH_COUNT + 1] = {
    "download image 0", "download image 1", "commit", "MCUboot", "confirm", "damaged"};

struct t {
	bool quick, verbose;
	struct emu_board side[3]; /* 0: the model, 1: bootutil, 2: the reference state */
	char dir[64];
	struct dfumgr_ctx *ctx;
	struct dfumgr_key *key; /* signs the images; the model checks with it */
	bool sign;
	/* the current scenario */
	const struct scenario *sc;
	struct loop *loop;
	struct dfumgr_backend *be;
	struct rec *trace;
	size_t n_trace, cap_trace;
	bool recording;
	size_t bound[PH_COUNT + 1]; /* first write of each phase */
	bool booted;
	/* counts */
	unsigned long states, agreed, disagreed, per_phase[PH_COUNT + 1];
	unsigned timeout_ms;            /* before bootutil counts as hung */
	struct emu_mcuboot_result last; /* the model's, of the last comparison */
	unsigned long sc_states, sc_agreed;
};

static struct t T;

static void die(const char *what)
{
	fprintf(stderr, "test_bootutil: %s\n", what);
	exit(1);
}

static struct emu_flash *dev_of(struct emu_board *b, int dev)
{
	return dev ? &b->qspi : &b->internal;
}

/* ---- recording the live board's writes ---- */

static void on_write(void *user, const struct emu_flash_write *w)
{
	struct emu_board *b = user;
	struct rec *r;

	if (!T.recording)
		return;
	if (T.n_trace == T.cap_trace) {
		T.cap_trace = T.cap_trace ? 2 * T.cap_trace : 1024;
		T.trace = realloc(T.trace, T.cap_trace * sizeof(*T.trace));
		if (!T.trace)
			die("out of memory");
	}
	r = &T.trace[T.n_trace++];
	r->dev = w->flash == &b->qspi;
	r->erase = w->erase;
	r->off = w->off;
	r->len = w->len;
	r->after = NULL;
	if (!w->erase) {
		r->after = malloc(w->len);
		if (!r->after)
			die("out of memory");
		memcpy(r->after, w->flash->mem + w->off, w->len);
	}
}

static void on_pre_boot(struct loop *l, unsigned i, void *user)
{
	(void)l;
	(void)i;
	(void)user;
	if (T.recording && !T.booted) {
		T.booted = true;
		T.bound[PH_SWAP] = T.n_trace;
	}
}

static void trace_free(void)
{
	for (size_t i = 0; i < T.n_trace; i++)
		free(T.trace[i].after);
	T.n_trace = 0;
}

/* ---- the reference state and the two sides ---- */

static void apply(struct emu_board *b, const struct rec *r)
{
	static uint8_t ff[4096];
	struct emu_flash *f = dev_of(b, r->dev);

	if (!r->erase) {
		emu_flash_write_raw(f, r->off, r->after, r->len);
		return;
	}
	memset(ff, 0xff, sizeof(ff));
	for (uint32_t done = 0; done < r->len; done += sizeof(ff))
		emu_flash_write_raw(f, r->off + done, ff,
				    r->len - done < sizeof(ff) ? r->len - done
							       : (uint32_t)sizeof(ff));
}

/* Makes both sides equal to the reference state, copying only what differs. */
static void sync_sides(void)
{
	struct emu_board *m = &T.side[0], *u = &T.side[1], *s = &T.side[2];

	for (int d = 0; d < 2; d++) {
		struct emu_flash *fm = dev_of(m, d), *fu = dev_of(u, d), *fs = dev_of(s, d);
		uint32_t unit = fs->erase_unit;

		for (uint32_t k = 0; k < fs->size / unit; k++) {
			if (!emu_flash_dirty(fm, k) && !emu_flash_dirty(fu, k) &&
			    !emu_flash_dirty(fs, k))
				continue;
			memcpy(fm->mem + k * unit, fs->mem + k * unit, unit);
			memcpy(fu->mem + k * unit, fs->mem + k * unit, unit);
		}
		emu_flash_dirty_clear(fm);
		emu_flash_dirty_clear(fu);
		emu_flash_dirty_clear(fs);
	}
}

/* The first byte where the two sides differ; false if none. */
static bool first_difference(int *ret_dev, uint32_t *ret_off)
{
	for (int d = 0; d < 2; d++) {
		struct emu_flash *fm = dev_of(&T.side[0], d), *fu = dev_of(&T.side[1], d);
		uint32_t unit = fm->erase_unit;

		for (uint32_t k = 0; k < fm->size / unit; k++) {
			if (!emu_flash_dirty(fm, k) && !emu_flash_dirty(fu, k))
				continue;
			for (uint32_t i = 0; i < unit; i++) {
				if (fm->mem[k * unit + i] != fu->mem[k * unit + i]) {
					*ret_dev = d;
					*ret_off = k * unit + i;
					return true;
				}
			}
		}
	}
	return false;
}

/*
 * One state: both boot (cut after `cut` writes, 0 for none) from what the sides hold. Returns
 * the writes the model made, or -1 when the two disagree.
 */
static long compare_boot(const char *what, size_t n, enum phase ph, uint64_t cut)
{
	struct emu_mcuboot_result mr;
	struct bootutil_run ur;
	char why[256] = "";
	int dev;
	uint32_t off;

	emu_power_arm(&T.side[0].power, cut ? cut : UINT64_MAX);
	emu_power_arm(&T.side[1].power, cut ? cut : UINT64_MAX);
	emu_mcuboot_boot(&T.side[0], &mr);
	T.last = mr;
	bootutil_port_boot(&ur, T.timeout_ms);
	emu_power_restore(&T.side[0].power);
	emu_power_restore(&T.side[1].power);

	if ((int)mr.outcome != ur.outcome)
		snprintf(why, sizeof(why), "outcome: model %s, bootutil %s",
			 emu_mcuboot_outcome_name(mr.outcome),
			 emu_mcuboot_outcome_name((enum emu_mcuboot_outcome)ur.outcome));
	else if (mr.outcome != EMU_MCUBOOT_POWER_LOST && mr.outcome != EMU_MCUBOOT_HANG &&
		 (mr.swap_type[0] != ur.swap_type[0] || mr.swap_type[1] != ur.swap_type[1]))
		snprintf(
		    why, sizeof(why), "swap types: model %s/%s, bootutil %s/%s",
		    emu_mcuboot_swap_name(mr.swap_type[0]), emu_mcuboot_swap_name(mr.swap_type[1]),
		    emu_mcuboot_swap_name(ur.swap_type[0]), emu_mcuboot_swap_name(ur.swap_type[1]));
	else if (mr.writes != ur.writes)
		snprintf(why, sizeof(why), "flash writes: model %llu, bootutil %llu",
			 (unsigned long long)mr.writes, (unsigned long long)ur.writes);
	else if (mr.busy_us != ur.busy_us)
		snprintf(why, sizeof(why), "flash time: model %llu us, bootutil %llu us",
			 (unsigned long long)mr.busy_us, (unsigned long long)ur.busy_us);
	else if (first_difference(&dev, &off))
		snprintf(why, sizeof(why),
			 "flash differs: %s 0x%06x: model 0x%02x, bootutil 0x%02x",
			 dev ? "qspi" : "internal", off, dev_of(&T.side[0], dev)->mem[off],
			 dev_of(&T.side[1], dev)->mem[off]);

	T.states++;
	T.sc_states++;
	T.per_phase[ph]++;
	if (T.verbose)
		printf("    [%s] write %zu%s%s: %s, %llu writes, %s/%s; %s\n", phase_names[ph], n,
		       cut ? ", cut " : "", what, emu_mcuboot_outcome_name(mr.outcome),
		       (unsigned long long)mr.writes, emu_mcuboot_swap_name(mr.swap_type[0]),
		       emu_mcuboot_swap_name(mr.swap_type[1]), mr.log);
	if (why[0]) {
		T.disagreed++;
		if (T.disagreed <= 20)
			printf("  DISAGREE: %s: state after write %zu (%s)%s%s: %s\n  model: %s\n",
			       T.sc->name, n, phase_names[ph], cut ? ", MCUboot " : "", what, why,
			       mr.log);
		return -1;
	}
	T.agreed++;
	T.sc_agreed++;
	return (long)mr.writes;
}

/* ---- images and the live board ---- */

static uint8_t *payload(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
	return p;
}

static void build(const struct pair_spec *ps, unsigned i, uint32_t seed, bool pad, uint8_t **ret,
		  size_t *ret_size)
{
	struct dfumgr_image_build_opts o = {.header_size = 0x200, .pad_header = true};
	uint8_t *p = payload(ps->size[i], seed);

	if (dfumgr_version_parse(ps->version, &o.version) < 0)
		die("bad version");
	if (ps->deps == DEPS_MUTUAL || (ps->deps == DEPS_ONE_WAY && i == 0)) {
		o.n_deps = 1;
		o.deps[0].image_id = (uint8_t)(1 - i);
		o.deps[0].min_version = o.version;
	}
	o.key = T.sign ? T.key : NULL;
	if (pad) {
		o.pad = true;
		o.slot.slot_size = i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
		o.slot.align = DFUMGR_MCUBOOT_WRITE_SIZE;
		o.slot.max_sectors = DFUMGR_MCUBOOT_MAX_SECTORS;
	}
	if (dfumgr_image_build(T.ctx, p, ps->size[i], &o, ret, ret_size) < 0)
		die(dfumgr_ctx_errmsg(T.ctx));
	free(p);
}

static void erase_raw(struct emu_flash *f, uint32_t off, uint32_t len)
{
	uint8_t *ff = malloc(len);

	if (!ff)
		die("out of memory");
	memset(ff, 0xff, len);
	emu_flash_write_raw(f, off, ff, len);
	free(ff);
}

static void power_cycle(void)
{
	struct loop_board *lb = &T.loop->boards[0];

	lb->b.mode = EMU_MODE_OFF;
	lb->present = false;
	lb->gen++;
	lb->plug_at_us = T.loop->now_us + 1;
	lb->boot_first = true;
	loop_advance(T.loop, 2000000);
}

/* The live board, running the old pair, with its flash copied to the reference state. */
static void live_board(const struct scenario *sc)
{
	struct emu_board *b;
	uint32_t base;

	T.loop = loop_new(1, false);
	if (!T.loop)
		die("loop_new");
	T.be = loop_backend(T.loop);
	b = &T.loop->boards[0].b;
	b->mcuboot_key = T.sign ? T.key : NULL;
	b->version_cmp_build = bootutil_port_build_number();
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		uint8_t *img;
		size_t n;
		struct emu_flash *f = emu_board_area(b, dfu_area_primary(i), &base);

		erase_raw(f, base, i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE);
		build(&sc->old, i, 100 + i, false, &img, &n);
		emu_flash_write_raw(f, base, img, (uint32_t)n);
		free(img);
		f = emu_board_area(b, dfu_area_secondary(i), &base);
		erase_raw(f, base, i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE);
	}
	power_cycle();
	for (int d = 0; d < 2; d++)
		emu_flash_write_raw(dev_of(&T.side[2], d), 0, dev_of(b, d)->mem,
				    dev_of(b, d)->size);
	b->power.trace = on_write;
	b->power.trace_user = b;
	T.loop->pre_boot = on_pre_boot;
}

static int open_board(bool dfu_mode, struct dfumgr_dev **ret)
{
	struct dfumgr_device_info info;
	struct dfumgr_board_id id = {.vid = DFUMGR_USB_VID};
	int rc;

	snprintf(id.serial, sizeof(id.serial), "%s", T.loop->boards[0].b.serial);
	snprintf(id.path, sizeof(id.path), "9-%u", T.loop->boards[0].port);
	rc = dfumgr_board_wait(T.ctx, T.be, &id, dfu_mode, 10000, NULL, &info);

	return rc < 0 ? rc : dfumgr_dev_open_info(T.ctx, T.be, &info, ret);
}

/*
 * What the board refuses (a pair the pair rule forbids, a padded image from a stock tool) could
 * still be in flash from another tool or older firmware: MCUboot's side of such a state is
 * compared too. These write it the way such a tool would, through the live board's flash so
 * that the writes are part of the recorded sequence.
 */
static void direct_download(unsigned image, const uint8_t *img, size_t n)
{
	struct emu_board *b = &T.loop->boards[0].b;
	uint32_t base, cost = 0;
	struct emu_flash *f = emu_board_area(b, dfu_area_secondary(image), &base);

	for (uint32_t off = 0; off < n; off += DFUMGR_TRANSFER_SIZE) {
		uint32_t len =
		    n - off < DFUMGR_TRANSFER_SIZE ? (uint32_t)(n - off) : DFUMGR_TRANSFER_SIZE;

		emu_flash_erase(f, base + off, DFUMGR_TRANSFER_SIZE, &cost);
		emu_flash_program(f, base + off, img + off, len, &cost);
	}
}

/* bootutil_public.c boot_set_pending_multi(): magic, image_ok if permanent, swap_info */
static void direct_mark(unsigned image, bool permanent)
{
	static const uint8_t magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					  0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
	struct emu_board *b = &T.loop->boards[0].b;
	uint32_t base, cost = 0;
	uint32_t size = image == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
	struct emu_flash *f = emu_board_area(b, dfu_area_secondary(image), &base);
	uint8_t row[4] = {DFUMGR_BOOT_FLAG_SET, 0xff, 0xff, 0xff};

	emu_flash_program(f, base + size - DFUMGR_TRAILER_MAGIC_OFF, magic, 16, &cost);
	if (permanent)
		emu_flash_program(f, base + size - DFUMGR_TRAILER_IMAGE_OK_OFF, row, 4, &cost);
	row[0] = permanent ? DFUMGR_SWAP_TYPE_PERM : DFUMGR_SWAP_TYPE_TEST;
	emu_flash_program(f, base + size - DFUMGR_TRAILER_SWAP_INFO_OFF, row, 4, &cost);
}

/* The host's side of an update, as the library's requests make it; the board then boots. */
static void host_update(const struct scenario *sc)
{
	uint8_t *img[2] = {NULL, NULL}, sha[2][32];
	size_t n[2] = {0, 0};
	uint32_t len[2];
	struct dfumgr_dev *dev = NULL;

	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		build(&sc->new, i, 200 + i, sc->padded_image1_only && i == 1, &img[i], &n[i]);
		dfumgr_sha256(img[i], n[i], sha[i]);
		len[i] = (uint32_t)n[i];
	}
	T.recording = true;
	T.booted = false;
	if (open_board(false, &dev) < 0 || dfumgr_dfu_detach(dev) < 0)
		die(dfumgr_ctx_errmsg(T.ctx));
	dev = dfumgr_dev_close(dev);
	if (open_board(true, &dev) < 0)
		die(dfumgr_ctx_errmsg(T.ctx));
	T.bound[PH_DL0] = T.n_trace;
	if (!sc->padded_image1_only && dfumgr_dfu_download(dev, 0, img[0], n[0], NULL) < 0) {
		printf("  (download of image 0 refused, written directly: %s)\n",
		       dfumgr_ctx_errmsg(T.ctx));
		direct_download(0, img[0], n[0]);
	}
	T.bound[PH_DL1] = T.n_trace;
	if (dfumgr_dfu_download(dev, 1, img[1], n[1], NULL) < 0) {
		printf("  (download of image 1 refused, written directly: %s)\n",
		       dfumgr_ctx_errmsg(T.ctx));
		direct_download(1, img[1], n[1]);
	}
	T.bound[PH_COMMIT] = T.n_trace;
	if (!sc->padded_image1_only &&
	    dfumgr_shim_commit(dev, len, (const uint8_t(*)[32])sha, sc->permanent, NULL) < 0) {
		printf("  (commit refused, both marked directly: %s)\n", dfumgr_ctx_errmsg(T.ctx));
		direct_mark(0, sc->permanent);
		direct_mark(1, sc->permanent);
	}
	if (dfumgr_shim_reboot(dev) < 0)
		die(dfumgr_ctx_errmsg(T.ctx));
	dfumgr_dev_close(dev);
	loop_advance(T.loop, 5000000);
	if (!T.booted)
		die("the board did not boot after REBOOT");
	T.bound[PH_CONFIRM] = T.bound[PH_SWAP] + T.loop->boards[0].b.mcuboot.writes;
	T.bound[PH_COUNT] = T.n_trace;
	T.recording = false;
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
		free(img[i]);
}

static enum phase phase_of(size_t n)
{
	/* the state after write n belongs to the phase of write n (write 0: before any) */
	for (int p = PH_COUNT - 1; p >= 0; p--)
		if (n > T.bound[p])
			return (enum phase)p;
	return PH_DL0;
}

/*
 * The confirm in the other order (image 1 first, as the firmware did before protocol 2), cut
 * between its two writes: image_ok in image 1's primary alone, on top of the swapped state.
 */
static void set_image1_ok(void)
{
	const uint8_t ok[4] = {DFUMGR_BOOT_FLAG_SET, 0xff, 0xff, 0xff};

	for (int side = 0; side < 2; side++) {
		uint32_t base;
		struct emu_flash *f = emu_board_area(&T.side[side], DFU_AREA_IMG1_PRIMARY, &base);

		emu_flash_write_raw(f, base + DFUMGR_IMG1_SLOT_SIZE - DFUMGR_TRAILER_IMAGE_OK_OFF,
				    ok, sizeof(ok));
	}
}

static void image1_confirmed_alone(size_t n)
{
	long k;

	set_image1_ok();
	k = compare_boot(" + image 1 confirmed alone", n, PH_CONFIRM, 0);
	for (long c = 1; c <= k; c++) {
		sync_sides();
		set_image1_ok();
		if (compare_boot(" + image 1 confirmed alone", n, PH_SWAP, (uint64_t)c) >= 0)
			compare_boot(" + image 1 confirmed alone, then boot again", n, PH_SWAP, 0);
	}
}

/* ---- damaged states ---- */

static uint32_t rnd(void)
{
	static uint32_t x = 0x9e3779b9u; /* fixed: every run compares the same states */

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* One damage: bytes of one slot, set to a value on both sides. */
struct damage {
	enum dfu_area area;
	uint32_t off, len;
	uint8_t buf[4096];
	char what[64];
};

/*
 * Trailers and headers as no tool writes them but a stock tool, a bad cell or older firmware
 * could leave them: a random field of a random slot set to a random value. The two must still
 * agree, hangs included.
 */
static void make_damage(struct damage *d)
{
	static const char *const slots[4] = {"image 0 primary", "image 0 secondary",
					     "image 1 primary", "image 1 secondary"};
	static const uint8_t magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					  0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

	uint32_t size, status, v = rnd(), base;
	const char *field;

	d->area = (enum dfu_area)(rnd() % 4);
	size = d->area <= DFU_AREA_IMG0_SECONDARY ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
	status =
	    size - dfumgr_wire_trailer_size(DFUMGR_MCUBOOT_MAX_SECTORS, DFUMGR_MCUBOOT_WRITE_SIZE,
					    DFUMGR_MCUBOOT_MAX_ALIGN);
	d->len = 1;
	memset(d->buf, 0xff, sizeof(d->buf));
	switch (rnd() % 9) {
	case 0:
		field = v % 3 == 0 ? "good magic" : v % 3 == 1 ? "damaged magic" : "erased magic";
		d->off = size - DFUMGR_TRAILER_MAGIC_OFF;
		d->len = 16;
		if (v % 3 != 2)
			memcpy(d->buf, magic, 16);
		if (v % 3 == 1)
			d->buf[(v >> 8) % 16] ^= (uint8_t)(1u << (v >> 16) % 8);
		break;
	case 1:
		field = "swap_info";
		d->off = size - DFUMGR_TRAILER_SWAP_INFO_OFF;
		d->buf[0] = (uint8_t)(v % 2 ? v >> 8 : (v >> 8) % 6);
		break;
	case 2:
	case 3:
		field = v % 2 ? "image_ok" : "copy_done";
		d->off =
		    size - (v % 2 ? DFUMGR_TRAILER_IMAGE_OK_OFF : DFUMGR_TRAILER_COPY_DONE_OFF);
		d->buf[0] = (uint8_t)((v >> 8) % 3 == 0   ? 0x01
				      : (v >> 8) % 3 == 1 ? 0xff
							  : v >> 16);
		break;
	case 4: {
		/*
		 * Sizes the slot can hold, or erased (bootutil loops forever on that). A larger
		 * one makes bootutil index its sector table out of bounds: undefined behaviour,
		 * which no model can agree with.
		 */
		const uint32_t sizes[] = {
		    0,          1, 4096, 4097, 0x10000, size / 2, dfumgr_wire_image_max(size, 4096),
		    0xffffffffu};
		uint32_t sz = sizes[(v >> 8) % (sizeof(sizes) / sizeof(sizes[0]))];

		field = "swap_size";
		d->off = size - DFUMGR_TRAILER_SWAP_SIZE_OFF;
		d->len = 4;
		memcpy(d->buf, &sz, 4);
		break;
	}
	case 5:
		/* the first k move entries, or swap entries, as a swap would have left them */
		field = v & 1 ? "swap status entries" : "move status entries";
		d->off =
		    status + (v & 1 ? DFUMGR_MCUBOOT_MAX_SECTORS * DFUMGR_MCUBOOT_WRITE_SIZE : 0);
		d->len = (1 + (v >> 8) % 40) * DFUMGR_MCUBOOT_WRITE_SIZE;
		for (uint32_t i = 0; i < d->len; i += DFUMGR_MCUBOOT_WRITE_SIZE)
			d->buf[i] = (uint8_t)(v & 1 ? 1 + i / DFUMGR_MCUBOOT_WRITE_SIZE % 2 : 1);
		break;
	case 6:
		field = "last sector erased";
		d->off = size - 4096;
		d->len = 4096;
		break;
	case 7:
		field = "a header bit flipped";
		d->off = (v >> 8) % 32;
		d->buf[0] = emu_board_area(&T.side[0], d->area, &base)->mem[base + d->off] ^
			    (uint8_t)(1u << (v >> 16) % 8);
		break;
	default:
		field = "first sector erased";
		d->off = 0;
		d->len = 4096;
		break;
	}
	snprintf(d->what, sizeof(d->what), "%s: %s", slots[d->area], field);
}

static void apply_damage(const struct damage *d)
{
	for (int side = 0; side < 2; side++) {
		uint32_t base;
		struct emu_flash *f = emu_board_area(&T.side[side], d->area, &base);

		emu_flash_write_raw(f, base + d->off, d->buf, d->len);
	}
}

/*
 * Once: image 1's swap_size erased in the middle of its swap. bootutil's find_last_idx() then
 * never ends; the model must say "hang" too (and the port's hang detection must work).
 */
static void hang_state(size_t n)
{
	struct damage d = {.area = DFU_AREA_IMG1_PRIMARY,
			   .off = DFUMGR_IMG1_SLOT_SIZE - DFUMGR_TRAILER_SWAP_SIZE_OFF,
			   .len = 4,
			   .what = "image 1 primary: swap_size erased mid-swap"};
	long k;

	memset(d.buf, 0xff, sizeof(d.buf));
	sync_sides();
	apply_damage(&d);
	k = compare_boot(" + image 1 primary: swap_size erased mid-swap", n, PH_DAMAGE, 0);
	if (k >= 0 && T.last.outcome != EMU_MCUBOOT_HANG) {
		T.disagreed++;
		printf("  DISAGREE: the hang case did not hang: %s\n", T.last.log);
	} else if (k >= 0) {
		printf("  a hang: both hang (%s)\n", T.last.log);
	}
}

/* count damaged states on top of state n; some of their boots are cut once too */
static void damaged_states(size_t n, unsigned count)
{
	static struct damage d[2];
	static bool hang_checked;

	if (!hang_checked && n == (T.bound[PH_SWAP] + T.bound[PH_CONFIRM]) / 2 &&
	    n > T.bound[PH_SWAP] + 100) {
		hang_checked = true;
		hang_state(n);
	}

	for (unsigned i = 0; i < count; i++) {
		unsigned nd = rnd() % 3 == 0 ? 2 : 1;
		char what[160];
		long k;

		sync_sides();
		for (unsigned j = 0; j < nd; j++) {
			make_damage(&d[j]);
			apply_damage(&d[j]);
		}
		snprintf(what, sizeof(what), " + %s%s%s", d[0].what, nd > 1 ? " + " : "",
			 nd > 1 ? d[1].what : "");
		k = compare_boot(what, n, PH_DAMAGE, 0);
		if (k > 0 && rnd() % 4 == 0) {
			uint64_t c = 1 + rnd() % (uint64_t)k;

			sync_sides();
			for (unsigned j = 0; j < nd; j++)
				apply_damage(&d[j]);
			if (compare_boot(what, n, PH_DAMAGE, c) >= 0)
				compare_boot(" then boot again", n, PH_DAMAGE, 0);
		}
	}
}

/* Every state of one scenario. */
static void run_scenario(const struct scenario *sc)
{
	struct timespec t0, t1;
	unsigned long sweeps = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	T.sc = sc;
	T.sc_states = T.sc_agreed = 0;
	live_board(sc);
	host_update(sc);
	printf("%s: %zu writes (download %zu + %zu, commit %zu, MCUboot %zu, confirm %zu); "
	       "the board: %s\n",
	       sc->name, T.n_trace, T.bound[PH_DL1] - T.bound[PH_DL0],
	       T.bound[PH_COMMIT] - T.bound[PH_DL1], T.bound[PH_SWAP] - T.bound[PH_COMMIT],
	       T.bound[PH_CONFIRM] - T.bound[PH_SWAP], T.bound[PH_COUNT] - T.bound[PH_CONFIRM],
	       T.loop->boards[0].b.last_boot);
	/* the writes before the first download (the detach) are none: the trace starts there */
	for (size_t n = 0; n <= T.n_trace; n++) {
		enum phase ph = phase_of(n);
		long k;

		if (n > 0)
			apply(&T.side[2], &T.trace[n - 1]);
		sync_sides();
		if (n == T.bound[PH_CONFIRM] && n < T.bound[PH_COUNT]) {
			image1_confirmed_alone(n);
			sync_sides();
		}
		/* damaged states on top of: the commit done, the middle of the swap, the swap done
		 */
		if (n == T.bound[PH_SWAP] || n == T.bound[PH_CONFIRM] ||
		    n == (T.bound[PH_SWAP] + T.bound[PH_CONFIRM]) / 2) {
			damaged_states(n, T.quick ? 20 : 60);
			sync_sides();
		}
		k = compare_boot("", n, ph, 0);
		/*
		 * A boot that writes: cut it after each of its writes, then boot again. Inside
		 * MCUboot's own writes the uncut boot from there is the resumed swap, already a
		 * state of its own; those are swept in full mode only (quadratic).
		 */
		if (k <= 0 || (ph == PH_SWAP && (T.quick || n % 16 != 0)))
			continue;
		sweeps++;
		for (long c = 1; c <= k; c++) {
			sync_sides();
			if (compare_boot("", n, PH_SWAP, (uint64_t)c) >= 0)
				compare_boot(" then boot again", n, PH_SWAP, 0);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("  %lu states compared, %lu agree (%lu boots cut at every write) in %.1f s\n",
	       T.sc_states, T.sc_agreed, sweeps,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	trace_free();
	dfumgr_backend_free(T.be);
	loop_free(T.loop);
	T.loop = NULL;
}

static void open_sides(void)
{
	static const char *const names[3] = {"model", "bootutil", "state"};
	char path[128];

	snprintf(T.dir, sizeof(T.dir), "/tmp/dfumgr-bootutil-XXXXXX");
	if (!mkdtemp(T.dir))
		die("mkdtemp");
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", T.dir, names[i]);
		if (emu_board_open(&T.side[i], (unsigned)i, names[i], path, false,
				   T.sign ? T.key : NULL) < 0)
			die("emu_board_open");
		T.side[i].version_cmp_build = bootutil_port_build_number();
	}
}

static uint8_t *read_file(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(4096);
	size_t n;

	if (!f || !buf)
		die(path);
	n = fread(buf, 1, 4096, f);
	fclose(f);
	*ret_size = n;
	return buf;
}

int main(int argc, char **argv)
{
	const char *data = getenv("DFUMGR_TEST_DATA");
	char path[512], cmd[600];
	uint8_t *der;
	size_t der_len;
	unsigned n_sc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			T.quick = true;
		else if (!strcmp(argv[i], "--verbose"))
			T.verbose = true;
		else
			die("usage: test_bootutil [--quick] [--verbose]");
	}
	if (!data)
		die("DFUMGR_TEST_DATA is not set");
	T.ctx = dfumgr_ctx_new();
	T.sign = bootutil_port_signed();
	T.timeout_ms = 5000;
	snprintf(path, sizeof(path), "%s/key-A.pem", data);
	if (dfumgr_key_load(T.ctx, path, &T.key) < 0)
		die(dfumgr_ctx_errmsg(T.ctx));
	snprintf(path, sizeof(path), "%s/key-A-pub.der", data);
	der = read_file(path, &der_len);
	open_sides();
	if (bootutil_port_init(&T.side[1].internal, &T.side[1].qspi, der, der_len) < 0)
		die("bootutil_port_init");
	printf("bootutil: %s\n", bootutil_port_config());
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (T.quick && !scenarios[i].quick)
			continue;
		run_scenario(&scenarios[i]);
		n_sc++;
	}
	printf("bootutil vs model: %lu states compared in %u scenarios, %lu agree, %lu disagree",
	       T.states, n_sc, T.agreed, T.disagreed);
	printf(" (download %lu, commit %lu, MCUboot %lu, confirm %lu, damaged %lu)\n",
	       T.per_phase[PH_DL0] + T.per_phase[PH_DL1], T.per_phase[PH_COMMIT],
	       T.per_phase[PH_SWAP], T.per_phase[PH_CONFIRM], T.per_phase[PH_DAMAGE]);
	for (int i = 0; i < 3; i++)
		emu_board_close(&T.side[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_bootutil: could not remove %s\n", T.dir);
	free(der);
	free(T.trace);
	dfumgr_key_free(T.key);
	dfumgr_ctx_free(T.ctx);
	return T.disagreed ? 1 : 0;
}
