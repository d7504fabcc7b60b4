#!/usr/bin/env bash
# The pair promise, enforced by the board on its own (issue 9): over real USB, with the raw
# requests stock dfu-util or a script sends, and with cut transfers and resets, an emulated
# board (firmware/core, the shipped code) always ends up running a consistent pair, and every
# refused request gets a DFU error or a refusal the board explains in GET_INFO.
. "$(dirname "$0")/lib.sh"

ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
KEY="$D/key-A.pem"
PUB="$D/key-A-pub.pem"
USBREQ="$DFUMGR_BUILD_DIR/tests/usbreq"
S=EMU-0001
run pack --version 2.0.0+0 --key "$KEY" --product xip-app -o "$T/b2" "$ELF"
expect_rc 0 "pack the example app as 2.0.0+0"
run pack --version 2.0.0+0 --key "$KEY" --product gait-sensor -o "$T/other" "$ELF"
expect_rc 0 "pack the same app for another product"

req() { "$USBREQ" "$S" "$@"; }
# GET_INFO fields (protocol 2 layout, include/dfumgr/wire.h)
info_byte() { req in 0xc1 0x40 0 0 160 | python3 -c "import sys; print(bytes.fromhex(sys.stdin.read().strip())[$1])"; }
last_error() { info_byte 2; }
commit_state() { info_byte 3; }
slot_state() { board_field "$S" "d['images'][$1]['secondary_state']"; }
to_dfu() {
	dfu-util -S "$S" -e >/dev/null 2>&1
	wait_board "$S" dfu 20
}
power_cycle() {
	emu_ctl reset "$S" >/dev/null
	wait_board "$S" runtime 20
}
# COMMIT's 76 bytes: version 2, 2 images, flags; per image u32 length + SHA-256
commit_hex() { # commit_hex LEN0 FILE0 LEN1 FILE1
	python3 - "$@" <<-'PY'
		import hashlib, struct, sys
		out = bytes([2, 2, 0, 0])
		for n, f in ((int(sys.argv[1]), sys.argv[2]), (int(sys.argv[3]), sys.argv[4])):
		    out += struct.pack("<I", n) + hashlib.sha256(open(f, "rb").read()[:n]).digest()
		print(out.hex())
	PY
}
I0="$T/b2/internal.bin"
I1="$T/b2/qspi.bin"
N0=$(stat -c %s "$I0")
N1=$(stat -c %s "$I1")

emu_start 1 || { echo "FAIL - board did not attach"; exit 1; }
expect_true "factory pair runs" test "$(running $S)" = "1.0.0+0 1.0.0+0 confirmed"

# --- path 1: a plain download of an image padded to the slot with a trailer --------------
# what `imgtool sign --pad --confirm` makes and `dfu-util -a image-1 -D` sends: image,
# 0xff up to the slot's end, image_ok = 1 and the boot magic in the last 24 bytes
python3 - "$I1" "$T/pad1.bin" <<-'PY'
	import sys
	img = open(sys.argv[1], "rb").read()
	slot = 0x370000
	t = bytearray(b"\xff" * (slot - len(img)))
	t[-24] = 1
	t[-16:] = bytes.fromhex("77c295f360d2ef7f3552500f2cb67980")
	open(sys.argv[2], "wb").write(img + bytes(t))
PY
to_dfu
dfu-util -S "$S" -a image-1 -D "$T/pad1.bin" >"$T/p1.txt" 2>&1
rc=$?
expect_true "path 1: dfu-util's download of a padded image with a trailer fails (rc $rc)" test $rc -ne 0
expect_true "path 1: with the DFU error errADDRESS (status 8)" grep -q 'status(8)' "$T/p1.txt"
expect_true "path 1: the board says why (last error 11, trailer region): $(last_error)" test "$(last_error)" = 11
expect_true "path 1: image 1 is not marked ($(slot_state 1))" test "$(slot_state 1)" = written
run download -S "$S" -a image-1 "$T/pad1.bin"
expect_rc 65 "path 1: dfu-mgr download refuses it before writing"
expect_err "imgtool sign --pad --confirm" "and says what the file is"
expect_err "dfu-mgr commit" "and what to send instead"
power_cycle
expect_true "path 1: after a reset the old pair runs ($(running $S))" test "$(running $S)" = "1.0.0+0 1.0.0+0 confirmed"

