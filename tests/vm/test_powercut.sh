#!/usr/bin/env bash
# End to end over real USB (vhci-hcd, usbfs, libusb, udev): dfu-mgr update of emulated boards
# with a full-size pair (512 KiB + 1 MiB), the board's power cut after flash write N (the
# emulator's cut-after-write knob), for a sample of N across the download, the commit, MCUboot's
# swap and the application's confirm. Each time the board must come back running the old pair
# or the new pair, and a second update must install the new pair. The whole matrix, every write,
# runs in process (unit.test_powercut, scripts/powercut-matrix.sh).
. "$(dirname "$0")/lib.sh"

KEY="$D/key-A.pem"
PUB="$D/key-A-pub.pem"
OLD="1.0.0+0 1.0.0+0 confirmed"
NEW="2.0.0+1 2.0.0+1 confirmed"
head -c $((512 * 1024)) /dev/urandom >"$T/int.bin"
head -c $((1024 * 1024)) /dev/urandom >"$T/qspi.bin"
run pack --version 2.0.0+1 --key "$KEY" --product xip-app -o "$T/b200" --internal "$T/int.bin" \
	--qspi "$T/qspi.bin"
expect_rc 0 "pack a 512 KiB + 1 MiB pair"

emu_start 1 || { echo "FAIL - board did not attach"; exit 1; }
B=EMU-0001

# the uncut update, counted: every erase and program, the board's and MCUboot's
emu_ctl fault "$B" cut-after-write 4294967295 >/dev/null
t0=$(now)
run update -k "$PUB" -S "$B" "$T/b200"
expect_rc 0 "the uncut update"
echo "vm: uncut update of $B in $(elapsed "$t0") s"
W=$(board_field "$B" 'd["flash_writes"]')
PRE=$(board_field "$B" 'd["mcuboot_writes_before"]')
M=$(board_field "$B" 'd["mcuboot_writes"]')
SWAP_US=$(board_field "$B" 'd["swap_us"]')
C=$((W - PRE - M))
echo "vm: powercut: the update makes $W flash writes: $PRE before the reboot (downloads, commit)," \
	"$M by MCUboot ($(awk -v u="$SWAP_US" 'BEGIN { printf "%.1f", u / 1e6 }') s of flash time)," \
	"$C by the confirm"
expect_true "the uncut update runs the new pair" test "$(running "$B")" = "$NEW"
expect_true "MCUboot wrote and the application confirmed" test "$M" -gt 100 -a "$C" -ge 1

# name:N pairs: the first write, mid-download, the commit's writes, the swap, the confirm
cuts="download-start:1 download-middle:$((PRE / 2)) commit-first:$((PRE - 3))"
cuts="$cuts commit-between-images:$((PRE - 1)) swap-first:$((PRE + 1))"
cuts="$cuts swap-middle:$((PRE + M / 2)) swap-last:$((PRE + M)) confirm-first:$((PRE + M + 1))"
n_old=0
n_new=0
n_mixed=0
i=0
for c in $cuts; do
	name=${c%%:*}
	N=${c#*:}
	i=$((i + 1))
	S=EMU-CUT$i
	emu_ctl add "$S" >/dev/null
	wait_board "$S" runtime 20 || { bad "board $S did not come up"; continue; }
	emu_ctl fault "$S" cut-after-write "$N" >/dev/null
	run update -k "$PUB" -S "$S" "$T/b200"
	rc1=$RC
	wait_board "$S" runtime 60
	r=$(running "$S")
	case "$r" in
	"$OLD") n_old=$((n_old + 1)); outcome="old pair" ;;
	"$NEW") n_new=$((n_new + 1)); outcome="new pair" ;;
	*) n_mixed=$((n_mixed + 1)); outcome="MIXED: $r" ;;
	esac
	echo "vm: powercut: cut after write $N ($name): update exit $rc1, the board runs the $outcome"
	expect_true "cut after write $N ($name): old or new pair, not a mix ($r)" \
		test "$r" = "$OLD" -o "$r" = "$NEW"
	run update -k "$PUB" -S "$S" "$T/b200"
	expect_rc 0 "cut after write $N ($name): a re-run of the update"
	expect_true "cut after write $N ($name): then the new pair runs" test "$(running "$S")" = "$NEW"
done
echo "vm: powercut: $i cases, old pair $n_old, new pair $n_new, mixed $n_mixed"
tail -3 "$T/emu.log"
finish
