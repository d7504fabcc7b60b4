/* SPDX-License-Identifier: MIT */
/* dfu-mgr update: the options and help; libdfumgr does the work (board_cli.c runs it). */
#include "board_cli.h"

static const char help[] =
    "Usage: dfu-mgr update [OPTIONS] BUNDLE\n"
    "Update one board with the image pair in BUNDLE: image 1 (QSPI) then image 0\n"
    "(internal), each verified by the board's SHA-256 read back from flash, then\n"
    "both committed for MCUboot, or neither; reboot; check what it runs.\n"
    "SIGINT/SIGTERM stop it within a second; the report says what the board runs.\n\n"
    "      --allow-downgrade    install older versions (or a lower security counter)\n"
    "      --no-verify          for plain DFU devices that cannot upload\n"
    "      --permanent          permanent swap (no test swap + confirm)\n"
    "      --retries N          re-downloads of a wrong image (default 2)\n"
    "      --timeout S          wait for re-enumeration (default 30)\n"
    "      --transfer-size N    DFU block size (default: the board's)\n"
    "      --no-skip            send every sector (by default a board that lists its\n"
    "                           slots' sector digests is sent only those that differ)\n"
    "  -q, --quiet              no progress\n"
    "  -j, --json               machine-readable report on stdout\n\n"
    "Exit status: 0 updated, 1 verification failed, 64 usage or several boards match,\n"
    "65 bad bundle or downgrade or no room, 69 no board, 75 the board went away or\n"
    "cancelled (retry).\n\n";

int cmd_update(struct cli *cli, int argc, char **argv)
{
	return run_update(cli, argc, argv, KIND_UPDATE, help);
}
