#!/usr/bin/env bash
# The update-speed benchmark at full size (BENCHMARKS.md, "Update speed"): tests/bench/bench_speed.sh
# in one run of the VM test bed, two emulated boards with --timing real, the board's download
# before pipelining (legacy) against now. Prints the table; ctest's bench.speed runs the same
# script with small images.
#
# usage: scripts/bench-speed.sh [BUILD_DIR]
#   BUILD_DIR         default build (configured and built here if needed)
#   BENCH_SPEED_IMG0  image 0 payload bytes (default 262144)
#   BENCH_SPEED_IMG1  image 1 payload bytes (default 1048576)
#   BENCH_SPEED_REPS  paired runs (default 3)
#   BENCH_SPEED_STEPS steps to time (default "unchanged full resume hand strategies"; "strategies":
#                     one full release per MCUboot strategy, issue 14 item 4d)
# Exit status: that of the benchmark (0 when every run completed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ -f "$BUILD/build.ninja" ] || cmake -S . -B "$BUILD" -G Ninja >/dev/null
ninja -C "$BUILD" -j2 >/dev/null
export DFUMGR_BUILD_DIR=$PWD/$BUILD
export DFUMGR_TEST_DATA=${DFUMGR_TEST_DATA:-$PWD/tests/data}
export BENCH_SPEED_IMG0=${BENCH_SPEED_IMG0:-262144}
export BENCH_SPEED_IMG1=${BENCH_SPEED_IMG1:-1048576}
export BENCH_SPEED_REPS=${BENCH_SPEED_REPS:-3}
export BENCH_SPEED_STEPS=${BENCH_SPEED_STEPS:-unchanged full resume hand strategies}
exec tests/vm/vm-run --timeout 5400 --env DFUMGR_BUILD_DIR --env DFUMGR_TEST_DATA \
	--env BENCH_SPEED_IMG0 --env BENCH_SPEED_IMG1 --env BENCH_SPEED_REPS --env BENCH_SPEED_STEPS \
	-- bash tests/bench/bench_speed.sh
