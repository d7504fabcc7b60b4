/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgrd: options, configuration, start-up order and shutdown. READY=1 goes to systemd only
 * once the incoming directory is watched, hotplug events arrive and the control socket
 * listens; STOPPING=1 as soon as a stop is asked for; the watchdog is sd-event's own (it sends
 * WATCHDOG=1 at half of WatchdogSec= from the loop, so a stuck loop is noticed).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"

/* sysexits(3) */
enum {
	EXIT_USAGE = 64,
	EXIT_UNAVAILABLE = 69,
	EXIT_SOFTWARE = 70,
	EXIT_CANTCREAT = 73,
	EXIT_IOERR = 74,
	EXIT_CONFIG = 78,
};

static int log_level = 6;
static bool log_journal; /* stderr goes to the journal: "<N>" level prefixes */

void daemon_log(struct daemon *d, int level, const char *fmt, ...)
{
	static const char *const words[8] = {"", "", "", "error: ", "warning: ", "", "", "debug: "};
	char msg[2048];
	va_list ap;

	(void)d;
	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, msg);
	else
		fprintf(stderr, "dfu-mgrd: %s%s\n", words[level & 7], msg);
}

static void lib_log(void *user, enum dfumgr_log_level level, const char *msg)
{
	daemon_log(user, (int)level, "%s", msg);
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void daemon_update_status(struct daemon *d)
{
	unsigned updating = 0, attention = 0, present = 0, current = 0;
	char text[sizeof(d->status_text)];

	for (size_t i = 0; i < d->n_boards; i++) {
		enum board_status st = board_status(d, &d->boards[i], NULL);

		present += d->boards[i].present;
		updating += st == ST_UPDATING;
		attention += st == ST_NEEDS_ATTENTION;
		current += st == ST_UP_TO_DATE;
	}
	if (d->stopping)
		snprintf(text, sizeof(text), "Stopping: %u update(s) finishing", updating);
	else
		snprintf(text, sizeof(text),
			 "%u board(s) connected, %u up to date, %u updating, %u need attention; "
			 "%zu release(s)%s",
			 present, current, updating, attention, d->n_releases,
			 d->paused ? "; automatic updates paused" : "");
	if (strcmp(text, d->status_text) != 0) {
		snprintf(d->status_text, sizeof(d->status_text), "%s", text);
		sd_notifyf(0, "STATUS=%s", text);
	}
}

void daemon_maybe_exit(struct daemon *d)
{
	if (d->stopping && d->jobs_running == 0)
		sd_event_exit(d->loop, 0);
}

static void stop(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	sd_notify(0, "STOPPING=1");
	daemon_log(d, 6, "Stopping (%s)%s", why,
		   d->updating ? ": cancelling the running updates, which leave every board on "
				 "a whole pair"
			       : "");
	/* every update (and scan) waits on it: each one stops within a second, a COMMIT already
	 * sent is waited for */
	dfumgr_cancel_trigger(d->cancel);
	hotplug_stop(d);
	d->scan_delay_src = sd_event_source_disable_unref(d->scan_delay_src);
	d->retry_src = sd_event_source_disable_unref(d->retry_src);
	daemon_update_status(d);
	{
		cJSON *ev = cJSON_CreateObject();

		if (ev) {
			cJSON_AddStringToObject(ev, "event", "stopping");
			control_event(d, ev);
		}
	}
	daemon_maybe_exit(d);
}

/* ---- configuration ---- */

static void apply_overrides(struct daemon *d, struct config *c)
{
	for (size_t i = 0; i < CONFIG_PATHS; i++)
		if (d->overrides.paths[i])
			(void)config_set_path(c, (enum config_path)i, d->overrides.paths[i]);
	if (d->override_usb)
		c->usb = false;
}

static int load_config(struct daemon *d, struct config *c, char *err, size_t errlen)
{
	bool explicit = d->config_path != NULL;

	if (config_defaults(c) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (config_load(c, explicit ? d->config_path : CONFIG_DEFAULT_PATH, !explicit, err,
			errlen) < 0) {
		config_done(c);
		return -1;
	}
	apply_overrides(d, c);
	return 0;
}

int daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	static const enum config_path fixed[] = {PATH_INCOMING, PATH_STATE, PATH_RUNTIME,
						 PATH_HISTORY};
	struct config c;

	sd_notify(0, "RELOADING=1");
	if (load_config(d, &c, err, errlen) < 0) {
		daemon_log(d, 3, "Failed to reload the configuration, keeping the old one: %s",
			   err);
		sd_notify(0, "READY=1");
		return -1;
	}
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(c.paths[fixed[i]], d->cfg.paths[fixed[i]]) != 0) {
			daemon_log(d, 4, "%s changed to %s: takes effect when the daemon restarts",
				   config_path_name(fixed[i]), c.paths[fixed[i]]);
			(void)config_set_path(&c, fixed[i], d->cfg.paths[fixed[i]]);
		}
	if (c.usb != d->cfg.usb) {
		daemon_log(d, 4, "usb changed: takes effect when the daemon restarts");
		c.usb = d->cfg.usb;
	}
	config_done(&d->cfg);
	d->cfg = c;
	control_reload(d);
	/* plain boards may map to other products now: ask them again */
	for (size_t i = 0; i < d->n_boards; i++)
		if (!d->boards[i].shim)
			d->boards[i].bus = d->boards[i].address = 0;
	boards_request_scan(d, 0);
	daemon_log(d, 6, "Reloaded the configuration");
	sd_notify(0, "READY=1");
	policy_run(d);
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *user)
{
	struct daemon *d = user;
	char err[1024];

	(void)s;
	if (si->ssi_signo == SIGHUP)
		(void)daemon_reload(d, err, sizeof(err));
	else
		stop(d, si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	return 0;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: dfu-mgrd [OPTIONS]\n"
	    "The dfu-mgr update daemon: brings every attached board to the current release\n"
	    "of its product, from bundles renamed into the incoming directory.\n\n"
	    "Options:\n"
	    "  -c, --config FILE       configuration file (default %s)\n"
	    "      --incoming DIR      the drop directory for bundles\n"
	    "      --state-dir DIR     releases/, rejected/ and the history\n"
	    "      --runtime-dir DIR   where control.sock is made\n"
	    "      --keys PATH         trusted keys: a directory of .pem/.der keys or one file\n"
	    "      --fetch-state FILE  the fetch unit's state file (shown by status)\n"
	    "      --history FILE      the history journal (default STATE/history.jsonl)\n"
	    "      --no-usb            no USB at all: releases and the socket only\n"
	    "      --check-config      read the configuration, print it, exit\n"
	    "  -v, --verbose           debug messages\n"
	    "  -h, --help              this help\n"
	    "      --version           the version\n"
	    "\nSignals: SIGTERM/SIGINT stop (running updates are cancelled safely), SIGHUP\n"
	    "reloads the configuration. See dfu-mgrd(8).\n",
	    CONFIG_DEFAULT_PATH);
}

