/* SPDX-License-Identifier: MIT */
/* The update history's records (dfumgr/history.h): the one writer and reader of their JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "dfumgr/history.h"

static const char *const event_names[] = {
    "start", "stop",   "release",     "reject", "attempt",
    "phase", "result", "interrupted", "pause",  "resume",
};
static const char *const result_names[] = {"ok", "failed", "cancelled"};

DFUMGR_EXPORT const char *dfumgr_history_event_name(enum dfumgr_history_event event)
{
	return (unsigned)event < ARRAY_SIZE(event_names) ? event_names[event] : "unknown";
}

DFUMGR_EXPORT const char *dfumgr_history_result_name(enum dfumgr_history_result result)
{
	return (unsigned)result < ARRAY_SIZE(result_names) ? result_names[result] : "unknown";
}

DFUMGR_EXPORT char *dfumgr_history_time_format(int64_t time_ms, char *buf)
{
	time_t t = (time_t)(time_ms / 1000);
	char wide[96];
	struct tm tm;

	if (time_ms < 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, 32, "1970-01-01T00:00:00.000Z");
		return buf;
	}
	/* gcc cannot see that the fields are small: format wide, then copy */
	snprintf(wide, sizeof(wide), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(time_ms % 1000));
	snprintf(buf, 32, "%.31s", wide);
	return buf;
}

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" back to milliseconds; -1 when it is not that. */
static int64_t time_parse(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, ms = 0, n = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.') {
		if (sscanf(s, ".%3d%n", &ms, &n) != 1 || n != 4 || ms < 0)
			return -1;
		s += n;
	}
	if (strcmp(s, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || y < 1970)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t * 1000 + ms;
}

/* ---- writing ---- */

static bool add_str(cJSON *o, const char *key, const char *val)
{
	return !val[0] || cJSON_AddStringToObject(o, key, val);
}

static bool add_pair(cJSON *o, const char *key, const char (*v)[DFUMGR_VERSION_STRING_MAX])
{
	const char *both[2] = {v[0], v[1]};
	cJSON *a;

	if (!v[0][0] && !v[1][0])
		return true;
	a = cJSON_CreateStringArray(both, 2);
	return a && cJSON_AddItemToObject(o, key, a);
}

static bool add_num(cJSON *o, const char *key, double val)
{
	return !val || cJSON_AddNumberToObject(o, key, val);
}

DFUMGR_EXPORT int dfumgr_history_format(struct dfumgr_ctx *ctx,
					const struct dfumgr_history_record *r, char **ret_json)
{
	char when[32];
	cJSON *o;
	char *text;
	bool ok;

	if (!r || !ret_json || r->size < sizeof(*r))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_history_format: bad argument");
	if ((unsigned)r->event >= DFUMGR_HISTORY_EVENT_COUNT ||
	    (r->event == DFUMGR_HISTORY_RESULT &&
	     (unsigned)r->result >= DFUMGR_HISTORY_RESULT_COUNT))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "history record: event %d, result %d",
				   (int)r->event, (int)r->result);
	o = cJSON_CreateObject();
	ok = o &&
	     cJSON_AddStringToObject(o, "time", dfumgr_history_time_format(r->time_ms, when)) &&
	     cJSON_AddStringToObject(o, "event", dfumgr_history_event_name(r->event)) &&
	     add_str(o, "serial", r->serial) && add_str(o, "product", r->product) &&
	     add_str(o, "release", r->release) && add_str(o, "release_id", r->release_id) &&
	     add_pair(o, "version", r->version) && add_num(o, "attempt", r->attempt) &&
	     (!r->manual || cJSON_AddTrueToObject(o, "manual")) && add_str(o, "phase", r->phase);
	if (ok && r->event == DFUMGR_HISTORY_RESULT)
		ok = cJSON_AddStringToObject(o, "result", dfumgr_history_result_name(r->result)) &&
		     cJSON_AddBoolToObject(o, "committed", r->committed) &&
		     cJSON_AddNumberToObject(o, "duration_ms", (double)r->duration_ms);
	if (ok && r->error)
		ok = cJSON_AddNumberToObject(o, "error", r->error) &&
		     cJSON_AddStringToObject(o, "error_name", dfumgr_strerror(r->error));
	ok = ok && add_str(o, "outcome", r->outcome) && add_str(o, "message", r->message) &&
	     (!r->have_before || add_pair(o, "before", r->before)) &&
	     (!r->have_after || add_pair(o, "after", r->after)) &&
	     add_str(o, "board_state", r->board_state) && add_str(o, "name", r->name) &&
	     add_str(o, "moved_to", r->moved_to);
	text = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	*ret_json = text;
	return 0;
}

