#!/usr/bin/env bash
# End to end over real USB (vhci-hcd, usbfs, libusb, udev): dfu-mgr update of emulated nRF5340
# boards from a bundle made by dfu-mgr pack; verify; the fault matrix; interop with stock
# dfu-util writing the slots and dfu-mgr committing them.
. "$(dirname "$0")/lib.sh"

ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
KEY="$D/key-A.pem"
PUB="$D/key-A-pub.pem"
run pack --version 1.1.0+1 --key "$KEY" --product xip-app -o "$T/b110" "$ELF"
expect_rc 0 "pack the example app"
run pack --version 1.2.0+0 --key "$KEY" --product xip-app -o "$T/b120" "$ELF"
run pack --version 0.9.0+0 --key "$KEY" --product xip-app -o "$T/b090" "$ELF"
head -c 3800000 /dev/urandom >"$T/big.bin"
head -c 20000 /dev/urandom >"$T/small.bin"
run pack --version 2.0.0 --key "$KEY" --product xip-app --slot-size1 0x400000 -o "$T/big" --internal "$T/small.bin" --qspi "$T/big.bin"
expect_rc 0 "pack a bundle whose image 1 is bigger than the board's slot"

emu_start 2 || { echo "FAIL - boards did not attach"; exit 1; }
B1=EMU-0001
B2=EMU-0002

run list --json
expect_rc 0 "dfu-mgr list"
expect_true "both boards listed" grep -q "$B2" <<<"$OUT"

t0=$(now)
run update -k "$PUB" -S "$B1" "$T/b110"
expect_rc 0 "update $B1 over real USB"
echo "update of $B1: $(elapsed "$t0") s"
expect_out "now running    image 0 1.1.0+1, image 1 1.1.0+1" "report says the new pair runs"
expect_out "device read-back SHA-256" "verified by the device's digests"
expect_true "emulator: both swapped and confirmed" test "$(running $B1)" = "1.1.0+1 1.1.0+1 confirmed"
expect_true "emulator: the other board untouched" test "$(running $B2)" = "1.0.0+0 1.0.0+0 confirmed"
run verify -k "$PUB" -S "$B1" "$T/b110"
expect_rc 0 "verify passes on the updated board"
run verify -k "$PUB" -S "$B2" "$T/b110"
expect_rc 1 "verify fails on a board with other images"
expect_err "does not run the bundle's image 0" "and says which image"

# --- the fault matrix: error, non-zero exit, old pair still boots, a re-run succeeds ---
fault() { # fault NAME CTL-ARGS... -- WANT_RC WANT_TEXT
	local name=$1 want text line
	shift
	local args=()
	while [ "$1" != "--" ]; do args+=("$1"); shift; done
	want=$2
	text=$3
	emu_ctl fault "$B2" "${args[@]}" >/dev/null
	# every byte sent, so that each fault's offset is reached: without --no-skip a run after
	# an earlier fault sends only the sectors the slots do not hold yet
	run update --no-skip -k "$PUB" -S "$B2" "$T/b110"
	expect_rc "$want" "fault $name: update fails"
	# the error line itself (progress lines always make stderr non-empty)
	line=$(grep '^dfu-mgr: update: ' <<<"$ERR" | head -1)
	expect_true "fault $name: the error says what failed ('$text')" grep -qF -- "$text" <<<"$line"
	expect_out "outcome        " "fault $name: the report states the outcome"
	echo "       $line"
	emu_ctl fault "$B2" clear >/dev/null
	wait_board "$B2" runtime 20
	expect_true "fault $name: old pair still boots ($(running $B2))" test "$(running $B2)" = "1.0.0+0 1.0.0+0 confirmed"
}
fault "disconnect in image 1 at byte 0" disconnect 1 0 -- 75 "image 1 to board $B2"
fault "disconnect in image 1 at byte 120000" disconnect 1 120000 -- 75 "image 1 to board $B2"
fault "disconnect in image 1 at its last block" disconnect 1 266000 -- 75 "image 1 to board $B2"
fault "disconnect in image 0 at byte 100" disconnect 0 100 -- 75 "image 0 to board $B2"
fault "power cut in image 1 at byte 50000" power-cut 1 50000 -- 75 "image 1 to board $B2"
fault "power cut in image 0 at byte 300" power-cut 0 300 -- 75 "image 0 to board $B2"
fault "STALL of request 30" stall 30 -- 74 "$B2"
fault "flash program error in image 1" program-error 1 70000 -- 74 "errPROG"
fault "wrong digest from the device" wrong-digest 1 10 -- 1 "reads back wrong"
run update -k "$PUB" -S "$B2" "$T/b110"
expect_rc 0 "after all the faults, a re-run succeeds"
expect_out "not sent       " "and sends only the sectors its slots did not hold yet"
expect_true "and the pair runs" test "$(running $B2)" = "1.1.0+1 1.1.0+1 confirmed"

