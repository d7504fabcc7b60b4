/* SPDX-License-Identifier: MIT */
/* The paired update engine: the flow of ARCHITECTURE §1, all of it here, none in the CLI. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dev_internal.h"
#include "dfumgr/board.h"
#include "dfumgr/shim.h"
#include "dfumgr/shim_info.h"
#include "dfumgr/update.h"
#include "dfumgr/wire.h"

#define DEFAULT_RETRIES           2
#define DEFAULT_REENUM_TIMEOUT_MS DFUMGR_REENUMERATE_TIMEOUT_MS
/* After a cancellation: what the board may still be told (ABORT, REBOOT) within this time. */
#define RECOVER_AFTER_CANCEL_US 600000
/* A COMMIT already sent is waited for, even when cancelled, at most this long. */
#define COMMIT_GRACE_US (10ull * 1000 * 1000)

DFUMGR_EXPORT const char *dfumgr_verify_method_name(enum dfumgr_verify_method m)
{
	switch (m) {
	case DFUMGR_VERIFY_DEVICE_DIGEST:
		return "device read-back SHA-256";
	case DFUMGR_VERIFY_UPLOAD:
		return "DFU_UPLOAD read-back";
	default:
		return "none";
	}
}

DFUMGR_EXPORT const char *dfumgr_phase_name(enum dfumgr_phase p)
{
	static const char *const names[] = {"preflight", "detach", "download", "verify", "commit",
					    "reboot",    "check",  "done",     "upload"};
	return (unsigned)p < ARRAY_SIZE(names) ? names[p] : "unknown";
}

DFUMGR_EXPORT const char *dfumgr_update_phase_name(enum dfumgr_phase p)
{
	return dfumgr_phase_name(p);
}

DFUMGR_EXPORT const char *dfumgr_outcome_name(enum dfumgr_outcome o)
{
	static const char *const names[] = {"unknown", "untouched", "old pair running",
					    "new pair running", "needs recovery"};
	return (unsigned)o < ARRAY_SIZE(names) ? names[o] : "unknown";
}

struct run {
	struct dfumgr_ctx *ctx;
	struct dfumgr_backend *be;
	const struct dfumgr_update_opts *o;
	struct dfumgr_update_report *r;
	const struct dfumgr_manifest *m;
	const struct dfumgr_image *img[2];
	struct dfumgr_dev *dev;
	struct dfumgr_board_id id; /* the board, followed across re-enumeration */
	uint64_t phase_start;
	uint64_t t0;          /* the update's start */
	uint64_t back_us;     /* when the board came back after the reboot into the new pair */
	uint64_t deadline_us; /* 0: none */
	int alt[2];
	unsigned timeout_ms;
	bool wrote;                   /* a DNLOAD reached the board */
	struct dfumgr_shim_info info; /* GET_INFO at preflight (valid when r->shim) */
	char shim_refusal[256];       /* why a board that answered GET_INFO is no shim for us */
	/* the caller's versioned structs, copied in full; the report goes back at the end */
	struct dfumgr_update_opts opts;
	struct dfumgr_update_report report;
	struct dfumgr_update_report *caller_report;
};

static uint64_t now(struct run *x)
{
	return x->be->ops->now_us(x->be->priv);
}

static void enter(struct run *x, enum dfumgr_update_phase p)
{
	uint64_t t = now(x);

	x->r->phase_us[x->r->phase] += t - x->phase_start;
	x->phase_start = t;
	x->r->phase = p;
}

static void progress(struct run *x, enum dfumgr_phase phase, int image, uint64_t done,
		     uint64_t total)
{
	struct dfumgr_progress ev = {sizeof(ev), phase, image, done, total};

	if (x->o->progress)
		x->o->progress(x->o->user, &ev);
}

/* The wait for a re-enumeration: the option's, cut to the update's deadline. */
static unsigned wait_ms(struct run *x)
{
	uint64_t t = now(x);

	if (!x->deadline_us)
		return x->timeout_ms;
	if (t >= x->deadline_us)
		return 0;
	return (x->deadline_us - t) / 1000 < x->timeout_ms ? (unsigned)((x->deadline_us - t) / 1000)
							   : x->timeout_ms;
}

