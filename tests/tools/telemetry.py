#!/usr/bin/env python3
"""telemetry.py - asks a running clearway for one rte_telemetry command (tests, operators).

Why this file exists: dpdk-telemetry.py is interactive; the tests need one command's JSON on
stdout. Usage: telemetry.py FILE_PREFIX COMMAND [--wait SECONDS]
"""
import json
import os
import socket
import sys
import time


def query(prefix, cmd, wait=5.0):
    path = os.path.join("/var/run/dpdk", prefix, "dpdk_telemetry.v2")
    deadline = time.time() + wait
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    with s:
        info = json.loads(s.recv(16384).decode())
        s.send(cmd.encode())
        reply = s.recv(info.get("max_output_len", 16384)).decode()
    return json.loads(reply)[cmd]


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: telemetry.py FILE_PREFIX COMMAND [--wait SECONDS]")
    wait = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--wait" else 5.0
    print(json.dumps(query(sys.argv[1], sys.argv[2], wait), indent=1))
