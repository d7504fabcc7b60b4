#!/usr/bin/env bash
# Every dfu-mgr command outside the VM: the device commands run in dfu-mgr-loop, the CLI's own
# sources built over in-process emulated boards (tests/support/cli_loop.c), whose flash files
# persist between runs, so each check asserts what the board holds afterwards (from `list
# --json` and the board's own slots), not only exit codes.
. "$(dirname "$0")/lib.sh"
: "${DFUMGR_LOOP_CLI:?path of dfu-mgr-loop}"
export DFUMGR_LOOP_DIR="$T/boards"
export DFUMGR_KEYDIR="$T/no-default-keys"
PUB="$D/key-A-pub.pem"
KEY="$D/key-A.pem"

# board_json SERIAL 'python expression over b (its list --json entry)'
board_json() {
	"$DFUMGR_LOOP_CLI" list --json -S "$1" | python3 -c "import json,sys; b=json.load(sys.stdin)['devices'][0]; print($2)"
}
running() { board_json "$1" '"%s %s" % (b["shim"]["images"][0]["running_version"], b["shim"]["images"][1]["running_version"])'; }
mode() { board_json "$1" 'b["mode"]'; }

# --- keygen: atomic, private key 0600, refuses to overwrite ---
run keygen -o "$T/k.pem"
expect_rc 0 "keygen"
expect_true "private key is mode 0600" test "$(stat -c %a "$T/k.pem")" = 600
expect_true "public key written" grep -q "BEGIN PUBLIC KEY" "$T/k.pub.pem"
expect_true "no temporary file left" test -z "$(ls "$T" | grep '\.tmp\.')"
cp "$T/k.pem" "$T/k.before"
run keygen -o "$T/k.pem"
expect_rc 73 "keygen refuses to overwrite a key"
expect_true "the old key is untouched" cmp "$T/k.pem" "$T/k.before"

# --- pack, sign, verify-bundle, inspect ---
run pack --version 1.1.0+1 --key "$KEY" --product xip-app -o "$T/b110" "$D/app.elf"
expect_rc 0 "pack 1.1.0+1"
run pack --version 1.2.0+0 --key "$KEY" --product xip-app --security-counter 4 -o "$T/b120" "$D/app.elf"
expect_rc 0 "pack 1.2.0+0 with security counter 4"
expect_true "the manifest carries the security counter" grep -q '"security_counter": 4' "$T/b120/manifest.json"
run pack --version 1.3.0+0 --key "$KEY" --product xip-app --security-counter 2 -o "$T/b130" "$D/app.elf"
run verify-bundle --key "$PUB" --json "$T/b110"
expect_rc 0 "verify-bundle --json"
expect_true "--json is JSON with the checks" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["checks"], d' "$OUT"
run inspect "$T/b110"
expect_rc 0 "inspect a bundle"
expect_out "1.1.0+1" "inspect shows the version"
cp -a "$T/b110" "$T/tampered"
printf 'X' | dd of="$T/tampered/qspi.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
cp "$T/tampered/manifest.json.sig" "$T/sig.before"
run sign --key "$KEY" "$T/tampered"
expect_rc 1 "sign refuses a bundle whose files do not match its manifest"
expect_err "refusing to sign" "and says so"
expect_true "the old signature is untouched" cmp "$T/tampered/manifest.json.sig" "$T/sig.before"

# --- list ---
L list
expect_rc 0 "list"
expect_out "LOOP-0001  1915:5300  runtime  path 9-1" "list shows board 1 on its port"
expect_out "LOOP-0002" "and board 2"
L list --json -S LOOP-0002
expect_true "list --json -S narrows to one board" python3 -c 'import json,sys; d=json.loads(sys.argv[1])["devices"]; assert len(d)==1 and d[0]["serial"]=="LOOP-0002", d' "$OUT"

# --- update: output and board state; progress as plain lines off a terminal ---
L update -k "$PUB" -S LOOP-0001 "$T/b110"
expect_rc 0 "update LOOP-0001"
expect_out "outcome        new pair running" "the report gives the outcome"
expect_out "now running    image 0 1.1.0+1, image 1 1.1.0+1" "and what runs"
expect_true "the board runs the new pair" test "$(running LOOP-0001)" = "1.1.0+1 1.1.0+1"
expect_true "the other board is untouched" test "$(running LOOP-0002)" = "1.0.0+0 1.0.0+0"
expect_true "progress: plain lines, no carriage returns, off a terminal" test -n "$ERR" -a "$(tr -cd '\r' <<<"$ERR" | wc -c)" -eq 0
expect_err "download image-1: 100%" "progress names the phase and image"
L update -k "$PUB" -S LOOP-0002 --json "$T/b110"
expect_rc 0 "update --json"
expect_true "--json report: outcome, phases, ok" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
assert d["ok"] and d["outcome"]=="new pair running" and d["outcome_code"]==3, d
assert float(d["phase_seconds"]["download"]) > 0 and float(d["seconds"]) > 0, d
assert d["path"]=="9-2" and d["committed"] and not d["cancelled"], d
assert d["bytes_skipped"] == 0 and d["sectors_skipped"] == [0, 0] and float(d["new_pair_seconds"]) > 0, d' "$OUT"
L update -k "$PUB" "$T/b110"
expect_rc 64 "two boards match: refused, not guessed"
expect_err "choose one with --serial or --path" "and says how to choose"
L update -k "$PUB" --allow-unsigned -S LOOP-0001 "$T/u-nonexistent"
expect_rc 66 "a missing bundle"

