#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stock dfu-util against the shim's Zephyr glue: the native_posix_64 DFU-mode build serves USB/IP
# on TCP 3240, `usbip attach` plugs it into the kernel's vhci-hcd, and dfu-util downloads and
# uploads both alts through usbfs as it would on a real board. The "QSPI" program is slowed to
# 1.5 s of board time per block (native_hooks.c), so that the pipelined download has to hold
# dfu-util's GETSTATUS back while a block is in flash: dfu-util must not notice.
#
# Runs as root where vhci-hcd is loaded: in the VM test bed (tests/vm/vm-run, as build.sh does
# with DFUMGR_NATIVE_VM=1) or on a workstation. Zephyr's USB/IP driver takes at most 64 bytes
# of OUT data per control transfer, hence dfu-util -t 64.
#
# usage: native_dfu_util.sh DFU_EXE DFU_MGR WORKDIR
# Ends with "native_dfu_util: N passed, N failed"; exit 0 when none failed.
set -u
EXE=$1
DFUMGR=$2
W=$3
PASS=0
FAIL=0
ZP=""
# the simulated flash lives outside the share: the VM's 9p shares do not show another process
# the pages the simulator has written through its shared mapping until they are written back
FL=$(mktemp -d /tmp/native-dfu-util.XXXXXX)
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }
check() { # check DESCRIPTION CMD...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
cleanup() {
	[ -n "$ZP" ] && kill "$ZP" 2>/dev/null && wait "$ZP" 2>/dev/null
	ZP=""
}
trap 'cleanup; rm -rf "$FL"' EXIT

QSPI=$((0x100000)) # "QSPI" base on the simulated flash (boards/native_posix_64.overlay)
SEC0=$((QSPI + 0x000000))
SEC1=$((QSPI + 0x490000))
mkdir -p "$W"
rm -f "$W"/*.bin "$W/zephyr.log"

# a bundle as dfu-mgr pack makes it: two MCUboot images that depend on each other
head -c 1500 /dev/urandom >"$W/p0.bin"
head -c 2500 /dev/urandom >"$W/p1.bin"
"$DFUMGR" pack --version 2.0.0 --internal "$W/p0.bin" --qspi "$W/p1.bin" -o "$W/bundle" >/dev/null ||
	{ echo "FAIL - dfu-mgr pack"; exit 1; }
python3 -c "open('$FL/flash.bin', 'wb').write(b'\xff' * 0x900000)"
"$EXE" -flash="$FL/flash.bin" -rt-ratio=10 -no-color -dfumgr-qspi-page-us=1500000 \
	>"$W/zephyr.log" 2>&1 &
ZP=$!
for _ in $(seq 1 50); do usbip list -r 127.0.0.1 2>/dev/null | grep -q 1-1 && break; sleep 0.2; done
usbip attach -r 127.0.0.1 -b 1-1 >/dev/null 2>&1
for _ in $(seq 1 50); do dfu-util -l 2>/dev/null | grep -q 'Found DFU: \[1915:5300\]' && break; sleep 0.2; done
dfu-util -l >"$W/l.txt" 2>&1
check "dfu-util -l: the native board in DFU mode, alts image-0 and image-1" \
	grep -q 'alt=1, name="image-1", serial="NRF5340-0000000000000000"' "$W/l.txt"

# in_flash FILE OFFSET: the simulated flash holds FILE's bytes at OFFSET
in_flash() {
	python3 -c "
import sys
d = open('$1', 'rb').read()
with open('$FL/flash.bin', 'rb') as f:
    f.seek($2)
    sys.exit(0 if f.read(len(d)) == d else 1)"
}

for x in "1 qspi.bin $SEC1" "0 internal.bin $SEC0"; do
	set -- $x
	alt=$1 img="$W/bundle/$2" at=$3
	t0=$(date +%s.%N)
	dfu-util -d 1915:5300 -a "$alt" -t 64 -D "$img" >"$W/d$alt.txt" 2>&1
	rc=$?
	s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	check "dfu-util -a $alt -t 64 -D: $(stat -c %s "$img") bytes, exit 0, dfuIDLE ($s s)" \
		test $rc -eq 0 -a "$(grep -c 'dfuIDLE' "$W/d$alt.txt")" -ge 1
	check "alt $alt: the image is in the update slot once dfu-util is done" in_flash "$img" "$at"
	dfu-util -d 1915:5300 -a "$alt" -t 64 -U "$W/up$alt.bin" >"$W/u$alt.txt" 2>&1
	check "dfu-util -a $alt -U gives back the same bytes" cmp -s "$W/up$alt.bin" "$img"
done
# dfu-mgr's own transfers over the same path (its update cannot run here: COMMIT and
# SECTOR_DIGESTS carry more than 64 bytes of OUT data)
"$DFUMGR" list >"$W/list.txt" 2>&1
check "dfu-mgr list: the board, its serial and the shim's product" \
	bash -c "grep -q NRF5340-0000000000000000 '$W/list.txt' && grep -q nrf5340dk-shim '$W/list.txt'"
"$DFUMGR" download -q -S NRF5340-0000000000000000 -a image-1 -t 64 "$W/p1.bin" >"$W/dm.txt" 2>&1
rc=$?
check "dfu-mgr download -a image-1 -t 64 (raw data this time): exit 0" test $rc -eq 0
check "dfu-mgr download: the bytes are in the update slot" in_flash "$W/p1.bin" "$SEC1"
"$DFUMGR" upload -q -S NRF5340-0000000000000000 -a image-1 -t 64 "$W/um.bin" >"$W/um.txt" 2>&1
check "dfu-mgr upload -a image-1 gives back the same bytes" cmp -s "$W/um.bin" "$W/p1.bin"
cleanup
# the glue's count of blocks taken while the block before was still being programmed
line=$(grep -a "alt 1: .* taken while the one before was in flash" "$W/zephyr.log" | head -n 1)
n=$(sed -n 's/.*alt 1: \([0-9]*\) blocks, \([0-9]*\) taken.*/\1 \2/p' <<<"$line")
set -- $n
check "pipelined under dfu-util: ${2:-?} of ${1:-?} blocks taken while the one before was programmed" \
	test "${2:-0}" -ge $((${1:-4} / 4))
check "no health failure, no fault" bash -c "! grep -aq 'Health check failed\|FATAL' '$W/zephyr.log'"
echo "native_dfu_util: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