DFUMGR_EXPORT int dfumgr_history_append(struct dfumgr_ctx *ctx, struct dfumgr_journal *j,
					const struct dfumgr_history_record *rec)
{
	struct dfumgr_history_record r;
	struct timespec ts;
	char *json = NULL;
	int rc;

	if (!j || !rec || rec->size < sizeof(r))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_history_append: bad argument");
	r = *rec;
	if (!r.time_ms) {
		clock_gettime(CLOCK_REALTIME, &ts);
		r.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	rc = dfumgr_history_format(ctx, &r, &json);
	if (rc < 0)
		return rc;
	rc = dfumgr_journal_append(j, json);
	free(json);
	return rc;
}

/* ---- reading ---- */

/* Copies a string member (absent: ""); false when it is there but not a string. */
static bool get_str(const cJSON *o, const char *key, char *out, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	out[0] = '\0';
	if (!v)
		return true;
	if (!cJSON_IsString(v))
		return false;
	snprintf(out, size, "%s", v->valuestring);
	return true;
}

static bool get_pair(const cJSON *o, const char *key, char (*out)[DFUMGR_VERSION_STRING_MAX],
		     bool *ret_have)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	out[0][0] = out[1][0] = '\0';
	if (ret_have)
		*ret_have = false;
	if (!v)
		return true;
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
		return false;
	for (int i = 0; i < 2; i++) {
		const cJSON *e = cJSON_GetArrayItem(v, i);

		if (!cJSON_IsString(e))
			return false;
		snprintf(out[i], DFUMGR_VERSION_STRING_MAX, "%s", e->valuestring);
	}
	if (ret_have)
		*ret_have = true;
	return true;
}

/* A non-negative integer member up to max (absent: 0). */
static bool get_uint(const cJSON *o, const char *key, double max, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*ret = 0;
	if (!v)
		return true;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return false;
	*ret = v->valuedouble;
	return true;
}

static bool get_bool(const cJSON *o, const char *key, bool *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*ret = false;
	if (!v)
		return true;
	if (!cJSON_IsBool(v))
		return false;
	*ret = cJSON_IsTrue(v);
	return true;
}

static int word_index(const char *const *words, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(words[i], w))
			return (int)i;
	return -1;
}

DFUMGR_EXPORT int dfumgr_history_parse(struct dfumgr_ctx *ctx, const char *json,
				       struct dfumgr_history_record *ret)
{
	struct dfumgr_history_record r;
	const char *bad = NULL;
	char word[32], when[40];
	double num;
	cJSON *o;
	int ev, rc = 0;

	if (!json || !ret || ret->size < sizeof(r))
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_history_parse: bad argument");
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	o = cJSON_Parse(json);
	if (!cJSON_IsObject(o)) {
		rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT, "not a JSON object");
		goto out;
	}
	if (!get_str(o, "time", when, sizeof(when)) || !when[0] ||
	    (r.time_ms = time_parse(when)) < 0) {
		bad = "time";
	} else if (!get_str(o, "event", word, sizeof(word)) || !word[0]) {
		bad = "event";
	} else if ((ev = word_index(event_names, ARRAY_SIZE(event_names), word)) < 0) {
		rc = dfumgr_fail(ctx, DFUMGR_E_UNSUPPORTED, "event \"%s\" is not known here", word);
		goto out;
	} else {
		r.event = (enum dfumgr_history_event)ev;
	}
	if (bad)
		goto bad;
