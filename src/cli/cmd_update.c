/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr update / verify / download / upload / detach / reboot: the commands that talk to
 * boards. All the work is libdfumgr's; this file parses options and presents progress/results.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dfumgr/bundle.h"
#include "dfumgr/dfu.h"
#include "dfumgr/keyring.h"
#include "dfumgr/shim.h"
#include "dfumgr/shim_info.h"
#include "dfumgr/wire.h"
#include "dfumgr/update.h"

#define FILE_MAX (16u * 1024 * 1024)

static volatile int g_cancel;

static void on_sigint(int sig)
{
	(void)sig;
	g_cancel = 1; /* stop at the next block; the engine leaves the board safe */
}

/* ---- progress ---- */

struct progress {
	bool tty;
	bool quiet;
	char phase[48];
	int last_pct;
	struct timespec start;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void on_progress(void *user, const char *phase, uint64_t done, uint64_t total)
{
	struct progress *p = user;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (p->quiet)
		return;
	if (strcmp(p->phase, phase)) {
		if (p->tty && p->phase[0])
			fputc('\n', stderr);
		snprintf(p->phase, sizeof(p->phase), "%s", phase);
		clock_gettime(CLOCK_MONOTONIC, &p->start);
		p->last_pct = -1;
	}
	if (p->tty) {
		char bar[31];
		int fill = pct * 30 / 100;
		double s = seconds_since(&p->start);

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r  %-20s [%s] %3d%% %8" PRIu64 "/%" PRIu64 " B %7.1f KiB/s",
			phase, bar, pct, done, total, s > 0 ? done / 1024.0 / s : 0.0);
		fflush(stderr);
	} else if (pct / 25 != p->last_pct / 25 || (pct == 100 && p->last_pct != 100)) {
		fprintf(stderr, "  %s: %d%% (%" PRIu64 "/%" PRIu64 " bytes)\n", phase, pct, done,
			total);
	}
	p->last_pct = pct;
}

static void progress_end(struct progress *p)
{
	if (p->tty && p->phase[0] && !p->quiet)
		fputc('\n', stderr);
}

/* ---- shared options ---- */

struct target {
	struct dfumgr_match match;
	char *key_files[16], *key_dirs[16];
	size_t n_files, n_dirs;
	bool allow_unsigned;
};

enum {
	OPT_ALLOW_UNSIGNED = 300,
	OPT_ALLOW_DOWNGRADE,
	OPT_NO_VERIFY,
	OPT_PERMANENT,
	OPT_RETRIES,
	OPT_TIMEOUT,
	OPT_TRANSFER,
};

/* Handles -d -S -p -k -K --allow-unsigned; true if c was one of them. */
static bool target_opt(struct cli *cli, const char *cmd, struct target *t, int c, int *ret)
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
		if (t->n_files < 16)
			t->key_files[t->n_files++] = optarg;
		return true;
	case 'K':
		if (t->n_dirs < 16)
			t->key_dirs[t->n_dirs++] = optarg;
		return true;
	case OPT_ALLOW_UNSIGNED:
		t->allow_unsigned = true;
		return true;
	default:
		return false;
	}
}

