#!/bin/bash
# Issue 5, test 3: the same ping tests with an iroh 1.x endpoint that offers
# only iron/packet/1 (one IP packet per QUIC DATAGRAM frame, one connection
# used both ways): iron -> iroh by .iron name, and iroh -> iron, where iron
# must answer on the connection the iroh node dialled instead of dialling
# its own. Also the largest packets each side can carry, and a bounded UDP
# echo throughput run.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping
need_iroh

setup_link
new_key j
J=$(node_id j)
J_IP=$(node_ip j)
start_js js j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn iron/packet/1 ||
	{ not_ok "iroh node starts"; finish; }
start_iron a --peer "$J@10.99.0.2:$JS_PORT" || { not_ok "iron starts"; finish; }
A=$(node_id a)
A_IP=$(node_ip a)

n=$(ping_count a "$J.iron" 10)
check "ping -6 -c 10 <iroh-id>.iron over iron/packet/1: ${n:-0}/10 replies" test "${n:-0}" -eq 10
check "the iroh node accepted iron's connection with ALPN iron/packet/1, authenticated as the C node" \
	js_has js ".event == \"accepted\" and .alpn == \"iron/packet/1\" and .peer == \"$A\""
check "iron dialled with iron/packet/1 selected" \
	log_has a "connected to ${J:0:10} \(.*, dialled, iron/packet/1\)"
check "the replies came back on the same connection (the iroh node dialled nothing)" \
	test "$(js_count js '.event == "dialled"')" -eq 0

# Sizes. iron -> iroh: a 1420-byte packet (the TUN MTU) is one DATAGRAM
# frame. iroh -> iron: iroh's own limit (maxDatagramSize) applies.
ping_count a "$J_IP" 3 1372 >/dev/null
check "iron carried 1420-byte packets to the iroh node as datagrams" \
	js_has js '.event == "echo-request" and .len == 1420'
max=$(js_get js '.event == "too-large"' max_datagram)
if [ -n "$max" ]; then
	echo "NOTE: iroh cannot send a 1420-byte packet as a datagram: its limit is $max bytes" \
		"($(js_get js '.event == "too-large"' error)); see tests/interop/README.md"
	n=$(ping_count a "$J_IP" 5 $((max - 48)))
	check "packets of iroh's largest datagram size ($max bytes) both ways: ${n:-0}/5 replies" \
		test "${n:-0}" -eq 5
fi

rtt=$(rtt_of a "$J_IP" 20)
echo "ping RTT iron -> iroh (iron/packet/1), min/avg/max/mdev: $rtt"
load=$(ip netns exec "${PREFIX}a" node "$INTEROP_DIR/udp-echo-load.mjs" "$J_IP" 7 \
	--count 3000 --size 1200 --window 64 2>&1)
echo "UDP echo through iron -> iroh (iron/packet/1): $load"
check "UDP echo: 3000 datagrams of 1200 bytes, >= 95 % echoed" \
	test "$(echo "$load" | jq -r '.received >= 2850' 2>/dev/null)" = true
stop_js js

# iroh -> iron over iron/packet/1, from a second iroh node.
new_key k
K=$(node_id k)
run_js ping j --key "$WORK/k/secret.key" --bind "10.99.0.2:$((JS_PORT + 1))" --alpn iron/packet/1 \
	--peer "$A@10.99.0.1:4766" --ping "$A" --count 10 --interval 100
rc=$?
received=$(js_get ping '.event == "ping-done"' received)
check "iroh -> iron over iron/packet/1: ${received:-0}/10 replies (exit $rc)" \
	test "$rc" -eq 0 -a "${received:-0}" -eq 10
check "iron accepted with iron/packet/1 and answered on that connection (no dial back)" \
	sh -c "grep -Eq 'connected to ${K:0:10} \(.*, accepted, iron/packet/1\)' '$WORK/a.log' &&
		! grep -q 'connected to ${K:0:10} .*dialled' '$WORK/a.log'"
check "the iroh node accepted no connection (one connection both ways)" \
	test "$(js_count ping '.event == "accepted"')" -eq 0
echo "ping RTT iroh -> iron (iron/packet/1), 10 pings, the first with the handshake:" \
	"min/median/max $(js_get ping '.event == "ping-done"' rtt_min_ms)/$(js_get ping '.event == "ping-done"' rtt_median_ms)/$(js_get ping '.event == "ping-done"' rtt_max_ms) ms"

check "iron is still running" alive a
finish
