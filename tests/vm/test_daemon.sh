#!/usr/bin/env bash
# dfu-mgrd end to end over real USB (vhci-hcd, usbfs, udev hotplug, libusb) with emulated
# boards: a bundle renamed into the incoming directory brings every attached board to the
# release, a board plugged in later too; refused bundles leave the boards alone; SIGTERM during
# an update stops cleanly with the board on its old pair; systemd's notify protocol; no libcurl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../daemon/lib.sh"
trap 'daemon_stop KILL; kill $NOTIFY_PID 2>/dev/null; emu_stop; rm -rf "$T"' EXIT

ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
KEY="$D/key-A.pem"
pack() { "$DFUMGR" pack --key "$KEY" --product xip-app "$@" >/dev/null; }
pack --version 1.1.0+1 -o "$T/b110" "$ELF"
pack --version 0.9.0+0 -o "$T/b090" "$ELF"
"$DFUMGR" keygen -o "$T/other.pem" >/dev/null
"$DFUMGR" pack --version 1.5.0 --key "$T/other.pem" --product xip-app -o "$T/badsig" "$ELF" >/dev/null
cp -a "$T/b110" "$T/traversal"
sed -i 's|"file": "qspi.bin"|"file": "../../etc/passwd"|' "$T/traversal/manifest.json"
# a big image 1: its download takes long enough to stop the daemon in the middle of it
head -c 2500000 /dev/urandom >"$T/big.bin"
head -c 20000 /dev/urandom >"$T/small.bin"
pack --version 2.0.0+0 -o "$T/b200" --internal "$T/small.bin" --qspi "$T/big.bin"
expect_true "bundles made" test -f "$T/b200/manifest.json.sig" -a -f "$T/badsig/qspi.bin"

emu_start 2 || { echo "FAIL - boards did not attach"; exit 1; }
B1=EMU-0001 B2=EMU-0002 B3=EMU-0003

# --- systemd's side of the notify protocol, played by a test listener ---
NOTIFY="$T/notify.sock"
NLOG="$T/notify.log"
python3 "$DTESTS/notify_listen.py" "$NOTIFY" "$NLOG" &
NOTIFY_PID=$!
wait_until 5 test -S "$NOTIFY"
daemon_config "max_parallel = 4"
t0=$(now)
NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=1000000 daemon_start || { finish; exit 1; }
echo "daemon: dfu-mgrd up (socket answers) $(elapsed "$t0") s after start"
wait_until 5 grep -q READY=1 "$NLOG"
expect_true "notify: READY=1 with a STATUS=" grep -q "READY=1.*STATUS=" "$NLOG"
ready_line=$(grep -n READY=1 "$NLOG" | head -1 | cut -d: -f1)
expect_true "notify: nothing said READY=1 before the socket, watch and hotplug were set up" grep -q "Watching .* and USB for boards" "$DD/log"

# the daemon's view, without a python start per check (a second each under TCG)
present_boards() { [ "$("$DFUMGR" daemon boards --json | grep -cE '"present":\s*true')" -eq "$1" ]; }
up_to_date() { [ "$("$DFUMGR" daemon boards --json | grep -c '"up-to-date"')" -eq "$1" ]; }
wait_until 20 present_boards 2
run daemon boards --json
expect_true "both boards found (no release yet: status no-release, product xip-app, running 1.0.0+0)" json_true - \
	'len(d["boards"]) == 2 and all(b["status"] == "no-release" and b["product"] == "xip-app" and b["running"] == ["1.0.0+0", "1.0.0+0"] for b in d["boards"])' <<<"$OUT"

# --- a release arrives: both boards are brought to it, in parallel ---
t0=$(now)
publish "$T/b110" b110
both_at() { [ "$(running $B1)" = "$1 $1 confirmed" ] && [ "$(running $B2)" = "$1 $1 confirmed" ]; }
wait_until 120 up_to_date 2
echo "daemon: 2 boards updated in $(elapsed "$t0") s"
expect_true "both boards run 1.1.0+1, confirmed (emulator's view)" both_at 1.1.0+1
run status
expect_rc 0 "dfu-mgr status"
expect_out "2 connected: 2 up to date" "status: 2 up to date"
echo "$OUT" | sed 's/^/       /'
for b in $B1 $B2; do
	expect_true "history: $b attempt 1 then result ok, committed" hist_has \
		"r['event'] == 'result' and r['serial'] == '$b' and r['result'] == 'ok' and r['committed'] and r['after'] == ['1.1.0+1', '1.1.0+1'] and r['attempt'] == 1"
done
expect_true "history: the results say, as data, that the boards run the new pair" test \
	"$(hist_count "r['event'] == 'result' and r.get('outcome') == 'new pair running'")" -eq 2
expect_true "history: each phase recorded (detach, download, verify, commit, reboot)" test \
	"$(hist_count "r['event'] == 'phase' and r['serial'] == '$B1'")" -ge 5

# --- a board plugged in later is updated too ---
t0=$(now)
emu_ctl add "$B3" >/dev/null
wait_until 90 up_to_date 3
echo "daemon: a board plugged in later: updated $(elapsed "$t0") s after the plug"
expect_true "the new board $B3 runs 1.1.0+1" test "$(running $B3)" = "1.1.0+1 1.1.0+1 confirmed"