# --- refusals ---
run update -k "$PUB" -d 1234:5678 "$T/b120"
expect_rc 65 "another VID:PID than the manifest's is refused"
expect_err "1915:5300" "naming the manifest's VID:PID"
run update -k "$PUB" -S NOPE "$T/b120"
expect_rc 69 "wrong serial: no board"
run update -k "$PUB" -S "$B2" --allow-unsigned "$T/big"
expect_rc 65 "image 1 too big for the board's slot"
expect_err "does not fit" "says it does not fit"
run update -k "$PUB" -S "$B2" "$T/b090"
expect_rc 65 "downgrade refused"
expect_err "--allow-downgrade" "and says how to force it"
expect_true "refusals left the board alone" test "$(running $B2)" = "1.1.0+1 1.1.0+1 confirmed"
run update -k "$PUB" -S "$B2" --allow-downgrade "$T/b090"
expect_rc 0 "downgrade with --allow-downgrade"

# --- interop: stock dfu-util writes both slots, dfu-mgr verifies and commits ---
run detach -S "$B1"
expect_rc 0 "dfu-mgr detach"
wait_board "$B1" dfu 10
t0=$(now)
dfu-util -S "$B1" -a image-1 -D "$T/b120/qspi.bin" >"$T/du1.log" 2>&1
rc1=$?
dfu-util -S "$B1" -a image-0 -D "$T/b120/internal.bin" >"$T/du0.log" 2>&1
rc0=$?
echo "dfu-util wrote both images in $(elapsed "$t0") s"
expect_true "dfu-util -a image-1 -D" test $rc1 -eq 0
expect_true "dfu-util -a image-0 -D" test $rc0 -eq 0
run commit -k "$PUB" -S "$B1" "$T/b120"
expect_rc 0 "dfu-mgr commit of what dfu-util wrote"
expect_true "the pair written by dfu-util runs" test "$(running $B1)" = "1.2.0+0 1.2.0+0 confirmed"
# --- a plain DFU 1.1 device (no shim): still updated, verified by DFU_UPLOAD read-back ---
emu_ctl plain "$B2" on >/dev/null
run update -k "$PUB" -S "$B2" "$T/b120"
expect_rc 0 "a plain DFU 1.1 device is updated"
expect_out "DFU_UPLOAD read-back" "verified by reading both alts back"
expect_out "plain DFU 1.1" "and the report says it is not a dfu-mgr shim"
expect_out "runs the new image at its next restart" "and what the device does next"
run verify -k "$PUB" -S "$B2" "$T/b120"
expect_rc 65 "verify needs the shim's digests"
expect_err "does not speak the dfu-mgr shim protocol" "and says so"

# --- two plain DFU boards without serial numbers: the one picked by path is the one written ---
# Board 1 already waits in DFU mode; the user picks board 2 by its port. Found again after the
# detach by serial alone ("" matches ""), board 1 would be written and board 2 never.
usb_path() { basename "$(dirname "$(grep -lx "$1" /sys/bus/usb/devices/*/serial)")"; }
# serial_less PATH MODE: the device at PATH has no serial and its board is in MODE
serial_less() {
	[ -e "/sys/bus/usb/devices/$1/idVendor" ] && [ ! -e "/sys/bus/usb/devices/$1/serial" ] &&
		[ "$(board_field "$2" 'd["mode"]')" = "$3" ]
}
wait_serial_less() { # PATH BOARD MODE
	local end=$((SECONDS + 20))
	until serial_less "$@"; do
		[ $SECONDS -lt $end ] || { echo "board $2 at $1 not back in $3 mode without serial"; return 1; }
		sleep 0.2
	done
	udevadm settle 2>/dev/null || true
}
downloaded() { board_field "$1" 'd["images"][0]["downloaded"] + d["images"][1]["downloaded"]'; }
# what a board holds, running or waiting: "running0/secondary0 running1/secondary1"
holds() { board_field "$1" '" ".join("%s/%s" % (i["running"], i["secondary"]) for i in d["images"])'; }
P1=$(usb_path "$B1")
P2=$(usb_path "$B2")
emu_ctl plain "$B1" on >/dev/null
for b in "$B1" "$B2"; do
	emu_ctl serial "$b" off >/dev/null
	emu_ctl reset "$b" >/dev/null
done
wait_serial_less "$P1" "$B1" runtime && wait_serial_less "$P2" "$B2" runtime
dfu-util -p "$P1" -e >/dev/null 2>&1
wait_serial_less "$P1" "$B1" dfu
held1=$(holds "$B1")
run list
expect_true "two boards without serial numbers listed ($P1 in DFU mode, $P2)" \
	test "$(grep -cE "path ($P1|$P2) " <<<"$OUT")" -ge 2
run update -k "$PUB" -p "$P2" "$T/b110"
expect_rc 0 "update -p $P2 of a serial-less plain board while $P1 waits in DFU mode"
expect_out "$P2" "the report names the board picked"
expect_true "board 2 ($P2) holds 1.1.0+1 in both images ($(holds "$B2"))" \
	test "$(holds "$B2" | grep -o '1\.1\.0+1' | wc -l)" -ge 2
expect_true "board 1 ($P1, already in DFU mode) received nothing" test "$(downloaded "$B1")" = 0
expect_true "board 1 holds what it held ($held1)" test "$(holds "$B1")" = "$held1"
expect_true "board 1 is still in DFU mode" test "$(board_field "$B1" 'd["mode"]')" = dfu
emu_ctl serial "$B1" on >/dev/null
emu_ctl serial "$B2" on >/dev/null
emu_ctl plain "$B1" off >/dev/null
emu_ctl plain "$B2" off >/dev/null
tail -3 "$T/emu.log"
finish
