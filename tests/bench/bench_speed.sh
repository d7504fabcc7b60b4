#!/usr/bin/env bash
# Benchmark of update speed (issue "updates at the speed of flash"): runs in the VM test bed (or
# as root with vhci-hcd). Two emulated boards with --timing real (datasheet erase/program times):
# EMU-0001 downloads as the shim did before (dfu-mgr-emu "legacy": one block in flash at a time,
# every sector erased, no SECTOR_DIGESTS, so dfu-mgr sends every sector), EMU-0002 as it does now
# (pipelined, blank sectors not erased, sector digests and sparse downloads). Both get the same
# steps, one after the other (paired), from the same starting state; each time is from a board
# in runtime mode to the board seen running the new pair. Prints times and ratios measured in
# this one run and a Markdown table; it is not a pass/fail timer.
#
# The steps (every release has new image 0 bytes):
#   unchanged  a release whose image 1 payload is that of the image in the board's update slot
#              (swap-move leaves the previous release there): only its header/TLV sectors differ
#   full       a release whose images differ everywhere, onto slots full of other data
#   resume     a power cut at 80 % of image 1, then the re-run (timed: the re-run)
#   by hand    stock dfu-util: dfu-util -e, both downloads, then dfu-mgr commit
#   strategies issue 14 item 4d, pipelined board only: one full release per MCUboot strategy of
#              the emulator (ctl strategy: swap-move, overwrite-only, direct-xip); for each, the
#              boot's flash work the emulator accounts (erase, program, read; not slept) and
#              wear, and "time until the new pair runs" = detach to commit + reboot (measured)
#              + that boot work, against the download's flash bound (target <= 1.2)
# Before them, two updates with --timing none put full-size images in the update slots.
#
# Defaults are CI's small case (about two minutes in the VM); scripts/bench-speed.sh runs the
# full size (BENCHMARKS.md):
#   BENCH_SPEED_IMG0  image 0 payload bytes (default 16384)
#   BENCH_SPEED_IMG1  image 1 payload bytes (default 65536)
#   BENCH_SPEED_REPS  paired runs (default 1); medians of the per-run ratios, min and max
#   BENCH_SPEED_STEPS the steps to time (default "unchanged full resume strategies"; add "hand")
. "$(dirname "$0")/../vm/lib.sh"

N0=${BENCH_SPEED_IMG0:-16384}
N1=${BENCH_SPEED_IMG1:-65536}
REPS=${BENCH_SPEED_REPS:-1}
STEPS=" ${BENCH_SPEED_STEPS:-unchanged full resume strategies} "
STRATEGIES="swap-move overwrite-only direct-xip"
PUB="$D/key-A-pub.pem"
OLD=EMU-0001
NEW=EMU-0002
RES="$T/results.txt" # lines: CASE BOARD REP SECONDS [EXTRA...]
: >"$RES"

rand() { head -c "$2" /dev/urandom >"$T/$1.bin"; }

pack() { # pack NAME VERSION P0 P1
	"$DFUMGR" pack --version "$2" --key "$D/key-A.pem" --product xip-app \
		--internal "$T/$3.bin" --qspi "$T/$4.bin" -o "$T/$1" >/dev/null
}

# update SERIAL BUNDLE: prints "WALL CPU DOWNLOAD_S BYTES SKIPPED SWAP_S NEW_PAIR_S D2C_S REBOOT_S"
# (D2C_S: detach to commit, the detach, download, verify and commit phases)
update() {
	local s=$1 b=$2 t0 wall cpu
	t0=$(now)
	{
		TIMEFORMAT='%U %S'
		time "$DFUMGR" update -q -j -k "$PUB" -S "$s" "$T/$b" >"$T/u.json" 2>"$T/u.err"
	} 2>"$T/u.time" || {
		cat "$T/u.err" "$T/u.json" >&2
		return 1
	}
	wall=$(elapsed "$t0")
	cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$T/u.time")
	wait_board "$s" runtime 20 >/dev/null || return 1
	python3 - "$T/u.json" "$wall" "$cpu" "$(board_field "$s" 'd["swap_us"]')" "$T/phases.txt" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ph = d.get("phase_seconds", {})
with open(sys.argv[5], "a") as f:
    f.write("  %s %s: %s s: %s\n" % (d["serial"], d["running"][0], sys.argv[2],
            " ".join("%s %s" % kv for kv in ph.items())))
d2c = sum(float(ph.get(k, 0)) for k in ("detach", "download", "verify", "commit"))
print(sys.argv[2], sys.argv[3], ph.get("download", "0"), d["bytes"], d.get("bytes_skipped", 0),
      "%.3f" % (int(sys.argv[4]) / 1e6), d.get("new_pair_seconds", "0"), "%.3f" % d2c,
      ph.get("reboot", "0"))
EOF
}

