/* SPDX-License-Identifier: MIT */
/* dfu-mgr reboot: the board runs its firmware again (libdfumgr's dfumgr_board_reboot()). */
#include <stdlib.h>

#include "board_cli.h"
#include "dfumgr/board.h"

int cmd_reboot(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct dfumgr_board_opts o = DFUMGR_BOARD_OPTS_INIT;
	struct dfumgr_device_info info;
	struct target t = {0};
	struct dfumgr_backend *be = NULL;
	uint32_t v;
	int c, rc, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:h", longopts, NULL)) != -1) {
		if (target_opt(cli, "reboot", &t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		if (c == OPT_TIMEOUT) {
			if (!cli_parse_u32(optarg, 3600, &v) || !v)
				return cli_usage_error(cli, "reboot",
						       "bad --timeout '%s' (seconds)", optarg);
			o.timeout_ms = v * 1000;
			continue;
		}
		if (c == 'h') {
			printf("Usage: dfu-mgr reboot [OPTIONS]\n"
			       "Reset a board so that it runs its firmware: the shim's REBOOT "
			       "(MCUboot "
			       "runs,\nthen the application), or a USB reset for a plain DFU "
			       "device in "
			       "DFU mode.\nWaits until the board is back on the same port.\n\n%s"
			       "      --timeout S          wait for re-enumeration (default 30)\n",
			       target_help);
			return EXIT_OK;
		}
		return cli_usage_error(cli, "reboot", "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cli, "reboot", "no arguments expected");
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
