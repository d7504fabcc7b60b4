#!/usr/bin/env python3
# dfu-mgr-emu over its USB/IP TCP server, without a kernel: device list, import, descriptors,
# DFU runtime -> DETACH -> DFU mode, a download with GETSTATUS polling, read-back digest, commit,
# reboot through the MCUboot model, and the fault knobs as a host sees them.
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from usbip_client import Device, Gone, Stall, devlist, wait_devlist  # noqa: E402

EMU = os.environ["DFUMGR_EMU"]
PASS = FAIL = 0


def check(cond, what):
    global PASS, FAIL
    if cond:
        PASS += 1
        print("ok   - " + what)
    else:
        FAIL += 1
        print("FAIL - " + what)


tmp = tempfile.mkdtemp(prefix="dfumgr-emu-")
port = 20000 + os.getpid() % 20000
ctl = os.path.join(tmp, "ctl.sock")
emu = subprocess.Popen([EMU, "-n", "2", "-d", tmp, "-l", "127.0.0.1:%d" % port, "-c", ctl, "-r", "50"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
assert emu.stdout.readline().strip() == "ready"


def ctlrun(*args):
    """The exit status and the parsed reply (None if the reply is not JSON)."""
    out = subprocess.run([EMU, "ctl", "-c", ctl] + list(args), capture_output=True, text=True)
    try:
        return out.returncode, json.loads(out.stdout)
    except ValueError:
        return out.returncode, None


def ctlcmd(*args):
    rc, reply = ctlrun(*args)
    assert rc == 0 and reply is not None and "error" not in reply, (args, rc, reply)
    return reply


def ctl_lines(data, n_replies):
    """Sends raw bytes on one control connection; returns the reply lines, each parsed."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(ctl)
    s.sendall(data)
    buf = b""
    while buf.count(b"\n") < n_replies:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return [json.loads(line) for line in buf.decode("ascii").splitlines()]


def getstatus(d):
    st = d.control(0xA1, 3, 0, 0, 6)
    return st[0], st[1] | st[2] << 8 | st[3] << 16, st[4]


try:
    devs = devlist(port)
    check(len(devs) == 2 and [d["busid"] for d in devs] == ["1-1", "1-2"], "two boards listed")
    check(devs[0]["vid"] == 0x1915 and devs[0]["pid"] == 0x5300, "VID:PID 1915:5300")
    check(devs[0]["interfaces"] == [(0xFE, 1, 1)], "runtime mode: DFU runtime interface")

    d = Device(port, "1-1")
    dev_desc = d.control(0x80, 6, 0x0100, 0, 18)
    check(len(dev_desc) == 18 and dev_desc[8:12] == bytes([0x15, 0x19, 0x00, 0x53]), "device descriptor")
    s = d.control(0x80, 6, 0x0303, 0x0409, 255)
    check(s[2:].decode("utf-16-le") == "NRF5340-EMU-0001", "serial string")
    cfg = d.control(0x80, 6, 0x0200, 0, 255)
    check(len(cfg) == 27 and cfg[9:18] == bytes([9, 4, 0, 0, 0, 0xFE, 1, 1, cfg[17]]),
          "runtime config: one interface, DFU runtime (FE/01/01)")
    func = cfg[18:27]
    check(func[0] == 9 and func[1] == 0x21, "DFU functional descriptor follows the interface (%s)" % func.hex())
    check(func[2] & 0x09 == 0x09, "bmAttributes: bitCanDnload and bitWillDetach (0x%02x)" % func[2])
    check(int.from_bytes(func[3:5], "little") == 1000 and int.from_bytes(func[5:7], "little") == 4096
          and int.from_bytes(func[7:9], "little") == 0x0110,
          "wDetachTimeOut 1000 ms, wTransferSize 4096, bcdDFUVersion 1.1 (%s)" % func.hex())
    d.control(0x00, 9, 1, 0, b"")
    check(getstatus(d) == (0, 0, 0), "GETSTATUS: OK, appIDLE")
    info = d.control(0xC1, 0x40, 0, 0, 160)
    check(len(info) == 160 and info[0] == 2 and info[4:20] == b"NRF5340-EMU-0001",
          "GET_INFO (protocol 2, 160 bytes) in runtime mode")
    check(info[28:36] == b"xip-app\0" and int.from_bytes(info[60:62], "little") == 1,
          "product xip-app, hardware revision 1 (%r)" % info[28:62])
    check(info[64 + 1] & 1 and info[64 + 4:64 + 8] == bytes([1, 0, 0, 0]),
          "running image 0 is the factory 1.0.0")
    check(int.from_bytes(info[64 + 48 + 28:64 + 48 + 32], "little") == 0x36B000,
          "image 1 takes images up to 0x36b000 bytes (slot less trailer and swap sector)")
    try:
        d.control(0x21, 1, 0, 0, b"x" * 16)
        check(False, "DNLOAD in runtime mode stalls")
    except Stall:
        check(True, "DNLOAD in runtime mode stalls")

    # DETACH: the board re-enumerates in DFU mode (unplug + plug)
    d.control(0x21, 0, 1000, 0, b"")
    try:
        d.control(0xA1, 3, 0, 0, 6)
        check(False, "link closed after DETACH")
    except Gone:
        check(True, "link closed after DETACH")
    devs = wait_devlist(port, lambda ds: any(x["busid"] == "1-1" for x in ds))
    check([x for x in devs if x["busid"] == "1-1"][0]["interfaces"] == [(0xFE, 1, 2)], "back in DFU mode")
    d = Device(port, "1-1")
    cfg = d.control(0x80, 6, 0x0200, 0, 255)
    check(len(cfg) == 36 and cfg[9 + 3] == 0 and cfg[18 + 3] == 1, "DFU mode: two alt-settings")
    alt1 = d.control(0x80, 6, 0x0300 | cfg[18 + 8], 0x0409, 255)
    check(alt1[2:].decode("utf-16-le") == "image-1", "alt 1 is named image-1")
    d.control(0x00, 9, 1, 0, b"")

    # a download to image-1 with GETSTATUS polling
    payload = bytes((i * 7 + 3) & 0xFF for i in range(3 * 4096 + 123))
    d.control(0x01, 11, 1, 0, b"")
    t0 = time.time()
    block = 0
    for off in range(0, len(payload), 4096):
        d.control(0x21, 1, block, 0, payload[off:off + 4096])
        status, poll, state = getstatus(d)
        check(status == 0 and state in (4, 5), "block %d accepted (state %d)" % (block, state))
        block += 1
    d.control(0x21, 1, block, 0, b"")
    # manifestation tolerant: dfuMANIFEST while the last blocks are programmed, then dfuIDLE
    # (straight from dfuMANIFEST-SYNC once the flash is done, DFU 1.1 appendix A.1)
    status, poll, state = getstatus(d)
    seen = [state]
    while state == 7 and len(seen) < 50:
        time.sleep(poll / 1000.0)
        status, poll, state = getstatus(d)
        seen.append(state)
    check(status == 0 and set(seen[:-1]) <= {7} and state == 2, "manifested, dfuIDLE (%s)" % seen)
    st = ctlcmd("state", "NRF5340-EMU-0001")
    check(st["images"][1]["downloaded"] == len(payload), "emulator saw every byte")

    # upload it back
    back = b""
    while True:
        chunk = d.control(0xA1, 2, 0, 0, 4096)
        back += chunk
        if len(chunk) < 4096:
            break
    check(back == payload, "UPLOAD returns the bytes downloaded")

    # read-back digest
    d.control(0x41, 0x41, 1, 0, len(payload).to_bytes(4, "little"))
    for _ in range(100):
        r = d.control(0xC1, 0x42, 1, 0, 40)
        if r[1] != 1:
            break
    check(r[1] == 0 and r[8:40] == hashlib.sha256(payload).digest(), "DIGEST of image-1 read back from flash")

    # corrupt-read fault: the digest the device reports changes
    ctlcmd("fault", "NRF5340-EMU-0001", "corrupt-read", "1", "100")
    d.control(0x41, 0x41, 1, 0, len(payload).to_bytes(4, "little"))
    for _ in range(100):
        r = d.control(0xC1, 0x42, 1, 0, 40)
        if r[1] != 1:
            break
    check(r[8:40] != hashlib.sha256(payload).digest(), "corrupt-read fault: wrong digest reported")
    ctlcmd("fault", "NRF5340-EMU-0001", "clear")

    # stall fault: the 2nd request from now stalls
    ctlcmd("fault", "NRF5340-EMU-0001", "stall", "2")
    getstatus(d)
    try:
        getstatus(d)
        check(False, "stall fault")
    except Stall:
        check(True, "stall fault: request 2 stalled")
    getstatus(d)

    # program-error fault: errPROG on the block that reaches offset 8192
    ctlcmd("fault", "NRF5340-EMU-0001", "program-error", "1", "8192")
    block = 0
    states = []
    for off in range(0, len(payload), 4096):
        d.control(0x21, 1, block, 0, payload[off:off + 4096])
        status, poll, state = getstatus(d)
        states.append((status, state))
        block += 1
        if state == 10:
            break
    check(states[-1] == (6, 10), "program-error fault: errPROG, dfuERROR (%r)" % states)
    d.control(0x21, 4, 0, 0, b"")  # CLRSTATUS
    check(getstatus(d)[2] == 2, "CLRSTATUS -> dfuIDLE")

    # bad-erase fault: an erase that leaves a programmed bit is errCHECK_ERASED
    ctlcmd("fault", "NRF5340-EMU-0001", "bad-erase", "1", "4100")
    states = []
    for i, off in enumerate(range(0, len(payload), 4096)):
        d.control(0x21, 1, i, 0, payload[off:off + 4096])
        st = getstatus(d)
        states.append((st[0], st[2]))
        if st[2] == 10:
            break
    check(states[-1] == (5, 10), "bad-erase fault: errCHECK_ERASED, dfuERROR (%r)" % states)
    d.control(0x21, 4, 0, 0, b"")

    # disconnect fault: the link drops at byte 5000 of alt 1
    ctlcmd("fault", "NRF5340-EMU-0001", "disconnect", "1", "5000")
    gone = False
    try:
        for i, off in enumerate(range(0, len(payload), 4096)):
            d.control(0x21, 1, i, 0, payload[off:off + 4096])
            getstatus(d)
    except Gone:
        gone = True
    check(gone, "disconnect fault drops the link mid-download")
    wait_devlist(port, lambda ds: any(x["busid"] == "1-1" for x in ds))
    d = Device(port, "1-1")
    st = getstatus(d)
    check(st[0] == 0x0C and st[2] == 10, "after re-plug: the cut transfer is reported (errUSBR, dfuERROR)")
    d.control(0x21, 4, 0, 0, b"")
    check(getstatus(d)[2] == 2, "CLRSTATUS -> dfuIDLE")

    # wrong-digest fault: the next digest of alt 1 is wrong, the one after is right
    ctlcmd("fault", "NRF5340-EMU-0001", "wrong-digest", "1", "1")
    d.control(0x01, 11, 1, 0, b"")
    block = 0
    for off in range(0, len(payload), 4096):
        d.control(0x21, 1, block, 0, payload[off:off + 4096])
        getstatus(d)
        block += 1
    d.control(0x21, 1, block, 0, b"")
    getstatus(d)
    getstatus(d)
    digests = []
    for _ in range(2):
        d.control(0x41, 0x41, 1, 0, len(payload).to_bytes(4, "little"))
        for _ in range(100):
            r = d.control(0xC1, 0x42, 1, 0, 40)
            if r[1] != 1:
                break
        digests.append(r[8:40])
    good = hashlib.sha256(payload).digest()
    check(digests[0] != good and digests[1] == good, "wrong-digest fault: one wrong digest, then right")

    # power-cut fault: power lost at byte 6000 of alt 0; the board boots again (runtime mode)
    boots = ctlcmd("state", "NRF5340-EMU-0001")["boots"]
    ctlcmd("fault", "NRF5340-EMU-0001", "power-cut", "0", "6000")
    d.control(0x01, 11, 0, 0, b"")
    gone = False
    try:
        for i, off in enumerate(range(0, len(payload), 4096)):
            d.control(0x21, 1, i, 0, payload[off:off + 4096])
            getstatus(d)
    except Gone:
        gone = True
    check(gone, "power-cut fault: the link drops mid-download")
    wait_devlist(port, lambda ds: any(x["busid"] == "1-1" and x["interfaces"][0][2] == 1 for x in ds))
    st = ctlcmd("state", "NRF5340-EMU-0001")
    check(st["boots"] == boots + 1 and st["mode"] == "runtime", "power-cut fault: the board booted again")
    check(st["images"][0]["running"] == "1.0.0+0", "power-cut fault: the old image 0 still runs")
    d = Device(port, "1-1")
    d.control(0x21, 0, 1000, 0, b"")
    wait_devlist(port, lambda ds: any(x["busid"] == "1-1" and x["interfaces"][0][2] == 2 for x in ds))
    d = Device(port, "1-1")

    # REBOOT: MCUboot model; nothing committed, factory pair still runs
    d.control(0x41, 0x44, 0, 0, b"")
    devs = wait_devlist(port, lambda ds: any(x["busid"] == "1-1" and x["interfaces"][0][2] == 1 for x in ds))
    st = ctlcmd("state", "NRF5340-EMU-0001")
    check(st["mode"] == "runtime" and st["images"][0]["running"] == "1.0.0+0" and st["images"][1]["running"] == "1.0.0+0",
          "reboot without commit: still the factory pair (%s)" % st["last_boot"])
    check(st["boots"] == 3, "three boots (start, power cut, reboot)")

    # control protocol: user input comes back correctly escaped
    odd = 'A"B\\C'  # A"B\C: a quote and a backslash
    rc, reply = ctlrun("add", odd)
    check(rc == 0 and reply is not None and reply.get("serial") == odd and reply.get("busid") == "1-3",
          "add with a quote and a backslash in the serial: the JSON reply round-trips it (%r)" % (reply and reply.get("serial"),))
    rc, reply = ctlrun("state", odd)
    check(rc == 0 and reply is not None and reply["serial"] == odd and reply["index"] == 2,
          "state by that serial finds it (%r)" % (reply and reply.get("serial")))
    rc, reply = ctlrun("list")
    check(rc == 0 and reply is not None and
          [b["serial"] for b in reply["boards"]] == ["NRF5340-EMU-0001", "NRF5340-EMU-0002", odd],
          "list round-trips every serial")
    check(os.path.isdir(os.path.join(tmp, odd)), "its flash files live in DIR/SERIAL")
    wait_devlist(port, lambda ds: any(x["busid"] == "1-3" for x in ds))
    d3 = Device(port, "1-3")
    s = d3.control(0x80, 6, 0x0303, 0x0409, 255)
    check(s[2:].decode("utf-16-le") == odd, "the USB serial string is the same serial")
    d3.close()
    rc, reply = ctlrun("fault", "0", 'x"y\\z')
    check(rc == 1 and reply == {"error": 'unknown fault x"y\\z'},
          "an error reply quoting user input is valid JSON (%r)" % (reply,))
    rc, reply = ctlrun("add", "error")
    check(rc == 0 and reply is not None and reply["serial"] == "error", "a serial named 'error' is not mistaken for an error reply")
    for bad, why in [("a/b", "a slash"), ("..", "a parent directory"), ("S" * 25, "25 characters")]:
        rc, reply = ctlrun("add", bad)
        check(rc == 1 and reply is not None and "serial" in reply.get("error", ""),
              "add refuses a serial with %s (%r)" % (why, reply))

    # bad numbers: an error reply each, nothing changed
    for args in [("fault", "0", "stall", "-1"), ("fault", "0", "stall", "99999999999"),
                 ("fault", "0", "stall", "12abc"), ("fault", "0", "stall", ""),
                 ("fault", "0", "disconnect", "2", "5"), ("fault", "0", "power-cut", "0", "-5"),
                 ("fault", "0", "program-error", "1", "0x370000"),
                 ("fault", "0", "bad-erase", "0", "0xe0000"),
                 ("fault", "0", "wrong-digest", "1", "0x100000000"),
                 ("fault", "0", "disconnect", "1"), ("plain", "0", "maybe"), ("legacy", "0"), ("state", "-1"),
                 ("state", "99"), ("state", "0", "extra"), ("frob", "0", "x"),
                 ("strategy", "0"), ("strategy", "0", "swap-scratch"), ("strategy", "0", "direct-xip", "x")]:
        rc, reply = ctlrun(*args)
        check(rc == 1 and reply is not None and "error" in reply, "refused: %s (%r)" % (" ".join(args), reply))
    check(ctlcmd("fault", "0", "program-error", "1", "0x36ffff") == {"ok": True}, "the last offset of slot 1 is taken")
    st = ctlcmd("state", "0")
    check(st["mcuboot_strategy"] == "swap-move" and [w["area"] for w in st["mcuboot_wear"]] ==
          ["img0-primary", "img0-secondary", "img1-primary", "img1-secondary"],
          "the state names MCUboot's strategy (swap-move by default) and its wear per slot")
    check(ctlcmd("strategy", "0", "overwrite-only") == {"ok": True} and
          ctlcmd("state", "0")["mcuboot_strategy"] == "overwrite-only", "strategy B overwrite-only")
    check(ctlcmd("strategy", "0", "swap-move") == {"ok": True}, "strategy B swap-move")
    out = subprocess.run([EMU, "--mcuboot-strategy", "scratch", "-n", "0"], capture_output=True, text=True)
    check(out.returncode == 64 and "--mcuboot-strategy scratch" in out.stderr,
          "--mcuboot-strategy refuses an unknown strategy (64)")
    ctlcmd("fault", "0", "clear")

    # oversized and garbage lines on one connection: error replies, the connection stays usable
    replies = ctl_lines(b"state " + b"x" * 600 + b"\n" + b"x" * 100000 + b"\n" + b"state \x00\xff\x01\n" +
                        b"\n" + b"list " * 20 + b"\nstate 0\n", 6)
    check(len(replies) == 6, "six lines, six replies (%d)" % len(replies))
    check(replies[0] == {"error": "line too long (at most 511 bytes)"} and replies[1] == replies[0],
          "lines over 511 bytes are refused (%r)" % (replies[:2],))
    check("not printable ASCII" in replies[2].get("error", ""), "a NUL or non-ASCII byte is refused (%r)" % replies[2])
    check(replies[3] == {"error": "empty command"}, "an empty line is refused")
    check("too many words" in replies[4].get("error", ""), "more than 8 words are refused (%r)" % replies[4])
    check(replies[5].get("serial") == "NRF5340-EMU-0001", "the same connection still answers commands")
    replies = ctl_lines(b"state 0\r\n", 1)
    check(len(replies) == 1 and replies[0].get("index") == 0, "a CRLF line works")
    out = subprocess.run([EMU, "ctl", "-c", ctl, "state", "y" * 600], capture_output=True, text=True)
    check(out.returncode == 64 and "longer than 511" in out.stderr, "ctl refuses a command over 511 bytes (64)")
    check(emu.poll() is None and ctlcmd("state", "1")["serial"] == "NRF5340-EMU-0002", "the emulator is still running")
finally:
    emu.terminate()
    emu.wait(timeout=5)
    subprocess.run(["rm", "-rf", tmp])

print("%d passed, %d failed" % (PASS, FAIL))
sys.exit(1 if FAIL else 0)
