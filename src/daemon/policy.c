/* SPDX-License-Identifier: MIT */
/*
 * The policy: which board to update, when. Runs after every change (a scan, a release, an
 * update's end, a timer, pause/resume, a reload) and starts an update for each board that is
 * present, has a product, runs other versions than its product's current release and is not
 * waiting: one update per board, at most max_parallel at once, none while a scan runs. A failed
 * board waits retry_initial seconds, doubling up to retry_max; after max_attempts failures with
 * one release it "needs attention" until a new release or an explicit "update" request. One
 * timer covers the earliest back-off; nothing runs periodically.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon.h"

static void version_strings(const struct dfumgr_image_version *v,
			    char out[2][DFUMGR_VERSION_STRING_MAX])
{
	dfumgr_version_format(&v[0], out[0]);
	dfumgr_version_format(&v[1], out[1]);
}

static void fill_release(struct dfumgr_history_record *rec, const struct board *b,
			 const struct release *r)
{
	snprintf(rec->serial, sizeof(rec->serial), "%s", b->serial);
	snprintf(rec->product, sizeof(rec->product), "%s", r->product);
	snprintf(rec->release, sizeof(rec->release), "%s", r->release);
	snprintf(rec->release_id, sizeof(rec->release_id), "%s", r->id);
	version_strings(r->version, rec->version);
}

static int start_update(struct daemon *d, struct board *b, const struct release *r, bool manual)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec), .event = DFUMGR_HISTORY_ATTEMPT};
	unsigned attempt = !strcmp(b->target_id, r->id) ? b->attempts + 1 : 1;
	int rc;

	fill_release(&rec, b, r);
	rec.attempt = attempt;
	rec.manual = manual;
	if (b->shim && b->have_running) {
		rec.have_before = true;
		version_strings(b->running, rec.before);
	}
	/* on disk before the first byte goes to the board: a crash from now on is known */
	rc = state_append(d, &rec);
	if (rc < 0)
		return rc;
	snprintf(b->target_id, sizeof(b->target_id), "%s", r->id);
	b->attempts = attempt;
	b->redo = false;
	b->job = worker_start(d, b, r, attempt, manual);
	if (!b->job) {
		struct dfumgr_history_record res = rec;

		res.event = DFUMGR_HISTORY_RESULT;
		res.time_ms = 0;
		res.result = DFUMGR_HISTORY_FAILED;
		res.error = DFUMGR_E_NOMEM;
		snprintf(res.message, sizeof(res.message), "could not start a worker thread");
		res.phase[0] = '\0';
		(void)state_append(d, &res);
		b->last_fail_ms = now_ms();
		return -DFUMGR_E_NOMEM;
	}
	d->updating++;
	daemon_log(d, 6, "Updating board %s to %s release %s (attempt %u%s)", b->serial, r->product,
		   r->release, attempt, manual ? ", asked for" : "");
	{
		cJSON *ev = cJSON_CreateObject();

		if (ev) {
			cJSON_AddStringToObject(ev, "event", "attempt");
			cJSON_AddStringToObject(ev, "serial", b->serial);
			cJSON_AddStringToObject(ev, "product", r->product);
			cJSON_AddStringToObject(ev, "release", r->release);
			cJSON_AddStringToObject(ev, "release_id", r->id);
			cJSON_AddNumberToObject(ev, "attempt", attempt);
			cJSON_AddBoolToObject(ev, "manual", manual);
			control_event(d, ev);
		}
	}
	return 0;
}

/*
 * A board whose update was interrupted by a crash, found running the release at the restart
 * (the crash came after its commit): the update did its job; the history says so.
 */