static int open_bundle(struct cli *cli, const char *cmd, struct target *t, const char *dir,
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

static int open_backend(struct cli *cli, struct dfumgr_backend **ret)
{
	int rc = dfumgr_backend_usb_new(cli->ctx, ret);

	return rc < 0 ? cli_fail(cli, rc, "USB") : EXIT_OK;
}

static void print_report(struct cli *cli, const struct dfumgr_update_report *r, int rc,
			 const char *what)
{
	char a[DFUMGR_VERSION_STRING_MAX], b[DFUMGR_VERSION_STRING_MAX];
	struct jw w;

	if (!cli->json) {
		if (r->serial[0])
			printf("%s board %s at %s: %s\n", what, r->serial, r->path,
			       rc == 0 ? "OK" : "FAILED");
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
		if (r->serial[0])
			printf("  verification   %s%s\n", dfumgr_verify_method_name(r->verify),
			       r->shim ? "" : " (not a dfu-mgr shim: plain DFU 1.1)");
		printf("  time           %.2f s\n", r->total_us / 1e6);
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
	jw_str(&w, "phase", dfumgr_update_phase_name(r->phase));
	jw_bool(&w, "committed", r->committed);
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
	jw_arr(&w, "downloads");
	jw_uint(&w, NULL, r->downloads[0]);
	jw_uint(&w, NULL, r->downloads[1]);
	jw_end_arr(&w);
	jw_obj(&w, "phase_seconds");
	for (int p = 0; p < DFUMGR_PHASE_DONE; p++)
		if (r->phase_us[p]) {
			char v[32];

			snprintf(v, sizeof(v), "%.3f", r->phase_us[p] / 1e6);
			jw_str(&w, dfumgr_update_phase_name((enum dfumgr_update_phase)p), v);
		}
	jw_end_obj(&w);
	{
		char v[32];

		snprintf(v, sizeof(v), "%.3f", r->total_us / 1e6);
		jw_str(&w, "seconds", v);
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

static const char target_help[] =
    "  -d, --device VID:PID     which boards (default: the manifest's)\n"
    "  -S, --serial SERIAL      the board with this serial number\n"
    "  -p, --path BUS-PORT      the board on this USB port (see dfu-mgr list)\n";
static const char key_help[] =
    "  -k, --key FILE           trust this public key for the bundle (repeatable)\n"
    "  -K, --keys DIR           trust the keys in DIR (default " DEFAULT_KEYDIR ")\n"
    "      --allow-unsigned     accept a bundle without a manifest signature\n";

#define TARGET_LONGOPTS                                                                            \
	{"device", required_argument, NULL, 'd'}, {"serial", required_argument, NULL, 'S'},        \
	{                                                                                          \
		"path", required_argument, NULL, 'p'                                               \
	}
#define KEY_LONGOPTS                                                                               \
	{"key", required_argument, NULL, 'k'}, {"keys", required_argument, NULL, 'K'},             \
	{                                                                                          \
		"allow-unsigned", no_argument, NULL, OPT_ALLOW_UNSIGNED                            \
	}

enum update_kind { KIND_UPDATE, KIND_VERIFY, KIND_COMMIT };

static int update_or_verify(struct cli *cli, int argc, char **argv, enum update_kind kind)
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
	    {"quiet", no_argument, NULL, 'q'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = kind == KIND_VERIFY   ? "verify"
			  : kind == KIND_COMMIT ? "commit"
						: "update";
	bool verify_only = kind == KIND_VERIFY;
	struct target t = {0};
	struct dfumgr_update_opts o = {0};
	struct dfumgr_update_report r = {0};
	struct progress p = {.tty = isatty(STDERR_FILENO)};
	struct dfumgr_bundle *b = NULL;
	struct dfumgr_backend *be = NULL;
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
			p.quiet = true;
			break;
		case 'j':
			cli->json = true;
			p.quiet = true;
			break;
		case 'h':
			if (kind == KIND_COMMIT)
				printf(
				    "Usage: dfu-mgr commit [OPTIONS] BUNDLE\n"
				    "For slots written by another tool (e.g. stock dfu-util -a "
				    "image-1 -D ...):\ncheck the board's read-back digests of both "
				    "slots against BUNDLE, then\ncommit both for MCUboot, reboot "
				    "and check what the board runs.\n\n%s%s"
				    "      --permanent          permanent swap\n"
				    "  -j, --json               machine-readable report\n",
				    target_help, key_help);
			else if (verify_only)
				printf(
				    "Usage: dfu-mgr verify [OPTIONS] BUNDLE\n"
				    "Check, writing nothing, that a board runs BUNDLE: the board "
				    "hashes both of its\nrunning (primary) slots from flash and "
				    "the digests are compared with the\nmanifest.\n\n%s%s"
				    "  -j, --json               machine-readable result\n\n"
				    "Exit status: 0 the board runs the bundle, 1 it does not, 65 "
				    "bad "
				    "bundle,\n69 no board, 75 the board went away.\n",
				    target_help, key_help);
			else
				printf(
				    "Usage: dfu-mgr update [OPTIONS] BUNDLE\n"
				    "Update one board with the image pair in BUNDLE: image 1 "
				    "(QSPI) "
				    "then image 0\n(internal), each verified by the board's "
				    "SHA-256 "
				    "read back from flash, then\nboth committed for MCUboot, or "
				    "neither; reboot; check what it runs.\n\n%s%s"
				    "      --allow-downgrade    install older versions than the "
				    "board "
				    "runs\n"
				    "      --no-verify          for plain DFU devices that cannot "
				    "upload\n"
				    "      --permanent          permanent swap (no test swap + "
				    "confirm)\n"
				    "      --retries N          re-downloads of a wrong image "
				    "(default 2)\n"
				    "      --timeout S          wait for re-enumeration (default "
				    "30)\n"
				    "      --transfer-size N    DFU block size (default: the "
				    "board's)\n"
				    "  -q, --quiet              no progress\n"
				    "  -j, --json               machine-readable report on "
				    "stdout\n\n"
				    "Exit status: 0 updated, 1 verification failed, 64 usage, 65 "
				    "bad bundle or\ndowngrade or no room, 69 no board, 75 the "
				    "board "
				    "went away (retry).\n",
				    target_help, key_help);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cli, cmd, "give exactly one BUNDLE directory");
	o.match = t.match;
	o.commit_only = kind == KIND_COMMIT;
	o.progress = on_progress;
	o.user = &p;
	o.cancel = &g_cancel;
	ret = open_bundle(cli, cmd, &t, argv[optind], &b);
	if (ret != EXIT_OK)
		return ret;
	ret = open_backend(cli, &be);
	if (ret != EXIT_OK)
		goto out;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	rc = verify_only ? dfumgr_verify_device(cli->ctx, be, b, &o, &r)
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

int cmd_update(struct cli *cli, int argc, char **argv)
{
	return update_or_verify(cli, argc, argv, KIND_UPDATE);
}

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	return update_or_verify(cli, argc, argv, KIND_VERIFY);
}

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	return update_or_verify(cli, argc, argv, KIND_COMMIT);
}

/* Opens the one matching board in DFU mode, detaching it first if it runs its application. */
static int open_dfu_mode(struct cli *cli, struct dfumgr_backend *be, const struct dfumgr_match *m,
			 struct dfumgr_dev **ret)
{
	struct dfumgr_device_info info;
	struct dfumgr_dev *dev = NULL;
	char serial[DFUMGR_STRING_MAX];
	int rc;

	rc = dfumgr_dev_open(cli->ctx, be, m, &dev);
	if (rc < 0)
		return rc;
	if (dfumgr_dev_info(dev)->dfu_mode) {
		*ret = dev;
		return 0;
	}
	snprintf(serial, sizeof(serial), "%s", dfumgr_dev_info(dev)->serial);
	if (!cli->json)
		fprintf(stderr, "%s: switching %s to DFU mode\n", cli->prog, serial);
	rc = dfumgr_dfu_detach(dev);
	dfumgr_dev_close(dev);
	if (rc == 0)
		rc = dfumgr_device_wait(cli->ctx, be, serial, NULL, true, 30000, &info);
	if (rc == 0)
		rc = dfumgr_dev_open_info(cli->ctx, be, &info, ret);
	return rc;
}

static bool marks_itself(struct dfumgr_ctx *ctx, struct dfumgr_dev *dev, const uint8_t *buf,
			 size_t size);

static int transfer(struct cli *cli, int argc, char **argv, bool down)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    {"alt", required_argument, NULL, 'a'},
	    {"transfer-size", required_argument, NULL, 't'},
	    {"max", required_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = down ? "download" : "upload";
	struct target t = {0};
	struct progress p = {.tty = isatty(STDERR_FILENO)};
	struct dfumgr_transfer_opts to = {.progress = on_progress, .user = &p, .cancel = &g_cancel};
	struct dfumgr_backend *be = NULL;
	struct dfumgr_dev *dev = NULL;
	const char *alt_arg = NULL;
	uint8_t *buf = NULL;
	size_t size = 0;
	uint32_t v, max = FILE_MAX;
	int c, rc, alt, ret = EXIT_SOFTWARE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:a:t:n:qh", longopts, NULL)) != -1) {
		if (target_opt(cli, cmd, &t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		switch (c) {
		case 'a':
			alt_arg = optarg;
			break;
		case 't':
			if (!cli_parse_u32(optarg, 4096, &v) || !v)
				return cli_usage_error(cli, cmd, "bad --transfer-size '%s'",
						       optarg);
			to.transfer_size = (uint16_t)v;
			break;
		case 'n':
			if (!cli_parse_u32(optarg, FILE_MAX, &max) || !max)
				return cli_usage_error(cli, cmd, "bad --max '%s'", optarg);
			break;
		case 'q':
			p.quiet = true;
			break;
		case 'h':
			printf(
			    "Usage: dfu-mgr %s -a ALT [OPTIONS] FILE\n"
			    "%s one alt-setting of a DFU device, as dfu-util -%c does (ALT by "
			    "number or\nname, e.g. image-1). A board in runtime mode is switched "
			    "to DFU mode first.\nNo pairing, no commit: for a paired update use "
			    "`dfu-mgr update`.\n\n%s"
			    "  -a, --alt ALT            alt-setting number or name (required)\n"
			    "  -t, --transfer-size N    block size (default: the device's)\n"
			    "%s"
			    "  -q, --quiet              no progress\n",
			    cmd, down ? "Write FILE to" : "Read into FILE", down ? 'D' : 'U',
			    target_help,
			    down ? "" : "  -n, --max N              read at most N bytes\n");
			return EXIT_OK;
		default:
			return cli_usage_error(cli, cmd, "unknown option");
		}
	}
	if (!alt_arg)
		return cli_usage_error(cli, cmd, "-a ALT is required");
	if (optind != argc - 1)
		return cli_usage_error(cli, cmd, "give exactly one FILE");
	if (down) {
		rc = dfumgr_file_read(cli->ctx, argv[optind], FILE_MAX, &buf, &size);
		if (rc < 0)
			return cli_fail(cli, rc, "%s", argv[optind]);
	} else if (access(argv[optind], F_OK) == 0) {
		return cli_fail(cli, dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_EXISTS, "exists"),
				"%s", argv[optind]);
	}
	ret = open_backend(cli, &be);
	if (ret != EXIT_OK)
		goto out;
	rc = open_dfu_mode(cli, be, &t.match, &dev);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "%s", cmd);
		goto out;
	}
	alt = dfumgr_dev_find_alt(dev, alt_arg);
	if (alt < 0) {
		ret = cli_fail(cli, alt, "%s", cmd);
		goto out;
	}
	if (down && marks_itself(cli->ctx, dev, buf, size)) {
		/* a dfu-mgr board refuses it (errADDRESS): say why before touching the slot */
		ret = cli_fail(cli, -DFUMGR_E_REFUSED, "download %s to %s", argv[optind],
			       dfumgr_dev_info(dev)->serial);
		goto out;
	}
	signal(SIGINT, on_sigint);
	if (down) {
		rc = dfumgr_dfu_download(dev, (uint8_t)alt, buf, size, &to);
	} else {
		rc = dfumgr_dfu_upload(dev, (uint8_t)alt, max, &buf, &size, &to);
		if (rc == 0)
			rc = dfumgr_file_write(cli->ctx, argv[optind], buf, size, false);
	}
	progress_end(&p);
	if (rc < 0) {
		struct dfumgr_shim_info info;
		int saved = rc;

		/* a dfu-mgr board says why it refused a block (e.g. data in the trailer region) */
		if (down && rc == -DFUMGR_E_DFU_STATUS) {
			char why[1024];

			snprintf(why, sizeof(why), "%s", dfumgr_ctx_errmsg(cli->ctx));
			if (dfumgr_shim_get_info(dev, &info) == 0 &&
			    info.last_error != DFUMGR_DEV_OK)
				dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_DFU_STATUS,
						     "%s; the board says: %s", why,
						     dfumgr_dev_error_text(info.last_error));
			else
				dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_DFU_STATUS, "%s", why);
		}
		ret =
		    cli_fail(cli, saved, "%s alt %d of %s", cmd, alt, dfumgr_dev_info(dev)->serial);
		goto out;
	}
	printf("%s %zu bytes %s alt %d (%s) of %s\n", down ? "Downloaded" : "Uploaded", size,
	       down ? "to" : "from", alt, alt_arg, dfumgr_dev_info(dev)->serial);
	ret = EXIT_OK;
