#!/usr/bin/env bash
# What a fetch refuses, against a private nginx: a wrong SHA-256, an image longer than the
# signed size, a feed over the size limit (announced, or streamed compressed without a length),
# an untrusted certificate, a certificate for another name, 404, 500 (retried, then reported),
# 503 with Retry-After, a server that stalls, nobody listening, http://, a second fetch on the
# same staging directory. After each, nothing is in the destination.
. "$(dirname "$0")/lib.sh"
make_pki
nginx_start
IN=$T/in
B=https://127.0.0.1:$PORT

# only the staging directory: nothing partial or unverified ever lands in the destination
dest_clean() { test -z "$(ls -A "$IN" 2>/dev/null | grep -v '^\.staging$')"; }
# elapsed SECONDS-FLOAT of the last `timed` command
timed() { local t0; t0=$(date +%s.%N); "$@"; ELAPSED=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))"); }

make_bundle "$T/www/good" 2.3.0+4
cp -r "$T/www/good" "$T/www/badhash"
printf '\x55' | dd of="$T/www/badhash/qspi.bin" bs=1 seek=100000 conv=notrunc status=none
cp -r "$T/www/good" "$T/www/long"
head -c $((8 * 1024 * 1024)) /dev/zero >>"$T/www/long/qspi.bin"
cp -r "$T/www/good" "$T/www/short"
truncate -s 200000 "$T/www/short/qspi.bin"

# --- the images must be what the signed manifest says ---
fetch --dest "$IN" --bundle "$B/badhash/"
expect_rc 1 "an image with a wrong SHA-256 is refused"
expect_err "qspi.bin: SHA-256 is" "the message names the file and both hashes"
expect_err "the signed manifest says $(sha256sum "$T/www/good/qspi.bin" | cut -c1-64)" "with the signed one"
expect_true "nothing lands in incoming" dest_clean
expect_true "the bad bytes are not kept for a resume" test -z "$(find "$IN/.staging" -name qspi.bin)"
timed fetch --dest "$IN" --bundle "$B/slow/long/"
expect_rc 1 "an image longer than the signed size is refused"
expect_err "announces $(stat -c %s "$T/www/long/qspi.bin") bytes, the signed size is $(stat -c %s "$T/www/good/qspi.bin")" "as soon as the length is announced"
sent=$(log_field /slow/long/qspi.bin 5)
expect_true "cut off at once (${ELAPSED} s; at 256 KiB/s the whole file takes 33 s): nginx sent $sent of $(stat -c %s "$T/www/long/qspi.bin") bytes" python3 -c "import sys; sys.exit(not ($ELAPSED < 2 and $sent < 1024 * 1024))"
expect_true "nothing lands in incoming" dest_clean
fetch --dest "$IN" --bundle "$B/short/"
expect_rc 1 "an image shorter than the signed size is refused"
expect_true "nothing lands in incoming" dest_clean
fetch --dest "$IN" --max-file-size 100000 --bundle "$B/good/"
expect_rc 65 "an image over --max-file-size is refused"
expect_err "more than the limit of 100000" "naming the limit"
expect_true "before it is requested" test -z "$(log_of /good/qspi.bin)"

# --- size limits on the feed: announced, and streamed (gzip, no Content-Length) ---
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" "$T/www/good"
fsize=$(stat -c %s "$T/www/feed.json")
fetch --dest "$IN" --max-feed-size 300 "$B/feed.json"
expect_rc 65 "a feed over --max-feed-size is refused"
expect_err "announces $fsize bytes, more than the limit of 300" "from its Content-Length"
fetch --dest "$IN" --max-feed-size 300 "$B/gz/feed.json"
expect_rc 65 "a compressed feed that expands beyond the limit is cut off"
expect_err "the server sends more than the limit of 300 bytes" "while it streams"
expect_true "it came gzip-encoded, without a length to check first" test "$(log_field /gz/feed.json 9)" = gzip
fetch --dest "$T/in-gz" "$B/gz/feed.json"
expect_rc 0 "the same compressed feed within the limit is fine"

# --- TLS: only a trusted certificate for the right name ---
fetch --dest "$IN" "https://127.0.0.1:$BADPORT/feed.json"
expect_rc 1 "a server certificate from an untrusted CA is refused"
expect_err "the server's certificate is not trusted" "and says so"
expect_true "not one HTTP request reached that server" test -z "$(awk -F'|' -v p=$BADPORT '$10 == p' "$T/nginx/access.log")"
fetch --dest "$IN" "https://127.0.0.1:$NAMEPORT/feed.json"
expect_rc 1 "a trusted certificate for another host name is refused"
expect_err "127.0.0.1" "naming the host"
run fetch --key "$D/key-A-pub.pem" --dest "$IN" "$B/feed.json"
expect_rc 1 "without --cacert the test CA is not trusted (the system CAs are used)"
run fetch --cacert "$T/pki/no-such.pem" --key "$D/key-A-pub.pem" --dest "$IN" "$B/feed.json"
expect_rc 1 "a missing --cacert file is an error, not a fallback"
mkdir -p "$T/capath" && cp "$T/pki/ca.pem" "$T/capath/" && openssl rehash "$T/capath" 2>/dev/null
run fetch --capath "$T/capath" --key "$D/key-A-pub.pem" --dest "$T/in-capath" "$B/feed.json"
expect_rc 0 "--capath with the hashed test CA works"
expect_true "nothing unverified landed anywhere" dest_clean