#define STR(k, field)                                                                              \
	if (!get_str(o, k, r.field, sizeof(r.field))) {                                            \
		bad = k;                                                                           \
		goto bad;                                                                          \
	}
	STR("serial", serial);
	STR("product", product);
	STR("release", release);
	STR("release_id", release_id);
	STR("phase", phase);
	STR("message", message);
	STR("board_state", board_state);
	STR("outcome", outcome);
	STR("name", name);
	STR("moved_to", moved_to);
#undef STR
	if (!get_pair(o, "version", r.version, NULL))
		bad = "version";
	else if (!get_pair(o, "before", r.before, &r.have_before))
		bad = "before";
	else if (!get_pair(o, "after", r.after, &r.have_after))
		bad = "after";
	else if (!get_bool(o, "manual", &r.manual))
		bad = "manual";
	else if (!get_bool(o, "committed", &r.committed))
		bad = "committed";
	else if (!get_uint(o, "attempt", 1e9, &num))
		bad = "attempt";
	if (bad)
		goto bad;
	r.attempt = (unsigned)num;
	if (!get_uint(o, "error", DFUMGR_E_MAX + 1000, &num)) {
		bad = "error";
		goto bad;
	}
	r.error = (int)num;
	if (!get_uint(o, "duration_ms", 1e15, &num)) { /* what a double prints exactly */
		bad = "duration_ms";
		goto bad;
	}
	r.duration_ms = (uint64_t)num;
	if (!get_str(o, "result", word, sizeof(word))) {
		bad = "result";
		goto bad;
	}
	if (word[0]) {
		int res = word_index(result_names, ARRAY_SIZE(result_names), word);

		if (res < 0) {
			bad = "result";
			goto bad;
		}
		r.result = (enum dfumgr_history_result)res;
	} else if (r.event == DFUMGR_HISTORY_RESULT) {
		bad = "result";
		goto bad;
	}
	memcpy(ret, &r, sizeof(r));
	goto out;
bad:
	rc = dfumgr_fail(ctx, DFUMGR_E_FORMAT, "history record: \"%s\" is missing or malformed",
			 bad);
out:
	cJSON_Delete(o);
	return rc;
}

struct reader {
	struct dfumgr_ctx *ctx;
	const char *path;
	dfumgr_history_record_fn fn;
	void *user;
	size_t skipped;
	int err; /* the parse error, kept apart from fn's own return values */
};

static int read_one(void *user, size_t line, const char *json)
{
	struct reader *rd = user;
	struct dfumgr_history_record r = {.size = sizeof(r)};
	int rc = dfumgr_history_parse(rd->ctx, json, &r);

	if (rc == -DFUMGR_E_UNSUPPORTED) {
		rd->skipped++;
		return 0;
	}
	if (rc < 0) {
		rd->err = dfumgr_fail_prefix(rd->ctx, rc, "%s: line %zu", rd->path, line);
		return 1;
	}
	return rd->fn(rd->user, &r);
}

DFUMGR_EXPORT int dfumgr_history_read(struct dfumgr_ctx *ctx, const char *path,
				      dfumgr_history_record_fn fn, void *user, size_t *ret_skipped)
{
	struct reader rd = {.ctx = ctx, .path = path, .fn = fn, .user = user};
	int rc;

	if (!path || !fn)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_history_read: NULL argument");
	rc = dfumgr_journal_read(ctx, path, read_one, &rd, NULL);
	if (rd.err)
		return rd.err;
	if (ret_skipped)
		*ret_skipped = rd.skipped;
	return rc;
}