# --- path 2: a correct COMMIT, then one DNLOAD block to image 0 ---------------------------
to_dfu
dfu-util -S "$S" -a image-1 -D "$I1" >/dev/null 2>&1
dfu-util -S "$S" -a image-0 -D "$I0" >/dev/null 2>&1
req out 0x41 0x43 0 0 "$(commit_hex "$N0" "$I0" "$N1" "$I1")"
expect_true "path 2: raw COMMIT accepted" test $? -eq 0
for _ in $(seq 1 100); do [ "$(commit_state)" = 1 ] || break; sleep 0.05; done
expect_true "path 2: the commit is done ($(commit_state))" test "$(commit_state)" = 2
expect_true "path 2: both images pending" test "$(slot_state 0) $(slot_state 1)" = "pending pending"
head -c 4096 "$I0" >"$T/blk.bin"
dfu-util -S "$S" -a image-0 -D "$T/blk.bin" >"$T/p2.txt" 2>&1
expect_true "path 2: one block to image 0 un-pends BOTH ($(slot_state 0) $(slot_state 1))" \
	test "$(slot_state 0) $(slot_state 1)" = "written written"
power_cycle
expect_true "path 2: after a reset the old pair runs ($(running $S))" test "$(running $S)" = "1.0.0+0 1.0.0+0 confirmed"

# --- path 3: a cut image-0 download, a reset, a COMMIT of the bytes that landed ----------
# (the example's image 0 is one block: the power goes in the middle of it)
CUT=$((N0 / 2))
to_dfu
dfu-util -S "$S" -a image-1 -D "$I1" >/dev/null 2>&1
emu_ctl fault "$S" power-cut 0 "$CUT" >/dev/null
dfu-util -S "$S" -a image-0 -D "$I0" >/dev/null 2>&1
wait_board "$S" runtime 20
expect_true "path 3: the power went after $CUT bytes of image 0 ($(board_field "$S" "d['boots']") boots)" \
	test "$(board_field "$S" "d['boots']")" -ge 4
emu_ctl fault "$S" clear >/dev/null
to_dfu
req out 0x41 0x43 0 0 "$(commit_hex "$CUT" "$I0" "$N1" "$I1")"
rc=$?
expect_true "path 3: COMMIT of the partial image 0 after a reset is STALLed (usbreq $rc)" test $rc -eq 3
expect_true "path 3: the board says why (last error 10, not written this session): $(last_error)" test "$(last_error)" = 10
req out 0x41 0x43 0 0 "$(commit_hex "$N0" "$I0" "$N1" "$I1")"
rc=$?
expect_true "path 3: the full lengths are refused too: nothing was written in this session (usbreq $rc)" test $rc -eq 3
expect_true "path 3: nothing marked ($(slot_state 0) $(slot_state 1))" test "$(slot_state 0) $(slot_state 1)" = "written written"
power_cycle
expect_true "path 3: after a reset the old pair runs ($(running $S))" test "$(running $S)" = "1.0.0+0 1.0.0+0 confirmed"

# --- stock dfu-util then `dfu-mgr commit` in the same DFU session still works -----------
to_dfu
dfu-util -S "$S" -a image-1 -D "$I1" >/dev/null 2>&1
dfu-util -S "$S" -a image-0 -D "$I0" >/dev/null 2>&1
run commit -k "$PUB" -S "$S" "$T/b2"
expect_rc 0 "dfu-util's two downloads, then dfu-mgr commit"
wait_board "$S" runtime 20
expect_true "the new pair runs and is confirmed ($(running $S))" test "$(running $S)" = "2.0.0+0 2.0.0+0 confirmed"

# --- the pair carries its identity ---------------------------------------------------------
emu_stop
rm -rf "$EMU_DIR"
emu_start 1 --product gait-sensor || { echo "FAIL - board did not attach"; exit 1; }
run update -k "$PUB" -S "$S" "$T/b2"
expect_rc 65 "a bundle for another product is refused"
expect_err '"xip-app"' "the message names the bundle's product"
expect_err '"gait-sensor"' "and the board's"
expect_true "nothing was downloaded ($(board_field "$S" "d['images'][1]['downloaded']"))" \
	test "$(board_field "$S" "d['images'][1]['downloaded']")" = 0
run update -k "$PUB" -S "$S" -d 1234:5678 "$T/other"
expect_rc 65 "-d cannot override the manifest's VID:PID"
expect_err "1915:5300" "and the message names the manifest's"
run update -k "$PUB" -S "$S" "$T/other"
expect_rc 0 "the bundle made for this product installs"
expect_true "and runs ($(running $S))" test "$(running $S)" = "2.0.0+0 2.0.0+0 confirmed"
finish
