/* SPDX-License-Identifier: MIT */
/* dfu-mgr commit: the options and help; libdfumgr does the work (board_cli.c runs it). */
#include "board_cli.h"

static const char help[] =
    "Usage: dfu-mgr commit [OPTIONS] BUNDLE\n"
    "For slots written by another tool (e.g. stock dfu-util -a image-1 -D ...):\n"
    "check the board's read-back digests of both slots against BUNDLE, then\n"
    "commit both for MCUboot, reboot and check what the board runs.\n\n"
    "      --permanent          permanent swap\n"
    "  -j, --json               machine-readable report\n\n";

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	return run_update(cli, argc, argv, KIND_COMMIT, help);
}
