#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dns: real-looking queries, one per file."""
import os
import struct
import sys

KAT = "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq"


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, qname, qtype, qclass=1, flags=0x0100, edns=None, extra=b""):
    arcount = 1 if edns else 0
    msg = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, arcount)
    msg += name(qname) + struct.pack(">HH", qtype, qclass) + extra
    if edns:
        size, version, do = edns
        msg += b"\0" + struct.pack(">HHBBHH", 41, size, 0, version, 0x8000 if do else 0, 0)
    return msg


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    seeds = {
        "aaaa_id": query(1, KAT + ".iron", 28),
        "aaaa_id_upper_edns": query(2, KAT.upper() + ".IRON", 28, edns=(4096, 0, True)),
        "a_id": query(3, KAT + ".iron", 1),
        "any_id": query(4, KAT + ".iron", 255),
        "nx_iron": query(5, "foo.iron", 28),
        "apex_soa": query(6, "iron", 6),
        "outside": query(7, "example.com", 28, edns=(1232, 0, False)),
        "badvers": query(8, KAT + ".iron", 28, edns=(1232, 1, False)),
        "chaos": query(9, "version.bind", 16, qclass=3),
        "notify": struct.pack(">HHHHHH", 10, 0x2000, 1, 0, 0, 0) + name("iron") + struct.pack(">HH", 6, 1),
        "qdcount2": struct.pack(">HHHHHH", 11, 0, 2, 0, 0, 0) + (name("a.iron") + struct.pack(">HH", 28, 1)) * 2,
        "pointer_loop": struct.pack(">HHHHHH", 13, 0, 1, 0, 0, 0) + b"\x01a\xc0\x0c" + struct.pack(">HH", 28, 1),
        "short": b"\x12\x34\x01",
    }
    # A query carrying an answer record whose name points to the question.
    q = bytearray(query(12, "a.iron", 28))
    q[7] = 1
    seeds["compressed_answer"] = bytes(q) + b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 0, 2) + b"\x01a"
    for fname, data in seeds.items():
        with open(os.path.join(out_dir, fname), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "fuzz_dns"))
