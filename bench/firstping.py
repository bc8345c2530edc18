#!/usr/bin/env python3
"""Time from starting a daemon to the first answered ping through it.

Usage: firstping.py TARGET TIMEOUT_S COMMAND

Run inside the namespace of the daemon being started (as root: it uses a raw
ICMPv6 socket, or ICMP when TARGET is an IPv4 address). Takes the start time, runs COMMAND with `bash -c` (which
starts the daemon in the background and configures it), and at the same
time sends an echo request to TARGET every 5 ms until one is
answered. Prints the milliseconds from the start to that answer, or
"timeout". Sends that fail (no route yet: the tunnel interface does not
exist yet) are retried on the same 5 ms schedule; every request carries its
own sequence number, so a late answer to an early request counts too, as it
would for a user pinging in a loop.
"""
import os
import select
import socket
import struct
import subprocess
import sys
import time

INTERVAL = 0.005


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def main():
    target, timeout, command = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    v6 = ":" in target
    if v6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        request, reply, skip = 128, 129, 0
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        # IPv4 raw sockets hand over the IP header too.
        request, reply, skip = 8, 0, 20
    ident = os.getpid() & 0xFFFF
    dest = (target, 0)
    start = time.monotonic()
    launcher = subprocess.Popen(["bash", "-c", command])
    seq = 0
    result = None
    next_send = start
    while True:
        now = time.monotonic()
        if now - start > timeout:
            break
        if now >= next_send:
            seq = (seq + 1) & 0xFFFF
            # The kernel fills in the checksum of ICMPv6 on raw sockets,
            # not that of ICMP.
            packet = struct.pack("!BBHHH", request, 0, 0, ident, seq) + b"iron-bench"
            if not v6:
                packet = packet[:2] + struct.pack("!H", checksum(packet)) + packet[4:]
            try:
                sock.sendto(packet, dest)
            except OSError:
                pass
            next_send += INTERVAL
        wait = max(0.0, next_send - time.monotonic())
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            continue
        data, _ = sock.recvfrom(2048)
        data = data[skip:]
        if len(data) >= 8:
            kind, _, _, rid, _ = struct.unpack("!BBHHH", data[:8])
            if kind == reply and rid == ident:
                result = (time.monotonic() - start) * 1000.0
                break
    # The launcher configures the daemon and exits; wait for it so that the
    # caller finds the daemon ready when this returns.
    try:
        launcher.wait(timeout=30)
    except subprocess.TimeoutExpired:
        launcher.kill()
    print("timeout" if result is None else f"{result:.1f}")


if __name__ == "__main__":
    main()
