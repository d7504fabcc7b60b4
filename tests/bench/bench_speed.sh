#!/usr/bin/env bash
# Benchmark of update speed (issue "updates at the speed of flash"): runs in the VM test bed (or
# as root with vhci-hcd). Emulated boards with --timing real (datasheet erase/program times)
# and/or --timing none (no flash time: what is left is USB and the host): EMU-0002 downloads as
# the shim does now (pipelined, blank sectors not erased, sector digests and sparse downloads);
# EMU-0001, unless BENCH_SPEED_LEGACY=0, as it did before (dfu-mgr-emu "legacy": one block in
# flash at a time, every sector erased, no SECTOR_DIGESTS, so dfu-mgr sends every sector). Each
# paired run takes every step, on each board one after the other, from the same starting state,
# in each timing mode; each time is from a board in runtime mode to the board seen running the
# new pair, and "detach to commit" is the part from the detach request to the commit done.
# Prints times and ratios measured in this one run and Markdown tables; not a pass/fail timer.
#
# The steps (every release has new image 0 bytes):
#   unchanged  a release whose image 1 payload is that of the image in the board's update slot
#              (swap-move leaves the previous release there): only its header/TLV sectors differ
#   full       a release whose images differ everywhere, onto slots full of other data
#   resume     a power cut at 80 % of image 1 (BENCH_SPEED_CUT=download: at 80 % of the bytes of both
#              images, image 1 being sent first), then the re-run (timed: the re-run)
#   hand       stock dfu-util by hand: dfu-util -e, both downloads, then dfu-mgr commit
#   strategies issue 14 item 4d, pipelined board, --timing real only: one full release per MCUboot
#              strategy of the emulator (ctl strategy: swap-move, overwrite-only, direct-xip); for
#              each, the boot's flash work the emulator accounts (erase, program, read; not slept)
#              and wear, and "time until the new pair runs" = detach to commit + reboot (measured)
#              + that boot work, against the download's flash bound (target <= 1.2)
# Before them, two updates with --timing none put full-size images in the update slots.
#
# The lower bound of a step's detach to commit (target c): the erase and program time of the
# sectors that had to change (those dfu-mgr sent; 48 ms per 4 KiB sector, 0.9 ms per 256-byte
# page, MX25R6435F, none under --timing none) plus the USB time of the bytes that had to be sent,
# at the rate measured in the same paired run with --timing none: the faster of dfu-mgr's
# download phase and stock dfu-util's two downloads, full release, per byte. Without a
# --timing none run the bound is the flash time alone (and says so).
#
# Defaults are CI's small case (about two minutes in the VM); scripts/bench-speed.sh runs the
# full size (BENCHMARKS.md):
#   BENCH_SPEED_IMG0    image 0 payload bytes (default 16384)
#   BENCH_SPEED_IMG1    image 1 payload bytes (default 65536)
#   BENCH_SPEED_REPS    paired runs (default 1); medians of the per-run ratios, min and max
#   BENCH_SPEED_STEPS   the steps to time (default "unchanged full resume strategies"; add "hand")
#   BENCH_SPEED_TIMING  the emulator's timing modes, in this order (default "real"; "none real")
#   BENCH_SPEED_LEGACY  1 (default): also the legacy board; 0: the pipelined board alone
#   BENCH_SPEED_CUT     where resume's power cut falls: image1 (default, 80 % of image 1) or
#                       download (80 % of both images' bytes)
. "$(dirname "$0")/../vm/lib.sh"

N0=${BENCH_SPEED_IMG0:-16384}
N1=${BENCH_SPEED_IMG1:-65536}
REPS=${BENCH_SPEED_REPS:-1}
STEPS=" ${BENCH_SPEED_STEPS:-unchanged full resume strategies} "
STRATEGIES="swap-move overwrite-only direct-xip"
TIMINGS=${BENCH_SPEED_TIMING:-real}
PUB="$D/key-A-pub.pem"
OLD=EMU-0001
NEW=EMU-0002
case "${BENCH_SPEED_LEGACY:-1}" in
0) BOARDS=$NEW ;;
1) BOARDS="$OLD $NEW" ;;
*)
	echo "bench-speed: BENCH_SPEED_LEGACY is 0 or 1, not '$BENCH_SPEED_LEGACY'" >&2
	exit 2
	;;
esac
CUT=${BENCH_SPEED_CUT:-image1}
case "$CUT" in image1 | download) ;; *)
	echo "bench-speed: BENCH_SPEED_CUT is image1 or download, not '$CUT'" >&2
	exit 2
	;;
