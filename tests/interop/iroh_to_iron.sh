#!/bin/bash
# Issue 5, test 2: a real iroh 1.x endpoint, as an original iron node, dials
# the C node by ID and direct address with iron/packet/0 and sends ICMPv6
# echo requests to the C node's overlay address. The kernel behind iron
# answers; iron, which has no static address for the iroh node, learns it
# from the accepted connection and dials its own iron/packet/0 connection to
# deliver the replies (only the dialling side may send on /0).
. "$(dirname "$0")/lib.sh"
need_root
need_iroh

setup_link
start_iron a || { not_ok "iron starts"; finish; }
A=$(node_id a)
A_IP=$(node_ip a)
new_key j
J=$(node_id j)

run_js ping j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn iron/packet/0 \
	--peer "$A@10.99.0.1:4766" --ping "$A" --count 10 --interval 100
rc=$?
received=$(js_get ping '.event == "ping-done"' received)
check "iroh -> iron: 10 ICMPv6 echo requests to $A_IP, ${received:-0}/10 replies (exit $rc)" \
	test "$rc" -eq 0 -a "${received:-0}" -eq 10
check "the iroh node's dial was authenticated as the C node" \
	js_has ping ".event == \"dialled\" and .peer == \"$A\" and .alpn == \"iron/packet/0\""
check "iron accepted the iroh node's connection with iron/packet/0" \
	log_has a "connected to ${J:0:10} \(10\.99\.0\.2:$JS_PORT, accepted, iron/packet/0\)"
check "iron dialled back to the address it learned, the iroh node accepted iron/packet/0" \
	js_has ping ".event == \"accepted\" and .peer == \"$A\" and .alpn == \"iron/packet/0\" and .remote == \"10.99.0.1:4766\""
check "iron's dial-back is in its log" \
	log_has a "connected to ${J:0:10} \(10\.99\.0\.2:$JS_PORT, dialled, iron/packet/0\)"
check "every reply came from the C node's address to the iroh node's (no spoofed event)" \
	test "$(js_count ping '.event == "spoofed"')" -eq 0
echo "ping RTT iroh -> iron (iron/packet/0), 10 pings, the first with both handshakes:" \
	"min/median/max $(js_get ping '.event == "ping-done"' rtt_min_ms)/$(js_get ping '.event == "ping-done"' rtt_median_ms)/$(js_get ping '.event == "ping-done"' rtt_max_ms) ms"


# Again with iroh's frame log: iron's streams end cleanly. The receiver's
# empty FIN on iron's own stream is the protocol, not a reason for
# RESET_STREAM or STOP_SENDING (iron sent both until this test was written).
run_js trace j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn iron/packet/0 \
	--peer "$A@10.99.0.1:4766" --ping "$A" --count 5 --interval 100 --log Trace
check "with iroh's trace log on, 5/5 replies" test "$(js_get trace '.event == "ping-done"' received)" = 5
frames=$(js_frames trace "got frame STREAM id=client bidirectional stream [0-9]+ offset=0 len=104")
check "iroh's log shows iron's reply streams ($frames STREAM frames with a reply)" test "$frames" -ge 5
check "iron reset none of its streams (no RESET_STREAM or STOP_SENDING in iroh's log)" \
	test "$(js_frames trace "got frame (RESET_STREAM|STOP_SENDING)")" -eq 0

check "iron is still running" alive a

# Once more with every new client sent through a QUIC Retry first
# (IRON_QUIC_RETRY=always, what iron does from 64 half-open handshakes on):
# iroh's QUIC stack follows the Retry, and the handshake checks iron's
# original_destination_connection_id and retry_source_connection_id.
stop_iron a TERM
mv "$WORK/a.out" "$WORK/a.out.1"
IRON_QUIC_RETRY=always start_iron a || { not_ok "iron restarts with IRON_QUIC_RETRY=always"; finish; }
run_js retry j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn iron/packet/1 \
	--peer "$A@10.99.0.1:4766" --ping "$A" --count 5 --interval 100
rc=$?
received=$(js_get retry '.event == "ping-done"' received)
read -r retries invalid <<<"$(python3 "$INTEROP_DIR/../e2e/iron_status.py" "$WORK/a/iron.sock" \
	quic.retries_sent quic.retry_tokens_invalid | tr '\n' ' ')"
check "iroh -> iron through a Retry: ${received:-0}/5 replies (exit $rc), iron sent ${retries:-0} Retries" \
	test "$rc" -eq 0 -a "${received:-0}" -eq 5 -a "${retries:-0}" -ge 1
check "iron found the iroh client's Retry token good (${invalid:-?} invalid)" test "${invalid:-1}" -eq 0
check "iron accepted the iroh node's connection after the Retry" \
	log_has a "connected to ${J:0:10} \(10\.99\.0\.2:$JS_PORT, accepted, iron/packet/1\)"
check "iron is still running" alive a
finish
