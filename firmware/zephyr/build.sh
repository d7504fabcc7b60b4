#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the nRF5340 DK shim (firmware/zephyr) with Zephyr 3.4, no west, then packs the ELF into
# a dfu-mgr bundle and checks the split: both images fit their slots, image 1 loads in the QSPI
# XIP window at the slot's code address, image 0's vector table sits right after its header,
# enough code executes from QSPI and only through the XIP gate, DFU and recovery code stays in
# internal flash. Writes the flashable hex files (build-zephyr/flash/, checked by address range),
# the size report (build-zephyr/size-report.txt), and fails when any output file is over 16 MiB.
#
# usage: firmware/zephyr/build.sh [ZEPHYR_TARBALL_OR_BASE] [BUILD_DIR]
#   ZEPHYR_TARBALL_OR_BASE  zephyr-3.4.0-sparse.tar.xz: extracted once into BUILD_DIR (cached by
#                           its sha256); or a Zephyr tree (ZEPHYR_BASE) or a west workspace.
#                           Default: $ZEPHYR_BASE, else ../shared/zephyr/zephyr-3.4.0-sparse.tar.xz
#                           next to the repository.
#   BUILD_DIR               default: <repo>/build-zephyr
# environment:
#   DFUMGR          dfu-mgr binary (default <repo>/build/dfu-mgr)
#   DFUMGR_KEY      signing key for pack (default tests/data/key-A.pem, the TEST key; "none":
#                   unsigned)
#   DFUMGR_FW_VERSION  image version (default 0.1.0+0)
#   ZEPHYR_MODULES  module list for your own workspace (default: hal/nordic, hal/cmsis,
#                   mcuboot, tinycrypt next to ZEPHYR_BASE, or west's list)
#   ZEPHYR_TOOLCHAIN_VARIANT / GNUARMEMB_TOOLCHAIN_PATH  default gnuarmemb in /usr (Debian)
#   JOBS            parallel build jobs (default nproc)
#   DFUMGR_BOARD    board name (default nrf5340dk_nrf5340_cpuapp, Zephyr 3.4's spelling)
#   DFUMGR_NATIVE_TEST=1  also run the glue end to end on native_posix_64 (tests/native_usbip.py:
#                   Zephyr's USB stack + our DFU class + flash simulator, over USB/IP on TCP
#                   port 3240; needs the host gcc)
#   DFUMGR_NATIVE_VM=1  with DFUMGR_NATIVE_TEST=1, also stock dfu-util against the DFU-mode
#                   native build through the kernel's vhci-hcd, in the VM test bed
#                   (tests/native_dfu_util.sh under tests/vm/vm-run: qemu, about 60 s)
#   DFUMGR_BUILD_MCUBOOT=1  also build MCUboot for this layout (firmware/zephyr/mcuboot/) with
#                   DFUMGR_KEY as its signature key; needs imgtool's Python modules (Debian:
#                   python3-cryptography python3-click python3-cbor2)
# Exit status: 0 built and checked; 1 a check failed; 2 usage or environment problem.
set -euo pipefail

APP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$APP_DIR/../.." && pwd)
# Zephyr >= 3.7 (hardware model v2) spells it nrf5340dk/nrf5340/cpuapp: set DFUMGR_BOARD
BOARD=${DFUMGR_BOARD:-nrf5340dk_nrf5340_cpuapp}
OVERLAY="$APP_DIR/boards/nrf5340dk_nrf5340_cpuapp.overlay"
DEFAULT_TARBALL="$REPO/../shared/zephyr/zephyr-3.4.0-sparse.tar.xz"
# the partition map of include/dfumgr/wire.h
SLOT0_SIZE=0xe0000
SLOT1_SIZE=0x370000
# MCUboot's trailer for this layout (mcuboot/mcuboot.conf): BOOT_MAX_IMG_SECTORS
MAX_SECTORS=1024
IMG0_SLOT=0xc000     # internal: image 0's primary slot
IMG1_SLOT=0x10120000 # QSPI XIP window 0x10000000 + image 1's primary slot 0x120000
IMG0_CODE=0xc200     # + the 0x200-byte MCUboot header
IMG1_CODE=0x10120200
MAX_OUTPUT=$((16 * 1024 * 1024)) # no output file may be larger (gap-filled hex/bin were 758 MB)

