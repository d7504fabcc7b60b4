#!/usr/bin/env bash
# Benchmark (runs in the VM test bed, or as root with vhci-hcd): factory provisioning of N
# emulated boards with datasheet flash timing (--timing real) and small images, in one run:
#   provision   dfu-mgr provision of the N boards (one worker per board, in parallel)
#   jobs 1      the same with --jobs 1: the serial baseline of the same engine
#   du seq      what a user scripts by hand for the same end state, board after board: stock
#               dfu-util per serial (detach, wait for DFU mode, download image 1, image 0),
#               then dfu-mgr commit (verify by the device's digests, commit, reboot, check)
#   du par      the same script, one background job per board
# Each row: the median of BENCH_REPS paired runs (provision, then jobs 1; speed-up is the median
# of the pairs' ratios: a loaded 2-core machine needs the pairing); du seq and du par run once.
# Ratios: speed-up = jobs 1 / provision; vs 1 board = provision(N) / provision(1) (issue 13's
# target: at most 1.3 for 16 boards); provision / du par. Every run writes fresh random images
# under a new version, so nothing on a board is already right; one emulator serves all boards
# (the ones not in a run sit idle). Prints a table; not a pass/fail timer.
#   BENCH_BOARDS    board counts (default "1 2 4 8 16"; CI's ctest runs "1 2")
#   BENCH_SERIAL_MAX  largest N that also gets the two serial baselines (default: all)
#   BENCH_REPS      paired runs per row (default 3; CI's ctest runs 1)
#   BENCH_IMG0/BENCH_IMG1  image sizes in bytes (default 8192 and 65536)
. "$(dirname "$0")/../vm/lib.sh"

BOARDS=${BENCH_BOARDS:-1 2 4 8 16}
SERIAL_MAX=${BENCH_SERIAL_MAX:-1000}
REPS=${BENCH_REPS:-3}
IMG0=${BENCH_IMG0:-8192}
IMG1=${BENCH_IMG1:-65536}
PUB="$D/key-A-pub.pem"
MAXN=0
for n in $BOARDS; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
ver=0

# bundle: a fresh pair of random images under the next version, in $T/b
bundle() {
	ver=$((ver + 1))
	rm -rf "$T/b"
	head -c "$IMG0" /dev/urandom >"$T/p0.bin"
	head -c "$IMG1" /dev/urandom >"$T/p1.bin"
	"$DFUMGR" pack --version "2.$ver.0+0" --key "$D/key-A.pem" --product xip-app \
		--internal "$T/p0.bin" --qspi "$T/p1.bin" -o "$T/b" >/dev/null
}
serials() { local i; for i in $(seq 1 "$1"); do printf 'EMU-%04d\n' "$i"; done; }
# all_at N: every one of the first N boards runs the last bundle's pair, confirmed
all_at() {
	local s
	for s in $(serials "$1"); do
		[ "$(running "$s")" = "2.$ver.0+0 2.$ver.0+0 confirmed" ] || { echo "bench: $s runs $(running "$s"), not 2.$ver.0+0" >&2; return 1; }
	done
}

# by_hand SERIAL: the dfu-util script a user would write for one board
by_hand() {
	local s=$1 i
	dfu-util -S "$s" -e >/dev/null 2>&1 || return 1
	for i in $(seq 1 300); do
		dfu-util -l -S "$s" 2>/dev/null | grep -q '^Found DFU: .*name="image-1"' && break
		sleep 0.1
	done
	dfu-util -S "$s" -a image-1 -D "$T/b/qspi.bin" >/dev/null 2>&1 || return 1
	dfu-util -S "$s" -a image-0 -D "$T/b/internal.bin" >/dev/null 2>&1 || return 1
	"$DFUMGR" commit -q -k "$PUB" -S "$s" "$T/b" >/dev/null 2>&1
}

