/* SPDX-License-Identifier: MIT */
/*
 * The board table and the scans that fill it. A scan (a job thread) lists the DFU devices and
 * asks each board it has not asked since its last enumeration what it is and runs (GET_INFO):
 * a board keeps its bus address until it re-enumerates, so that answer is cached under
 * (serial, bus, address) and a hotplug event elsewhere costs each quiet board nothing but its
 * listing. Boards being updated are not touched by scans, and no update starts while a scan
 * runs, so a scan never claims a board under an update.
 *
 * Boards are known by serial number; a board without one cannot be told from its neighbours
 * across re-enumerations and is not managed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "dfumgr/shim_info.h"

const char *board_status_name(enum board_status s)
{
	static const char *const names[] = {
	    "absent",  "ignored", "error",      "no-release",      "up-to-date", "newer",
	    "pending", "paused",  "retry-wait", "needs-attention", "updating",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

struct board *board_find(struct daemon *d, const char *serial)
{
	for (size_t i = 0; i < d->n_boards; i++)
		if (!strcmp(d->boards[i].serial, serial))
			return &d->boards[i];
	return NULL;
}

/* The board with this serial, made if new (evicting the longest-absent one when full). */
struct board *board_get(struct daemon *d, const char *serial)
{
	struct board *b = board_find(d, serial), *v;

	if (b)
		return b;
	if (d->n_boards == BOARDS_MAX) {
		size_t victim = BOARDS_MAX;

		for (size_t i = 0; i < d->n_boards; i++)
			if (!d->boards[i].present && !d->boards[i].job &&
			    (victim == BOARDS_MAX ||
			     d->boards[i].seen_ms < d->boards[victim].seen_ms))
				victim = i;
		if (victim == BOARDS_MAX)
			return NULL;
		d->boards[victim] = d->boards[--d->n_boards];
	} else {
		v = realloc(d->boards, (d->n_boards + 1) * sizeof(*v));
		if (!v)
			return NULL;
		d->boards = v;
	}
	b = &d->boards[d->n_boards++];
	memset(b, 0, sizeof(*b));
	snprintf(b->serial, sizeof(b->serial), "%s", serial);
	return b;
}

void boards_done(struct daemon *d)
{
	free(d->boards);
	d->boards = NULL;
	d->n_boards = 0;
}

static uint64_t backoff_ms(const struct daemon *d, unsigned attempts)
{
	uint64_t s = d->cfg.retry_initial_s;

	for (unsigned i = 1; i < attempts && s < d->cfg.retry_max_s; i++)
		s *= 2;
	if (s > d->cfg.retry_max_s)
		s = d->cfg.retry_max_s;
	return s * 1000;
}

/* When a failed board may be tried again (realtime ms), or 0. */
int64_t board_retry_at(struct daemon *d, const struct board *b)
{
	if (!b->attempts || b->redo || !b->last_fail_ms)
		return 0;
	return b->last_fail_ms + (int64_t)backoff_ms(d, b->attempts);
}

static int cmp_on_board(const struct board *b, const struct dfumgr_image_version *x,
			const struct dfumgr_image_version *y)
{
	struct dfumgr_image_version a = *x, c = *y;

	/* MCUboot on a board without the build-number capability ignores it */
	if (!b->version_build)
		a.build = c.build = 0;
	return dfumgr_version_cmp(&a, &c);
}

