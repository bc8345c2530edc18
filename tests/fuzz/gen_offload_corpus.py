#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_offload_split and fuzz_offload_coalesce:
TSO, USO, NEEDS_CSUM and odd TUN reads, and coalescer scripts that form
runs, interleave flows and end them with PSH and FIN. Run from the
repository root."""
import struct

A = bytes([0xfd, 0x69, 0x72, 0x6f] + [1] * 12)
B = bytes([0xfd, 0x69, 0x72, 0x6f] + [2] * 12)
PAYLOAD = bytes((i * 7) & 0xff for i in range(700))


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += data[i] << 8 | data[i + 1]
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def pseudo(src, dst, proto, length):
    return src + dst + struct.pack(">IxxxB", length, proto)


def ip6(proto, l4, src=A, dst=B):
    return struct.pack(">IHBB", 0x60000000, len(l4), proto, 64) + src + dst + l4


def tcp(seq, flags, payload, sport=40000, partial=False):
    """IPv6+TCP with timestamps; checksum complete, or (partial) the
    pseudo-header sum the kernel leaves for NEEDS_CSUM."""
    opts = bytes([1, 1, 8, 10]) + struct.pack(">II", 1000, 77)
    l4 = struct.pack(">HHIIBBHHH", sport, 5201, seq, 0x1234, 8 << 4, flags, 512, 0, 0) + opts + payload
    if partial:
        c = ones_sum(pseudo(A, B, 6, len(l4)))
    else:
        c = ~ones_sum(pseudo(A, B, 6, len(l4)) + l4) & 0xffff
    return ip6(6, l4[:16] + struct.pack(">H", c) + l4[18:])


def vnet(flags, gso, hdr_len, gso_size, start, offset):
    return struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, start, offset)


def write(path, data):
    assert len(data) <= 1024, path  # replay.c mutates the first 1024 bytes
    with open(path, "wb") as f:
        f.write(data)


d = "tests/fuzz/corpus/fuzz_offload_split/"
write(d + "tso", vnet(1, 4, 72, 200, 40, 16) + tcp(100, 0x18 | 0x80 | 0x01, PAYLOAD, partial=True))
write(d + "tso_ecn", vnet(1, 0x84, 300, 100, 40, 16) + tcp(0xffffff00, 0x10, PAYLOAD[:450], partial=True))
udp = struct.pack(">HHHH", 443, 5555, 8 + 600, 0) + PAYLOAD[:600]
write(d + "uso", vnet(1, 5, 48, 250, 40, 6) + ip6(17, udp))
write(d + "needs_csum", vnet(1, 0, 0, 0, 40, 16) + tcp(5, 0x18, PAYLOAD[:300], partial=True))
write(d + "plain", vnet(0, 0, 0, 0, 0, 0) + tcp(5, 0x18, PAYLOAD[:100]))
write(d + "ipv4_gso", vnet(1, 1, 40, 100, 20, 16) + bytes([0x45]) + bytes(400))
write(d + "hopopts", vnet(1, 4, 72, 200, 40, 16) + struct.pack(">IHBB", 0x60000000, 500, 0, 64) + A + B + bytes(500))

# Coalescer scripts: 0x00 + 2-byte length + packet; 0x80|n: the next
# segment of the last TCP packet with n*37 bytes; 0xc0+: flush.
d = "tests/fuzz/corpus/fuzz_offload_coalesce/"


def add(p):
    return bytes([0, len(p) >> 8, len(p) & 0xff]) + p


seg = tcp(1000, 0x10, PAYLOAD[:37 * 10])
seg2 = tcp(1000, 0x10, PAYLOAD[:37 * 8], sport=40001)
write(d + "run", add(seg) + bytes([0x80 + 10] * 5) + bytes([0x80 + 4, 0xc0]))
write(d + "two_flows", add(seg) + add(seg2) + bytes([0x88, 0x88]) + add(tcp(5, 0x11, b"")) + bytes([0x8a, 0xff]))
write(d + "psh", add(tcp(1, 0x18, PAYLOAD[:111])) + bytes([0x83, 0x83, 0xc1]))
icmp = ip6(58, bytes([128, 0, 0, 0, 0, 1, 0, 1]) + PAYLOAD[:56])
write(d + "mixed", add(tcp(1, 0x10, PAYLOAD[:37 * 3])) + add(icmp) + bytes([0x83]) + add(seg2[:100]) + bytes([0x83, 0x81, 0xc0]))
