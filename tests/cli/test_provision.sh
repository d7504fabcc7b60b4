#!/usr/bin/env bash
# dfu-mgr provision outside the VM, over dfu-mgr-loop's in-process boards (their flash files
# persist between runs): a fixture of boards with faults, another product, late and absent
# boards; each check compares the report, the station log and the exit code with what the
# boards really hold afterwards. The same over real USB: tests/vm/test_provision.sh.
. "$(dirname "$0")/lib.sh"
: "${DFUMGR_LOOP_CLI:?path of dfu-mgr-loop}"
export DFUMGR_LOOP_DIR="$T/boards"
export DFUMGR_KEYDIR="$T/no-default-keys"
export XDG_STATE_HOME="$T/state"
PUB="$D/key-A-pub.pem"
KEY="$D/key-A.pem"

P() { L provision -q -k "$PUB" "$@"; }
# running SERIAL: "V0 V1" the board runs (from its own GET_INFO, through list --json)
running() {
	"$DFUMGR_LOOP_CLI" list --json -S "$1" | python3 -c 'import json,sys; b=json.load(sys.stdin)["devices"][0]["shim"]["images"]; print(b[0]["running_version"], b[1]["running_version"])'
}
# report FILE 'python expression over d (the JSON report) and r (its records by serial)'
report() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r={b["serial"]: b for b in d["boards"]}; print('"$2"')' "$1"
}

run pack --version 1.1.0+1 --key "$KEY" --product xip-app -o "$T/b110" "$D/app.elf"
expect_rc 0 "pack 1.1.0+1"
SHA0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"][0]["sha256"])' "$T/b110/manifest.json")
SHA1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"][1]["sha256"])' "$T/b110/manifest.json")

# --- usage: refused before any board is touched ---
export DFUMGR_LOOP_BOARDS=6
P "$T/b110"
expect_rc 64 "no board selection"
expect_err "--all, --serial SERIAL or --serials FILE" "says how to pick boards"
P --all -S LOOP-0001 "$T/b110"
expect_rc 64 "--all with --serial"
P -S LOOP-0001 --wait 2 "$T/b110"
expect_rc 64 "--wait without --all"
P --all --report "$T/r.txt" "$T/b110"
expect_rc 64 "a report that is neither .json nor .csv"
expect_err ".json or .csv" "names the extensions"
P --all --jobs 0 "$T/b110"
expect_rc 64 "--jobs 0"
P -S LOOP-0001 -S LOOP-0001 "$T/b110"
expect_rc 64 "a serial given twice"
printf 'LOOP-0001\n# comment\n\n  LOOP-0002  \nLOOP-0001\n' >"$T/dup.txt"
P --serials "$T/dup.txt" "$T/b110"
expect_rc 65 "a serials file listing a board twice"
expect_err "line 5" "names the line"
printf 'LOOP-0001\nLOOP\x01-2\n' >"$T/bin.txt"
P --serials "$T/bin.txt" "$T/b110"
expect_rc 65 "a serials file with a control byte"
expect_err "line 2" "names the line"
P --all --log "$T/no/such/dir/log.jsonl" "$T/b110"
expect_rc 73 "an unwritable station log"
P --all "$T/nonexistent"
expect_rc 66 "a missing bundle"
expect_true "no board was touched by any refusal" test "$(running LOOP-0001)" = "1.0.0+0 1.0.0+0"

# --- a fixture of six: a disconnect, a wrong digest, another product; the others succeed ---
export DFUMGR_LOOP_QUIRKS=2:disconnect,3:wrongdigest,4:other
P --all --log "$T/log.jsonl" -r "$T/r1.json" -r "$T/r1.csv" "$T/b110"
expect_rc 1 "two boards fail: exit 1"
expect_out "provision: 6 board(s): 3 updated, 0 skipped, 2 failed, 1 ignored" "the summary line"
expect_out "LOOP-0002        9-2      FAILED   in download" "the disconnect is named on its board's line"
expect_out "LOOP-0003        9-3      FAILED   in verify" "the wrong digest too"
expect_out "LOOP-0004        9-4      ignored  a \"other-product\" board" "another product is left alone"
for s in LOOP-0001 LOOP-0005 LOOP-0006; do
	expect_true "$s runs the new pair" test "$(running $s)" = "1.1.0+1 1.1.0+1"
	expect_true "$s: report says updated, with the board's digests of the written slots" \
		test "$(report "$T/r1.json" "r['$s']['result'], r['$s']['after'], r['$s']['digests'] == ['$SHA0', '$SHA1'], r['$s']['bytes'] > 0")" = "updated ['1.1.0+1', '1.1.0+1'] True True"
done
for s in LOOP-0002 LOOP-0003 LOOP-0004; do
	expect_true "$s still runs its old pair (never a mixed one)" test "$(running $s)" = "1.0.0+0 1.0.0+0"
done
expect_true "report: the disconnect's error and outcome" \
	test "$(report "$T/r1.json" "r['LOOP-0002']['result'], r['LOOP-0002']['error']['name'], r['LOOP-0002']['outcome']")" = "failed device disconnected old pair running"
expect_true "report: the wrong digest's error" \
	test "$(report "$T/r1.json" "r['LOOP-0003']['error']['name'], 'reads back wrong' in r['LOOP-0003']['error']['message']")" = "mismatch True"
expect_true "report: summary counts" \
	test "$(report "$T/r1.json" "d['summary']['updated'], d['summary']['failed'], d['summary']['ignored']")" = "3 2 1"