enum board_status board_status(struct daemon *d, const struct board *b,
			       const struct release **ret_release)
{
	const struct release *r = NULL;
	enum board_status st;

	if (b->job) {
		st = ST_UPDATING;
		goto out;
	}
	if (!b->present) {
		st = ST_ABSENT;
		goto out;
	}
	if (!b->info_valid) {
		st = ST_ERROR;
		goto out;
	}
	if (!b->product[0]) {
		st = ST_IGNORED;
		goto out;
	}
	r = store_current(d, b->product);
	if (!r) {
		st = ST_NO_RELEASE;
		goto out;
	}
	if (b->shim && b->have_running) {
		bool same = true, newer = false;

		for (int i = 0; i < 2; i++) {
			int c = cmp_on_board(b, &b->running[i], &r->version[i]);

			same = same && c == 0;
			newer = newer || c > 0;
		}
		if (same) {
			st = ST_UP_TO_DATE;
			goto out;
		}
		if (newer && !d->cfg.allow_downgrade) {
			st = ST_NEWER;
			goto out;
		}
	} else if (!b->shim && !strcmp(b->done_id, r->id)) {
		/* a plain board cannot say what it runs: the history says what it got */
		st = ST_UP_TO_DATE;
		goto out;
	}
	if (!strcmp(b->target_id, r->id) && b->attempts >= d->cfg.max_attempts && b->last_fail_ms) {
		st = ST_NEEDS_ATTENTION;
		goto out;
	}
	if (!strcmp(b->target_id, r->id) && board_retry_at(d, b) > now_ms()) {
		st = ST_RETRY_WAIT;
		goto out;
	}
	st = d->paused ? ST_PAUSED : ST_PENDING;
out:
	if (ret_release)
		*ret_release = r;
	return st;
}

static void add_versions(cJSON *o, const char *key, const struct dfumgr_image_version *v)
{
	char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX];
	const char *both[2] = {dfumgr_version_format(&v[0], a), dfumgr_version_format(&v[1], b)};

	cJSON_AddItemToObject(o, key, cJSON_CreateStringArray(both, 2));
}

void board_json(struct daemon *d, const struct board *b, cJSON *o)
{
	const struct release *r = NULL;
	enum board_status st = board_status(d, b, &r);
	char id[16], when[32];

	cJSON_AddStringToObject(o, "serial", b->serial);
	cJSON_AddStringToObject(o, "status", board_status_name(st));
	cJSON_AddBoolToObject(o, "present", b->present);
	if (b->present) {
		cJSON_AddStringToObject(o, "path", b->path);
		cJSON_AddStringToObject(o, "mode", b->dfu_mode ? "dfu" : "runtime");
		snprintf(id, sizeof(id), "%04x:%04x", b->vid, b->pid);
		cJSON_AddStringToObject(o, "id", id);
	}
	if (b->info_valid) {
		cJSON_AddBoolToObject(o, "shim", b->shim);
		if (b->product[0])
			cJSON_AddStringToObject(o, "product", b->product);
		if (b->mapped)
			cJSON_AddBoolToObject(o, "mapped", true);
		if (b->have_running) {
			add_versions(o, "running", b->running);
			cJSON_AddBoolToObject(o, "confirmed", b->confirmed);
		}
	} else if (b->present && b->info_error[0]) {
		cJSON_AddStringToObject(o, "error", b->info_error);
	}
	if (r) {
		cJSON_AddStringToObject(o, "release", r->release);
		cJSON_AddStringToObject(o, "release_id", r->id);
		add_versions(o, "release_version", r->version);
	}
	if (b->target_id[0] && b->attempts) {
		cJSON_AddStringToObject(o, "attempts_release_id", b->target_id);
		cJSON_AddNumberToObject(o, "attempts", b->attempts);
		cJSON_AddNumberToObject(o, "max_attempts", d->cfg.max_attempts);
	}
	if (st == ST_RETRY_WAIT)
		cJSON_AddNumberToObject(o, "retry_in_s",
					(double)((board_retry_at(d, b) - now_ms() + 999) / 1000));
	if (b->job) {
		enum dfumgr_update_phase ph;
		uint64_t done, total;
		cJSON *p = cJSON_AddObjectToObject(o, "progress");

		worker_progress(b->job, &ph, &done, &total);
		if (p) {
			cJSON_AddStringToObject(p, "phase", dfumgr_update_phase_name(ph));
			cJSON_AddNumberToObject(p, "done", (double)done);
			cJSON_AddNumberToObject(p, "total", (double)total);
			cJSON_AddStringToObject(p, "release_id", worker_release_id(b->job));
			cJSON_AddNumberToObject(p, "attempt", worker_attempt(b->job));
		}
	}
	if (b->have_last_result || b->last_message[0]) {
		cJSON *l = cJSON_AddObjectToObject(o, "last");

		if (l) {
			cJSON_AddStringToObject(l, "result",
						b->have_last_result
						    ? dfumgr_history_result_name(b->last_result)
						    : "interrupted");
			if (b->last_error) {
				cJSON_AddNumberToObject(l, "error", b->last_error);
				cJSON_AddStringToObject(l, "error_name",
							dfumgr_strerror(b->last_error));
			}
			if (b->last_message[0])
				cJSON_AddStringToObject(l, "message", b->last_message);
			if (b->last_outcome[0])
				cJSON_AddStringToObject(l, "outcome", b->last_outcome);
			if (b->last_time_ms)
				cJSON_AddStringToObject(
				    l, "time", dfumgr_history_time_format(b->last_time_ms, when));
		}
	}
}

