#!/usr/bin/env bash
# dfu-mgr list over real USB: three emulated boards attached through vhci-hcd, listed through
# libusb (strings, functional descriptor, GET_INFO), filtered, and followed across a power cycle
# (unplug, re-plug with a new address), with --wait woken by hotplug.
#
#   tests/vm/vm-run -- bash tests/vm/test_list.sh BUILD_DIR
#   (or with DFUMGR_BUILD_DIR in the environment, as the ctest "vm" tests pass it)
#
# Needs root and vhci-hcd (the VM test bed provides both). Prints "ok"/"FAIL" lines and the
# times it measured; exits 0 only when every check passed.
set -u

build=$(cd "${1:-${DFUMGR_BUILD_DIR:?usage: test_list.sh BUILD_DIR}}" && pwd) || exit 2
DFUMGR=$build/dfu-mgr
EMU=$build/firmware/emu/dfu-mgr-emu
VHCI=/sys/devices/platform/vhci_hcd.0
REPLUG_MS=5000 # long enough for a poll (~1 s per list under TCG) to see the board gone
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; shift; for l in "$@"; do echo "       $l"; done; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
. "$(dirname "$0")/udev_rule.sh"

for f in "$DFUMGR" "$EMU"; do
	[ -x "$f" ] || { echo "test_list: $f is missing: build first"; exit 2; }
done
[ -w "$VHCI/attach" ] || { echo "test_list: $VHCI/attach is not writable: run inside tests/vm/vm-run (root + vhci-hcd)"; exit 2; }

T=$(mktemp -d /tmp/dfumgr-list.XXXXXX)
CTL=$T/control.sock
EMU_PID=
cleanup() {
	if [ -n "$EMU_PID" ]; then
		kill "$EMU_PID" 2>/dev/null
		wait "$EMU_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# json_check FILE PYTHON-EXPR...: each expression is evaluated with d = the parsed document;
# prints the failing expression, exits non-zero if any is false.
json_check() {
	python3 - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
devs = d.get("devices", [])
bad = [e for e in sys.argv[2:] if not eval(e, {"d": d, "devs": devs})]
for e in bad:
    print("       false: " + e)
sys.exit(1 if bad else 0)
EOF
}

# --- three boards, attached by the emulator itself -------------------------------------------
t0=$(now_ms)
"$EMU" -a -n 3 --listen none -d "$T/state" -c "$CTL" -r "$REPLUG_MS" >"$T/emu.out" 2>"$T/emu.log" &
EMU_PID=$!
for _ in $(seq 1 300); do
	grep -q '^ready$' "$T/emu.out" 2>/dev/null && break
	kill -0 "$EMU_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q '^ready$' "$T/emu.out" || { bad "emulator starts" "$(cat "$T/emu.log")"; echo "$PASS passed, $FAIL failed"; exit 1; }
t_ready=$(now_ms)

# The kernel enumerates the boards after the attach writes: poll until all three are listed.
n=0
for _ in $(seq 1 120); do
	"$DFUMGR" list --json >"$T/list.json" 2>"$T/list.err"
	n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["devices"]))' "$T/list.json" 2>/dev/null || echo 0)
	[ "$n" -ge 3 ] && break
	sleep 0.25
done
t_listed=$(now_ms)
if [ "$n" -eq 3 ]; then ok "3 boards listed"; else bad "3 boards listed: got $n" "$(cat "$T/list.json" "$T/list.err")" "$(cat "$T/emu.log")"; fi

# --- what list says about them ----------------------------------------------------------------
if json_check "$T/list.json" \
	'len(devs) == 3' \
	'sorted(x["serial"] for x in devs) == ["NRF5340-EMU-0001", "NRF5340-EMU-0002", "NRF5340-EMU-0003"]' \
	'all(x["id"] == "1915:5300" and x["vid"] == 0x1915 and x["pid"] == 0x5300 for x in devs)' \
	'all(x["mode"] == "runtime" for x in devs)' \
	'len(set(x["path"] for x in devs)) == 3'; then
	ok "distinct serials NRF5340-EMU-0001..3, 1915:5300, runtime mode, distinct paths"
else
	bad "serials, ids, modes, paths" "$(cat "$T/list.json")"
fi
if json_check "$T/list.json" \
	'all(x["dfu"] is not None and x["dfu"]["transfer_size"] == 4096 and x["dfu"]["version"] == "1.1" for x in devs)' \
	'all(x["dfu"]["can_download"] and x["dfu"]["can_upload"] and x["dfu"]["will_detach"] and x["dfu"]["detach_timeout_ms"] == 1000 for x in devs)' \
	'all([a["alt"] for a in x["alts"]] == [0] and x["alts"][0]["name"] == "dfu-mgr runtime" for x in devs)' \
	'all(x["manufacturer"] == "Nordic Semiconductor" and x["product"].startswith("nRF5340") for x in devs)'; then
	ok "functional descriptor (DFU 1.1, 4096 bytes, will-detach, 1000 ms), runtime alt name, strings"
