/* SPDX-License-Identifier: MIT */
/*
 * What the commands that talk to boards share: the target options (-d -S -p), the trusted keys
 * options, progress on stderr, the update report, and the runners that update/verify/commit and
 * download/upload are thin front ends of.
 */
#ifndef DFUMGR_BOARD_CLI_H
#define DFUMGR_BOARD_CLI_H

#include <getopt.h>

#include "cli.h"
#include "dfumgr/board.h"
#include "dfumgr/bundle.h"
#include "dfumgr/device.h"
#include "dfumgr/progress.h"
#include "dfumgr/update.h"

/* Progress on stderr: a redrawn bar on a terminal, plain lines (every 25 %) otherwise. */
struct progress {
	bool tty;
	bool quiet;
	enum dfumgr_phase phase;
	int image;
	bool started;
	int last_pct;
	uint64_t start_us;
};
void progress_init(struct progress *p, bool quiet);
void on_progress(void *user, const struct dfumgr_progress *ev);
void progress_end(struct progress *p);

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
	OPT_NO_SKIP,
};

extern const char target_help[];
extern const char key_help[];

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

/* Handles -d -S -p -k -K --allow-unsigned; true if c was one of them (*ret: exit code). */
bool target_opt(struct cli *cli, const char *cmd, struct target *t, int c, int *ret);

/* Opens and checks BUNDLE with the trusted keys of t (EXIT_OK or an exit code, printed). */
int cli_open_bundle(struct cli *cli, const char *cmd, struct target *t, const char *dir,
		    struct dfumgr_bundle **ret);

/*
 * The arguments of dfu-mgr detach and reboot: the target options, --timeout, --help (about: the
 * text between the usage line and the options), no operands. -1: go on; else the exit code.
 */
int board_cmd_args(struct cli *cli, const char *cmd, const char *about, int argc, char **argv,
		   struct target *t, struct dfumgr_board_opts *o);

enum update_kind { KIND_UPDATE, KIND_VERIFY, KIND_COMMIT };
/* dfu-mgr update / verify / commit: help is the command's --help text. */
int run_update(struct cli *cli, int argc, char **argv, enum update_kind kind, const char *help);
/* dfu-mgr download / upload. */
int run_transfer(struct cli *cli, int argc, char **argv, bool down);

#endif
