/* SPDX-License-Identifier: MIT */
/* dfu-mgr upload: one alt-setting, as dfu-util does (transfer.c runs it). */
#include "board_cli.h"

int cmd_upload(struct cli *cli, int argc, char **argv)
{
	return run_transfer(cli, argc, argv, false);
}
