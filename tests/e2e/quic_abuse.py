#!/usr/bin/env python3
"""Hostile datagrams for an iron daemon's QUIC port (used by
transport_abuse.sh).

    quic_abuse.py garbage HOST PORT CORPUS_DIR
        random and garbled datagrams: 0/1/2 bytes, random sizes, long
        headers with version 1 and unknown versions, short headers with
        random DCIDs, truncated and bit-flipped real Initials; checks the
        answers that RFC 9000 prescribes (version negotiation only for
        1200+ bytes, stateless resets smaller than their trigger)
    quic_abuse.py flood HOST PORT CORPUS_DIR N
        N real client Initials from N distinct source ports: the captured
        Initial of the corpus (client-0.bin) decrypted and encrypted again
        under a fresh random DCID each, so each is a new, valid connection
        attempt; prints how many distinct ports the daemon answered with
        a handshake and how many with a Retry ("answered N retried M")

Prints one line per assertion, "ok - what" or "not ok - what", and
"info - ..." lines with numbers; exits 1 on any failure. Every wait is
bounded."""
import os
import random
import resource
import select
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# RFC 9001 section 5.2.
INITIAL_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
failures = 0


def report(good, what):
    global failures
    if not good:
        failures += 1
    print(("ok - " if good else "not ok - ") + what, flush=True)


