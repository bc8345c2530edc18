#!/bin/bash
# Two real iroh 1.x endpoints (npm @number0/iroh) whose only relay is
# `iron relay` exchange data through it. Namespaces: r holds the relay, a
# and b one endpoint each, on links of their own to r (10.98.1.0/24,
# 10.98.2.0/24); r does not forward, so a and b reach each other only
# through the relay. a dials b at an address holding only the relay URL,
# sends 1 MiB on a stream, b answers its SHA-256.
. "$(dirname "$0")/lib.sh"

need_root
need_iroh
need_cmd curl

make_ns r
make_ns a
make_ns b
# link_r NAME N: a veth between r (10.98.N.1) and NAME (10.98.N.2), NAME's
# default route through r.
link_r() {
	ip link add "${PREFIX}r$1" netns "${PREFIX}r" type veth peer name "${PREFIX}$1" netns "$PREFIX$1"
	ip -n "${PREFIX}r" addr add "10.98.$2.1/24" dev "${PREFIX}r$1"
	ip -n "$PREFIX$1" addr add "10.98.$2.2/24" dev "${PREFIX}$1"
	ip -n "${PREFIX}r" link set "${PREFIX}r$1" up
	ip -n "$PREFIX$1" link set "${PREFIX}$1" up
	ip -n "$PREFIX$1" route add default via "10.98.$2.1"
	wait_for 5 ip netns exec "$PREFIX$1" ping -c 1 -W 1 "10.98.$2.1"
}
link_r a 1
link_r b 2
check "r does not forward (the relay is the only path)" \
	test "$(in_ns r sysctl -n net.ipv4.ip_forward)" = 0
check "a cannot reach b directly" sh -c "! ip netns exec ${PREFIX}a ping -c 1 -W 1 10.98.2.2"

SOCK="$WORK/relay.sock"
ip netns exec "${PREFIX}r" "$IRON" relay --listen '[::]:3340' --stun-listen none \
	--socket "$SOCK" 2>"$WORK/relay.log" &
RELAY_PID=$!
PIDS="$PIDS $RELAY_PID"
wait_for 10 grep -q '^iron relay ready' "$WORK/relay.log" || {
	cat "$WORK/relay.log"
	not_ok "iron relay did not come up"
	finish
}
URL=http://10.98.1.1:3340
check "b reaches the relay's /ping" ip netns exec "${PREFIX}b" curl -sf --max-time 5 "$URL/ping"

# b serves; its events go to $WORK/b.jsonl.
ip netns exec "${PREFIX}b" node --no-deprecation "$INTEROP_DIR/relay-peer.mjs" --relay "$URL" \
	--bind 10.98.2.2:7000 --serve >"$WORK/b.jsonl" 2>"$WORK/b.err" &
PIDS="$PIDS $!"
if wait_for 30 js_has b '.event == "online"'; then
	ok "b is online at the relay"
else
	not_ok "b is online at the relay"
	cat "$WORK/b.err" "$WORK/b.jsonl"
	finish
fi
B_ID=$(js_get b '.event == "ready"' id)

# a dials b through the relay and sends 1 MiB.
run_rc=0
ip netns exec "${PREFIX}a" timeout 60 node --no-deprecation "$INTEROP_DIR/relay-peer.mjs" \
	--relay "$URL" --bind 10.98.1.2:7000 --dial "$B_ID" --bytes 1048576 \
	>"$WORK/a.jsonl" 2>"$WORK/a.err" || run_rc=$?
[ "$run_rc" = 0 ] && ok "a's stream to b through the relay" ||
	{ not_ok "a's stream to b through the relay (exit $run_rc)"; cat "$WORK/a.err"; }
check "a got b's hash of the 1 MiB it sent" js_has a '.event == "sent" and .ok == true and .bytes == 1048576'
SHA=$(js_get a '.event == "sent"' sha256)
check "b received the same 1 MiB" js_has b ".event == \"received\" and .bytes == 1048576 and .sha256 == \"$SHA\""
check "a's only path is the relay" js_has a '.event == "sent" and (.paths | length > 0) and all(.paths[]; .relay == true or .selected == false)'

# relay_json FILTER: iron relay status -f json satisfies the jq FILTER.
relay_json() { "$IRON" relay status -f json --socket "$SOCK" | jq -e "$1"; }
check "iron relay status counted relayed datagrams" relay_json '.datagrams.relayed > 700 and .bytes_out > 1048576'
check "both iroh clients authenticated" relay_json '.auth.ok >= 2 and .auth.bad_signature == 0'
# a has gone: b is the one client left.
check "a's departure is seen" wait_for 10 relay_json '.clients == 1'
"$IRON" relay status --socket "$SOCK" >>"$WORK/check.log" 2>&1
check "the relay is still up" kill -0 "$RELAY_PID"
finish
