/* SPDX-License-Identifier: MIT */
/*
 * The last fetch, for "status": the state file `dfu-mgr fetch --state` writes atomically at the
 * end of each run (dfu-mgr-feed(5), THE STATE FILE), read with libdfumgr's
 * dfumgr_fetch_state_load(), which does no networking. Reading that file is all the daemon does
 * with fetching: the fetch unit does the networking, and libcurl (libdfumgr-fetch) never enters
 * this process.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "dfumgr/fetch_state.h"

static void add_time(cJSON *o, const char *key, int64_t seconds)
{
	char when[32];

	cJSON_AddStringToObject(o, key, dfumgr_history_time_format(seconds * 1000, when));
}

/*
 * {"file", "time", "result", "source", "feed_sequence", "error": {code, name, message},
 * "delivered": {time, product, release, version}}; NULL when there is no state file (fetch
 * never ran, or is not set up); {"file", "error": {"message"}} when it cannot be read.
 */
cJSON *fetch_state_json(struct daemon *d)
{
	const char *path = d->cfg.paths[PATH_FETCH_STATE];
	struct dfumgr_fetch_state st = {.size = sizeof(st)};
	cJSON *out, *e;
	int rc;

	rc = dfumgr_fetch_state_load(d->ctx, path, &st);
	if (rc == -DFUMGR_E_NOENT)
		return NULL;
	out = cJSON_CreateObject();
	if (!out)
		return NULL;
	cJSON_AddStringToObject(out, "file", path);
	if (rc < 0) {
		e = cJSON_AddObjectToObject(out, "error");
		if (e) {
			cJSON_AddNumberToObject(e, "code", -rc);
			cJSON_AddStringToObject(e, "name", dfumgr_strerror(rc));
			cJSON_AddStringToObject(e, "message", dfumgr_ctx_errmsg(d->ctx));
		}
		return out;
	}
	add_time(out, "time", st.time);
	cJSON_AddStringToObject(out, "result", dfumgr_fetch_outcome_name(st.result));
	if (st.source[0])
		cJSON_AddStringToObject(out, "source", st.source);
	if (st.has_sequence)
		cJSON_AddNumberToObject(out, "feed_sequence", (double)st.sequence);
	if (st.result == DFUMGR_FETCH_FAILED && (e = cJSON_AddObjectToObject(out, "error"))) {
		cJSON_AddNumberToObject(e, "code", st.error);
		cJSON_AddStringToObject(e, "name", dfumgr_strerror(st.error));
		cJSON_AddStringToObject(e, "message", st.message);
	}
	if (st.has_delivered && (e = cJSON_AddObjectToObject(out, "delivered"))) {
		char v[DFUMGR_VERSION_STRING_MAX];

		add_time(e, "time", st.delivered.time);
		cJSON_AddStringToObject(e, "product", st.delivered.product);
		cJSON_AddStringToObject(e, "release", st.delivered.release);
		cJSON_AddStringToObject(e, "version",
					dfumgr_version_format(&st.delivered.version, v));
	}
	return out;
}