static void set_state(struct run *x, enum dfumgr_outcome outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_state(struct run *x, enum dfumgr_outcome outcome, const char *fmt, ...)
{
	va_list ap;

	x->r->outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(x->r->board_state, sizeof(x->r->board_state), fmt, ap);
	va_end(ap);
}

/* GET_INFO; false for a plain DFU device (or a shim of another protocol version). */
static bool read_shim(struct run *x, struct dfumgr_shim_info *ret)
{
	struct dfumgr_shim_info info;
	int rc = dfumgr_shim_get_info(x->dev, &info);

	if (rc < 0 || info.n_images < 2) {
		/* remember why a board that answered is not usable as a shim */
		if (rc == -DFUMGR_E_UNSUPPORTED && dfumgr_ctx_errmsg(x->ctx)[0] &&
		    strstr(dfumgr_ctx_errmsg(x->ctx), "protocol version"))
			snprintf(x->shim_refusal, sizeof(x->shim_refusal), "%s",
				 dfumgr_ctx_errmsg(x->ctx));
		dfumgr_ctx_clear_error(x->ctx);
		return false;
	}
	*ret = info;
	return true;
}

/* MCUboot's version order on this board: with the build number when the board says so. */
static int version_cmp(const struct dfumgr_shim_info *info, const struct dfumgr_image_version *a,
		       const struct dfumgr_image_version *b)
{
	struct dfumgr_image_version aa = *a, bb = *b;

	if (!(info->caps & DFUMGR_CAP_VERSION_BUILD))
		aa.build = bb.build = 0;
	return dfumgr_version_cmp(&aa, &bb);
}

static int open_info(struct run *x, const struct dfumgr_device_info *info)
{
	int rc;

	x->dev = dfumgr_dev_close(x->dev);
	rc = dfumgr_dev_open_info(x->ctx, x->be, info, &x->dev);
	if (rc == 0)
		dfumgr_dev_set_limits(x->dev, x->o->cancel, x->deadline_us);
	return rc;
}

/* Finds the one board to update; opens it. */
static int find_board(struct run *x, struct dfumgr_device_info *ret)
{
	struct dfumgr_match mt = x->o->match;
	struct dfumgr_device_info *list = NULL;
	size_t n = 0;
	int rc;

	/* -d VID:PID can only narrow the manifest's device match, never replace it */
	if ((mt.vid && x->m->vid && mt.vid != x->m->vid) ||
	    (mt.pid && x->m->pid && mt.pid != x->m->pid))
		return dfumgr_fail(
		    x->ctx, DFUMGR_E_PRODUCT,
		    "the bundle (product %s) is for USB devices %04x:%04x; a match on "
		    "%04x:%04x cannot override that",
		    x->m->product, x->m->vid, x->m->pid, mt.vid, mt.pid);
	if (!mt.vid)
		mt.vid = x->m->vid;
	if (!mt.pid)
		mt.pid = x->m->pid;
	rc = dfumgr_device_list(x->ctx, x->be, &mt, &list, &n);
	if (rc < 0)
		return rc;
	if (n == 0) {
		rc = dfumgr_fail(x->ctx, DFUMGR_E_NODEV,
				 "no board %04x:%04x%s%s%s%s is connected (see `dfu-mgr list`)",
				 mt.vid, mt.pid, mt.serial ? " with serial " : "",
				 mt.serial ? mt.serial : "", mt.path ? " at " : "",
				 mt.path ? mt.path : "");
	} else if (n > 1) {
		rc = dfumgr_fail(x->ctx, DFUMGR_E_AMBIGUOUS,
				 "%zu boards %04x:%04x match: choose one with --serial or --path "
				 "(e.g. --path %s)",
				 n, mt.vid, mt.pid, list[0].path);
	} else {
		*ret = list[0];
		dfumgr_board_id_from_info(&list[0], &x->id);
		snprintf(x->r->serial, sizeof(x->r->serial), "%s", list[0].serial);
		snprintf(x->r->path, sizeof(x->r->path), "%s", list[0].path);
		x->r->vid = list[0].vid;
		x->r->pid = list[0].pid;
		rc = open_info(x, &list[0]);
	}
	free(list);
	return rc;
}

static int wait_mode(struct run *x, bool dfu_mode)
{
	struct dfumgr_device_info info;
	int rc;

	x->dev = dfumgr_dev_close(x->dev);
	rc = dfumgr_board_wait(x->ctx, x->be, &x->id, dfu_mode, wait_ms(x), x->o->cancel, &info);
	if (rc < 0)
		return rc;
	snprintf(x->r->path, sizeof(x->r->path), "%s", info.path);
	return open_info(x, &info);
}

static int find_alt(struct run *x, int image)
{
	const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x->m, (unsigned)image);
	int a = dfumgr_dev_find_alt(x->dev, mi->alt);

	if (a < 0) {
		char num[8];

		/* a plain device may name its alts otherwise: fall back to the number */
		snprintf(num, sizeof(num), "%d", image);
		dfumgr_ctx_clear_error(x->ctx);
		a = dfumgr_dev_find_alt(x->dev, num);
	}
	if (a < 0)
		return dfumgr_fail(x->ctx, DFUMGR_E_NOENT,
				   "board %s has no alt-setting \"%s\" or %d for image %d",
				   x->r->serial, mi->alt, image, image);
	x->alt[image] = a;
	return 0;
}

static void fmt_version(const struct dfumgr_image_version *v, char *buf)
{
	dfumgr_version_format(v, buf);
}

/*
 * An image whose version equals the running one must be the running one, byte for byte: the
 * board refuses anything else at COMMIT (MCUboot could otherwise install it alone), so say so
 * before writing anything. The running image's digest comes from the board.
 */
static int check_same_version(struct run *x, int i)
{
	const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x->m, (unsigned)i);
	uint8_t d[DFUMGR_SHA256_SIZE];
	char v[DFUMGR_VERSION_STRING_MAX];
	int rc;

	rc = dfumgr_shim_digest_slot(x->dev, (uint8_t)i, true, mi->size, d);
	if (rc < 0)
		return dfumgr_fail_prefix(x->ctx, rc, "digest of running image %d on board %s", i,
					  x->r->serial);
	if (dfumgr_memeq_ct(d, mi->sha256, sizeof(d)))
		return 0;
	dfumgr_version_format(&mi->version, v);
	return dfumgr_fail(x->ctx, DFUMGR_E_REFUSED,
			   "board %s runs image %d version %s, and the bundle's image %d (%s) has "
			   "the same version but other bytes: MCUboot could then install one "
			   "image of the pair without the other, so the board refuses it. Give "
			   "the new build a new version (e.g. a higher +build number)",
			   x->r->serial, i, v, i, mi->file);
}

