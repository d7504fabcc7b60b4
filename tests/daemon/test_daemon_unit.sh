#!/usr/bin/env bash
# dfu-mgrd's systemd unit and its installation: systemd-analyze verifies the unit (any complaint
# fails), `systemd-analyze security` scores its sandbox (printed; at most 2.0), the unit says
# what dfu-mgrd(8) says, and cmake --install puts the daemon, unit, sysusers file, udev rule,
# man page and example configuration where systemd, udev and man look.
. "$(dirname "$0")/../cli/lib.sh"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed (package systemd)"; exit 77; }
: "${DFUMGRD:?path of dfu-mgrd}"
S=$(cd "$(dirname "$0")/../../systemd" && pwd)
svc=$T/dfu-mgrd.service
sed "s|@DFUMGRD_BIN@|$(readlink -f "$DFUMGRD")|" "$S/dfu-mgrd.service.in" >"$svc"
out=$(cd "$T" && systemd-analyze verify --man=no dfu-mgrd.service 2>&1)
expect_true "systemd-analyze verify: no complaints${out:+ ($out)}" test -z "$out"
for want in "Type=notify" "WatchdogSec=" "User=dfu-mgr" "SupplementaryGroups=plugdev" \
	"StateDirectory=dfu-mgr dfu-mgr/incoming" "RuntimeDirectory=dfu-mgr" "ConfigurationDirectory=dfu-mgr" \
	"ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "NoNewPrivileges=yes" \
	"RestrictAddressFamilies=AF_UNIX AF_NETLINK" "DevicePolicy=closed" "DeviceAllow=char-usb_device rw" \
	"SystemCallFilter=@system-service" "CapabilityBoundingSet=$" "ExecReload=/bin/kill -HUP"; do
	expect_true "the unit says $want" grep -q "^$want" "$svc"
done
expect_true "no other writable path than the state directory (no ReadWritePaths=)" sh -c "! grep -q '^ReadWritePaths=' '$svc'"
sec=$(systemd-analyze security --offline=yes "$svc" 2>/dev/null)
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$sec")
echo "daemon: systemd-analyze security dfu-mgrd.service: exposure $score (0 = fully sandboxed, 10 = not at all)"
grep "✗" <<<"$sec" | sed 's/  */ /g; s/^/  /'
expect_true "exposure level $score is at most 2.0" python3 -c "import sys; sys.exit(not float('${score:-10}') <= 2.0)"

# the daemon accepts no configuration the unit's paths would not fit
expect_true "dfu-mgrd --check-config reads the example configuration" "$DFUMGRD" -c "$S/dfu-mgrd.conf.example" --check-config

# cmake --install
B=${DFUMGR_BUILD_DIR:?}
cmake --install "$B" --prefix "$T/prefix" >"$T/install.log" 2>&1
expect_true "cmake --install succeeds" test $? -eq 0
for f in sbin/dfu-mgrd lib/systemd/system/dfu-mgrd.service lib/sysusers.d/dfu-mgr.conf \
	lib/udev/rules.d/70-dfu-mgr.rules share/man/man8/dfu-mgrd.8 share/doc/dfu-mgr/dfu-mgrd.conf.example; do
	expect_true "installed: $f" test -e "$T/prefix/$f"
done
# the unit names the daemon under the configured prefix (CMAKE_INSTALL_PREFIX), as the fetch unit
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$B/CMakeCache.txt")
unit=$T/prefix/lib/systemd/system/dfu-mgrd.service
expect_true "the installed unit starts $prefix/sbin/dfu-mgrd" grep -q "^ExecStart=$prefix/sbin/dfu-mgrd$" "$unit"
sed "s|^ExecStart=.*|ExecStart=$T/prefix/sbin/dfu-mgrd|" "$unit" >"$T/installed.service"
out=$(systemd-analyze verify --man=no "$T/installed.service" 2>&1)
expect_true "the installed unit verifies too${out:+ ($out)}" test -z "$out"
expect_true "dfu-mgrd(8) renders without warnings" sh -c "MANWIDTH=100 man --warnings -l '$T/prefix/share/man/man8/dfu-mgrd.8' 2>&1 >/dev/null | { ! grep -q .; }"
expect_true "the installed daemon runs (--version)" env LD_LIBRARY_PATH="$T/prefix/lib" "$T/prefix/sbin/dfu-mgrd" --version
finish
