/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr provision: every board of a fixture to one release, in parallel (libdfumgr's
 * dfumgr_provision_run() does the work). This file parses the options and shows the run: JSON
 * lines with --json, a live view of the boards on a terminal, plain lines otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "board_cli.h"
#include "dfumgr/provision.h"

#define REPORTS_MAX        4
#define DEFAULT_WAIT_S     60
#define DEFAULT_WAIT_S_STR "60"
#define REDRAW_US          100000
#define LOG_NAME           "station.jsonl"

static const char help[] =
    "Usage: dfu-mgr provision [OPTIONS] (--all | -S SERIAL... | --serials FILE) BUNDLE\n"
    "Bring every board of a fixture to the release in BUNDLE, in parallel: each board\n"
    "gets the paired update of `dfu-mgr update`; a board that runs the release already\n"
    "(its own digests of its running slots match) is skipped. One record per board goes\n"
    "to the station log (fsync'ed) and to the reports.\n\n"
    "  -a, --all                every board of the bundle's product (boards of another\n"
    "                           product are left alone)\n"
    "  -S, --serial SERIAL      this board (repeatable)\n"
    "      --serials FILE       the boards listed in FILE (one serial a line, # comments)\n"
    "  -w, --wait N             with --all: go on until N boards have a result, starting\n"
    "                           each board as it is plugged in\n"
    "  -t, --timeout S          wait at most S seconds from the start for boards not yet\n"
    "                           plugged in (default " DEFAULT_WAIT_S_STR " with --wait, else 0)\n"
    "      --jobs J             at most J boards at once (default: all)\n"
    "  -f, --force              rewrite boards that run the release already\n"
    "  -r, --report FILE        per-board report, JSON or CSV by FILE's extension\n"
    "                           (.json, .csv); may be given twice\n"
    "  -l, --log FILE           the station log (default\n"
    "                           $XDG_STATE_HOME/dfu-mgr/" LOG_NAME ")\n"
    "      --allow-downgrade    install older versions (or a lower security counter)\n"
    "      --retries N          re-downloads of a wrong image (default 2)\n"
    "      --transfer-size N    DFU block size (default: the board's)\n"
    "  -q, --quiet              only the result lines and the summary\n"
    "  -j, --json               JSON lines on stdout: one per event per board\n\n"
    "Exit status: 0 every board updated or already at the release, 1 one or more\n"
    "boards failed, 64 usage, 65 bad bundle or serials file, 66 a file is missing,\n"
    "69 no board, or boards asked for did not come in time, 73 the log or a report\n"
    "cannot be written, 75 cancelled (SIGINT/SIGTERM). See dfu-mgr-provision(1).\n\n";

enum {
	OPT_SERIALS = 400,
	OPT_JOBS,
};

/* ---- the view ---- */

enum view_mode { VIEW_PLAIN, VIEW_TTY, VIEW_JSON };

struct row {
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];
	bool started, done;
	enum dfumgr_phase phase;
	int image;
	uint64_t done_bytes, total;
	uint64_t start_us;
};

struct view {
	struct cli *cli;
	enum view_mode mode;
	bool quiet;
	const struct dfumgr_provision *run;
	struct row *rows;
	size_t n_rows;
	unsigned drawn; /* lines of the live region on the terminal */
	uint64_t t0, last_draw;
	unsigned n_done, n_failed;
};

static uint64_t mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static double since(const struct view *v)
{
	return (double)(mono_us() - v->t0) / 1e6;
}

static struct row *row_of(struct view *v, const struct dfumgr_provision_record *r)
{
	if (r->index >= v->n_rows) {
		size_t n = r->index + 1;
		struct row *nr = realloc(v->rows, n * sizeof(*nr));

		if (!nr)
			return NULL;
		memset(nr + v->n_rows, 0, (n - v->n_rows) * sizeof(*nr));
		v->rows = nr;
		v->n_rows = n;
	}
	return &v->rows[r->index];
}

static void label(const struct row *w, char *buf, size_t size)
{
	if (w->image >= 0 && (w->phase == DFUMGR_PHASE_DOWNLOAD || w->phase == DFUMGR_PHASE_VERIFY))
		snprintf(buf, size, "%s image-%d", dfumgr_phase_name(w->phase), w->image);
	else
		snprintf(buf, size, "%s", dfumgr_phase_name(w->phase));
}

static unsigned term_size(unsigned *ret_cols)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*ret_cols = ws.ws_col;
		return ws.ws_row;
	}
	*ret_cols = 80;
	return 24;
}

