#!/usr/bin/env bash
# Benchmark (runs in the VM test bed, or as root with vhci-hcd): a paired dfu-mgr update
# (detach, both downloads, device digests, commit, reboot, version check) against stock dfu-util
# doing only the same two downloads on the same emulated board, with --timing none and real.
# Prints times and ratios measured in this one run; it is not a pass/fail timer.
#   BENCH_IMG0 (bytes, default 524288), BENCH_IMG1 (default 3.4 MiB: the largest the slot takes),
#   BENCH_REAL_IMG1 (image 1 size for --timing real, default 1 MiB to keep CI short),
#   BENCH_REPS (paired runs with --timing none, default 3; the median ratio is reported)
. "$(dirname "$0")/../vm/lib.sh"

IMG0=${BENCH_IMG0:-524288}
IMG1=${BENCH_IMG1:-$((0x36b000 - 0x1000))} # the board's image-1 limit, less header and TLVs
REAL_IMG1=${BENCH_REAL_IMG1:-1048576}

# one_run TIMING: a fresh pair of boards; dfu-mgr updates board 1, dfu-util writes board 2.
# Prints "T_DFUMGR T_DFUUTIL".
one_run() {
	local timing=$1 t0 t_mgr t_du
	emu_stop
	rm -rf "$EMU_DIR"
	emu_start 2 --timing "$timing" >/dev/null || return 1
	t0=$(now)
	"$DFUMGR" update -q -k "$D/key-A-pub.pem" -S EMU-0001 "$T/b" >"$T/u.txt" 2>&1 || { cat "$T/u.txt" >&2; return 1; }
	t_mgr=$(elapsed "$t0")
	dfu-util -S EMU-0002 -e >/dev/null 2>&1
	wait_board EMU-0002 dfu 10 >/dev/null || return 1
	t0=$(now)
	dfu-util -S EMU-0002 -a image-1 -D "$T/b/qspi.bin" >/dev/null 2>&1 || return 1
	dfu-util -S EMU-0002 -a image-0 -D "$T/b/internal.bin" >/dev/null 2>&1 || return 1
	t_du=$(elapsed "$t0")
	emu_stop
	echo "$t_mgr $t_du"
}

bench() { # bench TIMING IMG0 IMG1 REPS
	local timing=$1 n0=$2 n1=$3 reps=$4 r runs=""
	rm -rf "$T/b"
	head -c "$n0" /dev/urandom >"$T/p0.bin"
	head -c "$n1" /dev/urandom >"$T/p1.bin"
	"$DFUMGR" pack --version 2.0.0+0 --key "$D/key-A.pem" --product xip-app \
		--internal "$T/p0.bin" --qspi "$T/p1.bin" -o "$T/b" >/dev/null || return 1
	for r in $(seq 1 "$reps"); do
		runs="$runs $(one_run "$timing")" || return 1
	done
	# the median of the per-run ratios: machines this noisy need the pairing (see STYLE)
	awk -v runs="$runs" -v n0="$n0" -v n1="$n1" -v timing="$timing" 'BEGIN {
		k = split(runs, v, " "); m = 0;
		for (i = 1; i + 1 <= k; i += 2) { m++; tm[m] = v[i]; td[m] = v[i + 1]; ra[m] = v[i] / v[i + 1] }
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (ra[j] < ra[i]) { t = ra[i]; ra[i] = ra[j]; ra[j] = t }
		b = n0 + 512 + n1 + 512; sec = int((b + 4095) / 4096);
		lb = timing == "real" ? sec * 0.048 + (b / 256) * 0.0009 : 0;
		printf "bench: timing %-4s image0 %7d B image1 %7d B, %d run(s):", timing, n0, n1, m;
		for (i = 1; i <= m; i++) printf " [dfu-mgr %.2f s, dfu-util %.2f s]", tm[i], td[i];
		printf "; median ratio dfu-mgr/dfu-util %.2f", ra[int((m + 1) / 2)];
		if (lb > 0) printf "; flash lower bound %.2f s (dfu-mgr at %.2fx)", lb, tm[1] / lb;
		printf "\n" }'
}

bench none "$IMG0" "$IMG1" "${BENCH_REPS:-3}" && ok "timing none" || bad "timing none"
bench real "$IMG0" "$REAL_IMG1" 1 && ok "timing real" || bad "timing real"
finish
