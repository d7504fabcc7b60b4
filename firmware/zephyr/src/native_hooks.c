/* SPDX-License-Identifier: MIT */
/*
 * native_posix_64 test builds only (CONFIG_DFUMGR_TEST_HOOKS): what tests/native_usbip.py injects
 * and observes.
 *
 *   -dfumgr-retained=FILE  the recovery record survives a "reset" in FILE: it is read before the
 *                          kernel starts and written by the reset (RAM that survives a soft reset
 *                          on the DK; a process on the host does not)
 *   -dfumgr-fault-xip      the image-1 self-test calls k_oops() (a fault in QSPI code on the DK)
 *   -dfumgr-hang-xip       the image-1 self-test never returns
 *   -dfumgr-stall-flash    QSPI erases and programs never return (a hung flash)
 *   -dfumgr-xip-delay-ms=N the first image-1 call waits N ms (USB is up before it)
 *   -dfumgr-qspi-erase-us=N  a "QSPI" sector erase takes N us of board time (default 48000,
 *                          the MX25R64's typical 4 KiB erase); the simulator itself takes none
 *   -dfumgr-qspi-page-us=N a "QSPI" program takes N us per 256-byte page it touches (default
 *                          900)
 *   -dfumgr-fail-program-at=OFF  the first program of an update slot over slot offset OFF
 *                          fails (a bad flash cell)
 *   -dfumgr-no-pipeline    no flash thread: the core erases and programs inside the request,
 *                          one block at a time (the glue before the pipelined download), for
 *                          the test that measures the difference in one run
 *
 * sys_arch_reboot() replaces native_posix's weak one: every reset of the application (REBOOT,
 * the fatal error handler, the counter-based watchdog's expiry) ends the process after saving
 * the record, and says why on the log. The test then starts the next "boot".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zephyr/arch/posix/posix_trace.h>
#include <zephyr/kernel.h>

#include "cmdline.h"
#include "posix_board_if.h"
#include "soc.h"

#include "shim.h"

struct shim_test_hooks shim_hooks;
static char *retained_path;

static void hooks_options(void)
{
	static struct args_struct_t options[] = {
	    {.option = "dfumgr-retained",
	     .name = "path",
	     .type = 's',
	     .dest = (void *)&retained_path,
	     .descript = "File that keeps the recovery record across resets"},
	    {.is_switch = true,
	     .option = "dfumgr-fault-xip",
	     .type = 'b',
	     .dest = (void *)&shim_hooks.fault_xip,
	     .descript = "The image-1 self-test faults (k_oops)"},
	    {.is_switch = true,
	     .option = "dfumgr-hang-xip",
	     .type = 'b',
	     .dest = (void *)&shim_hooks.hang_xip,
	     .descript = "The image-1 self-test never returns"},
	    {.is_switch = true,
	     .option = "dfumgr-stall-flash",
	     .type = 'b',
	     .dest = (void *)&shim_hooks.stall_flash,
	     .descript = "QSPI erases and programs never return"},
	    {.option = "dfumgr-xip-delay-ms",
	     .name = "ms",
	     .type = 'u',
	     .dest = (void *)&shim_hooks.xip_delay_ms,
	     .descript = "Hold the first image-1 call back this long"},
	    {.option = "dfumgr-qspi-erase-us",
	     .name = "us",
	     .type = 'u',
	     .dest = (void *)&shim_hooks.qspi_erase_us,
	     .descript = "Board time of a QSPI 4 KiB sector erase (default 48000)"},
	    {.option = "dfumgr-qspi-page-us",
	     .name = "us",
	     .type = 'u',
	     .dest = (void *)&shim_hooks.qspi_page_us,
	     .descript = "Board time per 256-byte page of a QSPI program (default 900)"},
	    {.option = "dfumgr-fail-program-at",
	     .name = "offset",
	     .type = 'u',
	     .dest = (void *)&shim_hooks.fail_program_at,
	     .descript = "The first program of an update slot over this offset fails"},
	    {.is_switch = true,
	     .option = "dfumgr-no-pipeline",
	     .type = 'b',
	     .dest = (void *)&shim_hooks.no_pipeline,
	     .descript = "No flash thread: flash work inside the request, one block at a time"},
	    ARG_TABLE_ENDMARKER};

	native_add_command_line_opts(options);
}

/* Before the kernel starts: what "RAM" held when the last process "reset". */
static void hooks_load(void)
{
	struct shim_retained *r = shim_retained_get();
	int fd;

	/* an unsigned option that was not given reads as UINT32_MAX (cmd_args_set_defaults()) */
	if (shim_hooks.xip_delay_ms == UINT32_MAX)
		shim_hooks.xip_delay_ms = 0;
	if (shim_hooks.qspi_erase_us == UINT32_MAX)
		shim_hooks.qspi_erase_us = 48000;
	if (shim_hooks.qspi_page_us == UINT32_MAX)
		shim_hooks.qspi_page_us = 900;
	/* fail_program_at: UINT32_MAX, none */
	if (!retained_path)
		return;
	fd = open(retained_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* first boot: nothing retained */
	if (read(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		memset(r, 0, sizeof(*r));
	close(fd);
}

static void hooks_save(void)
{
	const struct shim_retained *r = shim_retained_get();
	int fd;

	if (!retained_path)
		return;
	fd = open(retained_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		posix_print_warning("dfumgr: cannot write %s: %s\n", retained_path,
				    strerror(errno));
	if (fd >= 0)
		close(fd);
}

void sys_arch_reboot(int type)
{
	const struct shim_retained *r = shim_retained_get();

	hooks_save();
	posix_print_warning("dfumgr: reset (type %d, reason %s, faults %u). Exiting\n", type,
			    shim_reset_reason_name(r->reason), r->faults);
	posix_exit(0);
}

NATIVE_TASK(hooks_options, PRE_BOOT_1, 10);
NATIVE_TASK(hooks_load, PRE_BOOT_3, 10);
/* whatever ends the process (a reset, or the test's SIGTERM): "RAM" keeps the record */
NATIVE_TASK(hooks_save, ON_EXIT, 10);
