#!/usr/bin/env bash
# dfu-mgr publish and fetch against a private nginx over HTTPS: a feed and its bundle, manifest
# first; the second fetch conditional (304) and up to date; a new release; replayed, tampered
# and unsigned feeds refused; a bundle URL; mirrors; several products; --json, the state file
# and the progress bar on a terminal.
. "$(dirname "$0")/lib.sh"
make_pki
nginx_start
FEED="https://127.0.0.1:$PORT/feed.json"
IN=$T/in

make_bundle "$T/www/app-2.3.0" 2.3.0+4
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" "$T/www/app-2.3.0"
expect_rc 0 "publish a bundle into a new feed"
expect_out "(sequence 1)" "a new feed starts at sequence 1"
expect_true "openssl verifies feed.json.sig with key A" openssl dgst -sha256 -verify "$D/key-A-pub.pem" \
	-signature "$T/www/feed.json.sig" "$T/www/feed.json"
expect_true "the release's URL is relative to the feed" test "$(json "$T/www/feed.json" 'j["products"][0]["releases"][0]["urls"]')" = "['app-2.3.0/']"
expect_true "the feed carries the manifest's signature" test "$(json "$T/www/feed.json" 'j["products"][0]["releases"][0]["manifest"]["signature"]')" = "$(od -An -v -tx1 "$T/www/app-2.3.0/manifest.json.sig" | tr -d ' \n')"

# --- the first fetch: feed, signature, manifest, then the images ---
fetch --dest "$IN" --cache "$T/cache.json" --state "$T/state.json" "$FEED"
expect_rc 0 "fetch the feed and its newest release"
expect_out "delivered to $IN/app-2.3.0" "the bundle lands in the incoming directory"
expect_true "the delivered bundle is byte for byte the published one" diff -r "$T/www/app-2.3.0" "$IN/app-2.3.0"
run verify-bundle --key "$D/key-A-pub.pem" "$IN/app-2.3.0"
expect_rc 0 "and it verifies as a bundle"
expect_true "requests in order: feed, feed.json.sig, manifest, images" test \
	"$(cut -d'|' -f2 "$T/nginx/access.log" | tr '\n' ' ')" = "/feed.json /feed.json.sig /app-2.3.0/manifest.json /app-2.3.0/internal.bin /app-2.3.0/qspi.bin "
expect_true "manifest.json.sig is not fetched: the feed carries it" test -z "$(log_of /app-2.3.0/manifest.json.sig)"
expect_true "nothing is left in the staging directory but its lock" test "$(ls -A "$IN/.staging")" = .lock
expect_true "state file: delivered" test "$(json "$T/state.json" 'j["result"], j["feed_sequence"], j["delivered"]["release"], j["delivered"]["bundle"]')" = "('delivered', 1, '2.3.0', '$IN/app-2.3.0')"

# --- the second fetch is conditional: 304, nothing else fetched ---
fetch --dest "$IN" --cache "$T/cache.json" --state "$T/state.json" "$FEED"
expect_rc 0 "fetch again"
expect_out "not modified since the last run" "the feed was not modified"
expect_out "up to date" "and the release is up to date"
expect_true "the second feed request was conditional and got 304" test "$(log_field /feed.json 3)" = 304 -a "$(log_field /feed.json 6)" != - -a "$(log_field /feed.json 7)" != -
expect_true "no second feed.json.sig or image request" test "$(log_of /feed.json.sig | wc -l)$(log_of /app-2.3.0/qspi.bin | wc -l)" = 11
expect_true "state file: up-to-date" test "$(json "$T/state.json" 'j["result"]')" = up-to-date

# the daemon took the bundle: the state file remembers it was delivered
rm -rf "$IN/app-2.3.0"
fetch --dest "$IN" --cache "$T/cache.json" --state "$T/state.json" "$FEED"
expect_rc 0 "fetch after the bundle was taken out of incoming"
expect_out "up to date" "is still up to date (the state file)"
expect_true "and nothing was delivered again" test ! -e "$IN/app-2.3.0"
fetch --dest "$IN" --cache "$T/cache.json" --state "$T/state.json" --force "$FEED"
expect_rc 0 "--force delivers it again"
expect_true "the bundle is back" diff -r "$T/www/app-2.3.0" "$IN/app-2.3.0"
# without a state file: the bundle is found in incoming, nothing is fetched
n_before=$(log_of /app-2.3.0/qspi.bin | wc -l)
fetch --dest "$IN" "$FEED"
expect_rc 0 "fetch without cache or state"
expect_out "already in $IN/app-2.3.0" "finds the bundle in incoming"
expect_true "without fetching its images (or its manifest)" test "$(log_of /app-2.3.0/qspi.bin | wc -l)" = "$n_before"

