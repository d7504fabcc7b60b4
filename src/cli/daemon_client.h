/* SPDX-License-Identifier: MIT */
/* The CLI's side of dfu-mgrd's control socket (JSON lines, dfu-mgrd(8)). */
#ifndef DFUMGR_CLI_DAEMON_CLIENT_H
#define DFUMGR_CLI_DAEMON_CLIENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define DAEMON_SOCKET_DEFAULT  "/run/dfu-mgr/control.sock"
#define DAEMON_HISTORY_DEFAULT "/var/lib/dfu-mgr/history.jsonl"
#define DAEMON_TIMEOUT_MS      30000
/* daemon_read(): the daemon closed the connection (not an exit code). */
#define DAEMON_EOF -1

struct daemon_conn {
	int fd;
	char *buf;
	size_t len, cap;
};

/* --socket if given, else $DFUMGRD_SOCKET, else the default. */
const char *daemon_socket_path(const char *given);
/* Connects; EXIT_OK or an exit code (the message printed: EXIT_NODEV when it is not running). */
int daemon_connect(struct cli *cli, const char *path, struct daemon_conn *ret);
void daemon_close(struct daemon_conn *c);
/* Sends req (taken) as one line. EXIT_OK or an exit code. */
int daemon_send(struct cli *cli, struct daemon_conn *c, cJSON *req);
/* Reads one object (*ret is the caller's); EXIT_OK, DAEMON_EOF or an exit code. */
int daemon_read(struct cli *cli, struct daemon_conn *c, int timeout_ms, cJSON **ret);
/* One request (taken), one reply. An {"ok": false} reply is returned as EXIT_OK too. */
int daemon_call(struct cli *cli, const char *socket_path, cJSON *req, cJSON **ret_reply);
/* EXIT_OK for {"ok": true}; else prints "what: message" (and the reply with --json) and maps
 * the error code to an exit code. */
int daemon_reply_error(struct cli *cli, const cJSON *reply, const char *what);

/* Shared by status, daemon and history. */
int cli_daemon_status(struct cli *cli, const char *socket_path);
void cli_print_boards(const cJSON *boards);
struct dfumgr_history_record;
void cli_print_history_record(const struct dfumgr_history_record *r);

#endif
