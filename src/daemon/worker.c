/* SPDX-License-Identifier: MIT */
/*
 * One board's update, in a thread of its own, through the same library call as `dfu-mgr
 * update` (dfumgr_update()). This file is the daemon's only seam to the update engine: it
 * opens and verifies the release again (what was checked at acceptance is not trusted now),
 * runs the update with its own library context on the daemon's shared backend (whose device
 * monitor follows the board across its re-enumerations by port, serial and vendor), and turns
 * the engine's progress events into messages for the loop; the report's outcome (what the board
 * runs now) goes into the history as data.
 *
 * Phase changes are synchronous: the worker waits until the loop has the PHASE record on disk
 * before it goes on, so after a kill -9 the history names the phase the update was in, never
 * an earlier one. Stopping the daemon triggers the one cancel token every update waits on: each
 * stops within a second, leaving the board on its old pair; a COMMIT already sent is waited for,
 * and it is one request in which the board writes both images' trailers, so no stop lands
 * between them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "dfumgr/bundle.h"
#include "dfumgr/keyring.h"

/* Progress messages at most this often per update (plus every phase change). */
#define PROGRESS_INTERVAL_US (250 * 1000)

struct update_job {
	struct job base;
	char serial[DFUMGR_STRING_MAX];
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	char release_id[DFUMGR_HISTORY_ID_MAX];
	struct dfumgr_image_version version[2];
	int releases_fd; /* a dup, the job's own */
	char keys[4096];
	bool allow_downgrade;
	unsigned attempt;
	bool manual;
	struct dfumgr_backend *be;          /* the daemon's, shared (thread-safe) */
	const struct dfumgr_cancel *cancel; /* the daemon's stop */

	/* the loop's copy of the progress */
	enum dfumgr_update_phase phase;
	uint64_t done, total;

	/* the worker's */
	enum dfumgr_update_phase w_phase;
	uint64_t last_post_us;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned seq, acked;

	/* results */
	int rc;
	struct dfumgr_update_report report;
	char message[DFUMGR_HISTORY_MESSAGE_MAX];
};

/* ---- test hook: DFUMGRD_TEST_CRASH=PHASE[:N] ---- */

static pthread_mutex_t crash_lock = PTHREAD_MUTEX_INITIALIZER;
static enum dfumgr_update_phase crash_phase = DFUMGR_PHASE_COUNT;
static unsigned crash_countdown;

/*
 * For crash tests: SIGKILL the daemon when an update enters PHASE (a dfumgr_update_phase_name()
 * word) for the N-th time (default 1), right after the PHASE record is on disk: the same as a
 * kill -9 or a power cut at that moment, at the same place every run.
 */
int worker_test_hook(const char *env)
{
	char word[16];
	const char *colon;
	unsigned long n = 1;

	if (!env || !*env)
		return 0;
	colon = strchr(env, ':');
	snprintf(word, sizeof(word), "%.*s", colon ? (int)(colon - env) : (int)strlen(env), env);
	if (colon) {
		char *end;

		errno = 0;
		n = strtoul(colon + 1, &end, 10);
		if (errno || *end || n == 0 || n > 1000)
			return -1;
	}
	for (int p = 0; p < DFUMGR_PHASE_COUNT; p++)
		if (!strcmp(word, dfumgr_update_phase_name((enum dfumgr_update_phase)p))) {
			crash_phase = (enum dfumgr_update_phase)p;
			crash_countdown = (unsigned)n;
			return 0;
		}
	return -1;
}

static void crash_point(enum dfumgr_update_phase p)
{
	bool now = false;

	pthread_mutex_lock(&crash_lock);
	if (p == crash_phase && crash_countdown && --crash_countdown == 0)
		now = true;
	pthread_mutex_unlock(&crash_lock);
	if (now)
		raise(SIGKILL);
}

/* ---- in the worker's thread ---- */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void post(struct update_job *u, enum msg_kind kind, enum dfumgr_update_phase phase,
		 uint64_t done, uint64_t total, unsigned seq)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (!m)
		return; /* progress is best effort; a PHASE the loop never sees is not waited for */
	m->kind = kind;
	m->job = &u->base;
	m->phase = phase;
	m->done = done;
	m->total = total;
	m->seq = seq;
	jobs_post(u->base.d, m);
}

static void enter_phase(struct update_job *u, enum dfumgr_update_phase p, uint64_t done,
			uint64_t total)
{
	unsigned seq;

	u->w_phase = p;
	pthread_mutex_lock(&u->lock);
	seq = ++u->seq;
	pthread_mutex_unlock(&u->lock);
	post(u, MSG_PHASE, p, done, total, seq);
	pthread_mutex_lock(&u->lock);
	while (u->acked < seq)
		pthread_cond_wait(&u->cond, &u->lock);
	pthread_mutex_unlock(&u->lock);
	crash_point(p);
}

static void on_progress(void *user, const struct dfumgr_progress *ev)
{
	struct update_job *u = user;
	enum dfumgr_update_phase p = ev->phase;
	uint64_t done = ev->done, total = ev->total;
	uint64_t now = mono_us();

	if (p != u->w_phase) {
		enter_phase(u, p, done, total);
	} else if (now - u->last_post_us < PROGRESS_INTERVAL_US && done != total) {
		return;
	}
	u->last_post_us = now;
	post(u, MSG_PROGRESS, p, done, total, 0);
}

