/* SPDX-License-Identifier: MIT */
/* Shared by the board commands: options, progress, the update report, the update runner. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board_cli.h"
#include "dfumgr/cancel.h"
#include "dfumgr/keyring.h"

/* ---- progress ---- */

static uint64_t mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

void progress_init(struct progress *p, bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->quiet = quiet;
	p->last_pct = -1;
}

void on_progress(void *user, const struct dfumgr_progress *ev)
{
	struct progress *p = user;
	int pct = ev->total ? (int)(ev->done * 100 / ev->total) : 100;
	char label[32];

	if (p->quiet)
		return;
	if (ev->image >= 0 &&
	    (ev->phase == DFUMGR_PHASE_DOWNLOAD || ev->phase == DFUMGR_PHASE_VERIFY ||
	     ev->phase == DFUMGR_PHASE_UPLOAD))
		snprintf(label, sizeof(label), "%s image-%d", dfumgr_phase_name(ev->phase),
			 ev->image);
	else
		snprintf(label, sizeof(label), "%s", dfumgr_phase_name(ev->phase));
	if (!p->started || p->phase != ev->phase || p->image != ev->image) {
		if (p->tty && p->started)
			fputc('\n', stderr);
		p->started = true;
		p->phase = ev->phase;
		p->image = ev->image;
		p->start_us = mono_us();
		p->last_pct = -1;
	}
	if (p->tty) {
		char bar[31];
		int fill = pct * 30 / 100;
		double s = (double)(mono_us() - p->start_us) / 1e6;

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r  %-20s [%s] %3d%% %8" PRIu64 "/%" PRIu64 " B %7.1f KiB/s",
			label, bar, pct, ev->done, ev->total,
			s > 0 ? (double)ev->done / 1024.0 / s : 0.0);
		fflush(stderr);
	} else if (p->last_pct < 0 || pct / 25 != p->last_pct / 25 ||
		   (pct == 100 && p->last_pct != 100)) {
		/* not a terminal: plain lines, no carriage-return redraws */
		fprintf(stderr, "  %s: %d%% (%" PRIu64 "/%" PRIu64 ")\n", label, pct, ev->done,
			ev->total);
	}
	p->last_pct = pct;
}

void progress_end(struct progress *p)
{
	if (p->tty && p->started && !p->quiet)
		fputc('\n', stderr);
}

/* ---- options ---- */

const char target_help[] =
    "  -d, --device VID:PID     which boards (default: the manifest's)\n"
    "  -S, --serial SERIAL      the board with this serial number\n"
    "  -p, --path BUS-PORT      the board on this USB port (see dfu-mgr list)\n";
const char key_help[] =
    "  -k, --key FILE           trust this public key for the bundle (repeatable)\n"
    "  -K, --keys DIR           trust the keys in DIR (default " DEFAULT_KEYDIR ")\n"
    "      --allow-unsigned     accept a bundle without signatures when no key is trusted\n";

bool target_opt(struct cli *cli, const char *cmd, struct target *t, int c, int *ret)
{
	*ret = EXIT_OK;
	switch (c) {
	case 'd':
		if (dfumgr_match_parse_id(&t->match, optarg) < 0)
			*ret = cli_usage_error(
			    cli, cmd, "bad -d '%s' (VID:PID in hex, e.g. 1915:5300)", optarg);
		return true;
	case 'S':
		t->match.serial = optarg;
		return true;
	case 'p':
		t->match.path = optarg;
		return true;
	case 'k':
		if (t->n_files == 16)
			*ret = cli_usage_error(cli, cmd, "too many --key");
		else
			t->key_files[t->n_files++] = optarg;
		return true;
	case 'K':
		if (t->n_dirs == 16)
			*ret = cli_usage_error(cli, cmd, "too many --keys");
		else
			t->key_dirs[t->n_dirs++] = optarg;
		return true;
	case OPT_ALLOW_UNSIGNED:
		t->allow_unsigned = true;
		return true;
	default:
		return false;
	}
}

