#!/usr/bin/env bash
# The main job, hardware-free: install what is needed, build dfu-mgr and the example nRF5340 app
# (internal flash + QSPI XIP code), pack the app into a signed bundle of two MCUboot images,
# check it the way the updater does, and update an emulated nRF5340 board with it over USB.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
DFU=./build/dfu-mgr
OUT=build/demo
rm -rf "$OUT" && mkdir -p "$OUT"
ELF=build/examples/xip-app/xip-app.elf

echo
echo "== 1. The example app spans internal flash and QSPI XIP: one MCUboot image cannot hold it"
$DFU inspect "$ELF"
echo
echo "== 2. A development signing key (keep real keys offline)"
$DFU keygen -o "$OUT/dev-key.pem"
echo
echo "== 3. Pack: split by load address into image 0 (internal) + image 1 (QSPI), sign, bundle"
$DFU pack --version 1.0.0+1 --key "$OUT/dev-key.pem" --product xip-app -o "$OUT/bundle" "$ELF"
echo
echo "== 4. Verify the bundle as the updater does before it touches a device"
$DFU verify-bundle --key "$OUT/dev-key.pub.pem" "$OUT/bundle"
$DFU inspect --key "$OUT/dev-key.pub.pem" "$OUT/bundle"/*.bin
echo
# The boards are emulated and attached through Linux's vhci-hcd (USB/IP). Where the running
# kernel has no vhci-hcd (CI machines, containers), a small VM with Debian's kernel runs that part.
if [ "$(id -u)" -eq 0 ] && { [ -e /sys/devices/platform/vhci_hcd.0/attach ] || modprobe vhci-hcd 2>/dev/null; }; then
	export DFUMGR_VM=none
fi
tests/vm/vm-run -- scripts/demo-in-vm.sh "$PWD/build" "$PWD/$OUT/bundle" "$PWD/$OUT/dev-key.pub.pem"
echo
echo "demo: OK (bundle in $OUT/bundle)"