expect_true "CSV report: a header and six records" test "$(wc -l <"$T/r1.csv")" -eq 7
expect_true "CSV: the failed board's line" grep -q '^LOOP-0002,9-2,xip-app,failed,old pair running,device disconnected,' "$T/r1.csv"
expect_true "station log: one JSON line per board" test "$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["type"] == "dfu-mgr provision"))' "$T/log.jsonl")" -eq 6

# --- the re-run finishes only what needs it ---
export DFUMGR_LOOP_QUIRKS=4:other
P --all --log "$T/log.jsonl" -r "$T/r2.json" "$T/b110"
expect_rc 0 "re-run after the faults are gone: exit 0"
expect_out "provision: 6 board(s): 2 updated, 3 skipped, 0 failed, 1 ignored" "fixes two, skips three"
expect_true "the skipped boards sent nothing, and were proved by their running slots" \
	test "$(report "$T/r2.json" "[(r[s]['result'], r[s]['bytes'], r[s]['digests_of'], r[s]['digests'] == ['$SHA0', '$SHA1']) for s in ('LOOP-0001', 'LOOP-0005', 'LOOP-0006')] == [('skipped', 0, 'running', True)] * 3")" = True
for s in LOOP-0002 LOOP-0003; do
	expect_true "$s runs the new pair now" test "$(running $s)" = "1.1.0+1 1.1.0+1"
done
expect_true "station log appended: twelve records" test "$(wc -l <"$T/log.jsonl")" -eq 12

# --- --force rewrites; --jobs 1 goes one by one ---
P -S LOOP-0001 -S LOOP-0005 --force --jobs 1 --log "$T/log.jsonl" -r "$T/r3.json" "$T/b110"
expect_rc 0 "--force --jobs 1"
expect_true "--force: both rewritten" test "$(report "$T/r3.json" "[r[s]['result'] for s in ('LOOP-0001', 'LOOP-0005')]")" = "['updated', 'updated']"
expect_true "--jobs 1: the second started when the first had finished" \
	test "$(report "$T/r3.json" "d['boards'][1]['queued_seconds'] > 0")" = True

# --- serials: a listed board that is not there is missing (exit 69), the others done ---
unset DFUMGR_LOOP_QUIRKS
printf '# station 3\nLOOP-0006\nNOPE-9999\n' >"$T/serials.txt"
P --serials "$T/serials.txt" --log "$T/log.jsonl" -r "$T/r4.json" "$T/b110"
expect_rc 69 "a listed serial that is not connected"
expect_out "NOPE-9999        -        MISSING" "is reported missing"
expect_true "and the present one is done" test "$(report "$T/r4.json" "r['LOOP-0006']['result'], r['NOPE-9999']['result']")" = "skipped missing"
P -S LOOP-0004 --log "$T/log.jsonl" "$T/b110"
expect_rc 0 "a board named by its serial is updated even if --all skipped it before"

# --- --wait: a board plugged in during the run is handled; --timeout ends the wait ---
export DFUMGR_LOOP_DIR="$T/boards-wait" DFUMGR_LOOP_BOARDS=3 DFUMGR_LOOP_QUIRKS=3:late
P --all --wait 3 --timeout 30 --log "$T/log.jsonl" -r "$T/r5.json" "$T/b110"
expect_rc 0 "--wait 3: the late board is provisioned too"
expect_true "all three updated" test "$(report "$T/r5.json" "sorted(b['result'] for b in d['boards'])")" = "['updated', 'updated', 'updated']"
expect_true "the late board started after the others" test "$(report "$T/r5.json" "r['LOOP-0003']['queued_seconds'] == 0 and d['boards'][2]['serial'] == 'LOOP-0003'")" = True
export DFUMGR_LOOP_QUIRKS=3:absent
P --all --wait 3 --timeout 1 --log "$T/log.jsonl" -r "$T/r6.json" "$T/b110"
expect_rc 69 "--wait 3 with one board absent: exit 69 at the timeout"
expect_out "1 of 3 did not come" "the summary says how many did not come"
expect_true "the two present ones were still verified" test "$(report "$T/r6.json" "d['summary']['skipped'], d['summary']['lacking']")" = "2 1"

# --- no board of the product at all ---
export DFUMGR_LOOP_QUIRKS=1:other,2:other,3:absent
P --all --log "$T/log.jsonl" "$T/b110"
expect_rc 69 "--all and no board of the product"
expect_err "no board of product \"xip-app\"" "says so"

# --- --json: one line per event per board, a summary with the exit code ---
export DFUMGR_LOOP_DIR="$T/boards-json" DFUMGR_LOOP_BOARDS=2 DFUMGR_LOOP_QUIRKS=2:wrongdigest
L provision --json -k "$PUB" --all "$T/b110"
expect_rc 1 "--json with one failing board"
expect_true "--json: every line is a JSON object; one done per board; summary last" python3 -c '
import json, sys
ev = [json.loads(l) for l in sys.argv[1].splitlines()]
done = {e["serial"]: e["result"] for e in ev if e["event"] == "done"}
assert done == {"LOOP-0001": "updated", "LOOP-0002": "failed"}, done
for s in done:
    seq = [e["event"] for e in ev if e.get("serial") == s]
    assert seq[:2] == ["found", "start"] and seq[-1] == "done" and "phase" in seq, seq
assert ev[-1]["event"] == "summary" and ev[-1]["exit_code"] == 1 and ev[-1]["failed"] == 1, ev[-1]
assert all(e["record"]["serial"] == e["serial"] for e in ev if e["event"] == "done")
' "$OUT"
expect_true "the default station log is under XDG_STATE_HOME" test "$(wc -l <"$T/state/dfu-mgr/station.jsonl")" -eq 2

L provision --help
expect_rc 0 "provision --help"
expect_out "--serials FILE" "documents --serials"
finish
