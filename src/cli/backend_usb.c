/* SPDX-License-Identifier: MIT */
/* The backend of the installed dfu-mgr: real USB devices through libusb. */
#include "cli.h"
#include "dfumgr/device.h"

int cli_backend_new(struct cli *cli, struct dfumgr_backend **ret)
{
	int rc = dfumgr_backend_usb_new(cli->ctx, ret);

	return rc < 0 ? cli_fail(cli, rc, "USB") : EXIT_OK;
}
