#!/usr/bin/env python3
"""Records what a daemon writes into its TUN (used by transport_abuse.sh).

    tun_sniff.py IFNAME

Opens a packet socket on IFNAME, prints "ready", and counts the packets the
daemon writes into the TUN (the kernel sees them as arriving, PACKET_HOST)
until a line arrives on stdin or 60 s pass. Then prints one line per
(source, destination, next header, ICMPv6 type) with its count, and
"total N"."""
import collections
import ipaddress
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


stop = False


def on_term(signum, frame):
    global stop
    stop = True


def main():
    signal.signal(signal.SIGTERM, on_term)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((sys.argv[1], 0))
    print("ready", flush=True)
    seen = collections.Counter()
    end = time.monotonic() + 60
    while not stop and time.monotonic() < end:
        try:
            if not select.select([s], [], [], 0.2)[0]:
                continue
        except InterruptedError:
            continue
        pkt, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING:
            continue  # read by the daemon, not written by it
        if len(pkt) < 40 or pkt[0] >> 4 != 6:
            seen[("not-ipv6", "-", "-", "-")] += 1
            continue
        src = str(ipaddress.IPv6Address(pkt[8:24]))
        dst = str(ipaddress.IPv6Address(pkt[24:40]))
        icmp_type = pkt[40] if pkt[6] == 58 and len(pkt) > 40 else "-"
        seen[(src, dst, pkt[6], icmp_type)] += 1
    for (src, dst, nh, t), n in sorted(seen.items(), key=str):
        print(f"{src} {dst} {nh} {t} {n}")
    print(f"total {sum(seen.values())}", flush=True)


if __name__ == "__main__":
    main()