# by_hand SERIAL BUNDLE: stock dfu-util for the downloads, dfu-mgr commit for the digests, the
# commit and the reboot. Prints "WALL DOWNLOADS_WALL".
by_hand() {
	local s=$1 b=$2 t0 t1 dl
	t0=$(now)
	dfu-util -S "$s" -e >/dev/null 2>&1
	wait_board "$s" dfu 10 >/dev/null || return 1
	t1=$(now)
	dfu-util -S "$s" -a image-1 -D "$T/$b/qspi.bin" >/dev/null 2>&1 || return 1
	dfu-util -S "$s" -a image-0 -D "$T/$b/internal.bin" >/dev/null 2>&1 || return 1
	dl=$(elapsed "$t1")
	"$DFUMGR" commit -q -k "$PUB" -S "$s" "$T/$b" >"$T/c.txt" 2>&1 || {
		cat "$T/c.txt" >&2
		return 1
	}
	wait_board "$s" runtime 20 >/dev/null || return 1
	echo "$(elapsed "$t0") $dl"
}

# cut_rerun SERIAL BUNDLE: a power cut at 80 % of image 1, then the re-run (its line, as update)
cut_rerun() {
	local s=$1 b=$2 at
	at=$(($(stat -c %s "$T/$b/qspi.bin") * 8 / 10))
	emu_ctl fault "$s" power-cut 1 "$at" >/dev/null
	if "$DFUMGR" update -q -k "$PUB" -S "$s" "$T/$b" >/dev/null 2>&1; then
		echo "the update under a power cut succeeded" >&2
		return 1
	fi
	emu_ctl fault "$s" clear >/dev/null
	wait_board "$s" runtime 30 >/dev/null || return 1
	update "$s" "$b"
}

step() { [[ $STEPS == *" $1 "* ]]; }

# boot_work SERIAL: what MCUboot's last boot cost, accounted by the emulator: "ERASE_S PROGRAM_S
# READ_S" then per slot (img0-primary, img0-secondary, img1-primary, img1-secondary)
# "ERASES MAX_ERASES_PER_SECTOR"
boot_work() {
	board_field "$1" '" ".join(["%.3f" % (d["mcuboot_erase_us"] / 1e6), "%.3f" % (d["mcuboot_program_us"] / 1e6), "%.3f" % (d["mcuboot_read_us"] / 1e6)] + ["%s %s" % (w["erases"], w["max_erases"]) for w in d["mcuboot_wear"]])'
}

one_rep() { # one_rep REP
	local r=$1 s line t0 last p pids
	t0=$(now)
	emu_stop
	rm -rf "$EMU_DIR"
	# full-size images in the update slots, fast, both boards at once
	emu_start 2 --timing none >/dev/null || return 1
	pids=()
	for s in $OLD $NEW; do
		{ "$DFUMGR" update -q -k "$PUB" -S "$s" "$T/r1" &&
			"$DFUMGR" update -q -k "$PUB" -S "$s" "$T/r2"; } >"$T/prep-$s.txt" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || { cat "$T"/prep-*.txt >&2; return 1; }
	done
	emu_stop
	echo "bench-speed: run $r: slots filled in $(elapsed "$t0") s"
	emu_start 2 --timing real >/dev/null || return 1
	emu_ctl legacy $OLD on >/dev/null || return 1
	last=2.1.0+0
	# the release each step installs follows from the slots the steps before it left
	if step unchanged; then
		for s in $OLD $NEW; do
			line=$(update "$s" r3) || return 1
			echo "unchanged $s $r $line" >>"$RES"
		done
		last=2.2.0+0
	fi
	if step full; then
		for s in $OLD $NEW; do
			line=$(update "$s" r4) || return 1
			echo "full $s $r $line" >>"$RES"
		done
		last=2.3.0+0
	fi
	if step resume; then
		for s in $OLD $NEW; do
			line=$(cut_rerun "$s" r5) || return 1
			echo "resume $s $r $line" >>"$RES"
		done
		last=2.4.0+0
	fi
	if step hand; then
		for s in $OLD $NEW; do
			line=$(by_hand "$s" r6) || return 1
			echo "hand $s $r $line" >>"$RES"
		done
		last=2.5.0+0
	fi
	last_new=$last
	if step strategies; then
		# a full release per strategy, the next one's version higher (direct-XIP needs it)
		local k=0 st work
		for st in $STRATEGIES; do
			k=$((k + 1))
			emu_ctl strategy $NEW "$st" >/dev/null || return 1
			line=$(update $NEW "s$k") || return 1
			work=$(boot_work $NEW) || return 1
			echo "strat-$st $NEW $r $line $work" >>"$RES"
			last_new=3.$k.0+0
		done
	fi
	echo "bench-speed: run $r: done after $(elapsed "$t0") s"
	expect_true "run $r: both boards run the last release" \
		test "$(running $OLD)" = "$last $last confirmed" -a "$(running $NEW)" = "$last_new $last_new confirmed"
	emu_stop
}