enum {
	OPT_INCOMING = 256,
	OPT_STATE,
	OPT_RUNTIME,
	OPT_KEYS,
	OPT_FETCH_STATE,
	OPT_HISTORY,
	OPT_NO_USB,
	OPT_CHECK,
	OPT_VERSION,
};

static int parse_args(struct daemon *d, int argc, char **argv, bool *ret_check)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"incoming", required_argument, NULL, OPT_INCOMING},
	    {"state-dir", required_argument, NULL, OPT_STATE},
	    {"runtime-dir", required_argument, NULL, OPT_RUNTIME},
	    {"keys", required_argument, NULL, OPT_KEYS},
	    {"fetch-state", required_argument, NULL, OPT_FETCH_STATE},
	    {"history", required_argument, NULL, OPT_HISTORY},
	    {"no-usb", no_argument, NULL, OPT_NO_USB},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		enum config_path which;

		switch (c) {
		case 'c':
			d->config_path = optarg;
			continue;
		case 'v':
			log_level = 7;
			continue;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("dfu-mgrd %s (libdfumgr %s)\n", DFUMGR_VERSION_STRING,
			       dfumgr_version());
			exit(0);
		case OPT_NO_USB:
			d->override_usb = true;
			continue;
		case OPT_CHECK:
			*ret_check = true;
			continue;
		case OPT_INCOMING:
			which = PATH_INCOMING;
			break;
		case OPT_STATE:
			which = PATH_STATE;
			break;
		case OPT_RUNTIME:
			which = PATH_RUNTIME;
			break;
		case OPT_KEYS:
			which = PATH_KEYS;
			break;
		case OPT_FETCH_STATE:
			which = PATH_FETCH_STATE;
			break;
		case OPT_HISTORY:
			which = PATH_HISTORY;
			break;
		default:
			fprintf(stderr, "Try 'dfu-mgrd --help'.\n");
			return -1;
		}
		if (optarg[0] != '/') {
			fprintf(stderr, "dfu-mgrd: --%s: \"%s\" is not an absolute path\n",
				config_path_name(which), optarg);
			return -1;
		}
		if (config_set_path(&d->overrides, which, optarg) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "dfu-mgrd: unexpected argument '%s'\nTry 'dfu-mgrd --help'.\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

static void print_config(const struct config *c)
{
	for (size_t i = 0; i < CONFIG_PATHS; i++)
		printf("%s = %s\n", config_path_name((enum config_path)i),
		       c->paths[i][0] ? c->paths[i] : "(state/history.jsonl)");
	printf("usb = %s\nallow_downgrade = %s\nmax_parallel = %u\nmax_attempts = %u\n"
	       "retry_initial = %u\nretry_max = %u\nsettle = %u\nhistory_max = %u\n"
	       "group = %s\n",
	       c->usb ? "yes" : "no", c->allow_downgrade ? "yes" : "no", c->max_parallel,
	       c->max_attempts, c->retry_initial_s, c->retry_max_s, c->settle_s, c->history_max,
	       c->control_group);
	for (size_t i = 0; i < c->n_maps; i++) {
		if (c->maps[i].by_serial)
			printf("serial:%s = %s\n", c->maps[i].serial, c->maps[i].product);
		else
			printf("%04x:%04x = %s\n", c->maps[i].vid, c->maps[i].pid,
			       c->maps[i].product);
	}
}

/* ---- start and stop ---- */

static int record(struct daemon *d, enum dfumgr_history_event ev, const char *msg)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec), .event = ev};

	snprintf(rec.message, sizeof(rec.message), "%s", msg);
	return state_append(d, &rec);
}

