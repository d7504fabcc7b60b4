#!/usr/bin/env bash
# The update-speed benchmark at full size (BENCHMARKS.md, "Update speed"): tests/bench/bench_speed.sh
# in one run of the VM test bed: the pipelined board, with --timing none and then --timing real in
# each paired run (by default without the legacy board, which doubles the time: set
# BENCH_SPEED_LEGACY=1 for the before/after columns). Prints the tables; ctest's bench.speed runs
# the same script with small images. At the default size it takes about 30 min under TCG
# (20 min without the strategies step).
#
# usage: scripts/bench-speed.sh [BUILD_DIR]
#   BUILD_DIR         default build (configured and built here if needed)
#   BENCH_SPEED_IMG0    image 0 payload bytes (default 524288)
#   BENCH_SPEED_IMG1    image 1 payload bytes (default 3582976: 3499 KiB, the largest whole KiB
#                       that fits image 1's slot of 0x370000 under swap-move; 4 MiB does not)
#   BENCH_SPEED_REPS    paired runs (default 3)
#   BENCH_SPEED_STEPS   steps to time (default "unchanged full resume hand strategies";
#                       "strategies": one full release per MCUboot strategy, issue 14 item 4d,
#                       --timing real only; about 11 more minutes at the default size)
#   BENCH_SPEED_TIMING  the emulator's timing modes (default "none real")
#   BENCH_SPEED_LEGACY  1: also the legacy board (default 0)
#   BENCH_SPEED_CUT     resume's power cut: image1 (default, 80 % of image 1) or download (80 %
#                       of both images' bytes)
# Exit status: that of the benchmark (0 when every run completed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ -f "$BUILD/build.ninja" ] || cmake -S . -B "$BUILD" -G Ninja >/dev/null
ninja -C "$BUILD" -j2 >/dev/null
export DFUMGR_BUILD_DIR=$PWD/$BUILD
export DFUMGR_TEST_DATA=${DFUMGR_TEST_DATA:-$PWD/tests/data}
export BENCH_SPEED_IMG0=${BENCH_SPEED_IMG0:-524288}
export BENCH_SPEED_IMG1=${BENCH_SPEED_IMG1:-3582976}
export BENCH_SPEED_REPS=${BENCH_SPEED_REPS:-3}
export BENCH_SPEED_STEPS=${BENCH_SPEED_STEPS:-unchanged full resume hand strategies}
export BENCH_SPEED_TIMING=${BENCH_SPEED_TIMING:-none real}
export BENCH_SPEED_LEGACY=${BENCH_SPEED_LEGACY:-0}
export BENCH_SPEED_CUT=${BENCH_SPEED_CUT:-image1}
exec tests/vm/vm-run --timeout 7200 --env DFUMGR_BUILD_DIR --env DFUMGR_TEST_DATA \
	--env BENCH_SPEED_IMG0 --env BENCH_SPEED_IMG1 --env BENCH_SPEED_REPS --env BENCH_SPEED_STEPS \
	--env BENCH_SPEED_TIMING --env BENCH_SPEED_LEGACY --env BENCH_SPEED_CUT \
	-- bash tests/bench/bench_speed.sh
