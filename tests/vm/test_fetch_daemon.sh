#!/usr/bin/env bash
# Remote updates end to end: a release published with `dfu-mgr publish` on a private HTTPS
# server (nginx, with a test CA made here) is fetched by the fetch unit's own command line into
# the incoming directory, where the running dfu-mgrd sees it arrive, takes it into its store and
# updates an emulated board over real USB (vhci-hcd, usbfs, udev, libusb). A second fetch of the
# unchanged feed is a 304 and delivers nothing. `dfu-mgr status` shows both fetches.
#
# Where things run: all of it inside the VM, nginx on the guest's loopback included. That is how
# the two units are deployed (dfu-mgr-fetch.service and dfu-mgrd.service on one host, the
# incoming directory on its local file system), and it is the only honest choice here: the
# daemon learns of new bundles through inotify, which does not see changes made by the host
# through the VM's 9p share, and the VM has no network to reach a server on the host. A fetch
# on the host followed by a daemon restart would test a path no user takes.
#
# The fetch command is dfu-mgr-fetch.service's ExecStart, read from the unit with its variables
# taken from a fetch.conf as the unit's EnvironmentFile= gives them (${VAR} one word, $VAR split
# on white space), run as the unit's stand-in user (uid 65534; the guest has no dfu-mgr user)
# with the unit's UMask=. The daemon's paths are the defaults of dfu-mgrd.conf.example. Both move
# /var/lib/dfu-mgr, /run/dfu-mgr and /etc/dfu-mgr/keys.d into the test directory, so the test
# also checks that the two units agree: the fetch's --dest is the daemon's incoming directory and
# its --state the daemon's fetch_state. The daemon runs as that user too, with plugdev through
# the udev rule, as its unit does.
. "$(dirname "$0")/lib.sh"
# the guest's loopback is its own: fixed ports spare three python starts (seconds under TCG)
[ "${DFUMGR_VM_MODE:-}" != qemu ] || { PORT=8443 BADPORT=8444 NAMEPORT=8445; }
. "$(dirname "$0")/../fetch/lib.sh"
. "$(dirname "$0")/../daemon/lib.sh"
trap 'daemon_stop KILL; emu_stop; nginx_stop KILL; rm -rf "$T"
	udev_rule_off' EXIT
t_all=$(now)

S=$(cd "$(dirname "$0")/../../systemd" && pwd)
ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
B1=EMU-0001
USER_ID=65534 # the units' User=dfu-mgr
chmod 755 "$T"
VAR=$DD/state # /var/lib/dfu-mgr
ETC=$T/etc    # /etc/dfu-mgr
RUN=$DD/run   # /run/dfu-mgr
relocate() { sed "s|/var/lib/dfu-mgr|$VAR|g; s|/run/dfu-mgr|$RUN|g; s|/etc/dfu-mgr|$ETC|g"; }

# the board enumerates while the server is set up
emu_launch 1

# --- the server: a test CA, nginx on the guest's loopback, the feed published into it ---
t0=$(now)
make_pki
nginx_start
FEED="https://127.0.0.1:$PORT/feed.json"
"$DFUMGR" pack --version 1.1.0+1 --key "$D/key-A.pem" --product xip-app -o "$T/www/xip-app-1.1.0" "$ELF" >/dev/null
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" "$T/www/xip-app-1.1.0"
expect_rc 0 "dfu-mgr publish: release 1.1.0 into the server's new feed"
echo "fetch: test CA, nginx and the published release ready in $(elapsed "$t0") s"

# --- the fetch unit's configuration and command line ---
mkdir -p "$ETC/keys.d" "$VAR/incoming" "$VAR/fetch" "$RUN"
cp "$D/key-A-pub.pem" "$ETC/keys.d/"
cat >"$ETC/fetch.conf" <<-CONF
	# as fetch.conf.example says: the feed, and a private CA for the server's certificate
	DFUMGR_FEED_URL=$FEED
	DFUMGR_FETCH_ARGS=--product xip-app --cacert $T/pki/ca.pem
