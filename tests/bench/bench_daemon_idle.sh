#!/usr/bin/env bash
# What dfu-mgrd costs while it has nothing to do, in the VM test bed with 8 emulated boards it
# brought to a release (8 boards known, all up to date): wake-ups per minute (context switches
# of all its threads) besides the watchdog's own, CPU time, and memory (RSS, high-water mark,
# PSS). Not a pass/fail test: it prints figures, with the targets next to them (0 wake-ups
# besides the watchdog; RSS at most 4 MiB; libcurl not mapped).
# BENCH_IDLE_S (default 60): the measured idle time. BENCH_BOARDS (default 8).
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/../daemon/lib.sh"
trap 'daemon_stop KILL; kill $NOTIFY_PID 2>/dev/null; emu_stop; rm -rf "$T"' EXIT
IDLE=${BENCH_IDLE_S:-60}
N=${BENCH_BOARDS:-8}
ELF="$DFUMGR_BUILD_DIR/examples/xip-app/xip-app.elf"

emu_start "$N" || { echo "bench: boards did not attach"; exit 1; }
NOTIFY="$T/notify.sock"
NLOG="$T/notify.log"
python3 "$DTESTS/notify_listen.py" "$NOTIFY" "$NLOG" &
NOTIFY_PID=$!
wait_until 10 test -S "$NOTIFY"
# group: one in /etc/group, as the unit's dfu-mgr is once sysusers made it (no NSS modules)
daemon_config "max_parallel = $N" "[control]" "group = plugdev"
# the unit's watchdog: WatchdogSec=30, so sd-event pings every 15 s
NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=30000000 daemon_start || exit 1
"$DFUMGR" pack --version 1.1.0+1 --key "$D/key-A.pem" --product xip-app -o "$T/b110" "$ELF" >/dev/null
t0=$(now)
publish "$T/b110" b110
up() { [ "$("$DFUMGR" daemon boards --json | grep -c '"up-to-date"')" -eq "$N" ]; }
# the loop's answer time while the updates run: a whole dfu-mgr status, and as the baseline on
# this (busy, emulated) CPU, a dfu-mgr process that talks to nobody
lat=""
base=""
while ! up && [ "$(elapsed "$t0" | cut -d. -f1)" -lt 300 ]; do
	s=$(date +%s%N)
	"$DFUMGR" status >/dev/null
	lat="$lat $((($(date +%s%N) - s) / 1000000))"
	s=$(date +%s%N)
	"$DFUMGR" --version >/dev/null
	base="$base $((($(date +%s%N) - s) / 1000000))"
	sleep 0.2
done
up || { echo "bench: the boards did not all reach the release"; "$DFUMGR" status; exit 1; }
echo "bench: daemon: $N boards updated in parallel in $(elapsed "$t0") s"
med() { tr ' ' '\n' | sort -n | awk 'NF { v[n++] = $1 } END { if (n) printf "median %d ms, max %d ms, %d samples", v[int(n / 2)], v[n - 1], n }'; }
echo "bench: daemon: dfu-mgr status during the updates: $(med <<<"$lat"); dfu-mgr --version meanwhile: $(med <<<"$base")"
sleep 5 # the last re-enumerations and scans settle

switches() { # switches KIND: all threads' voluntary (a wake-up after blocking) or nonvoluntary
	local t sum=0 v
	for t in /proc/$DPID/task/*/status; do
		v=$(awk -v k="^$1_ctxt_switches" '$0 ~ k { s += $2 } END { print s + 0 }' "$t" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo $sum
}
cpu_ticks() { awk '{ print $14 + $15 }' /proc/$DPID/stat; }
threads() { ls /proc/$DPID/task | wc -l; }
wd() { grep -c "WATCHDOG=1" "$NLOG"; }

s0=$(switches voluntary)
n0=$(switches nonvoluntary)
c0=$(cpu_ticks)
w0=$(wd)
th0=$(threads)
sleep "$IDLE"
s1=$(switches voluntary)
n1=$(switches nonvoluntary)
c1=$(cpu_ticks)
w1=$(wd)
th1=$(threads)
hz=$(getconf CLK_TCK)
wake=$((s1 - s0))
pings=$((w1 - w0))
# a watchdog ping is one wake-up of the loop (the timer) with one sendmsg
other=$((wake - pings))
awk -v w="$wake" -v p="$pings" -v o="$other" -v t="$IDLE" -v nv=$((n1 - n0)) -v n="$N" 'BEGIN {
	printf "bench: daemon idle %d s, %d boards known: %d wake-ups (%.1f/min), %d of them watchdog pings; besides the watchdog: %d (%.1f/min, target 0); preempted %d times\n",
		t, n, w, w * 60 / t, p, o, o * 60 / t, nv }'
awk -v c=$((c1 - c0)) -v hz="$hz" -v t="$IDLE" 'BEGIN {
	printf "bench: daemon idle CPU: %.0f ms in %d s (%.4f %% of one core)\n", c * 1000 / hz, t, c * 100 / hz / t }'
rss=$(awk '/^VmRSS/ { print $2 }' /proc/$DPID/status)
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$DPID/status)
pss=$(awk '/^Pss:/ { print $2 }' /proc/$DPID/smaps_rollup 2>/dev/null)
anon=$(awk '/^RssAnon/ { print $2 }' /proc/$DPID/status)
awk -v r="$rss" -v h="$hwm" -v p="${pss:-0}" -v a="$anon" 'BEGIN {
	printf "bench: daemon memory with %d boards known: RSS %.2f MiB (target <= 4 MiB; %.2f MiB anonymous), high-water %.2f MiB, PSS %.2f MiB\n",
		'"$N"', r / 1024, a / 1024, h / 1024, p / 1024 }'
echo "bench: daemon: its largest private mappings (RSS kB): $(awk '/^[0-9a-f]+-/ { name = $6 ? $6 : "[anon " $1 "]" } /^Rss:/ { print $2, name }' /proc/$DPID/smaps | sort -rn | grep -v '\.so' | head -5 | tr '\n' ';')"
echo "bench: daemon threads while idle: $th0 -> $th1 (scans and updates run in threads that end; libusb keeps one for hotplug while its context lives)"
if grep -q libcurl /proc/$DPID/maps; then
	echo "bench: daemon: libcurl IS mapped"
else
	echo "bench: daemon: libcurl not mapped ($(grep -c '\.so' /proc/$DPID/maps) shared-object mappings: $(awk '/\.so/ { n = split($6, a, "/"); print a[n] }' /proc/$DPID/maps | sort -u | sed 's/\.so.*//' | tr '\n' ' '))"
fi
daemon_stop
