/* SPDX-License-Identifier: MIT */
/*
 * Factory provisioning: many boards to one release, in parallel, one worker thread per board
 * running the single-board engine on the shared backend, a record per board in the station log
 * (the journal) and in reports (JSON, CSV).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "json.h"
#include "dfumgr/board.h"
#include "dfumgr/journal.h"
#include "dfumgr/provision.h"
#include "dfumgr/shim_info.h"

/* While boards are being provisioned the caller's thread looks for new ones this often. */
#define SCAN_PERIOD_MS 50
/* A board found but gone before its worker started: looked for this long. */
#define REFIND_MS 5000
/* The serials file: one serial a line, well below this. */
#define SERIALS_FILE_MAX (1u << 20)
/* A report of DFUMGR_PROVISION_BOARDS_MAX records stays far below this. */
#define REPORT_MAX (32u << 20)

enum board_state { B_QUEUED, B_RUNNING, B_FINISHED, B_JOINED };

struct board {
	struct dfumgr_provision *run;
	struct dfumgr_provision_record rec;
	struct dfumgr_board_id id;
	enum board_state state; /* under run->lock */
	pthread_t thread;
	uint64_t found_us; /* backend clock */
};

struct dfumgr_provision {
	struct dfumgr_ctx *ctx; /* the caller's: its thread only */
	const struct dfumgr_bundle *bundle;
	const struct dfumgr_manifest *m;
	struct dfumgr_provision_opts o;
	struct dfumgr_update_opts uo;
	char **serials; /* own copies of o.serials */
	size_t n_serials;
	struct dfumgr_backend *be;
	/* the station log and its own context: used under lock, from any thread */
	struct dfumgr_journal *log;
	struct dfumgr_ctx *log_ctx;
	int log_error;
	char log_errmsg[DFUMGR_ERRMSG_MAX];
	pthread_mutex_t lock;    /* board states, active, stopping, the log */
	pthread_cond_t cond;     /* a worker finished */
	pthread_mutex_t ev_lock; /* serializes the event callback */
	struct board **boards;
	size_t n_boards, cap_boards;
	unsigned active;
	bool stopping;
	bool ran;
	bool cancelled;
	bool too_many;
	unsigned lacking;
	uint64_t t0, total_us;
	char run_id[48];
	char station[72];
	char started[32];
	char manifest_sha[2 * DFUMGR_SHA256_SIZE + 1];
};

DFUMGR_EXPORT const char *dfumgr_provision_result_name(enum dfumgr_provision_result r)
{
	static const char *const names[] = {"pending", "updated", "skipped",
					    "failed",  "missing", "ignored"};
	return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "unknown";
}

static uint64_t now(struct dfumgr_provision *p)
{
	return dfumgr_backend_now_us(p->be);
}

static void emit(struct dfumgr_provision *p, enum dfumgr_provision_event_type type,
		 const struct dfumgr_provision_record *r, const struct dfumgr_progress *progress)
{
	struct dfumgr_provision_event ev = {sizeof(ev), type, r, progress};

	if (!p->o.event)
		return;
	pthread_mutex_lock(&p->ev_lock);
	p->o.event(p->o.user, &ev);
	pthread_mutex_unlock(&p->ev_lock);
}

/* ISO 8601 in UTC ("2026-11-26T10:15:23Z"), or compact for names ("20261126T101523Z"). */
static void utc_time(int64_t t, bool compact, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n = 0;

	if (gmtime_r(&tt, &tm))
		n = compact ? strftime(buf, size, "%Y%m%dT%H%M%SZ", &tm)
			    : strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!n)
		snprintf(buf, size, "%" PRId64, t);
}

/* ---- options ---- */

static bool serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DFUMGR_STRING_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static int copy_serials(struct dfumgr_provision *p)
{
	if (p->o.n_serials > DFUMGR_PROVISION_SERIALS_MAX)
		return dfumgr_fail(p->ctx, DFUMGR_E_TOOBIG,
				   "%zu serial numbers: at most %d per run", p->o.n_serials,
				   DFUMGR_PROVISION_SERIALS_MAX);
	p->serials = calloc(p->o.n_serials + 1, sizeof(*p->serials));
	if (!p->serials)
		return dfumgr_fail(p->ctx, DFUMGR_E_NOMEM, "out of memory");
	for (size_t i = 0; i < p->o.n_serials; i++) {
		const char *s = p->o.serials[i];

		if (!s || !serial_ok(s))
			return dfumgr_fail(p->ctx, DFUMGR_E_INVAL,
					   "serial number %zu is not 1 to %d printable ASCII "
					   "characters",
					   i + 1, DFUMGR_STRING_MAX - 1);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(p->serials[k], s))
				return dfumgr_fail(p->ctx, DFUMGR_E_INVAL,
						   "serial number %s is given twice", s);
		p->serials[i] = strdup(s);
		if (!p->serials[i])
			return dfumgr_fail(p->ctx, DFUMGR_E_NOMEM, "out of memory");
		p->n_serials = i + 1;
	}
	return 0;
}

DFUMGR_EXPORT int dfumgr_provision_new(struct dfumgr_ctx *ctx, const struct dfumgr_bundle *bundle,
				       const struct dfumgr_provision_opts *o,
				       struct dfumgr_provision **ret_run)
{
	struct dfumgr_provision *p;
	pthread_condattr_t ca;
	char host[64] = "";
	int rc;

