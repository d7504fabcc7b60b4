#!/usr/bin/env bash
# The systemd units of the fetch timer: systemd-analyze verifies them (any warning fails), the
# sandbox is what the design says, the service's command line is one dfu-mgr fetch accepts and
# it writes the state file the daemon reads, and cmake --install puts them in place.
. "$(dirname "$0")/../cli/lib.sh"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
S=$(cd "$(dirname "$0")/../../systemd" && pwd)
sed "s|@DFUMGR_BIN@|$(readlink -f "$DFUMGR")|" "$S/dfu-mgr-fetch.service.in" >"$T/dfu-mgr-fetch.service"
cp "$S/dfu-mgr-fetch.timer" "$T/"
out=$(cd "$T" && systemd-analyze verify --man=no dfu-mgr-fetch.service dfu-mgr-fetch.timer 2>&1)
expect_true "systemd-analyze verify: no complaints${out:+ ($out)}" test -z "$out"
svc=$T/dfu-mgr-fetch.service
for want in "RandomizedDelaySec=" "ProtectSystem=strict" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
	"ReadWritePaths=/var/lib/dfu-mgr/incoming /var/lib/dfu-mgr/fetch" "User=dfu-mgr" "NoNewPrivileges=yes" \
	"CapabilityBoundingSet=" "PrivateDevices=yes" "SystemCallFilter=@system-service"; do
	expect_true "the units say $want" grep -q "^$want" "$svc" "$T/dfu-mgr-fetch.timer"
done
score=$(systemd-analyze security --offline=yes "$svc" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
echo "fetch: systemd-analyze security: exposure $score (0 = fully sandboxed, 10 = not at all)"
expect_true "exposure level $score is at most 2.0" python3 -c "import sys; sys.exit(not float('${score:-10}') <= 2.0)"

# the service's command, with the paths moved into the test directory: every option is one
# dfu-mgr fetch knows (an unreachable feed is a network error, 75, not a usage error, 64)
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/keys.d" && cp "$D/key-A-pub.pem" "$T/keys.d/"
cmd=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$svc" | sed 's/^ExecStart=//; s/\\$//' | tr -d '\n\t')
cmd=${cmd//\$\{DFUMGR_FEED_URL\}/https://127.0.0.1:$dead/feed.json}
cmd=${cmd//\$DFUMGR_FETCH_ARGS/--retries 0}
cmd=${cmd//\/var\/lib\/dfu-mgr/$T/var}
cmd=${cmd//\/etc\/dfu-mgr\/keys.d/$T/keys.d}
mkdir -p "$T/var/incoming" "$T/var/fetch"
read -r -a argv <<<"$cmd"
"${argv[@]}" >/dev/null 2>"$T/err"
RC=$?
ERR=$(cat "$T/err")
expect_rc 75 "the service's command line runs (unreachable feed)"
expect_true "and leaves the state file the daemon reads: failed, network error" test \
	"$(python3 -c 'import json,sys; j = json.load(open(sys.argv[1])); print(j["result"], j["error"]["code"], j["source"])' "$T/var/fetch/state.json")" = "failed $(sed -n 's/.*DFUMGR_E_NETWORK = \([0-9]*\).*/\1/p' "$S/../include/dfumgr/common.h") https://127.0.0.1:$dead/feed.json"

if [ -n "${DFUMGR_BUILD_DIR:-}" ] && command -v cmake >/dev/null; then
	cmake --install "$DFUMGR_BUILD_DIR" --prefix "$T/inst" >/dev/null
	for f in lib/systemd/system/dfu-mgr-fetch.service lib/systemd/system/dfu-mgr-fetch.timer \
		lib/sysusers.d/dfu-mgr.conf share/man/man5/dfu-mgr-feed.5; do
		expect_true "cmake --install puts $f in place" test -s "$T/inst/$f"
	done
	expect_true "the installed service runs the installed dfu-mgr" grep -q "^ExecStart=/.*/bin/dfu-mgr fetch --feed" "$T/inst/lib/systemd/system/dfu-mgr-fetch.service"
	pcdir=$(dirname "$(find "$T/inst" -name libdfumgr-fetch.pc | head -1)")
	expect_true "pkg-config finds libdfumgr-fetch, which brings libdfumgr" sh -c "PKG_CONFIG_PATH='$pcdir' pkg-config --libs libdfumgr-fetch | grep -q -- '-ldfumgr-fetch -ldfumgr'"
	expect_true "libdfumgr does not link libcurl (the daemon's library)" sh -c "! ldd '$(ls "$T"/inst/lib*/libdfumgr.so.0 2>/dev/null | head -1 || ls "$T"/inst/lib/*/libdfumgr.so.0)' | grep -q libcurl"
fi
finish
