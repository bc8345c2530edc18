#!/bin/bash
# Issue 5, test 1: iron (C) dials a real iroh 1.x endpoint that offers only
# iron/packet/0 (the original's protocol). ping -6 by .iron name from the C
# node's namespace gets every reply: iron sends each packet on its own
# stream, and the iroh node sends the echo replies on a connection it dials
# itself. The iroh side reports the ALPN and the peer ID it authenticated.
# Also over an IPv6 underlay, full-size packets (1420 bytes) and a bounded
# UDP echo throughput run.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping
need_iroh

setup_link
new_key j
new_key k
J=$(node_id j)
J_IP=$(node_ip j)
K=$(node_id k)
start_js js j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn iron/packet/0 ||
	{ not_ok "iroh node starts"; finish; }
# A second iroh node on the IPv6 underlay.
start_js js6 j --key "$WORK/k/secret.key" --bind "[fd00:99::2]:$JS_PORT" --alpn iron/packet/0 ||
	{ not_ok "iroh node on IPv6 starts"; finish; }
start_iron a --peer "$J@10.99.0.2:$JS_PORT" --peer "$K@[fd00:99::2]:$JS_PORT" || { not_ok "iron starts"; finish; }
A=$(node_id a)

n=$(ping_count a "$J.iron" 10)
check "ping -6 -c 10 <iroh-id>.iron from the C node: ${n:-0}/10 replies" test "${n:-0}" -eq 10
check "the iroh node accepted iron's connection with ALPN iron/packet/0" \
	js_has js '.event == "accepted" and .alpn == "iron/packet/0"'
check "the peer ID the iroh node authenticated is the C node's ID" \
	js_has js ".event == \"accepted\" and .peer == \"$A\""
check "the iroh node got 10 echo requests from the C node's address" \
	test "$(js_count js ".event == \"echo-request\" and .peer == \"$A\"")" -ge 10
check "the iroh node dialled back to send its replies (iron/packet/0)" \
	js_has js ".event == \"dialled\" and .peer == \"$A\" and .alpn == \"iron/packet/0\""
check "iron accepted the iroh node's reply connection" \
	log_has a "connected to ${J:0:10} \(.*, accepted, iron/packet/0\)"
check "iron dialled with iron/packet/0 selected" \
	log_has a "connected to ${J:0:10} \(.*, dialled, iron/packet/0\)"
check "no packet reached the iroh node with a wrong source or destination" \
	test "$(js_count js '.event == "spoofed"')" -eq 0

n=$(ping_count a "$K.iron" 5)
check "the same over an IPv6 underlay: ${n:-0}/5 replies" test "${n:-0}" -eq 5
check "... with iron/packet/0 and the dial back" \
	js_has js6 ".event == \"dialled\" and .peer == \"$A\" and .alpn == \"iron/packet/0\""

# 1420-byte IPv6 packets (the TUN MTU) fit one stream each way.
n=$(ping_count a "$J_IP" 5 1372)
check "full-size packets (1420 bytes) both ways: ${n:-0}/5 replies" test "${n:-0}" -eq 5

rtt=$(rtt_of a "$J_IP" 20)
echo "ping RTT iron -> iroh (iron/packet/0), min/avg/max/mdev: $rtt"

load=$(ip netns exec "${PREFIX}a" node "$INTEROP_DIR/udp-echo-load.mjs" "$J_IP" 7 \
	--count 3000 --size 1200 --window 64 2>&1)
echo "UDP echo through iron -> iroh (iron/packet/0): $load"
check "UDP echo: 3000 datagrams of 1200 bytes, >= 95 % echoed" \
	test "$(echo "$load" | jq -r '.received >= 2850' 2>/dev/null)" = true

check "iron is still running" alive a
stop_js js
check "iron logged the iroh node's close" \
	wait_for 5 log_has a "connection with ${J:0:10} closed: closed by peer"
finish
