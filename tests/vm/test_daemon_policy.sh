#!/usr/bin/env bash
# dfu-mgrd's policy over real USB: a board that keeps failing is retried after its back-off (never
# in a tight loop) and, after max_attempts, needs attention until asked for; a plain DFU board
# (no product over GET_INFO) is ignored until the configuration maps it, then updated like the
# others and known as up to date from the history.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../daemon/lib.sh"
trap 'daemon_stop KILL; emu_stop; rm -rf "$T"' EXIT

ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
pack() { "$DFUMGR" pack --key "$D/key-A.pem" --product xip-app "$@" >/dev/null; }
pack --version 1.1.0+1 -o "$T/b110" "$ELF"
pack --version 1.2.0+0 -o "$T/b120" "$ELF"
B1=EMU-0001 B2=EMU-0002

emu_start 2 || { echo "FAIL - boards did not attach"; exit 1; }
daemon_config "max_attempts = 2"
daemon_start || { finish; exit 1; }
status_of() { "$DFUMGR" daemon boards --json | python3 -c "import json,sys; print({b['serial']: b['status'] for b in json.load(sys.stdin)['boards']}.get('$1'))"; }
is() { [ "$(status_of "$1")" = "$2" ]; }
# the board re-enumerates after a failed attempt (absent for a moment): a status holds for a second
holds() { is "$@" && sleep 1 && is "$@"; }
wait_until 30 is $B2 no-release

# --- a board whose image 1 always reads back wrong: back-off, then "needs attention" ---
emu_ctl fault $B1 wrong-digest 1 1000 >/dev/null
t0=$(now)
publish "$T/b110" b110
wait_until 120 is $B2 up-to-date
expect_true "the healthy board is updated" test "$(running $B2)" = "1.1.0+1 1.1.0+1 confirmed"
wait_until 180 is $B1 needs-attention
echo "daemon: a failing board needs attention after $(elapsed "$t0") s (2 attempts, back-off 2 s)"
wait_until 30 holds $B1 needs-attention
expect_true "the failing board needs attention (and stays so)" holds $B1 needs-attention
expect_true "history: 2 failed attempts, both 'reads back wrong', leaving the old pair" test \
	"$(hist_count "r['event'] == 'result' and r['serial'] == '$B1' and r['result'] == 'failed' and r['error'] == 16 and r.get('outcome') == 'old pair running'")" -eq 2
gap=$(python3 - "$HIST" "$B1" <<-'PY'
	import json, sys, datetime
	recs = [json.loads(l) for l in open(sys.argv[1])]
	t = lambda r: datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
	res = [r for r in recs if r["event"] == "result" and r.get("serial") == sys.argv[2]]
	att = [r for r in recs if r["event"] == "attempt" and r.get("serial") == sys.argv[2]]
	print("%.1f" % (t(att[1]) - t(res[0])))
PY
)
expect_true "the second attempt waited for the back-off (${gap} s after the first failed; retry_initial 2 s)" python3 -c "import sys; sys.exit(not $gap >= 2.0)"
expect_true "the board's pair is whole and old ($(running $B1))" test "$(running $B1)" = "1.0.0+0 1.0.0+0 confirmed"
sleep 6
expect_true "no third attempt by itself (6 s later, back-off would be 4 s)" test \
	"$(hist_count "r['event'] == 'attempt' and r['serial'] == '$B1'")" -eq 2
run status
expect_out "need attention" "status counts it"
echo "$OUT" | grep "$B1" | sed 's/^/       /'

# --- fixed, and asked for: updated at once ---
emu_ctl fault $B1 clear >/dev/null
run daemon update --wait $B1
expect_rc 0 "dfu-mgr daemon update --wait on the board that needed attention"
expect_out "result" "  it printed the result"
expect_true "  it runs the release" test "$(running $B1)" = "1.1.0+1 1.1.0+1 confirmed"
expect_true "  history: the asked-for attempt" hist_has "r['event'] == 'attempt' and r['serial'] == '$B1' and r.get('manual')"

# --- a plain DFU board: ignored until mapped ---
emu_ctl plain $B2 on >/dev/null
emu_ctl reset $B2 >/dev/null
wait_until 30 is $B2 ignored
expect_true "a plain DFU board (no product) is ignored" is $B2 ignored
daemon_config "max_attempts = 2" "[products]" "serial:$B2 = xip-app"
kill -HUP "$DPID"
wait_until 20 is $B2 up-to-date
expect_true "mapped by serial after a reload: up to date, since the history says it got 1.1.0" is $B2 up-to-date
t0=$(now)
publish "$T/b120" b120
both_up() { [ "$("$DFUMGR" daemon boards --json | grep -c '"up-to-date"')" -eq 2 ]; }
wait_until 120 both_up
echo "daemon: 1.2.0 to a shim board and a plain one in $(elapsed "$t0") s"
expect_true "the shim board runs 1.2.0" test "$(running $B1)" = "1.2.0+0 1.2.0+0 confirmed"
expect_true "the plain board was updated (result ok)" hist_has \
	"r['event'] == 'result' and r['serial'] == '$B2' and r['release'] == '1.2.0' and r['result'] == 'ok'"
grep "\"serial\":\"$B2\"" "$HIST" | grep '"result"' | tail -1 | sed 's/^/       /'
daemon_stop
expect_true "stop: exit 0" test $? -eq 0
finish