/* One line of the live region, cut to the terminal's width (a wrapped line would break it). */
static void draw_line(unsigned cols, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void draw_line(unsigned cols, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (cols > 1 && strlen(line) > cols - 1)
		line[cols - 1] = '\0';
	fprintf(stderr, "%s\033[K\n", line);
}

static void erase(struct view *v)
{
	if (v->drawn)
		fprintf(stderr, "\033[%uA\r\033[J", v->drawn);
	v->drawn = 0;
}

/* The live region: a header, then the boards not finished yet. */
static void draw(struct view *v)
{
	unsigned cols, rows = term_size(&cols), room = rows > 4 ? rows - 3 : 1, shown = 0, busy = 0,
		       queued = 0;

	erase(v);
	for (size_t i = 0; i < v->n_rows; i++) {
		busy += v->rows[i].started && !v->rows[i].done;
		queued += v->rows[i].serial[0] && !v->rows[i].started && !v->rows[i].done;
	}
	draw_line(cols,
		  "provision: %zu board(s): %u running, %u queued, %u done (%u failed)  %.1f s",
		  v->n_rows, busy, queued, v->n_done, v->n_failed, since(v));
	v->drawn = 1;
	for (size_t i = 0; i < v->n_rows; i++) {
		const struct row *w = &v->rows[i];
		char what[40], bar[21];

		if (w->done || !w->serial[0])
			continue;
		if (shown == room) {
			draw_line(cols, "  ... and more");
			v->drawn++;
			break;
		}
		shown++;
		v->drawn++;
		if (!w->started) {
			draw_line(cols, "  %-16s %-8s queued", w->serial, w->path);
			continue;
		}
		label(w, what, sizeof(what));
		if (w->total > 1) {
			int fill = (int)(w->done_bytes * 20 / w->total);

			memset(bar, '#', (size_t)fill);
			memset(bar + fill, '.', (size_t)(20 - fill));
			bar[20] = '\0';
			draw_line(cols, "  %-16s %-8s %-18s [%s] %3d%%  %6.1f s", w->serial,
				  w->path, what, bar, (int)(w->done_bytes * 100 / w->total),
				  (double)(mono_us() - w->start_us) / 1e6);
		} else {
			draw_line(cols, "  %-16s %-8s %-18s %29.1f s", w->serial, w->path, what,
				  (double)(mono_us() - w->start_us) / 1e6);
		}
	}
	fflush(stderr);
	v->last_draw = mono_us();
}

static void versions(char *buf, size_t size, bool valid, const struct dfumgr_image_version v[2])
{
	char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX];

	if (!valid)
		snprintf(buf, size, "?");
	else if (dfumgr_version_cmp(&v[0], &v[1]) == 0)
		snprintf(buf, size, "%s", dfumgr_version_format(&v[0], a));
	else
		snprintf(buf, size, "%s/%s", dfumgr_version_format(&v[0], a),
			 dfumgr_version_format(&v[1], b));
}

/* The line a finished board gets on stdout. */
static void print_result(const struct dfumgr_provision_record *r)
{
	char before[64], after[64];
	const char *serial = r->serial[0] ? r->serial : "(no serial)";

	versions(before, sizeof(before), r->have_before, r->before);
	versions(after, sizeof(after), r->have_after, r->after);
	switch (r->result) {
	case DFUMGR_PROVISION_UPDATED:
		printf("%-16s %-8s updated  %s -> %s, %" PRIu64 " bytes, %.2f s\n", serial, r->path,
		       before, after, r->bytes, (double)r->total_us / 1e6);
		break;
	case DFUMGR_PROVISION_SKIPPED:
		printf("%-16s %-8s skipped  runs %s already (device digests match), %.2f s\n",
		       serial, r->path, after, (double)r->total_us / 1e6);
		break;
	case DFUMGR_PROVISION_IGNORED:
		printf("%-16s %-8s ignored  %s\n", serial, r->path, r->message);
		break;
	case DFUMGR_PROVISION_MISSING:
		printf("%-16s %-8s MISSING  %s\n", serial, "-", r->message);
		break;
	default:
		printf("%-16s %-8s FAILED   in %s: %s [%s]\n", serial, r->path,
		       dfumgr_phase_name(r->phase), r->message, dfumgr_outcome_name(r->outcome));
		break;
	}
	fflush(stdout);
}