T_START=$(date +%s.%N)
die() {
	echo "build.sh: $*" >&2
	exit 2
}
fail() {
	echo "build.sh: FAILED: $*" >&2
	exit 1
}
elapsed() { # seconds since $1
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}
# runs a step quietly; on failure shows the tail of its log
quiet() {
	local log=$1
	shift
	if ! "$@" >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		fail "$* (full log: $log)"
	fi
}

SRC=${1:-${ZEPHYR_BASE:-$DEFAULT_TARBALL}}
BUILD_DIR=${2:-$REPO/build-zephyr}
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
JOBS=${JOBS:-$(nproc)}

# ---- tools ----
PYTHON=/usr/bin/python3 # Debian's, which sees the python3-* packages (not pyenv's first python3)
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) || die "python3 not found"
for t in cmake ninja dtc; do
	command -v "$t" >/dev/null || die "$t not found (Debian: cmake ninja-build device-tree-compiler)"
done
if [ -z "${ZEPHYR_TOOLCHAIN_VARIANT:-}" ]; then
	command -v arm-none-eabi-gcc >/dev/null ||
		die "arm-none-eabi-gcc not found (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi)"
	export ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb
	export GNUARMEMB_TOOLCHAIN_PATH=${GNUARMEMB_TOOLCHAIN_PATH:-$(dirname "$(dirname "$(command -v arm-none-eabi-gcc)")")}
fi
DFUMGR=${DFUMGR:-$REPO/build/dfu-mgr}
[ -x "$DFUMGR" ] || die "dfu-mgr not found at $DFUMGR (build it: cmake -S . -B build -G Ninja && ninja -C build dfu-mgr; or set DFUMGR)"

# ---- Zephyr tree ----
MODULES=${ZEPHYR_MODULES:-}
if [ -f "$SRC" ]; then
	WS_PARENT="$BUILD_DIR/workspace"
	STAMP="$WS_PARENT/.tarball.sha256"
	sum=$(sha256sum "$SRC" | cut -d' ' -f1)
	if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$sum" ]; then
		t=$(date +%s.%N)
		rm -rf "$WS_PARENT"
		mkdir -p "$WS_PARENT"
		tar -xJf "$SRC" -C "$WS_PARENT" || fail "cannot extract $SRC"
		echo "$sum" >"$STAMP"
		echo "extract   $(basename "$SRC") -> $WS_PARENT ($(elapsed "$t") s)"
	else
		echo "extract   cached ($WS_PARENT, sha256 ${sum:0:12})"
	fi
	WS=$(find "$WS_PARENT" -mindepth 2 -maxdepth 2 -name zephyr -type d | head -n 1)
	[ -n "$WS" ] || fail "no zephyr/ directory in $SRC"
	ZB=$WS
	WS=$(dirname "$WS")
elif [ -d "$SRC" ]; then
	if [ -f "$SRC/Kconfig.zephyr" ]; then
		ZB=$(cd "$SRC" && pwd)
	elif [ -f "$SRC/zephyr/Kconfig.zephyr" ]; then
		ZB=$(cd "$SRC/zephyr" && pwd)
	else
		die "$SRC is neither a Zephyr tree nor a workspace with zephyr/"
	fi
	WS=$(dirname "$ZB")
else
	die "no Zephyr: give the tarball or a Zephyr tree, or set ZEPHYR_BASE (looked for $SRC)"
fi
export ZEPHYR_BASE=$ZB
if [ -z "$MODULES" ]; then
	# the sparse tarball's layout, which is also west's default for these modules
	for m in modules/hal/nordic modules/hal/cmsis bootloader/mcuboot modules/crypto/tinycrypt; do
		[ -d "$WS/$m" ] && MODULES="${MODULES:+$MODULES;}$WS/$m"
	done
fi