# --- a new release: the feed changed (200), the newest one is delivered ---
cp "$T/www/feed.json" "$T/feed-seq1.json"
cp "$T/www/feed.json.sig" "$T/feed-seq1.json.sig"
make_bundle "$T/www/app-2.4.0" 2.4.0+1
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" "$T/www/app-2.4.0"
expect_rc 0 "publish a second release"
expect_out "(sequence 2)" "the sequence grows"
fetch --dest "$IN" --cache "$T/cache.json" --state "$T/state.json" --json "$FEED"
expect_rc 0 "fetch the new release"
expect_true "--json: delivered 2.4.0 from feed sequence 2, not from cache" test "$(json - 'j["result"], j["release"]["release"], j["feed"]["sequence"], j["feed"]["not_modified"], j["bundle"]' <<<"$OUT")" = "('delivered', '2.4.0', 2, False, '$IN/app-2.4.0')"
expect_true "--json: bytes add up" test "$(json - 'j["bytes_total"] == sum(f["size"] for f in json.load(open("'"$T/www/app-2.4.0/manifest.json"'"))["images"]) and j["bytes_downloaded"] == j["bytes_total"] + '"$(stat -c %s "$T/www/app-2.4.0/manifest.json")" <<<"$OUT")" = True
expect_true "the changed feed got 200 despite the validators" test "$(log_field /feed.json 3)" = 200
fetch --dest "$IN" --release 2.3.0 "$FEED"
expect_rc 0 "--release picks an older release"
expect_out "app 2.3.0 (2.3.0+4): already in" "which is already in incoming"

# --- replayed, tampered, unsigned ---
cp "$T/www/feed.json" "$T/feed-seq2.json"
cp "$T/www/feed.json.sig" "$T/feed-seq2.json.sig"
cp "$T/feed-seq1.json" "$T/www/feed.json"
cp "$T/feed-seq1.json.sig" "$T/www/feed.json.sig"
touch -d '2000-01-01' "$T/www/feed.json" # an older file: If-Modified-Since alone would not see it
fetch --dest "$IN" --cache "$T/cache.json" "$FEED"
expect_rc 65 "a replayed older feed (validly signed) is refused"
expect_err "sequence 1 is older than the sequence 2 accepted before" "and says why"
fetch --dest "$IN" "$FEED"
expect_rc 0 "without the cache there is nothing to compare with (the man page says so)"
cp "$T/feed-seq2.json" "$T/www/feed.json"
cp "$T/feed-seq2.json.sig" "$T/www/feed.json.sig"
sed -i 's/"2.4.0+1"/"2.4.0+9"/' "$T/www/feed.json"
touch -d '2001-01-01' "$T/www/feed.json" # nginx's ETag is mtime + size: make it another one
fetch --dest "$IN" --cache "$T/cache.json" "$FEED"
expect_rc 1 "a feed changed after signing is refused"
expect_err "feed.json: signature does not verify" "the signature check names the feed"
cp "$T/feed-seq2.json" "$T/www/feed.json"
"$DFUMGR" keygen -o "$T/other.pem" >/dev/null
run fetch --cacert "$T/pki/ca.pem" --key "$T/other.pub.pem" --dest "$IN" "$FEED"
expect_rc 1 "a feed signed with another key is refused"
mv "$T/www/feed.json.sig" "$T/feed.sig.away"
fetch --dest "$IN" "$FEED"
expect_rc 1 "a feed without feed.json.sig is refused"
expect_err "the feed is not signed" "and says so"
mv "$T/feed.sig.away" "$T/www/feed.json.sig"
run publish --feed "$T/www/feed.json" -k "$T/other.pem" "$T/www/app-2.4.0"
expect_rc 1 "publish refuses to re-sign a feed it cannot verify"

