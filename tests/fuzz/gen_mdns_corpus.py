#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_mdns: responses as swarm-discovery
(iroh) and iron write them, RFC-style ones, queries (multicast and as dig
sends them). Keys are RFC 8032's test vectors 1 and 2 (valid points)."""
import base64
import os
import struct
import sys

KEYS = [bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")]


def b32(key):
    return base64.b32encode(key).decode().rstrip("=").lower()


def name(*labels):
    return b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"


def rr(owner, rtype, rdata, ttl=0, rclass=1):
    return owner + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def header(flags, qd, an, ns, ar, ident=0):
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


def swarm(key, ports, relay):
    """swarm-discovery's make_response() as hickory serialises it."""
    ident = b32(key)
    msg = bytearray(header(0x8400, 0, len(ports) + 1, 0, sum(len(a) for _, a in ports)))
    targets = []
    for i, (port, _) in enumerate(ports):
        owner = name(ident, "_irohv1", "_udp", "local") if i == 0 else b"\xc0\x0c"
        msg += owner + struct.pack(">HHIH", 33, 1, 0, 0)
        rd = len(msg) - 2
        msg += struct.pack(">HHH", 0, 0, port)
        targets.append(len(msg))
        msg += name(f"{ident}-{port}", "local")
        struct.pack_into(">H", msg, rd, len(msg) - rd - 2)
    txt = b"".join(bytes([len(s)]) + s for s in [f"relay={relay}".encode(), b"user-data=x"])
    msg += rr(b"\xc0\x0c", 16, txt)
    for (port, addrs), t in zip(ports, targets):
        for a in addrs:
            msg += rr(struct.pack(">H", 0xc000 | t), 1 if len(a) == 4 else 28, a)
    return bytes(msg)


def query(flags=0, ident=0, qclass=1, opt=False):
    msg = header(flags, 1, 0, 0, 1 if opt else 0, ident)
    msg += name("_irohv1", "_udp", "local") + struct.pack(">HH", 12, qclass)
    if opt:
        msg += rr(b"\0", 41, b"", 0, 1232)
    return msg


def rfc_style(key):
    ident = b32(key)
    msg = header(0x8400, 0, 1, 0, 3)
    msg += rr(name("_irohv1", "_udp", "local"), 12, name(ident) [:-1] + b"\xc0\x0c", 4500)
    inst = 12 + 20 + 10
    msg += rr(struct.pack(">H", 0xc000 | inst), 33, struct.pack(">HHH", 0, 0, 4766) + name("host", "local"), 120, 0x8001)
    msg += rr(struct.pack(">H", 0xc000 | inst), 16, bytes([18]) + b"relay=http://host/", 4500, 0x8001)
    msg += rr(name("host", "local"), 1, bytes([10, 0, 0, 1]), 120, 0x8001)
    return msg


def main(out):
    os.makedirs(out, exist_ok=True)
    v4, v4b, v6 = bytes([192, 168, 1, 5]), bytes([10, 0, 0, 7]), bytes.fromhex("fd00" + "00" * 13 + "05")
    files = {
        "swarm_one_port": swarm(KEYS[0], [(4766, [v4, v6])], "https://relay.example/"),
        "swarm_two_ports": swarm(KEYS[1], [(4766, [v4]), (5000, [v4b, v6])], "http://10.0.0.1:3340/"),
        "query": query(),
        "query_qu": query(qclass=0x8001),
        "query_dig": query(flags=0x0100, ident=0xbeef, opt=True),
        "rfc_style": rfc_style(KEYS[0]),
    }
    for fname, data in files.items():
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)


main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "fuzz_mdns"))
