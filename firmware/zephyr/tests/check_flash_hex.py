#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the DK's flashable hex files (scripts/flash_hex.py) by address range and content.

Each file is read back with python3-intelhex, as nrfjprog reads it, and must hold exactly:
  image0.hex  the signed image 0, byte for byte, from the start of image 0's primary slot
  image1.hex  the signed image 1 from the start of image 1's primary slot in the XIP window
  app.hex     those two and nothing else
  merged.hex  (with --mcuboot) MCUboot's own hex inside the mcuboot partition, and the two
and nothing outside the partitions they belong to: no gap fill, no byte in FICR, UICR, the
storage partition, the network core's flash or a secondary slot; every file under 16 MiB.
The partition map comes from include/dfumgr/wire.h.

usage: check_flash_hex.py DIR internal.bin qspi.bin [mcuboot.hex]
Prints one line per check; exit status 1 when one fails.
"""
import os
import re
import struct
import sys

from intelhex import IntelHex

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = os.path.join(HERE, "../../../include/dfumgr/wire.h")
IMAGE_MAGIC = 0x96F3B83D
MAX_FILE = 16 * 1024 * 1024
FAILS = 0


def wire_defines():
    vals = {}
    with open(WIRE) as f:
        for m in re.finditer(r"#define\s+(DFUMGR_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b", f.read()):
            vals[m.group(1)] = int(m.group(2), 0)
    return vals


def check(cond, what):
    global FAILS
    if not cond:
        FAILS += 1
    print(("ok   - " if cond else "FAIL - ") + what)
    return cond


def segments(ih):
    return [(a, b) for a, b in ih.segments()]


def same_bytes(ih, start, data):
    return ih.tobinstr(start=start, size=len(data)) == data


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    out, internal_path, qspi_path = sys.argv[1:4]
    mcuboot_path = sys.argv[4] if len(sys.argv) == 5 else None
    w = wire_defines()
    internal = open(internal_path, "rb").read()
    qspi = open(qspi_path, "rb").read()
    img0 = w["DFUMGR_IMG0_PRIMARY_OFFSET"]
    img1 = w["DFUMGR_QSPI_XIP_BASE"] + w["DFUMGR_IMG1_PRIMARY_OFFSET"]
    # where bytes may go: the mcuboot partition, image 0's and image 1's primary slots
    allowed = {
        "mcuboot": (w["DFUMGR_MCUBOOT_OFFSET"],
                    w["DFUMGR_MCUBOOT_OFFSET"] + w["DFUMGR_MCUBOOT_SIZE"]),
        "image 0 primary": (img0, img0 + w["DFUMGR_IMG0_SLOT_SIZE"]),
        "image 1 primary": (img1, img1 + w["DFUMGR_IMG1_SLOT_SIZE"]),
    }

    def where(a, b):
        for name, (lo, hi) in allowed.items():
            if lo <= a and b <= hi:
                return name
        return None

    files = {"image0.hex": [(img0, internal)], "image1.hex": [(img1, qspi)],
             "app.hex": [(img0, internal), (img1, qspi)]}
    if mcuboot_path:
        files["merged.hex"] = None
    for name, parts in files.items():
        path = os.path.join(out, name)
        if not check(os.path.isfile(path), f"{name} exists"):
            continue
        size = os.path.getsize(path)
        check(size < MAX_FILE, f"{name}: {size} bytes, under 16 MiB")
        ih = IntelHex(path)
        segs = segments(ih)
        outside = [f"0x{a:08x}..0x{b:08x}" for a, b in segs if where(a, b) is None]
        check(not outside, f"{name}: every byte inside the mcuboot partition or a primary slot"
              + (f" (outside: {', '.join(outside)})" if outside else ""))
        if parts is None:  # merged: MCUboot's hex plus the images
            boot = IntelHex(mcuboot_path)
            boot_segs = segments(boot)
            check(all(where(a, b) == "mcuboot" for a, b in boot_segs),
                  f"{name}: MCUboot inside its partition "
                  f"({sum(b - a for a, b in boot_segs)} bytes)")
            check(all(same_bytes(ih, a, boot.tobinstr(start=a, end=b - 1)) for a, b in boot_segs),
                  f"{name}: MCUboot's bytes as in its own hex")
            parts = [(img0, internal), (img1, qspi)]
            expect = sorted(boot_segs + [(a, a + len(d)) for a, d in parts])
        else:
            expect = [(a, a + len(d)) for a, d in parts]
        # intelhex joins adjacent runs: compare the covered ranges, then the bytes
        covered = sorted(segs)
        merged_expect = []
        for a, b in expect:
            if merged_expect and merged_expect[-1][1] == a:
                merged_expect[-1] = (merged_expect[-1][0], b)
            else:
                merged_expect.append((a, b))
        check(covered == merged_expect, f"{name}: ranges " +
              ", ".join(f"0x{a:08x}..0x{b:08x}" for a, b in covered))
        for a, data in parts:
            check(same_bytes(ih, a, data), f"{name}: the signed image at 0x{a:08x}, "
                  f"{len(data)} bytes, byte for byte")
            magic = struct.unpack("<I", ih.tobinstr(start=a, size=4))[0]
            check(magic == IMAGE_MAGIC, f"{name}: MCUboot image header at 0x{a:08x}")
    print(f"check_flash_hex: {FAILS} failed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
