#!/bin/bash
# Relay slots are reused: A keeps only 4 slots for peers seen through
# relays (IRON_RELAY_SLOTS=4, for tests; 8192 otherwise). 20 throwaway keys
# each send A one relayed datagram, which fills the slots with strangers;
# then B, which reaches A only through the relay, still gets through (it
# takes a stranger's slot), and keeps its slot through a second flood
# once its handshake made it known. Before slots were reused, B's
# datagrams were dropped (relay_received_dropped) for the daemon's life.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd jq nft ping

RELAYC=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/relayc
[ -x "$RELAYC" ] || {
	echo "relayc not built: $RELAYC"
	exit 1
}

make_ns a
make_ns b
make_ns r
link_star r a b
new_key a
new_key b
A=$(node_id a)
B=$(node_id b)
RELAY=http://10.98.0.254:3340

cut_off a 10.98.0.2 fd00:98::2
ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
check "iron relay answers /ping" wait_for 10 sh -c "ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping"

transport() { # node field
	"$IRON" status --state-dir "$WORK/$1" -f json | jq -r ".transport.$2"
}
relay_connected() { # node
	"$IRON" status --state-dir "$WORK/$1" -f json | jq -e '.relays[0].connected == true' >/dev/null
}

# A knows nobody: B's slot in A is a stranger's until the handshake.
IRON_RELAY_SLOTS=4 start_iron a --relay-url "$RELAY" || exit 1
start_iron b --relay-url "$RELAY" --peer "$A@$RELAY" || exit 1
check "A connected to the relay" wait_for 10 relay_connected a
check "B connected to the relay" wait_for 10 relay_connected b

A_HEX=$("$IRON" convert "$A" --to hex)
spray() {
	ip netns exec "${PREFIX}r" "$RELAYC" 10.98.0.254:3340 --timeout 20 spray "$A_HEX" 20 >"$WORK/spray.out" 2>&1
}
check "20 throwaway keys each sent A a relayed datagram" spray
check "A's 4 slots were handed round: reused >= 16" wait_for 10 sh -c "test \$('$IRON' status --state-dir '$WORK/a' -f json | jq -r .transport.relay_slots_reused) -ge 16"
echo "after the flood: used $(transport a relay_slots_used), reused $(transport a relay_slots_reused), dropped $(transport a relay_received_dropped)"
check "A holds at most 4 slots" test "$(transport a relay_slots_used)" -le 4

check "B pings A through the relay after the flood" ping_ok b "$A.iron" 5
check "A pings B back" ping_ok a "$B.iron" 5

check "a second flood of the same 20 keys" spray
check "B kept its slot: ping still works" ping_ok b "$A.iron" 5
check "no datagram went to a slot that changed hands" test "$(transport a relay_slot_stale)" -eq 0
echo "after the second flood: used $(transport a relay_slots_used), reused $(transport a relay_slots_reused), dropped $(transport a relay_received_dropped)"
finish