	if (!bundle || !o || !ret_run)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_provision_new: NULL argument");
	p = calloc(1, sizeof(*p));
	if (!p)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	p->ctx = ctx;
	p->bundle = bundle;
	p->m = dfumgr_bundle_manifest(bundle);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->ev_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = dfumgr_sized_copy(ctx, &p->o, sizeof(p->o), o,
			       offsetof(struct dfumgr_provision_opts, cancel) +
				   sizeof(const struct dfumgr_cancel *),
			       "dfumgr_provision_opts");
	if (rc < 0)
		goto fail;
	rc = dfumgr_sized_copy(ctx, &p->uo, sizeof(p->uo), p->o.update,
			       offsetof(struct dfumgr_update_opts, cancel) +
				   sizeof(const struct dfumgr_cancel *),
			       "dfumgr_update_opts");
	if (rc < 0)
		goto fail;
	p->o.update = NULL; /* the copy in p->uo is used */
	if (p->o.all == (p->o.n_serials > 0)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL,
				 p->o.all ? "give either all boards or serial numbers, not both"
					  : "give all boards or at least one serial number");
		goto fail;
	}
	if (p->o.wait_count && !p->o.all) {
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL,
				 "a number of boards to wait for goes with all boards; with serial "
				 "numbers, the list says which boards to wait for");
		goto fail;
	}
	if (p->o.wait_count > DFUMGR_PROVISION_BOARDS_MAX) {
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL, "waiting for %u boards: at most %d per run",
				 p->o.wait_count, DFUMGR_PROVISION_BOARDS_MAX);
		goto fail;
	}
	rc = copy_serials(p);
	if (rc < 0)
		goto fail;
	p->o.serials = NULL;
	if (p->m->n_images != 2 || !dfumgr_manifest_image(p->m, 0) ||
	    !dfumgr_manifest_image(p->m, 1)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
				 "the bundle must hold image 0 and image 1 (a pair)");
		goto fail;
	}
	dfumgr_hex(dfumgr_bundle_manifest_sha256(bundle), DFUMGR_SHA256_SIZE, p->manifest_sha);
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "unknown");
	snprintf(p->station, sizeof(p->station), "%s", host);
	if (p->o.log_path) {
		p->log_ctx = dfumgr_ctx_new();
		if (!p->log_ctx) {
			rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto fail;
		}
		rc = dfumgr_journal_open(p->log_ctx, p->o.log_path, &p->log);
		if (rc < 0) {
			rc =
			    dfumgr_fail(ctx, -rc, "station log: %s", dfumgr_ctx_errmsg(p->log_ctx));
			goto fail;
		}
	}
	*ret_run = p;
	return 0;
fail:
	dfumgr_provision_free(p);
	return rc;
}

DFUMGR_EXPORT struct dfumgr_provision *dfumgr_provision_free(struct dfumgr_provision *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_boards; i++) {
		/* a run always joins its workers before it returns */
		free(p->boards[i]);
	}
	free(p->boards);
	dfumgr_provision_serials_free(p->serials);
	dfumgr_journal_free(p->log);
	dfumgr_ctx_free(p->log_ctx);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->ev_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

/* ---- one board ---- */

