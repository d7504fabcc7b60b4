/* SPDX-License-Identifier: MIT */
/* dfu-mgr verify: the options and help; libdfumgr does the work (board_cli.c runs it). */
#include "board_cli.h"

static const char help[] =
    "Usage: dfu-mgr verify [OPTIONS] BUNDLE\n"
    "Check, writing nothing, that a board runs BUNDLE: the board hashes both of its\n"
    "running (primary) slots from flash and the digests are compared with the\n"
    "manifest. The report gives the time it took.\n\n"
    "  -j, --json               machine-readable result\n\n"
    "Exit status: 0 the board runs the bundle, 1 it does not, 65 bad bundle,\n"
    "69 no board, 75 the board went away.\n\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	return run_update(cli, argc, argv, KIND_VERIFY, help);
}