# --- HTTP errors ---
fetch --dest "$IN" "$B/nope.json"
expect_rc 66 "404 on the feed"
expect_err "nope.json: HTTP 404: not on the server" "says what is missing"
fetch --dest "$IN" --bundle "$B/nothing-here/"
expect_rc 66 "404 on a bundle's manifest"
fetch --dest "$IN" --retries 2 --retry-wait 0.05 "$B/e500/feed.json"
expect_rc 69 "500 is reported after the retries"
expect_err "HTTP 500: server error" "as a server error"
expect_err "after 3 tries" "with the number of tries"
expect_true "the server saw 1 + 2 requests" test "$(log_of /e500/feed.json | wc -l)" = 3
timed fetch --dest "$IN" --retries 1 --retry-wait 0.05 --retry-wait-max 5 "$B/e503/feed.json"
expect_rc 69 "503 is reported after the retry"
expect_true "the retry waited for Retry-After: 1 (${ELAPSED} s)" python3 -c "import sys; sys.exit(not $ELAPSED >= 1.0)"

# --- a server that stalls is cut off; nobody listening; cancel ---
run publish --feed "$T/www/stall.json" -k "$D/key-A.pem" --url-base "$B/stall" "$T/www/good"
timed fetch --dest "$IN" --retries 0 --low-speed-time 1 --low-speed-limit 1000 "$B/stall.json"
expect_rc 75 "a transfer slower than 1000 B/s for 1 s is cut off"
expect_err "Operation too slow" "with libcurl's reason"
expect_true "within the bound (${ELAPSED} s)" python3 -c "import sys; sys.exit(not $ELAPSED < 4)"
expect_true "nothing lands in incoming" dest_clean
dead=$(free_port)
timed fetch --dest "$IN" --retries 2 --retry-wait 0.1 --retry-wait-max 0.2 "https://127.0.0.1:$dead/feed.json"
expect_rc 75 "nobody listening: a network error (try again later)"
expect_err "after 3 tries" "after the retries"
expect_true "the back-off waits are bounded (${ELAPSED} s)" python3 -c "import sys; sys.exit(not $ELAPSED < 2)"
"$DFUMGR" fetch --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$IN" --retries 100 \
	--retry-wait 30 "https://127.0.0.1:$dead/feed.json" >/dev/null 2>"$T/cancel.err" &
FPID=$!
# in its first back-off wait (30 s) once it says so
for _ in $(seq 500); do grep -q "trying again" "$T/cancel.err" && break; sleep 0.01; done
t0=$(date +%s.%N)
kill -TERM $FPID
wait $FPID
RC=$?
ELAPSED=$(python3 -c "print($(date +%s.%N) - $t0)")
expect_true "SIGTERM ends a back-off wait at once (${ELAPSED} s, exit $RC)" python3 -c "import sys; sys.exit(not ($ELAPSED < 1 and $RC != 0))"
expect_true "and says it was cancelled" grep -q cancelled "$T/cancel.err"

# --- only https; one fetch per staging directory; one filesystem ---
fetch --dest "$IN" "http://127.0.0.1:$PORT/feed.json"
expect_rc 65 "http:// is refused"
expect_err "only https:// URLs are fetched" "and says why"
"$DFUMGR" fetch --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$IN" --retries 0 \
	--bundle "$B/stall/good/" >/dev/null 2>&1 &
FPID=$!
for _ in $(seq 100); do [ -n "$(log_of /stall/good/manifest.json)" ] || [ -d "$IN/.staging" ] && break; sleep 0.02; done
sleep 0.3
fetch --dest "$IN" --bundle "$B/good/"
expect_rc 75 "a second fetch on the same staging directory is refused"
expect_err "another dfu-mgr fetch is using this staging directory" "and says why"
kill -TERM $FPID; wait $FPID 2>/dev/null
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$T")" ]; then
	fetch --dest "$IN" --staging "/dev/shm/dfumgr-staging-$$" --bundle "$B/good/"
	expect_rc 64 "staging on another filesystem than the destination is refused"
	expect_err "different filesystems" "and says why"
	rmdir "/dev/shm/dfumgr-staging-$$" 2>/dev/null
fi
expect_true "after all of this, the destination holds no bundle" dest_clean
fetch --dest "$IN" --bundle "$B/good/"
expect_rc 0 "and the good bundle still fetches"
finish