int board_cmd_args(struct cli *cli, const char *cmd, const char *about, int argc, char **argv,
		   struct target *t, struct dfumgr_board_opts *o)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	uint32_t v;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:h", longopts, NULL)) != -1) {
		if (target_opt(cli, cmd, t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		if (c == OPT_TIMEOUT) {
			if (!cli_parse_u32(optarg, 3600, &v) || !v)
				return cli_usage_error(cli, cmd, "bad --timeout '%s' (seconds)",
						       optarg);
			o->timeout_ms = v * 1000;
			continue;
		}
		if (c == 'h') {
			printf("Usage: dfu-mgr %s [OPTIONS]\n%s\n\n%s"
			       "      --timeout S          wait for re-enumeration (default 30)\n",
			       cmd, about, target_help);
			return EXIT_OK;
		}
		return cli_usage_error(cli, cmd, "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cli, cmd, "no arguments expected");
	return -1;
}

int cli_open_bundle(struct cli *cli, const char *cmd, struct target *t, const char *dir,
		    struct dfumgr_bundle **ret)
{
	struct dfumgr_bundle_report report = {0};
	struct dfumgr_keyring *ring = NULL;
	int rc;

	rc = cli_trusted_keys(cli, cmd, t->key_files, t->n_files, t->key_dirs, t->n_dirs,
			      t->allow_unsigned, &ring);
	if (rc != EXIT_OK)
		return rc;
	rc = dfumgr_bundle_open(cli->ctx, dir, dfumgr_keyring_count(ring) ? ring : NULL,
				t->allow_unsigned ? DFUMGR_BUNDLE_ALLOW_UNSIGNED : 0, &report, ret);
	dfumgr_keyring_free(ring);
	if (rc < 0) {
		if (!cli->json)
			cli_print_report(cli, &report, NULL);
		return cli_fail(cli, rc, "bundle %s", dir);
	}
	return EXIT_OK;
}

/* ---- the report ---- */

static void print_report(struct cli *cli, const struct dfumgr_update_report *r, int rc,
			 const char *what)
{
	char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX], v[32];
	struct jw w;

	if (!cli->json) {
		if (r->serial[0] || r->path[0])
			printf("%s board %s at %s: %s\n", what,
			       r->serial[0] ? r->serial : "(no serial)", r->path,
			       rc == 0        ? "OK"
			       : r->cancelled ? "CANCELLED"
					      : "FAILED");
		if (r->have_before)
			printf("  before         image 0 %s, image 1 %s\n",
			       dfumgr_version_format(&r->before[0], a),
			       dfumgr_version_format(&r->before[1], b));
		if (r->have_after)
			printf("  %-14s image 0 %s, image 1 %s\n",
			       rc == 0 ? "now running" : "running",
			       dfumgr_version_format(&r->after[0], a),
			       dfumgr_version_format(&r->after[1], b));
		if (r->bytes)
			printf("  downloaded     %" PRIu64 " bytes (image 0 x%u, image 1 x%u)\n",
			       r->bytes, r->downloads[0], r->downloads[1]);
		if (r->bytes_skipped)
			printf("  not sent       %" PRIu64
			       " bytes already in the slots (image 0 %u, image 1 %u sectors)\n",
			       r->bytes_skipped, r->sectors_skipped[0], r->sectors_skipped[1]);
		if (r->serial[0] || r->path[0])
			printf("  verification   %s%s\n", dfumgr_verify_method_name(r->verify),
			       r->shim ? "" : " (not a dfu-mgr shim: plain DFU 1.1)");
		printf("  time           %.2f s\n", (double)r->total_us / 1e6);
		if (r->new_pair_us)
			printf("  new pair runs  after %.2f s (MCUboot's swap included)\n",
			       (double)r->new_pair_us / 1e6);
		if (rc < 0)
			printf("  stopped in     %s%s\n", dfumgr_phase_name(r->phase),
			       r->cancelled ? " (cancelled)" : "");
		printf("  outcome        %s\n", dfumgr_outcome_name(r->outcome));
		if (r->board_state[0])
			printf("  board          %s\n", r->board_state);
		return;
	}
	jw_begin(&w, stdout);
	jw_obj(&w, NULL);
	jw_bool(&w, "ok", rc == 0);
	jw_str(&w, "serial", r->serial);
	jw_str(&w, "path", r->path);
	jw_bool(&w, "shim", r->shim);
	jw_str(&w, "verification", dfumgr_verify_method_name(r->verify));
	jw_str(&w, "phase", dfumgr_phase_name(r->phase));
	jw_bool(&w, "committed", r->committed);
	jw_bool(&w, "cancelled", r->cancelled);
	jw_str(&w, "outcome", dfumgr_outcome_name(r->outcome));
	jw_int(&w, "outcome_code", r->outcome);
	if (r->have_before) {
		jw_arr(&w, "before");
		jw_str(&w, NULL, dfumgr_version_format(&r->before[0], a));
		jw_str(&w, NULL, dfumgr_version_format(&r->before[1], a));
		jw_end_arr(&w);
	}
	if (r->have_after) {
		jw_arr(&w, "running");
		jw_str(&w, NULL, dfumgr_version_format(&r->after[0], a));
		jw_str(&w, NULL, dfumgr_version_format(&r->after[1], a));
		jw_end_arr(&w);
	}
	jw_uint(&w, "bytes", r->bytes);
	jw_uint(&w, "bytes_skipped", r->bytes_skipped);
	jw_arr(&w, "sectors_skipped");
	jw_uint(&w, NULL, r->sectors_skipped[0]);
	jw_uint(&w, NULL, r->sectors_skipped[1]);
	jw_end_arr(&w);
	jw_arr(&w, "downloads");
	jw_uint(&w, NULL, r->downloads[0]);
	jw_uint(&w, NULL, r->downloads[1]);
	jw_end_arr(&w);
	jw_obj(&w, "phase_seconds");
	for (int p = 0; p < DFUMGR_PHASE_COUNT; p++)
		if (r->phase_us[p]) {
			snprintf(v, sizeof(v), "%.3f", (double)r->phase_us[p] / 1e6);
			jw_str(&w, dfumgr_phase_name((enum dfumgr_phase)p), v);
		}
	jw_end_obj(&w);
	snprintf(v, sizeof(v), "%.3f", (double)r->total_us / 1e6);
	jw_str(&w, "seconds", v);
	if (r->new_pair_us) {
		snprintf(v, sizeof(v), "%.3f", (double)r->new_pair_us / 1e6);
		jw_str(&w, "new_pair_seconds", v);
	}
	jw_str(&w, "board_state", r->board_state);
	if (rc < 0) {
		jw_obj(&w, "error");
		jw_int(&w, "code", -rc);
		jw_str(&w, "name", dfumgr_strerror(rc));
		jw_str(&w, "message", dfumgr_ctx_errmsg(cli->ctx));
		jw_end_obj(&w);
	}
	jw_end_obj(&w);
	jw_finish(&w);
}

/* ---- update / verify / commit ---- */

int run_update(struct cli *cli, int argc, char **argv, enum update_kind kind, const char *help)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    KEY_LONGOPTS,
	    {"allow-downgrade", no_argument, NULL, OPT_ALLOW_DOWNGRADE},
	    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
	    {"permanent", no_argument, NULL, OPT_PERMANENT},
	    {"retries", required_argument, NULL, OPT_RETRIES},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"transfer-size", required_argument, NULL, OPT_TRANSFER},
	    {"no-skip", no_argument, NULL, OPT_NO_SKIP},
	    {"quiet", no_argument, NULL, 'q'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = kind == KIND_VERIFY   ? "verify"
			  : kind == KIND_COMMIT ? "commit"
						: "update";
	struct target t = {0};
	struct dfumgr_update_opts o = DFUMGR_UPDATE_OPTS_INIT;
	struct dfumgr_update_report r = DFUMGR_UPDATE_REPORT_INIT;
	struct progress p;
	struct dfumgr_bundle *b = NULL;
	struct dfumgr_backend *be = NULL;
	bool quiet = false;
	uint32_t v;
	int c, rc, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:k:K:qjh", longopts, NULL)) != -1) {
		if (target_opt(cli, cmd, &t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		switch (c) {
		case OPT_ALLOW_DOWNGRADE:
			o.allow_downgrade = true;
			break;
		case OPT_NO_VERIFY:
			o.no_verify = true;
			break;
		case OPT_PERMANENT:
			o.permanent = true;
			break;
		case OPT_NO_SKIP:
			if (kind != KIND_UPDATE)
				return cli_usage_error(cli, cmd, "--no-skip is an update option");
			o.no_skip = true;
			break;
		case OPT_RETRIES:
			if (!cli_parse_u32(optarg, 10, &v))
				return cli_usage_error(cli, cmd, "bad --retries '%s' (0..10)",
						       optarg);
			o.retries = v;
			break;
		case OPT_TIMEOUT:
			if (!cli_parse_u32(optarg, 3600, &v) || !v)
				return cli_usage_error(cli, cmd, "bad --timeout '%s' (seconds)",
						       optarg);
			o.reenumerate_timeout_ms = v * 1000;
			break;
		case OPT_TRANSFER:
			if (!cli_parse_u32(optarg, 4096, &v) || !v)
				return cli_usage_error(
				    cli, cmd, "bad --transfer-size '%s' (1..4096)", optarg);
			o.transfer_size = (uint16_t)v;
			break;
		case 'q':
			quiet = true;
			break;
		case 'j':
			cli->json = true;
			quiet = true;
			break;
		case 'h':
			printf("%s", help);
			printf("%s%s", target_help, key_help);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cli, cmd, "give exactly one BUNDLE directory");
	progress_init(&p, quiet);
	o.match = t.match;
	o.commit_only = kind == KIND_COMMIT;
	o.progress = on_progress;
	o.user = &p;
	o.cancel = cli->cancel;
	ret = cli_open_bundle(cli, cmd, &t, argv[optind], &b);
	if (ret != EXIT_OK)
		return ret;
	ret = cli_backend_new(cli, &be);
	if (ret != EXIT_OK)
		goto out;
	rc = kind == KIND_VERIFY ? dfumgr_verify_device(cli->ctx, be, b, &o, &r)
				 : dfumgr_update(cli->ctx, be, b, &o, &r);
	progress_end(&p);
	print_report(cli, &r, rc,
		     kind == KIND_VERIFY   ? "Verify"
		     : kind == KIND_COMMIT ? "Commit"
					   : "Update");
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", cli->prog, cmd, dfumgr_ctx_errmsg(cli->ctx));
		ret = cli_exit_code(rc);
	} else {
		ret = EXIT_OK;
	}
out:
	dfumgr_backend_free(be);
	dfumgr_bundle_free(b);
	return ret;
}