# --- a bundle by its URL: manifest.json.sig comes from the server ---
fetch --dest "$T/in2" --json "https://127.0.0.1:$PORT/app-2.3.0"
expect_rc 0 "fetch a bundle directory URL (no trailing slash)"
expect_true "delivered as PRODUCT-RELEASE" diff -r "$T/www/app-2.3.0" "$T/in2/app-2.3.0"
expect_true "its signature was fetched from the server" test "$(log_field /app-2.3.0/manifest.json.sig 3)" = 200
mkdir -p "$T/www/unsigned" && cp "$T/www/app-2.3.0/"{manifest.json,internal.bin,qspi.bin} "$T/www/unsigned/"
fetch --dest "$T/in3" --bundle "https://127.0.0.1:$PORT/unsigned/"
expect_rc 1 "a bundle without manifest.json.sig is refused"
expect_true "before any image is requested" test -z "$(log_of /unsigned/internal.bin)$(log_of /unsigned/qspi.bin)"
expect_true "and nothing lands in the destination" test -z "$(ls "$T/in3")"

# --- mirrors: the first is missing, the second serves ---
run publish --feed "$T/www/mirrors.json" -k "$D/key-A.pem" --url "https://127.0.0.1:$PORT/gone/" \
	--url "https://127.0.0.1:$PORT/app-2.3.0/" "$T/www/app-2.3.0"
expect_rc 0 "publish with two mirror URLs"
fetch --dest "$T/in4" "https://127.0.0.1:$PORT/mirrors.json"
expect_rc 0 "fetch through the second mirror"
expect_err "trying the next mirror" "after the first one answered 404"
expect_true "the first mirror was asked" test "$(log_field /gone/manifest.json 3)" = 404

# --- redirects: relative bundle URLs resolve against where the feed really is; never to http ---
mkdir -p "$T/www/new" && cp -r "$T/www/app-2.3.0" "$T/www/new/"
run publish --feed "$T/www/new/feed.json" -k "$D/key-A.pem" "$T/www/new/app-2.3.0"
fetch --dest "$T/in-moved" "https://127.0.0.1:$PORT/old/feed.json"
expect_rc 0 "a feed that moved (301) is followed"
expect_true "and its relative bundle URL resolved against the new place" test "$(log_field /new/app-2.3.0/qspi.bin 3)" = 200
fetch --dest "$T/in-moved" "https://127.0.0.1:$PORT/tohttp/feed.json"
expect_rc 65 "a redirect to http:// is refused"

# --- a feed with several products: the product must be chosen ---
"$DFUMGR" pack --version 1.0.0 --product other --key "$D/key-A.pem" -o "$T/www/other-1.0.0" "$D/app.elf" >/dev/null
mtime=$(stat -c %Y "$T/www/feed.json")
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" "$T/www/other-1.0.0"
expect_rc 0 "publish another product into the feed"
expect_true "a new feed always gets a later mtime (nginx's validators change)" test "$(stat -c %Y "$T/www/feed.json")" -gt "$mtime"
fetch --dest "$T/in5" "$FEED"
expect_rc 64 "a feed with two products needs --product"
expect_err "several products (app, other)" "and names them"
fetch --dest "$T/in5" --product other "$FEED"
expect_rc 0 "--product other"
expect_true "delivers that product" test -d "$T/in5/other-1.0.0"

# --- the progress bar only on a terminal ---
if command -v script >/dev/null; then
	rm -rf "$T/in6"
	script -qec "$DFUMGR fetch --cacert $T/pki/ca.pem --key $D/key-A-pub.pem --dest $T/in6 --product app $FEED" "$T/tty.log" >/dev/null
	expect_true "on a terminal: a progress bar redrawn with \\r" grep -q $'\r  image     qspi.bin .*\\[##############################\\] 100%' "$T/tty.log"
fi
plain=$("$DFUMGR" fetch --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$T/in7" --product app "$FEED" 2>&1 >/dev/null)
expect_true "not on a terminal: plain lines, no \\r" grep -qE '^  qspi.bin: 100% \(([0-9]+)/\1 bytes\)$' <<<"$plain"
expect_true "(really none)" test "${plain//$'\r'/}" = "$plain"
finish
