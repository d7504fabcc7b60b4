#!/usr/bin/env bash
# Installs the Debian 12 packages dfu-mgr needs to build, test and run its demo.
set -euo pipefail
PKGS=(
	build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
	libusb-1.0-0-dev libcjson-dev libmbedtls-dev libcurl4-openssl-dev libsystemd-dev
	libcmocka-dev
	gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi
	man-db groff-base python3 bash-completion
	qemu-system-x86 busybox-static usbip dfu-util kmod cpio udev xz-utils
	nginx tinyproxy openssl systemd curl
)
# --firmware: what building the nRF5340 application (firmware/zephyr) with Zephyr needs too
if [ "${1:-}" = --firmware ]; then
	PKGS+=(
		device-tree-compiler python3-yaml python3-pyelftools python3-pykwalify
		python3-ruamel.yaml python3-dateutil python3-packaging python3-jsonschema
		python3-intelhex python3-colorama python3-psutil python3-progress
		python3-cryptography python3-click python3-cbor2
	)
fi
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