/* {"event": ..., "time": ..., "serial": ..., "path": ...} for --json */
static cJSON *json_event(struct view *v, const char *event, const struct dfumgr_provision_record *r)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddNumberToObject(o, "time", (double)(uint64_t)(since(v) * 1000) / 1000.0);
	if (r) {
		cJSON_AddNumberToObject(o, "index", r->index);
		cJSON_AddStringToObject(o, "serial", r->serial);
		cJSON_AddStringToObject(o, "path", r->path);
	}
	return o;
}

static void json_print(cJSON *o)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;

	if (text) {
		fputs(text, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	cJSON_free(text);
	cJSON_Delete(o);
}

static void on_event(void *user, const struct dfumgr_provision_event *ev)
{
	struct view *v = user;
	const struct dfumgr_provision_record *r = ev->record;
	struct row *w = row_of(v, r);
	char what[40];

	if (!w)
		return;
	switch (ev->type) {
	case DFUMGR_PROVISION_EV_FOUND:
		snprintf(w->serial, sizeof(w->serial), "%s", r->serial[0] ? r->serial : "-");
		snprintf(w->path, sizeof(w->path), "%s", r->path[0] ? r->path : "-");
		w->image = -2;
		if (v->mode == VIEW_JSON)
			json_print(json_event(v, "found", r));
		else if (v->mode == VIEW_PLAIN && !v->quiet)
			fprintf(stderr, "%s: found at %s\n", w->serial, w->path);
		break;
	case DFUMGR_PROVISION_EV_START:
		w->started = true;
		w->start_us = mono_us();
		if (v->mode == VIEW_JSON)
			json_print(json_event(v, "start", r));
		break;
	case DFUMGR_PROVISION_EV_PROGRESS: {
		const struct dfumgr_progress *p = ev->progress;
		bool changed = p->phase != w->phase || p->image != w->image;

		w->phase = p->phase;
		w->image = p->image;
		w->done_bytes = p->done;
		w->total = p->total;
		if (!changed)
			break;
		label(w, what, sizeof(what));
		if (v->mode == VIEW_JSON) {
			cJSON *o = json_event(v, "phase", r);

			if (o) {
				cJSON_AddStringToObject(o, "phase", dfumgr_phase_name(p->phase));
				if (p->image >= 0)
					cJSON_AddNumberToObject(o, "image", p->image);
				else
					cJSON_AddNullToObject(o, "image");
			}
			json_print(o);
		} else if (v->mode == VIEW_PLAIN && !v->quiet) {
			fprintf(stderr, "%s: %s\n", w->serial, what);
		}
		break;
	}
	case DFUMGR_PROVISION_EV_DONE:
		w->done = true;
		v->n_done++;
		v->n_failed +=
		    r->result == DFUMGR_PROVISION_FAILED || r->result == DFUMGR_PROVISION_MISSING;
		if (v->mode == VIEW_JSON) {
			cJSON *o = json_event(v, "done", r);
			char *rec = NULL;

			if (o) {
				cJSON_AddStringToObject(o, "result",
							dfumgr_provision_result_name(r->result));
				if (dfumgr_provision_record_json(v->run, r, &rec) == 0)
					cJSON_AddItemToObject(o, "record", cJSON_Parse(rec));
				free(rec);
			}
			json_print(o);
			break;
		}
		if (v->mode == VIEW_TTY)
			erase(v);
		print_result(r);
		break;
	}
	if (v->mode == VIEW_TTY &&
	    (ev->type != DFUMGR_PROVISION_EV_PROGRESS || mono_us() - v->last_draw >= REDRAW_US))
		draw(v);
}

/* ---- the station log's place ---- */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * $XDG_STATE_HOME/dfu-mgr/station.jsonl, else ~/.local/state/dfu-mgr/station.jsonl (the XDG base
 * directory default), the directory made (0700) when missing.
 */
static int default_log(struct cli *cli, char *buf, size_t size)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[PATH_MAX];
	int rc;

	if (state && state[0] == '/')
		snprintf(dir, sizeof(dir), "%s/dfu-mgr", state);
	else if (home && home[0] == '/')
		snprintf(dir, sizeof(dir), "%s/.local/state/dfu-mgr", home);
	else
		return cli_fail(cli,
				dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_IO,
						     "neither XDG_STATE_HOME nor HOME is set: give "
						     "--log FILE"),
				"station log");
	rc = mkdir_p(dir, 0700);
	if (rc < 0) {
		dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_IO, "cannot make %s: %s", dir,
				     strerror(-rc));
		fprintf(stderr, "%s: station log: %s\n", cli->prog, dfumgr_ctx_errmsg(cli->ctx));
		return EXIT_CANTCREAT;
	}
	if (snprintf(buf, size, "%s/%s", dir, LOG_NAME) >= (int)size) {
		fprintf(stderr, "%s: station log: %s/%s: name too long\n", cli->prog, dir,
			LOG_NAME);
		return EXIT_CANTCREAT;
	}
	return EXIT_OK;
}