# ---- configure + build ----
# a tree without .git (the tarball) has no `git describe`: name it from its VERSION file
ZVER=$(awk -F' *= *' '/^VERSION_(MAJOR|MINOR)/ { v = v $2 "." } /^PATCHLEVEL/ { v = v $2 }
	END { print v }' "$ZB/VERSION" 2>/dev/null || true)
# zbuild NAME BOARD [cmake args...]: configures (when needed) and builds firmware/zephyr into
# $BUILD_DIR/NAME; logs NAME-configure.log, NAME-build.log; sets T_CFG and T_BUILD.
zbuild() {
	local name=$1 board=$2 dir="$BUILD_DIR/$1" sig t
	shift 2
	# Zephyr caches which .conf / overlay files it found: another tree, board, option or set of
	# those files needs a fresh configure, not ninja's re-run of cmake
	sig=$( (echo "$ZB $board $MODULES $*"
		cd "$APP_DIR" && find . -name '*.conf' -o -name '*.overlay' | LC_ALL=C sort) | sha256sum)
	if [ "$(cat "$dir/.dfumgr-config" 2>/dev/null)" != "$sig" ] || [ ! -f "$dir/build.ninja" ]; then
		local args=(-G Ninja -S "$APP_DIR" -B "$dir" -DBOARD="$board"
			-DPython3_EXECUTABLE="$PYTHON" -DUSER_CACHE_DIR="$BUILD_DIR/cache" "$@")
		[ -n "$MODULES" ] && args+=(-DZEPHYR_MODULES="$MODULES")
		[ -d "$ZB/.git" ] || args+=(-DBUILD_VERSION="zephyr-v${ZVER:-unknown}")
		t=$(date +%s.%N)
		rm -rf "$dir"
		quiet "$BUILD_DIR/$name-configure.log" cmake "${args[@]}"
		echo "$sig" >"$dir/.dfumgr-config"
		T_CFG="$(elapsed "$t") s,"
	else
		T_CFG="skipped (configured; ninja re-runs cmake when inputs change),"
	fi
	t=$(date +%s.%N)
	quiet "$BUILD_DIR/$name-build.log" ninja -C "$dir" -j "$JOBS"
	T_BUILD=$(elapsed "$t")
}

FLASH_DIR="$BUILD_DIR/flash"
# `west flash -d $BUILD_DIR/app` flashes the merged hex (MCUboot + both signed images)
zbuild app "$BOARD" -DDFUMGR_FLASH_HEX="$FLASH_DIR/merged.hex"
APP_BUILD="$BUILD_DIR/app"
echo "configure ${T_CFG} build ${T_BUILD} s ($JOBS jobs; logs in $BUILD_DIR)"

ELF="$APP_BUILD/zephyr/zephyr.elf"
[ -f "$ELF" ] || fail "no $ELF"
# the linker prints region usage only when it links: keep the last report
if grep -q "Memory region" "$BUILD_DIR/app-build.log"; then
	sed -n '/Memory region/,/IDT_LIST/p' "$BUILD_DIR/app-build.log" >"$BUILD_DIR/memory-usage.txt"
fi
[ -f "$BUILD_DIR/memory-usage.txt" ] && sed 's/^/  /' "$BUILD_DIR/memory-usage.txt"

# ---- pack + inspect ----
KEY=${DFUMGR_KEY:-$REPO/tests/data/key-A.pem}
VERSION=${DFUMGR_FW_VERSION:-0.1.0+0}
BUNDLE="$BUILD_DIR/bundle"
rm -rf "$BUNDLE"
pack_args=(pack --version "$VERSION" --product nrf5340dk-shim --slot-size0 "$SLOT0_SIZE"
	--slot-size1 "$SLOT1_SIZE" --max-sectors "$MAX_SECTORS" -o "$BUNDLE")
inspect_args=(inspect)
if [ "$KEY" = none ]; then
	inspect_args+=(--allow-unsigned)
	signer="unsigned"
else
	[ -f "$KEY" ] || die "signing key $KEY not found (DFUMGR_KEY=none for an unsigned bundle)"
	pack_args+=(--key "$KEY")
	inspect_args+=(--key "$KEY")
	signer="signed with $(basename "$KEY")"
	case "$KEY" in */tests/data/key-A.pem) signer="$signer (the TEST key)" ;; esac
