/* SPDX-License-Identifier: MIT */
/*
 * The control socket: RUNTIME/control.sock, a unix stream socket speaking JSON lines (one
 * request object per line, one reply object per line; after "subscribe", event objects as
 * they happen). Who may connect is decided per connection from the kernel's peer credentials
 * (SO_PEERCRED, SO_PEERGROUPS): root, the daemon's own user, and members of the configured
 * group; anyone else gets one "permission denied" line and is disconnected.
 *
 * Nothing a client sends can stop the loop: sockets are non-blocking, a request is at most
 * REQUEST_MAX bytes (a longer one is answered with an error and the connection closed, since
 * the next line's start is unknown), malformed JSON gets an error reply, there are at most
 * CLIENTS_MAX connections, silent ones are closed after IDLE_TIMEOUT_US, and a subscriber that
 * does not read its events is disconnected when OUTPUT_MAX bytes are waiting for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon.h"

#define REQUEST_MAX     4096
#define CLIENTS_MAX     64
#define OUTPUT_MAX      (4u * 1024 * 1024)
#define IDLE_TIMEOUT_US (60ull * 1000 * 1000)
#define HISTORY_DEFAULT 50
#define HISTORY_MAX     5000
#define PEER_GROUPS_MAX 4096

struct control;

struct client {
	struct control *c;
	int fd;
	sd_event_source *io, *idle;
	char in[REQUEST_MAX + 1];
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	bool subscribed, closing;
	uid_t uid;
	pid_t pid;
	struct client *next;
};

struct control {
	struct daemon *d;
	int fd;
	sd_event_source *src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client *clients;
	unsigned n_clients;
	bool have_gid;
	gid_t gid;
};

/* ---- replies ---- */

static cJSON *error_reply(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cJSON *error_reply(int err, const char *fmt, ...)
{
	cJSON *r = cJSON_CreateObject(), *e;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!r)
		return NULL;
	cJSON_AddBoolToObject(r, "ok", false);
	e = cJSON_AddObjectToObject(r, "error");
	if (e) {
		cJSON_AddNumberToObject(e, "code", err);
		cJSON_AddStringToObject(e, "name", dfumgr_strerror(err));
		cJSON_AddStringToObject(e, "message", msg);
	}
	return r;
}

static cJSON *ok_reply(void)
{
	cJSON *r = cJSON_CreateObject();

	if (r)
		cJSON_AddBoolToObject(r, "ok", true);
	return r;
}

/* ---- connections ---- */

static void client_free(struct client *cl)
{
	struct client **pp;

	for (pp = &cl->c->clients; *pp; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	cl->c->n_clients--;
	sd_event_source_disable_unref(cl->io);
	sd_event_source_disable_unref(cl->idle);
	close(cl->fd);
	free(cl->out);
	free(cl);
}

static void client_update_events(struct client *cl)
{
	uint32_t ev = cl->closing ? 0 : EPOLLIN;

	if (cl->out_len)
		ev |= EPOLLOUT;
	sd_event_source_set_io_events(cl->io, ev);
}

/* Writes what is queued; false when the client is gone (freed). */
static bool client_flush(struct client *cl)
{
	while (cl->out_len) {
		ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_free(cl);
			return false;
		}
		memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
		cl->out_len -= (size_t)n;
	}
	if (cl->closing && !cl->out_len) {
		client_free(cl);
		return false;
	}
	client_update_events(cl);
	return true;
}

/* Queues obj (taken) as one line; false when the client is gone. */
static bool client_send(struct client *cl, cJSON *obj)
{
	char *text;
	size_t n;

	if (!obj)
		obj = error_reply(DFUMGR_E_NOMEM, "out of memory");
	text = obj ? cJSON_PrintUnformatted(obj) : NULL;
	cJSON_Delete(obj);
	if (!text) {
		client_free(cl);
		return false;
	}
	n = strlen(text);
	if (cl->out_len + n + 1 > OUTPUT_MAX) {
		cJSON_free(text);
		daemon_log(cl->c->d, 4,
			   "Closing control connection of pid %d: more than %u bytes unread",
			   (int)cl->pid, OUTPUT_MAX);
		client_free(cl);
		return false;
	}
	if (cl->out_len + n + 1 > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		char *v;

		while (cap < cl->out_len + n + 1)
			cap *= 2;
		v = realloc(cl->out, cap);
		if (!v) {
			cJSON_free(text);
			client_free(cl);
			return false;
		}
		cl->out = v;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, text, n);
	cl->out[cl->out_len + n] = '\n';
	cl->out_len += n + 1;
	cJSON_free(text);
	return client_flush(cl);
}