/* A report's directory must be writable before any board is touched. */
static int check_report(struct cli *cli, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (dfumgr_provision_report_format(cli->ctx, path) < 0)
		return cli_usage_error(cli, "provision", "%s", dfumgr_ctx_errmsg(cli->ctx));
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash > path ? slash - path : 1), path);
	if (access(dir, W_OK) < 0) {
		fprintf(stderr, "%s: report %s: cannot write into %s: %s\n", cli->prog, path, dir,
			strerror(errno));
		return EXIT_CANTCREAT;
	}
	return EXIT_OK;
}

/* ---- the command ---- */

static void print_summary(struct view *v, const struct dfumgr_provision *run, int exit_code,
			  const char *log_path)
{
	struct dfumgr_provision_summary s = {.size = sizeof(s)};

	dfumgr_provision_summary(run, &s);
	if (v->mode == VIEW_JSON) {
		cJSON *o = json_event(v, "summary", NULL);

		if (o) {
			cJSON_AddNumberToObject(o, "boards", s.boards);
			for (int i = 0; i < DFUMGR_PROVISION_RESULT_COUNT; i++)
				cJSON_AddNumberToObject(
				    o,
				    dfumgr_provision_result_name((enum dfumgr_provision_result)i),
				    s.counts[i]);
			cJSON_AddNumberToObject(o, "wanted", s.wanted);
			cJSON_AddNumberToObject(o, "lacking", s.lacking);
			cJSON_AddBoolToObject(o, "cancelled", s.cancelled);
			cJSON_AddNumberToObject(o, "seconds", (double)(s.total_us / 1000) / 1000.0);
			cJSON_AddStringToObject(o, "log", log_path);
			cJSON_AddNumberToObject(o, "exit_code", exit_code);
		}
		json_print(o);
		return;
	}
	printf("provision: %u board(s): %u updated, %u skipped, %u failed", s.boards,
	       s.counts[DFUMGR_PROVISION_UPDATED], s.counts[DFUMGR_PROVISION_SKIPPED],
	       s.counts[DFUMGR_PROVISION_FAILED]);
	if (s.counts[DFUMGR_PROVISION_MISSING])
		printf(", %u missing", s.counts[DFUMGR_PROVISION_MISSING]);
	if (s.counts[DFUMGR_PROVISION_IGNORED])
		printf(", %u ignored", s.counts[DFUMGR_PROVISION_IGNORED]);
	if (s.lacking)
		printf(", %u of %u did not come", s.lacking, s.wanted);
	if (s.cancelled)
		printf(", cancelled");
	printf(" in %.1f s\n", (double)s.total_us / 1e6);
	fflush(stdout);
}

