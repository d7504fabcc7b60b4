#!/usr/bin/env bash
# dfu-mgr provision over real USB (vhci-hcd, usbfs, libusb hotplug): a fixture of eight identical
# emulated boards provisioned in parallel, as a factory line would break it: two boards with
# injected faults (a disconnect, a wrong digest) fail while the six others succeed; the report
# matches what each board really runs (the emulator's own state); a re-run fixes the two and
# skips the six while a ninth board plugged in mid-run is taken by --wait; --timeout; kill -9 of
# the station mid-run (the log keeps every finished board's record, no board is left with a
# mixed pair, a re-run finishes the rest). Kept short for CI (boards flash instantly, small
# images, few full runs); the timed runs are tests/bench/bench_provision.sh's.
. "$(dirname "$0")/lib.sh"

KEY="$D/key-A.pem"
PUB="$D/key-A-pub.pem"
head -c 6000 /dev/urandom >"$T/int.bin"
head -c 100000 /dev/urandom >"$T/qspi.bin"
for v in 1.1.0 1.2.0; do
	run pack --version "$v+0" --key "$KEY" --product xip-app -o "$T/b$v" \
		--internal "$T/int.bin" --qspi "$T/qspi.bin"
	[ "$RC" -eq 0 ] || { echo "FAIL - pack $v: $ERR"; exit 1; }
done
LOG="$T/station.jsonl"
emu_start 8 || { echo "FAIL - boards did not attach"; exit 1; }
ALL="EMU-0001 EMU-0002 EMU-0003 EMU-0004 EMU-0005 EMU-0006 EMU-0007 EMU-0008"

# report FILE 'python expression over d (the JSON report) and r (its records by serial)'
report() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r={b["serial"]: b for b in d["boards"]}; print('"$2"')' "$1"
}
# the emulator's own view of every board: "SERIAL image0 image1 app" lines
emu_view() {
	# one look for all of them (a python start costs a second in the VM)
	emu_ctl list | python3 -c '
import json, sys
d = [json.loads(l) for l in sys.stdin if l.startswith("{")][-1]
b = {x["serial"]: x for x in d["boards"]}
for s in sys.argv[1:]:
    print(s, b[s]["images"][0]["running"], b[s]["images"][1]["running"], b[s]["app"])' "$@"
}

# --- eight boards at once; a disconnect on one, a wrong digest on another ---
emu_ctl fault EMU-0003 disconnect 1 40000 >/dev/null
emu_ctl fault EMU-0006 wrong-digest 1 10 >/dev/null
t0=$(now)
run provision -q -k "$PUB" --all --log "$LOG" -r "$T/r1.json" -r "$T/r1.csv" "$T/b1.1.0"
echo "provision of 8 boards, 2 failing: $(elapsed "$t0") s"
echo "$OUT"
expect_rc 1 "8 boards, 2 with faults: exit 1"
expect_out "provision: 8 board(s): 6 updated, 0 skipped, 2 failed" "the summary line"
expect_out "EMU-0003" "the disconnected board has its line"
expect_true "the disconnect's record: failed in download, device disconnected, old pair" \
	test "$(report "$T/r1.json" "r['EMU-0003']['result'], r['EMU-0003']['phase'], r['EMU-0003']['error']['name']")" = "failed download device disconnected"
expect_true "the wrong digest's record: failed, mismatch, nothing committed" \
	test "$(report "$T/r1.json" "r['EMU-0006']['result'], r['EMU-0006']['error']['name'], 'nothing was committed' in r['EMU-0006']['error']['message']")" = "failed mismatch True"
emu_ctl fault EMU-0003 clear >/dev/null
emu_ctl fault EMU-0006 clear >/dev/null
wait_board EMU-0003 runtime 30
wait_board EMU-0006 runtime 30
emu_view $ALL >"$T/view1"
cat "$T/view1"
for s in EMU-0001 EMU-0002 EMU-0004 EMU-0005 EMU-0007 EMU-0008; do
	expect_true "$s: the emulator runs the new pair, confirmed" grep -qx "$s 1.1.0+0 1.1.0+0 confirmed" "$T/view1"
done
for s in EMU-0003 EMU-0006; do
	expect_true "$s: the emulator still runs the old pair, never a mixed one" grep -qx "$s 1.0.0+0 1.0.0+0 confirmed" "$T/view1"
done
# the report against the boards: versions after, and the USB path the kernel has for the board
expect_true "every record's versions are what the emulator runs" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
view = {l.split()[0]: l.split()[1:3] for l in open(sys.argv[2])}
for b in d["boards"]:
    want = view[b["serial"]]
    got = b["after"] if b["result"] == "updated" else b["before"]
    assert got == want, (b["serial"], got, want)
    assert b["ok"] == (b["result"] == "updated"), b
' "$T/r1.json" "$T/view1"
expect_true "every record's port path is the board's in sysfs" python3 -c '
import json, sys, glob, os
d = json.load(open(sys.argv[1]))
paths = {open(f).read().strip(): os.path.basename(os.path.dirname(f)) for f in glob.glob("/sys/bus/usb/devices/*/serial")}
for b in d["boards"]:
    assert b["path"] == paths[b["serial"]], (b["serial"], b["path"], paths.get(b["serial"]))
