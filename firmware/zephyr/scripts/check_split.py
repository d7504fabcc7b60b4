#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check where the DK application's code landed, and write the size report.

With arm-none-eabi-nm/objdump and pyelftools on zephyr.elf:
  - the bytes of code that execute from QSPI (functions in the XIP window, nm), at least
    --min-qspi-code; the relocated library and the sample's image-1 code are there;
  - what DFU and recovery need is in internal flash (SHA-256, the flash glue, the DFU core, the
    fatal error handler, the watchdog feeding): they must work with a broken image 1;
  - internal-flash code calls into image 1 only from the XIP gate's functions (src/xip.c): every
    direct branch into the window (through a linker veneer) is listed;
  - no internal table holds the address of image-1 code: interrupt vectors, Zephyr's ISR table,
    init entries, device and driver structures (no ISR or init function runs from QSPI);
  - the RAM of the application (and of MCUboot, --mcuboot-elf) ends below the retained record.
Then the size report (--report): internal flash, RAM, QSPI, MCUboot use, QSPI code bytes.

usage: check_split.py --elf zephyr.elf [--mcuboot-elf mcuboot.elf] [--min-qspi-code N]
                      [--app-usage memory-usage.txt] [--mcuboot-usage mcuboot-memory-usage.txt]
                      [--mcuboot-max-pct 85] [--bundle DIR] [--flash-dir DIR] [--report FILE]
