/* SPDX-License-Identifier: MIT */
/* dfu-mgr reboot: the board runs its firmware again (libdfumgr's dfumgr_board_reboot()). */
#include <stdlib.h>

#include "board_cli.h"
#include "dfumgr/board.h"

int cmd_reboot(struct cli *cli, int argc, char **argv)
{
	struct dfumgr_board_opts o = DFUMGR_BOARD_OPTS_INIT;
	struct target t = {0};
	struct dfumgr_backend *be = NULL;
	struct dfumgr_device_info info;
	int rc, ret;

	ret =
	    board_cmd_args(cli, "reboot",
			   "Reset a board so that it runs its firmware: the shim's REBOOT (MCUboot "
			   "runs,\nthen the application), or a USB reset for a plain DFU device in "
			   "DFU mode.\nWaits until the board is back on the same port.",
			   argc, argv, &t, &o);
	if (ret >= 0)
		return ret;
	ret = cli_backend_new(cli, &be);
	if (ret != EXIT_OK)
		return ret;
	o.cancel = cli->cancel;
	rc = dfumgr_board_reboot(cli->ctx, be, &t.match, &o, &info);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "reboot");
		goto out;
	}
	if (info.dfu_mode)
		printf("%s at %s stayed in DFU mode after the USB reset: it runs its firmware "
		       "after a power cycle\n",
		       info.serial[0] ? info.serial : "(no serial)", info.path);
	else
		printf("%s is back in runtime mode at %s\n",
		       info.serial[0] ? info.serial : "(no serial)", info.path);
	ret = EXIT_OK;
out:
	dfumgr_backend_free(be);
	return ret;
}
