/* SPDX-License-Identifier: MIT */
/*
 * Talking to dfu-mgrd over its control socket (dfu-mgrd(8), CONTROL SOCKET): one JSON object per
 * line each way, written and read with cJSON.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_client.h"

/* A reply (the history, many boards) is at most this long. */
#define REPLY_MAX (8u * 1024 * 1024)

const char *daemon_socket_path(const char *given)
{
	const char *env = getenv("DFUMGRD_SOCKET");

	if (given)
		return given;
	return env && *env ? env : DAEMON_SOCKET_DEFAULT;
}

int daemon_connect(struct cli *cli, const char *path, struct daemon_conn *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	memset(ret, 0, sizeof(*ret));
	ret->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: %s: socket path too long\n", cli->prog, path);
		return EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		if (err == ENOENT || err == ECONNREFUSED) {
			fprintf(stderr,
				"%s: dfu-mgrd is not running (nothing answers on %s); `dfu-mgr "
				"history` reads what it did\n",
				cli->prog, path);
			return EXIT_NODEV;
		}
		fprintf(stderr, "%s: cannot connect to dfu-mgrd at %s: %s\n", cli->prog, path,
			strerror(err));
		return err == EACCES ? EXIT_NOPERM : EXIT_NODEV;
	}
	ret->fd = fd;
	return EXIT_OK;
}

void daemon_close(struct daemon_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

int daemon_read(struct cli *cli, struct daemon_conn *c, int timeout_ms, cJSON **ret)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (nl) {
			size_t line = (size_t)(nl - c->buf);
			cJSON *obj;

			*nl = '\0';
			obj = cJSON_Parse(c->buf);
			memmove(c->buf, nl + 1, c->len - line - 1);
			c->len -= line + 1;
			if (!cJSON_IsObject(obj)) {
				cJSON_Delete(obj);
				fprintf(stderr,
					"%s: dfu-mgrd sent something that is not a JSON "
					"object\n",
					cli->prog);
				return EXIT_IOERR;
			}
			*ret = obj;
			return EXIT_OK;
		}
		if (c->len == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 65536;
			char *v;

			if (cap > REPLY_MAX) {
				fprintf(stderr, "%s: dfu-mgrd's reply is longer than %u bytes\n",
					cli->prog, REPLY_MAX);
				return EXIT_IOERR;
			}
			v = realloc(c->buf, cap);
			if (!v) {
				fprintf(stderr, "%s: out of memory\n", cli->prog);
				return EXIT_SOFTWARE;
			}
			c->buf = v;
			c->cap = cap;
		}
		n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			fprintf(stderr, "%s: dfu-mgrd did not answer within %d s\n", cli->prog,
				timeout_ms / 1000);
			return EXIT_TEMPFAIL;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				return DAEMON_EOF;
			fprintf(stderr, "%s: reading from dfu-mgrd: %s\n", cli->prog,
				strerror(errno));
			return EXIT_IOERR;
		}
		c->len += (size_t)n;
	}
}

int daemon_reply_error(struct cli *cli, const cJSON *reply, const char *what)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	int err;

	if (cJSON_IsTrue(ok))
		return EXIT_OK;
	err = cJSON_IsNumber(code) ? code->valueint : DFUMGR_E_IO;
	if (cli->json) {
		char *text = cJSON_PrintUnformatted(reply);

		if (text) {
			printf("%s\n", text);
			cJSON_free(text);
		}
	}
	fprintf(stderr, "%s: %s: %s\n", cli->prog, what,
		cJSON_IsString(msg) ? msg->valuestring : dfumgr_strerror(err));
	return cli_exit_code(-err);
}

int daemon_send(struct cli *cli, struct daemon_conn *c, cJSON *req)
{
	char *text;
	size_t len, done = 0;

	if (!req) {
		fprintf(stderr, "%s: out of memory\n", cli->prog);
		return EXIT_SOFTWARE;
	}
	text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text) {
		fprintf(stderr, "%s: out of memory\n", cli->prog);
		return EXIT_SOFTWARE;
	}
	len = strlen(text);
	text[len] = '\n'; /* over cJSON's NUL: the line goes out as len + 1 bytes */
	while (done < len + 1) {
		ssize_t n = send(c->fd, text + done, len + 1 - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EPIPE && errno != ECONNRESET)
				fprintf(stderr, "%s: sending to dfu-mgrd: %s\n", cli->prog,
					strerror(errno));
			cJSON_free(text);
			return EXIT_IOERR;
		}
		done += (size_t)n;
	}
	cJSON_free(text);
	return EXIT_OK;
}

int daemon_call(struct cli *cli, const char *socket_path, cJSON *req, cJSON **ret_reply)
{
	struct daemon_conn c;
	int rc;

	rc = daemon_connect(cli, socket_path, &c);
	if (rc != EXIT_OK) {
		cJSON_Delete(req);
		return rc;
	}
	rc = daemon_send(cli, &c, req);
	/* a daemon that turns us away says why, then closes: the send may fail, the reason not */
	if (rc == EXIT_OK || rc == EXIT_IOERR)
		rc = daemon_read(cli, &c, rc == EXIT_OK ? DAEMON_TIMEOUT_MS : 1000, ret_reply);
	if (rc == DAEMON_EOF) {
		fprintf(stderr, "%s: dfu-mgrd closed the connection without answering\n",
			cli->prog);
		rc = EXIT_IOERR;
	}
	daemon_close(&c);
	return rc;
}
