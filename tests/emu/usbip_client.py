# A minimal USB/IP client for testing dfu-mgr-emu without a kernel: the device list, import,
# and control transfers on endpoint 0. The kernel's vhci-hcd is the real client (tests/vm).
import socket
import struct
import time


class Stall(Exception):
    pass


class Gone(Exception):
    pass


def devlist(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(struct.pack(">HHI", 0x0111, 0x8005, 0))
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    version, code, status, n = struct.unpack(">HHII", data[:12])
    assert (version, code, status) == (0x0111, 0x0005, 0), (version, code, status)
    devs, off = [], 12
    for _ in range(n):
        busid = data[off + 256:off + 288].split(b"\0")[0].decode()
        vid, pid = struct.unpack(">HH", data[off + 300:off + 304])
        nif = data[off + 311]
        intf = [tuple(data[off + 312 + 4 * i:off + 315 + 4 * i]) for i in range(nif)]
        devs.append({"busid": busid, "vid": vid, "pid": pid, "interfaces": intf})
        off += 312 + 4 * nif
    return devs


class Device:
    def __init__(self, port, busid):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(struct.pack(">HHI", 0x0111, 0x8003, 0) + busid.encode().ljust(32, b"\0"))
        hdr = self._recv(8)
        version, code, status = struct.unpack(">HHI", hdr)
        if status != 0:
            raise Gone("import of %s refused" % busid)
        self.info = self._recv(312)
        self.seq = 0

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Gone("connection closed")
            buf += chunk
        return buf

    def control(self, bm, req, value, index, length_or_data):
        self.seq += 1
        if bm & 0x80:
            direction, length, data = 1, length_or_data, b""
        else:
            direction, data = 0, bytes(length_or_data)
            length = len(data)
        setup = struct.pack("<BBHHH", bm, req, value, index, length)
        self.s.sendall(struct.pack(">IIIII", 1, self.seq, 0x10002, direction, 0) +
                       struct.pack(">IiiiI", 0, length, 0, 0, 0) + setup + data)
        hdr = self._recv(48)
        cmd, seq = struct.unpack(">II", hdr[:8])
        status, actual = struct.unpack(">ii", hdr[20:28])
        assert cmd == 3 and seq == self.seq, (cmd, seq, self.seq)
        payload = self._recv(actual) if direction == 1 and actual > 0 else b""
        if status == -32:
            raise Stall("request 0x%02x/0x%02x stalled" % (bm, req))
        assert status == 0, status
        return payload if direction == 1 else actual

    def close(self):
        self.s.close()


def wait_devlist(port, pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        devs = devlist(port)
        if pred(devs):
            return devs
        time.sleep(0.05)
    raise AssertionError("device list never matched: %r" % devlist(port))