esac
export BENCH_SPEED_CUT=$CUT
for m in $TIMINGS; do
	case "$m" in none | real) ;; *)
		echo "bench-speed: BENCH_SPEED_TIMING takes none and/or real, not '$m'" >&2
		exit 2
		;;
	esac
done
RES="$T/results.txt" # lines: TIMING CASE BOARD REP SECONDS [EXTRA...]
: >"$RES"

rand() { head -c "$2" /dev/urandom >"$T/$1.bin"; }

pack() { # pack NAME VERSION P0 P1
	"$DFUMGR" pack --version "$2" --key "$D/key-A.pem" --product xip-app \
		--internal "$T/$3.bin" --qspi "$T/$4.bin" -o "$T/$1" >/dev/null
}

# update SERIAL BUNDLE: prints "WALL CPU DOWNLOAD_S BYTES SKIPPED SWAP_S NEW_PAIR_S D2C_S REBOOT_S
# SECTORS_SKIPPED_0 SECTORS_SKIPPED_1" (D2C_S: detach to commit, the detach, download, verify and
# commit phases)
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
d2c = sum(float(ph.get(p, 0)) for p in ("detach", "download", "verify", "commit"))
sk = d.get("sectors_skipped", [0, 0])
print(sys.argv[2], sys.argv[3], ph.get("download", "0"), d["bytes"], d.get("bytes_skipped", 0),
      "%.3f" % (int(sys.argv[4]) / 1e6), d.get("new_pair_seconds", "0"), "%.3f" % d2c,
      ph.get("reboot", "0"), sk[0], sk[1])
EOF
}

# by_hand SERIAL BUNDLE: stock dfu-util for the downloads, dfu-mgr commit for the digests, the
# commit and the reboot. Prints "WALL DOWNLOADS_WALL D2C_S DFU_UTIL_CPU" (D2C_S: from dfu-util -e
# to the end of dfu-mgr commit's commit phase, the same span as update's).
by_hand() {
	local s=$1 b=$2 t0 t1 tc dl cpu wall
	t0=$(now)
	dfu-util -S "$s" -e >/dev/null 2>&1
	wait_board "$s" dfu 10 >/dev/null || return 1
	t1=$(now)
	{
		TIMEFORMAT='%U %S'
		time {
			dfu-util -S "$s" -a image-1 -D "$T/$b/qspi.bin" >/dev/null 2>&1 &&
				dfu-util -S "$s" -a image-0 -D "$T/$b/internal.bin" >/dev/null 2>&1
		}
	} 2>"$T/h.time" || return 1
	dl=$(elapsed "$t1")
	cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$T/h.time")
	tc=$(elapsed "$t0")
	"$DFUMGR" commit -q -j -k "$PUB" -S "$s" "$T/$b" >"$T/c.json" 2>"$T/c.err" || {
		cat "$T/c.err" "$T/c.json" >&2
		return 1
	}
	wall=$(elapsed "$t0")
	wait_board "$s" runtime 20 >/dev/null || return 1
	python3 - "$T/c.json" "$wall" "$dl" "$tc" "$cpu" <<'EOF'
import json, sys
ph = json.load(open(sys.argv[1])).get("phase_seconds", {})
d2c = float(sys.argv[4]) + sum(float(ph.get(p, 0)) for p in ("preflight", "detach", "verify", "commit"))
print(sys.argv[2], sys.argv[3], "%.3f" % d2c, sys.argv[5])
EOF
}