' "$T/r1.json"
expect_true "CSV: header and eight lines" test "$(wc -l <"$T/r1.csv")" -eq 9
expect_true "station log: eight records" test "$(wc -l <"$LOG")" -eq 8

# --- the re-run fixes the two and skips the six; --wait takes a ninth plugged in mid-run ---
t0=$(now)
"$DFUMGR" provision -q -k "$PUB" --all --wait 9 --timeout 90 --log "$LOG" -r "$T/r2.json" "$T/b1.1.0" >"$T/w.out" 2>"$T/w.err" &
pid=$!
# plugged in while the eight are being checked and the two rewritten
sleep 1
emu_ctl add EMU-0009 >/dev/null
wait $pid
RC=$?
OUT=$(cat "$T/w.out")
ERR=$(cat "$T/w.err")
echo "re-run with --wait 9: $(elapsed "$t0") s"
echo "$OUT"
expect_rc 0 "re-run, --wait 9, a ninth board plugged in mid-run: exit 0"
expect_out "provision: 9 board(s): 3 updated, 6 skipped, 0 failed" "fixes two, skips six, updates the ninth"
expect_true "the updated are the two that failed and the one plugged in" \
	test "$(report "$T/r2.json" "sorted(s for s in r if r[s]['result'] == 'updated')")" = "['EMU-0003', 'EMU-0006', 'EMU-0009']"
expect_true "the six skipped sent no byte and were proved by their running slots" \
	test "$(report "$T/r2.json" "[(b['bytes'], b['digests_of']) for b in d['boards'] if b['result'] == 'skipped'] == [(0, 'running')] * 6")" = True
ALL="$ALL EMU-0009"
emu_view $ALL >"$T/view2"
expect_true "all nine run the new pair" test "$(grep -c ' 1.1.0+0 1.1.0+0 confirmed$' "$T/view2")" -eq 9

# --- --timeout ends the wait for a listed board that does not come (exit 69) ---
t0=$(now)
run provision -q -k "$PUB" -S EMU-0001 -S EMU-0042 --timeout 3 --log "$LOG" "$T/b1.1.0"
t=$(elapsed "$t0")
expect_rc 69 "a listed board that never comes: exit 69"
expect_out "EMU-0042         -        MISSING" "it is reported missing"
expect_out "1 skipped, 0 failed, 1 missing" "the present one is still verified"
expect_true "the run waited the 3 s and not much more ($t s)" awk -v t="$t" 'BEGIN { exit !(t >= 3 && t < 30) }'

# --- kill -9 of the station mid-run ---
# three at a time, so that the run is still going when the first records are in
rm -f "$T/k.out"
"$DFUMGR" provision --json -k "$PUB" --all --jobs 3 --log "$LOG" "$T/b1.2.0" >"$T/k.out" 2>/dev/null &
pid=$!
for _ in $(seq 1 600); do
	[ "$(grep -c '"event":"done"' "$T/k.out")" -ge 2 ] && break
	sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null
# events FILE EVENT: the serials with that event in provision --json's output (a line the kill
# cut is no event)
events() {
	python3 -c '
import json, sys
ev = []
for l in open(sys.argv[1]):
    try:
        ev.append(json.loads(l))
    except ValueError:
        pass
print(" ".join(sorted({e["serial"] for e in ev if e["event"] == sys.argv[2]})))' "$1" "$2"
}
done_serials=$(events "$T/k.out" done)
echo "kill -9 after the records of: $done_serials"
expect_true "the run was killed mid-way (2 to 8 of 9 boards done)" test "$(wc -w <<<"$done_serials")" -ge 2 -a "$(wc -w <<<"$done_serials")" -lt 9
expect_true "every line of the station log is a complete JSON record" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    assert l.endswith("\n"), "a cut line"
    json.loads(l)
' "$LOG"
expect_true "the log holds the record of every board reported done" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
got = {r["serial"] for r in recs if r["bundle"]["release"] == "1.2.0" and r["result"] == "updated"}
for s in sys.argv[2].split():
    assert s in got, (s, got)
' "$LOG" "$done_serials"
# whatever the kill interrupted: once each board it had started has restarted, it runs one
# whole pair (the others were never touched)
started=$(events "$T/k.out" start)
for s in $started; do emu_ctl reset "$s" >/dev/null; done
for s in $started; do wait_board "$s" runtime 30 >/dev/null; done
emu_view $ALL >"$T/view3"
cat "$T/view3"
expect_true "no board runs a mixed pair after the kill" python3 -c '
import sys
for l in open(sys.argv[1]):
    s, a, b, app = l.split()
    assert a == b and a in ("1.1.0+0", "1.2.0+0") and app == "confirmed", l
' "$T/view3"
run provision -q -k "$PUB" --all --log "$LOG" -r "$T/r4.json" "$T/b1.2.0"
expect_rc 0 "a re-run after the kill finishes the fixture"
expect_true "the re-run skipped those the killed run had finished" \
	test "$(report "$T/r4.json" "all(r[s]['result'] == 'skipped' for s in '$done_serials'.split())")" = True
expect_true "all nine run 1.2.0 now" test "$(emu_view $ALL | grep -c ' 1.2.0+0 1.2.0+0 confirmed$')" -eq 9
tail -3 "$T/emu.log"
finish
