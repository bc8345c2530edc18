#!/bin/bash
# One node: `iron serve` in a namespace with its TUN and DNS responder;
# dig over UDP/TCP on 127.0.0.1 and ::1, the system resolver through the
# in-tunnel DNS, ping of our own name, unreachable peers failing at once,
# upstream forwarding to a real dnsmasq, clean shutdown, start-up errors.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd dig python3 ping getent

make_ns a
new_key a
new_key other
ID=$(node_id a)
IP=$(node_ip a)
OTHER=$(node_id other)
OTHER_IP=$(node_ip other)
[ -n "$ID" ] && [ -n "$IP" ] || { echo "iron self failed"; exit 1; }

start_iron a || exit 1
check "TUN iron0 has the node address /32" sh -c "ip -n ${PREFIX}a -6 addr show dev iron0 | grep -q 'inet6 $IP/32'"
check "TUN iron0 has MTU 1420 and is up" sh -c "ip -n ${PREFIX}a link show iron0 | grep -q 'mtu 1420' && ip -n ${PREFIX}a link show iron0 | grep -q ',UP'"

# dig, UDP and TCP, IPv4 and IPv6 loopback: exact sections.
for server in 127.0.0.1 ::1; do
	for tcp in +notcp +tcp; do
		out=$(in_ns a dig @$server -p 5333 $tcp +norec AAAA "$ID.iron" 2>&1)
		echo "$out" >>"$WORK/check.log"
		check "dig $server $tcp: NOERROR aa" sh -c "echo \"\$0\" | grep -q 'status: NOERROR' && echo \"\$0\" | grep -q 'flags: qr aa'" "$out"
		check "dig $server $tcp: one AAAA, TTL 300, $IP" sh -c "echo \"\$0\" | grep -E -q '^$ID\\.iron\\.[[:space:]]+300[[:space:]]+IN[[:space:]]+AAAA[[:space:]]+$IP\$' && echo \"\$0\" | grep -q 'ANSWER: 1,'" "$out"
	done
done
out=$(in_ns a dig @127.0.0.1 -p 5333 AAAA "notanid.iron")
check "invalid .iron name: NXDOMAIN with SOA" sh -c "echo \"\$0\" | grep -q 'status: NXDOMAIN' && echo \"\$0\" | grep -q 'AUTHORITY: 1'" "$out"
out=$(in_ns a dig @127.0.0.1 -p 5333 TXT "$ID.iron")
check "other type: NODATA with SOA" sh -c "echo \"\$0\" | grep -q 'status: NOERROR' && echo \"\$0\" | grep -q 'ANSWER: 0, AUTHORITY: 1'" "$out"
out=$(in_ns a dig @127.0.0.1 -p 5333 A example.com)
check "outside .iron without upstream: REFUSED" sh -c "echo \"\$0\" | grep -q 'status: REFUSED'" "$out"

# The system resolver through the in-tunnel DNS server.
check "getent ahostsv6 through the in-tunnel DNS" sh -c "ip netns exec ${PREFIX}a getent ahostsv6 $OTHER.iron | grep -q '^$OTHER_IP '"
check "ping -6 own name" in_ns a ping -6 -c 3 -i 0.2 -W 2 "$ID.iron"

# An unknown peer fails at once with Destination unreachable.
start=$(date +%s%N)
out=$(in_ns a ping -6 -c 1 -W 5 "$OTHER.iron" 2>&1)
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
echo "$out" >>"$WORK/check.log"
check "ping to an unreachable peer fails" test "$rc" -ne 0
check "... with Destination unreachable" sh -c "echo \"\$0\" | grep -qi 'unreachable'" "$out"
check "... within a second (${elapsed} ms)" test "$elapsed" -lt 1000

# Clean shutdown: TUN removed, known_peers.json valid; it holds this node
# but not the ID that was only asked for (a name proves nothing: issue 15).
stop_iron a TERM
check "SIGTERM: exit" sh -c "! kill -0 $PID_a 2>/dev/null"
check "SIGTERM: no TUN left" sh -c "! ip -n ${PREFIX}a link show iron0"
check "known_peers.json is a JSON array of this node, without the queried ID" python3 -c "
import json,sys
ids=json.load(open('$WORK/a/known_peers.json'))
assert isinstance(ids,list) and '$ID' in ids and '$OTHER' not in ids, ids"

# Upstream forwarding to a real DNS server.
if command -v dnsmasq >/dev/null; then
	ip netns exec "${PREFIX}a" dnsmasq --no-daemon --port 5399 --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --address=/example.test/192.0.2.7 --pid-file="$WORK/dnsmasq.pid" \
		>"$WORK/dnsmasq.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 5 in_ns a dig @127.0.0.1 -p 5399 +short example.test
	start_iron a --dns-upstream 127.0.0.1:5399 || exit 1
	check "restart: start_iron returned with the new daemon up" answers_as a "$PID_a"
	out=$(in_ns a dig @127.0.0.1 -p 5333 +short A example.test)
	check "forwarded to dnsmasq: example.test = 192.0.2.7" test "$out" = "192.0.2.7"
	stop_iron a TERM
	start_iron a --dns-upstream 127.0.0.1:5398 || exit 1
	check "second restart: start_iron returned with the new daemon up" answers_as a "$PID_a"
	out=$(in_ns a dig @127.0.0.1 -p 5333 +tries=1 +time=8 A example.test)
	check "dead upstream: SERVFAIL" sh -c "echo \"\$0\" | grep -q 'status: SERVFAIL'" "$out"
	stop_iron a TERM
else
	not_ok "dnsmasq not installed"
fi

# Start-up errors: one line, exit 1, nothing left behind.
ip netns exec "${PREFIX}a" python3 -c "
import socket,time
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.bind(('::',4766)); time.sleep(30)" &
blocker=$!
PIDS="$PIDS $blocker"
wait_for 5 sh -c "ip netns exec ${PREFIX}a ss -uln | grep -q ':4766'"
out=$(in_ns a "$IRON" serve --state-dir "$WORK/a" --no-dns-config 2>&1)
rc=$?
check "busy UDP port: exit 1" test "$rc" -eq 1
check "busy UDP port: says so" sh -c "echo \"\$0\" | grep -q 'cannot listen on UDP'" "$out"
check "busy UDP port: no TUN left" sh -c "! ip -n ${PREFIX}a link show iron0"
kill "$blocker"

if command -v setpriv >/dev/null; then
	out=$(in_ns a setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$IRON" serve --state-dir "$WORK/a" --no-dns-config 2>&1)
	rc=$?
	check "without CAP_NET_ADMIN: exit 1" test "$rc" -eq 1
	check "without CAP_NET_ADMIN: clear error" sh -c "echo \"\$0\" | grep -q 'CAP_NET_ADMIN'" "$out"
	check "without CAP_NET_ADMIN: no TUN" sh -c "! ip -n ${PREFIX}a link show iron0"
fi
finish
