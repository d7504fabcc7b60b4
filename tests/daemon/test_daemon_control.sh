#!/usr/bin/env bash
# dfu-mgrd's control socket and its systemd notifications, on the host (--no-usb): garbage,
# NUL bytes, wrong types, a line over the limit, a half-sent request, too many connections and
# peers without permission get an error (or are turned away) and never stop the daemon from
# serving the next client; READY=1 only once the socket answers, STATUS=, WATCHDOG=1 while it
# runs, RELOADING=1 on SIGHUP, STOPPING=1 on SIGTERM.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
trap 'daemon_stop KILL; kill $NOTIFY_PID $HOLD_PID 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T" # other users must reach the socket to be refused by the daemon, not by the file system

raw() { python3 "$SOCKPY" "$SOCK" "$@"; } # raw --send "b'...'" [--lines N] [--timeout S]
# has TEXT...: $out (the last reply) contains every TEXT
has() {
	local t
	for t in "$@"; do
		grep -qF -- "$t" <<<"$out" || { echo "       (reply: ${out:0:300})"; return 1; }
	done
}
# another user's client: Debian's python3 (a per-user python may not be readable by them)
as_user() { local who=$1; shift; setpriv --reuid=65534 $who /usr/bin/python3 "$SOCKPY" "$SOCK" "$@"; }
alive() { "$DFUMGR" status >/dev/null; }

NOTIFY="$T/notify.sock"
NLOG="$T/notify.log"
python3 "$DTESTS/notify_listen.py" "$NOTIFY" "$NLOG" &
NOTIFY_PID=$!
wait_until 10 test -S "$NOTIFY"
# the control group: one that exists here and that "nobody" is not in
GROUP=$(getent group daemon >/dev/null && echo daemon || echo sys)
GID=$(getent group "$GROUP" | cut -d: -f3)
daemon_config "[control]" "group = $GROUP"
NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=200000 daemon_start --no-usb || { finish; exit 1; }

# --- notify: READY=1 once everything is up ---
wait_until 5 grep -q "READY=1" "$NLOG"
expect_true "notify: READY=1, with STATUS= and MAINPID=" grep -q "READY=1|STATUS=.*|MAINPID=$DPID" "$NLOG"
expect_true "notify: the socket answered right after READY=1" alive
sleep 1
n=$(grep -c "WATCHDOG=1" "$NLOG")
expect_true "notify: WATCHDOG=1 every WATCHDOG_USEC/2 ($n in about a second at 200 ms)" test "$n" -ge 3 -a "$n" -le 30

# --- malformed requests: an error each, the connection stays usable ---
out=$(raw --send "b'hello\n'" --send "b'{\"command\":\"status\"}\n'" --lines 2)
expect_true "garbage: error \"not JSON\", then the same connection still answers" \
	has '"ok":false' 'not JSON' '"ok":true,"status"'
out=$(raw --send "b'[1,2]\n{\"command\":5}\n{\"command\":\"frobnicate\"}\n\"status\"\n'" --lines 4)
expect_true "an array, a number command, an unknown command, a bare string: 4 errors" test "$(grep -c '"ok":false' <<<"$out")" -eq 4
expect_true "  the unknown command's error lists the known ones" has "known: status, boards"
out=$(raw --send "b'{\"command\":\"status\"}\x00junk\n'" --lines 1)
expect_true "a NUL byte in a request: error" has "NUL byte"
out=$(raw --send "b'{\"command\":\"history\",\"limit\":-3}\n{\"command\":\"update\"}\n{\"command\":\"update\",\"serial\":7}\n'" --lines 3)
expect_true "bad arguments (negative limit, missing serial, number serial): 3 errors" test "$(grep -c '"code":1,' <<<"$out")" -eq 3
out=$(raw --send "b'{\"command\":\"update\",\"serial\":\"NOPE\"}\n'" --lines 1)
expect_true "update of an unknown board: no device" has '"code":18' "no board NOPE is connected"
out=$(raw --send "b'\n\n   \n{\"command\":\"status\"}\n'" --lines 1)
expect_true "empty and blank lines are ignored" has '"ok":true'
out=$(raw --send "b'{\"command\":\"sta' " --send "b'tus\"}\n'" --lines 1)
expect_true "a request in two pieces is one request" has '"ok":true'

# --- oversized: one error, then the connection is closed; the daemon goes on ---
out=$(raw --send "b'{\"command\":\"' + b'x' * 1000000" --timeout 5)
expect_true "a 1 MB line: error 'request longer than 4096 bytes' and the connection closed" \
	has "longer than 4096" EOF
out=$(raw --send "b'{\"command\":\"status\",\"pad\":\"' + b'y' * 4080 + b'\"}\n'" --timeout 2)
expect_true "a request just over the limit: the same" has "longer than 4096" EOF
expect_true "the daemon still answers" alive

# --- a client that sends half a request and waits does not block anyone ---
python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect('$SOCK'); s.sendall(b'{\"command\":')
time.sleep(30)" &
HOLD_PID=$!
sleep 0.5
t0=$(date +%s%N)
alive
expect_true "with a half-sent request pending elsewhere, status answers ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" test $? -eq 0
kill $HOLD_PID 2>/dev/null