# timed NAME N CMD...: runs CMD, checks the N boards run the bundle, prints the seconds
timed() {
	local name=$1 n=$2 t0 t
	shift 2
	t0=$(now)
	"$@" >"$T/$name.out" 2>&1 || { echo "bench: $name of $n board(s) failed:" >&2; tail -5 "$T/$name.out" >&2; return 1; }
	t=$(elapsed "$t0")
	all_at "$n" || return 1
	echo "$t"
}

provision() { # provision N [OPTIONS]
	local n=$1 args=() s
	shift
	for s in $(serials "$n"); do args+=(-S "$s"); done
	"$DFUMGR" provision -q -k "$PUB" --log "$T/station.jsonl" "${args[@]}" "$@" "$T/b"
}
du_seq() { local s; for s in $(serials "$1"); do by_hand "$s" || return 1; done; }
du_par() {
	local s pids=() rc=0 p
	for s in $(serials "$1"); do by_hand "$s" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}

emu_start "$MAXN" --timing real || { echo "FAIL - boards did not attach"; exit 1; }
# a warm-up run, not counted: the first run pays for the page cache (binaries, libraries over
# the VM's 9p root) and the emulator's first flash mappings
bundle && timed warmup 1 provision 1 >/dev/null || bad "warm-up"
echo "bench: provision, timing real, image 0 $IMG0 B, image 1 $IMG1 B, $MAXN board(s) attached;" \
	"seconds, median of $REPS paired run(s) (provision, then --jobs 1) per row"
printf 'bench: %6s | %9s | %6s | %8s | %10s | %7s | %7s | %12s | %s\n' boards provision "jobs 1" speed-up "vs 1 board" "du seq" "du par" "prov/du par" "runs (provision/jobs 1)"
t1=""
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for n in $BOARDS; do
	tps=() tss=() sps=() runs=""
	for _ in $(seq 1 "$REPS"); do
		bundle && tp=$(timed provision "$n" provision "$n") || { bad "provision of $n"; continue 2; }
		tps+=("$tp")
		ts="-"
		if [ "$n" -le "$SERIAL_MAX" ]; then
			bundle && ts=$(timed jobs1 "$n" provision "$n" --jobs 1) || { bad "provision --jobs 1 of $n"; continue 2; }
			tss+=("$ts")
			sps+=("$(awk -v a="$ts" -v b="$tp" 'BEGIN { printf "%.4f", a / b }')")
		fi
		runs="$runs $tp/$ts"
	done
	tp=$(median "${tps[@]}")
	[ -n "$t1" ] || t1=$tp
	ts="-" sp="-" tds="-"
	if [ "$n" -le "$SERIAL_MAX" ]; then
		ts=$(median "${tss[@]}")
		sp=$(median "${sps[@]}")
		bundle && tds=$(timed du_seq "$n" du_seq "$n") || { bad "dfu-util in sequence, $n"; tds="-"; }
	fi
	bundle && tdp=$(timed du_par "$n" du_par "$n") || { bad "dfu-util in parallel, $n"; tdp="-"; }
	awk -v n="$n" -v tp="$tp" -v ts="$ts" -v sp="$sp" -v t1="$t1" -v tds="$tds" -v tdp="$tdp" -v runs="$runs" 'function r(a, b) { return (a == "-" || b == "-") ? "-" : sprintf("%.2f", a / b) }
	BEGIN { printf "bench: %6d | %9.2f | %6s | %8s | %10s | %7s | %7s | %12s |%s\n", n, tp, ts, sp == "-" ? "-" : sprintf("%.2f", sp), r(tp, t1), tds, tdp, r(tp, tdp), runs }'
	ok "$n board(s)"
done
echo "bench: one board's phases in the last provision run (s): $(python3 -c '
import json, sys
rec = [json.loads(l) for l in open(sys.argv[1])][-1]
print(", ".join("%s %.2f" % kv for kv in rec["phase_seconds"].items()))' "$T/station.jsonl")"
finish