# --- refusals: the boards are left alone ---
mkdir "$DD/in/partial"
cp "$T/b090/manifest.json" "$DD/in/partial/"
publish "$T/b090" b090
publish "$T/badsig" badsig
publish "$T/traversal" traversal
reasons() { [ "$(ls "$DD/state/rejected" | grep -c '\.reason$')" -eq "$1" ]; }
wait_until 20 reasons 3
expect_true "downgrade bundle refused (reason: downgrades are off)" grep -q "downgrades are off" "$DD/state/rejected/b090.reason"
expect_true "bundle with an untrusted signature refused (reason names the signature)" grep -q "signature" "$DD/state/rejected/badsig.reason"
expect_true "bundle naming a file outside it refused (reason names the field)" grep -q "images\[1\].file" "$DD/state/rejected/traversal.reason"
expect_true "the partial bundle, made in place, is untouched" test -d "$DD/in/partial" -a ! -e "$DD/state/rejected/partial"
sleep 1
expect_true "no board was touched by them" test "$(running $B1)" = "1.1.0+1 1.1.0+1 confirmed" -a "$(hist_count "r['event'] == 'attempt'")" -eq 3

# --- control over the socket: pause, a manual update, subscribe ---
run daemon pause
expect_out "paused" "pause"
run daemon update NOPE
expect_rc 69 "update of an unknown board: no device"
run daemon update "$B1" 9.9.9
expect_rc 66 "update to a release the daemon does not hold: refused"

# --- SIGTERM in the middle of a download: the update is cancelled, the board keeps its pair ---
"$DFUMGR" daemon subscribe --json >"$T/events" 2>&1 &
SUB=$!
run daemon resume
publish "$T/b200" b200
wait_until 60 grep -q '"phase":"download"' "$T/events"
kill -TERM "$DPID"
t0=$(now)
daemon_stop TERM
rc=$?
echo "daemon: SIGTERM during a download: the daemon exited with $rc in $(elapsed "$t0") s"
expect_true "SIGTERM during a download: exit 0" test $rc -eq 0
wait $SUB 2>/dev/null
expect_true "notify: STOPPING=1 after READY=1" sh -c "grep -n STOPPING=1 '$NLOG' | head -1 | cut -d: -f1 | xargs test $ready_line -lt"
expect_true "notify: WATCHDOG=1 kept coming while it ran ($(grep -c WATCHDOG=1 "$NLOG") times)" test "$(grep -c WATCHDOG=1 "$NLOG")" -ge 2
expect_true "history: the cancelled updates say so" hist_has "r['event'] == 'result' and r['result'] == 'cancelled' and r['release'] == '2.0.0'"
expect_true "  and that their boards were left on the old pair (or untouched)" hist_has \
	"r['event'] == 'result' and r['result'] == 'cancelled' and r.get('outcome') in ('old pair running', 'untouched')"
expect_true "  and none of them needs recovery" test "$(hist_count "r.get('outcome') == 'needs recovery'")" -eq 0
expect_true "history: a clean stop" hist_has "r['event'] == 'stop'"
for b in $B1 $B2 $B3; do
	wait_board "$b" runtime 30 >/dev/null
	expect_true "$b: back on its old pair, whole ($(running $b))" test "$(running $b)" = "1.1.0+1 1.1.0+1 confirmed"
done

# --- restarted: it finishes what it had to do ---
t0=$(now)
daemon_start || { finish; exit 1; }
all_at() { for b in $B1 $B2 $B3; do [ "$(running $b)" = "2.0.0+0 2.0.0+0 confirmed" ] || return 1; done; }
wait_until 150 up_to_date 3
echo "daemon: after the restart, 3 boards updated to 2.0.0 (2.5 MB image 1) in $(elapsed "$t0") s"
expect_true "after a restart all 3 boards run 2.0.0+0" all_at
run history -S "$B1"
expect_out "cancelled" "dfu-mgr history -S: the cancelled attempt"
expect_out "result      $B1 2.0.0: ok" "and the successful one"

# --- no libcurl in the daemon's process ---
expect_true "libcurl is not mapped into dfu-mgrd" sh -c "! grep -q libcurl /proc/$DPID/maps"
expect_true "nor among its libraries (ldd)" sh -c "! ldd '$DFUMGRD' | grep -q curl"
daemon_stop
expect_true "stop: exit 0" test $? -eq 0

# --- as the unit runs it: not root, device access only through the udev rule's plugdev ---
udev_rule_on
plugdev=$(getent group plugdev | cut -d: -f3)
chmod 755 "$T"
chown -R 65534:65534 "$DD"
pack --version 2.1.0+0 -o "$T/b210" "$ELF"
chown -R 65534:65534 "$T/b210" # delivered as the daemon's user, as dfu-mgr-fetch.service does
setpriv --reuid=65534 --regid=65534 --groups="$plugdev" "$DFUMGRD" -c "$CONF" >>"$DD/log" 2>&1 &
DPID=$!
wait_until 30 present_boards 3
t0=$(now)
publish "$T/b210" b210
wait_until 120 up_to_date 3
echo "daemon: as uid 65534 with plugdev: 3 boards updated in $(elapsed "$t0") s"
all_at21() { for b in $B1 $B2 $B3; do [ "$(running $b)" = "2.1.0+0 2.1.0+0 confirmed" ] || return 1; done; }
expect_true "dfu-mgrd as uid 65534 + plugdev (the unit's setup, the udev rule's access) updates all 3 boards" all_at21
expect_true "  its process has no capabilities" grep -q "^CapEff:.0000000000000000" /proc/$DPID/status
daemon_stop
expect_true "  and stops cleanly" test $? -eq 0
udev_rule_off
finish