static int preflight(struct run *x, struct dfumgr_device_info *info)
{
	int rc;

	rc = find_board(x, info);
	if (rc < 0)
		return rc;
	x->r->shim = read_shim(x, &x->info);
	if (!x->r->shim) {
		if (x->shim_refusal[0])
			return dfumgr_fail(x->ctx, DFUMGR_E_UNSUPPORTED, "board %s: %s",
					   x->r->serial, x->shim_refusal);
		return 0;
	}
	/* the pair carries its identity: a bundle for another product is never written */
	if (strcmp(x->info.product, x->m->product) != 0)
		return dfumgr_fail(x->ctx, DFUMGR_E_PRODUCT,
				   "the bundle is for product \"%s\" but board %s is a \"%s\" "
				   "(hardware revision %u): nothing was written",
				   x->m->product, x->r->serial,
				   x->info.product[0] ? x->info.product : "(none)",
				   x->info.hw_revision);
	x->r->have_before = x->info.images[0].primary_valid && x->info.images[1].primary_valid;
	for (int i = 0; i < 2; i++) {
		const struct dfumgr_shim_image_info *bi = &x->info.images[i];
		const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x->m, (unsigned)i);
		char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX];
		int cmp = version_cmp(&x->info, &mi->version, &bi->running);

		x->r->before[i] = bi->running;
		if (mi->size > bi->max_image)
			return dfumgr_fail(
			    x->ctx, DFUMGR_E_NOFIT,
			    "image %d (%s, %" PRIu32 " bytes) does not fit board %s's "
			    "slot: it takes images of at most %" PRIu32 " bytes (a %" PRIu32
			    "-byte slot less MCUboot's trailer "
			    "and swap sector)",
			    i, mi->file, mi->size, x->r->serial, bi->max_image, bi->slot_size);
		if (!bi->primary_valid)
			continue;
		/*
		 * MCUboot's hardware downgrade prevention: an image with a lower security counter
		 * than the running one never boots; the bundle is refused before anything is
		 * written, unless a downgrade is asked for.
		 */
		if (bi->has_sec_cnt && !x->o->allow_downgrade &&
		    (!x->img[i]->has_sec_cnt || x->img[i]->sec_cnt < bi->sec_cnt))
			return dfumgr_fail(x->ctx, DFUMGR_E_DOWNGRADE,
					   "board %s runs image %d with security counter %" PRIu32
					   "; the bundle's image %d (%s) has %s%" PRIu32
					   ", lower (use --allow-downgrade to install it anyway)",
					   x->r->serial, i, bi->sec_cnt, i, mi->file,
					   x->img[i]->has_sec_cnt ? "" : "none: ",
					   x->img[i]->has_sec_cnt ? x->img[i]->sec_cnt : 0);
		if (cmp < 0 && !x->o->allow_downgrade) {
			fmt_version(&mi->version, a);
			fmt_version(&bi->running, b);
			return dfumgr_fail(x->ctx, DFUMGR_E_DOWNGRADE,
					   "board %s runs image %d version %s; the bundle has %s, "
					   "older (use --allow-downgrade to install it anyway)",
					   x->r->serial, i, b, a);
		}
		if (cmp == 0) {
			rc = check_same_version(x, i);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int verify_image(struct run *x, int i, bool *ret_ok)
{
	const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x->m, (unsigned)i);
	int rc;

	progress(x, DFUMGR_PHASE_VERIFY, i, 0, mi->size);
	if (x->r->verify == DFUMGR_VERIFY_DEVICE_DIGEST) {
		uint8_t d[DFUMGR_SHA256_SIZE];

		rc = dfumgr_shim_digest(x->dev, (uint8_t)x->alt[i], mi->size, d);
		if (rc < 0)
			return rc;
		memcpy(x->r->digest[i], d, sizeof(d));
		x->r->digest_valid[i] = true;
		*ret_ok = dfumgr_memeq_ct(d, mi->sha256, sizeof(d));
	} else if (x->r->verify == DFUMGR_VERIFY_UPLOAD) {
		struct dfumgr_transfer_opts t = DFUMGR_TRANSFER_OPTS_INIT;
		uint8_t *back = NULL;
		size_t n = 0;

		t.transfer_size = x->o->transfer_size;
		t.phase = DFUMGR_PHASE_VERIFY;
		t.image = i;
		rc = dfumgr_dfu_upload(x->dev, (uint8_t)x->alt[i], mi->size, &back, &n, &t);
		if (rc < 0)
			return rc;
		*ret_ok = n == mi->size && !memcmp(back, x->img[i]->buf, n);
		free(back);
	} else {
		*ret_ok = true;
	}
	progress(x, DFUMGR_PHASE_VERIFY, i, mi->size, mi->size);
	return 0;
}

/*
 * The sectors of image i the board holds already, by its own digests of its slot read back from
 * flash (a re-run after a cut, a release that leaves most of an image alone): *ret_skip (n
 * bits, malloc'ed) says which need not be sent, and the board counts them for COMMIT as written
 * in this session. Left NULL when the board cannot say, or the transfer size is not its sector
 * size (blocks of a sparse download are whole sectors).
 */
