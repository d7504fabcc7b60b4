#!/usr/bin/env bash
# Resumable downloads against a private nginx that sends the image slowly (limit_rate):
# 1. the fetch process dies mid-file (SIGKILL): the next run hashes the staged part once and
#    asks only for the rest (Range), and the rest is all nginx sends;
# 2. nginx dies mid-file while the fetch keeps running: it waits, retries, and continues with a
#    Range request, the hash carried over (nothing is read back from disk).
# Nothing appears in the destination before the bundle is complete and verified.
SLOW_RATE=1m
. "$(dirname "$0")/lib.sh"
make_pki
nginx_start
IN=$T/in
SIZE=$((3 * 1024 * 1024))
CUT=$((1024 * 1024))

# wait_staged FILE BYTES: until FILE holds at least BYTES (the transfer is under way)
wait_staged() {
	for _ in $(seq 400); do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.01
	done
	return 1
}

# --- 1. the fetch process is killed mid-file ---
make_bundle "$T/www/app-3.0.0" 3.0.0+1 $SIZE
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" --url-base "https://127.0.0.1:$PORT/slow" "$T/www/app-3.0.0"
expect_rc 0 "publish a bundle with a 3 MiB image, served at 1 MiB/s"
MSHA=$(sha256sum "$T/www/app-3.0.0/manifest.json" | cut -c1-64)
STAGED=$IN/.staging/$MSHA/qspi.bin
"$DFUMGR" fetch --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$IN" \
	"https://127.0.0.1:$PORT/feed.json" >"$T/f1.out" 2>"$T/f1.err" &
FPID=$!
expect_true "the image is being staged" wait_staged "$STAGED" $CUT
kill -KILL $FPID
wait $FPID 2>/dev/null
staged=$(stat -c %s "$STAGED")
expect_true "killed mid-file ($staged of $SIZE+ bytes staged)" test "$staged" -ge $CUT -a "$staged" -lt $SIZE
expect_true "nothing in the destination but the staging directory" test "$(ls -A "$IN")" = .staging
full=$(stat -c %s "$T/www/app-3.0.0/qspi.bin")
fetch --dest "$IN" --json "https://127.0.0.1:$PORT/feed.json"
expect_rc 0 "fetch again after the process died"
expect_true "delivered complete and identical" cmp "$T/www/app-3.0.0/qspi.bin" "$IN/app-3.0.0/qspi.bin"
int=$(stat -c %s "$T/www/app-3.0.0/internal.bin")
expect_true "the staged part of qspi.bin and the whole internal.bin were kept (hashed once)" test "$(json - 'j["bytes_resumed"], j["bytes_rehashed"]' <<<"$OUT")" = "($((staged + int)), $((staged + int)))"
expect_true "internal.bin, staged whole, was not asked for again" test "$(log_of /slow/app-3.0.0/internal.bin | wc -l)" = 1
expect_true "the second request for the image asked for Range bytes=$staged-" test "$(log_field /slow/app-3.0.0/qspi.bin 4)" = "bytes=$staged-"
expect_true "and got 206 with Content-Range bytes $staged-$((full - 1))/$full" test "$(log_field /slow/app-3.0.0/qspi.bin 3)|$(log_field /slow/app-3.0.0/qspi.bin 8)" = "206|bytes $staged-$((full - 1))/$full"
sent2=$(log_field /slow/app-3.0.0/qspi.bin 5)
expect_true "nginx sent only the rest: $sent2 bytes = $full - $staged" test "$sent2" -eq $((full - staged))
expect_true "the second run downloaded the manifest and the rest of qspi.bin only" test "$(json - 'j["bytes_downloaded"] - '"$(stat -c %s "$T/www/app-3.0.0/manifest.json")" <<<"$OUT")" -eq $((full - staged))
echo "fetch: resume after the process died: $staged of $full bytes kept ($((staged * 100 / full))%), $sent2 fetched again"
expect_true "the staging directory is cleaned up" test "$(ls -A "$IN/.staging")" = .lock

# --- 2. the server dies mid-file; the fetch retries and continues in the same run ---
make_bundle "$T/www/app-3.1.0" 3.1.0+1 $SIZE
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" --url-base "https://127.0.0.1:$PORT/slow" "$T/www/app-3.1.0"
MSHA=$(sha256sum "$T/www/app-3.1.0/manifest.json" | cut -c1-64)
STAGED=$IN/.staging/$MSHA/qspi.bin
"$DFUMGR" fetch --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$IN" --json \
	--retries 8 --retry-wait 0.3 --retry-wait-max 1 \
	"https://127.0.0.1:$PORT/feed.json" >"$T/f2.out" 2>"$T/f2.err" &
FPID=$!
expect_true "the image is being staged" wait_staged "$STAGED" $CUT
nginx_stop KILL
cut_at=$(stat -c %s "$STAGED")
sleep 0.5
nginx_start
wait $FPID
RC=$?
OUT=$(cat "$T/f2.out")
ERR=$(cat "$T/f2.err")
full=$(stat -c %s "$T/www/app-3.1.0/qspi.bin")
expect_rc 0 "the fetch survives the server dying mid-file"
expect_err "trying again in" "it says it retries"
expect_true "delivered complete and identical" cmp "$T/www/app-3.1.0/qspi.bin" "$IN/app-3.1.0/qspi.bin"
expect_true "at least one retry, nothing re-read from disk" test "$(json - 'j["retries"] >= 1 and j["bytes_rehashed"] == 0' <<<"$OUT")" = True
range=$(log_field /slow/app-3.1.0/qspi.bin 4)
start=${range#bytes=}
start=${start%-}
expect_true "the retry asked for Range $range, at or after the $cut_at bytes staged at the cut" test "$start" -ge "$cut_at" -a "$start" -lt "$full"
expect_true "and nginx sent only the rest" test "$(log_field /slow/app-3.1.0/qspi.bin 5)" -eq $((full - start))
echo "fetch: resume after the server died: continued at byte $start of $full in the same run"
finish