static int start(struct daemon *d)
{
	sigset_t mask;
	char msg[256];
	int rc;

	/* blocked before any thread exists, so that every thread inherits it: signals reach
	 * the loop's signalfd only */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = sd_event_default(&d->loop);
	if (rc < 0)
		return EXIT_SOFTWARE;
	sd_event_now(d->loop, CLOCK_MONOTONIC, &d->start_usec);
	sd_event_set_watchdog(d->loop, true);
	d->ctx = dfumgr_ctx_new();
	if (!d->ctx)
		return EXIT_SOFTWARE;
	dfumgr_ctx_set_log(d->ctx, lib_log, d);
	if (jobs_init(d) < 0 || dfumgr_cancel_new(&d->cancel) < 0)
		return EXIT_SOFTWARE;
	if (mkdir(d->cfg.paths[PATH_STATE], 0750) < 0 && errno != EEXIST) {
		daemon_log(d, 3, "Failed to create the state directory %s: %s",
			   d->cfg.paths[PATH_STATE], strerror(errno));
		return EXIT_CANTCREAT;
	}
	if (store_open(d) < 0)
		return EXIT_CANTCREAT;
	if (state_open(d) < 0 || store_adopt(d) < 0)
		return EXIT_IOERR;
	snprintf(msg, sizeof(msg), "dfu-mgrd %s, pid %d", DFUMGR_VERSION_STRING, (int)getpid());
	if (record(d, DFUMGR_HISTORY_START, msg) < 0)
		return EXIT_IOERR;
	if (control_start(d) < 0)
		return EXIT_UNAVAILABLE;
	if (incoming_start(d) < 0)
		return EXIT_CANTCREAT;
	if (d->cfg.usb) {
		if (dfumgr_backend_usb_new(d->ctx, &d->backend) < 0) {
			daemon_log(d, 3, "Failed to start USB: %s", dfumgr_ctx_errmsg(d->ctx));
			return EXIT_UNAVAILABLE;
		}
		if (hotplug_start(d) < 0)
			return EXIT_UNAVAILABLE;
		boards_request_scan(d, 0);
	}
	if (sd_event_add_signal(d->loop, NULL, SIGTERM, on_signal, d) < 0 ||
	    sd_event_add_signal(d->loop, NULL, SIGINT, on_signal, d) < 0 ||
	    sd_event_add_signal(d->loop, NULL, SIGHUP, on_signal, d) < 0)
		return EXIT_SOFTWARE;
	daemon_update_status(d);
	sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%d", d->status_text, (int)getpid());
	daemon_log(d, 6, "Watching %s for bundles%s; %zu release(s); control socket %s",
		   d->cfg.paths[PATH_INCOMING], d->cfg.usb ? " and USB for boards" : "",
		   d->n_releases, d->cfg.paths[PATH_RUNTIME]);
	policy_run(d);
	return 0;
}