/* ---- scans ---- */

enum scan_kind { SCAN_FRESH, SCAN_CACHED, SCAN_BUSY, SCAN_PLAIN, SCAN_ERROR };

struct scan_entry {
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];
	uint16_t vid, pid;
	uint8_t bus, address;
	bool dfu_mode;
	enum scan_kind kind;
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	bool have_running, confirmed, version_build;
	struct dfumgr_image_version running[2];
	char error[256];
};

struct scan_ident {
	char serial[DFUMGR_STRING_MAX];
	uint8_t bus, address;
	bool busy;
};

struct scan_job {
	struct job base;
	struct dfumgr_backend *be;          /* the daemon's, shared */
	const struct dfumgr_cancel *cancel; /* the daemon's stop */
	unsigned hotplug_events;            /* udev adds and removes since the last scan */
	struct scan_ident *known;
	size_t n_known;
	/* results */
	int rc;
	char error[512];
	struct scan_entry *found;
	size_t n_found;
	unsigned no_serial;
};

static const struct scan_ident *ident(const struct scan_job *s, const char *serial)
{
	for (size_t i = 0; i < s->n_known; i++)
		if (!strcmp(s->known[i].serial, serial))
			return &s->known[i];
	return NULL;
}

static void ask_board(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
		      const struct dfumgr_cancel *cancel, const struct dfumgr_device_info *info,
		      struct scan_entry *e)
{
	struct dfumgr_shim_info si;
	struct dfumgr_dev *dev = NULL;
	int rc;

	rc = dfumgr_dev_open_info(ctx, be, info, &dev);
	if (rc == 0) {
		/* a board that does not answer holds up this scan only, and not past a stop */
		dfumgr_dev_set_limits(dev, cancel, dfumgr_backend_now_us(be) + 5000000);
		rc = dfumgr_shim_get_info(dev, &si);
	}
	dfumgr_dev_close(dev);
	if (rc == -DFUMGR_E_UNSUPPORTED && !strstr(dfumgr_ctx_errmsg(ctx), "protocol version")) {
		e->kind = SCAN_PLAIN;
		return;
	}
	if (rc < 0) {
		e->kind = SCAN_ERROR;
		snprintf(e->error, sizeof(e->error), "%s", dfumgr_ctx_errmsg(ctx));
		return;
	}
	e->kind = SCAN_FRESH;
	snprintf(e->product, sizeof(e->product), "%s", si.product);
	e->version_build = si.caps & DFUMGR_CAP_VERSION_BUILD;
	e->have_running =
	    si.n_images >= 2 && si.images[0].primary_valid && si.images[1].primary_valid;
	e->confirmed = e->have_running && si.images[0].confirmed && si.images[1].confirmed;
	for (size_t i = 0; i < 2 && i < si.n_images; i++)
		e->running[i] = si.images[i].running;
}

