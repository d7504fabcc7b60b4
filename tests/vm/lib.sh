# Helpers for the end-to-end tests that run inside the VM test bed (or, with DFUMGR_VM=none, on a
# workstation with vhci-hcd): start dfu-mgr-emu with direct attach, wait for boards, read their
# state, and count checks like tests/cli/lib.sh.
: "${DFUMGR_BUILD_DIR:?path of the build directory}"
export DFUMGR="${DFUMGR:-$DFUMGR_BUILD_DIR/dfu-mgr}"
export DFUMGR_TEST_DATA="${DFUMGR_TEST_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}"
EMU="$DFUMGR_BUILD_DIR/firmware/emu/dfu-mgr-emu"
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
EMU_PID=""
EMU_DIR="$T/emu"
EMU_SOCK="$EMU_DIR/control.sock"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

emu_stop() {
	if [ -n "$EMU_PID" ]; then
		kill "$EMU_PID" 2>/dev/null
		wait "$EMU_PID" 2>/dev/null
		EMU_PID=""
	fi
}
trap 'emu_stop; rm -rf "$T"' EXIT

emu_ctl() { "$EMU" ctl -c "$EMU_SOCK" "$@"; }

# json_get 'python expression over d' < json
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

board_field() { emu_ctl state "$1" | json_get "$2"; }

# The number of USB devices the kernel has with our serial prefix. (read, not $(cat): with
# vhci's 16 root hubs a fork per file costs seconds per call under TCG on a busy machine)
usb_count() {
	local n=0 f s
	for f in /sys/bus/usb/devices/*/serial; do
		s=""
		{ read -r s <"$f"; } 2>/dev/null
		case "$s" in "$1"*) n=$((n + 1)) ;; esac
	done
	echo $n
}

# emu_launch N [EMU OPTIONS]: starts N boards attaching through vhci's sysfs, and returns; the
# test does other work while they enumerate, then emu_wait N.
EMU_T0=""
emu_launch() {
	local n=$1
	shift
	mkdir -p "$EMU_DIR"
	EMU_T0=$(now)
	"$EMU" -a -l none -n "$n" -d "$EMU_DIR" -c "$EMU_SOCK" -p EMU "$@" >"$T/emu.out" 2>"$T/emu.log" &
	EMU_PID=$!
}

# emu_start N [EMU OPTIONS]: N boards, attached through vhci's sysfs, all enumerated.
emu_start() {
	emu_launch "$@"
	emu_wait "$1"
}

# emu_wait N: the boards emu_launch started are attached and enumerated.
emu_wait() {
	local n=$1 t0=$EMU_T0
	for _ in $(seq 1 300); do
		[ "$(usb_count EMU-)" -ge "$n" ] && break
		sleep 0.1
	done
	udevadm settle 2>/dev/null || true
	echo "emu: $n board(s) attached and enumerated in $(elapsed "$t0") s"
	[ "$(usb_count EMU-)" -ge "$n" ]
}

# wait_board SERIAL runtime|dfu [TIMEOUT_S]: attached in that mode and visible to the kernel.
wait_board() {
	local i end=$((SECONDS + ${3:-20}))
	# by the clock, not by count: on a loaded machine one look (emu_ctl, python) takes seconds
	for i in $(seq 1 $((${3:-20} * 10))); do
		[ $SECONDS -le $end ] || break
		if [ "$(board_field "$1" 'd["mode"] + ("+" if d["attached"] else "-")')" = "$2+" ] &&
			[ "$(usb_count "$1")" -ge 1 ]; then
			udevadm settle 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
	echo "board $1 not back in $2 mode: $(emu_ctl state "$1")"
	return 1
}

running() { board_field "$1" '"%s %s %s" % (d["images"][0]["running"], d["images"][1]["running"], d["app"])'; }

. "$(dirname "${BASH_SOURCE[0]}")/udev_rule.sh"
