#!/usr/bin/env bash
# Benchmark (runs in the VM test bed, or as root with vhci-hcd): a paired dfu-mgr update
# (detach, both downloads, device digests, commit, reboot, version check) against stock dfu-util
# doing only the same two downloads on the same emulated board, with --timing none and real.
# Prints times and ratios measured in this one run; it is not a pass/fail timer.
#   BENCH_IMG0 (bytes, default 524288), BENCH_IMG1 (default 3.4 MiB: the largest the slot takes),
#   BENCH_REAL_IMG1 (image 1 size for --timing real, default 1 MiB to keep CI short)
. "$(dirname "$0")/../vm/lib.sh"

IMG0=${BENCH_IMG0:-524288}
IMG1=${BENCH_IMG1:-$((0x370000 - 0x1000))}
REAL_IMG1=${BENCH_REAL_IMG1:-1048576}

bench() { # bench TIMING IMG0 IMG1
	local timing=$1 n0=$2 n1=$3 t0 t_mgr t_du
	rm -rf "$EMU_DIR" "$T/b"
	head -c "$n0" /dev/urandom >"$T/p0.bin"
	head -c "$n1" /dev/urandom >"$T/p1.bin"
	"$DFUMGR" pack --version 2.0.0+0 --key "$D/key-A.pem" --slot-size1 0x370000 \
		--internal "$T/p0.bin" --qspi "$T/p1.bin" -o "$T/b" >/dev/null || return 1
	emu_start 2 --timing "$timing" >/dev/null || return 1
	t0=$(now)
	"$DFUMGR" update -q -k "$D/key-A-pub.pem" -S EMU-0001 "$T/b" >"$T/u.txt" 2>&1 || { cat "$T/u.txt"; return 1; }
	t_mgr=$(elapsed "$t0")
	dfu-util -S EMU-0002 -e >/dev/null 2>&1
	wait_board EMU-0002 dfu 10 || return 1
	t0=$(now)
	dfu-util -S EMU-0002 -a image-1 -D "$T/b/qspi.bin" >/dev/null 2>&1 || return 1
	dfu-util -S EMU-0002 -a image-0 -D "$T/b/internal.bin" >/dev/null 2>&1 || return 1
	t_du=$(elapsed "$t0")
	emu_stop
	# the device's lower bound: erase + program of both slots (QSPI: 48 ms/4 KiB + 0.9 ms/256 B)
	awk -v tm="$t_mgr" -v td="$t_du" -v n0="$n0" -v n1="$n1" -v timing="$timing" 'BEGIN {
		b = n0 + 512 + n1 + 512; sec = int((b + 4095) / 4096);
		lb = timing == "real" ? sec * 0.048 + (b / 256) * 0.0009 : 0;
		printf "bench: timing %-4s image0 %7d B image1 %7d B: dfu-mgr paired update %6.2f s, dfu-util two downloads %6.2f s, ratio %.2f", timing, n0, n1, tm, td, tm / td;
		if (lb > 0) printf ", flash lower bound %.2f s (dfu-mgr at %.2fx)", lb, tm / lb;
		printf "\n" }'
}

bench none "$IMG0" "$IMG1" && ok "timing none" || bad "timing none"
bench real "$IMG0" "$REAL_IMG1" && ok "timing real" || bad "timing real"
finish