static void close_interrupted(struct daemon *d, struct board *b, const struct release *r)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec), .event = DFUMGR_HISTORY_RESULT};

	fill_release(&rec, b, r);
	rec.attempt = b->attempts;
	rec.result = DFUMGR_HISTORY_OK;
	snprintf(rec.phase, sizeof(rec.phase), "%s", dfumgr_update_phase_name(DFUMGR_PHASE_DONE));
	rec.have_after = b->have_running;
	version_strings(b->running, rec.after);
	snprintf(rec.board_state, sizeof(rec.board_state),
		 "found running the release after the interruption");
	snprintf(rec.outcome, sizeof(rec.outcome), "%s",
		 dfumgr_outcome_name(DFUMGR_OUTCOME_NEW_PAIR));
	(void)state_append(d, &rec);
	b->redo = false;
	b->attempts = 0;
	b->last_fail_ms = 0;
	snprintf(b->done_id, sizeof(b->done_id), "%s", r->id);
	b->have_last_result = true;
	b->last_result = DFUMGR_HISTORY_OK;
	b->last_error = 0;
	b->last_time_ms = now_ms();
	snprintf(b->last_message, sizeof(b->last_message), "%s", rec.board_state);
	snprintf(b->last_outcome, sizeof(b->last_outcome), "%s", rec.outcome);
	daemon_log(d, 6, "Board %s runs %s release %s: the interrupted update had done its job",
		   b->serial, r->product, r->release);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *user)
{
	(void)s;
	(void)usec;
	policy_run(user);
	return 0;
}

static void arm_retry(struct daemon *d, int64_t at_ms)
{
	int64_t delay = at_ms - now_ms();
	uint64_t us = delay > 0 ? (uint64_t)delay * 1000 : 0;

	if (!at_ms) {
		if (d->retry_src)
			sd_event_source_set_enabled(d->retry_src, SD_EVENT_OFF);
		return;
	}
	if (!d->retry_src) {
		if (sd_event_add_time_relative(d->loop, &d->retry_src, CLOCK_MONOTONIC, us,
					       1000 * 1000, on_retry, d) < 0) {
			daemon_log(d, 3, "Failed to arm the retry timer");
			return;
		}
	} else {
		sd_event_source_set_time_relative(d->retry_src, us);
	}
	sd_event_source_set_enabled(d->retry_src, SD_EVENT_ONESHOT);
}

void policy_run(struct daemon *d)
{
	int64_t next_retry = 0;

	if (d->stopping)
		return;
	for (size_t i = 0; i < d->n_boards; i++) {
		struct board *b = &d->boards[i];
		const struct release *r = NULL;
		enum board_status st = board_status(d, b, &r);

		if (st == ST_UP_TO_DATE && b->redo) {
			close_interrupted(d, b, r);
			continue;
		}
		if (st == ST_RETRY_WAIT) {
			int64_t at = board_retry_at(d, b);

			if (!next_retry || at < next_retry)
				next_retry = at;
			continue;
		}
		/* a scan may be about to claim a board: start nothing until it is done */
		if (st != ST_PENDING || d->scanning || d->updating >= d->cfg.max_parallel)
			continue;
		(void)start_update(d, b, r, false);
	}
	arm_retry(d, next_retry);
	daemon_update_status(d);
}

int policy_update_now(struct daemon *d, struct board *b, const struct release *r, char *err,
		      size_t errlen)
{
	if (d->stopping) {
		snprintf(err, errlen, "the daemon is stopping");
		return -DFUMGR_E_BUSY;
	}
	if (b->job) {
		snprintf(err, errlen, "board %s is being updated", b->serial);
		return -DFUMGR_E_BUSY;
	}
	if (!b->present) {
		snprintf(err, errlen, "board %s is not connected", b->serial);
		return -DFUMGR_E_NODEV;
	}
	if (d->scanning) {
		snprintf(err, errlen, "a USB scan runs: try again in a moment");
		return -DFUMGR_E_BUSY;
	}
	/* asked for explicitly: a fresh count, no back-off, no attention */
	if (!strcmp(b->target_id, r->id))
		b->attempts = 0;
	b->last_fail_ms = 0;
	if (start_update(d, b, r, true) < 0) {
		snprintf(err, errlen, "could not start the update (see the daemon's log)");
		return -DFUMGR_E_IO;
	}
	daemon_update_status(d);
	return 0;
}