rand p0a "$N0"; rand p0b "$N0"; rand p0c "$N0"; rand p0d "$N0"; rand p0e "$N0"; rand p0f "$N0"
rand p1a "$N1"; rand p1b "$N1"; rand p1c "$N1"; rand p1d "$N1"
pack r1 2.0.0+0 p0a p1a && pack r2 2.1.0+0 p0b p1a && pack r3 2.2.0+0 p0c p1a &&
	pack r4 2.3.0+0 p0d p1b && pack r5 2.4.0+0 p0e p1c && pack r6 2.5.0+0 p0f p1d ||
	{ bad "pack the releases"; finish; }
if step strategies; then
	for k in 1 2 3; do
		rand "p0s$k" "$N0" && rand "p1s$k" "$N1" && pack "s$k" "3.$k.0+0" "p0s$k" "p1s$k" ||
			{ bad "pack the strategy releases"; finish; }
	done
fi
S0=$(stat -c %s "$T/r4/internal.bin")
S1=$(stat -c %s "$T/r4/qspi.bin")
t_all=$(now)
for r in $(seq 1 "$REPS"); do
	one_rep "$r" && ok "paired run $r" || bad "paired run $r"
done
echo "bench-speed: $REPS paired run(s) in $(elapsed "$t_all") s; dfu-mgr's phases (s):"
cat "$T/phases.txt" 2>/dev/null

# The table. Flash bound of a step: erase + program (MX25R6435F: 48 ms per 4 KiB sector, 0.9 ms
# per 256-byte page) of the sectors that had to change, each image's sectors counted apart.
python3 - "$RES" "$S0" "$S1" "$N0" "$N1" <<'EOF'
import sys, statistics as st
res, s0, s1, n0, n1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = {}
for line in open(res):
    v = line.split()
    rows.setdefault((v[0], v[1]), {})[int(v[2])] = [float(x) for x in v[3:]]
OLD, NEW = "EMU-0001", "EMU-0002"
SECTOR_S = 0.048 + 16 * 0.0009
def sectors(n): return (n + 4095) // 4096
full_bound = (sectors(s0) + sectors(s1)) * SECTOR_S
def mmm(xs):
    return "%.2f [%.2f-%.2f]" % (st.median(xs), min(xs), max(xs)) if xs else "-"
def st_med(xs):
    return st.median(xs) if xs else 0.0
def mi(xs):
    return "%d" % st.median(xs) if xs else "-"
def col(case, board, i=0):
    d = rows.get((case, board), {})
    return [d[r][i] for r in sorted(d)]
def ratios(a, b):
    return [y / x for x, y in zip(a, b) if x > 0]
print("bench-speed: image 0 %d B + image 1 %d B signed (payloads %d + %d), timing real, %d paired run(s);"
      " medians [min-max], seconds" % (s0, s1, n0, n1, len(col("full", NEW))))
