#!/bin/bash
# iron dials a real iroh 1.x node through `iron relay` (knowing only
# ID@relay-url), then learns the node's direct address (config file,
# SIGHUP): the same connection moves to UDP (QUIC path migration, iroh
# validating the new path as the server) and pings keep flowing, with one
# dial and one migration.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping
need_iroh

make_ns a
make_ns j
make_ns r
link_star r a j
new_key a
new_key j
A=$(node_id a)
J=$(node_id j)
RELAY=http://10.98.0.254:3340

ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 10 sh -c "ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping" ||
	{ not_ok "iron relay starts"; finish; }

status() { "$IRON" status --state-dir "$WORK/a" -f json; }
path_of() { status | jq -r --arg id "$J" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"'; }
path_is() { [ "$(path_of | cut -d' ' -f1)" = "$1" ]; }
counter() { status | jq ".peer_table.$1"; }

start_js j j --key "$WORK/j/secret.key" --bind "10.98.0.2:$JS_PORT" --alpn iron/packet/1 \
	--relay "$RELAY" || { not_ok "iroh node starts"; finish; }
printf '[Peer]\nID = %s\nRelay = %s\n' "$J" "$RELAY" >"$WORK/a.conf"
start_iron a --relay-url "$RELAY" --config "$WORK/a.conf" || { not_ok "iron starts"; finish; }
check "the relay has both clients" wait_for 20 sh -c \
	"$IRON relay status --socket $WORK/relay.sock -f json | jq -e '.clients >= 2' >/dev/null"

n=$(ping_count a "$J.iron" 5)
check "iron -> iroh through the relay: ${n:-0}/5 replies" test "${n:-0}" -eq 5
check "iron's path to the iroh node is the relay ($(path_of))" path_is relay

ip netns exec "${PREFIX}a" ping -6 -c 400 -i 0.01 -W 2 "$J.iron" >"$WORK/flood.txt" 2>&1 &
FLOOD=$!
wait_for 5 sh -c "[ \$(wc -l <$WORK/flood.txt) -gt 20 ]"
printf 'Endpoint = 10.98.0.2:%s\n' "$JS_PORT" >>"$WORK/a.conf"
kill -HUP "$PID_a"
check "iron moves the connection to the iroh node's address" wait_for 10 path_is direct
wait "$FLOOD"
loss=$(grep -o '[0-9.]*% packet loss' "$WORK/flood.txt")
echo "flood during the move: $loss" | tee -a "$WORK/check.log"
check "pings of the flood lost during the move: $loss (at most 1%)" sh -c \
	"grep -Eq ' (0|0\.[0-9]+|1)% packet loss' $WORK/flood.txt"
check "path is $(path_of)" test "$(path_of)" = "direct 10.98.0.2:$JS_PORT"
check "one dial, one migration (dials $(counter dials), migrations $(counter migrations))" \
	test "$(counter dials)" = 1 -a "$(counter migrations)" = 1
before=$(status | jq -c '.relays[0] | [.datagrams_sent, .datagrams_received]')
n=$(ping_count a "$J.iron" 10)
check "iron -> iroh after the move: ${n:-0}/10 replies" test "${n:-0}" -eq 10
after=$(status | jq -c '.relays[0] | [.datagrams_sent, .datagrams_received]')
check "the relay carries nothing more either way (sent, received: $before -> $after)" test "$before" = "$after"
n=$(js_count j '.event == "accepted"')
check "the iroh node accepted one connection only ($n)" test "$n" = 1
finish
