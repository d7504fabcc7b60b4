#!/usr/bin/env bash
# dfu-mgrd's incoming directory and release store, without USB (--no-usb, on the host): bundles
# published by an atomic rename are checked and moved into the store or aside with a reason;
# partial, unsigned, traversing, symlinked, downgrading and duplicate bundles are refused; the
# store, the history and the pause survive restarts and crashes; `dfu-mgr history` reads it all
# with the daemon down.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
trap 'daemon_stop KILL; [ -n "$KEEP" ] || rm -rf "$T"' EXIT

ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"
KEY="$D/key-A.pem"
pack() { # pack VERSION DIR [more pack options]
	local v=$1 dir=$2
	shift 2
	"$DFUMGR" pack --version "$v" --key "$KEY" --product xip-app -o "$dir" "$@" "$ELF" >/dev/null
}
pack 1.1.0+1 "$T/b110"
pack 1.2.0+0 "$T/b120"
pack 0.9.0+0 "$T/b090"
cp -a "$T/b110" "$T/b110-again"
"$DFUMGR" keygen -o "$T/other.pem" >/dev/null
"$DFUMGR" pack --version 1.3.0 --key "$T/other.pem" --product xip-app -o "$T/badsig" "$ELF" >/dev/null
expect_true "test bundles made" test -f "$T/badsig/manifest.json.sig" -a -f "$T/b090/qspi.bin"
# a manifest naming a file outside the bundle (its signature does not matter: refused first)
cp -a "$T/b120" "$T/traversal"
sed -i 's|"file": "qspi.bin"|"file": "../qspi.bin"|' "$T/traversal/manifest.json"
expect_true "traversal manifest made" grep -q '"\.\./qspi.bin"' "$T/traversal/manifest.json"
# a valid bundle with one of its files replaced by a symlink to the same bytes elsewhere
cp -a "$T/b120" "$T/symlinked"
mv "$T/symlinked/qspi.bin" "$T/qspi-elsewhere.bin"
ln -s "$T/qspi-elsewhere.bin" "$T/symlinked/qspi.bin"

daemon_config
daemon_start --no-usb || { finish; exit 1; }
expect_true "dfu-mgrd starts without USB and answers on its socket" kill -0 "$DPID"

# --- a bundle published by rename is accepted and becomes the current release ---
publish "$T/b110" b110
wait_until 10 test -z "$(ls "$DD/in")"
expect_true "accepted bundle left the incoming directory" test -z "$(ls "$DD/in")"
id110=$(ls "$DD/state/releases/xip-app" 2>/dev/null | head -1)
expect_true "and is in the store as releases/xip-app/1.1.0_<sha> ($id110)" test -f "$DD/state/releases/xip-app/$id110/manifest.json" -a "${id110%%_*}" = 1.1.0
run status --json
expect_rc 0 "dfu-mgr status"
expect_true "status: current release of xip-app is 1.1.0" json_true - 'd["status"]["products"][0]["release"] == "1.1.0" and d["status"]["products"][0]["version"] == ["1.1.0+1", "1.1.0+1"]' <<<"$OUT"
expect_true "history: release record" hist_has 'r["event"] == "release" and r["release"] == "1.1.0" and r["name"] == "b110"'

# --- partial: a directory made in place and still being written is not touched ---
mkdir "$DD/in/partial"
cp "$T/b120/manifest.json" "$DD/in/partial/"
head -c 1000 "$T/b120/qspi.bin" >"$DD/in/partial/qspi.bin"
sleep 3
expect_true "partial bundle untouched in incoming/" test -d "$DD/in/partial" -a ! -e "$DD/state/rejected/partial"
expect_true "and not even read into the history" test "$(hist_count 'r.get("name") == "partial"')" -eq 0

# --- refusals: each moved aside with a reason file, none deleted ---
reject_case() { # reject_case DIR|- NAME REASON-TEXT DESCRIPTION (-: already in incoming/)
	[ "$1" = - ] || publish "$1" "$2"
	wait_until 10 test -e "$DD/state/rejected/$2.reason"
	if [ -f "$DD/state/rejected/$2.reason" ] && grep -q -- "$3" "$DD/state/rejected/$2.reason" &&
		[ -e "$DD/state/rejected/$2" ] && [ ! -e "$DD/in/$2" ]; then
		ok "$4: moved to rejected/ with a reason ($(sed -n 1p "$DD/state/rejected/$2.reason" | cut -c1-110))"
	else
		bad "$4" "reason: $(cat "$DD/state/rejected/$2.reason" 2>&1)" "incoming: $(ls "$DD/in")" "log: $(tail -3 "$DD/log")"
	fi
}
reject_case "$T/badsig" badsig "signature" "bundle signed by an untrusted key"
expect_true "its files are all still there" test -f "$DD/state/rejected/badsig/qspi.bin" -a -f "$DD/state/rejected/badsig/manifest.json.sig"
reject_case "$T/traversal" traversal "plain name" "bundle naming ../qspi.bin"
reject_case "$T/symlinked" symlinked "symbolic link" "bundle holding a symlink"
expect_true "the symlink itself was kept" test -L "$DD/state/rejected/symlinked/qspi.bin"
reject_case "$T/b090" b090 "downgrades are off" "downgrade (0.9.0 after 1.1.0)"
reject_case "$T/b110-again" b110-again "accepted before" "the same bundle again"
ln -s "$T/b120" "$T/link"
mv "$T/link" "$DD/in/link"
reject_case - link "symbolic link" "a symlink dropped in place of a bundle"
cp -a "$DD/state/rejected/badsig" "$T/badsig2"
publish "$T/badsig2" badsig
wait_until 10 test -e "$DD/state/rejected/badsig.1.reason"
expect_true "a second reject of a name gets its own place: rejected/badsig.1" test -d "$DD/state/rejected/badsig.1" -a -d "$DD/state/rejected/badsig"
echo "not a bundle" >"$T/note.txt"
mv "$T/note.txt" "$DD/in/note.txt"
sleep 1
expect_true "a plain file in incoming/ is left alone" test -f "$DD/in/note.txt"
expect_true "history: every refusal recorded with its error" test "$(hist_count 'r["event"] == "reject" and r["error"] > 0 and r["moved_to"].startswith("rejected/")')" -eq 7

