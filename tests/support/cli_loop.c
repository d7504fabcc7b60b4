/* SPDX-License-Identifier: MIT */
/*
 * The backend of dfu-mgr-loop, the test build of the dfu-mgr CLI: the same sources with this
 * file instead of src/cli/backend_usb.c, so that every command runs against in-process emulated
 * boards (tests/support/loop_backend.c) without a kernel, vhci or root. The installed dfu-mgr
 * has no such switch.
 *
 * DFUMGR_LOOP_DIR     directory of the boards' flash files (kept between runs: a board keeps
 *                     what a previous command wrote to it; it boots anew at each run)
 * DFUMGR_LOOP_BOARDS  number of boards (default 2), serials LOOP-0001...
 * DFUMGR_LOOP_QUIRKS  comma-separated BOARD:QUIRK (BOARD from 1): plain, dfu, noserial,
 *                     busy, stays (will-detach board that does not leave), keepmode;
 *                     faults: disconnect (in image 1 at byte 8192), wrongdigest (image 1's
 *                     digest wrong 10 times); other (reports product "other-product"); late
 *                     (plugged in 2 s of virtual time after the start), absent (unplugged)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loop_backend.h"

static int quirk(struct loop *l, const char *spec)
{
	char name[16];
	unsigned i;

	if (sscanf(spec, "%u:%15[a-z]", &i, name) != 2 || i < 1 || i > l->n)
		return -1;
	struct loop_board *lb = &l->boards[i - 1];

	if (!strcmp(name, "plain")) {
		lb->plain = true;
		lb->b.plain = true;
	} else if (!strcmp(name, "dfu")) {
		loop_set_dfu_mode(l, i - 1);
	} else if (!strcmp(name, "noserial")) {
		lb->b.no_serial = true;
		lb->b.desc_len = 0;
	} else if (!strcmp(name, "busy")) {
		lb->busy_forever = true;
	} else if (!strcmp(name, "stays")) {
		lb->stays_on_detach = true;
	} else if (!strcmp(name, "keepmode")) {
		lb->reset_keeps_mode = true;
	} else if (!strcmp(name, "disconnect")) {
		lb->b.fault.disconnect_at[1] = 8192;
	} else if (!strcmp(name, "wrongdigest")) {
		lb->b.fault.wrong_digest[1] = 10;
	} else if (!strcmp(name, "other")) {
		/* the firmware build's product, and that of the firmware running now */
		snprintf(lb->b.product, sizeof(lb->b.product), "other-product");
		snprintf(lb->b.dev.product, sizeof(lb->b.dev.product), "other-product");
	} else if (!strcmp(name, "late") || !strcmp(name, "absent")) {
		loop_unplug(l, i - 1);
		if (name[0] == 'l')
			lb->plug_at_us = l->now_us + 2000000;
	} else {
		return -1;
	}
	return 0;
}

int cli_backend_new(struct cli *cli, struct dfumgr_backend **ret)
{
	const char *dir = getenv("DFUMGR_LOOP_DIR"), *n_s = getenv("DFUMGR_LOOP_BOARDS");
	const char *q = getenv("DFUMGR_LOOP_QUIRKS");
	unsigned n = n_s ? (unsigned)strtoul(n_s, NULL, 10) : 2;
	struct loop *l;

	if (!dir)
		return cli_fail(
		    cli,
		    dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_INVAL, "DFUMGR_LOOP_DIR is not set"),
		    "loop backend");
	l = loop_open(dir, n);
	if (!l)
		return cli_fail(cli,
				dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_IO, "cannot open %s", dir),
				"loop backend");
	l->owned = true;
	for (const char *p = q; p && *p;) {
		if (quirk(l, p) < 0) {
			loop_free(l);
			return cli_fail(cli,
					dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_INVAL,
							     "bad DFUMGR_LOOP_QUIRKS at '%s'", p),
					"loop backend");
		}
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	*ret = loop_backend(l);
	if (!*ret) {
		loop_free(l);
		return cli_fail(cli, -DFUMGR_E_NOMEM, "loop backend");
	}
	return EXIT_OK;
}

/* fetch and publish talk to servers, not boards: they have their own tests (label fetch) */
int cmd_fetch(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_usage_error(cli, "fetch", "not in dfu-mgr-loop (the test build for boards)");
}

int cmd_publish(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_usage_error(cli, "publish", "not in dfu-mgr-loop (the test build for boards)");
}
