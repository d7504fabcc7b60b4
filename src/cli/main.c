/* SPDX-License-Identifier: MIT */
/* dfu-mgr: dispatch to the subcommands. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfumgr/cancel.h"

/* The one thing a signal handler may touch: the token every wait in the library watches. */
static struct dfumgr_cancel *g_cancel;

static void on_signal(int sig)
{
	(void)sig;
	dfumgr_cancel_trigger(g_cancel); /* async-signal-safe */
}

static const struct cli_command commands[] = {
    {"inspect", cmd_inspect, "show and check MCUboot images, ELF files, manifests, bundles"},
    {"pack", cmd_pack, "split an ELF into the internal + QSPI image pair and write a bundle"},
    {"sign", cmd_sign, "sign (or re-sign) a bundle's manifest with a private key"},
    {"verify-bundle", cmd_verify_bundle, "check a bundle's signature, hashes and images"},
    {"keygen", cmd_keygen, "make a new ECDSA P-256 signing key"},
    {"list", cmd_list, "list DFU devices, with what the dfu-mgr shim runs"},
    {"update", cmd_update, "update a board with a bundle's image pair (both or neither)"},
    {"provision", cmd_provision, "bring every board of a fixture to a release, in parallel"},
    {"verify", cmd_verify, "check that a board runs a bundle (device digests, writes nothing)"},
    {"commit", cmd_commit, "verify and commit slots written by another tool (e.g. dfu-util)"},
    {"download", cmd_download, "write a file to one alt-setting (as dfu-util -D)"},
    {"upload", cmd_upload, "read one alt-setting into a file (as dfu-util -U)"},
    {"detach", cmd_detach, "switch a board from its application to DFU mode"},
    {"reboot", cmd_reboot, "reset a board (MCUboot runs, then the application)"},
    {"fetch", cmd_fetch, "fetch a release from a signed feed (or a bundle) over HTTPS"},
    {"publish", cmd_publish, "add a signed bundle to a signed release feed"},
    {"status", cmd_status, "what the update daemon dfu-mgrd is doing"},
    {"daemon", cmd_daemon, "requests to dfu-mgrd: boards, update, pause, subscribe, ..."},
    {"history", cmd_history, "what dfu-mgrd did (reads its history, also while it is down)"},
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [--verbose] COMMAND [OPTIONS] [ARGS]\n"
		"Paired MCUboot updates for nRF5340 apps split between internal flash and QSPI "
		"XIP.\n\nCommands:\n",
		prog);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nOptions:\n"
		   "  -h, --help     show this help (COMMAND --help for a command's)\n"
		   "  --version      print the version of dfu-mgr\n"
		   "  -v, --verbose  more detail on stderr\n"
		   "\nExit codes: 0 ok, 1 verification failed, 64 usage, 65 invalid input, "
		   "66 missing input,\n69 no device (or no daemon), 73 cannot create output, 74 "
		   "I/O error. "
		   "See dfu-mgr(1).\n");
}

static void log_to_stderr(void *userdata, enum dfumgr_log_level level, const char *msg)
{
	struct cli *cli = userdata;

	if (level <= DFUMGR_LOG_WARNING || cli->verbose > 0)
		fprintf(stderr, "%s: %s%s\n", cli->prog,
			level <= DFUMGR_LOG_WARNING ? "warning: " : "", msg);
}

int main(int argc, char **argv)
{
	struct cli cli = {.prog = "dfu-mgr"};
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout, cli.prog);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("dfu-mgr %s (libdfumgr %s)\n", DFUMGR_VERSION_STRING,
			       dfumgr_version());
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose++;
		} else {
			fprintf(stderr, "%s: unknown option '%s'\n", cli.prog, argv[i]);
			usage(stderr, cli.prog);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr, cli.prog);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (strcmp(argv[i], commands[c].name) != 0)
			continue;
		struct sigaction sa = {.sa_handler = on_signal};

		cli.ctx = dfumgr_ctx_new();
		if (!cli.ctx || dfumgr_cancel_new(&g_cancel) < 0) {
			fprintf(stderr, "%s: out of memory\n", cli.prog);
			dfumgr_ctx_free(cli.ctx);
			return EXIT_SOFTWARE;
		}
		cli.cancel = g_cancel;
		/* no SA_RESTART: a blocking call returns EINTR and the library looks at the token
		 */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		dfumgr_ctx_set_log(cli.ctx, log_to_stderr, &cli);
		rc = commands[c].run(&cli, argc - i, argv + i);
		if (dfumgr_cancel_is_set(g_cancel) && rc == EXIT_OK)
			rc = EXIT_TEMPFAIL;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dfumgr_ctx_free(cli.ctx);
		g_cancel = dfumgr_cancel_free(g_cancel);
		return rc;
	}
	fprintf(stderr, "%s: unknown command '%s'\n", cli.prog, argv[i]);
	usage(stderr, cli.prog);
	return EXIT_USAGE;
}