def info(what):
    print("info - " + what, flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# --- Initial packet protection (RFC 9001 section 5) -------------------------


def hkdf_extract(salt, ikm):
    h = hmac.HMAC(salt, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def hkdf_expand_label(secret, label, length):
    full = b"tls13 " + label
    info_bytes = struct.pack("!HB", length, len(full)) + full + b"\0"
    out, block, i = b"", b"", 1
    while len(out) < length:
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(block + info_bytes + bytes([i]))
        block = h.finalize()
        out += block
        i += 1
    return out[:length]


def client_initial_keys(dcid):
    secret = hkdf_expand_label(hkdf_extract(INITIAL_SALT_V1, dcid), b"client in", 32)
    return (hkdf_expand_label(secret, b"quic key", 16), hkdf_expand_label(secret, b"quic iv", 12),
            hkdf_expand_label(secret, b"quic hp", 16))


def read_varint(data, pos):
    length = 1 << (data[pos] >> 6)
    value = data[pos] & 0x3F
    for i in range(1, length):
        value = value << 8 | data[pos + i]
    return value, pos + length


def hp_mask(hp_key, sample):
    enc = Cipher(algorithms.AES(hp_key), modes.ECB()).encryptor()
    return enc.update(sample) + enc.finalize()


class Initial:
    """A client Initial, decrypted: enough to encrypt it again."""

    def __init__(self, data):
        pos = 5
        self.version = data[1:5]
        dcid_len = data[pos]
        self.dcid = data[pos + 1 : pos + 1 + dcid_len]
        pos += 1 + dcid_len
        scid_len = data[pos]
        self.scid = data[pos + 1 : pos + 1 + scid_len]
        pos += 1 + scid_len
        token_len, pos = read_varint(data, pos)
        self.token = data[pos : pos + token_len]
        pos += token_len
        length, pn_offset = read_varint(data, pos)
        key, iv, hp = client_initial_keys(self.dcid)
        mask = hp_mask(hp, data[pn_offset + 4 : pn_offset + 20])
        self.first = data[0] ^ (mask[0] & 0x0F)
        pn_len = (self.first & 3) + 1
        self.pn = bytes(a ^ b for a, b in zip(data[pn_offset : pn_offset + pn_len], mask[1:]))
        header = bytes([self.first]) + data[1:pn_offset] + self.pn
        nonce = bytes(a ^ b for a, b in zip(iv, int.from_bytes(self.pn, "big").to_bytes(12, "big")))
        self.payload = AESGCM(key).decrypt(nonce, data[pn_offset + pn_len : pn_offset + length], header)

    def encrypt(self, dcid):
        """The same packet under another DCID (and so other keys). The SCID
        stays: the ClientHello's transport parameters repeat it."""
        key, iv, hp = client_initial_keys(dcid)
        length = len(self.pn) + len(self.payload) + 16
        header = (bytes([self.first]) + self.version + bytes([len(dcid)]) + dcid
                  + bytes([len(self.scid)]) + self.scid + bytes([len(self.token)]) + self.token
                  + struct.pack("!H", 0x4000 | length))
        pn_offset = len(header)
        header += self.pn
        nonce = bytes(a ^ b for a, b in zip(iv, int.from_bytes(self.pn, "big").to_bytes(12, "big")))
        body = AESGCM(key).encrypt(nonce, self.payload, header)
        packet = bytearray(header + body)
        mask = hp_mask(hp, bytes(packet[pn_offset + 4 : pn_offset + 20]))
        packet[0] ^= mask[0] & 0x0F
        for i in range(len(self.pn)):
            packet[pn_offset + i] ^= mask[1 + i]
        return bytes(packet)


def load_initial(corpus):
    with open(os.path.join(corpus, "client-0.bin"), "rb") as f:
        return f.read()


# --- garbage ------------------------------------------------------------------


def long_header(rng, version, size, dcid_len=None, scid_len=None, ptype=None):
    dcid_len = rng.randint(0, 20) if dcid_len is None else dcid_len
    scid_len = rng.randint(0, 20) if scid_len is None else scid_len
    ptype = rng.randint(0, 3) if ptype is None else ptype
    head = (bytes([0xC0 | ptype << 4 | rng.randint(0, 15)]) + struct.pack("!I", version)
            + bytes([dcid_len]) + rng.randbytes(dcid_len) + bytes([scid_len]) + rng.randbytes(scid_len))
    return head + rng.randbytes(max(0, size - len(head)))


def is_version_negotiation(reply):
    if len(reply) < 7 or not reply[0] & 0x80 or reply[1:5] != b"\0\0\0\0":
        return False
    pos = 5
    pos += 1 + reply[pos]
    pos += 1 + reply[pos]
    versions = [reply[i : i + 4] for i in range(pos, len(reply) - 3, 4)]
    return b"\0\0\0\x01" in versions


def drain(sock, wait):
    """The datagrams that arrive within wait seconds."""
    got = []
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return got
        got.append(sock.recv(65535))


def cmd_garbage(host, port, corpus):
    addr = (host, port)
    rng = random.Random(4766)
    family = family_of(host)
    initial = load_initial(corpus)
    sent = 0

    def fresh():
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        return s

    # Tiny datagrams: never answered.
    s = fresh()
    for size in (0, 1, 2, 3, 4, 5, 6):
        for _ in range(20):
            s.sendto(rng.randbytes(size), addr)
            sent += 1
    report(not drain(s, 0.5), "140 datagrams of 0 to 6 bytes: no answer")
    s.close()

    # An unknown version in 1200+ bytes: version negotiation offering 1.
    s = fresh()
    s.sendto(long_header(rng, 0x1A2A3A4A, 1200, 8, 8, 0), addr)
    sent += 1
    replies = drain(s, 1.0)
    report(len(replies) == 1 and is_version_negotiation(replies[0]),
           f"unknown version, 1200 bytes: one version negotiation offering version 1 ({len(replies)} replies)")
    s.close()
    # ... but not for less (it would amplify) and never for version 0.
    s = fresh()
    for version in (0x1A2A3A4A, 0xFF00001D, 0x6B3343CF, 2):
        for size in (30, 100, 1199):
            s.sendto(long_header(rng, version, size, 8, 8, 0), addr)
            sent += 1
    for size in (1200, 1452):
        s.sendto(long_header(rng, 0, size, 8, 8, 0), addr)
        sent += 1
    replies = drain(s, 0.5)
    report(not replies, f"unknown versions under 1200 bytes, version 0: no answer ({len(replies)} replies)")
    s.close()

    # Short headers with random DCIDs: at most a stateless reset, smaller
    # than what triggered it, so two endpoints cannot loop.
    s = fresh()
    too_big = 0
    answered = 0
    for size in (21, 22, 40, 41, 42, 60, 100, 1200, 1452):
        pkt = bytes([0x40 | rng.randint(0, 63)]) + rng.randbytes(size - 1)
        s.sendto(pkt, addr)
        sent += 1
        for reply in drain(s, 0.2):
            answered += 1
            too_big += len(reply) >= size or reply[0] & 0x80
    report(too_big == 0, f"short headers, random DCIDs: {answered} stateless resets, all smaller than their trigger")
    report(answered >= 1, f"short headers, random DCIDs: a stateless reset tells the sender ({answered})")
    s.close()

    # The bulk: thousands of random, long-header and garbled datagrams from
    # many ports; the answers are not checked here, the daemon's survival is.
    socks = [fresh() for _ in range(64)]
    for i in range(6000):
        kind = i % 6
        if kind == 0:
            pkt = rng.randbytes(rng.randint(0, 1500))
        elif kind == 1:
            pkt = long_header(rng, 1, rng.randint(1200, 1452))
        elif kind == 2:
            pkt = long_header(rng, rng.choice((1, 0x1A2A3A4A, 0xFAFAFAFA)), rng.randint(7, 1452))
        elif kind == 3:
            pkt = bytes([0x40 | rng.randint(0, 63)]) + rng.randbytes(rng.randint(8, 1452))
        elif kind == 4:
            pkt = initial[: rng.randint(0, len(initial) - 1)]
        else:
            pkt = bytearray(initial)
            for _ in range(rng.randint(1, 8)):
                pkt[rng.randrange(len(pkt))] ^= 1 << rng.randrange(8)
            pkt = bytes(pkt)
        socks[i % len(socks)].sendto(pkt, addr)
        sent += 1
        if i % 500 == 0:
            time.sleep(0.01)  # let the daemon's socket buffer drain
    for s in socks:
        s.close()
    info(f"{sent} garbage datagrams sent")
    return 0


def cmd_flood(host, port, corpus, n):
    addr = (host, port)
    family = family_of(host)
    initial = Initial(load_initial(corpus))
    # One socket per source port, all open at once, to see who is answered.
    limit = n + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(hard, limit)))
    socks = []
    start = time.monotonic()
    for i in range(n):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.sendto(initial.encrypt(os.urandom(8)), addr)
        socks.append(s)
        if i % 256 == 255:
            time.sleep(0.005)
    elapsed = time.monotonic() - start
    info(f"{n} Initials from {n} source ports in {elapsed:.2f} s")
    answered = set()
    retried = set()
    end = time.monotonic() + 2
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    by_fd = {s.fileno(): s for s in socks}
    while time.monotonic() < end:
        for fd, _ in poller.poll(100):
            try:
                while True:
                    reply = by_fd[fd].recv(65535)
                    if not reply:
                        break
                    # A long header of type 3 is a Retry (RFC 9000 17.2.5).
                    (retried if reply[0] & 0xF0 == 0xF0 else answered).add(fd)
            except BlockingIOError:
                pass
    for s in socks:
        s.close()
    print(f"answered {len(answered)} retried {len(retried)}", flush=True)
    return 0


def main():
    mode, host, port, corpus = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode == "garbage":
        cmd_garbage(host, port, corpus)
    elif mode == "flood":
        cmd_flood(host, port, corpus, int(sys.argv[5]))
    elif mode == "selftest":
        # The re-encrypted Initial decrypts to the same payload.
        i = Initial(load_initial(corpus))
        j = Initial(i.encrypt(b"\x01" * 8))
        report(j.payload == i.payload and j.payload[0] == 6, "Initial re-encrypted under a new DCID")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
