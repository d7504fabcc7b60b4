# Helpers for the dfu-mgrd tests, on the host (--no-usb) and in the VM (with emulated boards).
# Source after tests/cli/lib.sh or tests/vm/lib.sh (run, expect_*, $T, $D).
: "${DFUMGR_BUILD_DIR:?path of the build directory}"
DFUMGRD="${DFUMGRD:-$DFUMGR_BUILD_DIR/dfu-mgrd}"
DTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOCKPY="$DTESTS/sock.py"
DD="$T/daemon"             # its directories
CONF="$DD/dfu-mgrd.conf"
SOCK="$DD/run/control.sock"
HIST="$DD/state/history.jsonl"
DPID=""
export DFUMGRD_SOCKET="$SOCK" DFUMGRD_HISTORY="$HIST"

# daemon_config [LINES...]: a configuration with the test's paths and short times
daemon_config() {
	mkdir -p "$DD/in" "$DD/state" "$DD/run"
	{
		echo "[paths]"
		echo "incoming = $DD/in"
		echo "state = $DD/state"
		echo "runtime = $DD/run"
		echo "keys = $D/key-A-pub.pem"
		echo "fetch_state = $DD/fetch-state.json"
		echo "[policy]"
		echo "settle = 1"
		echo "retry_initial = 2"
		echo "retry_max = 8"
		for l in "$@"; do echo "$l"; done
	} >"$CONF"
}

# daemon_start [OPTIONS...]: starts dfu-mgrd in the background (log in $DD/log), waits for its socket
daemon_start() {
	local i
	[ -f "$CONF" ] || daemon_config
	"$DFUMGRD" -c "$CONF" "$@" >>"$DD/log" 2>&1 &
	DPID=$!
	for i in $(seq 1 300); do
		"$DFUMGR" status >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "dfu-mgrd did not come up; its log:"
	tail -20 "$DD/log"
	return 1
}

# daemon_stop [SIGNAL]: stops it, returns its exit status
daemon_stop() {
	local rc
	[ -n "$DPID" ] || return 0
	kill -"${1:-TERM}" "$DPID" 2>/dev/null
	wait "$DPID"
	rc=$?
	DPID=""
	return $rc
}

# ctl JSON: one request on the socket, the reply on stdout
ctl() { python3 "$SOCKPY" "$SOCK" --send "b'$1\n'" --lines 1 --timeout "${2:-5}"; }

# wait_until TIMEOUT_S CMD...: runs CMD every 0.1 s until it succeeds or TIMEOUT_S (wall clock:
# under TCG one check may itself take a second) have passed
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# publish DIR NAME: the publishing rule, an atomic rename into incoming/
publish() { mv -T "$1" "$DD/in/$2"; }

# hist_has PYEXPR: some history record r satisfies the Python expression
hist_has() {
	python3 - "$HIST" "$1" <<-'PY'
		import json, sys
		recs = [json.loads(l) for l in open(sys.argv[1]) if l.endswith("\n")]
		sys.exit(0 if any(eval(sys.argv[2], {}, {"r": r}) for r in recs) else 1)
	PY
}
hist_count() {
	python3 - "$HIST" "$1" <<-'PY'
		import json, sys
		recs = [json.loads(l) for l in open(sys.argv[1]) if l.endswith("\n")]
		print(sum(1 for r in recs if eval(sys.argv[2], {}, {"r": r})))
	PY
}

# jq-less JSON checks: json_true FILE_OR_- PYEXPR (d is the document)
json_true() { python3 -c "import json,sys; d=json.load(open(sys.argv[1]) if sys.argv[1] != '-' else sys.stdin); sys.exit(0 if eval(sys.argv[2]) else 1)" "$@"; }
