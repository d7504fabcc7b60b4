/* SPDX-License-Identifier: MIT */
/* The runner of dfu-mgr download and upload: one alt-setting, as dfu-util -D / -U. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board_cli.h"
#include "dfumgr/board.h"
#include "dfumgr/dfu.h"
#include "dfumgr/image.h"
#include "dfumgr/shim_info.h"
#include "dfumgr/wire.h"

#define FILE_MAX (16u * 1024 * 1024)

static bool marks_itself(struct dfumgr_ctx *ctx, struct dfumgr_dev *dev, const uint8_t *buf,
			 size_t size);

int run_transfer(struct cli *cli, int argc, char **argv, bool down)
{
	static const struct option longopts[] = {
	    TARGET_LONGOPTS,
	    {"alt", required_argument, NULL, 'a'},
	    {"transfer-size", required_argument, NULL, 't'},
	    {"max", required_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *cmd = down ? "download" : "upload";
	struct target t = {0};
	struct progress p;
	struct dfumgr_transfer_opts to = DFUMGR_TRANSFER_OPTS_INIT;
	struct dfumgr_board_opts bo = DFUMGR_BOARD_OPTS_INIT;
	bool quiet = false;
	struct dfumgr_backend *be = NULL;
	struct dfumgr_dev *dev = NULL;
	const char *alt_arg = NULL;
	uint8_t *buf = NULL;
	size_t size = 0;
	uint32_t v, max = FILE_MAX;
	int c, rc, alt, ret = EXIT_SOFTWARE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:a:t:n:qh", longopts, NULL)) != -1) {
		if (target_opt(cli, cmd, &t, c, &ret)) {
			if (ret != EXIT_OK)
				return ret;
			continue;
		}
		switch (c) {
		case 'a':
			alt_arg = optarg;
			break;
		case 't':
			if (!cli_parse_u32(optarg, 4096, &v) || !v)
				return cli_usage_error(cli, cmd, "bad --transfer-size '%s'",
						       optarg);
			to.transfer_size = (uint16_t)v;
			break;
		case 'n':
			if (!cli_parse_u32(optarg, FILE_MAX, &max) || !max)
				return cli_usage_error(cli, cmd, "bad --max '%s'", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf(
			    "Usage: dfu-mgr %s -a ALT [OPTIONS] FILE\n"
			    "%s one alt-setting of a DFU device, as dfu-util -%c does (ALT by "
			    "number or\nname, e.g. image-1). A board in runtime mode is switched "
			    "to DFU mode first.\nNo pairing, no commit: for a paired update use "
			    "`dfu-mgr update`.\n\n%s"
			    "  -a, --alt ALT            alt-setting number or name (required)\n"
			    "  -t, --transfer-size N    block size (default: the device's)\n"
			    "%s"
			    "  -q, --quiet              no progress\n",
			    cmd, down ? "Write FILE to" : "Read into FILE", down ? 'D' : 'U',
			    target_help,
			    down ? "" : "  -n, --max N              read at most N bytes\n");
			return EXIT_OK;
		default:
			return cli_usage_error(cli, cmd, "unknown option");
		}
	}
	if (!alt_arg)
		return cli_usage_error(cli, cmd, "-a ALT is required");
	progress_init(&p, quiet);
	to.progress = on_progress;
	to.user = &p;
	bo.cancel = cli->cancel;
	bo.progress = on_progress;
	bo.user = &p;
	if (optind != argc - 1)
		return cli_usage_error(cli, cmd, "give exactly one FILE");
	if (down) {
		rc = dfumgr_file_read(cli->ctx, argv[optind], FILE_MAX, &buf, &size);
		if (rc < 0)
			return cli_fail(cli, rc, "%s", argv[optind]);
	} else if (access(argv[optind], F_OK) == 0) {
		return cli_fail(cli, dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_EXISTS, "exists"),
				"%s", argv[optind]);
	}
	ret = cli_backend_new(cli, &be);
	if (ret != EXIT_OK)
		goto out;
	rc = dfumgr_board_enter_dfu(cli->ctx, be, &t.match, &bo, &dev);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "%s", cmd);
		goto out;
	}
	alt = dfumgr_dev_find_alt(dev, alt_arg);
	if (alt < 0) {
		ret = cli_fail(cli, alt, "%s", cmd);
		goto out;
	}
	if (down && marks_itself(cli->ctx, dev, buf, size)) {
		/* a dfu-mgr board refuses it (errADDRESS): say why before touching the slot */
		ret = cli_fail(cli, -DFUMGR_E_REFUSED, "download %s to %s", argv[optind],
			       dfumgr_dev_info(dev)->serial);
		goto out;
	}
	dfumgr_dev_set_limits(dev, cli->cancel, 0);
	if (down) {
		rc = dfumgr_dfu_download(dev, (uint8_t)alt, buf, size, &to);
	} else {
		rc = dfumgr_dfu_upload(dev, (uint8_t)alt, max, &buf, &size, &to);
		if (rc == 0)
			rc = dfumgr_file_write(cli->ctx, argv[optind], buf, size, false);
	}
	progress_end(&p);
	if (rc < 0) {
		struct dfumgr_shim_info info;
		int saved = rc;

		/* a dfu-mgr board says why it refused a block (e.g. data in the trailer region) */
		if (down && rc == -DFUMGR_E_DFU_STATUS) {
			char why[1024];

			snprintf(why, sizeof(why), "%s", dfumgr_ctx_errmsg(cli->ctx));
			if (dfumgr_shim_get_info(dev, &info) == 0 &&
			    info.last_error != DFUMGR_DEV_OK)
				dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_DFU_STATUS,
						     "%s; the board says: %s", why,
						     dfumgr_dev_error_text(info.last_error));
			else
				dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_DFU_STATUS, "%s", why);
		}
		ret =
		    cli_fail(cli, saved, "%s alt %d of %s", cmd, alt, dfumgr_dev_info(dev)->serial);
		goto out;
	}
	printf("%s %zu bytes %s alt %d (%s) of %s\n", down ? "Downloaded" : "Uploaded", size,
	       down ? "to" : "from", alt, alt_arg, dfumgr_dev_info(dev)->serial);
	ret = EXIT_OK;
