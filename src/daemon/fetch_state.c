/* SPDX-License-Identifier: MIT */
/*
 * The last fetch, for "status": the state file `dfu-mgr fetch --state` writes atomically at the
 * end of each run (dfu-mgr-feed(5), THE STATE FILE). Reading a file is all the daemon does
 * with fetching: the fetch unit does the networking, libcurl never enters this process.
 *
 * Interim: until libdfumgr's fetch_state.h (dfumgr_fetch_state_load()) is on main, the
 * documented JSON is read here, in this one function.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon.h"

#define FETCH_STATE_MAX (64 * 1024)

static void copy_string(const cJSON *from, cJSON *to, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);

	if (cJSON_IsString(v))
		cJSON_AddStringToObject(to, key, v->valuestring);
}

static void copy_number(const cJSON *from, cJSON *to, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);

	if (cJSON_IsNumber(v))
		cJSON_AddNumberToObject(to, key, v->valuedouble);
}

/*
 * {"time", "result", "source", "feed_sequence", "error": {code, name, message}, "delivered":
 * {time, product, release, version}} from the state file; NULL when there is none (fetch never
 * ran, or is not set up); {"error": {"message": ...}} when it cannot be read.
 */
cJSON *fetch_state_json(struct daemon *d)
{
	const char *path = d->cfg.paths[PATH_FETCH_STATE];
	char *buf = NULL;
	size_t size = 0;
	cJSON *in = NULL, *out = NULL, *e;
	const cJSON *v;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return NULL;
		out = cJSON_CreateObject();
		e = cJSON_AddObjectToObject(out, "error");
		if (e)
			cJSON_AddStringToObject(e, "message", strerror(errno));
		return out;
	}
	buf = malloc(FETCH_STATE_MAX + 1);
	if (buf) {
		ssize_t n;

		while ((n = read(fd, buf + size, FETCH_STATE_MAX + 1 - size)) > 0) {
			size += (size_t)n;
			if (size > FETCH_STATE_MAX)
				break;
		}
		buf[size <= FETCH_STATE_MAX ? size : FETCH_STATE_MAX] = '\0';
	}
	close(fd);
	out = cJSON_CreateObject();
	if (!buf || !out)
		goto out;
	cJSON_AddStringToObject(out, "file", path);
	in = size <= FETCH_STATE_MAX ? cJSON_ParseWithLength(buf, size) : NULL;
	v = cJSON_GetObjectItemCaseSensitive(in, "state_version");
	if (!cJSON_IsObject(in) || !cJSON_IsNumber(v) || v->valueint != 1) {
		e = cJSON_AddObjectToObject(out, "error");
		if (e)
			cJSON_AddStringToObject(e, "message",
						size > FETCH_STATE_MAX
						    ? "the state file is larger than 64 KiB"
						    : "not a state file of version 1");
		goto out;
	}
	copy_string(in, out, "time");
	copy_string(in, out, "result");
	copy_string(in, out, "source");
	copy_number(in, out, "feed_sequence");
	v = cJSON_GetObjectItemCaseSensitive(in, "error");
	if (cJSON_IsObject(v) && (e = cJSON_AddObjectToObject(out, "error"))) {
		copy_number(v, e, "code");
		copy_string(v, e, "name");
		copy_string(v, e, "message");
	}
	v = cJSON_GetObjectItemCaseSensitive(in, "delivered");
	if (cJSON_IsObject(v) && (e = cJSON_AddObjectToObject(out, "delivered"))) {
		copy_string(v, e, "time");
		copy_string(v, e, "product");
		copy_string(v, e, "release");
		copy_string(v, e, "version");
	}
out:
	cJSON_Delete(in);
	free(buf);
	return out;
}