out:
	dfumgr_dev_close(dev);
	dfumgr_backend_free(be);
	free(buf);
	return ret;
}

/*
 * An MCUboot image with a trailer after it (`imgtool sign --pad [--confirm]`) for a dfu-mgr
 * board, which never lets a download mark an image: the reason goes into the context. Plain
 * DFU devices (a single-image MCUboot with Zephyr's DFU class) take such files, as dfu-util
 * sends them.
 */
static bool marks_itself(struct dfumgr_ctx *ctx, struct dfumgr_dev *dev, const uint8_t *buf,
			 size_t size)
{
	struct dfumgr_shim_info info;
	struct dfumgr_image img;

	if (dfumgr_image_parse(NULL, buf, size, &img) != 0 || !img.trailer.present ||
	    !img.trailer.magic_ok)
		return false;
	if (dfumgr_shim_get_info(dev, &info) != 0) {
		dfumgr_ctx_clear_error(ctx);
		return false;
	}
	dfumgr_ctx_set_error(
	    ctx, DFUMGR_E_REFUSED,
	    "the file carries an MCUboot trailer after its image (boot magic at "
	    "offset 0x%zx, image_ok 0x%02x: `imgtool sign --pad%s`), and a dfu-mgr "
	    "board never lets a download mark an image for MCUboot. Send the image "
	    "without --pad/--confirm, then `dfu-mgr commit` the pair (or use "
	    "`dfu-mgr update` with a bundle)",
	    size - DFUMGR_BOOT_MAGIC_LEN, img.trailer.image_ok,
	    img.trailer.image_ok == 1 ? " --confirm" : "");
	return true;
}

