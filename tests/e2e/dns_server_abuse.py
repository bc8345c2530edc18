#!/usr/bin/env python3
"""Hostile clients of `iron dns-server` (tests/e2e/dns_server_abuse.sh):
broken HTTP, bodies that are not signed packets, broken DNS over UDP and
TCP, slow clients. Each case checks the server answers as it must (an
error status, an error rcode, or closing the connection). Prints
"ok CASE" or "FAIL CASE: why" per case.

    dns_server_abuse.py HTTP_ADDR DNS_ADDR Z32 [cases]
    dns_server_abuse.py HTTP_ADDR DNS_ADDR Z32 slowloris N SECONDS
"""
import os
import random
import socket
import struct
import sys
import time

HTTP = sys.argv[1].rsplit(":", 1)
HTTP = (HTTP[0], int(HTTP[1]))
DNS = sys.argv[2].rsplit(":", 1)
DNS = (DNS[0], int(DNS[1]))
Z32 = sys.argv[3]


def connect():
    s = socket.create_connection(HTTP, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_closed(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except socket.timeout:
        return None
    return None


def status_of(data):
    if not data or not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data[9:12])


def exchange(raw):
    """Sends raw bytes, returns (status, everything until the server closed)."""
    s = connect()
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = read_until_closed(s)
    s.close()
    return status_of(data), data


def put_head(length, extra=b"", key=None):
    return (b"PUT /pkarr/" + (key or Z32).encode() + b" HTTP/1.1\r\nHost: x\r\n" +
            b"Content-Length: " + str(length).encode() + b"\r\n" + extra +
            b"Connection: close\r\n\r\n")


results = []


def case(name):
    def wrap(fn):
        results.append((name, fn))
        return fn
    return wrap


@case("garbage")
def _():
    st, _ = exchange(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    return st == 400 or f"status {st}"


@case("head_too_big")
def _():
    st, _ = exchange(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
    return st == 431 or f"status {st}"


@case("huge_content_length")
def _():
    t = time.time()
    st, data = exchange(put_head(100000000))
    return (st == 400 and b"too large" in data and time.time() - t < 5) or f"status {st}"


@case("overflowing_content_length")
def _():
    st, _ = exchange(put_head("99999999999999999999999"))
    return st == 400 or f"status {st}"


@case("two_content_lengths")
def _():
    st, _ = exchange(put_head(10, b"Content-Length: 11\r\n") + b"x" * 11)
    return st == 400 or f"status {st}"


@case("chunked")
def _():
    st, _ = exchange(b"PUT /pkarr/" + Z32.encode() + b" HTTP/1.1\r\nTransfer-Encoding: chunked"
                     b"\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    return st in (400, 411) or f"status {st}"


@case("no_content_length")
def _():
    st, _ = exchange(b"PUT /pkarr/" + Z32.encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    return st == 411 or f"status {st}"


@case("get_with_body")
def _():
    st, _ = exchange(b"GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    return st == 400 or f"status {st}"


@case("random_bodies")
def _():
    rnd = random.Random(7)
    for size in [0, 1, 71, 72, 73, 200, 1072, 1073]:
        body = bytes(rnd.getrandbits(8) for _ in range(size))
        st, data = exchange(put_head(size) + body)
        if st != 400:
            return f"size {size}: status {st}"
    return True


@case("bad_key_forms")
def _():
    for key in ["", "x" * 52, Z32.upper()[:51], Z32 + "y", "../../etc/passwd", "%00"]:
        st, _ = exchange(b"GET /pkarr/" + key.encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
        if st not in (400, 404):
            return f"key {key!r}: status {st}"
    return True


@case("pipelined")
def _():
    s = connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n" * 5 +
              b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n")
    data = read_until_closed(s)
    s.close()
    return (data is not None and data.count(b"HTTP/1.1 200") == 6) or "not 6 answers"


@case("expect_continue")
def _():
    s = connect()
    s.sendall(put_head(80, b"Expect: 100-continue\r\n"))
    first = s.recv(100)
    s.sendall(b"z" * 80)
    rest = read_until_closed(s)
    s.close()
    return (first.startswith(b"HTTP/1.1 100") and rest is not None and b" 400 " in rest) or \
        f"got {first!r}"


def dns_query(name, qtype=16, qid=0x4242, flags=0x0100, extra=b""):
    q = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1) + extra


def udp(msg, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(msg, DNS)
    try:
        return s.recv(65536)
    except socket.timeout:
        return None
    finally:
        s.close()


@case("dns_garbage")
def _():
    rnd = random.Random(11)
    for i in range(300):
        msg = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 600)))
        udp(msg, timeout=0.01)
    r = udp(dns_query("dns.iroh.link", 6))
    return (r is not None and r[3] & 15 == 0) or "no SOA answer after garbage"


@case("dns_formerr_notimp")
def _():
    r = udp(b"\x12\x34\x01\x00\x00\x02")
    if r is None or r[3] & 15 != 1:
        return "short header: not FORMERR"
    r = udp(dns_query("dns.iroh.link", 6, flags=0x2800))  # opcode 5, UPDATE
    if r is None or r[3] & 15 != 4:
        return "UPDATE: not NOTIMP"
    r = udp(struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x10\x00\x01")
    if r is None or r[3] & 15 != 1:
        return "pointer loop: not FORMERR"
    r = udp(dns_query("dns.iroh.link", 6, flags=0x8100))
    return r is None or "answered a response"


@case("dns_tcp_bad_length")
def _():
    for prefix in [b"\x00\x00", b"\x00\x05abcde", b"\xff\xff" + b"a" * 100]:
        s = socket.create_connection(DNS, timeout=5)
        s.sendall(prefix)
        data = read_until_closed(s)
        s.close()
        if data is None:
            return f"{prefix[:4]!r}: not closed"
    return True


@case("dns_tcp_pipelined")
def _():
    s = socket.create_connection(DNS, timeout=5)
    q = dns_query("dns.iroh.link", 6)
    s.sendall((struct.pack(">H", len(q)) + q) * 20)
    got = b""
    while got.count(b"hostmaster") < 20:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return got.count(b"hostmaster") == 20 or f"{got.count(b'hostmaster')} answers"


def slowloris(n, seconds):
    """n connections that send a head one byte at a time, never finishing;
    all must be closed by the server within `seconds`."""
    socks = []
    for _ in range(n):
        s = connect()
        s.setblocking(False)
        socks.append(s)
    head = put_head(1072)
    deadline = time.time() + seconds
    open_ = set(range(n))
    i = 0
    while open_ and time.time() < deadline:
        for k in list(open_):
            try:
                s = socks[k]
                s.send(head[i % len(head):i % len(head) + 1])
                try:
                    if s.recv(4096) == b"":
                        open_.discard(k)
                except BlockingIOError:
                    pass
            except (BrokenPipeError, ConnectionResetError):
                open_.discard(k)
        i += 1
        time.sleep(0.2)
    for s in socks:
        s.close()
    return not open_ or f"{len(open_)} still open"


if len(sys.argv) > 4 and sys.argv[4] == "slowloris":
    r = slowloris(int(sys.argv[5]), float(sys.argv[6]))
    print("ok slowloris" if r is True else f"FAIL slowloris: {r}")
    sys.exit(0)

for name, fn in results:
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001 - any failure is the case's
        r = f"{type(e).__name__}: {e}"
    print(f"ok {name}" if r is True else f"FAIL {name}: {r}")
    sys.stdout.flush()