static void update_run(struct job *job)
{
	struct update_job *u = (struct update_job *)job;
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_bundle *b = NULL;
	char rel[256];

	if (!ctx) {
		u->rc = -DFUMGR_E_NOMEM;
		snprintf(u->message, sizeof(u->message), "out of memory");
		return;
	}
	u->rc = dfumgr_keyring_load(ctx, u->keys, &ring);
	if (u->rc < 0) {
		snprintf(u->message, sizeof(u->message), "trusted keys %.200s: %s", u->keys,
			 dfumgr_ctx_errmsg(ctx));
		goto out;
	}
	/* verified again at use: what the store holds now is what gets written */
	snprintf(rel, sizeof(rel), "%s/%s", u->product, u->release_id);
	u->rc = dfumgr_bundle_openat(ctx, u->releases_fd, rel, ring, 0, NULL, &b);
	if (u->rc < 0) {
		snprintf(u->message, sizeof(u->message), "release %s no longer verifies: %s", rel,
			 dfumgr_ctx_errmsg(ctx));
		goto out;
	}
	o.match.serial = u->serial;
	o.allow_downgrade = u->allow_downgrade;
	o.progress = on_progress;
	o.user = u;
	o.cancel = u->cancel;
	u->rc = dfumgr_update(ctx, u->be, b, &o, &u->report);
out:
	if (u->rc < 0 && !u->message[0])
		snprintf(u->message, sizeof(u->message), "%s",
			 dfumgr_ctx_errmsg(ctx)[0] ? dfumgr_ctx_errmsg(ctx)
						   : dfumgr_strerror(u->rc));
	dfumgr_bundle_free(b);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

/* ---- on the loop ---- */

static void update_done(struct daemon *d, struct job *job)
{
	struct update_job *u = (struct update_job *)job;
	struct board *b = board_find(d, u->serial);

	if (b && b->job == u)
		policy_job_done(d, b, u->rc, &u->report, u->message);
	close(u->releases_fd);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u);
}

static const struct job_ops update_ops = {"update", update_run, update_done};

struct update_job *worker_start(struct daemon *d, struct board *b, const struct release *r,
				unsigned attempt, bool manual)
{
	struct update_job *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->base.ops = &update_ops;
	u->report.size = sizeof(u->report);
	u->report.outcome = DFUMGR_OUTCOME_UNTOUCHED; /* until the engine says otherwise */
	u->be = d->backend;
	u->cancel = d->cancel;
	snprintf(u->serial, sizeof(u->serial), "%s", b->serial);
	snprintf(u->product, sizeof(u->product), "%s", r->product);
	snprintf(u->release, sizeof(u->release), "%s", r->release);
	snprintf(u->release_id, sizeof(u->release_id), "%s", r->id);
	u->version[0] = r->version[0];
	u->version[1] = r->version[1];
	snprintf(u->keys, sizeof(u->keys), "%s", d->cfg.paths[PATH_KEYS]);
	u->allow_downgrade = d->cfg.allow_downgrade;
	u->attempt = attempt;
	u->manual = manual;
	u->phase = u->w_phase = DFUMGR_PHASE_PREFLIGHT;
	u->releases_fd = fcntl(d->releases_fd, F_DUPFD_CLOEXEC, 3);
	if (u->releases_fd < 0) {
		free(u);
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	if (jobs_start(d, &u->base) < 0) {
		close(u->releases_fd);
		pthread_mutex_destroy(&u->lock);
		pthread_cond_destroy(&u->cond);
		free(u);
		return NULL;
	}
	return u;
}

void worker_progress(const struct update_job *u, enum dfumgr_update_phase *ret_phase,
		     uint64_t *ret_done, uint64_t *ret_total)
{
	*ret_phase = u->phase;
	*ret_done = u->done;
	*ret_total = u->total;
}

const char *worker_product(const struct update_job *u)
{
	return u->product;
}

const char *worker_release_id(const struct update_job *u)
{
	return u->release_id;
}

unsigned worker_attempt(const struct update_job *u)
{
	return u->attempt;
}

bool worker_manual(const struct update_job *u)
{
	return u->manual;
}

void worker_ack_phase(struct update_job *u, unsigned seq)
{
	pthread_mutex_lock(&u->lock);
	if (seq > u->acked)
		u->acked = seq;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

static cJSON *progress_event(const struct update_job *u, const char *kind)
{
	cJSON *ev = cJSON_CreateObject();

	if (!ev)
		return NULL;
	cJSON_AddStringToObject(ev, "event", kind);
	cJSON_AddStringToObject(ev, "serial", u->serial);
	cJSON_AddStringToObject(ev, "release", u->release);
	cJSON_AddStringToObject(ev, "release_id", u->release_id);
	cJSON_AddStringToObject(ev, "phase", dfumgr_update_phase_name(u->phase));
	cJSON_AddNumberToObject(ev, "done", (double)u->done);
	cJSON_AddNumberToObject(ev, "total", (double)u->total);
	return ev;
}

void worker_on_msg(struct daemon *d, struct msg *m)
{
	struct update_job *u = (struct update_job *)m->job;

	u->phase = m->phase;
	u->done = m->done;
	u->total = m->total;
	if (m->kind == MSG_PHASE) {
		struct dfumgr_history_record rec = {.size = sizeof(rec),
						    .event = DFUMGR_HISTORY_PHASE};

		snprintf(rec.serial, sizeof(rec.serial), "%s", u->serial);
		snprintf(rec.product, sizeof(rec.product), "%s", u->product);
		snprintf(rec.release, sizeof(rec.release), "%s", u->release);
		snprintf(rec.release_id, sizeof(rec.release_id), "%s", u->release_id);
		rec.attempt = u->attempt;
		snprintf(rec.phase, sizeof(rec.phase), "%s", dfumgr_update_phase_name(m->phase));
		(void)state_append(d, &rec);
		daemon_log(d, 7, "Board %s: %s", u->serial, rec.phase);
		control_event(d, progress_event(u, "phase"));
		worker_ack_phase(u, m->seq);
		daemon_update_status(d);
	} else {
		control_event(d, progress_event(u, "progress"));
	}
}
