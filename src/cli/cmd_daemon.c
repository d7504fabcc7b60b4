/* SPDX-License-Identifier: MIT */
/* dfu-mgr daemon ...: requests to dfu-mgrd over its control socket. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_client.h"
#include "dfumgr/history.h"

/* A --wait for an update gives up after this long without any event. */
#define WAIT_IDLE_MS (10 * 60 * 1000)

static const char *str(const cJSON *o, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : def;
}

static void print_json(const cJSON *o, bool pretty)
{
	char *text = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);

	if (text) {
		printf("%s\n", text);
		fflush(stdout);
	}
	cJSON_free(text);
}

static cJSON *request(const char *command)
{
	cJSON *r = cJSON_CreateObject();

	if (r)
		cJSON_AddStringToObject(r, "command", command);
	return r;
}

static void print_event(const cJSON *ev)
{
	const char *kind = str(ev, "event", "?");
	const char *t = str(ev, "time", "");

	printf("%.19s  %-9s", t, kind);
	if (!strcmp(kind, "progress") || !strcmp(kind, "phase")) {
		const cJSON *done = cJSON_GetObjectItemCaseSensitive(ev, "done");
		const cJSON *total = cJSON_GetObjectItemCaseSensitive(ev, "total");

		printf(" %s %s", str(ev, "serial", "?"), str(ev, "phase", "?"));
		if (cJSON_IsNumber(total) && total->valuedouble > 0)
			printf(" %.0f%%", 100.0 * done->valuedouble / total->valuedouble);
	} else if (!strcmp(kind, "result")) {
		printf(" %s %s: %s%s%s", str(ev, "serial", "?"), str(ev, "release", "?"),
		       str(ev, "result", "?"),
		       cJSON_GetObjectItemCaseSensitive(ev, "message") ? ": " : "",
		       str(ev, "message", ""));
	} else if (!strcmp(kind, "attempt")) {
		printf(" %s -> %s %s", str(ev, "serial", "?"), str(ev, "product", "?"),
		       str(ev, "release", "?"));
	} else if (!strcmp(kind, "release")) {
		printf(" %s %s (%s)", str(ev, "product", "?"), str(ev, "release", "?"),
		       str(ev, "id", "?"));
	} else if (!strcmp(kind, "reject")) {
		printf(" %s: %s", str(ev, "name", "?"), str(ev, "message", "?"));
	}
	printf("\n");
	fflush(stdout);
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/*
 * subscribe: events until the daemon goes away, count events were printed, or (serial given,
 * after sending update) that board's result arrived: then its outcome is the exit status.
 */
static int stream(struct cli *cli, const char *sock, cJSON *update, long count)
{
	struct daemon_conn c;
	const char *serial = NULL;
	cJSON *reply = NULL;
	long seen = 0;
	int rc;

	rc = daemon_connect(cli, sock, &c);
	if (rc != EXIT_OK) {
		cJSON_Delete(update);
		return rc;
	}
	rc = daemon_send(cli, &c, request("subscribe"));
	if (rc == EXIT_OK)
		rc = daemon_read(cli, &c, DAEMON_TIMEOUT_MS, &reply);
	if (rc == EXIT_OK)
		rc = daemon_reply_error(cli, reply, "subscribe");
	cJSON_Delete(reply);
	reply = NULL;
	if (rc == EXIT_OK && update) {
		serial = str(update, "serial", NULL);
		rc = daemon_send(cli, &c, cJSON_Duplicate(update, true));
	}
	signal(SIGINT, on_sigint);
	while (rc == EXIT_OK && !interrupted) {
		cJSON *ev = NULL;

		rc = daemon_read(cli, &c, update ? WAIT_IDLE_MS : -1, &ev);
		if (rc == DAEMON_EOF) {
			if (!update)
				rc = EXIT_OK;
			else {
				fprintf(stderr, "%s: dfu-mgrd went away before the update ended\n",
					cli->prog);
				rc = EXIT_TEMPFAIL;
			}
			break;
		}
		if (rc != EXIT_OK)
			break;
		if (!cJSON_GetObjectItemCaseSensitive(ev, "event")) {
			/* the reply to the update request */
			rc = daemon_reply_error(cli, ev, "update");
			if (rc == EXIT_OK && !cli->json)
				printf(
				    "Updating %s to %s (attempt %d)\n", serial,
				    str(ev, "release", "?"),
				    cJSON_GetObjectItemCaseSensitive(ev, "attempt")
					? cJSON_GetObjectItemCaseSensitive(ev, "attempt")->valueint
					: 0);
			else if (rc == EXIT_OK)
				print_json(ev, false);
			cJSON_Delete(ev);
			continue;
		}
		if (!serial || !strcmp(str(ev, "serial", ""), serial)) {
			if (cli->json)
				print_json(ev, false);
			else
				print_event(ev);
			seen++;
		}
		if (serial && !strcmp(str(ev, "event", ""), "result") &&
		    !strcmp(str(ev, "serial", ""), serial)) {
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(ev, "error");

			rc = cJSON_IsNumber(err) ? cli_exit_code(-err->valueint) : EXIT_OK;
			cJSON_Delete(ev);
			break;
		}
		cJSON_Delete(ev);
		if (count > 0 && seen >= count)
			break;
	}
	cJSON_Delete(update);
	daemon_close(&c);
	return rc;
}

static void print_releases(const cJSON *arr)
{
	const cJSON *r;

	if (!cJSON_GetArraySize(arr)) {
		printf("No releases.\n");
		return;
	}
	printf("%-16s %-12s %-20s %-28s %s\n", "PRODUCT", "RELEASE", "IMAGES", "ID", "");
	cJSON_ArrayForEach(r, arr)
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "version");
		char images[64] = "?";

		if (cJSON_IsString(cJSON_GetArrayItem(v, 0)) &&
		    cJSON_IsString(cJSON_GetArrayItem(v, 1)))
			snprintf(images, sizeof(images), "%s %s",
				 cJSON_GetArrayItem(v, 0)->valuestring,
				 cJSON_GetArrayItem(v, 1)->valuestring);
		printf("%-16s %-12s %-20s %-28s %s\n", str(r, "product", "?"),
		       str(r, "release", "?"), images, str(r, "id", "?"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "current")) ? "current"
										    : "");
	}
}