static int sectors_to_skip(struct run *x, int i, uint8_t **ret_skip, size_t *ret_n)
{
	const struct dfumgr_image *img = x->img[i];
	const struct dfumgr_shim_image_info *bi = &x->info.images[i];
	const struct dfumgr_device_info *di = dfumgr_dev_info(x->dev);
	uint32_t unit = bi->erase_unit, ts = x->o->transfer_size, n;
	uint8_t(*want)[DFUMGR_SHA256_SIZE] = NULL;
	uint8_t *match = NULL, *sector = NULL;
	int rc = 0;

	*ret_skip = NULL;
	*ret_n = 0;
	if (!ts && di->has_func)
		ts = di->func.transfer_size;
	if (!x->r->shim || x->o->no_skip || !(x->info.caps & DFUMGR_CAP_SECTOR_DIGESTS) || !unit ||
	    ts != unit || img->size == 0 || img->size > bi->max_image)
		return 0;
	n = (uint32_t)((img->size + unit - 1) / unit);
	want = malloc((size_t)n * sizeof(*want));
	match = calloc((n + 7) / 8, 1);
	sector = malloc(unit);
	if (!want || !match || !sector) {
		rc = dfumgr_fail(x->ctx, DFUMGR_E_NOMEM, "out of memory");
		goto out;
	}
	/* what each sector holds after a download: the image's bytes, then erased value */
	for (uint32_t k = 0; k < n; k++) {
		size_t at = (size_t)k * unit, len = img->size - at < unit ? img->size - at : unit;

		memset(sector, 0xff, unit);
		memcpy(sector, img->buf + at, len);
		dfumgr_sha256(sector, unit, want[k]);
	}
	progress(x, DFUMGR_PHASE_DOWNLOAD, i, 0, img->size);
	/*
	 * The board takes SECTOR_DIGESTS only with the alt idle: a board that kept its DFU state
	 * across a dropped link (a re-run) may still be in the middle of the last download.
	 */
	rc = dfumgr_dev_set_alt(x->dev, (uint8_t)x->alt[i]);
	if (rc == 0)
		rc = dfumgr_dfu_to_idle(x->dev);
	if (rc == 0)
		rc = dfumgr_shim_sectors_verify(x->dev, (uint8_t)x->alt[i],
						(const uint8_t(*)[DFUMGR_SHA256_SIZE])want, n,
						match);
	if (rc < 0) {
		rc = dfumgr_fail_prefix(x->ctx, rc, "sector digests of image %d on board %s", i,
					x->r->serial);
		goto out;
	}
	*ret_skip = match;
	*ret_n = n;
	match = NULL;
out:
	free(want);
	free(match);
	free(sector);
	return rc;
}

/* Bytes of image i in the blocks skip leaves out. */
static uint64_t skipped_bytes(const struct dfumgr_image *img, const uint8_t *skip, size_t n,
			      uint32_t unit, unsigned *ret_sectors)
{
	uint64_t bytes = 0;

	*ret_sectors = 0;
	for (size_t k = 0; skip && k < n; k++) {
		if (!(skip[k / 8] & (1u << (k % 8))))
			continue;
		(*ret_sectors)++;
		bytes += img->size - k * unit < unit ? img->size - k * unit : unit;
	}
	return bytes;
}

/* A download the board failed: where its flash failed (it may be the block before the last). */
static int download_failed(struct run *x, int i, int rc)
{
	struct dfumgr_shim_info info;
	struct dfumgr_ctx *ctx = x->dev->ctx;
	uint32_t at;

	if (rc == -DFUMGR_E_DFU_STATUS && x->r->shim) {
		/* GET_INFO must not replace the error being reported */
		x->dev->ctx = NULL;
		if (dfumgr_shim_get_info(x->dev, &info) == 0 &&
		    info.images[i].flash_error != DFUMGR_NO_FLASH_ERROR) {
			at = info.images[i].flash_error;
			x->dev->ctx = ctx;
			return dfumgr_fail_prefix(x->ctx, rc,
						  "image %d to board %s: its flash failed at bytes "
						  "%" PRIu32 "..%" PRIu32,
						  i, x->r->serial, at,
						  at + info.images[i].erase_unit);
		}
		x->dev->ctx = ctx;
	}
	return dfumgr_fail_prefix(x->ctx, rc, "image %d to board %s", i, x->r->serial);
}

/*
 * Downloads image i, then checks it, re-downloading up to the retry limit. The first attempt
 * sends only the sectors the board does not hold already (unless full); a retry (the board's
 * digest of the whole image was wrong) sends all of them.
 */
static int download_verified(struct run *x, int i, bool full)
{
	const struct dfumgr_image *img = x->img[i];
	unsigned retries = x->o->retries ? x->o->retries : DEFAULT_RETRIES;
	int rc;

	for (unsigned attempt = 0;; attempt++) {
		struct dfumgr_transfer_opts t = DFUMGR_TRANSFER_OPTS_INIT;
		uint8_t *skip = NULL;
		size_t n_skip = 0;
		uint64_t skipped = 0;
		bool ok = false;

		t.progress = x->o->progress;
		t.user = x->o->user;
		t.transfer_size = x->o->transfer_size;
		t.phase = DFUMGR_PHASE_DOWNLOAD;
		t.image = i;
		enter(x, DFUMGR_PHASE_DOWNLOAD);
		x->r->downloads[i]++;
		if (attempt == 0 && !full) {
			unsigned sectors = 0;

			rc = sectors_to_skip(x, i, &skip, &n_skip);
			if (rc < 0)
				return rc;
			skipped = skipped_bytes(img, skip, n_skip, x->info.images[i].erase_unit,
						&sectors);
			x->r->sectors_skipped[i] = sectors;
			x->r->bytes_skipped += skipped;
			if (skipped)
				dfumgr_log(x->ctx, DFUMGR_LOG_INFO,
					   "board %s: image %d: %u of %zu sectors already in its "
					   "slot, %" PRIu64 " bytes not sent",
					   x->r->serial, i, sectors, n_skip, skipped);
		}
		t.skip = skip;
		t.skip_blocks = n_skip;
		if (skipped < img->size)
			x->wrote = true;
		rc = dfumgr_dfu_download(x->dev, (uint8_t)x->alt[i], img->buf, img->size, &t);
		free(skip);
		if (rc < 0)
			return download_failed(x, i, rc);
		x->r->bytes += img->size - skipped;
		enter(x, DFUMGR_PHASE_VERIFY);
		rc = verify_image(x, i, &ok);
		if (rc < 0)
			return dfumgr_fail_prefix(x->ctx, rc, "verify image %d on board %s", i,
						  x->r->serial);
		if (ok)
			return 0;
		dfumgr_log(x->ctx, DFUMGR_LOG_WARNING,
			   "board %s: image %d reads back wrong (%s), attempt %u of %u",
			   x->r->serial, i, dfumgr_verify_method_name(x->r->verify), attempt + 1,
			   retries + 1);
		if (attempt >= retries)
			return dfumgr_fail(x->ctx, DFUMGR_E_MISMATCH,
					   "board %s: image %d still reads back wrong after %u "
					   "downloads (%s); nothing was committed",
					   x->r->serial, i, attempt + 1,
					   dfumgr_verify_method_name(x->r->verify));
	}
}

