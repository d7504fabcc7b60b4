#!/usr/bin/env bash
# Benchmark (on the host, no VM): dfu-mgr fetch of a bundle with a 3.4 MiB image from a private
# nginx over HTTPS on loopback, against what a script would do for the same result: curl for
# each file, then openssl for the manifest signature and sha256sum over the images (a second
# pass). Also: CPU per MiB hashed by libdfumgr (mbedTLS) against sha256sum (OpenSSL), and the
# bytes a resume saves after the fetch process died halfway. Prints figures and ratios measured
# in this one run; it is not a pass/fail timer.
#   BENCH_FETCH_BYTES (image size, default 0x36f000), BENCH_REPS (paired runs, default 3)
SLOW_RATE=4m
. "$(dirname "$0")/../fetch/lib.sh"
need curl
SIZE=${BENCH_FETCH_BYTES:-$((0x36f000))}
REPS=${BENCH_REPS:-3}
make_pki
nginx_start
make_bundle "$T/www/b" 9.0.0+1 "$SIZE"
"$DFUMGR" publish --feed "$T/www/feed.json" -k "$D/key-A.pem" --url-base "https://127.0.0.1:$PORT/slow" "$T/www/b" >/dev/null
TOTAL=$(cat "$T/www/b/"* | wc -c)
MIB=$(python3 -c "print($TOTAL / 1048576)")

# measure CMD...: "WALL CPU" in seconds (CPU = user + system of the command and its children)
measure() {
	python3 - "$@" <<'PY'
import resource, subprocess, sys, time
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t1 = time.monotonic()
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
if rc:
    sys.exit("command failed: %s" % " ".join(sys.argv[1:]))
print("%.4f %.4f" % (t1 - t0, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
PY
}
median() { tr ' ' '\n' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

cat >"$T/baseline.sh" <<SH
set -e
cd "\$1"
for f in manifest.json manifest.json.sig internal.bin qspi.bin; do
	curl -sSf --cacert "$T/pki/ca.pem" -o "\$f" "https://127.0.0.1:$PORT/b/\$f"
done
openssl dgst -sha256 -verify "$D/key-A-pub.pem" -signature manifest.json.sig manifest.json >/dev/null
sha256sum internal.bin qspi.bin >/dev/null
SH
w_mgr="" c_mgr="" w_base="" c_base=""
for r in $(seq "$REPS"); do
	rm -rf "$T/in" "$T/base"
	mkdir -p "$T/base"
	read -r w c <<<"$(measure "$DFUMGR" fetch -q --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$T/in" --bundle "https://127.0.0.1:$PORT/b/")"
	w_mgr+=" $w" c_mgr+=" $c"
	cmp -s "$T/www/b/qspi.bin" "$T/in/app-9.0.0/qspi.bin" || { echo "bench: fetched image differs"; exit 1; }
	read -r w c <<<"$(measure bash "$T/baseline.sh" "$T/base")"
	w_base+=" $w" c_base+=" $c"
done
wm=$(median <<<"$w_mgr") cm=$(median <<<"$c_mgr") wb=$(median <<<"$w_base") cb=$(median <<<"$c_base")
python3 - "$wm" "$cm" "$wb" "$cb" "$MIB" "$REPS" <<'PY'
import sys
wm, cm, wb, cb, mib, reps = map(float, sys.argv[1:])
print("bench: fetch %.2f MiB over HTTPS on loopback, median of %d paired runs" % (mib, reps))
print("bench: dfu-mgr fetch (verify while streaming)  %.3f s  %6.1f MiB/s  CPU %5.1f ms/MiB" % (wm, mib / wm, cm * 1000 / mib))
print("bench: curl x4 + openssl + sha256sum            %.3f s  %6.1f MiB/s  CPU %5.1f ms/MiB" % (wb, mib / wb, cb * 1000 / mib))
print("bench: ratio dfu-mgr / script: time %.2f, CPU %.2f" % (wm / wb, cm / cb))
PY

# hashing alone: libdfumgr's SHA-256 (mbedTLS, what fetch streams into) against sha256sum
read -r _ c_lib <<<"$(measure "$DFUMGR" verify-bundle --key "$D/key-A-pub.pem" "$T/www/b")"
read -r _ c_sum <<<"$(measure sha256sum "$T/www/b/qspi.bin" "$T/www/b/internal.bin")"
python3 - "$c_lib" "$c_sum" "$MIB" <<'PY'
import sys
cl, cs, mib = map(float, sys.argv[1:])
print("bench: SHA-256 CPU per MiB: libdfumgr (mbedTLS) %.1f ms, sha256sum %.1f ms (verify-bundle hashes each image twice: file + TLV)" % (cl * 1000 / mib / 2, cs * 1000 / mib))
PY

# resume: the fetch process dies halfway through the image (served at 4 MiB/s)
rm -rf "$T/in"
MSHA=$(sha256sum "$T/www/b/manifest.json" | cut -c1-64)
"$DFUMGR" fetch -q --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$T/in" "https://127.0.0.1:$PORT/feed.json" >/dev/null 2>&1 &
FPID=$!
for _ in $(seq 500); do
	[ "$(stat -c %s "$T/in/.staging/$MSHA/qspi.bin" 2>/dev/null || echo 0)" -ge $((SIZE / 2)) ] && break
	sleep 0.01
done
kill -KILL $FPID
wait $FPID 2>/dev/null
staged=$(stat -c %s "$T/in/.staging/$MSHA/qspi.bin")
read -r w c <<<"$(measure "$DFUMGR" fetch -q --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --dest "$T/in" "https://127.0.0.1:$PORT/feed.json")"
sent=$(log_field /slow/b/qspi.bin 5)
full=$(stat -c %s "$T/www/b/qspi.bin")
cmp -s "$T/www/b/qspi.bin" "$T/in/app-9.0.0/qspi.bin" || { echo "bench: resumed image differs"; exit 1; }
python3 - "$staged" "$sent" "$full" "$w" <<'PY'
import sys
staged, sent, full, w = map(float, sys.argv[1:])
print("bench: resume after the process died at %.0f%%: %d of %d bytes fetched again (%.0f%% saved), %.2f s at 4 MiB/s" % (100 * staged / full, sent, full, 100 * (1 - sent / full), w))
PY