print()
print("| step (runtime mode to the new pair running) | before: legacy board | now: pipelined board | ratio now/before |")
print("| --- | --- | --- | --- |")
names = {"full": "full release, `dfu-mgr update`",
         "unchanged": "release with image 1 payload unchanged, `dfu-mgr update`",
         "resume": "re-run after a power cut at 80 % of image 1",
         "hand": "by hand: `dfu-util -e`, 2 downloads, `dfu-mgr commit`"}
for case in ("full", "unchanged", "resume", "hand"):
    a, b = col(case, OLD), col(case, NEW)
    if a or b:
        print("| %s | %s | %s | %s |" % (names[case], mmm(a), mmm(b), mmm(ratios(a, b))))
a, b = col("hand", OLD, 1), col("hand", NEW, 1)
if a or b:
    print("| stock dfu-util, the 2 downloads alone | %s | %s | %s |" % (mmm(a), mmm(b), mmm(ratios(a, b))))
print()
full, unch, res_, hand = col("full", NEW), col("unchanged", NEW), col("resume", NEW), col("hand", NEW)
dl_full, dl_unch = col("full", NEW, 2), col("unchanged", NEW, 2)
print("bench-speed: derived, pipelined board:")
print("bench-speed: unchanged-payload release / full release, whole update: %s; download phase alone: %s (target <= 0.25)"
      % (mmm(ratios(full, unch)), mmm(ratios(dl_full, dl_unch))))
print("bench-speed: re-run after the cut / full release: %s" % mmm(ratios(full, res_)))
print("bench-speed: dfu-mgr update / by hand with dfu-util, full release: %s (target <= 1.00)" % mmm(ratios(hand, full)))
print("bench-speed: full release: download phase %s s against its flash bound %.2f s: %s (target <= 1.10);"
      " legacy board: %s"
      % (mmm(dl_full), full_bound, mmm([x / full_bound for x in dl_full]),
         mmm([x / full_bound for x in col("full", OLD, 2)])))
by = col("full", NEW, 3)
print("bench-speed: bytes sent: full %s, unchanged-payload release %s (skipped %s), re-run after the cut %s"
      % (mi(by), mi(col("unchanged", NEW, 3)), mi(col("unchanged", NEW, 4)),
         mi(col("resume", NEW, 3))))
cpu = [c / (b / 1048576.0) for c, b in zip(col("full", NEW, 1), by) if b]
print("bench-speed: host CPU (user + system) of dfu-mgr per MiB sent, full release: %s s" % mmm(cpu))
print("bench-speed: MCUboot's swap (swap-move) after the full release, accounted by the emulator (not slept): %s s;"
      " dfu-mgr's time to the new pair does not include it" % mmm(col("full", NEW, 5)))
# Item 4d. Columns of a strategy line: update()'s 9, then erase, program and read seconds of the
# boot, then erases and max erases per sector of img0-primary, img0-secondary, img1-primary,
# img1-secondary.
if any(rows.get(("strat-" + st, NEW)) for st in ("swap-move", "overwrite-only", "direct-xip")):
    print()
    print("bench-speed: item 4d, MCUboot's strategies after a full release (pipelined board); boot work accounted by"
          " the emulator from the datasheets (not slept); download's flash bound %.2f s" % full_bound)
    print()
    print("| strategy | boot work: erase + program + read, s | sectors erased (max per sector): img0 primary (internal) / img0 secondary / img1 primary / img1 secondary | detach to commit, s | reboot, s | time until the new pair runs, s | against the bound (target <= 1.2) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for strat in ("swap-move", "overwrite-only", "direct-xip"):
        c = "strat-" + strat
        if not rows.get((c, NEW)):
            continue
        er, pr, rd = col(c, NEW, 9), col(c, NEW, 10), col(c, NEW, 11)
        work = [a + b + x for a, b, x in zip(er, pr, rd)]
        d2c, rb = col(c, NEW, 7), col(c, NEW, 8)
        total = [a + b + w for a, b, w in zip(d2c, rb, work)]
        wear = " / ".join("%d (%d)" % (col(c, NEW, 12 + 2 * k)[-1], col(c, NEW, 13 + 2 * k)[-1]) for k in range(4))
        print("| %s | %.2f + %.2f + %.2f = %.2f | %s | %s | %s | %s | %s |"
              % (strat, st_med(er), st_med(pr), st_med(rd), st_med(work), wear, mmm(d2c), mmm(rb),
                 mmm(total), mmm([t / full_bound for t in total])))
EOF
finish