out:
	dfumgr_dev_close(dev);
	dfumgr_backend_free(be);
	free(buf);
	return ret;
}

/*
 * An MCUboot image with a trailer after it (`imgtool sign --pad [--confirm]`) for a dfu-mgr
 * board, which never lets a download mark an image: the reason goes into the context. Plain
 * DFU devices (a single-image MCUboot with Zephyr's DFU class) take such files, as dfu-util
 * sends them.
 */
static bool marks_itself(struct dfumgr_ctx *ctx, struct dfumgr_dev *dev, const uint8_t *buf,
			 size_t size)
{
	struct dfumgr_shim_info info;
	struct dfumgr_image img;

	if (dfumgr_image_parse(NULL, buf, size, &img) != 0 || !img.trailer.present ||
	    !img.trailer.magic_ok)
		return false;
	if (dfumgr_shim_get_info(dev, &info) != 0) {
		dfumgr_ctx_clear_error(ctx);
		return false;
	}
	dfumgr_ctx_set_error(
	    ctx, DFUMGR_E_REFUSED,
	    "the file carries an MCUboot trailer after its image (boot magic at "
	    "offset 0x%zx, image_ok 0x%02x: `imgtool sign --pad%s`), and a dfu-mgr "
	    "board never lets a download mark an image for MCUboot. Send the image "
	    "without --pad/--confirm, then `dfu-mgr commit` the pair (or use "
	    "`dfu-mgr update` with a bundle)",
	    size - DFUMGR_BOOT_MAGIC_LEN, img.trailer.image_ok,
	    img.trailer.image_ok == 1 ? " --confirm" : "");
	return true;
}
