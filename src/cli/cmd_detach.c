/* SPDX-License-Identifier: MIT */
/* dfu-mgr detach: runtime mode -> DFU mode (libdfumgr's dfumgr_board_enter_dfu()). */
#include <stdlib.h>

#include "board_cli.h"
#include "dfumgr/board.h"

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	struct dfumgr_board_opts o = DFUMGR_BOARD_OPTS_INIT;
	struct target t = {0};
	struct dfumgr_backend *be = NULL;
	struct dfumgr_dev *dev = NULL;
	int rc, ret;

	ret =
	    board_cmd_args(cli, "detach",
			   "Switch a board from its application (runtime mode) to DFU mode "
			   "(DFU_DETACH,\nand a USB reset when the board needs one) and wait until "
			   "it is back on the\nsame port with the same serial number.",
			   argc, argv, &t, &o);
	if (ret >= 0)
		return ret;
	ret = cli_backend_new(cli, &be);
	if (ret != EXIT_OK)
		return ret;
	o.cancel = cli->cancel;
	rc = dfumgr_board_enter_dfu(cli->ctx, be, &t.match, &o, &dev);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "detach");
		goto out;
	}
	printf("%s is in DFU mode at %s\n",
	       dfumgr_dev_info(dev)->serial[0] ? dfumgr_dev_info(dev)->serial : "(no serial)",
	       dfumgr_dev_info(dev)->path);
	ret = EXIT_OK;
out:
	dfumgr_dev_close(dev);
	dfumgr_backend_free(be);
	return ret;
}