static void scan_run(struct job *job)
{
	struct scan_job *s = (struct scan_job *)job;
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_backend *be = s->be;
	struct dfumgr_device_info *list = NULL;
	size_t n = 0;

	if (!ctx) {
		s->rc = -DFUMGR_E_NOMEM;
		return;
	}
	/*
	 * udev told the loop; libusb, behind the monitor, hears of the same device in its own
	 * thread: give it that moment (the wait ends as soon as it has), so that the list is
	 * not the one from before the event.
	 */
	if (s->hotplug_events)
		(void)dfumgr_backend_wait_change(be, 300, s->cancel);
	s->rc = dfumgr_device_list(ctx, be, NULL, &list, &n);
	if (s->rc < 0) {
		snprintf(s->error, sizeof(s->error), "%s", dfumgr_ctx_errmsg(ctx));
		goto out;
	}
	s->found = calloc(n ? n : 1, sizeof(*s->found));
	if (!s->found) {
		s->rc = -DFUMGR_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && s->n_found < BOARDS_MAX; i++) {
		const struct dfumgr_device_info *info = &list[i];
		const struct scan_ident *k;
		struct scan_entry *e;
		bool dup = false;

		if (!info->serial[0]) {
			s->no_serial++;
			continue;
		}
		for (size_t j = 0; j < s->n_found && !dup; j++)
			dup = !strcmp(s->found[j].serial, info->serial);
		if (dup)
			continue; /* a second DFU interface of the same board */
		e = &s->found[s->n_found++];
		snprintf(e->serial, sizeof(e->serial), "%s", info->serial);
		snprintf(e->path, sizeof(e->path), "%s", info->path);
		e->vid = info->vid;
		e->pid = info->pid;
		e->bus = info->bus;
		e->address = info->address;
		e->dfu_mode = info->dfu_mode;
		k = ident(s, info->serial);
		if (k && k->busy)
			e->kind = SCAN_BUSY;
		else if (k && k->bus == info->bus && k->address == info->address)
			e->kind = SCAN_CACHED;
		else
			ask_board(ctx, be, s->cancel, info, e);
		dfumgr_ctx_clear_error(ctx);
	}
out:
	free(list);
	dfumgr_ctx_free(ctx);
}

static void start_scan(struct daemon *d);

static void apply_entry(struct daemon *d, const struct scan_entry *e)
{
	struct board *b = board_get(d, e->serial);
	const char *mapped;

	if (!b) {
		daemon_log(d, 4, "Ignoring board %s: more than %d boards known", e->serial,
			   BOARDS_MAX);
		return;
	}
	if (e->kind == SCAN_BUSY || b->job)
		return;
	if (!b->present)
		daemon_log(d, 6, "Board %s at %s (%04x:%04x, %s mode)", e->serial, e->path, e->vid,
			   e->pid, e->dfu_mode ? "DFU" : "runtime");
	b->present = true;
	b->seen_ms = now_ms();
	snprintf(b->path, sizeof(b->path), "%s", e->path);
	b->vid = e->vid;
	b->pid = e->pid;
	b->dfu_mode = e->dfu_mode;
	switch (e->kind) {
	case SCAN_CACHED:
	case SCAN_BUSY:
		return;
	case SCAN_ERROR:
		b->info_valid = false;
		b->bus = b->address = 0;
		snprintf(b->info_error, sizeof(b->info_error), "%s", e->error);
		daemon_log(d, 4, "Failed to read what board %s runs: %s", e->serial, e->error);
		return;
	case SCAN_PLAIN:
		mapped = config_map_product(&d->cfg, e->serial, e->vid, e->pid);
		b->shim = false;
		b->have_running = false;
		b->mapped = mapped != NULL;
		snprintf(b->product, sizeof(b->product), "%s", mapped ? mapped : "");
		break;
	case SCAN_FRESH:
		b->shim = true;
		b->mapped = false;
		snprintf(b->product, sizeof(b->product), "%s", e->product);
		b->have_running = e->have_running;
		b->confirmed = e->confirmed;
		b->version_build = e->version_build;
		b->running[0] = e->running[0];
		b->running[1] = e->running[1];
		break;
	}
	b->info_valid = true;
	b->info_error[0] = '\0';
	b->bus = e->bus;
	b->address = e->address;
}

