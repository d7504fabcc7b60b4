#!/usr/bin/env python3
"""A raw client for dfu-mgrd's control socket (tests only).

sock.py SOCKET [--send PYBYTES]... [--lines N] [--timeout S]
  Sends each PYBYTES (a Python bytes expression, e.g. "b'{\\"command\\":\\"status\\"}\\\\n'"), in order,
  then prints up to N reply lines (default: as many as arrive before the timeout) and "EOF" when
  the daemon closed the connection. Exit 0; 2 when it cannot connect.
"""
import socket
import sys
import time

args = sys.argv[1:]
path = args.pop(0)
sends, lines, timeout = [], None, 3.0
while args:
    a = args.pop(0)
    if a == "--send":
        sends.append(eval(args.pop(0), {}, {}))
    elif a == "--lines":
        lines = int(args.pop(0))
    elif a == "--timeout":
        timeout = float(args.pop(0))
    else:
        sys.exit("sock.py: unknown option " + a)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(path)
except OSError as e:
    print("CONNECT-FAILED", e)
    sys.exit(2)
for b in sends:
    try:
        s.sendall(b)
    except OSError as e:
        print("SEND-FAILED", e.errno)
        break
buf = b""
got = 0
deadline = time.time() + timeout
s.settimeout(0.2)
while time.time() < deadline and (lines is None or got < lines):
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        print("EOF (reset)")  # closed with our bytes unread
        break
    except OSError as e:
        print("RECV-FAILED", e.errno)
        break
    if not chunk:
        print("EOF")
        break
    buf += chunk
    while b"\n" in buf and (lines is None or got < lines):
        line, buf = buf.split(b"\n", 1)
        print(line.decode(errors="replace"))
        got += 1
sys.stdout.flush()
