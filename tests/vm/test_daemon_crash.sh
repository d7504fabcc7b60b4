#!/usr/bin/env bash
# kill -9 of dfu-mgrd at each phase of an update (the daemon's own crash point, right after the
# phase is on disk, and kill -9 from outside), then a restart: the board always ends on a whole
# pair, the history shows the interruption, and the update is done again from the start.
. "$(dirname "$0")/daemon_crash.sh"

emu_start 1 || { echo "FAIL - board did not attach"; exit 1; }
daemon_config
# verify is covered by test_daemon_journal.sh (killed right after its record is synced)
for point in detach download download:2 commit reboot; do
	crash_start DFUMGRD_TEST_CRASH=$point
	after_crash "crash at $point" "${point%:*}" || break
done

# from outside, at moments no crash point marks: in the middle of a download, and after the
# REBOOT request went out, while the board restarts
for when in download:0.3 reboot:0.3; do
	daemon_start
	"$DFUMGR" daemon subscribe --json >"$T/events" 2>/dev/null &
	SUB=$!
	if [ "${when%:*}" = download ]; then next_release big; else next_release; fi
	wait_until 60 grep -q "\"phase\":\"${when%:*}\"" "$T/events"
	sleep "${when#*:}"
	kill -9 "$DPID"
	wait $SUB 2>/dev/null
	after_crash "kill -9 ${when#*:} s after the ${when%:*} phase began" '*' || break
done
finish