/* ---- commands ---- */

static cJSON *cmd_status(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_boards(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_releases(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_history(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_update(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_pause(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_resume(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_subscribe(struct daemon *d, struct client *cl, const cJSON *req);
static cJSON *cmd_reload(struct daemon *d, struct client *cl, const cJSON *req);

static const struct command {
	const char *name;
	cJSON *(*run)(struct daemon *d, struct client *cl, const cJSON *req);
} commands[] = {
    {"status", cmd_status},   {"boards", cmd_boards},       {"releases", cmd_releases},
    {"history", cmd_history}, {"update", cmd_update},       {"pause", cmd_pause},
    {"resume", cmd_resume},   {"subscribe", cmd_subscribe}, {"reload", cmd_reload},
};

static cJSON *cmd_status(struct daemon *d, struct client *cl, const cJSON *req)
{
	cJSON *r = ok_reply(), *s, *prods, *counts, *upd, *fetch;
	unsigned n[ST_UPDATING + 1] = {0}, present = 0;
	uint64_t now = 0;

	(void)cl;
	(void)req;
	s = cJSON_AddObjectToObject(r, "status");
	if (!s)
		return r;
	sd_event_now(d->loop, CLOCK_MONOTONIC, &now);
	cJSON_AddStringToObject(s, "version", dfumgr_version());
	cJSON_AddNumberToObject(s, "pid", getpid());
	cJSON_AddNumberToObject(s, "uptime_s", (double)((now - d->start_usec) / 1000000));
	cJSON_AddBoolToObject(s, "paused", d->paused);
	cJSON_AddBoolToObject(s, "stopping", d->stopping);
	cJSON_AddBoolToObject(s, "usb", d->cfg.usb);
	cJSON_AddStringToObject(s, "incoming", d->cfg.paths[PATH_INCOMING]);
	cJSON_AddStringToObject(s, "state", d->cfg.paths[PATH_STATE]);
	cJSON_AddStringToObject(s, "history", d->history_path);
	cJSON_AddStringToObject(s, "keys", d->cfg.paths[PATH_KEYS]);
	cJSON_AddStringToObject(s, "socket", d->control->path);
	prods = cJSON_AddArrayToObject(s, "products");
	for (size_t i = 0; i < d->n_releases; i++) {
		const struct release *cur = store_current(d, d->releases[i].product);
		cJSON *p;
		unsigned count = 0;

		if (cur != &d->releases[i])
			continue;
		for (size_t j = 0; j < d->n_releases; j++)
			count += !strcmp(d->releases[j].product, cur->product);
		p = cJSON_CreateObject();
		if (!p)
			break;
		store_release_json(cur, p);
		cJSON_AddNumberToObject(p, "releases", count);
		cJSON_AddItemToArray(prods, p);
	}
	upd = cJSON_AddArrayToObject(s, "updating");
	for (size_t i = 0; i < d->n_boards; i++) {
		const struct board *b = &d->boards[i];
		enum board_status st = board_status(d, b, NULL);

		n[st]++;
		present += b->present;
		if (b->job) {
			enum dfumgr_update_phase ph;
			uint64_t done, total;
			cJSON *u = cJSON_CreateObject();

			if (!u)
				break;
			worker_progress(b->job, &ph, &done, &total);
			cJSON_AddStringToObject(u, "serial", b->serial);
			cJSON_AddStringToObject(u, "release_id", worker_release_id(b->job));
			cJSON_AddStringToObject(u, "phase", dfumgr_update_phase_name(ph));
			cJSON_AddNumberToObject(u, "done", (double)done);
			cJSON_AddNumberToObject(u, "total", (double)total);
			cJSON_AddItemToArray(upd, u);
		}
	}
	counts = cJSON_AddObjectToObject(s, "boards");
	if (counts) {
		cJSON_AddNumberToObject(counts, "known", (double)d->n_boards);
		cJSON_AddNumberToObject(counts, "present", present);
		for (int st = 0; st <= ST_UPDATING; st++)
			if (st != ST_ABSENT)
				cJSON_AddNumberToObject(
				    counts, board_status_name((enum board_status)st), n[st]);
	}
	fetch = fetch_state_json(d);
	cJSON_AddItemToObject(s, "last_fetch", fetch ? fetch : cJSON_CreateNull());
	return r;
}

static cJSON *cmd_boards(struct daemon *d, struct client *cl, const cJSON *req)
{
	cJSON *r = ok_reply(), *arr = cJSON_AddArrayToObject(r, "boards");

	(void)cl;
	(void)req;
	for (size_t i = 0; arr && i < d->n_boards; i++) {
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		board_json(d, &d->boards[i], o);
		cJSON_AddItemToArray(arr, o);
	}
	return r;
}

static cJSON *cmd_releases(struct daemon *d, struct client *cl, const cJSON *req)
{
	cJSON *r = ok_reply(), *arr = cJSON_AddArrayToObject(r, "releases");

	(void)cl;
	(void)req;
	for (size_t i = 0; arr && i < d->n_releases; i++) {
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		store_release_json(&d->releases[i], o);
		cJSON_AddBoolToObject(o, "current",
				      store_current(d, d->releases[i].product) == &d->releases[i]);
		cJSON_AddItemToArray(arr, o);
	}
	return r;
}

/* Optional string member; false (with *ret_err) when present with another type. */
static bool opt_string(const cJSON *req, const char *key, const char **ret, cJSON **ret_err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);

	*ret = NULL;
	if (!v)
		return true;
	if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 255) {
		*ret_err = error_reply(DFUMGR_E_INVAL, "\"%s\" must be a non-empty string", key);
		return false;
	}
	*ret = v->valuestring;
	return true;
}

struct history_tail {
	const char *serial;
	size_t limit, n, next;
	char **ring;
};

static int tail_one(void *user, const struct dfumgr_history_record *rec)
{
	struct history_tail *t = user;
	char *json = NULL;

	if (t->serial && strcmp(rec->serial, t->serial) != 0)
		return 0;
	if (dfumgr_history_format(NULL, rec, &json) < 0)
		return 0;
	free(t->ring[t->next]);
	t->ring[t->next] = json;
	t->next = (t->next + 1) % t->limit;
	if (t->n < t->limit)
		t->n++;
	return 0;
}

static cJSON *cmd_history(struct daemon *d, struct client *cl, const cJSON *req)
{
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(req, "limit");
	struct history_tail t = {.limit = HISTORY_DEFAULT};
	cJSON *r, *arr, *err = NULL;
	int rc;

	(void)cl;
	if (!opt_string(req, "serial", &t.serial, &err))
		return err;
	if (lim) {
		if (!cJSON_IsNumber(lim) || lim->valuedouble < 1 ||
		    lim->valuedouble > HISTORY_MAX ||
		    lim->valuedouble != (double)(int)lim->valuedouble)
			return error_reply(DFUMGR_E_INVAL,
					   "\"limit\" must be a number from 1 to %d", HISTORY_MAX);
		t.limit = (size_t)lim->valuedouble;
	}
	t.ring = calloc(t.limit, sizeof(*t.ring));
	if (!t.ring)
		return error_reply(DFUMGR_E_NOMEM, "out of memory");
	rc = dfumgr_history_read(d->ctx, d->history_path, tail_one, &t, NULL);
	if (rc < 0) {
		r = error_reply(-rc, "%s", dfumgr_ctx_errmsg(d->ctx));
		goto out;
	}
	r = ok_reply();
	arr = cJSON_AddArrayToObject(r, "history");
	for (size_t i = 0; arr && i < t.n; i++) {
		size_t k = (t.next + t.limit - t.n + i) % t.limit;
		cJSON *o = cJSON_Parse(t.ring[k]);

		if (o)
			cJSON_AddItemToArray(arr, o);
	}
out:
	for (size_t i = 0; i < t.limit; i++)
		free(t.ring[i]);
	free(t.ring);
	return r;
}

static cJSON *cmd_update(struct daemon *d, struct client *cl, const cJSON *req)
{
	const char *serial, *name;
	const struct release *rel;
	struct board *b;
	cJSON *r, *err = NULL;
	char msg[512];
	int rc;

	(void)cl;
	if (!opt_string(req, "serial", &serial, &err) || !opt_string(req, "release", &name, &err))
		return err;
	if (!serial)
		return error_reply(DFUMGR_E_INVAL, "update: \"serial\" is missing");
	b = board_find(d, serial);
	if (!b || !b->present)
		return error_reply(DFUMGR_E_NODEV, "no board %s is connected", serial);
	if (!b->info_valid || !b->product[0])
		return error_reply(DFUMGR_E_PRODUCT,
				   "board %s has no product (a plain DFU board the configuration "
				   "does not map)",
				   serial);
	rel = name ? store_find(d, b->product, name) : store_current(d, b->product);
	if (!rel)
		return error_reply(DFUMGR_E_NOENT,
				   name ? "the daemon holds no release \"%s\" of %s"
					: "the daemon holds no release%s of %s",
				   name ? name : "", b->product);
	rc = policy_update_now(d, b, rel, msg, sizeof(msg));
	if (rc < 0)
		return error_reply(-rc, "%s", msg);
	r = ok_reply();
	cJSON_AddStringToObject(r, "serial", serial);
	cJSON_AddStringToObject(r, "release", rel->release);
	cJSON_AddStringToObject(r, "release_id", rel->id);
	cJSON_AddNumberToObject(r, "attempt", b->attempts);
	return r;
}

static cJSON *set_paused(struct daemon *d, bool paused)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec)};
	cJSON *r, *ev;

	if (d->paused != paused) {
		rec.event = paused ? DFUMGR_HISTORY_PAUSE : DFUMGR_HISTORY_RESUME;
		if (state_append(d, &rec) < 0)
			return error_reply(DFUMGR_E_IO, "could not record it in the history");
		d->paused = paused;
		daemon_log(d, 6, "Automatic updates %s", paused ? "paused" : "resumed");
		ev = cJSON_CreateObject();
		if (ev) {
			cJSON_AddStringToObject(ev, "event", paused ? "pause" : "resume");
			control_event(d, ev);
		}
		policy_run(d);
	}
	r = ok_reply();
	cJSON_AddBoolToObject(r, "paused", d->paused);
	return r;
}

static cJSON *cmd_pause(struct daemon *d, struct client *cl, const cJSON *req)
{
	(void)cl;
	(void)req;
	return set_paused(d, true);
}

static cJSON *cmd_resume(struct daemon *d, struct client *cl, const cJSON *req)
{
	(void)cl;
	(void)req;
	return set_paused(d, false);
}

static cJSON *cmd_subscribe(struct daemon *d, struct client *cl, const cJSON *req)
{
	cJSON *r = ok_reply();

	(void)d;
	(void)req;
	cl->subscribed = true;
	sd_event_source_set_enabled(cl->idle, SD_EVENT_OFF);
	cJSON_AddBoolToObject(r, "subscribed", true);
	return r;
}

static cJSON *cmd_reload(struct daemon *d, struct client *cl, const cJSON *req)
{
	char err[1024];

	(void)cl;
	(void)req;
	if (daemon_reload(d, err, sizeof(err)) < 0)
		return error_reply(DFUMGR_E_FORMAT, "%s", err);
	return ok_reply();
}

/* One request line (NUL-terminated, len bytes before the NUL); false when cl is gone. */
static bool handle_line(struct client *cl, const char *line, size_t len)
{
	struct daemon *d = cl->c->d;
	const cJSON *cmd;
	cJSON *req, *reply = NULL;
	const char *end = NULL;

	if (strlen(line) != len)
		return client_send(cl,
				   error_reply(DFUMGR_E_FORMAT, "the request holds a NUL byte"));
	req = cJSON_ParseWithOpts(line, &end, true);
	if (!req)
		return client_send(cl, error_reply(DFUMGR_E_FORMAT,
						   "not JSON (byte %zu): send one JSON object "
						   "per line, e.g. {\"command\":\"status\"}",
						   end ? (size_t)(end - line) : 0));
	cmd = cJSON_GetObjectItemCaseSensitive(req, "command");
	if (!cJSON_IsObject(req) || !cJSON_IsString(cmd)) {
		cJSON_Delete(req);
		return client_send(cl, error_reply(DFUMGR_E_FORMAT,
						   "a request is an object with a \"command\" "
						   "string, e.g. {\"command\":\"status\"}"));
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, cmd->valuestring)) {
			reply = commands[i].run(d, cl, req);
			break;
		}
	if (!reply)
		reply = error_reply(DFUMGR_E_INVAL,
				    "unknown command (known: status, boards, releases, history, "
				    "update, pause, resume, subscribe, reload)");
	cJSON_Delete(req);
	return client_send(cl, reply);
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *user)
{
	struct client *cl = user;

	(void)s;
	if (revents & EPOLLOUT) {
		if (!client_flush(cl))
			return 0;
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || cl->closing)
		return 0;
	for (;;) {
		ssize_t n = recv(fd, cl->in + cl->in_len, REQUEST_MAX - cl->in_len, MSG_DONTWAIT);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* the peer is done: send what is left, then close */
			cl->closing = true;
			client_flush(cl);
			return 0;
		}
		cl->in_len += (size_t)n;
		sd_event_source_set_time_relative(cl->idle, IDLE_TIMEOUT_US);
		while ((nl = memchr(cl->in, '\n', cl->in_len))) {
			size_t len = (size_t)(nl - cl->in);

			*nl = '\0';
			if (strspn(cl->in, " \t\r") < len && !handle_line(cl, cl->in, len))
				return 0;
			memmove(cl->in, nl + 1, cl->in_len - len - 1);
			cl->in_len -= len + 1;
		}
		if (cl->in_len == REQUEST_MAX) {
			cl->closing = true;
			client_send(cl, error_reply(DFUMGR_E_TOOBIG,
						    "request longer than %d bytes: closing the "
						    "connection",
						    REQUEST_MAX));
			return 0;
		}
	}
	return 0;
}