# --- security counter ---
L update -k "$PUB" -S LOOP-0001 "$T/b120"
expect_rc 0 "update to 1.2.0+0 (security counter 4)"
L update -k "$PUB" -S LOOP-0001 "$T/b130"
expect_rc 65 "1.3.0 with security counter 2 is refused"
expect_err "security counter 4" "naming the board's counter"
expect_true "the board still runs 1.2.0+0" test "$(running LOOP-0001)" = "1.2.0+0 1.2.0+0"

L verify --no-skip -k "$PUB" -S LOOP-0001 "$T/b120"
expect_rc 64 "--no-skip is for update only"
expect_err "--no-skip is an update option" "and says so"

# --- verify: result and its real time ---
L verify -k "$PUB" -S LOOP-0001 "$T/b120"
expect_rc 0 "verify: the board runs the bundle"
expect_true "verify reports a measured time, not 0.00 s" grep -qE "time +0\.0[0-9]*[1-9]|time +[1-9]" <<<"$OUT"
L verify -k "$PUB" -S LOOP-0002 "$T/b120"
expect_rc 1 "verify fails on a board with other images"
expect_err "does not run the bundle's image 0" "naming the image"

# --- detach, download, upload, commit: what stock dfu-util would do, then the pair commit ---
L detach -S LOOP-0002
expect_rc 0 "detach"
expect_out "LOOP-0002 is in DFU mode at 9-2" "detach says where the board is"
L download -S LOOP-0002 -a image-1 -q "$T/b120/qspi.bin"
expect_rc 0 "download image-1"
L download -S LOOP-0002 -a image-0 -q "$T/b120/internal.bin"
expect_rc 0 "download image-0"
L upload -S LOOP-0002 -a image-1 -n "$(stat -c %s "$T/b120/qspi.bin")" -q "$T/up1.bin"
expect_rc 0 "upload image-1"
expect_true "upload reads back exactly what was downloaded" cmp "$T/up1.bin" "$T/b120/qspi.bin"
L upload -S LOOP-0002 -a image-1 -q "$T/up1.bin"
expect_rc 73 "upload refuses to overwrite a file"
# each dfu-mgr-loop run boots the boards anew, as a power cycle between download and commit
# would: the board forgot its DFU session, so the commit is refused and nothing changes (the
# commit of a pair written by another tool in one session: unit test_update and VM test_update)
L commit -k "$PUB" -S LOOP-0002 "$T/b120"
expect_rc 65 "commit after the board restarted: refused by the board"
expect_err "not wholly written since the board entered DFU mode" "which says why"
expect_out "outcome        untouched" "the outcome says untouched"
expect_true "the board still runs its pair" test "$(running LOOP-0002)" = "1.1.0+1 1.1.0+1"

# --- reboot: the shim's REBOOT; a plain device in DFU mode gets a bus reset ---
L reboot -S LOOP-0001
expect_rc 0 "reboot a dfu-mgr board"
expect_out "back in runtime mode at 9-1" "and it is back"
DFUMGR_LOOP_QUIRKS=2:plain,2:dfu L reboot -S LOOP-0002
expect_rc 0 "reboot a plain DFU device in DFU mode"
expect_out "LOOP-0002 is back in runtime mode at 9-2" "a bus reset brought it to runtime mode"
DFUMGR_LOOP_QUIRKS=2:plain L reboot -S LOOP-0002
expect_rc 65 "a plain device in runtime mode has no reboot request"
expect_err "power-cycle it" "and says what to do"

# --- the wrong-board scenario through the CLI: -p picks 9-2, 9-1 already in DFU mode ---
export DFUMGR_LOOP_QUIRKS=1:plain,2:plain,1:noserial,2:noserial,1:dfu
L update -k "$PUB" -p 9-2 -q "$T/b130" --allow-downgrade
expect_rc 0 "update -p 9-2 of a serial-less plain board, the other one in DFU mode"
expect_out "at 9-2: OK" "the report names 9-2"
unset DFUMGR_LOOP_QUIRKS
# read both boards' image-1 slots back: 9-2 holds the bundle's image, 9-1 does not
L upload -p 9-2 -a image-1 -n "$(stat -c %s "$T/b130/qspi.bin")" -q "$T/w2.bin"
expect_rc 0 "upload image-1 of 9-2"
expect_true "9-2 was written" cmp "$T/w2.bin" "$T/b130/qspi.bin"
L upload -p 9-1 -a image-1 -n "$(stat -c %s "$T/b130/qspi.bin")" -q "$T/w1.bin"
expect_rc 0 "upload image-1 of 9-1"
expect_true "9-1 was not" test "$(cmp "$T/w1.bin" "$T/b130/qspi.bin" >/dev/null 2>&1; echo $?)" = 1

# --- cancelled by the endless-busy board's deadline? (SIGTERM is a VM test) usage errors ---
L update
expect_rc 64 "update without a bundle is a usage error"
run frobnicate
expect_rc 64 "unknown command"
for c in inspect pack sign verify-bundle keygen list update verify commit download upload detach reboot; do
	run "$c" --help
	expect_rc 0 "$c --help"
done
finish