static void set_message(struct dfumgr_provision_record *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(struct dfumgr_provision_record *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static void fail_record(struct dfumgr_provision_record *r, int rc, struct dfumgr_ctx *ctx)
{
	const char *msg = dfumgr_ctx_errmsg(ctx);

	r->result = DFUMGR_PROVISION_FAILED;
	r->error = rc;
	set_message(r, "%s", msg[0] ? msg : dfumgr_strerror(rc));
}

static void on_progress(void *user, const struct dfumgr_progress *ev)
{
	struct board *b = user;

	if (ev->phase < DFUMGR_PHASE_COUNT)
		b->rec.phase = ev->phase;
	emit(b->run, DFUMGR_PROVISION_EV_PROGRESS, &b->rec, ev);
}

static void phase_event(struct board *b, enum dfumgr_phase phase, uint64_t done)
{
	struct dfumgr_progress ev = {sizeof(ev), phase, -1, done, 1};

	on_progress(b, &ev);
}

/* What an update or a verify reported, into the record. */
static void take_report(struct dfumgr_provision_record *r, const struct dfumgr_update_report *u)
{
	if (u->serial[0])
		snprintf(r->serial, sizeof(r->serial), "%s", u->serial);
	if (u->path[0])
		snprintf(r->path, sizeof(r->path), "%s", u->path);
	if (u->have_before && !r->have_before) {
		r->have_before = true;
		memcpy(r->before, u->before, sizeof(r->before));
	}
	r->have_after = u->have_after;
	memcpy(r->after, u->after, sizeof(r->after));
	for (int i = 0; i < 2; i++) {
		r->digest_valid[i] = u->digest_valid[i];
		memcpy(r->digest[i], u->digest[i], DFUMGR_SHA256_SIZE);
	}
	r->digest_running = u->digest_running;
	r->bytes += u->bytes;
	r->downloads[0] += u->downloads[0];
	r->downloads[1] += u->downloads[1];
	for (int i = 0; i < DFUMGR_PHASE_COUNT; i++)
		r->phase_us[i] += u->phase_us[i];
	r->phase = u->phase;
	r->cancelled = u->cancelled;
	r->outcome = u->outcome;
	snprintf(r->board_state, sizeof(r->board_state), "%s", u->board_state);
}

/* The listed device that is the board, waiting a little for one that is re-enumerating. */
static int find_board(struct dfumgr_provision *p, struct board *b, struct dfumgr_ctx *ctx,
		      struct dfumgr_device_info *ret)
{
	uint64_t until = now(p) + (uint64_t)REFIND_MS * 1000;
	char who[DFUMGR_STRING_MAX + DFUMGR_PATH_MAX + 48];

	for (;;) {
		struct dfumgr_device_info *list = NULL;
		size_t n = 0;
		bool found = false;
		int rc = dfumgr_device_list(ctx, p->be, NULL, &list, &n);

		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n && !found; i++) {
			if (dfumgr_board_id_match(&b->id, &list[i])) {
				*ret = list[i];
				found = true;
			}
		}
		free(list);
		if (found)
			return 0;
		if (dfumgr_cancel_is_set(p->o.cancel))
			return dfumgr_fail(ctx, DFUMGR_E_CANCELLED, "cancelled before it started");
		if (now(p) >= until)
			return dfumgr_fail(ctx, DFUMGR_E_NODEV,
					   "%s went away before it could be provisioned",
					   dfumgr_board_id_str(&b->id, who, sizeof(who)));
		dfumgr_backend_wait_change(p->be, 100, p->o.cancel);
	}
}

/* GET_INFO of the board; *ret_shim false for a device without the shim. */
static int read_info(struct dfumgr_provision *p, struct board *b, struct dfumgr_ctx *ctx,
		     struct dfumgr_shim_info *ret_info, bool *ret_shim, bool *ret_dfu_mode)
{
	struct dfumgr_device_info info;
	struct dfumgr_dev *dev = NULL;
	int rc;

	rc = find_board(p, b, ctx, &info);
	if (rc < 0)
		return rc;
	*ret_dfu_mode = info.dfu_mode;
	rc = dfumgr_dev_open_info(ctx, p->be, &info, &dev);
	if (rc < 0)
		return rc;
	dfumgr_dev_set_limits(dev, p->o.cancel, 0);
	rc = dfumgr_shim_get_info(dev, ret_info);
	dfumgr_dev_close(dev);
	*ret_shim = rc == 0 && ret_info->n_images >= 2;
	if (rc == -DFUMGR_E_UNSUPPORTED &&
	    strstr(dfumgr_ctx_errmsg(ctx), "protocol version") != NULL)
		return rc; /* a shim of another version: say so, never treat it as plain */
	if (rc == -DFUMGR_E_UNSUPPORTED || rc == 0) {
		dfumgr_ctx_clear_error(ctx);
		return 0;
	}
	return rc;
}

static bool runs_release(const struct dfumgr_provision *p, const struct dfumgr_shim_info *info)
{
	for (int i = 0; i < 2; i++) {
		const struct dfumgr_manifest_image *mi = dfumgr_manifest_image(p->m, (unsigned)i);

		if (!info->images[i].primary_valid ||
		    dfumgr_version_cmp(&info->images[i].running, &mi->version) != 0)
			return false;
	}
	return true;
}

static void update_opts(struct dfumgr_provision *p, struct board *b, struct dfumgr_update_opts *uo)
{
	*uo = p->uo;
	uo->size = sizeof(*uo);
	memset(&uo->match, 0, sizeof(uo->match));
	uo->match.serial = b->id.serial[0] ? b->id.serial : NULL;
	uo->match.path = b->id.path;
	uo->progress = on_progress;
	uo->user = b;
	uo->cancel = p->o.cancel;
}

/*
 * A board that runs the release already: its digests of both running slots must match the
 * manifest. 1 when it does (skipped), 0 when they differ (update it), < 0 on failure.
 */
static int check_running(struct dfumgr_provision *p, struct board *b, struct dfumgr_ctx *ctx,
			 bool dfu_mode)
{
	struct dfumgr_provision_record *r = &b->rec;
	struct dfumgr_update_report rep = DFUMGR_UPDATE_REPORT_INIT;
	struct dfumgr_update_opts uo;
	int rc;

	update_opts(p, b, &uo);
	rc = dfumgr_verify_device(ctx, p->be, p->bundle, &uo, &rep);
	take_report(r, &rep);
	if (rc == -DFUMGR_E_MISMATCH) {
		/* the update says what the board does with a same-version pair of other bytes */
		dfumgr_ctx_clear_error(ctx);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (dfu_mode) {
		/* left in DFU mode (a station stopped after a commit): back to its application */
		struct dfumgr_board_opts bo = DFUMGR_BOARD_OPTS_INIT;
		uint64_t t = now(p);

		bo.timeout_ms = p->uo.reenumerate_timeout_ms;
		bo.cancel = p->o.cancel;
		bo.progress = on_progress;
		bo.user = b;
		rc = dfumgr_board_reboot(ctx, p->be, &uo.match, &bo, NULL);
		r->phase_us[DFUMGR_PHASE_REBOOT] += now(p) - t;
		if (rc < 0)
			return dfumgr_fail_prefix(ctx, rc, "rebooting board %s from DFU mode",
						  r->serial);
	}
	r->phase = DFUMGR_PHASE_DONE;
	r->outcome = DFUMGR_OUTCOME_NEW_PAIR;
	snprintf(r->board_state, sizeof(r->board_state),
		 "runs the release already (its digests of both running slots match)%s",
		 dfu_mode ? "; rebooted out of DFU mode" : "");
	return 1;
}

static void provision_board(struct dfumgr_provision *p, struct board *b, struct dfumgr_ctx *ctx)
{
	struct dfumgr_provision_record *r = &b->rec;
	struct dfumgr_update_report rep = DFUMGR_UPDATE_REPORT_INIT;
	struct dfumgr_update_opts uo;
	struct dfumgr_shim_info info;
	bool shim = false, dfu_mode = false;
	uint64_t t = now(p);
	int rc;

	r->phase = DFUMGR_PHASE_PREFLIGHT;
	r->outcome = DFUMGR_OUTCOME_UNTOUCHED;
	phase_event(b, DFUMGR_PHASE_PREFLIGHT, 0);
	rc = read_info(p, b, ctx, &info, &shim, &dfu_mode);
	r->phase_us[DFUMGR_PHASE_PREFLIGHT] += now(p) - t;
	if (rc < 0) {
		fail_record(r, rc, ctx);
		r->cancelled = rc == -DFUMGR_E_CANCELLED;
		snprintf(r->board_state, sizeof(r->board_state), "untouched");
		return;
	}
	if (shim) {
		snprintf(r->product, sizeof(r->product), "%s", info.product);
		r->have_before = info.images[0].primary_valid && info.images[1].primary_valid;
		for (int i = 0; i < 2; i++)
			r->before[i] = info.images[i].running;
	}
	if (p->o.all && !shim) {
		r->result = DFUMGR_PROVISION_IGNORED;
		set_message(r, "no dfu-mgr shim: its product is unknown (name it with --serial to "
			       "update it as a plain DFU device)");
		snprintf(r->board_state, sizeof(r->board_state), "untouched");
		return;
	}
	if (shim && strcmp(info.product, p->m->product) != 0) {
		snprintf(r->board_state, sizeof(r->board_state), "untouched");
		if (p->o.all) {
			r->result = DFUMGR_PROVISION_IGNORED;
			set_message(r, "a \"%s\" board, not a \"%s\"",
				    info.product[0] ? info.product : "(no product)", p->m->product);
			return;
		}
		r->result = DFUMGR_PROVISION_FAILED;
		r->error = -DFUMGR_E_PRODUCT;
		set_message(r,
			    "the bundle is for product \"%s\" but board %s is a \"%s\" (hardware "
			    "revision %u): nothing was written",
			    p->m->product, r->serial, info.product[0] ? info.product : "(none)",
			    info.hw_revision);
		return;
	}
	if (shim && !p->o.force && runs_release(p, &info)) {
		rc = check_running(p, b, ctx, dfu_mode);
		if (rc > 0) {
			r->result = DFUMGR_PROVISION_SKIPPED;
			return;
		}
		if (rc < 0) {
			fail_record(r, rc, ctx);
			return;
		}
	}
	update_opts(p, b, &uo);
	rc = dfumgr_update(ctx, p->be, p->bundle, &uo, &rep);
	take_report(r, &rep);
	if (rc < 0) {
		fail_record(r, rc, ctx);
		return;
	}
	r->result = DFUMGR_PROVISION_UPDATED;
}

/* The record is final: into the station log first, then the event that reports it. */
static void finish_record(struct dfumgr_provision *p, struct board *b)
{
	char *json = NULL;

	b->rec.finished_unix_s = (int64_t)time(NULL);
	pthread_mutex_lock(&p->lock);
	if (p->log && !p->log_error) {
		int rc = dfumgr_provision_record_json(p, &b->rec, &json);

		if (rc == 0)
			rc = dfumgr_journal_append(p->log, json);
		else
			dfumgr_ctx_set_error(p->log_ctx, -rc, "cannot make the record of board %s",
					     b->rec.serial);
		if (rc < 0) {
			p->log_error = rc;
			snprintf(p->log_errmsg, sizeof(p->log_errmsg), "%s",
				 dfumgr_ctx_errmsg(p->log_ctx));
			p->stopping = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	free(json);
	emit(p, DFUMGR_PROVISION_EV_DONE, &b->rec, NULL);
}

static void *worker(void *arg)
{
	struct board *b = arg;
	struct dfumgr_provision *p = b->run;
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	uint64_t t = now(p);

	b->rec.start_us = t - p->t0;
	b->rec.queued_us = t - b->found_us;
	emit(p, DFUMGR_PROVISION_EV_START, &b->rec, NULL);
	if (ctx) {
		provision_board(p, b, ctx);
	} else {
		b->rec.result = DFUMGR_PROVISION_FAILED;
		b->rec.error = -DFUMGR_E_NOMEM;
		set_message(&b->rec, "out of memory");
	}
	b->rec.total_us = now(p) - t;
	finish_record(p, b);
	dfumgr_ctx_free(ctx);
	pthread_mutex_lock(&p->lock);
	b->state = B_FINISHED;
	p->active--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the run ---- */

static bool wanted(const struct dfumgr_provision *p, const struct dfumgr_device_info *info)
{
	if (p->o.all)
		return true;
	for (size_t i = 0; i < p->n_serials; i++)
		if (!strcmp(p->serials[i], info->serial))
			return true;
	return false;
}

static bool known(const struct dfumgr_provision *p, const struct dfumgr_device_info *info)
{
	for (size_t i = 0; i < p->n_boards; i++)
		if (dfumgr_board_id_match(&p->boards[i]->id, info))
			return true;
	return false;
}

static struct board *add_board(struct dfumgr_provision *p, const char *serial, const char *path)
{
	struct board *b;

	if (p->n_boards == DFUMGR_PROVISION_BOARDS_MAX) {
		if (!p->too_many)
			dfumgr_log(p->ctx, DFUMGR_LOG_WARNING,
				   "more than %d boards in one run: the others are left alone",
				   DFUMGR_PROVISION_BOARDS_MAX);
		p->too_many = true;
		return NULL;
	}
	if (p->n_boards == p->cap_boards) {
		size_t cap = p->cap_boards ? 2 * p->cap_boards : 16;
		struct board **nb = realloc(p->boards, cap * sizeof(*nb));

		if (!nb)
			return NULL;
		p->boards = nb;
		p->cap_boards = cap;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->run = p;
	b->rec.size = sizeof(b->rec);
	b->rec.index = (unsigned)p->n_boards;
	snprintf(b->rec.serial, sizeof(b->rec.serial), "%s", serial);
	snprintf(b->rec.path, sizeof(b->rec.path), "%s", path);
	b->found_us = now(p);
	b->state = B_QUEUED;
	p->boards[p->n_boards++] = b;
	return b;
}

/* Finds the boards that appeared since the last look. */
static void scan(struct dfumgr_provision *p)
{
	struct dfumgr_match mt = {.vid = p->m->vid, .pid = p->m->pid};
	struct dfumgr_device_info *list = NULL;
	size_t n = 0;

	if (dfumgr_device_list(p->ctx, p->be, &mt, &list, &n) < 0) {
		/* the next look may work (a device that went while it was read) */
		dfumgr_ctx_clear_error(p->ctx);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct board *b;

		if (!wanted(p, &list[i]) || known(p, &list[i]))
			continue;
		pthread_mutex_lock(&p->lock);
		b = add_board(p, list[i].serial, list[i].path);
		if (b)
			dfumgr_board_id_from_info(&list[i], &b->id);
		pthread_mutex_unlock(&p->lock);
		if (b)
			emit(p, DFUMGR_PROVISION_EV_FOUND, &b->rec, NULL);
	}
	free(list);
}

/* Starts queued boards while jobs allow. Under lock. */
static void start_queued(struct dfumgr_provision *p)
{
	for (size_t i = 0; i < p->n_boards && !p->stopping; i++) {
		struct board *b = p->boards[i];

		if (b->state != B_QUEUED)
			continue;
		if (p->o.jobs && p->active >= p->o.jobs)
			return;
		if (pthread_create(&b->thread, NULL, worker, b) != 0) {
			dfumgr_log(p->ctx, DFUMGR_LOG_WARNING,
				   "cannot start a thread for board %s (%s): tried again later",
				   b->rec.serial, strerror(errno));
			return;
		}
		b->state = B_RUNNING;
		p->active++;
	}
}

/* Joins the workers that finished. Under lock (a worker's last step takes it too). */
static void reap(struct dfumgr_provision *p)
{
	for (size_t i = 0; i < p->n_boards; i++) {
		struct board *b = p->boards[i];

		if (b->state != B_FINISHED)
			continue;
		pthread_mutex_unlock(&p->lock);
		pthread_join(b->thread, NULL);
		pthread_mutex_lock(&p->lock);
		b->state = B_JOINED;
	}
}

static unsigned count_state(const struct dfumgr_provision *p, enum board_state s)
{
	unsigned n = 0;

	for (size_t i = 0; i < p->n_boards; i++)
		n += p->boards[i]->state == s;
	return n;
}

/* Boards with a result that counts for --wait: every one but the ignored. */
static unsigned results(const struct dfumgr_provision *p)
{
	unsigned n = 0;

	for (size_t i = 0; i < p->n_boards; i++) {
		const struct board *b = p->boards[i];

		n += b->state == B_JOINED && b->rec.result != DFUMGR_PROVISION_IGNORED;
	}
	return n;
}

static bool serial_done(const struct dfumgr_provision *p, const char *serial)
{
	for (size_t i = 0; i < p->n_boards; i++)
		if (p->boards[i]->state == B_JOINED && !strcmp(p->boards[i]->rec.serial, serial))
			return true;
	return false;
}

/* Nothing is being provisioned: is that all? Under lock. */
static bool satisfied(const struct dfumgr_provision *p)
{
	if (p->o.all)
		return results(p) >= (p->o.wait_count ? p->o.wait_count : 1);
	for (size_t i = 0; i < p->n_serials; i++)
		if (!serial_done(p, p->serials[i]))
			return false;
	return true;
}

static uint64_t wait_left_us(struct dfumgr_provision *p)
{
	uint64_t limit = (uint64_t)p->o.wait_timeout_ms * 1000, spent = now(p) - p->t0;

	if (p->o.wait_timeout_ms == DFUMGR_PROVISION_WAIT_FOREVER)
		return UINT64_MAX;
	return spent >= limit ? 0 : limit - spent;
}

static void cond_wait_ms(struct dfumgr_provision *p, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

/* Records for what never ran: listed serials not seen, boards queued when the run stopped. */
static void close_records(struct dfumgr_provision *p)
{
	double waited = (double)(now(p) - p->t0) / 1e6;

	for (size_t i = 0; i < p->n_boards; i++) {
		struct board *b = p->boards[i];

		if (b->state != B_QUEUED)
			continue;
		b->rec.result = DFUMGR_PROVISION_FAILED;
		b->rec.outcome = DFUMGR_OUTCOME_UNTOUCHED;
		b->rec.cancelled = p->cancelled;
		b->rec.error = p->cancelled ? -DFUMGR_E_CANCELLED : p->log_error;
		snprintf(b->rec.board_state, sizeof(b->rec.board_state), "untouched");
		set_message(&b->rec, "not started: %s",
			    p->cancelled ? "the run was cancelled"
					 : "the station log could not be written");
		b->rec.queued_us = now(p) - b->found_us;
		finish_record(p, b);
		b->state = B_JOINED;
	}
	for (size_t i = 0; i < p->n_serials; i++) {
		struct board *b;
		bool seen = false;

		for (size_t k = 0; k < p->n_boards && !seen; k++)
			seen = !strcmp(p->boards[k]->rec.serial, p->serials[i]);
		if (seen)
			continue;
		b = add_board(p, p->serials[i], "");
		if (!b)
			continue;
		b->rec.result = DFUMGR_PROVISION_MISSING;
		b->rec.error = p->cancelled ? -DFUMGR_E_CANCELLED : -DFUMGR_E_NODEV;
		b->rec.cancelled = p->cancelled;
		b->rec.outcome = DFUMGR_OUTCOME_UNKNOWN;
		set_message(&b->rec, "board %s was not connected (waited %.1f s)%s", p->serials[i],
			    waited, p->cancelled ? "; the run was cancelled" : "");
		emit(p, DFUMGR_PROVISION_EV_FOUND, &b->rec, NULL);
		finish_record(p, b);
		b->state = B_JOINED;
	}
}

DFUMGR_EXPORT int dfumgr_provision_run(struct dfumgr_provision *p, struct dfumgr_backend *be)
{
	unsigned bad = 0;
	int rc = 0;

	if (!p || !be)
		return -DFUMGR_E_INVAL;
	if (p->ran)
		return dfumgr_fail(p->ctx, DFUMGR_E_INVAL, "a provisioning run runs once");
	p->ran = true;
	p->be = be;
	p->t0 = now(p);
	{
		int64_t t = (int64_t)time(NULL);
		char stamp[24];

		utc_time(t, true, stamp, sizeof(stamp));
		snprintf(p->run_id, sizeof(p->run_id), "%s-%ld", stamp, (long)getpid());
		utc_time(t, false, p->started, sizeof(p->started));
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (dfumgr_cancel_is_set(p->o.cancel)) {
			p->cancelled = true;
			p->stopping = true;
		}
		if (!p->stopping) {
			pthread_mutex_unlock(&p->lock);
			scan(p);
			pthread_mutex_lock(&p->lock);
		}
		reap(p);
		start_queued(p);
		if (p->active == 0 && (p->stopping || count_state(p, B_QUEUED) == 0)) {
			uint64_t left;

			if (p->stopping || satisfied(p))
				break;
			left = wait_left_us(p);
			if (left == 0)
				break;
			/* nothing to do but wait for boards: on the backend's hotplug events */
			pthread_mutex_unlock(&p->lock);
			dfumgr_backend_wait_change(
			    be, left < 100000 ? (unsigned)(left / 1000) + 1 : 100, p->o.cancel);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		/* boards are being provisioned: wake when one finishes, or look again soon */
		cond_wait_ms(p, SCAN_PERIOD_MS);
	}
	/* a worker may have finished while reap() waited for another: join it too */
	reap(p);
	pthread_mutex_unlock(&p->lock);
	/* every worker is joined: the records are this thread's alone (finish_record() locks) */
	close_records(p);
	p->total_us = now(p) - p->t0;
	for (size_t i = 0; i < p->n_boards; i++) {
		enum dfumgr_provision_result res = p->boards[i]->rec.result;

		bad += res == DFUMGR_PROVISION_FAILED || res == DFUMGR_PROVISION_MISSING;
	}
	if (p->o.all && p->o.wait_count && results(p) < p->o.wait_count)
		p->lacking = p->o.wait_count - results(p);
	if (p->cancelled) {
		rc = dfumgr_fail(p->ctx, DFUMGR_E_CANCELLED, "cancelled");
	} else if (p->log_error) {
		rc = dfumgr_fail(p->ctx, -p->log_error, "station log %s: %s", p->o.log_path,
				 p->log_errmsg);
	} else if (p->o.all && !p->o.wait_count && results(p) == 0) {
		rc = dfumgr_fail(p->ctx, DFUMGR_E_NODEV,
				 "no board of product \"%s\" (USB %04x:%04x) is connected%s",
				 p->m->product, p->m->vid, p->m->pid,
				 p->n_boards ? " (the boards found are of another product or "
					       "without the dfu-mgr shim)"
					     : "");
	} else {
		rc = (int)(bad + p->lacking);
	}
	return rc;
}

/* ---- results ---- */

DFUMGR_EXPORT size_t dfumgr_provision_count(const struct dfumgr_provision *p)
{
	return p ? p->n_boards : 0;
}

DFUMGR_EXPORT const struct dfumgr_provision_record *dfumgr_provision_record(
    const struct dfumgr_provision *p, size_t index)
{
	return p && index < p->n_boards ? &p->boards[index]->rec : NULL;
}

DFUMGR_EXPORT int dfumgr_provision_summary(const struct dfumgr_provision *p,
					   struct dfumgr_provision_summary *ret)
{
	struct dfumgr_provision_summary s = {0};

	if (!p || !ret ||
	    ret->size < offsetof(struct dfumgr_provision_summary, total_us) + sizeof(ret->total_us))
		return -DFUMGR_E_INVAL;
	s.boards = (unsigned)p->n_boards;
	for (size_t i = 0; i < p->n_boards; i++) {
		enum dfumgr_provision_result r = p->boards[i]->rec.result;

		if ((unsigned)r < DFUMGR_PROVISION_RESULT_COUNT)
			s.counts[r]++;
	}
	s.wanted = p->o.all ? p->o.wait_count : (unsigned)p->n_serials;
	s.lacking = p->lacking;
	s.cancelled = p->cancelled;
	s.total_us = p->total_us;
	s.size = ret->size < sizeof(s) ? ret->size : sizeof(s);
	memcpy(ret, &s, s.size);
	return 0;
}

/* ---- JSON (cJSON, the one writer): the record, in the log and in the report ---- */

static double seconds(uint64_t us)
{
	/* milliseconds are plenty, and keep the numbers short */
	return (double)(us / 1000) / 1000.0;
}

static bool add_versions(cJSON *o, const char *key, bool valid,
			 const struct dfumgr_image_version v[2])
{
	char buf[DFUMGR_VERSION_STRING_MAX];
	cJSON *a;

	if (!valid)
		return cJSON_AddNullToObject(o, key) != NULL;
	a = cJSON_AddArrayToObject(o, key);
	for (int i = 0; a && i < 2; i++) {
		cJSON *s = cJSON_CreateString(dfumgr_version_format(&v[i], buf));

		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return a != NULL;
}

static cJSON *bundle_json(const struct dfumgr_provision *p)
{
	const struct dfumgr_image_version v[2] = {dfumgr_manifest_image(p->m, 0)->version,
						  dfumgr_manifest_image(p->m, 1)->version};
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "product", p->m->product) ||
	    !cJSON_AddStringToObject(o, "release", p->m->release) ||
	    !add_versions(o, "versions", true, v) ||
	    !cJSON_AddStringToObject(o, "manifest_sha256", p->manifest_sha)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *record_cjson(const struct dfumgr_provision *p,
			   const struct dfumgr_provision_record *r)
{
	char when[32], hex[2 * DFUMGR_SHA256_SIZE + 1];
	cJSON *o = cJSON_CreateObject(), *a, *ph, *bundle = bundle_json(p);
	bool ok = o && bundle;

	if (ok) {
		cJSON_AddItemToObject(o, "type", cJSON_CreateString("dfu-mgr provision"));
		cJSON_AddItemToObject(o, "run", cJSON_CreateString(p->run_id));
		cJSON_AddItemToObject(o, "station", cJSON_CreateString(p->station));
		utc_time(r->finished_unix_s, false, when, sizeof(when));
		cJSON_AddItemToObject(o, "time", cJSON_CreateString(when));
		cJSON_AddItemToObject(o, "bundle", bundle);
		bundle = NULL;
		cJSON_AddItemToObject(o, "serial", cJSON_CreateString(r->serial));
		cJSON_AddItemToObject(o, "path", cJSON_CreateString(r->path));
		cJSON_AddItemToObject(o, "product", cJSON_CreateString(r->product));
		cJSON_AddItemToObject(o, "result",
				      cJSON_CreateString(dfumgr_provision_result_name(r->result)));
		cJSON_AddItemToObject(o, "ok",
				      cJSON_CreateBool(r->result == DFUMGR_PROVISION_UPDATED ||
						       r->result == DFUMGR_PROVISION_SKIPPED));
		cJSON_AddItemToObject(o, "outcome",
				      cJSON_CreateString(dfumgr_outcome_name(r->outcome)));
		cJSON_AddItemToObject(o, "outcome_code", cJSON_CreateNumber(r->outcome));
		cJSON_AddItemToObject(o, "board_state", cJSON_CreateString(r->board_state));
		cJSON_AddItemToObject(o, "phase", cJSON_CreateString(dfumgr_phase_name(r->phase)));
		cJSON_AddItemToObject(o, "cancelled", cJSON_CreateBool(r->cancelled));
		ok = add_versions(o, "before", r->have_before, r->before) &&
		     add_versions(o, "after", r->have_after, r->after);
		a = cJSON_AddArrayToObject(o, "digests");
		for (int i = 0; a && i < 2; i++) {
			if (r->digest_valid[i]) {
				dfumgr_hex(r->digest[i], DFUMGR_SHA256_SIZE, hex);
				cJSON_AddItemToArray(a, cJSON_CreateString(hex));
			} else {
				cJSON_AddItemToArray(a, cJSON_CreateNull());
			}
		}
		cJSON_AddItemToObject(
		    o, "digests_of",
		    r->digest_valid[0] || r->digest_valid[1]
			? cJSON_CreateString(r->digest_running ? "running" : "written")
			: cJSON_CreateNull());
		cJSON_AddItemToObject(o, "bytes", cJSON_CreateNumber((double)r->bytes));
		a = cJSON_AddArrayToObject(o, "downloads");
		for (int i = 0; a && i < 2; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(r->downloads[i]));
		ph = cJSON_AddObjectToObject(o, "phase_seconds");
		for (int i = 0; ph && i < DFUMGR_PHASE_COUNT; i++)
			if (r->phase_us[i])
				cJSON_AddItemToObject(ph, dfumgr_phase_name((enum dfumgr_phase)i),
						      cJSON_CreateNumber(seconds(r->phase_us[i])));
		cJSON_AddItemToObject(o, "queued_seconds",
				      cJSON_CreateNumber(seconds(r->queued_us)));
		cJSON_AddItemToObject(o, "seconds", cJSON_CreateNumber(seconds(r->total_us)));
		if (r->error) {
			cJSON *e = cJSON_AddObjectToObject(o, "error");

			if (e) {
				cJSON_AddItemToObject(e, "code", cJSON_CreateNumber(-r->error));
				cJSON_AddItemToObject(
				    e, "name", cJSON_CreateString(dfumgr_strerror(r->error)));
				cJSON_AddItemToObject(e, "message", cJSON_CreateString(r->message));
			}
		} else {
			cJSON_AddItemToObject(o, "error", cJSON_CreateNull());
		}
		if (r->result == DFUMGR_PROVISION_IGNORED)
			cJSON_AddItemToObject(o, "note", cJSON_CreateString(r->message));
	}
	cJSON_Delete(bundle);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

DFUMGR_EXPORT int dfumgr_provision_record_json(const struct dfumgr_provision *p,
					       const struct dfumgr_provision_record *r,
					       char **ret_json)
{
	cJSON *o;
	char *text;

	if (!p || !r || !ret_json)
		return -DFUMGR_E_INVAL;
	o = record_cjson(p, r);
	text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text)
		return -DFUMGR_E_NOMEM;
	*ret_json = text;
	return 0;
}

DFUMGR_EXPORT int dfumgr_provision_report_format(struct dfumgr_ctx *ctx, const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (dot && !strchr(dot, '/')) {
		if (!strcasecmp(dot, ".json"))
			return DFUMGR_PROVISION_REPORT_JSON;
		if (!strcasecmp(dot, ".csv"))
			return DFUMGR_PROVISION_REPORT_CSV;
	}
	return dfumgr_fail(ctx, DFUMGR_E_INVAL,
			   "report %s: the format follows the name's extension: .json or .csv",
			   path ? path : "(null)");
}

static int report_json(struct dfumgr_provision *p, char **ret, size_t *ret_size)
{
	struct dfumgr_provision_summary s = {.size = sizeof(s)};
	cJSON *root = cJSON_CreateObject(), *sum, *boards, *bundle = bundle_json(p);
	int rc = -DFUMGR_E_NOMEM;

	dfumgr_provision_summary(p, &s);
	if (!root || !bundle)
		goto out;
	cJSON_AddItemToObject(root, "type", cJSON_CreateString("dfu-mgr provision report"));
	cJSON_AddItemToObject(root, "report_version", cJSON_CreateNumber(1));
	cJSON_AddItemToObject(root, "run", cJSON_CreateString(p->run_id));
	cJSON_AddItemToObject(root, "station", cJSON_CreateString(p->station));
	cJSON_AddItemToObject(root, "started", cJSON_CreateString(p->started));
	cJSON_AddItemToObject(root, "bundle", bundle);
	bundle = NULL;
	sum = cJSON_AddObjectToObject(root, "summary");
	if (!sum)
		goto out;
	cJSON_AddItemToObject(sum, "boards", cJSON_CreateNumber(s.boards));
	for (int i = 0; i < DFUMGR_PROVISION_RESULT_COUNT; i++)
		cJSON_AddItemToObject(sum,
				      dfumgr_provision_result_name((enum dfumgr_provision_result)i),
				      cJSON_CreateNumber(s.counts[i]));
	cJSON_AddItemToObject(sum, "wanted", cJSON_CreateNumber(s.wanted));
	cJSON_AddItemToObject(sum, "lacking", cJSON_CreateNumber(s.lacking));
	cJSON_AddItemToObject(sum, "cancelled", cJSON_CreateBool(s.cancelled));
	cJSON_AddItemToObject(sum, "seconds", cJSON_CreateNumber(seconds(s.total_us)));
	boards = cJSON_AddArrayToObject(root, "boards");
	if (!boards)
		goto out;
	for (size_t i = 0; i < p->n_boards; i++) {
		cJSON *r = record_cjson(p, &p->boards[i]->rec);

		if (!r)
			goto out;
		cJSON_AddItemToArray(boards, r);
	}
	rc = dfumgr_json_print(p->ctx, "report", root, REPORT_MAX, ret, ret_size);
out:
	if (rc == -DFUMGR_E_NOMEM)
		dfumgr_fail(p->ctx, DFUMGR_E_NOMEM, "out of memory");
	cJSON_Delete(bundle);
	cJSON_Delete(root);
	return rc;
}

/* ---- CSV (RFC 4180) ---- */

struct buf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->n + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/*
 * One field, quoted when it holds a comma, a quote or a line break. A board's strings that
 * start like a formula (= + - @) get a leading apostrophe, so that a spreadsheet shows them as
 * text and never runs them (OWASP's CSV injection advice).
 */
static void csv_field(struct buf *b, const char *s, bool first)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (!first)
		put(b, ",", 1);
	if (quote)
		put(b, "\"", 1);
	if (s[0] && strchr("=+-@", s[0]))
		put(b, "'", 1);
	for (; *s; s++)
		put(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
	if (quote)
		put(b, "\"", 1);
}

static void csv_num(struct buf *b, int decimals, double v)
{
	char num[32];

	snprintf(num, sizeof(num), "%.*f", decimals, v);
	csv_field(b, num, false);
}

static const enum dfumgr_phase csv_phases[] = {
    DFUMGR_PHASE_PREFLIGHT, DFUMGR_PHASE_DETACH, DFUMGR_PHASE_DOWNLOAD, DFUMGR_PHASE_VERIFY,
    DFUMGR_PHASE_COMMIT,    DFUMGR_PHASE_REBOOT, DFUMGR_PHASE_CHECK};

static int report_csv(struct dfumgr_provision *p, char **ret, size_t *ret_size)
{
	const struct dfumgr_manifest *m = p->m;
	struct buf b = {0};
	char v[DFUMGR_VERSION_STRING_MAX], when[32], hex[2 * DFUMGR_SHA256_SIZE + 1];

	put(&b,
	    "serial,path,product,result,outcome,error,message,before_image0,before_image1,"
	    "after_image0,after_image1,digest_image0,digest_image1,digests_of,bytes,seconds,",
	    strlen("serial,path,product,result,outcome,error,message,before_image0,before_image1,"
		   "after_image0,after_image1,digest_image0,digest_image1,digests_of,bytes,"
		   "seconds,"));
	for (size_t i = 0; i < ARRAY_SIZE(csv_phases); i++) {
		put(&b, dfumgr_phase_name(csv_phases[i]), strlen(dfumgr_phase_name(csv_phases[i])));
		put(&b, "_seconds,", 9);
	}
	put(&b, "queued_seconds,time,bundle_product,release,run,station\r\n",
	    strlen("queued_seconds,time,bundle_product,release,run,station\r\n"));
	for (size_t k = 0; k < p->n_boards; k++) {
		const struct dfumgr_provision_record *r = &p->boards[k]->rec;

		csv_field(&b, r->serial, true);
		csv_field(&b, r->path, false);
		csv_field(&b, r->product, false);
		csv_field(&b, dfumgr_provision_result_name(r->result), false);
		csv_field(&b, dfumgr_outcome_name(r->outcome), false);
		csv_field(&b, r->error ? dfumgr_strerror(r->error) : "", false);
		csv_field(&b, r->message, false);
		for (int i = 0; i < 2; i++)
			csv_field(&b, r->have_before ? dfumgr_version_format(&r->before[i], v) : "",
				  false);
		for (int i = 0; i < 2; i++)
			csv_field(&b, r->have_after ? dfumgr_version_format(&r->after[i], v) : "",
				  false);
		for (int i = 0; i < 2; i++) {
			hex[0] = '\0';
			if (r->digest_valid[i])
				dfumgr_hex(r->digest[i], DFUMGR_SHA256_SIZE, hex);
			csv_field(&b, hex, false);
		}
		csv_field(&b,
			  r->digest_valid[0] || r->digest_valid[1]
			      ? (r->digest_running ? "running" : "written")
			      : "",
			  false);
		csv_num(&b, 0, (double)r->bytes);
		csv_num(&b, 3, seconds(r->total_us));
		for (size_t i = 0; i < ARRAY_SIZE(csv_phases); i++)
			csv_num(&b, 3, seconds(r->phase_us[csv_phases[i]]));
		csv_num(&b, 3, seconds(r->queued_us));
		utc_time(r->finished_unix_s, false, when, sizeof(when));
		csv_field(&b, when, false);
		csv_field(&b, m->product, false);
		csv_field(&b, m->release, false);
		csv_field(&b, p->run_id, false);
		csv_field(&b, p->station, false);
		put(&b, "\r\n", 2);
	}
	if (b.oom) {
		free(b.p);
		return dfumgr_fail(p->ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	*ret = b.p;
	*ret_size = b.n;
	return 0;
}

DFUMGR_EXPORT int dfumgr_provision_write_report(struct dfumgr_provision *p, const char *path)
{
	char *text = NULL;
	size_t size = 0;
	int fmt, rc;

	if (!p || !path)
		return -DFUMGR_E_INVAL;
	fmt = dfumgr_provision_report_format(p->ctx, path);
	if (fmt < 0)
		return fmt;
	rc = fmt == DFUMGR_PROVISION_REPORT_JSON ? report_json(p, &text, &size)
						 : report_csv(p, &text, &size);
	if (rc == 0)
		rc = dfumgr_file_write(p->ctx, path, text, size, true);
	if (rc < 0)
		dfumgr_fail_prefix(p->ctx, rc, "report %s", path);
	free(text);
	return rc;
}

/* ---- the serials file ---- */

DFUMGR_EXPORT char **dfumgr_provision_serials_free(char **serials)
{
	if (serials) {
		for (char **s = serials; *s; s++)
			free(*s);
		free(serials);
	}
	return NULL;
}

DFUMGR_EXPORT int dfumgr_provision_serials_load(struct dfumgr_ctx *ctx, const char *path,
						char ***ret_serials, size_t *ret_n)
{
	uint8_t *buf = NULL;
	size_t size = 0, n = 0, line = 0;
	char **out = NULL;
	int rc;

	if (!path || !ret_serials || !ret_n)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL,
				   "dfumgr_provision_serials_load: NULL argument");
	rc = dfumgr_file_read(ctx, path, SERIALS_FILE_MAX, &buf, &size);
	if (rc < 0)
		return rc;
	out = calloc(1, sizeof(*out));
	if (!out) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t at = 0; at < size;) {
		size_t start = at, end = at, a, z;
		char **grown;

		while (end < size && buf[end] != '\n')
			end++;
		line++;
		a = at;
		z = end;
		at = end + 1;
		while (a < z && (buf[a] == ' ' || buf[a] == '\t'))
			a++;
		while (z > a && (buf[z - 1] == ' ' || buf[z - 1] == '\t' || buf[z - 1] == '\r'))
			z--;
		if (a == z || buf[a] == '#')
			continue;
		if (z - a >= DFUMGR_STRING_MAX) {
			rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
					 "%s line %zu: a serial number of %zu bytes (at most %d)",
					 path, line, z - a, DFUMGR_STRING_MAX - 1);
			goto out;
		}
		for (size_t i = a; i < z; i++) {
			if (buf[i] < 0x20 || buf[i] > 0x7e) {
				rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
						 "%s line %zu: byte 0x%02x at column %zu is not "
						 "printable ASCII",
						 path, line, buf[i], i - start + 1);
				goto out;
			}
		}
		if (n == DFUMGR_PROVISION_SERIALS_MAX) {
			rc = dfumgr_fail(ctx, DFUMGR_E_TOOBIG, "%s: more than %d serial numbers",
					 path, DFUMGR_PROVISION_SERIALS_MAX);
			goto out;
		}
		grown = realloc(out, (n + 2) * sizeof(*out));
		if (!grown) {
			rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto out;
		}
		out = grown;
		out[n] = strndup((const char *)buf + a, z - a);
		out[n + 1] = NULL;
		if (!out[n]) {
			rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			if (!strcmp(out[k], out[n])) {
				rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT,
						 "%s line %zu: serial number %s is listed twice",
						 path, line, out[n]);
				n++;
				goto out;
			}
		}
		n++;
	}
	if (n == 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT, "%s: no serial number in it", path);
		goto out;
	}
	*ret_serials = out;
	*ret_n = n;
	out = NULL;
	rc = 0;
out:
	dfumgr_provision_serials_free(out);
	free(buf);
	return rc;
}
