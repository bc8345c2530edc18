#!/usr/bin/env python3
"""Hostile DNS input for a running iron daemon (used by dns_abuse.sh).

    dns_abuse.py udp HOST PORT ID IP    malformed datagrams, each with its
                                        exact expected answer (or none)
    dns_abuse.py tcp HOST PORT ID IP    garbage and stalls on TCP
    dns_abuse.py valid HOST PORT ID IP  one AAAA query over UDP and TCP,
                                        answer checked field by field
    dns_abuse.py stall HOST PORT N      opens N TCP connections that send
                                        half a length prefix, prints "held N"
                                        and holds them until SIGTERM (60 s
                                        at most)

ID is a node's base32 ID and IP its overlay address. Prints one line per
assertion, "ok - what" or "not ok - what", for the shell test to count;
exits 1 on any failure. Every wait is bounded."""
import ipaddress
import random
import select
import signal
import socket
import struct
import sys
import time

FORMERR, NXDOMAIN, NOTIMP, NOERROR = 1, 3, 4, 0
failures = 0


def report(good, what):
    global failures
    if not good:
        failures += 1
    print(("ok - " if good else "not ok - ") + what, flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wire_name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def question(name_wire, qtype=28, qclass=1):
    return name_wire + struct.pack("!HH", qtype, qclass)


def udp_exchange(sock, addr, msg, wait=0.5):
    """Sends msg; returns the reply or None when nothing came within wait."""
    sock.sendto(msg, addr)
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return None
        data = sock.recv(65535)
        return data


def rcode_of(reply):
    return reply[3] & 0x0F


def check_reply(what, reply, qid, rcode):
    if rcode is None:
        report(reply is None, f"{what}: no reply")
        return
    good = (
        reply is not None
        and len(reply) >= 12
        and struct.unpack("!H", reply[:2])[0] == qid
        and reply[2] & 0x80
        and rcode_of(reply) == rcode
    )
    names = {FORMERR: "FORMERR", NXDOMAIN: "NXDOMAIN", NOTIMP: "NOTIMP", NOERROR: "NOERROR"}
    got = "nothing" if reply is None else f"{len(reply)} bytes, rcode {rcode_of(reply) if len(reply) >= 4 else '?'}"
    report(good, f"{what}: {names[rcode]} with ID {qid:#06x} (got {got})")


def udp_cases(node_id):
    """(description, message, expected ID, expected rcode or None)."""
    good_q = question(wire_name(node_id + ".iron"))
    cases = [
        ("empty datagram", b"", 0, None),
        ("1-byte datagram", b"\x12", 0, None),
        ("2-byte datagram (ID only)", b"\x12\x34", 0x1234, FORMERR),
        ("11-byte truncated header", header(0x1235)[:11], 0x1235, FORMERR),
        ("header only, QDCOUNT 1", header(0x1236), 0x1236, FORMERR),
        ("header and half a name", header(0x1237) + good_q[:20], 0x1237, FORMERR),
        ("question without QTYPE/QCLASS", header(0x1238) + wire_name(node_id + ".iron"), 0x1238, FORMERR),
        ("label length past the end", header(0x1239) + b"\x3fabc", 0x1239, FORMERR),
        ("label length 63 past the end by one", header(0x123A) + b"\x3f" + b"a" * 62, 0x123A, FORMERR),
        ("compression pointer to itself", header(0x123B) + b"\xc0\x0c\x00\x1c\x00\x01", 0x123B, FORMERR),
        ("compression loop of two", header(0x123C) + b"\x01a\xc0\x0c\x00\x1c\x00\x01", 0x123C, FORMERR),
        ("forward compression pointer", header(0x123D) + b"\xc0\x12\x00\x1c\x00\x01" + wire_name("x.iron"), 0x123D, FORMERR),
        ("compression pointer into the header", header(0x123E) + b"\xc0\x02\x00\x1c\x00\x01", 0x123E, FORMERR),
        ("compression pointer past the end", header(0x123F) + b"\xff\xff\x00\x1c\x00\x01", 0x123F, FORMERR),
        ("half a compression pointer", header(0x1240) + b"\xc0", 0x1240, FORMERR),
        ("extended label type 0x40", header(0x1241) + b"\x41a\x00\x00\x1c\x00\x01", 0x1241, FORMERR),
        ("QDCOUNT 0", header(0x1242, qd=0), 0x1242, FORMERR),
        ("QDCOUNT 0 with a question", header(0x1243, qd=0) + good_q, 0x1243, FORMERR),
        ("QDCOUNT 2", header(0x1244, qd=2) + good_q + good_q, 0x1244, FORMERR),
        ("QDCOUNT 65535", header(0x1245, qd=65535) + good_q, 0x1245, FORMERR),
        ("ARCOUNT 65535 with nothing after the question", header(0x1246, ar=65535) + good_q, 0x1246, FORMERR),
        ("response bit set (never answered)", header(0x1247, flags=0x8100) + good_q, 0, None),
    ]
    for opcode in (1, 2, 3, 4, 5, 15):
        cases.append((f"opcode {opcode}", header(0x1250 + opcode, flags=opcode << 11) + good_q, 0x1250 + opcode, NOTIMP))
    # Name lengths around the 255-byte limit (RFC 1035 3.1), under .iron.
    for total, rcode in ((255, NXDOMAIN), (256, FORMERR), (300, FORMERR)):
        labels = b""
        while total - 6 - len(labels) > 64:
            labels += b"\x3f" + b"a" * 63
        rest = total - 6 - len(labels) - 1
        labels += bytes([rest]) + b"b" * rest
        name = labels + b"\x04iron\x00"
        assert len(name) == total
        cases.append((f"{total}-byte name", header(0x1300 + total) + question(name), 0x1300 + total, rcode))
    # Additional records whose names are each a pointer to the previous
    # one: every pointer is legal alone, the hop cap (127) ends the chain.
    chain = header(0x1400, ar=200) + good_q
    target = 12
    for _ in range(200):
        here = len(chain)
        chain += struct.pack("!HHHIH", 0xC000 | target, 1, 1, 0, 0)
        target = here
    cases.append(("200 chained compression pointers", chain, 0x1400, FORMERR))
    return cases


def cmd_udp(host, port, node_id, ip):
    addr = (host, port)
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    tunnel = host.startswith("fd69:")
    for what, msg, qid, rcode in udp_cases(node_id):
        if tunnel and len(msg) > 1300:
            continue  # the TUN's MTU would fragment it; fragments are dropped
        check_reply(what, udp_exchange(sock, addr, msg, 0.3 if rcode is None else 1.0), qid, rcode)
    # The largest datagram: a good question followed by 65000 bytes of junk
    # that no count announces (trailing bytes are ignored). Not through the
    # tunnel, whose MTU would fragment it (fragments are not reassembled).
    if not tunnel:
        big = header(0x1500) + question(wire_name(node_id + ".iron")) + bytes(65000)
        check_reply("65 KB datagram with a good question", udp_exchange(sock, addr, big), 0x1500, NOERROR)
    # Random garbage, repeatable: whatever comes back must carry the ID.
    rng = random.Random(4766)
    bad = 0
    for i in range(2000):
        msg = bytearray(rng.randbytes(rng.choice((2, 3, 11, 12, 13, 30, 64, 300, 1500))))
        msg[0:2] = struct.pack("!H", i)
        sock.sendto(bytes(msg), addr)
        while select.select([sock], [], [], 0)[0]:
            reply = sock.recv(65535)
            if len(reply) < 2 or not reply[2] & 0x80:
                bad += 1
    end = time.monotonic() + 1
    while time.monotonic() < end and select.select([sock], [], [], 0.2)[0]:
        sock.recv(65535)
    report(bad == 0, f"2000 random datagrams: every reply is a response ({bad} were not)")


def answer_ok(reply, qid, name, ip):
    """A NOERROR, AA answer with one AAAA record for ip, TTL 300."""
    if reply is None or len(reply) < 12:
        return "no reply"
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", reply[:12])
    if rid != qid or not flags & 0x8000 or not flags & 0x0400 or flags & 0xF or qd != 1 or an != 1:
        return f"header {reply[:12].hex()}"
    q = question(wire_name(name))
    if reply[12 : 12 + len(q)].lower() != q.lower():
        return "question not echoed"
    rr = reply[12 + len(q) :]
    if len(rr) < 2 + 10 + 16:
        return "answer too short"
    if rr[0] & 0xC0 == 0xC0:
        rr = rr[2:]
    else:
        rr = rr[len(wire_name(name)) :]
    rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", rr[:10])
    if (rtype, rclass, ttl, rdlen) != (28, 1, 300, 16):
        return f"record {rtype} {rclass} {ttl} {rdlen}"
    if ipaddress.IPv6Address(rr[10:26]) != ipaddress.IPv6Address(ip):
        return f"address {ipaddress.IPv6Address(rr[10:26])}"
    return None


def tcp_connect(host, port):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect((host, port))
    return s


# Bytes read past the end of a message, per socket, for the next read.
leftover = {}


def tcp_read_msg(s, timeout=2.0):
    """Reads one length-prefixed message; None on close or timeout."""
    s.settimeout(timeout)
    data = leftover.pop(s, b"")
    try:
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = s.recv(65537)
            if not chunk:
                return None
            data += chunk
    except (socket.timeout, ConnectionError):
        return None
    end = 2 + struct.unpack("!H", data[:2])[0]
    leftover[s] = data[end:]
    return data[2:end]


def closed_by_server(s, timeout):
    """True when the server closes the connection within timeout seconds."""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                if not s.recv(65535):
                    return True
            except socket.timeout:
                return False
    except ConnectionError:
        return True
    return False


def cmd_valid(host, port, node_id, ip):
    name = node_id + ".iron"
    query = header(0x4242) + question(wire_name(name))
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    problem = answer_ok(udp_exchange(sock, (host, port), query, 2.0), 0x4242, name, ip)
    report(problem is None, f"valid AAAA over UDP {host}: answered {ip}" + (f" ({problem})" if problem else ""))
    try:
        s = tcp_connect(host, port)
        s.sendall(struct.pack("!H", len(query)) + query)
        problem = answer_ok(tcp_read_msg(s), 0x4242, name, ip)
        s.close()
    except OSError as e:
        problem = str(e)
    report(problem is None, f"valid AAAA over TCP {host}: answered {ip}" + (f" ({problem})" if problem else ""))


def cmd_tcp(host, port, node_id, ip):
    name = node_id + ".iron"
    good = header(0x5151) + question(wire_name(name))
    framed = struct.pack("!H", len(good)) + good

    # Opened first and checked last: a length prefix, then silence.
    stalled = tcp_connect(host, port)
    stalled.sendall(b"\x00\x40")
    stalled_at = time.monotonic()
    half = tcp_connect(host, port)
    half.sendall(b"\x00\x40" + good[:20])

    for what, data in (
        ("length 5 (shorter than a header)", b"\x00\x05hello"),
        ("length 0", b"\x00\x00"),
        ("length 65535 (over the 4096-byte limit)", b"\xff\xff" + bytes(100)),
        ("a response (QR set) in a frame", struct.pack("!H", len(good)) + bytes([0x51, 0x51, 0x81]) + good[3:]),
        ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ):
        s = tcp_connect(host, port)
        s.sendall(data)
        report(closed_by_server(s, 2), f"TCP {what}: connection closed")
        s.close()

    # A framed query with a bad name is answered and the connection lives on.
    s = tcp_connect(host, port)
    bad = header(0x5252) + b"\xc0\x0c\x00\x1c\x00\x01"
    s.sendall(struct.pack("!H", len(bad)) + bad + framed)
    first, second = tcp_read_msg(s), tcp_read_msg(s)
    report(first is not None and first[:2] == b"\x52\x52" and rcode_of(first) == FORMERR,
           "TCP compression loop: FORMERR, connection kept")
    report(answer_ok(second, 0x5151, name, ip) is None, "TCP: the next query on it is answered")
    s.close()

    # Queries in one write, one split across writes, byte by byte.
    s = tcp_connect(host, port)
    s.sendall(framed * 3 + framed[:7])
    answers = [tcp_read_msg(s) for _ in range(3)]
    for b in framed[7:]:
        s.send(bytes([b]))
    answers.append(tcp_read_msg(s))
    report(all(answer_ok(a, 0x5151, name, ip) is None for a in answers),
           "TCP: 3 pipelined queries and one sent byte by byte all answered")
    s.close()

    # The stalled clients do not hold up anyone else.
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    report(answer_ok(udp_exchange(sock, (host, port), good, 2.0), 0x5151, name, ip) is None,
           "UDP answered while a TCP client stalls after its length prefix")
    s = tcp_connect(host, port)
    s.sendall(framed)
    report(answer_ok(tcp_read_msg(s), 0x5151, name, ip) is None,
           "TCP answered while a TCP client stalls after its length prefix")
    s.close()

    # The idle timeout (10 s) ends both stalled connections.
    left = 15 - (time.monotonic() - stalled_at)
    closed = closed_by_server(stalled, left)
    waited = time.monotonic() - stalled_at
    report(closed and waited >= 8, f"TCP length prefix then nothing: closed after {waited:.1f} s (idle timeout 10 s)")
    report(closed_by_server(half, 2), "TCP length prefix and half a message: closed by the idle timeout")
    stalled.close()
    half.close()


def cmd_stall(host, port, n):
    conns = []
    for _ in range(n):
        try:
            s = socket.socket(family_of(host), socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect((host, port))
            s.send(b"\x00")
            conns.append(s)
        except OSError:
            break
    print(f"held {len(conns)}", flush=True)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        time.sleep(60)
    finally:
        for s in conns:
            s.close()


def main():
    mode = sys.argv[1]
    host, port = sys.argv[2], int(sys.argv[3])
    if mode == "stall":
        cmd_stall(host, port, int(sys.argv[4]))
        return 0
    node_id, ip = sys.argv[4], sys.argv[5]
    {"udp": cmd_udp, "tcp": cmd_tcp, "valid": cmd_valid}[mode](host, port, node_id, ip)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
