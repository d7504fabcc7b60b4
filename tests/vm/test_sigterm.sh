#!/usr/bin/env bash
# SIGTERM during each phase of `dfu-mgr update` over real USB: dfu-mgr exits within a second,
# the report states the board's outcome, the board is in that state (the emulator says what it
# runs), and a re-run succeeds. The boards run with datasheet flash timing and a slow
# re-enumeration so that each phase lasts long enough to be hit.
. "$(dirname "$0")/lib.sh"

KEY="$D/key-A.pem"
PUB="$D/key-A-pub.pem"
# a small pair: each phase still lasts (datasheet timing, slow re-enumeration), the whole test
# stays short
head -c 6000 /dev/urandom >"$T/int.bin"
head -c 100000 /dev/urandom >"$T/qspi.bin"
for minor in 1 2 3 4 5 6 7 8 9 10 11; do
	run pack --version "1.$minor.0+0" --key "$KEY" --product xip-app -o "$T/b$minor" \
		--internal "$T/int.bin" --qspi "$T/qspi.bin"
	[ "$RC" -eq 0 ] || { echo "FAIL - pack 1.$minor.0: $ERR"; exit 1; }
done
emu_start 1 -t real -r 1500 || { echo "FAIL - the board did not attach"; exit 1; }
B=EMU-0001
cur="1.0.0+0"
next=1

# sigterm_in PHASE LABEL: start an update, SIGTERM it as soon as its progress line LABEL
# appears (stderr read line by line through a FIFO: the signal follows within a millisecond)
sigterm_in() {
	local phase=$1 label=$2 b="$T/b$next" v="1.$next.0+0" pid t0="" rc t outcome want line hit=0
	next=$((next + 1))
	rm -f "$T/errfifo" "$T/err"
	mkfifo "$T/errfifo"
	"$DFUMGR" -v update -k "$PUB" -S "$B" "$b" >"$T/out" 2>"$T/errfifo" &
	pid=$!
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$T/err"
		printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$T/err.t"
		if [ $hit -eq 0 ] && [[ "$line" == *"$label"* ]]; then
			t0=$EPOCHREALTIME
			kill -TERM "$pid"
			hit=1
		fi
	done <"$T/errfifo"
	wait "$pid"
	rc=$?
	t=$(awk -v a="${t0:-0}" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	RC=$rc
	outcome=$(sed -n 's/^  outcome        //p' <<<"$OUT")
	echo "sigterm: $phase: exit $rc $t s after SIGTERM; stopped in $(sed -n 's/^  stopped in     //p' <<<"$OUT"); outcome: $outcome; board: $(sed -n 's/^  board          //p' <<<"$OUT")"
	if awk -v t="$t" 'BEGIN { exit !(t >= 1.0) }'; then
		echo "SIGTERM at $t0"; cat "$T/err.t"; echo "$OUT"
	fi
	rm -f "$T/err.t"
	expect_true "$phase: the update was still running when SIGTERM came" test $hit -eq 1
	expect_true "$phase: exit within 1 s of SIGTERM ($t s)" awk -v t="$t" 'BEGIN { exit !(t < 1.0) }'
	expect_rc 75 "$phase: cancelled is a temporary failure"
	expect_out "(cancelled)" "$phase: the report says it was cancelled"
	# the board is where the outcome says: committed (rebooted or not) -> the new pair
	case "$outcome" in
	"new pair running" | unknown | "needs recovery")
		want="$v $v confirmed"
		wait_board "$B" runtime 30
		;;
	untouched | "old pair running") want="$cur $cur confirmed" ;;
	*) want="(no outcome stated)" ;;
	esac
	expect_true "$phase: the board runs what the outcome '$outcome' says ($(running "$B"))" test "$(running "$B")" = "$want"
	# a re-run (the next version) succeeds, from whatever mode the board waits in
	v="1.$next.0+0"
	run update -q -k "$PUB" -S "$B" "$T/b$next"
	next=$((next + 1))
	expect_rc 0 "$phase: a re-run succeeds"
	expect_true "$phase: and the board runs $v" test "$(running "$B")" = "$v $v confirmed"
	cur=$v
}

sigterm_in detach "detach: 0%"
sigterm_in download "download image-1: 0%"
sigterm_in verify "verify image-1: 0%"
sigterm_in commit "commit: 0%"
sigterm_in reboot "reboot: 0%"
tail -3 "$T/emu.log"
finish