/* commit_only: what another tool wrote must already be exactly the manifest's images */
static int check_written(struct run *x)
{
	enter(x, DFUMGR_PHASE_VERIFY);
	if (!x->r->shim)
		return dfumgr_fail(x->ctx, DFUMGR_E_UNSUPPORTED,
				   "board %s is not a dfu-mgr shim: there is nothing to commit",
				   x->r->serial);
	for (int i = 1; i >= 0; i--) {
		bool ok = false;
		int rc = verify_image(x, i, &ok);

		if (rc < 0)
			return dfumgr_fail_prefix(x->ctx, rc, "verify image %d on board %s", i,
						  x->r->serial);
		if (!ok)
			return dfumgr_fail(x->ctx, DFUMGR_E_MISMATCH,
					   "board %s: the image-%d slot does not hold the bundle's "
					   "image %d (%s); nothing was committed",
					   x->r->serial, i, i,
					   dfumgr_manifest_image(x->m, (unsigned)i)->file);
	}
	return 0;
}

static int commit(struct run *x)
{
	unsigned retries = x->o->retries ? x->o->retries : DEFAULT_RETRIES;
	uint32_t len[2];
	uint8_t sha[2][DFUMGR_SHA256_SIZE];
	int rc, bad = -1;

	for (int i = 0; i < 2; i++) {
		const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x->m, (unsigned)i);

		len[i] = mi->size;
		memcpy(sha[i], mi->sha256, DFUMGR_SHA256_SIZE);
	}
	for (unsigned attempt = 0;; attempt++) {
		uint64_t grace = now(x) + COMMIT_GRACE_US;

		rc = dfumgr_dev_check(x->dev, "commit");
		if (rc < 0)
			return rc;
		enter(x, DFUMGR_PHASE_COMMIT);
		progress(x, DFUMGR_PHASE_COMMIT, -1, 0, 1);
		/*
		 * Once COMMIT is sent, the board marks both images or neither; its verdict is
		 * waited for even when cancelled, so that the outcome is known, never "mid-commit".
		 */
		dfumgr_dev_set_limits(x->dev, NULL,
				      x->deadline_us && x->deadline_us > grace ? x->deadline_us
									       : grace);
		rc = dfumgr_shim_commit(x->dev, len, (const uint8_t(*)[DFUMGR_SHA256_SIZE])sha,
					x->o->permanent, &bad);
		dfumgr_dev_set_limits(x->dev, x->o->cancel, x->deadline_us);
		if (rc == 0) {
			progress(x, DFUMGR_PHASE_COMMIT, -1, 1, 1);
			return 0;
		}
		/* the device re-read a slot and found other bytes: write that image again */
		if (rc != -DFUMGR_E_MISMATCH || bad < 0 || attempt >= retries || x->o->commit_only)
			return dfumgr_fail_prefix(x->ctx, rc, "commit on board %s", x->r->serial);
		/* the board read other bytes than it hashed before: send all of that image */
		rc = download_verified(x, bad, true);
		if (rc < 0)
			return rc;
	}
}

/*
 * A plain DFU 1.1 device leaves DFU mode on a USB reset (§7, the host's job after
 * manifestation). One that re-enumerates comes back in runtime mode; one that does not (a bus
 * reset does not cross USB/IP; some devices wait for a power cycle) is still in DFU mode with
 * its image written and verified, and runs it at its next restart: say so, it is no failure.
 */
static int plain_restart(struct run *x)
{
	struct dfumgr_device_info info;
	int rc;

	rc = dfumgr_board_reset_to_runtime(x->ctx, x->dev, x->o->cancel, wait_ms(x), &info);
	x->dev = NULL; /* closed by the call */
	if (rc < 0)
		return rc;
	x->back_us = now(x);
	snprintf(x->r->path, sizeof(x->r->path), "%s", info.path);
	if (!info.dfu_mode) {
		set_state(x, DFUMGR_OUTCOME_NEW_PAIR,
			  "restarted in runtime mode (a plain DFU device: it cannot report "
			  "versions)");
		return open_info(x, &info);
	}
	set_state(x, DFUMGR_OUTCOME_NEW_PAIR,
		  "image written and verified; the board stayed in DFU mode after the USB reset "
		  "and runs the new image at its next restart");
	return 0;
}