# cut_rerun SERIAL BUNDLE: a power cut at 80 % of image 1 (or of both images, image 1 first:
# BENCH_SPEED_CUT), then the re-run (its line, as update)
cut_rerun() {
	local s=$1 b=$2 img=1 at s0 s1
	s0=$(stat -c %s "$T/$b/internal.bin")
	s1=$(stat -c %s "$T/$b/qspi.bin")
	at=$((s1 * 8 / 10))
	if [ "$CUT" = download ]; then
		at=$(((s0 + s1) * 8 / 10))
		[ "$at" -lt "$s1" ] || img=0 at=$((at - s1))
	fi
	emu_ctl fault "$s" power-cut "$img" "$at" >/dev/null
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

# timed_step STEP HOW BUNDLE VERSION: if STEP is chosen, HOW (update, cut_rerun, by_hand) installs
# BUNDLE on each board in turn, its line recorded as one_mode's run r in timing m; the boards
# then run VERSION (last)
timed_step() {
	local s line
	step "$1" || return 0
	for s in $BOARDS; do
		line=$("$2" "$s" "$3") || return 1
		echo "$m $1 $s $r $line" >>"$RES"
	done
	last=$4
}

one_mode() { # one_mode REP TIMING
	local r=$1 m=$2 s line t0 last last_new p pids
	t0=$(now)
	emu_stop
	rm -rf "$EMU_DIR"
	# full-size images in the update slots, fast, the boards at once
	emu_start 2 --timing none >/dev/null || return 1
	pids=()
	for s in $BOARDS; do
		{ "$DFUMGR" update -q -k "$PUB" -S "$s" "$T/r1" &&
			"$DFUMGR" update -q -k "$PUB" -S "$s" "$T/r2"; } >"$T/prep-$s.txt" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || { cat "$T"/prep-*.txt >&2; return 1; }
	done
	emu_stop
	echo "bench-speed: run $r, timing $m: slots filled in $(elapsed "$t0") s"
	emu_start 2 --timing "$m" >/dev/null || return 1
	if [ "$BOARDS" != "$NEW" ]; then
		emu_ctl legacy $OLD on >/dev/null || return 1
	fi
	last=2.1.0+0
	# the release each step installs follows from the slots the steps before it left
	timed_step unchanged update r3 2.2.0+0 || return 1
	timed_step full update r4 2.3.0+0 || return 1
	timed_step resume cut_rerun r5 2.4.0+0 || return 1
	timed_step hand by_hand r6 2.5.0+0 || return 1
	last_new=$last
	if step strategies && [ "$m" = real ]; then
		# a full release per strategy, the next one's version higher (direct-XIP needs it)
		local k=0 st work
		for st in $STRATEGIES; do
			k=$((k + 1))
			emu_ctl strategy $NEW "$st" >/dev/null || return 1
			line=$(update $NEW "s$k") || return 1
			work=$(boot_work $NEW) || return 1
			echo "$m strat-$st $NEW $r $line $work" >>"$RES"
			last_new=3.$k.0+0
		done
	fi
	echo "bench-speed: run $r, timing $m: done after $(elapsed "$t0") s"
	for s in $BOARDS; do
		if [ "$s" = $NEW ]; then
			last=$last_new
		fi
		expect_true "run $r, timing $m: $s runs the last release" \
			test "$(running "$s")" = "$last $last confirmed"
	done
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
	for m in $TIMINGS; do
		one_mode "$r" "$m" && ok "paired run $r, timing $m" || bad "paired run $r, timing $m"
	done
done
echo "bench-speed: $REPS paired run(s) in $(elapsed "$t_all") s; dfu-mgr's phases (s):"
cat "$T/phases.txt" 2>/dev/null

python3 - "$RES" "$S0" "$S1" "$N0" "$N1" "$TIMINGS" "$BOARDS" <<'EOF'
import os, sys, statistics as st
res, s0, s1, n0, n1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
timings, boards = sys.argv[6].split(), sys.argv[7].split()
rows = {}
for line in open(res):
    v = line.split()
    rows.setdefault((v[0], v[1], v[2]), {})[int(v[3])] = [float(x) for x in v[4:]]
OLD, NEW = "EMU-0001", "EMU-0002"
legacy = OLD in boards
ERASE_S, PAGE_S = 0.048, 0.0009
def sectors(n): return (n + 4095) // 4096
def last_pages(n): return ((n % 4096) + 255) // 256 if n % 4096 else 16
NS = (sectors(s0), sectors(s1))

def flash_s(sent):
    """erase + program of the sectors sent per image (each image's last sector partly filled)"""
    t = 0.0
    for i, k in enumerate(sent):
        if k > 0:
            t += k * ERASE_S + (16 * (k - 1) + last_pages((s0, s1)[i])) * PAGE_S
    return t

FULL_FLASH = flash_s(NS)
def mmm(xs, f="%.2f"):
    return ("%s [%s-%s]" % (f, f, f)) % (st.median(xs), min(xs), max(xs)) if xs else "-"
def mi(xs):
    return "{:,}".format(int(st.median(xs))) if xs else "-"
def get(m, case, board, i=0):
    d = rows.get((m, case, board), {})
    return {r: d[r][i] for r in d}
def col(m, case, board, i=0):
    d = get(m, case, board, i)
    return [d[r] for r in sorted(d)]
def ratio(a, b):
    """per-run ratios b/a over the runs both have"""
    return [b[r] / a[r] for r in sorted(a) if r in b and a[r] > 0]

# USB time per byte of each paired run: --timing none, full release, the faster tool
usb = {}
for r, dl in get("none", "full", NEW, 2).items():
    by = get("none", "full", NEW, 3)[r]
    cands = [dl / by] if by else []
    h = get("none", "hand", NEW, 1)
    if r in h:
        cands.append(h[r] / (s0 + s1))
    usb[r] = min(cands)

def bound(m, r, sent, nbytes):
    """(seconds, with USB) of the lower bound of a step's detach to commit"""
    fl = flash_s(sent) if m == "real" else 0.0
    if r in usb:
        return fl + usb[r] * nbytes, True
    return fl, False

def sent_sectors(m, case, r):
    d = rows[(m, case, NEW)][r]
    return (NS[0] - int(d[9]), NS[1] - int(d[10])), d[3]

print("bench-speed: image 0 %d B + image 1 %d B signed (payloads %d + %d, %d + %d sectors);"
      " flash bound of a full download %.2f s; medians [min-max] of %s paired run(s), seconds"
      % (s0, s1, n0, n1, NS[0], NS[1], FULL_FLASH, len(col(timings[-1], "full", NEW)) or "no"))
names = {"full": "full release, `dfu-mgr update`",
         "unchanged": "release with image 1 payload unchanged, `dfu-mgr update`",
         "resume": "re-run after a power cut at 80 % of " + (
             "image 1" if os.environ.get("BENCH_SPEED_CUT", "image1") == "image1"
             else "the download (both images, image 1 first)"),
         "hand": "by hand: `dfu-util -e`, 2 downloads, `dfu-mgr commit`"}
for m in timings:
    print()
    print("bench-speed: --timing %s" % m)
    print()
    if legacy:
        print("| step, --timing %s | whole: legacy board | whole: pipelined board | ratio now/before | detach to commit, pipelined |" % m)
        print("| --- | --- | --- | --- | --- |")
    else:
        print("| step, --timing %s | runtime mode to the new pair running | detach to commit |" % m)
        print("| --- | --- | --- |")
    for case in ("full", "unchanged", "resume", "hand"):
        a, b = get(m, case, OLD), get(m, case, NEW)
        d2c = col(m, case, NEW, 2 if case == "hand" else 7)
        if not (a or b):
            continue
        if legacy:
            print("| %s | %s | %s | %s | %s |" % (names[case], mmm(col(m, case, OLD)), mmm(col(m, case, NEW)),
                                                 mmm(ratio(a, b)), mmm(d2c)))
        else:
            print("| %s | %s | %s |" % (names[case], mmm(col(m, case, NEW)), mmm(d2c)))
    h = col(m, "hand", NEW, 1)
    if h:
        if legacy:
            a, b = get(m, "hand", OLD, 1), get(m, "hand", NEW, 1)
            print("| stock dfu-util, the 2 downloads alone | %s | %s | %s | |"
                  % (mmm(col(m, "hand", OLD, 1)), mmm(h), mmm(ratio(a, b))))
        else:
            print("| stock dfu-util, the 2 downloads alone | %s | |" % mmm(h))
    print()
    print("| figure, pipelined board, --timing %s | measured | target |" % m)
    print("| --- | --- | --- |")
    full, hand = get(m, "full", NEW), get(m, "hand", NEW)
    fd2c = get(m, "full", NEW, 7)
    if full and hand:
        print("| a. `dfu-mgr update` / by hand with dfu-util, full release, runtime mode to the new pair | %s | <= 1.00 |"
              % mmm(ratio(hand, full)))
    for case, what in (("unchanged", "image 1 payload unchanged"), ("resume", "re-run after the cut")):
        d = get(m, case, NEW, 7)
        if d and fd2c:
            print("| b. %s / full release, detach to commit | %s | <= 0.25 |" % (what, mmm(ratio(fd2c, d))))
            print("| %s / full release, runtime mode to the new pair | %s | |"
                  % (what, mmm(ratio(full, get(m, case, NEW)))))
    with_usb = True
    for case in ("full", "unchanged", "resume", "hand"):
        d = get(m, case, NEW, 2 if case == "hand" else 7)
        rs, bs = [], []
        for r in sorted(d):
            if case == "hand":
                sent, nb = NS, s0 + s1  # dfu-util sends everything; the job's bound is the full one
            else:
                sent, nb = sent_sectors(m, case, r)
            b, u = bound(m, r, sent, nb)
            with_usb = with_usb and u
            if b > 0:
                rs.append(d[r] / b)
                bs.append(b)
        if rs:
            tool = "dfu-util by hand" if case == "hand" else "dfu-mgr"
            what = {"full": "full release", "unchanged": "image 1 payload unchanged",
                    "resume": "re-run after the cut", "hand": "full release"}[case]
            print("| c. %s, %s: detach to commit / bound (%s s) | %s | <= 1.10 |"
                  % (tool, what, mmm(bs), mmm(rs)))
    if m == "real" and full:
        print("| download phase alone / flash bound (%.2f s), full release | %s%s | |"
              % (FULL_FLASH, mmm([x / FULL_FLASH for x in col(m, "full", NEW, 2)]),
                 ("; legacy board " + mmm([x / FULL_FLASH for x in col(m, "full", OLD, 2)])) if legacy else ""))
    if usb:
        print("| USB time per MiB sent (--timing none, full release, faster tool) | %s s | |"
              % mmm([u * 1048576 for u in usb.values()]))
    if not with_usb:
        print("| (bounds above: flash time only, no --timing none run for the USB time) | | |")
    by = get(m, "full", NEW, 3)
    print("| bytes sent: full / unchanged payload (not sent) / re-run after the cut | %s / %s (%s) / %s | |"
          % (mi(col(m, "full", NEW, 3)), mi(col(m, "unchanged", NEW, 3)), mi(col(m, "unchanged", NEW, 4)),
             mi(col(m, "resume", NEW, 3))))
    cpu = get(m, "full", NEW, 1)
    print("| e. host CPU (user + system) per MiB sent, `dfu-mgr update`, full release | %s s | |"
          % mmm([cpu[r] / (by[r] / 1048576.0) for r in sorted(cpu) if by.get(r)], "%.3f"))
    hc = col(m, "hand", NEW, 3)
    if hc:
        print("| e. host CPU per MiB sent, stock dfu-util's 2 downloads | %s s | |"
              % mmm([c / ((s0 + s1) / 1048576.0) for c in hc], "%.3f"))
    sw = col(m, "full", NEW, 5)
    if m == "real" and sw:
        print("| MCUboot's swap-move after the full release, accounted by the emulator (not slept, not in the times above) | %s s | |"
              % mmm(sw))

# Item 4d. Columns of a strategy line: update()'s 11, then erase, program and read seconds of the
# boot, then erases and max erases per sector of img0-primary, img0-secondary, img1-primary,
# img1-secondary. The download's bound here: whole sectors of both images (48 ms + 16 pages).
SECTOR_S = ERASE_S + 16 * PAGE_S
full_bound = (NS[0] + NS[1]) * SECTOR_S
def st_med(xs):
    return st.median(xs) if xs else 0.0
if any(rows.get(("real", "strat-" + s_, NEW)) for s_ in ("swap-move", "overwrite-only", "direct-xip")):
    print()
    print("bench-speed: item 4d, MCUboot's strategies after a full release (pipelined board); boot work accounted by"
          " the emulator from the datasheets (not slept); download's flash bound %.2f s" % full_bound)
    print()
    print("| strategy | boot work: erase + program + read, s | sectors erased (max per sector): img0 primary (internal) / img0 secondary / img1 primary / img1 secondary | detach to commit, s | reboot, s | time until the new pair runs, s | against the bound (target <= 1.2) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for strat in ("swap-move", "overwrite-only", "direct-xip"):
        c = "strat-" + strat
        if not rows.get(("real", c, NEW)):
            continue
        er, pr, rd = col("real", c, NEW, 11), col("real", c, NEW, 12), col("real", c, NEW, 13)
        work = [a + b + x for a, b, x in zip(er, pr, rd)]
        d2c, rb = col("real", c, NEW, 7), col("real", c, NEW, 8)
        total = [a + b + w for a, b, w in zip(d2c, rb, work)]
        wear = " / ".join("%d (%d)" % (col("real", c, NEW, 14 + 2 * k)[-1], col("real", c, NEW, 15 + 2 * k)[-1]) for k in range(4))
        print("| %s | %.2f + %.2f + %.2f = %.2f | %s | %s | %s | %s | %s |"
              % (strat, st_med(er), st_med(pr), st_med(rd), st_med(work), wear, mmm(d2c), mmm(rb),
                 mmm(total), mmm([t / full_bound for t in total])))
EOF
finish
