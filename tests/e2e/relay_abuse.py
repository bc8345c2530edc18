#!/usr/bin/env python3
"""Hostile clients of `iron relay` (tests/e2e/relay_abuse.sh): each case
speaks broken HTTP, WebSocket or relay protocol and checks the relay
answers as it must (an error status, or closing the connection) without
relaying anything. Prints "ok CASE" or "FAIL CASE: why" per case.

    relay_abuse.py HOST:PORT CASE...
    relay_abuse.py HOST:PORT slowloris N SECONDS
"""
import os
import socket
import struct
import sys
import time

HOST, PORT = sys.argv[1].rsplit(":", 1)
PORT = int(PORT)
UPGRADE = (b"GET /relay HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Protocol: iroh-relay-v2\r\n\r\n")


def connect():
    s = socket.create_connection((HOST, PORT), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_closed(s, limit=1 << 20):
    """Everything the relay sends until it closes; None if it does not
    close within the socket's timeout."""
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


def ws_frame(payload, opcode=2, mask=True, length=None, fin=True):
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def upgraded():
    """A connection past the 101, with the challenge read."""
    s = connect()
    s.sendall(UPGRADE)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed before the 101")
        data += chunk
    if not data.startswith(b"HTTP/1.1 101"):
        raise RuntimeError("no 101: %r" % data[:40])
    rest = data.split(b"\r\n\r\n", 1)[1]
    while len(rest) < 2 + 17:  # the challenge message
        rest += s.recv(4096)
    if rest[0] != 0x82 or rest[1] != 17 or rest[2] != 0:
        raise RuntimeError("no challenge: %r" % rest[:20])
    return s


def expect_closed(s, what, allow=b""):
    got = read_until_closed(s)
    if got is None:
        return "%s: still open" % what
    if allow is not None and got and not got.startswith(allow):
        return "%s: unexpected bytes %r" % (what, got[:40])
    return None


def case_garbage_before():
    s = connect()
    s.sendall(os.urandom(3000).replace(b"\n", b"x"))
    got = read_until_closed(s)
    if got is None:
        return "still open"
    if got and not got.startswith(b"HTTP/1.1 4"):
        return "answered %r" % got[:40]


def case_binary_head():
    s = connect()
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: \x00\x01\x02\r\n\r\n")
    got = read_until_closed(s)
    if got is None or not got.startswith(b"HTTP/1.1 400"):
        return "answered %r" % (got[:40] if got else got)


def case_huge_head():
    s = connect()
    try:
        s.sendall(b"GET /ping HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = read_until_closed(s)
    if got is None or not got.startswith(b"HTTP/1.1 431"):
        return "answered %r" % (got[:40] if got else got)


def case_many_headers():
    s = connect()
    s.sendall(b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(100)) + b"\r\n")
    got = read_until_closed(s)
    if got is None or not got.startswith(b"HTTP/1.1 4"):
        return "answered %r" % (got[:40] if got else got)


def case_body():
    s = connect()
    s.sendall(b"POST /relay HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    got = read_until_closed(s)
    if got is None or not got.startswith(b"HTTP/1.1 400"):
        return "answered %r" % (got[:40] if got else got)


def case_garbage_after():
    s = upgraded()
    s.sendall(os.urandom(5000))
    return expect_closed(s, "garbage after the upgrade", allow=None)


def case_unmasked():
    s = upgraded()
    s.sendall(ws_frame(b"\x01" + b"k" * 97, mask=False))
    return expect_closed(s, "an unmasked frame", allow=None)


def case_text():
    s = upgraded()
    s.sendall(ws_frame(b"hello", opcode=1))
    return expect_closed(s, "a text message", allow=None)


def case_oversized_claim():
    s = upgraded()
    s.sendall(ws_frame(b"", length=1 << 40)[:14])
    return expect_closed(s, "a 1 TiB frame head", allow=None)


def case_oversized_before_auth():
    s = upgraded()
    try:
        s.sendall(ws_frame(b"\x01" + os.urandom(70000)))
    except (BrokenPipeError, ConnectionResetError):
        pass
    return expect_closed(s, "a 70 kB message before authentication", allow=None)


def case_datagram_before_auth():
    s = upgraded()
    s.sendall(ws_frame(b"\x04" + os.urandom(32) + b"\x00" + b"payload"))
    return expect_closed(s, "a datagram before authentication", allow=None)


def case_ping_before_auth():
    s = upgraded()
    s.sendall(ws_frame(b"\x09" + os.urandom(8)))
    return expect_closed(s, "a relay Ping before authentication", allow=None)


def case_bad_auth_frames():
    # Truncated ClientAuth, a key that is no Ed25519 point, a bad postcard
    # length, random signature.
    for frame in (b"\x01" + os.urandom(40),
                  b"\x01" + b"\xff" * 32 + b"\x40" + os.urandom(64),
                  b"\x01" + os.urandom(32) + b"\x41" + os.urandom(64),
                  b"\x01" + os.urandom(32) + b"\x40" + os.urandom(64)):
        s = upgraded()
        s.sendall(ws_frame(frame))
        got = read_until_closed(s)
        if got is None:
            return "a bad ClientAuth left the connection open"
        # At most a ServerDeniesAuth (type 3) may come back.
        if got and not (got[0] == 0x82 and got[2] == 3):
            return "a bad ClientAuth got %r" % got[:20]


def case_fragments_flood():
    # Control frames between fragments are fine; endless empty fragments
    # are not a way to hold memory.
    s = upgraded()
    try:
        s.sendall(ws_frame(b"\x01", fin=False))
        for _ in range(2000):
            s.sendall(ws_frame(b"x" * 100, opcode=0, fin=False))
    except (BrokenPipeError, ConnectionResetError):
        return None
    return expect_closed(s, "a fragmented message past the limit", allow=None)


def case_close_frame():
    s = upgraded()
    s.sendall(ws_frame(struct.pack(">H", 1000), opcode=8))
    got = read_until_closed(s)
    if got is None:
        return "a Close frame left the connection open"


def slowloris(n, seconds):
    """n connections that send a head one byte at a time, far too slowly:
    the relay must close every one within `seconds`."""
    socks = []
    for _ in range(n):
        s = connect()
        s.sendall(b"GET /ping HTTP/1.1\r\nX-Slow: ")
        s.setblocking(False)
        socks.append(s)
    deadline = time.time() + seconds
    open_ = set(range(n))
    while open_ and time.time() < deadline:
        for i in list(open_):
            try:
                socks[i].send(b"a")
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                pass
            try:
                if socks[i].recv(4096) == b"":
                    open_.discard(i)
            except BlockingIOError:
                pass
            except (ConnectionResetError, OSError):
                open_.discard(i)
        time.sleep(0.2)
    if open_:
        return "%d of %d slow connections still open after %ss" % (len(open_), n, seconds)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    args = sys.argv[2:]
    if args and args[0] == "slowloris":
        why = slowloris(int(args[1]), float(args[2]))
        print("ok slowloris" if why is None else "FAIL slowloris: %s" % why)
        return
    for name in args or CASES:
        try:
            why = CASES[name]()
        except Exception as e:  # a refusal at connect time is a failure too
            why = "%s: %s" % (type(e).__name__, e)
        print(("ok %s" % name) if why is None else ("FAIL %s: %s" % (name, why)), flush=True)


main()
