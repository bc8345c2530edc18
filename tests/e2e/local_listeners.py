"""Holds many idle connections to a local listener of the daemon until
SIGTERM (issue 15, item 9): they connect and never send a byte.

    local_listeners.py unix PATH N     N connections to a Unix socket
    local_listeners.py tcp HOST PORT N N TCP connections

Prints "held K" (K: the connections the kernel completed) once all were
tried, then "open K" on SIGTERM: how many the daemon had not closed."""
import resource
import select
import signal
import socket
import sys


def main():
    mode = sys.argv[1]
    n = int(sys.argv[-1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    conns = []
    for _ in range(n):
        if mode == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            target = sys.argv[2]
        else:
            s = socket.socket(socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET)
            s.setblocking(False)
            target = (sys.argv[2], int(sys.argv[3]))
        try:
            s.connect(target)
            conns.append(s)
        except BlockingIOError:
            # TCP: the handshake completes in the kernel; a full Unix
            # backlog refuses at once.
            if mode == "tcp":
                conns.append(s)
            else:
                s.close()
        except OSError:
            s.close()
    print(f"held {len(conns)}", flush=True)

    def report(signum, frame):
        poller = select.poll()
        for s in conns:
            poller.register(s, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(0)}
        closed = 0
        for s in (s for s in conns if s.fileno() in ready):
            try:
                if s.recv(1) == b"":
                    closed += 1
            except OSError:
                closed += 1
        print(f"open {len(conns) - closed}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    while True:
        signal.pause()


main()