static int check_after(struct run *x)
{
	struct dfumgr_shim_info info;

	if (!x->r->shim || !read_shim(x, &info))
		return 0; /* a plain device cannot tell us */
	x->r->have_after = info.images[0].primary_valid && info.images[1].primary_valid;
	for (int i = 0; i < 2; i++) {
		const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x->m, (unsigned)i);
		const struct dfumgr_shim_image_info *bi = &info.images[i];
		char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX];

		x->r->after[i] = bi->running;
		if (!bi->primary_valid || dfumgr_version_cmp(&bi->running, &mi->version) != 0) {
			fmt_version(&mi->version, a);
			fmt_version(&bi->running, b);
			return dfumgr_fail(
			    x->ctx, DFUMGR_E_MISMATCH,
			    "board %s came back running image %d version %s, not %s: "
			    "MCUboot did not keep the new pair (reverted?)",
			    x->r->serial, i, bi->primary_valid ? b : "none", a);
		}
	}
	return 0;
}

/*
 * Finds the board again after it went away, in whichever mode, without touching the error.
 * Bounded by limit_us; cancel is not consulted (the caller decided that this is quick).
 */
static bool find_again(struct run *x, uint64_t limit_us, struct dfumgr_device_info *ret)
{
	struct dfumgr_device_info *list = NULL;
	uint64_t until = now(x) + limit_us;
	size_t n = 0;

	for (;;) {
		bool found = false;

		if (dfumgr_device_list(NULL, x->be, NULL, &list, &n) == 0) {
			for (size_t i = 0; i < n && !found; i++) {
				if (dfumgr_board_id_match(&x->id, &list[i])) {
					*ret = list[i];
					found = true;
				}
			}
			free(list);
			list = NULL;
		}
		if (found)
			return true;
		if (now(x) >= until)
			return false;
		dfumgr_backend_wait_change(x->be, 100, NULL);
	}
}

/*
 * After a failure: say what the board runs, as data and in words, and get it back to its old
 * pair when nothing was committed (the primary images are untouched then): a board in DFU mode
 * (also one that came back after a cable pull) is rebooted; one that lost power boots them by
 * itself. After a cancellation only what takes well under a second is done.
 */
static void recover(struct run *x, int rc)
{
	struct dfumgr_device_info info;
	bool gone = rc == -DFUMGR_E_DISCONNECTED || rc == -DFUMGR_E_TIMEOUT;
	bool cancelled = rc == -DFUMGR_E_CANCELLED || dfumgr_cancel_is_set(x->o->cancel);
	/* a board that went away (cable, power) comes back within seconds; a loaded host sees it
	 * later: waited for up to 15 s, unless the user is waiting for us to stop */
	uint64_t limit = cancelled ? RECOVER_AFTER_CANCEL_US : 15000000;
	enum dfumgr_outcome nothing = x->wrote ? DFUMGR_OUTCOME_OLD_PAIR : DFUMGR_OUTCOME_UNTOUCHED;

	x->r->cancelled = cancelled;
	if (x->r->committed) {
		if (x->r->outcome == DFUMGR_OUTCOME_UNKNOWN && !x->r->board_state[0])
			set_state(x, DFUMGR_OUTCOME_NEEDS_RECOVERY,
				  "the new pair was committed; the board did not come back as "
				  "expected (check it with dfu-mgr list / verify)");
		return;
	}
	if (x->r->phase == DFUMGR_PHASE_PREFLIGHT) {
		set_state(x, DFUMGR_OUTCOME_UNTOUCHED, "untouched");
		return;
	}
	if (cancelled && !x->wrote && !x->dev) {
		/* stopped while it re-enumerates into DFU mode: not worth waiting for */
		set_state(x, DFUMGR_OUTCOME_UNTOUCHED,
			  "nothing written: it runs its previous images, or waits in DFU mode "
			  "after the DETACH (a re-run continues from there; dfu-mgr reboot "
			  "returns it to its application)");
		return;
	}
	if (x->dev)
		dfumgr_dev_set_limits(x->dev, NULL, now(x) + limit);
	if (gone || !x->dev) {
		x->dev = dfumgr_dev_close(x->dev);
		if (!find_again(x, cancelled ? limit / 2 : limit, &info)) {
			set_state(x, DFUMGR_OUTCOME_UNKNOWN,
				  "nothing committed: its running images are untouched; it did "
				  "not come back within %.1f s (power-cycle it)",
				  (double)(cancelled ? limit / 2 : limit) / 1e6);
			return;
		}
		if (!info.dfu_mode) {
			set_state(x, nothing,
				  "nothing committed; it restarted and runs its previous images");
			return;
		}
		if (dfumgr_dev_open_info(NULL, x->be, &info, &x->dev) < 0) {
			set_state(x, nothing,
				  "nothing committed: its running images are untouched; it is in "
				  "DFU mode until reset");
			return;
		}
		dfumgr_dev_set_limits(x->dev, NULL, now(x) + limit);
	}
	{
		struct dfumgr_ctx *log = x->ctx;

		x->dev->ctx = NULL; /* keep the original error */
		dfumgr_log(log, DFUMGR_LOG_INFO, "board %s: recovery: %s", x->r->serial,
			   x->r->shim ? "rebooting it into its previous images"
				      : "leaving it idle");
	}
	if (dfumgr_dev_info(x->dev)->dfu_mode) {
		if (x->r->shim && dfumgr_shim_reboot(x->dev) == 0) {
			x->dev = dfumgr_dev_close(x->dev);
			set_state(x, nothing,
				  "nothing committed; rebooted into its previous images");
			return;
		}
		if (!x->r->shim) {
			/* DFU_ABORT left it idle; a plain device keeps DFU mode until reset */
			set_state(x, nothing,
				  "nothing committed; a plain DFU device: it stays in DFU mode "
				  "until it is reset (dfu-mgr reboot) and then runs what its slots "
				  "hold");
			return;
		}
	} else {
		set_state(x, DFUMGR_OUTCOME_UNTOUCHED,
			  "nothing written; it runs its application as before");
		return;
	}
	set_state(x, nothing,
		  "nothing committed: its running images are untouched; it may still be in "
		  "DFU mode until it is reset or power-cycled");
}

