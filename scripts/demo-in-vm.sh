#!/usr/bin/env bash
# The main job on emulated hardware (run by scripts/demo.sh inside the VM test bed, or directly
# as root on a Linux machine with vhci-hcd): two emulated nRF5340 boards appear on the USB bus;
# dfu-mgr lists them, updates one with the paired bundle, and verifies what it runs.
set -euo pipefail
B=${1:?build directory}
BUNDLE=${2:?bundle directory}
PUB=${3:?public key}
DIR=$(mktemp -d /tmp/dfumgr-demo.XXXXXX)
EMU="$B/firmware/emu/dfu-mgr-emu"
"$EMU" -a -l none -n 2 -d "$DIR" -c "$DIR/ctl.sock" -q >/dev/null &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null; wait $EMU_PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 200); do
	[ "$(cat /sys/bus/usb/devices/*/serial 2>/dev/null | grep -c NRF5340-EMU)" -ge 2 ] && break
	sleep 0.1
done
udevadm settle 2>/dev/null || true

echo "== 5. Two emulated nRF5340 boards on a real USB stack (vhci-hcd, usbfs, libusb)"
"$B/dfu-mgr" list
echo
echo "== 6. Paired update of NRF5340-EMU-0001: image 1 (QSPI), image 0 (internal), device digests, commit, reboot"
"$B/dfu-mgr" update --key "$PUB" --serial NRF5340-EMU-0001 "$BUNDLE"
echo
echo "== 7. What each board runs now (device digests of the running slots)"
"$B/dfu-mgr" verify --key "$PUB" --serial NRF5340-EMU-0001 "$BUNDLE"
if "$B/dfu-mgr" verify --key "$PUB" --serial NRF5340-EMU-0002 "$BUNDLE" >/dev/null 2>&1; then
	echo "unexpected: the board that was not updated matches the bundle" >&2
	exit 1
fi
echo "NRF5340-EMU-0002 still runs its factory pair, as it should."
"$EMU" ctl -c "$DIR/ctl.sock" state NRF5340-EMU-0001 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("emulator: %s, image 0 %s, image 1 %s, last boot: %s" % (d["app"], d["images"][0]["running"], d["images"][1]["running"], d["last_boot"]))'