CONF
unit=$(sed "s|@DFUMGR_BIN@|$(readlink -f "$DFUMGR")|" "$S/dfu-mgr-fetch.service.in")
grep -q "^EnvironmentFile=/etc/dfu-mgr/fetch.conf$" <<<"$unit" || { echo "FAIL - the unit reads another EnvironmentFile"; exit 1; }
cmd=$(sed -n '/^ExecStart=/,/[^\\]$/p' <<<"$unit" | sed 's/^ExecStart=//; s/\\$//' | tr -d '\n' | tr '\t' ' ' | relocate)
conf() { sed -n "s/^$1=//p" "$ETC/fetch.conf"; }
cmd=${cmd//\$\{DFUMGR_FEED_URL\}/$(conf DFUMGR_FEED_URL)}
cmd=${cmd//\$DFUMGR_FETCH_ARGS/$(conf DFUMGR_FETCH_ARGS)}
expect_true "the unit's command line has no variable left (${cmd//$T/\$T})" test "${cmd//\$/}" = "$cmd"
read -r -a argv <<<"$cmd"
umask_unit=$(sed -n 's/^UMask=//p' <<<"$unit")
# the unit's StateDirectory=: owned by its user
chown -R $USER_ID:$USER_ID "$DD"
# fetch_unit: one run of the service, as its user and with its umask; $RC, $OUT, $ERR
fetch_unit() {
	OUT=$(cd / && umask "$umask_unit" && setpriv --reuid=$USER_ID --regid=$USER_ID --clear-groups "${argv[@]}" 2>"$T/fetch.err")
	RC=$?
	ERR=$(cat "$T/fetch.err")
}

# --- the daemon: the example configuration's paths, its unit's user and device access ---
{
	sed -n '/^\[paths\]/,/^\[/{s/^#\([a-z_]* = \)/\1/p}' "$S/dfu-mgrd.conf.example" | relocate | sed '1i [paths]'
	printf '[policy]\nsettle = 1\n'
} >"$CONF"
# the value after OPTION in the fetch unit's command line
opt() { local i; for ((i = 0; i < ${#argv[@]} - 1; i++)); do [ "${argv[i]}" != "$1" ] || echo "${argv[i + 1]}"; done; }
cfg() { sed -n "s/^$1 = //p" "$CONF"; }
expect_true "the fetch unit's --dest is dfu-mgrd's incoming ($(opt --dest | sed "s|$T|\$T|"))" test "$(opt --dest)" = "$(cfg incoming)"
expect_true "its --state is dfu-mgrd's fetch_state" test "$(opt --state)" = "$(cfg fetch_state)"
expect_true "its --keys are dfu-mgrd's keys" test "$(opt --keys)" = "$(cfg keys)"
expect_true "its --staging is on incoming's file system (one rename delivers)" test "$(stat -c %d "$(dirname "$(opt --staging)")")" = "$(stat -c %d "$(cfg incoming)")"
emu_wait 1 || { echo "FAIL - the board did not attach"; exit 1; }
udev_rule_on
plugdev=$(getent group plugdev | cut -d: -f3)
setpriv --reuid=$USER_ID --regid=$USER_ID --groups="$plugdev" "$DFUMGRD" -c "$CONF" >>"$DD/log" 2>&1 &
DPID=$!
board_is() { "$DFUMGR" daemon boards --json | grep -qE "\"status\":\s*\"$1\""; }
wait_until 30 board_is no-release
expect_true "dfu-mgrd is up and sees $B1, with no release yet" board_is no-release
expect_true "$B1 runs 1.0.0+0 on both images, confirmed" test "$(running $B1)" = "1.0.0+0 1.0.0+0 confirmed"
run status
expect_out "last fetch none" "dfu-mgr status before any fetch: last fetch none"

# --- the fetch unit runs: the release lands in incoming, the daemon updates the board ---
t0=$(now)
fetch_unit
expect_rc 0 "the fetch unit's command: exit 0"
expect_out "delivered to $VAR/incoming/xip-app-1.1.0" "it delivers xip-app-1.1.0 into the daemon's incoming directory"
t_fetch=$(elapsed "$t0")
expect_true "requests: feed, its signature, the manifest, both images, once each" test \
	"$(cut -d'|' -f2,3 "$T/nginx/access.log" | tr '\n' ' ')" = "/feed.json|200 /feed.json.sig|200 /xip-app-1.1.0/manifest.json|200 /xip-app-1.1.0/internal.bin|200 /xip-app-1.1.0/qspi.bin|200 "
wait_until 120 board_is up-to-date
echo "fetch: fetched in $t_fetch s; the board updated $(elapsed "$t0") s after the fetch started"
expect_true "$B1 runs the published release: both images 1.1.0+1, confirmed" test "$(running $B1)" = "1.1.0+1 1.1.0+1 confirmed"
pub=$T/www/xip-app-1.1.0
expect_true "its internal flash's image 0 primary slot holds the published internal.bin" \
	cmp -s -n "$(stat -c %s "$pub/internal.bin")" "$pub/internal.bin" "$EMU_DIR/$B1/internal.bin" 0 $((0x00c000))
expect_true "its QSPI flash's image 1 primary slot holds the published qspi.bin" \
	cmp -s -n "$(stat -c %s "$pub/qspi.bin")" "$pub/qspi.bin" "$EMU_DIR/$B1/qspi.bin" 0 $((0x120000))
expect_true "history: the delivered bundle was taken in as release 1.1.0" hist_has \
	"r['event'] == 'release' and r['release'] == '1.1.0' and r['name'] == 'xip-app-1.1.0'"
expect_true "history: the result record, ok, committed, the new pair running" hist_has \
	"r['event'] == 'result' and r['serial'] == '$B1' and r['release'] == '1.1.0' and r['result'] == 'ok' and r['committed'] and r['after'] == ['1.1.0+1', '1.1.0+1'] and r.get('outcome') == 'new pair running'"
expect_true "the store holds the published manifest" cmp -s "$pub/manifest.json" "$(ls -d "$VAR"/releases/xip-app/1.1.0_*)/manifest.json"
expect_true "incoming is empty again (the daemon moved the bundle into its store)" test -z "$(ls -A "$VAR/incoming")"
run status
expect_rc 0 "dfu-mgr status"
expect_out "release    xip-app 1.1.0 (images 1.1.0+1 1.1.0+1)" "status: the release"
expect_out "1 connected: 1 up to date" "status: the board up to date"
expect_true "status: last fetch: delivered xip-app 1.1.0" grep -qE "^last fetch [0-9T:.-]+Z delivered \(last delivered: xip-app 1.1.0 at " <<<"$OUT"
echo "$OUT" | sed 's/^/       /'

# --- the timer's next run: the feed is unchanged, nothing new is placed ---
fetch_unit
expect_rc 0 "the fetch unit again: exit 0"
expect_out "not modified since the last run" "the feed was not modified"
expect_out "up to date" "xip-app 1.1.0 is up to date"
expect_true "the feed request was conditional and got 304" test "$(log_field /feed.json 3)" = 304 -a "$(log_field /feed.json 6)" != -
expect_true "nothing but the feed was requested again" test "$(wc -l <"$T/nginx/access.log")" -eq 6
sleep 1.5 # a bundle placed would be seen at once (inotify) and taken within the settle time
expect_true "nothing was placed in incoming" test -z "$(ls -A "$VAR/incoming")"
expect_true "the daemon took in no other release" test "$(hist_count "r['event'] == 'release'")" -eq 1
expect_true "nor started another update" test "$(hist_count "r['event'] == 'attempt'")" -eq 1
run status --json
expect_true "status --json: last fetch up-to-date, feed sequence 1, last delivered xip-app 1.1.0" json_true - \
	'(lambda f: f["result"] == "up-to-date" and f["feed_sequence"] == 1 and f["source"] == "'"$FEED"'" and f["delivered"]["release"] == "1.1.0" and f["delivered"]["version"] == "1.1.0+1" and f["file"] == "'"$VAR/fetch/state.json"'")(d["status"]["last_fetch"])' <<<"$OUT"
run status
expect_true "status: last fetch up-to-date" grep -qE "^last fetch [0-9T:.-]+Z up-to-date \(last delivered: xip-app 1.1.0 " <<<"$OUT"
expect_true "$B1 still runs 1.1.0+1, confirmed" test "$(running $B1)" = "1.1.0+1 1.1.0+1 confirmed"

daemon_stop
expect_true "dfu-mgrd stops cleanly" test $? -eq 0
udev_rule_off
echo "fetch: end to end in $(elapsed "$t_all") s (after the boot)"
finish