# --- too many connections: the 65th is turned away, the daemon stays fine ---
python3 - "$SOCK" >"$T/many" <<-'PY'
	import socket, sys, time
	conns = []
	for i in range(70):
	    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); conns.append(s)
	time.sleep(0.5)
	busy = 0
	for s in conns:
	    s.settimeout(0.05)
	    try:
	        if b"too many" in s.recv(4096): busy += 1
	    except OSError:
	        pass
	print(busy)
PY
expect_true "70 connections at once: the 6 over the limit of 64 are told 'too many' ($(cat "$T/many"))" test "$(cat "$T/many")" -eq 6
expect_true "and afterwards the daemon answers" alive

# --- peers: root and the daemon's user yes, the control group yes, anyone else no ---
out=$(as_user "--regid=65534 --clear-groups" --send "b'{\"command\":\"status\"}\n'" --timeout 2)
expect_true "uid 65534 without the group: permission denied, connection closed" \
	has '"code":27' "uid 65534 is neither root nor a member of group $GROUP" EOF
setpriv --reuid=65534 --regid=65534 --clear-groups "$DFUMGR" status >/dev/null 2>"$T/denied.err"
rc=$?
out=$(cat "$T/denied.err")
expect_true "dfu-mgr status as that user: exit 77 (no permission), saying why ($rc)" has "neither root"
expect_true "  exit 77" test $rc -eq 77
out=$(as_user "--regid=65534 --groups=$GID" --send "b'{\"command\":\"status\"}\n'" --lines 1)
expect_true "uid 65534 with $GROUP as a supplementary group: served" has '"ok":true'
out=$(as_user "--regid=$GID --clear-groups" --send "b'{\"command\":\"status\"}\n'" --lines 1)
expect_true "uid 65534 with $GROUP as its primary group: served" has '"ok":true'
expect_true "the refusal is logged" grep -q "Refused a control connection from uid 65534" "$DD/log"

# --- subscribe: events arrive; pause/resume are recorded ---
"$DFUMGR" daemon subscribe --json --count 2 >"$T/events" &
SUB=$!
sleep 0.5
run daemon pause
run daemon resume
wait $SUB
out=$(cat "$T/events")
expect_true "subscribe: the pause and resume events" has '"event":"pause"' '"event":"resume"'
expect_true "history: pause and resume recorded" hist_has 'r["event"] == "resume"'

# --- the last fetch, from the fetch unit's state file (dfu-mgr-feed(5)) ---
run status
expect_out "last fetch none" "status without a fetch state file: none"
cat >"$DD/fetch-state.json" <<-'JSON'
	{"state_version": 1, "time": "2026-11-28T07:38:05Z", "result": "delivered",
	 "source": "https://updates.example.com/fw/feed.json", "feed_sequence": 12,
	 "delivered": {"time": "2026-11-28T07:38:05Z", "product": "gait-sensor", "release": "2.3.0",
	   "version": "2.3.0+4", "manifest_sha256": "c7d43e5a00000000000000000000000000000000000000000000000000000000",
	   "bundle": "/var/lib/dfu-mgr/incoming/gait-sensor-2.3.0"}}
JSON
run status
expect_out "last fetch 2026-11-28T07:38:05.000Z delivered (last delivered: gait-sensor 2.3.0" "status shows the last fetch and what it delivered"
cat >"$DD/fetch-state.json" <<-'JSON'
	{"state_version": 1, "time": "2026-11-28T08:38:05Z", "result": "failed",
	 "error": {"code": 30, "name": "network error", "message": "updates.example.com: could not resolve host"},
	 "source": "https://updates.example.com/fw/feed.json"}
JSON
run status --json
expect_true "a failed fetch: result and error in status --json" json_true - \
	'd["status"]["last_fetch"]["result"] == "failed" and d["status"]["last_fetch"]["error"]["code"] == 30 and "resolve" in d["status"]["last_fetch"]["error"]["message"]' <<<"$OUT"
echo '{"state_version": 7}' >"$DD/fetch-state.json"
run status --json
expect_true "an unreadable state file: an error naming it, status still answers" json_true - \
	'd["status"]["last_fetch"]["file"].endswith("fetch-state.json") and d["status"]["last_fetch"]["error"]["code"] > 0' <<<"$OUT"

# --- reload: RELOADING=1 then READY=1 ---
kill -HUP "$DPID"
wait_until 5 grep -q "RELOADING=1" "$NLOG"
out=$(grep -A3 RELOADING=1 "$NLOG")
expect_true "notify: SIGHUP gives RELOADING=1, then READY=1 again" has READY=1

# --- stop: STOPPING=1, exit 0, the socket is gone ---
daemon_stop
rc=$?
expect_true "SIGTERM: exit 0" test $rc -eq 0
out=$(tail -2 "$NLOG")
expect_true "notify: STOPPING=1 last" has STOPPING=1
expect_true "the socket file is removed" test ! -e "$SOCK"
run status
expect_rc 69 "dfu-mgr status with the daemon stopped: 69"
expect_err "dfu-mgrd is not running" "  saying so"

# --- a second daemon on the same socket refuses to start ---
daemon_start --no-usb
"$DFUMGRD" -c "$CONF" --no-usb >"$T/second.log" 2>&1
rc=$?
expect_true "a second dfu-mgrd on the same socket exits 69 ($rc)" test $rc -eq 69
expect_true "  saying another one answers" grep -q "another dfu-mgrd answers" "$T/second.log"
expect_true "  and the first one still does" alive
daemon_stop
finish
