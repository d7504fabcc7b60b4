#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The partition map lives in one place, include/dfumgr/wire.h; every other statement of it is
checked against that here (ctest firmware.partition_map; python3 only, no YAML or devicetree
library: the files are read with the small parsers below, which fail loudly on a shape they do
not know):

  boards/nrf5340dk_nrf5340_cpuapp.overlay  the DK's partitions (internal flash, MX25R64) and the
                                           EXTFLASH region image 1 is linked into
  boards/native_posix_64.overlay           the same map on one simulated flash, QSPI at 1 MiB
  pm_static.yml                            nRF Connect SDK's Partition Manager
  mcuboot/mcuboot.conf                     BOOT_MAX_IMG_SECTORS (the trailer size)
  build.sh                                 the slot sizes and code addresses it packs and checks
  firmware/emu/*.c                         the emulator: takes the map from wire.h only (no
                                           slot offset or size written as a number)

The firmware build checks the overlay again at compile time (BUILD_ASSERTs in src/platform.c)
and at boot; MCUboot's size limit (85 % of its partition) is checked by build.sh.

usage: check_partition_map.py [REPO]
"""
import os
import re
import sys

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "../../.."))
APP = os.path.join(REPO, "firmware/zephyr")
FAILS = 0


def check(cond, what):
    global FAILS
    if not cond:
        FAILS += 1
    print(("ok   - " if cond else "FAIL - ") + what)


def read(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def wire():
    vals = {}
    for m in re.finditer(r"#define\s+(DFUMGR_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b",
                         read("include/dfumgr/wire.h")):
        vals[m.group(1)] = int(m.group(2), 0)
    return vals


def dts_block(text, opener):
    """The body of the node that starts with opener ('&flash0 {'), braces balanced."""
    start = text.index(opener) + len(opener)
    depth, i = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[start:i - 1]


def dts_partitions(block):
    """{node label: (offset, size)} of the fixed partitions in a node's body."""
    parts = {}
    for m in re.finditer(r"(\w+):\s*partition@([0-9a-fA-F]+)\s*\{([^}]*)\}", block):
        reg = re.search(r"reg\s*=\s*<\s*(0x[0-9a-fA-F]+|\d+)\s+(0x[0-9a-fA-F]+|\d+)\s*>",
                        m.group(3))
        if not reg:
            raise SystemExit(f"check_partition_map: no reg in partition {m.group(1)}")
        off, size = int(reg.group(1), 0), int(reg.group(2), 0)
        if off != int(m.group(2), 16):
            raise SystemExit(f"check_partition_map: {m.group(1)}: unit address != reg")
        parts[m.group(1)] = (off, size)
    return parts


def pm_static(text):
    """{partition: {key: int or str}} from pm_static.yml's flat layout."""
    parts, cur = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        top = re.match(r"^(\w+):\s*$", line)
        kv = re.match(r"^  (\w+):\s*(\S.*)$", line)
        if top:
            cur = parts.setdefault(top.group(1), {})
        elif kv and cur is not None:
            v = kv.group(2).strip()
            cur[kv.group(1)] = int(v, 0) if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", v) else v
        elif not line.startswith("    -"):  # span lists
            raise SystemExit(f"check_partition_map: pm_static.yml: unexpected line {line!r}")
    return parts


def main():
    w = wire()
    hdr = w["DFUMGR_IMAGE_HEADER_OFFSET"]
    internal = {
        "boot_partition": (w["DFUMGR_MCUBOOT_OFFSET"], w["DFUMGR_MCUBOOT_SIZE"]),
        "slot0_partition": (w["DFUMGR_IMG0_PRIMARY_OFFSET"], w["DFUMGR_IMG0_SLOT_SIZE"]),
    }
    storage_off = w["DFUMGR_IMG0_PRIMARY_OFFSET"] + w["DFUMGR_IMG0_SLOT_SIZE"]
    internal["storage_partition"] = (storage_off, w["DFUMGR_INTERNAL_FLASH_SIZE"] - storage_off)
    qspi = {
        "slot1_partition": (w["DFUMGR_IMG0_SECONDARY_OFFSET"], w["DFUMGR_IMG0_SLOT_SIZE"]),
        "slot2_partition": (w["DFUMGR_IMG1_PRIMARY_OFFSET"], w["DFUMGR_IMG1_SLOT_SIZE"]),
        "slot3_partition": (w["DFUMGR_IMG1_SECONDARY_OFFSET"], w["DFUMGR_IMG1_SLOT_SIZE"]),
    }
    check(w["DFUMGR_IMG1_SECONDARY_OFFSET"] + w["DFUMGR_IMG1_SLOT_SIZE"]
          <= w["DFUMGR_QSPI_FLASH_SIZE"], "wire.h: image 1's secondary slot inside the MX25R64")

    # the DK's overlay
    dk = read("firmware/zephyr/boards/nrf5340dk_nrf5340_cpuapp.overlay")
    got = dts_partitions(dts_block(dk, "&flash0 {"))
    check(got == internal, f"DK overlay, internal flash: {fmt(got)}")
    got = dts_partitions(dts_block(dk, "&mx25r64 {"))
    check(got == qspi, f"DK overlay, MX25R64: {fmt(got)}")
    m = re.search(r"extflash_xip:\s*xip-region@([0-9a-fA-F]+)\s*\{[^}]*reg\s*=\s*<\s*(0x[0-9a-fA-F]+)"
                  r"\s+(0x[0-9a-fA-F]+)\s*>", dk)
    xip = (w["DFUMGR_QSPI_XIP_BASE"] + w["DFUMGR_IMG1_PRIMARY_OFFSET"] + hdr,
           w["DFUMGR_IMG1_SLOT_SIZE"] - hdr)
    check(m is not None and (int(m.group(2), 0), int(m.group(3), 0)) == xip,
          "DK overlay: EXTFLASH region = image 1's slot in the XIP window after its header "
          f"(0x{xip[0]:08x}+0x{xip[1]:x})")

    # native_posix_64: one simulated flash, "QSPI" from the end of the internal flash
    nat = read("firmware/zephyr/boards/native_posix_64.overlay")
    got = dts_partitions(dts_block(nat, "&flash0 {"))
    base = w["DFUMGR_INTERNAL_FLASH_SIZE"]
    want = dict(internal)
    want.update({k: (o + base, s) for k, (o, s) in qspi.items()})
    check(got == want, f"native_posix_64 overlay (QSPI at 0x{base:x}): {fmt(got)}")

    # nRF Connect SDK's Partition Manager
    pm = pm_static(read("firmware/zephyr/pm_static.yml"))
    want_pm = {
        "mcuboot": (internal["boot_partition"], "flash_primary"),
        "mcuboot_pad": ((w["DFUMGR_IMG0_PRIMARY_OFFSET"], hdr), "flash_primary"),
        "app": ((w["DFUMGR_IMG0_PRIMARY_OFFSET"] + hdr, w["DFUMGR_IMG0_SLOT_SIZE"] - hdr),
                "flash_primary"),
        "mcuboot_primary": (internal["slot0_partition"], "flash_primary"),
        "mcuboot_primary_app": ((w["DFUMGR_IMG0_PRIMARY_OFFSET"] + hdr,
                                 w["DFUMGR_IMG0_SLOT_SIZE"] - hdr), "flash_primary"),
        "settings_storage": (internal["storage_partition"], "flash_primary"),
        "mcuboot_secondary": (qspi["slot1_partition"], "external_flash"),
        "external_spare": ((w["DFUMGR_IMG0_SECONDARY_OFFSET"] + w["DFUMGR_IMG0_SLOT_SIZE"],
                            w["DFUMGR_IMG1_PRIMARY_OFFSET"] - w["DFUMGR_IMG0_SECONDARY_OFFSET"]
                            - w["DFUMGR_IMG0_SLOT_SIZE"]), "external_flash"),
        "mcuboot_primary_1": (qspi["slot2_partition"], "external_flash"),
        "mcuboot_secondary_1": (qspi["slot3_partition"], "external_flash"),
    }
    check(set(pm) == set(want_pm), f"pm_static.yml: partitions {sorted(pm)}")
    for name, ((off, size), region) in want_pm.items():
        p = pm.get(name, {})
        check(p.get("address") == off and p.get("size") == size and
              p.get("end_address") == off + size and p.get("region") == region,
              f"pm_static.yml: {name} 0x{off:x}+0x{size:x} in {region}")

    # MCUboot's trailer geometry
    m = re.search(r"^CONFIG_BOOT_MAX_IMG_SECTORS=(\d+)", read("firmware/zephyr/mcuboot/mcuboot.conf"),
                  re.M)
    check(m is not None and int(m.group(1)) == w["DFUMGR_MCUBOOT_MAX_SECTORS"],
          "mcuboot.conf: BOOT_MAX_IMG_SECTORS = DFUMGR_MCUBOOT_MAX_SECTORS")

    # build.sh's copies (shell variables)
    sh = read("firmware/zephyr/build.sh")
    var = {k: int(v, 0) for k, v in re.findall(r"^(\w+)=(0x[0-9a-fA-F]+|\d+)\b", sh, re.M)}
    want_sh = {
        "SLOT0_SIZE": w["DFUMGR_IMG0_SLOT_SIZE"],
        "SLOT1_SIZE": w["DFUMGR_IMG1_SLOT_SIZE"],
        "MAX_SECTORS": w["DFUMGR_MCUBOOT_MAX_SECTORS"],
        "IMG0_SLOT": w["DFUMGR_IMG0_PRIMARY_OFFSET"],
        "IMG1_SLOT": w["DFUMGR_QSPI_XIP_BASE"] + w["DFUMGR_IMG1_PRIMARY_OFFSET"],
        "IMG0_CODE": w["DFUMGR_IMG0_PRIMARY_OFFSET"] + hdr,
        "IMG1_CODE": w["DFUMGR_QSPI_XIP_BASE"] + w["DFUMGR_IMG1_PRIMARY_OFFSET"] + hdr,
    }
    for k, v in want_sh.items():
        check(var.get(k) == v, f"build.sh: {k}=0x{v:x}")
    m = re.search(r"^CONFIG_FLASH_LOAD_OFFSET=(0x[0-9a-fA-F]+)",
                  read("firmware/zephyr/boards/nrf5340dk_nrf5340_cpuapp.conf"), re.M)
    check(m is not None and int(m.group(1), 0) == w["DFUMGR_IMG0_PRIMARY_OFFSET"] + hdr,
          "DK board conf: CONFIG_FLASH_LOAD_OFFSET = image 0's slot + header")

    # the emulator: no slot geometry written as a number
    numbers = {w[k] for k in ("DFUMGR_IMG0_PRIMARY_OFFSET", "DFUMGR_IMG0_SLOT_SIZE",
                              "DFUMGR_IMG1_PRIMARY_OFFSET", "DFUMGR_IMG1_SECONDARY_OFFSET",
                              "DFUMGR_IMG1_SLOT_SIZE")}
    emu_dir = os.path.join(REPO, "firmware/emu")
    literal = []
    for f in sorted(os.listdir(emu_dir)):
        if f.endswith((".c", ".h")):
            src = open(os.path.join(emu_dir, f)).read()
            literal += [f"{f}: {n}" for n in re.findall(r"\b0x[0-9a-fA-F]{4,}\b", src)
                        if int(n, 16) in numbers]
    check(not literal, "dfu-mgr-emu takes the map from wire.h (no slot offset/size literals)" +
          (f": {literal}" if literal else ""))

    print(f"check_partition_map: {FAILS} failed")
    return 1 if FAILS else 0


def fmt(parts):
    return ", ".join(f"{k} 0x{o:x}+0x{s:x}" for k, (o, s) in sorted(parts.items()))


if __name__ == "__main__":
    sys.exit(main())
