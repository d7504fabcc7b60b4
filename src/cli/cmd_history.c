/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr history: what dfu-mgrd did, read straight from its history journal, so that it works
 * while the daemon is stopped or crashed (the journal is readable while being appended to).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_client.h"
#include "dfumgr/history.h"

#define HISTORY_LIMIT_MAX 1000000

void cli_print_history_record(const struct dfumgr_history_record *r)
{
	char when[32];
	const char *ev = dfumgr_history_event_name(r->event);

	dfumgr_history_time_format(r->time_ms, when);
	when[19] = '\0'; /* seconds are enough on a terminal */
	when[10] = ' ';
	switch (r->event) {
	case DFUMGR_HISTORY_START:
	case DFUMGR_HISTORY_STOP:
	case DFUMGR_HISTORY_PAUSE:
	case DFUMGR_HISTORY_RESUME:
		printf("%s  %-11s %s\n", when, ev, r->message);
		break;
	case DFUMGR_HISTORY_RELEASE:
		printf("%s  %-11s %s %s (%s, %s) from %s: %s\n", when, ev, r->product, r->release,
		       r->version[0], r->version[1], r->name, r->message);
		break;
	case DFUMGR_HISTORY_REJECT:
		printf("%s  %-11s %s%s%s: %s (%s)\n", when, ev, r->name,
		       r->moved_to[0] ? " -> " : "", r->moved_to, r->message,
		       dfumgr_strerror(r->error));
		break;
	case DFUMGR_HISTORY_ATTEMPT:
		printf("%s  %-11s %s -> %s %s, attempt %u%s%s%s%s\n", when, ev, r->serial,
		       r->product, r->release, r->attempt, r->manual ? " (asked for)" : "",
		       r->have_before ? ", running " : "", r->have_before ? r->before[0] : "",
		       r->have_before ? (strcmp(r->before[0], r->before[1]) ? "/.." : "") : "");
		break;
	case DFUMGR_HISTORY_PHASE:
		printf("%s  %-11s %s %s\n", when, ev, r->serial, r->phase);
		break;
	case DFUMGR_HISTORY_RESULT:
		printf("%s  %-11s %s %s: %s in %.1f s, phase %s%s%s%s%s%s\n", when, ev, r->serial,
		       r->release, dfumgr_history_result_name(r->result),
		       (double)r->duration_ms / 1000.0, r->phase, r->committed ? ", committed" : "",
		       r->outcome[0] ? ", " : "", r->outcome,
		       r->message[0] || r->board_state[0] ? ": " : "",
		       r->message[0] ? r->message : r->board_state);
		break;
	case DFUMGR_HISTORY_INTERRUPTED:
		printf("%s  %-11s %s %s, attempt %u, in phase %s: %s\n", when, ev, r->serial,
		       r->release, r->attempt, r->phase, r->message);
		break;
	default:
		printf("%s  %s\n", when, ev);
		break;
	}
}

struct filter {
	const char *serial;
	size_t limit, n, next;
	struct dfumgr_history_record *ring;
};

static int keep(void *user, const struct dfumgr_history_record *rec)
{
	struct filter *f = user;

	if (f->serial && strcmp(f->serial, rec->serial) != 0)
		return 0;
	f->ring[f->next] = *rec;
	f->next = (f->next + 1) % f->limit;
	if (f->n < f->limit)
		f->n++;
	return 0;
}

static int count(void *user, const struct dfumgr_history_record *rec)
{
	struct filter *f = user;

	if (!f->serial || !strcmp(f->serial, rec->serial))
		f->n++;
	return 0;
}

static int usage(FILE *f)
{
	fprintf(f,
		"Usage: dfu-mgr history [--file PATH] [--serial SERIAL] [--limit N] [--json]\n"
		"What dfu-mgrd did: releases accepted and rejected, update attempts, their phases\n"
		"and results, interruptions. Reads the history file itself: works while the\n"
		"daemon is stopped.\n\n"
		"  -f, --file PATH      the history (default $DFUMGRD_HISTORY or %s)\n"
		"  -S, --serial SERIAL  only this board's records\n"
		"  -n, --limit N        the last N records (default all)\n"
		"      --json           {\"file\": ..., \"records\": [...]} (the file's objects)\n"
		"  -h, --help           this help\n",
		DAEMON_HISTORY_DEFAULT);
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

int cmd_history(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},  {"serial", required_argument, NULL, 'S'},
	    {"limit", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	const char *path = getenv("DFUMGRD_HISTORY");
	struct filter f = {.limit = HISTORY_LIMIT_MAX};
	size_t skipped = 0;
	uint32_t limit;
	int c, rc;

	if (!path || !*path)
		path = DAEMON_HISTORY_DEFAULT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:S:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			path = optarg;
			break;
		case 'S':
			f.serial = optarg;
			break;
		case 'n':
			if (!cli_parse_u32(optarg, HISTORY_LIMIT_MAX, &limit) || !limit)
				return cli_usage_error(cli, "history", "bad --limit '%s' (1..%d)",
						       optarg, HISTORY_LIMIT_MAX);
			f.limit = limit;
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
		return cli_usage_error(cli, "history", "unexpected argument '%s'", argv[optind]);
	/* a first pass counts, so that the ring holds just what is shown */
	rc = dfumgr_history_read(cli->ctx, path, count, &f, NULL);
	if (rc < 0)
		return cli_fail(cli, rc, "read the history %s", path);
	if (f.n < f.limit)
		f.limit = f.n ? f.n : 1;
	f.n = 0;
	f.ring = calloc(f.limit, sizeof(*f.ring));
	if (!f.ring)
		return cli_fail(cli, -DFUMGR_E_NOMEM, "history");
	rc = dfumgr_history_read(cli->ctx, path, keep, &f, &skipped);
	if (rc < 0) {
		free(f.ring);
		return cli_fail(cli, rc, "read the history %s", path);
	}
	if (cli->json) {
		cJSON *o = cJSON_CreateObject(), *arr;
		char *text;

		cJSON_AddStringToObject(o, "file", path);
		arr = cJSON_AddArrayToObject(o, "records");
		for (size_t i = 0; i < f.n; i++) {
			char *json = NULL;

			if (dfumgr_history_format(cli->ctx,
						  &f.ring[(f.next + f.limit - f.n + i) % f.limit],
						  &json) == 0)
				cJSON_AddItemToArray(arr, cJSON_Parse(json));
			free(json);
		}
		if (skipped)
			cJSON_AddNumberToObject(o, "skipped", (double)skipped);
		text = cJSON_Print(o);
		if (text)
			printf("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(o);
	} else {
		if (!f.n)
			printf("No history%s%s in %s.\n", f.serial ? " for " : "",
			       f.serial ? f.serial : "", path);
		for (size_t i = 0; i < f.n; i++)
			cli_print_history_record(&f.ring[(f.next + f.limit - f.n + i) % f.limit]);
		if (skipped)
			printf("(%zu records of events this version does not know were skipped)\n",
			       skipped);
	}
	free(f.ring);
	return EXIT_OK;
}
