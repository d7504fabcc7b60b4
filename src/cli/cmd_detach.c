/* SPDX-License-Identifier: MIT */
/* dfu-mgr detach: runtime mode -> DFU mode (libdfumgr's dfumgr_board_enter_dfu()). */
#include <stdlib.h>

#include "board_cli.h"
#include "dfumgr/board.h"

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct dfumgr_board_opts o = DFUMGR_BOARD_OPTS_INIT;
	struct target t = {0};
	struct dfumgr_backend *be = NULL;
	struct dfumgr_dev *dev = NULL;
	uint32_t v;
	int c, rc, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:h", longopts, NULL)) != -1) {
		if (target_opt(cli, "detach", &t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		if (c == OPT_TIMEOUT) {
			if (!cli_parse_u32(optarg, 3600, &v) || !v)
				return cli_usage_error(cli, "detach",
						       "bad --timeout '%s' (seconds)", optarg);
			o.timeout_ms = v * 1000;
			continue;
		}
		if (c == 'h') {
			printf("Usage: dfu-mgr detach [OPTIONS]\n"
			       "Switch a board from its application (runtime mode) to DFU mode "
			       "(DFU_DETACH,\nand a USB reset when the board needs one) and wait "
			       "until "
			       "it is back on the\nsame port with the same serial number.\n\n%s"
			       "      --timeout S          wait for re-enumeration (default 30)\n",
			       target_help);
			return EXIT_OK;
		}
		return cli_usage_error(cli, "detach", "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cli, "detach", "no arguments expected");
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
