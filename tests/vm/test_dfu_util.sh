#!/usr/bin/env bash
# Interop with stock dfu-util over real USB: list, detach, download and upload of both alts on
# emulated boards (timing none and real), 8 boards at once, and usbip attach/detach over TCP
# seen by libusb hotplug.
. "$(dirname "$0")/lib.sh"

emu_start 8 || { echo "FAIL - 8 boards did not attach"; exit 1; }
dfu-util -l >"$T/l.txt" 2>&1
n=$(grep -c 'Found Runtime: \[1915:5300\]' "$T/l.txt")
serials=$(grep -o 'serial="EMU-[0-9]*"' "$T/l.txt" | sort -u | wc -l)
expect_true "dfu-util -l: 8 boards in runtime mode ($n)" test "$n" -eq 8
expect_true "dfu-util -l: 8 distinct serials ($serials)" test "$serials" -eq 8

# dfu-util's detach moves a board from runtime to DFU mode
t0=$(now)
dfu-util -S EMU-0003 -e >"$T/e.txt" 2>&1
wait_board EMU-0003 dfu 10
echo "dfu-util -e -> DFU mode in $(elapsed "$t0") s"
dfu-util -S EMU-0003 -l >"$T/l3.txt" 2>&1
expect_true "DFU mode: alt 0 named image-0" grep -q 'Found DFU: \[1915:5300\].*alt=0, name="image-0", serial="EMU-0003"' "$T/l3.txt"
expect_true "DFU mode: alt 1 named image-1" grep -q 'Found DFU: \[1915:5300\].*alt=1, name="image-1", serial="EMU-0003"' "$T/l3.txt"

# the largest image-1 download the board takes (0x370000 less MCUboot's trailer sectors and
# swap-move's spare sector: GET_INFO's image limit, 0x36b000), and 512 KiB
head -c $((0x370000 - 0x5000)) /dev/urandom >"$T/img1.bin"
head -c $((512 * 1024)) /dev/urandom >"$T/img0.bin"
xfer() { # xfer SERIAL ALT FILE LABEL
	local t0 s rc
	t0=$(now)
	dfu-util -S "$1" -a "$2" -D "$3" >"$T/d.txt" 2>&1
	rc=$?
	s=$(elapsed "$t0")
	expect_true "dfu-util -a $2 -D $(stat -c %s "$3") bytes ($4)" test $rc -eq 0
	awk -v n="$(stat -c %s "$3")" -v s="$s" -v l="$4" -v a="$2" \
		'BEGIN { printf "bench: dfu-util download %s %s: %d bytes in %.2f s = %.0f KiB/s\n", a, l, n, s, n / 1024 / s }'
	rm -f "$T/up.bin"
	t0=$(now)
	dfu-util -S "$1" -a "$2" -U "$T/up.bin" >"$T/u.txt" 2>&1
	echo "bench: dfu-util upload $2 $4: $(elapsed "$t0") s"
	expect_true "dfu-util -a $2 -U gives back the same bytes ($4)" cmp -s "$T/up.bin" "$3"
}
xfer EMU-0003 image-1 "$T/img1.bin" "timing none"
xfer EMU-0003 image-0 "$T/img0.bin" "timing none"
reqs=$(board_field EMU-0003 'd["requests"]')
cpu=$(board_field EMU-0003 'd["request_cpu_ns"]')
awk -v r="$reqs" -v c="$cpu" 'BEGIN { printf "bench: emulator CPU per control request: %.1f us over %d requests\n", c / r / 1000, r }'
emu_stop

# --timing real: datasheet erase/program times through bwPollTimeout
rm -rf "$EMU_DIR"
emu_start 1 --timing real || { echo "FAIL - board did not attach"; exit 1; }
dfu-util -S EMU-0001 -e >/dev/null 2>&1
wait_board EMU-0001 dfu 10
head -c $((256 * 1024)) /dev/urandom >"$T/r1.bin"
xfer EMU-0001 image-1 "$T/r1.bin" "timing real"
emu_stop

# TCP mode: usbip attach/detach is a plug/unplug for libusb hotplug
rm -rf "$EMU_DIR"
mkdir -p "$EMU_DIR"
"$EMU" -l 127.0.0.1:3240 -n 1 -d "$EMU_DIR" -c "$EMU_SOCK" -p TCP >"$T/emu.out" 2>"$T/emu.log" &
EMU_PID=$!
sleep 0.5
usbip list -r 127.0.0.1 >"$T/ul.txt" 2>&1
expect_true "usbip list -r shows the board" grep -q '1-1' "$T/ul.txt"
"$DFUMGR_BUILD_DIR/tests/hotplug_watch" 300 >"$T/hp.txt" 2>&1 &
HP=$!
for _ in $(seq 1 100); do grep -q watching "$T/hp.txt" && break; sleep 0.1; done
t0=$(now)
usbip attach -r 127.0.0.1 -b 1-1 >"$T/ua.txt" 2>&1
for _ in $(seq 1 100); do [ "$(usb_count TCP-)" -ge 1 ] && break; sleep 0.1; done
echo "usbip attach: board enumerated in $(elapsed "$t0") s"
expect_true "usbip attach: the kernel sees the board" test "$(usb_count TCP-)" -eq 1
port=$(usbip port 2>/dev/null | sed -n 's/^Port \([0-9]*\):.*/\1/p' | head -1)
sleep 1
usbip detach -p "$port" >/dev/null 2>&1
for _ in $(seq 1 100); do grep -q '^left' "$T/hp.txt" && break; sleep 0.1; done
kill $HP 2>/dev/null; wait $HP 2>/dev/null
expect_true "libusb hotplug saw the arrival" grep -q '^arrived' "$T/hp.txt"
expect_true "libusb hotplug saw the departure" grep -q '^left' "$T/hp.txt"
finish