static int on_idle(sd_event_source *s, uint64_t usec, void *user)
{
	struct client *cl = user;

	(void)s;
	(void)usec;
	cl->closing = true;
	client_send(cl, error_reply(DFUMGR_E_TIMEOUT, "no request for %llu s: closing",
				    IDLE_TIMEOUT_US / 1000000));
	return 0;
}

/* Root, the daemon's own user, or a member of the control group. */
static bool peer_allowed(struct control *c, int fd, const struct ucred *cred)
{
	gid_t *groups;
	socklen_t len = PEER_GROUPS_MAX * sizeof(gid_t);
	bool ok = false;

	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (!c->have_gid)
		return false;
	if (cred->gid == c->gid)
		return true;
	groups = malloc(len);
	if (!groups)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t) && !ok; i++)
			ok = groups[i] == c->gid;
	free(groups);
	return ok;
}

static void deny(struct control *c, int fd, const struct ucred *cred)
{
	char *text;
	cJSON *r = error_reply(DFUMGR_E_ACCESS,
			       "uid %u is neither root nor a member of group %s: no access to "
			       "dfu-mgrd",
			       (unsigned)cred->uid, c->d->cfg.control_group);

	text = r ? cJSON_PrintUnformatted(r) : NULL;
	cJSON_Delete(r);
	if (text) {
		/* best effort: a fresh socket's buffer takes one short line */
		(void)!send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)!send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		cJSON_free(text);
	}
	daemon_log(c->d, 5, "Refused a control connection from uid %u (pid %d)",
		   (unsigned)cred->uid, (int)cred->pid);
	close(fd);
}

