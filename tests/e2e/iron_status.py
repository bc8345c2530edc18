#!/usr/bin/env python3
"""Asks a daemon's control socket for its status and prints the members
named by dotted paths, one per line (for the e2e tests):

    iron_status.py SOCKET registry.entries counters.in_spoofed ...

Exits 1 when the daemon does not answer within 5 s or a member is missing."""
import json
import socket
import sys


def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    s.sendall(b'{"cmd":"status"}\n')
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    status = json.loads(data)
    if not status.get("ok"):
        return 1
    for path in sys.argv[2:]:
        value = status
        for key in path.split("."):
            value = value[key]
        print(json.dumps(value) if isinstance(value, (dict, list)) else value)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, KeyError) as e:
        print(f"iron_status: {e}", file=sys.stderr)
        sys.exit(1)