static int setup(struct run *x, struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
		 const struct dfumgr_bundle *bundle, const struct dfumgr_update_opts *o,
		 struct dfumgr_update_report *r)
{
	int rc;

	memset(x, 0, sizeof(*x));
	x->ctx = ctx;
	x->be = be;
	x->o = &x->opts;
	x->r = &x->report;
	x->r->size = sizeof(x->report);
	if (r && r->size < offsetof(struct dfumgr_update_report, board_state))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "dfumgr_update_report: size field %zu (set it to sizeof(struct "
				   "dfumgr_update_report))",
				   r->size);
	x->caller_report = r;
	rc = dfumgr_sized_copy(ctx, &x->opts, sizeof(x->opts), o,
			       offsetof(struct dfumgr_update_opts, cancel) +
				   sizeof(const struct dfumgr_cancel *),
			       "dfumgr_update_opts");
	if (rc < 0)
		return rc;
	x->m = dfumgr_bundle_manifest(bundle);
	x->timeout_ms =
	    o && o->reenumerate_timeout_ms ? o->reenumerate_timeout_ms : DEFAULT_REENUM_TIMEOUT_MS;
	x->phase_start = now(x);
	if (x->opts.timeout_ms)
		x->deadline_us = x->phase_start + (uint64_t)x->opts.timeout_ms * 1000;
	if (x->m->n_images != 2 || !dfumgr_manifest_image(x->m, 0) ||
	    !dfumgr_manifest_image(x->m, 1))
		return dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				   "the bundle must hold image 0 and image 1 (a pair)");
	for (int i = 0; i < 2; i++) {
		x->img[i] = dfumgr_bundle_image(bundle, (unsigned)i);
		if (!x->img[i])
			return dfumgr_fail(ctx, DFUMGR_E_INVAL, "bundle image %d missing", i);
	}
	return 0;
}

/* The report back into the caller's struct, as much of it as the caller's version has. */
static void finish_report(struct run *x)
{
	size_t n;

	if (!x->caller_report)
		return;
	n = x->caller_report->size < sizeof(x->report) ? x->caller_report->size : sizeof(x->report);
	x->report.size = n;
	memcpy(x->caller_report, &x->report, n);
}

static int reboot_new_pair(struct run *x)
{
	int rc;

	enter(x, DFUMGR_PHASE_REBOOT);
	progress(x, DFUMGR_PHASE_REBOOT, -1, 0, 1);
	if (!x->r->shim)
		return plain_restart(x);
	/* a COMMIT waited for despite a cancel: the reboot is one request, its wait is not */
	dfumgr_dev_set_limits(x->dev, NULL, x->deadline_us);
	rc = dfumgr_shim_reboot(x->dev);
	if (rc == 0 && dfumgr_cancel_is_set(x->o->cancel)) {
		x->dev = dfumgr_dev_close(x->dev);
		set_state(x, DFUMGR_OUTCOME_UNKNOWN,
			  "the new pair was committed and the board rebooted into it; cancelled "
			  "before it was seen running (check with dfu-mgr verify)");
		return dfumgr_fail(x->ctx, DFUMGR_E_CANCELLED,
				   "cancelled after the commit (the board was rebooted)");
	}
	if (rc == 0) {
		set_state(x, DFUMGR_OUTCOME_UNKNOWN,
			  "the new pair was committed and the board rebooted into it; not yet seen "
			  "running it (check with dfu-mgr verify)");
		rc = wait_mode(x, false);
		x->back_us = now(x);
	}
	if (rc == 0)
		progress(x, DFUMGR_PHASE_REBOOT, -1, 1, 1);
	return rc;
}

DFUMGR_EXPORT int dfumgr_update(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				const struct dfumgr_bundle *bundle,
				const struct dfumgr_update_opts *opts,
				struct dfumgr_update_report *ret_report)
{
	struct dfumgr_device_info info;
	struct run x;
	uint64_t t0;
	int rc;

