#!/usr/bin/env python3
"""Plays systemd's side of sd_notify (tests only): binds a datagram socket at PATH and appends
each message to OUT as "MONOTONIC_SECONDS FIELD=VALUE|FIELD=VALUE". Runs until killed."""
import os
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    f.write("%.3f LISTENING\n" % time.monotonic())
    while True:
        msg = s.recv(65536).decode(errors="replace")
        f.write("%.3f %s\n" % (time.monotonic(), msg.strip().replace("\n", "|")))