static int on_accept(sd_event_source *s, int lfd, uint32_t revents, void *user)
{
	struct control *c = user;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *cl;
	int fd;

	(void)s;
	(void)revents;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return 0;
	}
	if (!peer_allowed(c, fd, &cred)) {
		deny(c, fd, &cred);
		return 0;
	}
	if (c->n_clients >= CLIENTS_MAX) {
		static const char busy[] = "{\"ok\":false,\"error\":{\"code\":24,\"name\":\"busy\","
					   "\"message\":\"too many control connections\"}}\n";

		(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return 0;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return 0;
	}
	cl->c = c;
	cl->fd = fd;
	cl->uid = cred.uid;
	cl->pid = cred.pid;
	if (sd_event_add_io(c->d->loop, &cl->io, fd, EPOLLIN, on_client, cl) < 0 ||
	    sd_event_add_time_relative(c->d->loop, &cl->idle, CLOCK_MONOTONIC, IDLE_TIMEOUT_US,
				       1000 * 1000, on_idle, cl) < 0) {
		sd_event_source_disable_unref(cl->io);
		close(fd);
		free(cl);
		return 0;
	}
	cl->next = c->clients;
	c->clients = cl;
	c->n_clients++;
	return 0;
}

void control_event(struct daemon *d, cJSON *ev)
{
	struct client *cl, *next;
	char when[32];
	char *text;

	if (!ev)
		return;
	if (!d->control) {
		cJSON_Delete(ev);
		return;
	}
	cJSON_AddStringToObject(ev, "time", dfumgr_history_time_format(now_ms(), when));
	text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!text)
		return;
	for (cl = d->control->clients; cl; cl = next) {
		next = cl->next;
		if (cl->subscribed && !cl->closing) {
			cJSON *copy = cJSON_Parse(text);

			client_send(cl, copy);
		}
	}
	cJSON_free(text);
}