int cmd_download(struct cli *cli, int argc, char **argv)
{
	return transfer(cli, argc, argv, true);
}

int cmd_upload(struct cli *cli, int argc, char **argv)
{
	return transfer(cli, argc, argv, false);
}

static int simple(struct cli *cli, int argc, char **argv, bool reboot)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = reboot ? "reboot" : "detach";
	struct target t = {0};
	struct dfumgr_backend *be = NULL;
	struct dfumgr_dev *dev = NULL;
	struct dfumgr_device_info info;
	char serial[DFUMGR_STRING_MAX];
	int c, rc, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:h", longopts, NULL)) != -1) {
		if (target_opt(cli, cmd, &t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		if (c == 'h') {
			printf("Usage: dfu-mgr %s [OPTIONS]\n%s\n%s", cmd,
			       reboot
				   ? "Reset a board (the shim's REBOOT; a USB reset for other "
				     "DFU devices).\nMCUboot then runs; the board comes back in "
				     "runtime mode."
				   : "Switch a board from its application (runtime mode) to DFU "
				     "mode (DFU_DETACH)\nand wait until it is back with the same "
				     "serial number.",
			       target_help);
			return EXIT_OK;
		}
		return cli_usage_error(cli, cmd, "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cli, cmd, "no arguments expected");
	ret = open_backend(cli, &be);
	if (ret != EXIT_OK)
		return ret;
	rc = dfumgr_dev_open(cli->ctx, be, &t.match, &dev);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "%s", cmd);
		goto out;
	}
	snprintf(serial, sizeof(serial), "%s", dfumgr_dev_info(dev)->serial);
	if (reboot) {
		rc = dfumgr_shim_reboot(dev);
		if (rc == -DFUMGR_E_UNSUPPORTED) {
			struct dfumgr_dev *d2 = dev;

			dfumgr_ctx_clear_error(cli->ctx);
			rc = dfumgr_dfu_detach(d2); /* plain device: DFU's own reset path */
		}
	} else {
		rc = dfumgr_dfu_detach(dev);
	}
	dev = dfumgr_dev_close(dev);
	if (rc == 0)
		rc = dfumgr_device_wait(cli->ctx, be, serial, NULL, !reboot, 30000, &info);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "%s %s", cmd, serial);
		goto out;
	}
	printf("%s is back in %s mode at %s\n", serial, info.dfu_mode ? "DFU" : "runtime",
	       info.path);
	ret = EXIT_OK;
out:
	dfumgr_dev_close(dev);
	dfumgr_backend_free(be);
	return ret;
}

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	return simple(cli, argc, argv, false);
}

int cmd_reboot(struct cli *cli, int argc, char **argv)
{
	return simple(cli, argc, argv, true);
}