static void teardown(struct daemon *d, bool clean)
{
	if (clean && d->journal)
		(void)record(d, DFUMGR_HISTORY_STOP, "stopped");
	control_stop(d);
	hotplug_stop(d);
	incoming_stop(d);
	d->scan_delay_src = sd_event_source_disable_unref(d->scan_delay_src);
	d->retry_src = sd_event_source_disable_unref(d->retry_src);
	state_close(d);
	store_close(d);
	boards_done(d);
	if (d->loop)
		jobs_done(d);
	/* after the jobs: none uses them any more */
	d->backend = dfumgr_backend_free(d->backend);
	d->cancel = dfumgr_cancel_free(d->cancel);
	d->loop = sd_event_unref(d->loop);
	d->ctx = dfumgr_ctx_free(d->ctx);
	config_done(&d->cfg);
	config_done(&d->overrides);
}

int main(int argc, char **argv)
{
	struct daemon d = {.prog = "dfu-mgrd",
			   .incoming_fd = -1,
			   .releases_fd = -1,
			   .rejected_fd = -1,
			   .queue_fd = -1};
	bool check = false;
	char err[1024];
	int rc;

	log_journal = getenv("JOURNAL_STREAM") != NULL;
	/*
	 * Memory for a daemon that is idle most of the time: one malloc arena for all threads
	 * (glibc gives each thread its own, and keeps their pages after the thread ends), and
	 * bundles' image buffers always mmap'ed, so that freeing one gives it back at once.
	 */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	if (parse_args(&d, argc, argv, &check) < 0) {
		config_done(&d.overrides);
		return EXIT_USAGE;
	}
	if (load_config(&d, &d.cfg, err, sizeof(err)) < 0) {
		daemon_log(&d, 3, "Failed to read the configuration: %s", err);
		config_done(&d.overrides);
		return EXIT_CONFIG;
	}
	if (check) {
		print_config(&d.cfg);
		config_done(&d.cfg);
		config_done(&d.overrides);
		return 0;
	}
	if (worker_test_hook(getenv("DFUMGRD_TEST_CRASH")) < 0) {
		daemon_log(&d, 3, "DFUMGRD_TEST_CRASH: \"%s\" is not PHASE[:N]",
			   getenv("DFUMGRD_TEST_CRASH"));
		config_done(&d.cfg);
		config_done(&d.overrides);
		return EXIT_USAGE;
	}
	rc = start(&d);
	if (rc == 0) {
		rc = sd_event_loop(d.loop);
		rc = rc < 0 ? EXIT_SOFTWARE : rc;
		daemon_log(&d, 6, "Stopped");
	} else {
		sd_notifyf(0, "STATUS=Failed to start (exit status %d)\nERRNO=%d", rc, EIO);
	}
	teardown(&d, rc == 0);
	return rc;
}
