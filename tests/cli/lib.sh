# Helpers for the CLI tests: run dfu-mgr, check its exit status and output. Each failed check is
# counted; the script ends with "N passed, N failed" and a non-zero status when any failed.
set -u
: "${DFUMGR:?path of the dfu-mgr binary}"
: "${DFUMGR_TEST_DATA:?path of tests/data}"
D=$DFUMGR_TEST_DATA
T=$(mktemp -d /tmp/dfumgr-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0
OUT=""
ERR=""
RC=0

# run_cmd PROGRAM ARGS...: runs PROGRAM, keeps stdout in $OUT, stderr in $ERR, status in $RC
run_cmd() {
	OUT=$("$@" 2>"$T/.err")
	RC=$?
	ERR=$(cat "$T/.err")
}
# run ARGS...: dfu-mgr
run() { run_cmd "$DFUMGR" "$@"; }
# L ARGS...: dfu-mgr-loop, the CLI's device commands over in-process boards
# (tests/support/cli_loop.c)
L() { run_cmd "${DFUMGR_LOOP_CLI:?path of dfu-mgr-loop}" "$@"; }

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; shift; for l in "$@"; do echo "       $l"; done; }

expect_rc() { # expect_rc WANT DESCRIPTION
	if [ "$RC" -eq "$1" ]; then ok "$2 (exit $RC)"; else bad "$2: exit $RC, want $1" "stdout: ${OUT:0:600}" "stderr: ${ERR:0:600}"; fi
}
expect_out() { # expect_out TEXT DESCRIPTION (stdout contains TEXT)
	if grep -qF -- "$1" <<<"$OUT"; then ok "$2"; else bad "$2: stdout lacks '$1'" "stdout: ${OUT:0:800}"; fi
}
expect_err() { # expect_err TEXT DESCRIPTION (stderr contains TEXT)
	if grep -qF -- "$1" <<<"$ERR"; then ok "$2"; else bad "$2: stderr lacks '$1'" "stderr: ${ERR:0:800}"; fi
}
expect_true() { # expect_true DESCRIPTION CMD...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what: '$*' failed"; fi
}
finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
