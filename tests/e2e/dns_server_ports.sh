#!/bin/bash
# iron dns-server with --dns-listen ADDR:0 takes one port for DNS over UDP
# and TCP: when the port UDP got is taken for TCP it tries another. Here,
# in a namespace whose ephemeral range is three ports, two of them taken
# for TCP, the tries must succeed and the server must then serve (a retry
# once set up a libuv handle again in memory still being closed: the loop
# aborted at its next turn).
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 dig curl

make_ns s
in_ns s ip link set lo up
in_ns s python3 -c '
import socket, sys, time
socks = []
for p in (40000, 40001):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(1); socks.append(s)
print("ready", flush=True)
time.sleep(60)' >"$WORK/holder.out" 2>&1 &
PIDS="$PIDS $!"
check "TCP ports 40000 and 40001 are taken" wait_for 5 grep -q ready "$WORK/holder.out"

for k in 1 2 3; do
	in_ns s sysctl -qw net.ipv4.ip_local_port_range="40000 40002"
	ip netns exec "${PREFIX}s" "$IRON" dns-server --listen 127.0.0.1:8080 --dns-listen 127.0.0.1:0 \
		--socket "$WORK/s$k.sock" --db "$WORK/s$k.db" >"$WORK/s$k.out" 2>"$WORK/s$k.log" &
	pid=$!
	PIDS="$PIDS $pid"
	ready() { grep -q '^iron dns-server ready' "$WORK/s$k.log"; }
	check "start $k: ready" wait_for 10 ready
	# Clients need ports of their own.
	in_ns s sysctl -qw net.ipv4.ip_local_port_range="32768 39999"
	dns=$(sed -n 's/^iron dns-server ready: .* dns \([^ ]*\) .*/\1/p' "$WORK/s$k.log")
	check "start $k: DNS on the free port ($dns)" test "$dns" = 127.0.0.1:40002
	check "start $k: SOA over UDP" sh -c "ip netns exec ${PREFIX}s dig +short +tries=1 +time=2 @127.0.0.1 -p 40002 SOA dns.iroh.link | grep -q ."
	check "start $k: SOA over TCP" sh -c "ip netns exec ${PREFIX}s dig +tcp +short +tries=1 +time=2 @127.0.0.1 -p 40002 SOA dns.iroh.link | grep -q ."
	check "start $k: /healthz" in_ns s curl -sf --noproxy "*" --max-time 5 -o /dev/null http://127.0.0.1:8080/healthz
	check "start $k: still running" kill -0 "$pid"
	kill "$pid"
	wait "$pid" 2>/dev/null
done
finish
