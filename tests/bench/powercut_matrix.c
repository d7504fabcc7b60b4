/* SPDX-License-Identifier: MIT */
/*
 * The power-cut matrix in full (tests/support/powercut.h): every flash write of an update of an
 * emulated board, cut, booted, classified. Prints the table; exit status 0 when no case ends
 * mixed or unbootable and every re-run succeeded, 1 otherwise, 2 when it cannot run.
 *
 * usage: powercut_matrix [--stride N] [--sizes BYTES0,BYTES1] [--version V] [--verbose]
 *                        [--no-cuts] [--strategy swap-move|overwrite-only|direct-xip]
 * --no-cuts: only the uncut update (how many writes, MCUboot's flash time and wear).
 * --strategy: the emulated board's MCUboot strategy (default swap-move, the product's).
 * environment: DFUMGR_TEST_DATA (tests/data)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "powercut.h"

static int usage(void)
{
	fprintf(stderr, "usage: powercut_matrix [--stride N] [--sizes BYTES0,BYTES1] "
			"[--version V] [--verbose] [--no-cuts] [--strategy S]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct powercut_opts o = {
	    .data_dir = getenv("DFUMGR_TEST_DATA"),
	    .new_version = "2.0.0+1",
	    .size = {20 * 1024, 70 * 1024},
	    .stride = 1,
	};
	struct powercut_result r;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--verbose")) {
			o.verbose = true;
		} else if (!strcmp(argv[i], "--no-cuts")) {
			o.no_cuts = true;
		} else if (!strcmp(argv[i], "--stride") && i + 1 < argc) {
			o.stride = (unsigned)strtoul(argv[++i], &end, 10);
			if (*end || !o.stride)
				return usage();
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			o.size[0] = strtoul(argv[++i], &end, 0);
			if (*end != ',')
				return usage();
			o.size[1] = strtoul(end + 1, &end, 0);
			if (*end || !o.size[0] || !o.size[1])
				return usage();
		} else if (!strcmp(argv[i], "--strategy") && i + 1 < argc) {
			enum emu_mcuboot_strategy st;

			if (emu_mcuboot_strategy_parse(argv[++i], &st) < 0)
				return usage();
			o.strategy = (int)st;
		} else if (!strcmp(argv[i], "--version") && i + 1 < argc) {
			o.new_version = argv[++i];
		} else {
			return usage();
		}
	}
	if (!o.data_dir) {
		fprintf(stderr, "powercut_matrix: set DFUMGR_TEST_DATA (tests/data)\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (powercut_run(&o, &r) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf(
	    "power-cut matrix: factory pair 1.0.0+0 -> %s (payloads %zu + %zu bytes), a cut after "
	    "%s write of the update\n",
	    o.new_version, o.size[0], o.size[1],
	    o.no_cuts      ? "no"
	    : o.stride > 1 ? "a sample of each"
			   : "each");
	powercut_print(&r);
	printf("MCUboot's swap of the uncut update: %.2f s of flash time (datasheet)\n",
	       r.swap_us / 1e6);
	printf("MCUboot (%s) at that boot: erase %.3f s, program %.3f s, read %.3f s; %llu "
	       "writes\n",
	       emu_mcuboot_strategy_name(r.mcuboot.strategy), r.mcuboot.erase_us / 1e6,
	       r.mcuboot.program_us / 1e6, r.mcuboot.read_us / 1e6,
	       (unsigned long long)r.mcuboot.writes);
	for (unsigned k = 0; k < EMU_MCUBOOT_AREAS; k++) {
		const struct emu_mcuboot_wear *w = &r.mcuboot.wear[k];

		printf("  %-15s %5u sectors erased, at most %u times one; %6u programs, %8llu "
		       "bytes; %8llu bytes read\n",
		       emu_mcuboot_area_name(k), w->erases, w->max_erases, w->programs,
		       (unsigned long long)w->bytes_programmed, (unsigned long long)w->bytes_read);
	}
	printf("%u cases in %.1f s\n", r.cases,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return r.outcome[POWERCUT_MIXED] || r.outcome[POWERCUT_NO_BOOT] || r.rerun_failed ? 1 : 0;
}
