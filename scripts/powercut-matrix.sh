#!/usr/bin/env bash
# The power-cut matrix in full (issue 9, docs/pair-rule.md "Boot: MCUboot's swap and the
# application's confirm"): an emulated board updated in process, its power cut after every flash
# write of the update (the downloads, the commit, MCUboot's swap, the application's confirm),
# booted again; the table counts the cases that end with the old pair, the new pair, a mixed pair
# or no boot, and the re-runs that failed. Then MCUboot's flash time (datasheet) for a
# 512 KiB + 1 MiB pair and for full slots.
#
# usage: scripts/powercut-matrix.sh [BUILD_DIR] [-- powercut_matrix options]
#   BUILD_DIR  default build (configured and built here if needed)
# Exit status: 0 no mixed pair, no failed boot or re-run; 1 otherwise; 2 cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	BUILD=$1
	shift
fi
[ "${1:-}" = "--" ] && shift
if [ ! -x "$BUILD/tests/powercut_matrix" ]; then
	[ -f "$BUILD/build.ninja" ] || cmake -S . -B "$BUILD" -G Ninja >/dev/null
	ninja -C "$BUILD" -j2 powercut_matrix >/dev/null
fi
export DFUMGR_TEST_DATA=${DFUMGR_TEST_DATA:-$PWD/tests/data}
status=0
"$BUILD/tests/powercut_matrix" "$@" || status=$?
echo
# the largest images the slots take (dfumgr_wire_image_max), less the header and TLVs
for sizes in 524288,1048576 $((0xdb000 - 700)),$((0x36b000 - 700)); do
	"$BUILD/tests/powercut_matrix" --no-cuts --sizes "$sizes" |
		grep -E "^power-cut matrix|^MCUboot's swap|^total" | sed 's/^/  /'
done
exit $status