void policy_job_done(struct daemon *d, struct board *b, int rc,
		     const struct dfumgr_update_report *rep, const char *message)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec), .event = DFUMGR_HISTORY_RESULT};
	const struct update_job *u = b->job;
	const struct release *r = store_find(d, worker_product(u), worker_release_id(u));
	cJSON *ev;

	snprintf(rec.serial, sizeof(rec.serial), "%s", b->serial);
	if (r)
		fill_release(&rec, b, r);
	else
		snprintf(rec.release_id, sizeof(rec.release_id), "%s", worker_release_id(u));
	rec.attempt = worker_attempt(u);
	rec.manual = worker_manual(u);
	rec.result = rc == 0                     ? DFUMGR_HISTORY_OK
		     : rc == -DFUMGR_E_CANCELLED ? DFUMGR_HISTORY_CANCELLED
						 : DFUMGR_HISTORY_FAILED;
	rec.error = rc < 0 ? -rc : 0;
	snprintf(rec.message, sizeof(rec.message), "%s", rc < 0 ? message : "");
	snprintf(rec.phase, sizeof(rec.phase), "%s", dfumgr_update_phase_name(rep->phase));
	rec.committed = rep->committed;
	rec.duration_ms = rep->total_us / 1000;
	rec.have_before = rep->have_before;
	rec.have_after = rep->have_after;
	version_strings(rep->before, rec.before);
	version_strings(rep->after, rec.after);
	snprintf(rec.board_state, sizeof(rec.board_state), "%s", rep->board_state);
	snprintf(rec.outcome, sizeof(rec.outcome), "%s", dfumgr_outcome_name(rep->outcome));
	(void)state_append(d, &rec);

	b->job = NULL;
	d->updating--;
	b->have_last_result = true;
	b->last_result = rec.result;
	b->last_error = rec.error;
	b->last_time_ms = now_ms();
	snprintf(b->last_message, sizeof(b->last_message), "%s",
		 rc < 0 ? message : rep->board_state);
	snprintf(b->last_outcome, sizeof(b->last_outcome), "%s", rec.outcome);
	switch (rec.result) {
	case DFUMGR_HISTORY_OK:
		b->attempts = 0;
		b->last_fail_ms = 0;
		snprintf(b->done_id, sizeof(b->done_id), "%s", rec.release_id);
		if (rep->have_after) {
			b->have_running = true;
			b->running[0] = rep->after[0];
			b->running[1] = rep->after[1];
		}
		daemon_log(d, 6, "Board %s runs %s release %s (%.1f s)", b->serial, rec.product,
			   rec.release, (double)rep->total_us / 1e6);
		break;
	case DFUMGR_HISTORY_CANCELLED:
		if (b->attempts)
			b->attempts--;
		daemon_log(d, 5, "Update of board %s cancelled in phase %s: %s", b->serial,
			   rec.phase, rep->board_state);
		break;
	default:
		b->last_fail_ms = now_ms();
		daemon_log(d, 4, "Failed to update board %s (attempt %u of %u, phase %s): %s",
			   b->serial, rec.attempt, d->cfg.max_attempts, rec.phase, message);
		if (b->attempts >= d->cfg.max_attempts)
			daemon_log(d, 4, "Board %s needs attention: %u failed attempts with %s",
				   b->serial, b->attempts, rec.release);
		break;
	}
	/* its enumeration changed: what it runs is read again */
	b->bus = b->address = 0;
	ev = cJSON_CreateObject();
	if (ev) {
		cJSON_AddStringToObject(ev, "event", "result");
		cJSON_AddStringToObject(ev, "serial", b->serial);
		cJSON_AddStringToObject(ev, "release", rec.release);
		cJSON_AddStringToObject(ev, "release_id", rec.release_id);
		cJSON_AddStringToObject(ev, "result", dfumgr_history_result_name(rec.result));
		cJSON_AddStringToObject(ev, "phase", rec.phase);
		cJSON_AddNumberToObject(ev, "attempt", rec.attempt);
		if (rec.error) {
			cJSON_AddNumberToObject(ev, "error", rec.error);
			cJSON_AddStringToObject(ev, "error_name", dfumgr_strerror(rec.error));
			cJSON_AddStringToObject(ev, "message", rec.message);
		}
		cJSON_AddStringToObject(ev, "board_state", rec.board_state);
		cJSON_AddStringToObject(ev, "outcome", rec.outcome);
		cJSON_AddNumberToObject(ev, "duration_ms", (double)rec.duration_ms);
		control_event(d, ev);
	}
	boards_request_scan(d, 0);
	policy_run(d);
}
