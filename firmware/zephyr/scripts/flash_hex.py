#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the DK's flashable Intel HEX files from the signed images of a dfu-mgr bundle.

zephyr.elf spans internal flash (0xc200..) and the QSPI XIP window (0x10120200..); Zephyr's own
hex/bin of it would fill the 256 MiB between with 0xff (CONFIG_BUILD_OUTPUT_HEX/BIN are off).
These files hold only real bytes, at the addresses nrfjprog (and west flash, which runs it)
programs them: internal flash as is, 0x10000000 + offset for the MX25R64 on QSPI.

  image0.hex  signed image 0 (internal.bin) at its primary slot, 0x0000c000
  image1.hex  signed image 1 (qspi.bin) at its primary slot through the XIP window, 0x10120000
  app.hex     both
  merged.hex  MCUboot + both (only with --mcuboot): everything a blank DK needs

usage: flash_hex.py --internal internal.bin --qspi qspi.bin --img0-addr 0xc000
                    --img1-addr 0x10120000 [--mcuboot mcuboot.hex] --out-dir DIR
"""
import argparse
import os
import sys

from intelhex import IntelHex


def from_bin(path, addr):
    ih = IntelHex()
    with open(path, "rb") as f:
        ih.frombytes(f.read(), offset=addr)
    return ih


def write(ih, path):
    # 32 data bytes per record, extended linear address records for 0x10000000+
    ih.write_hex_file(path, byte_count=32)
    print(f"  {os.path.basename(path):11} {os.path.getsize(path):>9} bytes  " +
          ", ".join(f"0x{a:08x}..0x{b:08x}" for a, b in ih.segments()))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--internal", required=True)
    ap.add_argument("--qspi", required=True)
    ap.add_argument("--img0-addr", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--img1-addr", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--mcuboot")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    img0 = from_bin(a.internal, a.img0_addr)
    img1 = from_bin(a.qspi, a.img1_addr)
    app = IntelHex()
    app.merge(img0, overlap="error")
    app.merge(img1, overlap="error")
    write(img0, os.path.join(a.out_dir, "image0.hex"))
    write(img1, os.path.join(a.out_dir, "image1.hex"))
    write(app, os.path.join(a.out_dir, "app.hex"))
    merged = os.path.join(a.out_dir, "merged.hex")
    if a.mcuboot:
        full = IntelHex(a.mcuboot)
        try:
            full.merge(app, overlap="error")
        except Exception as e:  # intelhex raises AddressOverlapError
            sys.exit(f"flash_hex: MCUboot overlaps the application images: {e}")
        write(full, merged)
    elif os.path.exists(merged):
        os.remove(merged)  # a stale one from an earlier MCUboot build would mislead


if __name__ == "__main__":
    main()
