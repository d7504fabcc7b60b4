/* SPDX-License-Identifier: MIT */
/* dfu-mgr status: what dfu-mgrd is doing, from its control socket. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_client.h"

static const char *str(const cJSON *o, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : def;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* ["1.0.0+0", "1.0.0+0"] as "1.0.0+0 1.0.0+0" ("-" when absent) */
static const char *pair(const cJSON *o, const char *key, char *buf, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);

	if (!cJSON_IsString(a) || !cJSON_IsString(b))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s %s", a->valuestring, b->valuestring);
	return buf;
}

void cli_print_boards(const cJSON *boards)
{
	const cJSON *b;

	if (!cJSON_GetArraySize(boards)) {
		printf("  no boards known\n");
		return;
	}
	printf("  %-20s %-16s %-18s %-10s %s\n", "SERIAL", "STATUS", "RUNNING", "RELEASE", "NOTE");
	cJSON_ArrayForEach(b, boards)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "progress");
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(b, "last");
		const char *status = str(b, "status", "?");
		char run[64], note[512] = "";

		if (p) {
			double total = num(p, "total");

			snprintf(note, sizeof(note), "%s%s%.0f%% (attempt %.0f)",
				 str(p, "phase", "?"), total > 0 ? " " : " ",
				 total > 0 ? 100.0 * num(p, "done") / total : 0.0,
				 num(p, "attempt"));
		} else if (!strcmp(status, "retry-wait")) {
			snprintf(note, sizeof(note),
				 "retry in %.0f s (attempt %.0f of %.0f failed: %s)",
				 num(b, "retry_in_s"), num(b, "attempts"), num(b, "max_attempts"),
				 str(last, "message", "?"));
		} else if (!strcmp(status, "needs-attention")) {
			snprintf(note, sizeof(note), "%.0f attempts failed: %s", num(b, "attempts"),
				 str(last, "message", "?"));
		} else if (!strcmp(status, "error")) {
			snprintf(note, sizeof(note), "%s", str(b, "error", ""));
		} else if (!strcmp(status, "ignored")) {
			snprintf(note, sizeof(note), "no product (plain DFU, not mapped)");
		} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "present"))) {
			snprintf(note, sizeof(note), "%s %s%s", str(b, "product", ""),
				 str(b, "mode", ""), str(b, "mode", "")[0] ? " mode" : "");
		}
		printf("  %-20s %-16s %-18s %-10s %s\n", str(b, "serial", "?"), status,
		       pair(b, "running", run, sizeof(run)), str(b, "release", "-"), note);
	}
}

static void print_status(const cJSON *s, const cJSON *boards)
{
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(s, "boards");
	const cJSON *prods = cJSON_GetObjectItemCaseSensitive(s, "products");
	const cJSON *fetch = cJSON_GetObjectItemCaseSensitive(s, "last_fetch");
	const cJSON *p;
	double up = num(s, "uptime_s");
	char v[64];

	printf("dfu-mgrd %s, pid %.0f, up %.0f h %02.0f min%s%s\n", str(s, "version", "?"),
	       num(s, "pid"), (double)(long)(up / 3600), (double)((long)up % 3600 / 60),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "paused"))
		   ? "; automatic updates PAUSED"
		   : "",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "stopping")) ? "; STOPPING" : "");
	printf("incoming   %s\n", str(s, "incoming", "?"));
	if (!cJSON_GetArraySize(prods))
		printf("releases   none yet\n");
	cJSON_ArrayForEach(p, prods)
	    printf("release    %s %s (images %s), %.0f held\n", str(p, "product", "?"),
		   str(p, "release", "?"), pair(p, "version", v, sizeof(v)), num(p, "releases"));
	printf("boards     %.0f connected: %.0f up to date, %.0f updating, %.0f pending, "
	       "%.0f waiting to retry, %.0f need attention\n",
	       num(counts, "present"), num(counts, "up-to-date"), num(counts, "updating"),
	       num(counts, "pending") + num(counts, "paused"), num(counts, "retry-wait"),
	       num(counts, "needs-attention"));
	if (cJSON_IsObject(fetch)) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(fetch, "error");
		const cJSON *dl = cJSON_GetObjectItemCaseSensitive(fetch, "delivered");

		printf("last fetch %s %s%s%s", str(fetch, "time", "?"), str(fetch, "result", "?"),
		       cJSON_IsObject(e) ? ": " : "",
		       cJSON_IsObject(e) ? str(e, "message", "") : "");
		if (cJSON_IsObject(dl))
			printf(" (last delivered: %s %s at %s)", str(dl, "product", "?"),
			       str(dl, "release", "?"), str(dl, "time", "?"));
		printf("\n");
	} else {
		printf("last fetch none (the fetch timer is not set up, or has not run)\n");
	}
	cli_print_boards(boards);
}

static int usage(FILE *f)
{
	fprintf(f,
		"Usage: dfu-mgr status [--socket PATH] [--json]\n"
		"What dfu-mgrd is doing: releases, boards, running updates, the last fetch.\n\n"
		"  -s, --socket PATH  the daemon's control socket (default $DFUMGRD_SOCKET or "
		"%s)\n"
		"      --json         one JSON object: {\"status\": ..., \"boards\": [...]}\n"
		"  -h, --help         this help\n"
		"Exit status: 0, 69 when the daemon is not running, 77 without access.\n",
		DAEMON_SOCKET_DEFAULT);
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int cli_daemon_status(struct cli *cli, const char *socket_path)
{
	cJSON *st = NULL, *bd = NULL, *req;
	int rc;

	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "command", "status");
	rc = daemon_call(cli, socket_path, req, &st);
	if (rc == EXIT_OK)
		rc = daemon_reply_error(cli, st, "status");
	if (rc == EXIT_OK) {
		req = cJSON_CreateObject();
		cJSON_AddStringToObject(req, "command", "boards");
		rc = daemon_call(cli, socket_path, req, &bd);
		if (rc == EXIT_OK)
			rc = daemon_reply_error(cli, bd, "boards");
	}
	if (rc != EXIT_OK)
		goto out;
	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddItemReferenceToObject(o, "status",
					       cJSON_GetObjectItemCaseSensitive(st, "status"));
		cJSON_AddItemReferenceToObject(o, "boards",
					       cJSON_GetObjectItemCaseSensitive(bd, "boards"));
		text = cJSON_Print(o);
		if (text)
			printf("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(o);
	} else {
		print_status(cJSON_GetObjectItemCaseSensitive(st, "status"),
			     cJSON_GetObjectItemCaseSensitive(bd, "boards"));
	}
out:
	cJSON_Delete(st);
	cJSON_Delete(bd);
	return rc;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			return usage(stdout);
		default:
			return usage(stderr);
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "status", "unexpected argument '%s'", argv[optind]);
	return cli_daemon_status(cli, daemon_socket_path(sock));
}