fi
t=$(date +%s.%N)
quiet "$BUILD_DIR/pack.log" "$DFUMGR" "${pack_args[@]}" "$ELF"
quiet "$BUILD_DIR/inspect.log" "$DFUMGR" "${inspect_args[@]}" "$BUNDLE"
"$DFUMGR" inspect --json -s "$SLOT0_SIZE" "$BUNDLE/internal.bin" >"$BUILD_DIR/inspect-image0.json" || true
"$DFUMGR" inspect --json -s "$SLOT1_SIZE" "$BUNDLE/qspi.bin" >"$BUILD_DIR/inspect-image1.json" || true

# The checks: what must hold for MCUboot to install and run the pair on the DK.
"$PYTHON" - "$BUILD_DIR" "$BUNDLE" "$IMG0_CODE" "$IMG1_CODE" "$SLOT0_SIZE" "$SLOT1_SIZE" \
	"$MAX_SECTORS" <<'EOF' || fail "bundle checks (see above)"
import json, struct, sys
build, bundle, img0_code, img1_code, slot0, slot1, sectors = sys.argv[1:8]
img0_code, img1_code = int(img0_code, 0), int(img1_code, 0)
# MCUboot swap-move, bounded from above: swap status of 3 entries x 8 bytes per sector (MCUboot
# needs 2 x write size), 4 flag rows + magic, and one spare sector the move needs in the slot.
need_extra = int(sectors) * 3 * 8 + 4 * 8 + 16 + 4096
errors = []
man = json.load(open(f"{bundle}/manifest.json"))
images = {i["image"]: i for i in man["images"]}
for idx, slot in ((0, slot0), (1, slot1)):
    rep = json.load(open(f"{build}/inspect-image{idx}.json"))["files"][0]
    fits = rep.get("fits_slot") is True and rep["size"] + need_extra <= int(slot, 0)
    ok = fits and rep.get("hash_ok") is True
    print(f"  image {idx}: {rep['size']:>8} bytes, payload {rep['header']['img_size']:>8} bytes, "
          f"slot {slot}: {'fits' if fits else 'DOES NOT FIT'} "
          f"({100 * (rep['size'] + need_extra) / int(slot, 0):.1f}% with swap-move trailer and spare sector)")
    if not ok:
        errors.append(f"image {idx} does not fit slot {slot} or its hash is wrong")
la = images[1].get("load_address")
la_v = int(la, 0) if la else None
print(f"  image 1 load address {la}")
if la_v is None or not 0x10000000 <= la_v <= 0x1FFFFFFF:
    errors.append(f"image 1 load address {la} is not in the QSPI XIP window 0x10000000-0x1fffffff")
elif la_v != img1_code:
    errors.append(f"image 1 load address {la} != 0x{img1_code:08x}: MCUboot puts its payload "
                  f"there (slot + header), the code would run from the wrong address")
# Image 0: MCUboot jumps to slot + header and reads a vector table there.
with open(f"{bundle}/{images[0]['file']}", "rb") as f:
    img = f.read()
hdr = struct.unpack_from("<H", img, 8)[0]
sp, reset = struct.unpack_from("<II", img, hdr)
print(f"  image 0 vector table at +0x{hdr:x}: SP 0x{sp:08x}, reset 0x{reset:08x}")
if not 0x20000000 < sp <= 0x20080000:
    errors.append(f"image 0: initial SP 0x{sp:08x} is not in SRAM: the payload does not start "
                  f"with the vector table (linked at the slot start with a header gap?)")
if not (reset & 1 and img0_code <= reset < img0_code - 0x200 + int(slot0, 0)):
    errors.append(f"image 0: reset vector 0x{reset:08x} is not Thumb code inside image 0")
