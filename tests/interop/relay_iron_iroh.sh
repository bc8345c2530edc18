#!/bin/bash
# iron and real iroh 1.x nodes through `iron relay`, with no direct path
# (nftables drops everything between them): iron dials iroh nodes offering
# iron/packet/1 and iron/packet/0, and iroh nodes dial iron with each ALPN;
# ping echoes come back every time. Each side knows the other only as
# ID@relay-url.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping nft
need_iroh

make_ns a
make_ns j
make_ns r
link_star r a j
new_key a
new_key j1
new_key j0
new_key jd
A=$(node_id a)
J1=$(node_id j1)
J0=$(node_id j0)
RELAY=http://10.98.0.254:3340

cut_off a 10.98.0.2 fd00:98::2
check "no direct path between the iron node and the iroh nodes" \
	sh -c "! ip netns exec ${PREFIX}a ping -c 1 -W 1 10.98.0.2 >/dev/null"

ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 10 sh -c "ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping" ||
	{ not_ok "iron relay starts"; finish; }

start_js j1 j --key "$WORK/j1/secret.key" --bind "10.98.0.2:$JS_PORT" --alpn iron/packet/1 \
	--relay "$RELAY" --peer "$A@$RELAY" || { not_ok "iroh node (iron/packet/1) starts"; finish; }
start_js j0 j --key "$WORK/j0/secret.key" --bind "10.98.0.2:$((JS_PORT + 1))" --alpn iron/packet/0 \
	--relay "$RELAY" --peer "$A@$RELAY" || { not_ok "iroh node (iron/packet/0) starts"; finish; }
start_iron a --relay-url "$RELAY" --peer "$J1@$RELAY" --peer "$J0@$RELAY" || { not_ok "iron starts"; finish; }
check "iron connected to the relay" wait_for 10 sh -c \
	"$IRON status --state-dir $WORK/a -f json | jq -e '.relays[0].connected' >/dev/null"
# A packet for a node not (yet) on the relay is dropped there: wait until
# the two iroh nodes and iron are all its clients.
check "the relay has its three clients" wait_for 20 sh -c \
	"$IRON relay status --socket $WORK/relay.sock -f json | jq -e '.clients >= 3' >/dev/null"

n=$(ping_count a "$J1.iron" 10)
check "iron -> iroh (iron/packet/1) through the relay: ${n:-0}/10 replies" test "${n:-0}" -eq 10
check "... the iroh node accepted iron with iron/packet/1" \
	js_has j1 ".event == \"accepted\" and .peer == \"$A\" and .alpn == \"iron/packet/1\""
n=$(ping_count a "$J0.iron" 10)
check "iron -> iroh (iron/packet/0) through the relay: ${n:-0}/10 replies" test "${n:-0}" -eq 10
check "... the iroh node dialled back through the relay for its replies" \
	js_has j0 ".event == \"dialled\" and .peer == \"$A\" and .alpn == \"iron/packet/0\""
path=$("$IRON" status --state-dir "$WORK/a" -f json | jq -r --arg id "$J1" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"')
check "iron's status shows the relay path to the iroh node ($path)" test "$path" = "relay $RELAY"

for alpn in iron/packet/1 iron/packet/0; do
	run_js jd-${alpn##*/} j --key "$WORK/jd/secret.key" --bind "10.98.0.2:$((JS_PORT + 2))" \
		--alpn "$alpn" --relay "$RELAY" --peer "$A@$RELAY" --ping "$A" --count 5
	rc=$?
	check "iroh -> iron ($alpn) through the relay: every echo answered" test "$rc" -eq 0
done
check "iron is still running" alive a
sent=$("$IRON" status --state-dir "$WORK/a" -f json | jq '.relays[0].datagrams_sent')
check "iron sent through the relay (${sent:-0} datagrams)" test "${sent:-0}" -gt 20
finish