/*
 * The group's id, from /etc/group first: a system group (sysusers.d) is there, and reading the
 * file directly keeps glibc from loading NSS modules (nss_systemd and what it links: half a
 * megabyte of a small daemon's memory) for one lookup. Other sources only as a fallback.
 */
static bool group_id(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[16384];
	FILE *f = fopen("/etc/group", "re");
	bool found = false;

	while (f && !found && fgetgrent_r(f, &gr, buf, sizeof(buf), &res) == 0 && res)
		if (!strcmp(res->gr_name, name)) {
			*ret = res->gr_gid;
			found = true;
		}
	if (f)
		fclose(f);
	if (!found && getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
		*ret = res->gr_gid;
		found = true;
	}
	return found;
}

static void resolve_group(struct control *c)
{
	c->have_gid = group_id(c->d->cfg.control_group, &c->gid);
	if (c->have_gid)
		return;
	daemon_log(c->d, 4,
		   "Control group \"%s\" does not exist: only root and the daemon's user "
		   "may use the control socket",
		   c->d->cfg.control_group);
}

void control_reload(struct daemon *d)
{
	if (d->control)
		resolve_group(d->control);
}

int control_start(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct control *c = calloc(1, sizeof(*c));
	const char *dir = d->cfg.paths[PATH_RUNTIME];
	struct stat st;
	int rc, probe;

	if (!c)
		return -ENOMEM;
	c->d = d;
	c->fd = -1;
	d->control = c;
	if ((size_t)snprintf(c->path, sizeof(c->path), "%s/control.sock", dir) >= sizeof(c->path)) {
		daemon_log(d, 3, "Failed to make the control socket: %s/control.sock is too long",
			   dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		daemon_log(d, 3, "Failed to create the runtime directory %s: %s", dir,
			   strerror(errno));
		return -errno;
	}
	resolve_group(c);
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	/* a live socket means another daemon: never take its place */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		daemon_log(d, 3, "Failed to start: another dfu-mgrd answers on %s", c->path);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	if (lstat(c->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			daemon_log(d, 3,
				   "Failed to make the control socket: %s exists and is no "
				   "socket",
				   c->path);
			return -EEXIST;
		}
		unlink(c->path); /* left by a daemon that was killed */
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(c->path, 0666) < 0 || listen(c->fd, 16) < 0) {
		rc = -errno;
		daemon_log(d, 3, "Failed to listen on %s: %s", c->path, strerror(errno));
		return rc;
	}
	rc = sd_event_add_io(d->loop, &c->src, c->fd, EPOLLIN, on_accept, c);
	if (rc < 0)
		return rc;
	return 0;
}

void control_stop(struct daemon *d)
{
	struct control *c = d->control;

	if (!c)
		return;
	while (c->clients)
		client_free(c->clients);
	c->src = sd_event_source_disable_unref(c->src);
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	free(c);
	d->control = NULL;
}