static int usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: dfu-mgr daemon [--socket PATH] [--json] COMMAND [ARGS]\n"
	    "Requests to dfu-mgrd over its control socket.\n\n"
	    "Commands:\n"
	    "  status                  what the daemon is doing (as `dfu-mgr status`)\n"
	    "  boards                  every board it knows, with its status\n"
	    "  releases                the releases it holds, the current one per product\n"
	    "  history [-S SERIAL] [-n N]  its last N history records (default 50)\n"
	    "  update SERIAL [RELEASE] update a board now, to a release the daemon holds\n"
	    "                          (default: the current one); --wait follows it to its\n"
	    "                          result and exits with its outcome\n"
	    "  pause | resume          stop / restart automatic updates (running ones finish)\n"
	    "  reload                  read the configuration again (as SIGHUP)\n"
	    "  subscribe [--count N]   print events (progress, results, releases) as they come\n"
	    "\nOptions:\n"
	    "  -s, --socket PATH  the control socket (default $DFUMGRD_SOCKET or %s)\n"
	    "      --json         the daemon's JSON (one object per line for subscribe)\n"
	    "  -w, --wait         update: wait for the result\n"
	    "  -S, --serial S     history: only this board\n"
	    "  -n, --limit N      history: that many records\n"
	    "  -c, --count N      subscribe: stop after N events\n"
	    "  -h, --help         this help\n"
	    "Exit status: 0, 64 usage, 69 daemon not running / no such board, 77 no access,\n"
	    "and for update --wait the update's outcome as for `dfu-mgr update`.\n",
	    DAEMON_SOCKET_DEFAULT);
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int cmd_daemon(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
	    {"wait", no_argument, NULL, 'w'},         {"serial", required_argument, NULL, 'S'},
	    {"limit", required_argument, NULL, 'n'},  {"count", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *serial = NULL, *cmd;
	uint32_t limit = 50, count = 0;
	bool wait = false;
	cJSON *req, *reply = NULL;
	char **args;
	int c, nargs, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:wS:n:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'w':
			wait = true;
			break;
		case 'S':
			serial = optarg;
			break;
		case 'n':
			if (!cli_parse_u32(optarg, 5000, &limit) || !limit)
				return cli_usage_error(cli, "daemon", "bad --limit '%s' (1..5000)",
						       optarg);
			break;
		case 'c':
			if (!cli_parse_u32(optarg, 1000000, &count))
				return cli_usage_error(cli, "daemon", "bad --count '%s'", optarg);
			break;
		case 'h':
			return usage(stdout);
		default:
			return usage(stderr);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "daemon",
				       "which command? (status, boards, releases, "
				       "history, update, pause, resume, reload, "
				       "subscribe)");
	cmd = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;
	sock = daemon_socket_path(sock);

	if (!strcmp(cmd, "status") && nargs == 0)
		return cli_daemon_status(cli, sock);
	if (!strcmp(cmd, "subscribe") && nargs == 0)
		return stream(cli, sock, NULL, count);
	if (!strcmp(cmd, "update") && (nargs == 1 || nargs == 2)) {
		req = request("update");
		cJSON_AddStringToObject(req, "serial", args[0]);
		if (nargs == 2)
			cJSON_AddStringToObject(req, "release", args[1]);
		if (wait)
			return stream(cli, sock, req, 0);
	} else if (!strcmp(cmd, "history") && nargs == 0) {
		req = request("history");
		cJSON_AddNumberToObject(req, "limit", limit);
		if (serial)
			cJSON_AddStringToObject(req, "serial", serial);
	} else if ((!strcmp(cmd, "boards") || !strcmp(cmd, "releases") || !strcmp(cmd, "pause") ||
		    !strcmp(cmd, "resume") || !strcmp(cmd, "reload")) &&
		   nargs == 0) {
		req = request(cmd);
	} else {
		return cli_usage_error(cli, "daemon", "'%s' with %d argument(s) is no command", cmd,
				       nargs);
	}
	rc = daemon_call(cli, sock, req, &reply);
	if (rc == EXIT_OK)
		rc = daemon_reply_error(cli, reply, cmd);
	if (rc != EXIT_OK)
		goto out;
	if (cli->json) {
		print_json(reply, true);
	} else if (!strcmp(cmd, "boards")) {
		cli_print_boards(cJSON_GetObjectItemCaseSensitive(reply, "boards"));
	} else if (!strcmp(cmd, "releases")) {
		print_releases(cJSON_GetObjectItemCaseSensitive(reply, "releases"));
	} else if (!strcmp(cmd, "history")) {
		const cJSON *r;

		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(reply, "history"))
		{
			struct dfumgr_history_record rec = {.size = sizeof(rec)};
			char *text = cJSON_PrintUnformatted(r);

			if (text && dfumgr_history_parse(cli->ctx, text, &rec) == 0)
				cli_print_history_record(&rec);
			cJSON_free(text);
		}
	} else if (!strcmp(cmd, "update")) {
		printf("Updating %s to %s (release %s)\n", args[0], str(reply, "release", "?"),
		       str(reply, "release_id", "?"));
	} else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		printf("Automatic updates %s.\n",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "paused")) ? "paused"
										       : "running");
	} else {
		printf("Configuration reloaded.\n");
	}
out:
	cJSON_Delete(reply);
	return rc;
}
