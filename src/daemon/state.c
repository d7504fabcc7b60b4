/* SPDX-License-Identifier: MIT */
/*
 * The daemon's state lives in one place: the history journal (dfumgr/history.h). At start it is
 * read back to rebuild what a restart must know: the releases in acceptance order, each board's
 * attempts and back-off, whether updates are paused, and which update was running when the
 * daemon died (an ATTEMPT without a RESULT). That update gets an INTERRUPTED record and is done
 * again from the start. Nothing else is kept between runs, so there is nothing else to get out
 * of step after a kill -9.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dfumgr/journal.h"

/* What the replay learns about a board that the board table does not hold. */
struct open_attempt {
	char serial[DFUMGR_STRING_MAX];
	struct dfumgr_history_record attempt; /* the ATTEMPT record */
	char phase[DFUMGR_HISTORY_PHASE_MAX]; /* the last PHASE seen for it */
	bool open;
};

struct replay {
	struct daemon *d;
	struct open_attempt *open;
	size_t n_open, cap_open;
	size_t n;
	int rc;
};

static struct open_attempt *open_find(struct replay *r, const char *serial, bool create)
{
	for (size_t i = 0; i < r->n_open; i++)
		if (!strcmp(r->open[i].serial, serial))
			return &r->open[i];
	if (!create)
		return NULL;
	if (r->n_open == r->cap_open) {
		size_t cap = r->cap_open ? 2 * r->cap_open : 8;
		struct open_attempt *v = realloc(r->open, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->open = v;
		r->cap_open = cap;
	}
	memset(&r->open[r->n_open], 0, sizeof(r->open[0]));
	snprintf(r->open[r->n_open].serial, sizeof(r->open[0].serial), "%s", serial);
	return &r->open[r->n_open++];
}

static void note_result(struct board *b, const struct dfumgr_history_record *rec)
{
	b->have_last_result = true;
	b->last_result = rec->result;
	b->last_error = rec->error;
	b->last_time_ms = rec->time_ms;
	snprintf(b->last_message, sizeof(b->last_message), "%s", rec->message);
	snprintf(b->last_outcome, sizeof(b->last_outcome), "%s", rec->outcome);
}

static int replay_one(void *user, const struct dfumgr_history_record *rec)
{
	struct replay *r = user;
	struct daemon *d = r->d;
	struct open_attempt *oa;
	struct board *b = NULL;

	r->n++;
	if (rec->serial[0] &&
	    (rec->event == DFUMGR_HISTORY_ATTEMPT || rec->event == DFUMGR_HISTORY_PHASE ||
	     rec->event == DFUMGR_HISTORY_RESULT || rec->event == DFUMGR_HISTORY_INTERRUPTED)) {
		b = board_get(d, rec->serial);
		if (!b)
			return 0; /* over the board limit: forget the oldest's details */
	}
	switch (rec->event) {
	case DFUMGR_HISTORY_RELEASE:
		store_note(d, rec);
		break;
	case DFUMGR_HISTORY_PAUSE:
		d->paused = true;
		break;
	case DFUMGR_HISTORY_RESUME:
		d->paused = false;
		break;
	case DFUMGR_HISTORY_ATTEMPT:
		if (!b)
			break;
		oa = open_find(r, rec->serial, true);
		if (!oa) {
			r->rc = -ENOMEM;
			return 1;
		}
		oa->attempt = *rec;
		oa->phase[0] = '\0';
		oa->open = true;
		if (strcmp(b->target_id, rec->release_id) != 0) {
			snprintf(b->target_id, sizeof(b->target_id), "%s", rec->release_id);
			b->attempts = 0;
		}
		b->attempts = rec->attempt > b->attempts ? rec->attempt : b->attempts + 1;
		b->redo = false;
		break;
	case DFUMGR_HISTORY_PHASE:
		oa = b ? open_find(r, rec->serial, false) : NULL;
		if (oa && oa->open)
			snprintf(oa->phase, sizeof(oa->phase), "%s", rec->phase);
		break;
	case DFUMGR_HISTORY_RESULT:
		if (!b)
			break;
		oa = open_find(r, rec->serial, false);
		if (oa)
			oa->open = false;
		note_result(b, rec);
		if (rec->result == DFUMGR_HISTORY_OK) {
			b->attempts = 0;
			snprintf(b->done_id, sizeof(b->done_id), "%s", rec->release_id);
		} else if (rec->result == DFUMGR_HISTORY_CANCELLED) {
			/* the daemon was stopped: not the board's failure */
			if (b->attempts)
				b->attempts--;
		} else {
			b->last_fail_ms = rec->time_ms;
		}
		break;
	case DFUMGR_HISTORY_INTERRUPTED:
		if (!b)
			break;
		oa = open_find(r, rec->serial, false);
		if (oa)
			oa->open = false;
		note_result(b, rec);
		b->have_last_result = false;
		break;
	default:
		break;
	}
	return 0;
}

/* Appends INTERRUPTED for every attempt the last run did not finish. */
static int close_interrupted(struct replay *r)
{
	struct daemon *d = r->d;

	for (size_t i = 0; i < r->n_open; i++) {
		struct open_attempt *oa = &r->open[i];
		struct dfumgr_history_record rec;
		struct board *b;
		int rc;

		if (!oa->open)
			continue;
		rec = oa->attempt;
		rec.event = DFUMGR_HISTORY_INTERRUPTED;
		rec.time_ms = 0;
		rec.manual = false;
		snprintf(rec.phase, sizeof(rec.phase), "%s",
			 oa->phase[0] ? oa->phase : "preflight");
		snprintf(rec.message, sizeof(rec.message),
			 "the daemon stopped during this update (killed, crashed or power lost) "
			 "in phase %s; the update is done again from the start",
			 rec.phase);
		rc = state_append(d, &rec);
		if (rc < 0)
			return rc;
		b = board_find(d, oa->serial);
		if (b) {
			b->redo = true;
			b->last_error = 0;
			snprintf(b->last_message, sizeof(b->last_message), "%s", rec.message);
		}
		daemon_log(d, 4,
			   "Update of board %s to %s was interrupted in phase %s: doing it "
			   "again",
			   oa->serial, rec.release, rec.phase);
	}
	return 0;
}

int state_open(struct daemon *d)
{
	struct replay r = {.d = d};
	const char *p = d->cfg.paths[PATH_HISTORY];
	size_t skipped = 0;
	int rc;

	if (p[0])
		snprintf(d->history_path, sizeof(d->history_path), "%s", p);
	else
		snprintf(d->history_path, sizeof(d->history_path), "%s/history.jsonl",
			 d->cfg.paths[PATH_STATE]);
	rc = dfumgr_journal_open(d->ctx, d->history_path, &d->journal);
	if (rc < 0) {
		daemon_log(d, 3, "Failed to open the history %s: %s", d->history_path,
			   dfumgr_ctx_errmsg(d->ctx));
		return rc;
	}
	rc = dfumgr_history_read(d->ctx, d->history_path, replay_one, &r, &skipped);
	if (rc == 0 && r.rc)
		rc = r.rc;
	if (rc < 0) {
		daemon_log(d, 3, "Failed to read the history %s: %s", d->history_path,
			   rc == -ENOMEM ? "out of memory" : dfumgr_ctx_errmsg(d->ctx));
		free(r.open);
		return rc < -DFUMGR_E_MAX ? -DFUMGR_E_NOMEM : rc;
	}
	d->n_records = r.n;
	if (skipped)
		daemon_log(d, 4, "%s: skipped %zu records of events this version does not know",
			   d->history_path, skipped);
	rc = close_interrupted(&r);
	free(r.open);
	return rc;
}

void state_close(struct daemon *d)
{
	d->journal = dfumgr_journal_free(d->journal);
}

/* ---- compaction ---- */

/*
 * Which records survive: the newest half of history_max, plus whatever the replay needs from
 * older ones: the last RELEASE of each release still in the store (acceptance order), the last
 * ATTEMPT..RESULT records of each board, and the PAUSE that is still in force.
 */
struct keep_plan {
	struct daemon *d;
	size_t n, total, keep_from;
	bool *keep;
	/* per-board: index of its last ATTEMPT and of its last RESULT/INTERRUPTED */
	struct {
		char serial[DFUMGR_STRING_MAX];
		size_t attempt, phase, result;
	} * last;
	size_t n_last;
	size_t last_pause;
	bool paused;
};

static int plan_one(void *user, const struct dfumgr_history_record *rec)
{
	struct keep_plan *k = user;
	size_t i = k->n++;

	if (i >= k->total)
		return 1;
	if (i >= k->keep_from)
		k->keep[i] = true;
	if (rec->event == DFUMGR_HISTORY_RELEASE)
		k->keep[i] = true; /* one per release: small next to the attempts */
	if (rec->event == DFUMGR_HISTORY_PAUSE || rec->event == DFUMGR_HISTORY_RESUME) {
		k->last_pause = i;
		k->paused = rec->event == DFUMGR_HISTORY_PAUSE;
	}
	if (rec->serial[0] &&
	    (rec->event == DFUMGR_HISTORY_ATTEMPT || rec->event == DFUMGR_HISTORY_PHASE ||
	     rec->event == DFUMGR_HISTORY_RESULT || rec->event == DFUMGR_HISTORY_INTERRUPTED)) {
		size_t j;

		for (j = 0; j < k->n_last; j++)
			if (!strcmp(k->last[j].serial, rec->serial))
				break;
		if (j == k->n_last) {
			if (k->n_last >= BOARDS_MAX)
				return 0;
			snprintf(k->last[j].serial, sizeof(k->last[j].serial), "%s", rec->serial);
			k->last[j].attempt = k->last[j].phase = k->last[j].result = (size_t)-1;
			k->n_last++;
		}
		if (rec->event == DFUMGR_HISTORY_ATTEMPT)
			k->last[j].attempt = i;
		else if (rec->event == DFUMGR_HISTORY_PHASE)
			k->last[j].phase = i;
		else
			k->last[j].result = i;
	}
	return 0;
}

struct keep_walk {
	const bool *keep;
	size_t i, total;
};

static bool keep_one(void *user, const char *json)
{
	struct keep_walk *w = user;
	size_t i = w->i++;

	(void)json;
	return i >= w->total || w->keep[i];
}

static int compact(struct daemon *d)
{
	struct keep_plan k = {.d = d, .total = d->n_records};
	struct keep_walk w = {0};
	size_t kept = 0;
	int rc = -DFUMGR_E_NOMEM;

	k.keep = calloc(k.total ? k.total : 1, sizeof(*k.keep));
	k.last = calloc(BOARDS_MAX, sizeof(*k.last));
	if (!k.keep || !k.last)
		goto out;
	k.keep_from = k.total > d->cfg.history_max / 2 ? k.total - d->cfg.history_max / 2 : 0;
	k.last_pause = (size_t)-1;
	rc = dfumgr_history_read(d->ctx, d->history_path, plan_one, &k, NULL);
	if (rc < 0)
		goto out;
	for (size_t j = 0; j < k.n_last; j++) {
		/* a board's last attempt, phase and outcome: enough to rebuild its policy state
		 * and to tell an interrupted update, in which phase */
		if (k.last[j].attempt != (size_t)-1)
			k.keep[k.last[j].attempt] = true;
		if (k.last[j].phase != (size_t)-1 && k.last[j].phase > k.last[j].attempt)
			k.keep[k.last[j].phase] = true;
		if (k.last[j].result != (size_t)-1)
			k.keep[k.last[j].result] = true;
	}
	if (k.paused && k.last_pause != (size_t)-1)
		k.keep[k.last_pause] = true;
	for (size_t i = 0; i < k.total; i++)
		kept += k.keep[i];
	w.keep = k.keep;
	w.total = k.total;
	rc = dfumgr_journal_compact(d->journal, keep_one, &w);
	if (rc < 0) {
		daemon_log(d, 3, "Failed to compact the history %s: %s", d->history_path,
			   dfumgr_ctx_errmsg(d->ctx));
		goto out;
	}
	daemon_log(d, 6, "Compacted the history: %zu of %zu records kept", kept, k.total);
	d->n_records = d->n_kept = kept;
out:
	free(k.keep);
	free(k.last);
	return rc;
}

int state_append(struct daemon *d, struct dfumgr_history_record *rec)
{
	int rc;

	rec->size = sizeof(*rec);
	rc = dfumgr_history_append(d->ctx, d->journal, rec);
	if (rc < 0) {
		daemon_log(d, 3, "Failed to append to the history %s: %s", d->history_path,
			   dfumgr_ctx_errmsg(d->ctx));
		return rc;
	}
	d->n_records++;
	/* what compaction must keep can outgrow history_max: then wait until it doubled */
	if (d->n_records > d->cfg.history_max && d->n_records > 2 * d->n_kept)
		(void)compact(d); /* the history is still whole when this fails */
	return 0;
}