int cmd_provision(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"serial", required_argument, NULL, 'S'},
	    {"serials", required_argument, NULL, OPT_SERIALS},
	    {"wait", required_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"jobs", required_argument, NULL, OPT_JOBS},
	    {"force", no_argument, NULL, 'f'},
	    {"report", required_argument, NULL, 'r'},
	    {"log", required_argument, NULL, 'l'},
	    KEY_LONGOPTS,
	    {"allow-downgrade", no_argument, NULL, OPT_ALLOW_DOWNGRADE},
	    {"retries", required_argument, NULL, OPT_RETRIES},
	    {"transfer-size", required_argument, NULL, OPT_TRANSFER},
	    {"quiet", no_argument, NULL, 'q'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct dfumgr_provision_opts o = DFUMGR_PROVISION_OPTS_INIT;
	struct dfumgr_update_opts uo = DFUMGR_UPDATE_OPTS_INIT;
	struct target t = {0};
	struct view v = {.cli = cli};
	struct dfumgr_provision *run = NULL;
	struct dfumgr_bundle *b = NULL;
	struct dfumgr_backend *be = NULL;
	const char *reports[REPORTS_MAX], *log_path = NULL, *serials_file = NULL;
	char **file_serials = NULL, log_buf[PATH_MAX];
	const char **serials = NULL;
	size_t n_reports = 0, n_cli_serials = 0, n_file_serials = 0, n_serials = 0;
	bool have_timeout = false;
	uint32_t val, timeout_s = 0;
	int c, rc, ret = EXIT_OK;

	serials = calloc((size_t)argc + 1, sizeof(*serials));
	if (!serials)
		return cli_fail(cli, -DFUMGR_E_NOMEM, "provision");
	optind = 1;
	while ((c = getopt_long(argc, argv, "aS:w:t:fr:l:k:K:qjh", longopts, NULL)) != -1) {
		if (c == 'k' || c == 'K' || c == OPT_ALLOW_UNSIGNED) {
			if (target_opt(cli, "provision", &t, c, &ret) && ret != EXIT_OK)
				goto out;
			continue;
		}
		switch (c) {
		case 'a':
			o.all = true;
			break;
		case 'S':
			serials[n_cli_serials++] = optarg;
			break;
		case OPT_SERIALS:
			serials_file = optarg;
			break;
		case 'w':
			if (!cli_parse_u32(optarg, DFUMGR_PROVISION_BOARDS_MAX, &val) || !val) {
				ret = cli_usage_error(cli, "provision",
						      "bad --wait '%s' (1..%d boards)", optarg,
						      DFUMGR_PROVISION_BOARDS_MAX);
				goto out;
			}
			o.wait_count = val;
			break;
		case 't':
			if (!cli_parse_u32(optarg, 7 * 24 * 3600, &timeout_s)) {
				ret = cli_usage_error(cli, "provision",
						      "bad --timeout '%s' (seconds)", optarg);
				goto out;
			}
			have_timeout = true;
			break;
		case OPT_JOBS:
			if (!cli_parse_u32(optarg, DFUMGR_PROVISION_BOARDS_MAX, &val) || !val) {
				ret = cli_usage_error(cli, "provision", "bad --jobs '%s' (1..%d)",
						      optarg, DFUMGR_PROVISION_BOARDS_MAX);
				goto out;
			}
			o.jobs = val;
			break;
		case 'f':
			o.force = true;
			break;
		case 'r':
			if (n_reports == REPORTS_MAX) {
				ret = cli_usage_error(cli, "provision", "at most %d --report",
						      REPORTS_MAX);
				goto out;
			}
			reports[n_reports++] = optarg;
			break;
		case 'l':
			log_path = optarg;
			break;
		case OPT_ALLOW_DOWNGRADE:
			uo.allow_downgrade = true;
			break;
		case OPT_RETRIES:
			if (!cli_parse_u32(optarg, 10, &val)) {
				ret = cli_usage_error(cli, "provision",
						      "bad --retries '%s' (0..10)", optarg);
				goto out;
			}
			uo.retries = val;
			break;
		case OPT_TRANSFER:
			if (!cli_parse_u32(optarg, 4096, &val) || !val) {
				ret = cli_usage_error(cli, "provision",
						      "bad --transfer-size '%s' (1..4096)", optarg);
				goto out;
			}
			uo.transfer_size = (uint16_t)val;
			break;
		case 'q':
			v.quiet = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf("%s%s", help, key_help);
			goto out;
		default:
			ret = cli_usage_error(cli, "provision", "unknown option");
			goto out;
		}
	}
	if (optind != argc - 1) {
		ret = cli_usage_error(cli, "provision", "give exactly one BUNDLE directory");
		goto out;
	}
	if (o.all && (n_cli_serials || serials_file)) {
		ret = cli_usage_error(cli, "provision", "--all or serial numbers, not both");
		goto out;
	}
	if (!o.all && !n_cli_serials && !serials_file) {
		ret = cli_usage_error(cli, "provision",
				      "which boards? --all, --serial SERIAL or --serials FILE");
		goto out;
	}
	if (o.wait_count && !o.all) {
		ret = cli_usage_error(cli, "provision",
				      "--wait N goes with --all (with serial numbers the list says "
				      "which boards to wait for; --timeout says how long)");
		goto out;
	}
	for (size_t i = 0; i < n_reports; i++) {
		for (size_t k = 0; k < i; k++) {
			if (!strcmp(reports[i], reports[k])) {
				ret = cli_usage_error(cli, "provision", "--report %s given twice",
						      reports[i]);
				goto out;
			}
		}
		ret = check_report(cli, reports[i]);
		if (ret != EXIT_OK)
			goto out;
	}
	if (serials_file) {
		rc = dfumgr_provision_serials_load(cli->ctx, serials_file, &file_serials,
						   &n_file_serials);
		if (rc < 0) {
			ret = cli_fail(cli, rc, "serials");
			goto out;
		}
		if (n_cli_serials + n_file_serials > DFUMGR_PROVISION_SERIALS_MAX) {
			ret = cli_usage_error(cli, "provision", "more than %d serial numbers",
					      DFUMGR_PROVISION_SERIALS_MAX);
			goto out;
		}
		const char **all =
		    realloc(serials, (n_cli_serials + n_file_serials + 1) * sizeof(*serials));
		if (!all) {
			ret = cli_fail(cli, -DFUMGR_E_NOMEM, "provision");
			goto out;
		}
		serials = all;
		for (size_t i = 0; i < n_file_serials; i++)
			serials[n_cli_serials + i] = file_serials[i];
	}
	n_serials = n_cli_serials + n_file_serials;
	if (!log_path) {
		ret = default_log(cli, log_buf, sizeof(log_buf));
		if (ret != EXIT_OK)
			goto out;
		log_path = log_buf;
	}
	ret = cli_open_bundle(cli, "provision", &t, argv[optind], &b);
	if (ret != EXIT_OK)
		goto out;
	if (!have_timeout && o.wait_count)
		timeout_s = DEFAULT_WAIT_S;
	v.mode = cli->json ? VIEW_JSON : !v.quiet && isatty(STDERR_FILENO) ? VIEW_TTY : VIEW_PLAIN;
	v.t0 = mono_us();
	o.serials = serials;
	o.n_serials = n_serials;
	o.wait_timeout_ms = timeout_s * 1000u;
	o.log_path = log_path;
	o.update = &uo;
	o.event = on_event;
	o.user = &v;
	o.cancel = cli->cancel;
	rc = dfumgr_provision_new(cli->ctx, b, &o, &run);
	if (rc < 0) {
		ret = rc == -DFUMGR_E_INVAL
			  ? cli_usage_error(cli, "provision", "%s", dfumgr_ctx_errmsg(cli->ctx))
		      : rc == -DFUMGR_E_IO || rc == -DFUMGR_E_ACCESS
			  ? (cli_fail(cli, rc, "provision"), EXIT_CANTCREAT)
			  : cli_fail(cli, rc, "provision");
		goto out;
	}
	v.run = run;
	if (cli->verbose)
		fprintf(stderr, "%s: station log %s\n", cli->prog, log_path);
	ret = cli_backend_new(cli, &be);
	if (ret != EXIT_OK)
		goto out;
	rc = dfumgr_provision_run(run, be);
	if (v.mode == VIEW_TTY)
		erase(&v);
	if (rc == -DFUMGR_E_CANCELLED) {
		ret = EXIT_TEMPFAIL;
	} else if (rc < 0) {
		if (cli->json) {
			cJSON *line = json_event(&v, "error", NULL), *e = cJSON_CreateObject();

			if (line && e) {
				cJSON_AddNumberToObject(e, "code", -rc);
				cJSON_AddStringToObject(e, "name", dfumgr_strerror(rc));
				cJSON_AddStringToObject(e, "message", dfumgr_ctx_errmsg(cli->ctx));
				cJSON_AddItemToObject(line, "error", e);
				e = NULL;
			}
			cJSON_Delete(e);
			json_print(line);
		}
		fprintf(stderr, "%s: provision: %s\n", cli->prog, dfumgr_ctx_errmsg(cli->ctx));
		ret = rc == -DFUMGR_E_NODEV ? EXIT_NODEV
		      : rc == -DFUMGR_E_IO || rc == -DFUMGR_E_ACCESS
			  ? EXIT_CANTCREAT /* the station log: the only file a run writes */
			  : cli_exit_code(rc);
	} else if (rc > 0) {
		struct dfumgr_provision_summary s = {.size = sizeof(s)};

		dfumgr_provision_summary(run, &s);
		ret = s.counts[DFUMGR_PROVISION_FAILED] ? EXIT_VERIFY : EXIT_NODEV;
	}
	for (size_t i = 0; i < n_reports; i++) {
		rc = dfumgr_provision_write_report(run, reports[i]);
		if (rc < 0) {
			fprintf(stderr, "%s: provision: %s\n", cli->prog,
				dfumgr_ctx_errmsg(cli->ctx));
			if (ret != EXIT_TEMPFAIL)
				ret = EXIT_CANTCREAT;
		}
	}
	print_summary(&v, run, ret, log_path);
out:
	dfumgr_provision_free(run);
	dfumgr_backend_free(be);
	dfumgr_bundle_free(b);
	dfumgr_provision_serials_free(file_serials);
	free(serials);
	free(v.rows);
	return ret;
}