static void scan_done(struct daemon *d, struct job *job)
{
	struct scan_job *s = (struct scan_job *)job;

	d->scanning = false;
	d->scans++;
	if (s->rc < 0) {
		daemon_log(d, 3, "Failed to list the USB devices: %s",
			   s->error[0] ? s->error : dfumgr_strerror(s->rc));
	} else {
		for (size_t i = 0; i < d->n_boards; i++) {
			struct board *b = &d->boards[i];
			bool seen = false;

			for (size_t j = 0; j < s->n_found && !seen; j++)
				seen = !strcmp(s->found[j].serial, b->serial);
			if (!seen && !b->job && b->present) {
				daemon_log(d, 6, "Board %s left", b->serial);
				b->present = false;
				b->info_valid = false;
				b->bus = b->address = 0;
			}
		}
		for (size_t j = 0; j < s->n_found; j++)
			apply_entry(d, &s->found[j]);
	}
	free(s->known);
	free(s->found);
	free(s);
	/* updates first: the next scan then knows them as busy and leaves their boards alone */
	policy_run(d);
	if (d->scan_again && !d->stopping) {
		d->scan_again = false;
		start_scan(d);
	}
	daemon_update_status(d);
}

static const struct job_ops scan_ops = {"scan", scan_run, scan_done};

static void start_scan(struct daemon *d)
{
	struct scan_job *s;

	if (d->stopping || !d->cfg.usb)
		return;
	if (d->scanning) {
		d->scan_again = true;
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->base.ops = &scan_ops;
	s->be = d->backend;
	s->cancel = d->cancel;
	s->hotplug_events = d->hotplug_events;
	d->hotplug_events = 0;
	s->known = calloc(d->n_boards ? d->n_boards : 1, sizeof(*s->known));
	if (!s->known) {
		free(s);
		return;
	}
	for (size_t i = 0; i < d->n_boards; i++) {
		const struct board *b = &d->boards[i];
		struct scan_ident *k = &s->known[s->n_known++];

		snprintf(k->serial, sizeof(k->serial), "%s", b->serial);
		k->busy = b->job != NULL;
		if (b->present && b->info_valid) {
			k->bus = b->bus;
			k->address = b->address;
		}
	}
	if (jobs_start(d, &s->base) < 0) {
		daemon_log(d, 3, "Failed to start a thread to scan USB");
		free(s->known);
		free(s);
		return;
	}
	d->scanning = true;
}

static int on_scan_delay(sd_event_source *src, uint64_t usec, void *user)
{
	(void)src;
	(void)usec;
	start_scan(user);
	return 0;
}

void boards_request_scan(struct daemon *d, uint64_t delay_us)
{
	int enabled = SD_EVENT_OFF;

	if (d->stopping || !d->cfg.usb)
		return;
	if (!d->scan_delay_src) {
		if (sd_event_add_time_relative(d->loop, &d->scan_delay_src, CLOCK_MONOTONIC,
					       delay_us, 10 * 1000, on_scan_delay, d) < 0) {
			start_scan(d);
			return;
		}
		sd_event_source_set_enabled(d->scan_delay_src, SD_EVENT_ONESHOT);
		return;
	}
	/* a burst of hotplug events (a board re-enumerating) makes one scan */
	sd_event_source_get_enabled(d->scan_delay_src, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	sd_event_source_set_time_relative(d->scan_delay_src, delay_us);
	sd_event_source_set_enabled(d->scan_delay_src, SD_EVENT_ONESHOT);
}