for e in errors:
    print(f"  FAIL {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
T_PACK=$(elapsed "$t")
echo "pack      $BUNDLE ($VERSION, $signer; pack + inspect + checks ${T_PACK} s)"
sed -n '/^Split by load address/,/^Wrote/p' "$BUILD_DIR/pack.log" | grep -E "^  (internal|qspi) " |
	awk '{ printf "  %-8s payload %s %s bytes\n", $1, $2, $3 }'

# ---- optional: MCUboot with the same overlay, trusting the key the bundle is signed with ----
if [ "${DFUMGR_BUILD_MCUBOOT:-0}" = 1 ]; then
	[ "$KEY" != none ] || die "DFUMGR_BUILD_MCUBOOT needs a signing key (DFUMGR_KEY)"
	MCUBOOT_SRC="$WS/bootloader/mcuboot/boot/zephyr"
	[ -d "$MCUBOOT_SRC" ] || die "no MCUboot in $WS/bootloader/mcuboot"
	t=$(date +%s.%N)
	mcuboot_args=(-G Ninja -S "$MCUBOOT_SRC" -B "$BUILD_DIR/mcuboot" -DBOARD="$BOARD"
		-DPython3_EXECUTABLE="$PYTHON" -DUSER_CACHE_DIR="$BUILD_DIR/cache"
		-DEXTRA_CONF_FILE="$APP_DIR/mcuboot/mcuboot.conf"
		-DEXTRA_DTC_OVERLAY_FILE="$OVERLAY"
		-DCONFIG_BOOT_SIGNATURE_KEY_FILE="\"$(cd "$(dirname "$KEY")" && pwd)/$(basename "$KEY")\"")
	[ -n "$MODULES" ] && mcuboot_args+=(-DZEPHYR_MODULES="$MODULES")
	[ -d "$ZB/.git" ] || mcuboot_args+=(-DBUILD_VERSION="zephyr-v${ZVER:-unknown}")
	msig=$(echo "${mcuboot_args[*]} $MODULES" | sha256sum)
	if [ "$(cat "$BUILD_DIR/mcuboot/.dfumgr-config" 2>/dev/null)" != "$msig" ]; then
		rm -rf "$BUILD_DIR/mcuboot"
		quiet "$BUILD_DIR/mcuboot-configure.log" cmake "${mcuboot_args[@]}"
		echo "$msig" >"$BUILD_DIR/mcuboot/.dfumgr-config"
	fi
	quiet "$BUILD_DIR/mcuboot-build.log" ninja -C "$BUILD_DIR/mcuboot" -j "$JOBS"
	grep -q "Memory region" "$BUILD_DIR/mcuboot-build.log" &&
		sed -n '/Memory region/,/IDT_LIST/p' "$BUILD_DIR/mcuboot-build.log" >"$BUILD_DIR/mcuboot-memory-usage.txt"
	echo "mcuboot   $BUILD_DIR/mcuboot/zephyr/zephyr.hex ($(elapsed "$t") s; key $(basename "$KEY"))"
	[ -f "$BUILD_DIR/mcuboot-memory-usage.txt" ] && grep -E "^ *(FLASH|RAM):" "$BUILD_DIR/mcuboot-memory-usage.txt" | sed 's/^/  /'
fi

# ---- flashable hex files from the signed images, checked by address range ----
MCUBOOT_HEX=""
MCUBOOT_ELF=""
if [ "${DFUMGR_BUILD_MCUBOOT:-0}" = 1 ]; then
	MCUBOOT_HEX="$BUILD_DIR/mcuboot/zephyr/zephyr.hex"
	MCUBOOT_ELF="$BUILD_DIR/mcuboot/zephyr/zephyr.elf"
fi
rm -rf "$FLASH_DIR"
quiet "$BUILD_DIR/flash-hex.log" "$PYTHON" "$APP_DIR/scripts/flash_hex.py" \
	--internal "$BUNDLE/internal.bin" --qspi "$BUNDLE/qspi.bin" --img0-addr "$IMG0_SLOT" \
	--img1-addr "$IMG1_SLOT" ${MCUBOOT_HEX:+--mcuboot "$MCUBOOT_HEX"} --out-dir "$FLASH_DIR"
if ! "$PYTHON" "$APP_DIR/tests/check_flash_hex.py" "$FLASH_DIR" "$BUNDLE/internal.bin" \
	"$BUNDLE/qspi.bin" ${MCUBOOT_HEX:+"$MCUBOOT_HEX"} >"$BUILD_DIR/flash-hex-check.log" 2>&1; then
	grep -v "^ok" "$BUILD_DIR/flash-hex-check.log" >&2
	fail "flash hex files (log: $BUILD_DIR/flash-hex-check.log)"
fi
echo "flash     $FLASH_DIR: $(cd "$FLASH_DIR" && echo *.hex) ($(grep -c '^ok' "$BUILD_DIR/flash-hex-check.log") address-range checks)"

# ---- where the code landed (nm/objdump), and the size report ----
if ! "$PYTHON" "$APP_DIR/scripts/check_split.py" --elf "$ELF" \
	${MCUBOOT_ELF:+--mcuboot-elf "$MCUBOOT_ELF"} \
	--nm "${GNUARMEMB_TOOLCHAIN_PATH:-/usr}/bin/arm-none-eabi-nm" \
	--objdump "${GNUARMEMB_TOOLCHAIN_PATH:-/usr}/bin/arm-none-eabi-objdump" \
	--app-usage "$BUILD_DIR/memory-usage.txt" \
	${MCUBOOT_ELF:+--mcuboot-usage "$BUILD_DIR/mcuboot-memory-usage.txt"} \
	--bundle "$BUNDLE" --flash-dir "$FLASH_DIR" --report "$BUILD_DIR/size-report.txt"; then
	fail "code placement (see above)"
fi
echo "sizes     $BUILD_DIR/size-report.txt"
sed 's/^/  /' "$BUILD_DIR/size-report.txt" | tail -n +3

# ---- optional: the glue end to end on native_posix_64 over Zephyr's USB/IP device driver ----
if [ "${DFUMGR_NATIVE_TEST:-0}" = 1 ]; then
	command -v gcc >/dev/null || die "DFUMGR_NATIVE_TEST needs the host gcc"
	t=$(date +%s.%N)
	ZEPHYR_TOOLCHAIN_VARIANT=host zbuild native-runtime native_posix_64
	ZEPHYR_TOOLCHAIN_VARIANT=host zbuild native-dfu native_posix_64 \
		-DCONFIG_DFUMGR_SHIM_START_IN_DFU_MODE=y
	rm -rf "$BUILD_DIR/native-test"
	if ! "$PYTHON" "$APP_DIR/tests/native_usbip.py" "$BUILD_DIR/native-runtime/zephyr/zephyr.exe" \
		"$BUILD_DIR/native-dfu/zephyr/zephyr.exe" "$DFUMGR" "$BUILD_DIR/native-test" \
		>"$BUILD_DIR/native-test.log" 2>&1; then
		grep -v "^ok" "$BUILD_DIR/native-test.log" >&2
		fail "native_posix USB/IP test (log: $BUILD_DIR/native-test.log)"
	fi
	echo "native    $(tail -n 1 "$BUILD_DIR/native-test.log") ($(elapsed "$t") s, two native_posix_64 builds)"
	if [ "${DFUMGR_NATIVE_VM:-0}" = 1 ]; then
		t=$(date +%s.%N)
		rm -rf "$BUILD_DIR/native-vm"
		mkdir -p "$BUILD_DIR/native-vm"
		if ! "$REPO/tests/vm/vm-run" --timeout 600 --share "$BUILD_DIR/native-vm" -- \
			"$APP_DIR/tests/native_dfu_util.sh" "$BUILD_DIR/native-dfu/zephyr/zephyr.exe" \
			"$DFUMGR" "$BUILD_DIR/native-vm" >"$BUILD_DIR/native-vm.log" 2>&1; then
			grep -v "^ok" "$BUILD_DIR/native-vm.log" >&2
			fail "stock dfu-util against the native_posix build (log: $BUILD_DIR/native-vm.log)"
		fi
		echo "native    $(grep '^native_dfu_util:' "$BUILD_DIR/native-vm.log") ($(elapsed "$t") s, VM)"
	fi
fi

# ---- no output over 16 MiB (the extracted Zephyr tree and the toolchain cache are inputs) ----
big=$(find "$BUILD_DIR" -path "$BUILD_DIR/workspace" -prune -o -path "$BUILD_DIR/cache" -prune -o \
	-type f -size +$((MAX_OUTPUT / 1024))k -print)
if [ -n "$big" ]; then
	ls -l $big >&2
	fail "output files over 16 MiB (gap-filled images?)"
fi
largest=$(find "$BUILD_DIR" -path "$BUILD_DIR/workspace" -prune -o -path "$BUILD_DIR/cache" -prune \
	-o -type f -printf '%s %P\n' | sort -n | tail -n 1)
echo "outputs   none over 16 MiB (largest: ${largest#* }, ${largest%% *} bytes)"

echo "build.sh: OK ($(elapsed "$T_START") s)"