Exit status 1 when a check fails.
"""
import argparse
import os
import re
import subprocess
import sys

from elftools.elf.elffile import ELFFile

XIP_LO, XIP_HI = 0x10000000, 0x20000000
INTERNAL_HI = 0x00100000
# must execute from QSPI: the relocated library and the sample's image-1 code (and its table)
IN_QSPI = ["uECC_verify", "uECC_vli_modMult_fast", "tc_aes_encrypt", "tc_aes128_set_encrypt_key",
           "tc_cmac_final", "img1_selftest", "img1_chunk_fnv1a", "shim_xip_table"]
# must stay in internal flash: DFU (the core, the flash glue, SHA-256) and recovery
IN_INTERNAL = ["tc_sha256_update", "tc_sha256_final", "_copy", "_set", "dfu_dev_control",
               "dfu_dev_poll", "shim_flash_erase", "shim_flash_program", "shim_flash_read",
               "shim_qspi_write_begin", "k_sys_fatal_error_handler", "shim_reset",
               "health_work_fn", "wdt_expired", "shim_recovery_boot", "main"]
# the only internal-flash functions that may branch into image 1 (src/xip.c, under the gate)
GATE = {"shim_xip_selftest", "shim_xip_app_tick"}

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("  FAIL " + msg, file=sys.stderr)


def in_xip(addr):
    return XIP_LO <= addr < XIP_HI


def nm_symbols(nm, elf):
    """name -> (address, size, type) for sized symbols."""
    out = subprocess.run([nm, "-S", elf], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16), parts[2])
    return syms


def branch_callers(objdump, elf):
    """(caller function, target address) of every direct branch, veneers resolved."""
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", elf], check=True,
                         capture_output=True, text=True).stdout
    func = None
    veneer_of = {}
    calls = []
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]{8}) <([^>]+)>:$", line)
        if m:
            func = m.group(2)
            continue
        m = re.match(r"^\s*[0-9a-f]+:\s+\.word\s+0x([0-9a-f]+)", line)
        if m and func and func.endswith("_veneer"):
            veneer_of[func] = int(m.group(1), 16) & ~1
            continue
        m = re.match(r"^\s*([0-9a-f]+):\s+(bl|blx|b\.w|b)(?:\.\w+)?\s+([0-9a-f]+) <([^>+]+)",
                     line)
        if m and func:
            calls.append((func, int(m.group(1), 16), int(m.group(3), 16), m.group(4)))
    resolved = []
    for func, at, target, name in calls:
        resolved.append((func, at, veneer_of.get(name, target)))
    return resolved


def code_pointers_in_tables(elf_path, qspi_funcs):
    """(section, offset, address) of words in internal tables that hold image-1 code addresses."""
    found = []
    entries = {a | 1 for a in qspi_funcs} | set(qspi_funcs)
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            flags = sec["sh_flags"]
            if not flags & 0x2 or sec["sh_type"] == "SHT_NOBITS":  # SHF_ALLOC, with bytes
                continue
            addr = sec["sh_addr"]
            if in_xip(addr):
                continue
            # code sections hold veneers' literal words: the branch check covers those;
            # the vector table (rom_start) is data and is scanned
            if flags & 0x4 and sec.name != "rom_start":
                continue
            data = sec.data()
            for off in range(0, len(data) - 3, 4):
                word = int.from_bytes(data[off:off + 4], "little")
                if word in entries:
                    found.append((sec.name, off, word))
    return found


def section_addr(elf_path, name):
    with open(elf_path, "rb") as f:
        sec = ELFFile(f).get_section_by_name(name)
        return (sec["sh_addr"], sec["sh_size"]) if sec else (None, 0)


def region_usage(path):
    """{'FLASH': (used, size)} from the linker's memory-region report."""
    units = {"B": 1, "KB": 1024, "MB": 1024 * 1024, "GB": 1024 ** 3}
    use = {}
    if not path or not os.path.exists(path):
        return use
    for line in open(path):
        m = re.match(r"^\s*(\w+):\s+(\d+)\s+(B|KB|MB|GB)\s+(\d+)\s+(B|KB|MB|GB)", line)
        if m:
            use[m.group(1)] = (int(m.group(2)) * units[m.group(3)],
                               int(m.group(4)) * units[m.group(5)])
    return use


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--mcuboot-elf")
    ap.add_argument("--nm", default="arm-none-eabi-nm")
    ap.add_argument("--objdump", default="arm-none-eabi-objdump")
    ap.add_argument("--min-qspi-code", type=int, default=4096)
    ap.add_argument("--app-usage")
    ap.add_argument("--mcuboot-usage")
    ap.add_argument("--mcuboot-max-pct", type=float, default=85.0)
    ap.add_argument("--bundle")
    ap.add_argument("--flash-dir")
    ap.add_argument("--report")
    a = ap.parse_args()

    syms = nm_symbols(a.nm, a.elf)
    qspi_funcs = {addr: (name, size) for name, (addr, size, t) in syms.items()
                  if t in "tTwW" and in_xip(addr)}
    qspi_code = sum(size for _, size in qspi_funcs.values())
    text_addr, text_size = section_addr(a.elf, "_EXTFLASH_TEXT_SECTION_NAME")
    ro_addr, ro_size = section_addr(a.elf, "_EXTFLASH_RODATA_SECTION_NAME")
    print(f"  QSPI code: {qspi_code} bytes in {len(qspi_funcs)} functions (nm), "
          f"section {text_size} bytes at 0x{text_addr or 0:08x}; QSPI read-only data "
          f"{ro_size} bytes")
    if qspi_code < a.min_qspi_code:
        fail(f"only {qspi_code} bytes of code execute from QSPI (at least {a.min_qspi_code})")
    for name in IN_QSPI:
        if name not in syms or not in_xip(syms[name][0]):
            fail(f"{name} is not in the QSPI XIP window")
    for name in IN_INTERNAL:
        if name not in syms or syms[name][0] >= INTERNAL_HI:
            fail(f"{name} is not in internal flash (DFU and recovery must not need image 1)")

    callers = {}
    for func, at, target in branch_callers(a.objdump, a.elf):
        if at < INTERNAL_HI and in_xip(target):
            callers.setdefault(func, set()).add(qspi_funcs.get(target, (hex(target),))[0])
    print("  internal -> image 1 branches: " +
          ("; ".join(f"{c} -> {', '.join(sorted(t))}" for c, t in sorted(callers.items()))
           or "none"))
    for c in sorted(set(callers) - GATE):
        fail(f"{c} (internal flash) branches into image 1 without the XIP gate: "
             f"{', '.join(sorted(callers[c]))}")
    if not callers:
        fail("nothing calls image 1: the relocation or the branch parser is broken")

    ptrs = code_pointers_in_tables(a.elf, qspi_funcs)
    for sec, off, word in ptrs:
        fail(f"{sec}+0x{off:x} holds 0x{word:08x}, the address of image-1 code "
             f"{qspi_funcs.get(word & ~1, ('?',))[0]} (an ISR, init entry or callback in QSPI)")
    print(f"  internal tables (vectors, ISR table, init entries, devices) pointing into image-1 "
          f"code: {len(ptrs)}")

    retained, retained_size = section_addr(a.elf, "RETAINED")
    for label, path in (("application", a.elf), ("MCUboot", a.mcuboot_elf)):
        if not path:
            continue
        ram_end = nm_symbols(a.nm, path).get("__kernel_ram_end")
        if ram_end is None:
            # an absolute symbol without size: nm -S lists it with 3 columns
            out = subprocess.run([a.nm, path], check=True, capture_output=True, text=True).stdout
            m = re.search(r"^([0-9a-f]+) \w __kernel_ram_end$", out, re.M)
            ram_end = (int(m.group(1), 16),) if m else None
        if retained is None or ram_end is None:
            fail(f"{label}: no RETAINED section or __kernel_ram_end")
        elif ram_end[0] > retained:
            fail(f"{label}: RAM ends at 0x{ram_end[0]:08x}, over the retained record at "
                 f"0x{retained:08x}")
        else:
            print(f"  {label} RAM ends at 0x{ram_end[0]:08x}, the retained record is at "
                  f"0x{retained:08x} ({retained_size} bytes)")

    app = region_usage(a.app_usage)
    boot = region_usage(a.mcuboot_usage)
    if boot.get("FLASH"):
        used, size = boot["FLASH"]
        if used > size * a.mcuboot_max_pct / 100:
            fail(f"MCUboot uses {used} of {size} bytes ({100 * used / size:.1f}%), over "
                 f"{a.mcuboot_max_pct}%")

    if a.report:
        lines = ["# nRF5340 DK application: sizes (firmware/zephyr/build.sh)", ""]

        def row(what, used, size=None):
            lines.append(f"{what:34} {used:>9} B" +
                         (f" of {size:>8} B ({100 * used / size:5.1f}%)" if size else ""))

        for region, what in (("FLASH", "internal flash (image 0 code)"), ("RAM", "RAM"),
                             ("EXTFLASH", "QSPI (image 1 code + data)"),
                             ("RETAINED", "retained record RAM")):
            if region in app:
                row(what, *app[region])
        row("code executing from QSPI (nm)", qspi_code)
        row("  of it, in the relocated section", text_size)
        row("QSPI read-only data", ro_size)
        for region, what in (("FLASH", "MCUboot flash"), ("RAM", "MCUboot RAM")):
            if region in boot:
                row(what, *boot[region])
        if a.bundle:
            for f in ("internal.bin", "qspi.bin"):
                p = os.path.join(a.bundle, f)
                if os.path.exists(p):
                    row(f"signed {f}", os.path.getsize(p))
        if a.flash_dir and os.path.isdir(a.flash_dir):
            for f in sorted(os.listdir(a.flash_dir)):
                row(f"flash/{f}", os.path.getsize(os.path.join(a.flash_dir, f)))
        with open(a.report, "w") as f:
            f.write("\n".join(lines) + "\n")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