else
	bad "functional descriptor, alts, strings" "$(cat "$T/list.json")"
fi
if json_check "$T/list.json" \
	'all(x["shim"] is not None and x["shim"]["protocol"] == 2 and x["shim"]["serial"] == x["serial"] for x in devs)' \
	'all(x["shim"]["product"] == "xip-app" and x["shim"]["hw_revision"] == 1 for x in devs)' \
	'all([i["running_version"] for i in x["shim"]["images"]] == ["1.0.0+0", "1.0.0+0"] for x in devs)' \
	'all([i["max_image"] for i in x["shim"]["images"]] == [0xdb000, 0x36b000] for x in devs)' \
	'all([i["slot_state"] for i in x["shim"]["images"]] == ["empty", "empty"] for x in devs)'; then
	ok "GET_INFO (protocol 2): product xip-app, running versions 1.0.0+0, image limits, slots empty"
else
	bad "GET_INFO" "$(cat "$T/list.json")"
fi

# human output
"$DFUMGR" list >"$T/list.txt" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^NRF5340-EMU-0002  1915:5300  runtime  path ' "$T/list.txt" &&
	grep -q 'image 1  running 1.0.0+0, update slot empty' "$T/list.txt" &&
	grep -q 'product xip-app, hardware revision 1, shim protocol 2' "$T/list.txt"; then
	ok "human-readable list"
else
	bad "human-readable list (exit $rc)" "$(cat "$T/list.txt")"
fi

# --- filters ----------------------------------------------------------------------------------
path2=$(python3 -c 'import json,sys; print([x["path"] for x in json.load(open(sys.argv[1]))["devices"] if x["serial"] == "NRF5340-EMU-0002"][0])' "$T/list.json" 2>/dev/null)
addr2=$(python3 -c 'import json,sys; print([x["address"] for x in json.load(open(sys.argv[1]))["devices"] if x["serial"] == "NRF5340-EMU-0002"][0])' "$T/list.json" 2>/dev/null)
"$DFUMGR" list --json -S NRF5340-EMU-0002 >"$T/f1.json" 2>&1
json_check "$T/f1.json" 'len(devs) == 1 and devs[0]["serial"] == "NRF5340-EMU-0002"' &&
	ok "-S SERIAL selects one board" || bad "-S SERIAL" "$(cat "$T/f1.json")"
"$DFUMGR" list --json -p "$path2" --no-info >"$T/f2.json" 2>&1
json_check "$T/f2.json" 'len(devs) == 1 and devs[0]["serial"] == "NRF5340-EMU-0002" and devs[0]["shim"] is None and "shim_error" not in devs[0]' &&
	ok "-p PATH ($path2) selects the same board; --no-info sends no GET_INFO" || bad "-p PATH" "$(cat "$T/f2.json")"
"$DFUMGR" list --json -d 1915:5300 >"$T/f3.json" 2>&1
json_check "$T/f3.json" 'len(devs) == 3' && ok "-d 1915:5300 selects all three" || bad "-d VID:PID" "$(cat "$T/f3.json")"
"$DFUMGR" list -d 1915:5301 >"$T/f4.txt" 2>&1
rc=$?
[ "$rc" -eq 69 ] && ok "a filter that matches nothing exits 69" || bad "-d 1915:5301: exit $rc, want 69" "$(cat "$T/f4.txt")"

# --- without write access to the device nodes (no udev rule for this user) --------------------
# The descriptors still come from sysfs; strings and GET_INFO need the node open read-write.
setpriv --reuid=65534 --regid=65534 --clear-groups -- "$DFUMGR" list --json >"$T/nobody.json" 2>"$T/nobody.err"
rc=$?
if [ "$rc" -eq 0 ] && json_check "$T/nobody.json" \
	'len(devs) == 3 and all(x["id"] == "1915:5300" and x["mode"] == "runtime" and x["dfu"]["transfer_size"] == 4096 for x in devs)' \
	'all(x["shim"] is None and x["shim_error"]["name"] == "permission denied" and "udev rules" in x["shim_error"]["message"] for x in devs)'; then
	ok "an unprivileged user still sees the 3 boards, and GET_INFO says permission denied with the udev hint"
else
	bad "list as nobody (exit $rc)" "$(cat "$T/nobody.json" "$T/nobody.err")"
