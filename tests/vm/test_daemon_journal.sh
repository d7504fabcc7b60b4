#!/usr/bin/env bash
# dfu-mgrd killed by the history journal's crash points (DFUMGR_JOURNAL_CRASH): after a record
# is written but not synced, after it is synced, and in a compaction between writing the new
# file and renaming it, and after the rename: the restart finds a consistent state, knows the
# interrupted update and finishes it; the board never runs a mixed pair.
. "$(dirname "$0")/daemon_crash.sh"

emu_start 1 || { echo "FAIL - board did not attach"; exit 1; }
daemon_config
# a session's records: 1 start, 2 release, 3 attempt, 4 detach, 5 download, 6 verify,
# 7 download (image 0), 8 verify, 9 commit, 10 reboot, 11 result
crash_start DFUMGR_JOURNAL_CRASH=write:3
after_crash "attempt record written, not synced" preflight
crash_start DFUMGR_JOURNAL_CRASH=sync:6
after_crash "verify record synced" verify
crash_start DFUMGR_JOURNAL_CRASH=write:11
after_crash "result record written, not synced" -

# compaction: a fresh history with history_max = 16; the second update of a session passes 16
# records at its download of image 0 (record 17)
for point in compact-write:1 compact-rename:1; do
	daemon_stop
	rm -rf "$DD/state"
	daemon_config "history_max = 16"
	daemon_start
	next_release
	wait_until 90 up_to_date
	daemon_stop
	crash_start DFUMGR_JOURNAL_CRASH=$point
	after_crash "compaction killed at $point" download
	expect_true "  the history reads whole after it" "$DFUMGR" history >/dev/null
	expect_true "  and was compacted (at most 16 + what it must keep)" test "$(grep -c '' "$HIST")" -le 24
done
finish