	if (!be || !bundle)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_update: NULL argument");
	rc = setup(&x, ctx, be, bundle, opts, ret_report);
	if (rc < 0)
		return rc;
	t0 = now(&x);
	x.t0 = t0;
	rc = preflight(&x, &info);
	if (rc < 0)
		goto fail;
	if (!x.r->shim && !x.o->no_verify)
		x.r->verify = info.has_func && !(info.func.attributes & DFU_ATTR_CAN_UPLOAD)
				  ? DFUMGR_VERIFY_NONE
				  : DFUMGR_VERIFY_UPLOAD;
	else
		x.r->verify = x.o->no_verify ? DFUMGR_VERIFY_NONE : DFUMGR_VERIFY_DEVICE_DIGEST;
	if (x.r->verify == DFUMGR_VERIFY_NONE && !x.o->no_verify) {
		rc = dfumgr_fail(
		    ctx, DFUMGR_E_UNSUPPORTED,
		    "board %s can neither hash its slots nor upload them: nothing could "
		    "check the download (use --no-verify to update it anyway)",
		    x.r->serial);
		goto fail;
	}
	if (!info.dfu_mode) {
		struct dfumgr_board_opts bo = DFUMGR_BOARD_OPTS_INIT;
		struct dfumgr_dev *dfu = NULL;

		enter(&x, DFUMGR_PHASE_DETACH);
		bo.timeout_ms = wait_ms(&x);
		bo.cancel = x.o->cancel;
		bo.progress = x.o->progress;
		bo.user = x.o->user;
		rc = dfumgr_board_enter_dfu_dev(x.dev, &bo, &dfu);
		x.dev = NULL;
		if (rc < 0) {
			dfumgr_fail_prefix(ctx, rc, "switching board %s to DFU mode", x.r->serial);
			goto fail;
		}
		x.dev = dfu;
		dfumgr_dev_set_limits(x.dev, x.o->cancel, x.deadline_us);
		snprintf(x.r->path, sizeof(x.r->path), "%s", dfumgr_dev_info(x.dev)->path);
	}
	for (int i = 0; i < 2; i++) {
		rc = find_alt(&x, i);
		if (rc < 0)
			goto fail;
	}
	if (x.o->commit_only) {
		rc = check_written(&x);
		if (rc < 0)
			goto fail;
	} else {
		/* image 1 (QSPI) first: until image 0 is written and committed, nothing runs it */
		rc = download_verified(&x, 1, false);
		if (rc == 0)
			rc = download_verified(&x, 0, false);
		if (rc < 0)
			goto fail;
	}
	if (x.r->shim) {
		rc = commit(&x);
		if (rc < 0)
			goto fail;
	}
	x.r->committed = true;
	set_state(&x, DFUMGR_OUTCOME_NEEDS_RECOVERY,
		  "the new pair is committed; MCUboot installs it at the next reset");
	rc = reboot_new_pair(&x);
	if (rc < 0) {
		if (rc != -DFUMGR_E_CANCELLED)
			dfumgr_fail_prefix(ctx, rc, "rebooting board %s", x.r->serial);
		goto fail;
	}
	enter(&x, DFUMGR_PHASE_CHECK);
	rc = check_after(&x);
	if (rc < 0) {
		set_state(&x, DFUMGR_OUTCOME_NEEDS_RECOVERY,
			  "the new pair was committed but the board runs something else");
		goto fail;
	}
	enter(&x, DFUMGR_PHASE_DONE);
	if (x.r->shim)
		set_state(&x, DFUMGR_OUTCOME_NEW_PAIR, "running the new pair");
	if (x.back_us)
		x.r->new_pair_us = x.back_us - t0;
	x.r->total_us = now(&x) - t0;
	dfumgr_dev_close(x.dev);
	finish_report(&x);
	return 0;
fail:
	recover(&x, rc);
	x.r->total_us = now(&x) - t0;
	x.r->phase_us[x.r->phase] += now(&x) - x.phase_start;
	dfumgr_dev_close(x.dev);
	finish_report(&x);
	return rc;
}

DFUMGR_EXPORT int dfumgr_verify_device(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				       const struct dfumgr_bundle *bundle,
				       const struct dfumgr_update_opts *opts,
				       struct dfumgr_update_report *ret_report)
{
	struct dfumgr_device_info info;
	struct run x;
	uint64_t t0;
	int rc;

	if (!be || !bundle)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_verify_device: NULL argument");
	rc = setup(&x, ctx, be, bundle, opts, ret_report);
	if (rc < 0)
		return rc;
	t0 = now(&x);
	set_state(&x, DFUMGR_OUTCOME_UNTOUCHED, "untouched (verify writes nothing)");
	rc = find_board(&x, &info);
	if (rc < 0)
		goto out;
	x.r->shim = read_shim(&x, &x.info);
	if (!x.r->shim) {
		rc = dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED,
				 "board %s does not speak the dfu-mgr shim protocol %d%s%s: it "
				 "cannot report digests of its running images",
				 x.r->serial, DFUMGR_PROTO_VERSION, x.shim_refusal[0] ? ": " : "",
				 x.shim_refusal);
		goto out;
	}
	x.r->have_after = x.info.images[0].primary_valid && x.info.images[1].primary_valid;
	for (int i = 0; i < 2; i++)
		x.r->after[i] = x.info.images[i].running;
	x.r->verify = DFUMGR_VERIFY_DEVICE_DIGEST;
	enter(&x, DFUMGR_PHASE_VERIFY);
	for (int i = 0; i < 2; i++) {
		const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(x.m, (unsigned)i);
		uint8_t d[DFUMGR_SHA256_SIZE];

		progress(&x, DFUMGR_PHASE_VERIFY, i, 0, mi->size);
		rc = dfumgr_shim_digest_slot(x.dev, (uint8_t)i, true, mi->size, d);
		if (rc < 0) {
			dfumgr_fail_prefix(ctx, rc, "digest of image %d on board %s", i,
					   x.r->serial);
			goto out;
		}
		progress(&x, DFUMGR_PHASE_VERIFY, i, mi->size, mi->size);
		memcpy(x.r->digest[i], d, sizeof(d));
		x.r->digest_valid[i] = true;
		x.r->digest_running = true;
		if (!dfumgr_memeq_ct(d, mi->sha256, sizeof(d))) {
			rc = dfumgr_fail(ctx, DFUMGR_E_MISMATCH,
					 "board %s does not run the bundle's image %d (%s): its "
					 "running slot hashes differently",
					 x.r->serial, i, mi->file);
			goto out;
		}
	}
	enter(&x, DFUMGR_PHASE_DONE);
	set_state(&x, DFUMGR_OUTCOME_NEW_PAIR, "runs the bundle's pair");
out:
	x.r->cancelled = rc == -DFUMGR_E_CANCELLED;
	x.r->total_us = now(&x) - t0;
	dfumgr_dev_close(x.dev);
	finish_report(&x);
	return rc;
}
