# Crash rounds for dfu-mgrd over real USB (sourced by test_daemon_crash.sh and
# test_daemon_journal.sh): each round publishes a new release while the daemon is down, starts
# it with a crash point set (or kills it from outside), checks that the board runs a whole pair
# (the old one or the new one, never a mix) and that the history knows the update was
# interrupted, then restarts the daemon, which must bring the board to the release.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../daemon/lib.sh"
trap 'daemon_stop KILL; emu_stop; rm -rf "$T"' EXIT

ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
B=EMU-0001
MINOR=0 # each round's release is 1.MINOR.0+0

up_to_date() { "$DFUMGR" daemon boards --json 2>/dev/null | grep -q '"up-to-date"'; }
died() { ! kill -0 "$DPID" 2>/dev/null; }
not_in_out() { ! grep -qF -- "$1" <<<"$OUT"; }

# whole_pair: both images run the same version, confirmed (the emulator's view of its flash)
whole_pair() {
	local r
	r=$(running $B)
	set -- $r
	[ "$1" = "$2" ] && [ "$3" = confirmed ] && echo "$1"
}

# next_release [big]: packs 1.(MINOR+1).0+0 and renames it into the incoming directory (the
# daemon takes it at once when it runs, after `settle` seconds when it starts). big: a 3 MB
# image 1, whose download lasts long enough to be cut from outside at a chosen moment.
next_release() {
	MINOR=$((MINOR + 1))
	REL="1.$MINOR.0"
	if [ "${1:-}" = big ]; then
		head -c 3000000 /dev/urandom >"$T/big.bin"
		head -c 20000 /dev/urandom >"$T/small.bin"
		"$DFUMGR" pack --version "$REL+0" --key "$D/key-A.pem" --product xip-app -o "$T/r$MINOR" \
			--internal "$T/small.bin" --qspi "$T/big.bin" >/dev/null
	else
		"$DFUMGR" pack --version "$REL+0" --key "$D/key-A.pem" --product xip-app -o "$T/r$MINOR" "$ELF" >/dev/null
	fi
	publish "$T/r$MINOR" "r$MINOR"
}

# after_crash LABEL PHASE: the daemon died; the board is whole; a restart finishes the update;
# the history has the interruption (in PHASE, unless PHASE is "-": the update had ended)
after_crash() {
	local label=$1 phase=$2 rc pair t0
	wait_until 120 died
	wait "$DPID" 2>/dev/null
	rc=$?
	DPID=""
	expect_true "$label: the daemon was killed (status $rc)" test $rc -eq 137
	sleep 1 # a board that was rebooting is back (or still in DFU mode: both are fine)
	pair=$(whole_pair)
	expect_true "$label: the board runs a whole pair (${pair:-MIXED: $(running $B)})" test -n "$pair"
	t0=$(now)
	daemon_start || return 1
	wait_until 90 up_to_date
	expect_true "$label: restarted, the daemon brought it to $REL ($(elapsed "$t0") s)" test "$(whole_pair)" = "$REL+0"
	run history -S $B
	case $phase in
	-) # the update had ended: its result is there, no interruption
		expect_true "$label: history: no interruption" not_in_out "interrupted $B $REL" ;;
	\*) # killed from outside: the phase depends on timing
		expect_out "interrupted $B $REL, attempt 1, in phase" "$label: history: interrupted ($(grep -o "interrupted $B $REL, attempt 1, in phase [a-z]*" <<<"$OUT" | sed 's/.* //'))" ;;
	*)
		expect_out "interrupted $B $REL, attempt 1, in phase $phase" "$label: history: interrupted in phase $phase" ;;
	esac
	expect_out "result      $B $REL: ok" "$label: history: then the result ok"
	daemon_stop
	expect_true "$label: clean stop" test $? -eq 0
}

crash_start() { # crash_start VAR=VALUE: the daemon with one crash point set, then a release
	local var=${1%%=*}
	export "$1"
	daemon_start
	unset "$var"
	next_release
}