fi

# --- with the project's udev rule: a member of plugdev gets full access, nobody else more ---------
udev_rule_on
plugdev=$(getent group plugdev | cut -d: -f3)
setpriv --reuid=65534 --regid="$plugdev" --clear-groups -- "$DFUMGR" list --json >"$T/pd.json" 2>"$T/pd.err"
rc=$?
if [ "$rc" -eq 0 ] && json_check "$T/pd.json" 'len(devs) == 3' \
	'all(x["shim"] is not None and x["serial"].startswith("NRF5340-EMU-") for x in devs)'; then
	ok "udev rule: a plugdev member reads serials and GET_INFO without root"
else
	bad "list as plugdev with the udev rule (exit $rc)" "$(cat "$T/pd.json" "$T/pd.err")"
fi
modes=$(for f in /dev/bus/usb/*/*; do stat -c '%a %G' "$f"; done | sort | uniq -c | tr '\n' ';')
if [ "$(for f in /dev/bus/usb/*/*; do stat -c '%a' "$f"; done | grep -c 666)" -eq 0 ]; then
	ok "no world-writable USB device nodes ($modes)"
else
	bad "a world-writable USB device node" "$modes"
fi
udev_rule_off

# --- a power cycle: the board leaves the bus and comes back with a new address ------------------
t_l0=$(now_ms)
"$DFUMGR" list -S NRF5340-EMU-0002 >/dev/null 2>&1
t_l1=$(now_ms)
"$EMU" ctl -c "$CTL" reset NRF5340-EMU-0002 >"$T/reset.out" 2>&1 ||
	bad "ctl reset NRF5340-EMU-0002" "$(cat "$T/reset.out")"
t_reset=$(now_ms)
gone=no
while [ $(($(now_ms) - t_reset)) -lt $((REPLUG_MS + 3000)) ]; do
	"$DFUMGR" list -S NRF5340-EMU-0002 --no-info >/dev/null 2>&1
	if [ $? -eq 69 ]; then gone=yes; break; fi
done
t_gone=$(now_ms)
[ "$gone" = yes ] && ok "NRF5340-EMU-0002 disappears after the reset" || bad "NRF5340-EMU-0002 did not disappear within $((REPLUG_MS + 3000)) ms"
# The others keep their enumeration (same address) whether or not 0002 is back yet.
"$DFUMGR" list --json --no-info >"$T/during.json" 2>&1
others=$(python3 -c 'import json,sys; print(sorted((x["serial"], x["address"]) for x in json.load(open(sys.argv[1]))["devices"] if x["serial"] != "NRF5340-EMU-0002"))' "$T/list.json" 2>/dev/null)
json_check "$T/during.json" "sorted((x['serial'], x['address']) for x in devs if x['serial'] != 'NRF5340-EMU-0002') == $others" &&
	ok "the other two boards stay, untouched" || bad "the other two boards stay: want $others" "$(cat "$T/during.json")"

# --wait: woken by the arrival (libusb hotplug through udevd), not by polling
"$DFUMGR" list -S NRF5340-EMU-0002 --wait 20 --json >"$T/back.json" 2>"$T/back.err"
rc=$?
t_back=$(now_ms)
if [ "$rc" -eq 0 ] && json_check "$T/back.json" \
	'len(devs) == 1 and devs[0]["mode"] == "runtime"' \
	"devs[0][\"path\"] == \"$path2\" and devs[0][\"address\"] != $addr2" \
	'[i["running_version"] for i in devs[0]["shim"]["images"]] == ["1.0.0+0", "1.0.0+0"]'; then
	ok "it comes back (--wait) at the same path $path2 with a new address, running 1.0.0+0"
else
	bad "NRF5340-EMU-0002 comes back (exit $rc)" "$(cat "$T/back.json" "$T/back.err")" "$(tail -n 20 "$T/emu.log")"
fi
"$DFUMGR" list -S NRF5340-EMU-0009 --wait 1 >"$T/w.txt" 2>&1
rc=$?
[ "$rc" -eq 69 ] && grep -q 'waited 1 s' "$T/w.txt" && ok "--wait for an absent board exits 69 after the time" ||
	bad "--wait 1 for an absent board: exit $rc" "$(cat "$T/w.txt")"

echo "# times: emulator ready $((t_ready - t0)) ms, all 3 listed $((t_listed - t0)) ms after start;" \
	"one 'list -S' (with GET_INFO) $((t_l1 - t_l0)) ms; gone $((t_gone - t_reset)) ms after reset;" \
	"back $((t_back - t_reset)) ms after reset (replug delay $REPLUG_MS ms)"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