# --- a newer release becomes current; the control socket lists both ---
publish "$T/b120" b120
wait_until 10 test ! -e "$DD/in/b120"
run daemon releases --json
expect_true "releases: 1.1.0 and 1.2.0, 1.2.0 current" json_true - 'sorted(r["release"] for r in d["releases"]) == ["1.1.0", "1.2.0"] and [r["release"] for r in d["releases"] if r["current"]] == ["1.2.0"]' <<<"$OUT"
run daemon releases
expect_out "current" "releases in words"

# --- pause survives a restart; a bundle renamed in while the daemon is down is taken at start ---
run daemon pause
expect_rc 0 "pause"
daemon_stop
expect_true "SIGTERM: clean exit 0" test $? -eq 0
pack 1.3.0+0 "$T/b130"
publish "$T/b130" b130
run history
expect_rc 0 "dfu-mgr history with the daemon stopped"
expect_out "stop" "it shows the clean stop"
expect_out "reject      badsig -> rejected/badsig" "and the refusals"
daemon_start --no-usb
wait_until 10 test ! -e "$DD/in/b130"
run status --json
expect_true "after restart: paused, 1.3.0 current (taken from incoming/ once settled)" json_true - 'd["status"]["paused"] and d["status"]["products"][0]["release"] == "1.3.0"' <<<"$OUT"
expect_true "the partial directory, found at start, is still there, untouched" test -d "$DD/in/partial" -a ! -e "$DD/state/rejected/partial"
expect_true "  and the log says why" grep -q "Leaving partial in the incoming directory" "$DD/log"
run daemon resume
expect_out "running" "resume"

# --- crash safety: killed right after the rename into the store, before the record ---
pack 1.4.0+0 "$T/b140"
daemon_stop
# what the daemon leaves when SIGKILLed between the rename and the history record
id140="1.4.0_$(sha256sum "$T/b140/manifest.json" | cut -c1-12)"
mv -T "$T/b140" "$DD/state/releases/xip-app/$id140"
daemon_start --no-usb
expect_true "a release without its record is adopted at start" hist_has "r['event'] == 'release' and r['release_id'] == '$id140'"
run status --json
expect_true "and is current" json_true - 'd["status"]["products"][0]["release"] == "1.4.0"' <<<"$OUT"
daemon_stop
# the journal's own crash points while a release is recorded: the store and history agree after
for pv in write:2:1.5.0 sync:2:1.6.0; do
	point=${pv%:*}
	v=${pv##*:}
	pack "$v+0" "$T/b-$v"
	DFUMGR_JOURNAL_CRASH=$point daemon_start --no-usb
	publish "$T/b-$v" "b-$v"
	wait_until 10 sh -c "! kill -0 $DPID 2>/dev/null"
	wait "$DPID" 2>/dev/null
	rc=$?
	DPID=""
	expect_true "DFUMGR_JOURNAL_CRASH=$point: the daemon died at the release record (status $rc)" test $rc -eq 137
	daemon_start --no-usb
	run status --json
	expect_true "  restart: $v is the current release" json_true - "d['status']['products'][0]['release'] == '$v'" <<<"$OUT"
	expect_true "  history: one release record for it" test "$(hist_count "r['event'] == 'release' and r['release'] == '$v'")" -eq 1
	expect_true "  the history reads whole" "$DFUMGR" history >/dev/null
	daemon_stop
done

# --- allow_downgrade: an older bundle is a rollback and becomes current ---
daemon_config "allow_downgrade = yes"
daemon_start --no-usb
pack 1.0.5+0 "$T/b105"
publish "$T/b105" b105
wait_until 10 test ! -e "$DD/in/b105"
run status --json
expect_true "allow_downgrade = yes: 1.0.5 (older) accepted and current" json_true - 'd["status"]["products"][0]["release"] == "1.0.5"' <<<"$OUT"

# --- configuration errors are named, and a bad reload keeps the old configuration ---
echo "max_parralel = 3" >>"$CONF"
kill -HUP "$DPID"
sleep 0.5
expect_true "SIGHUP with a typo: daemon still running" kill -0 "$DPID"
expect_true "  and the log names file, line and key" grep -q "dfu-mgrd.conf:1[0-9]: unknown key \"max_parralel\"" "$DD/log"
run daemon reload
expect_rc 65 "reload over the socket with the typo: error"
expect_err "max_parralel" "  naming the key"
"$DFUMGRD" -c "$CONF" --check-config >/dev/null 2>"$T/cc.err"
expect_true "--check-config exits 78 (EX_CONFIG) for it" test $? -eq 78
daemon_stop
expect_true "stop: exit 0" test $? -eq 0
finish
