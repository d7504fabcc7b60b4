#!/usr/bin/env bash
# Installs the Debian 12 packages dfu-mgr needs to build, test and run its demo.
set -euo pipefail
PKGS=(
	build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
	libusb-1.0-0-dev libcjson-dev libmbedtls-dev libcurl4-openssl-dev libsystemd-dev
	libcmocka-dev
	gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi
	man-db groff-base
	qemu-system-x86 busybox-static usbip dfu-util kmod cpio udev xz-utils
)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
