#!/usr/bin/env bash
# Proxies from the environment, as libcurl reads them: https_proxy sends the fetch through
# tinyproxy on loopback (an HTTP CONNECT tunnel; TLS still ends at nginx and is still
# verified); no_proxy bypasses it; a proxy that is down is a network error, not a silent
# direct connection.
. "$(dirname "$0")/lib.sh"
need tinyproxy
make_pki
nginx_start
tinyproxy_start
IN=$T/in
FEED=https://127.0.0.1:$PORT/feed.json
make_bundle "$T/www/app-2.3.0" 2.3.0+4
run publish --feed "$T/www/feed.json" -k "$D/key-A.pem" "$T/www/app-2.3.0"
expect_rc 0 "publish"

connects() { grep -c "CONNECT 127.0.0.1:$PORT" "$T/tinyproxy.log" 2>/dev/null || true; }
export https_proxy=http://127.0.0.1:$PROXYPORT
fetch --dest "$IN" "$FEED"
expect_rc 0 "fetch through the proxy (https_proxy)"
expect_true "the bundle arrived" diff -r "$T/www/app-2.3.0" "$IN/app-2.3.0"
n=$(connects)
expect_true "tinyproxy tunnelled the requests ($n CONNECT 127.0.0.1:$PORT in its log: one connection, reused)" test "$n" -ge 1
expect_true "nginx served them all (feed, signature, manifest, 2 images)" test "$(wc -l <"$T/nginx/access.log")" = 5
fetch --dest "$T/in-rogue" "https://127.0.0.1:$BADPORT/feed.json"
expect_rc 1 "through the proxy, an untrusted certificate is still refused"
expect_true "(the tunnel to it was made)" grep -q "CONNECT 127.0.0.1:$BADPORT" "$T/tinyproxy.log"

n=$(connects)
no_proxy=127.0.0.1 fetch --dest "$T/in2" "$FEED"
expect_rc 0 "no_proxy=127.0.0.1: a direct connection"
expect_true "the proxy saw nothing new" test "$(connects)" = "$n"

tinyproxy_stop
fetch --dest "$T/in3" --retries 0 "$FEED"
expect_rc 75 "the proxy is down: a network error"
expect_err "127.0.0.1 port $PROXYPORT" "naming the proxy's port, not the server's"
unset https_proxy
finish
