#!/bin/bash
# Relay only: A and B reach R (the internet) but nftables drops everything
# between A and B. Each knows the other only as ID@relay-url: ping and curl
# by name both ways, 10 MiB by curl with equal SHA-256, `iron status`
# showing the relay path; then `iron relay` is killed and started again and
# both daemons reconnect on their own and traffic resumes.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping sha256sum jq nft

make_ns a
make_ns b
make_ns r
link_star r a b
new_key a
new_key b
A=$(node_id a)
B=$(node_id b)
RELAY=http://10.98.0.254:3340

# No packet of any kind between A and B.
cut_off a 10.98.0.2 fd00:98::2
check "A cannot reach B's address" sh -c "! ip netns exec ${PREFIX}a ping -c 1 -W 1 10.98.0.2 >/dev/null"

start_relay() {
	ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
		--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
	RELAY_PID=$!
	PIDS="$PIDS $RELAY_PID"
	wait_for 10 sh -c "ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping"
}
relay_connected() { # node
	"$IRON" status --state-dir "$WORK/$1" -f json | jq -e '.relays[0].connected == true and .relay != null' >/dev/null
}
path_of() { # node peer-id
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -r --arg id "$2" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"'
}

start_relay
check "iron relay answers /ping" true
start_iron a --relay-url "$RELAY" --peer "$B@$RELAY" || exit 1
start_iron b --relay-url "$RELAY" --peer "$A@$RELAY" || exit 1
check "A connected to the relay" wait_for 10 relay_connected a
check "B connected to the relay" wait_for 10 relay_connected b

check "ping -6 B.iron from A through the relay: 0% loss" ping_ok a "$B.iron" 10
check "ping -6 A.iron from B through the relay: 0% loss" ping_ok b "$A.iron" 10
p=$(path_of a "$B")
check "A's status shows the relay path to B ($p)" test "$p" = "relay $RELAY"
p=$(path_of b "$A")
check "B's status shows the relay path to A ($p)" test "$p" = "relay $RELAY"

mkdir -p "$WORK/www-a" "$WORK/www-b"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www-b/file"
echo "hello from A" >"$WORK/www-a/hello"
serve_http b "$WORK/www-b"
serve_http a "$WORK/www-a"
in_ns a curl -sS -g --max-time 60 -o "$WORK/got-from-b" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
check "10 MiB A<-B by curl by name, SHA-256 equal" test "$(sum_of "$WORK/got-from-b")" = "$(sum_of "$WORK/www-b/file")"
got=$(in_ns b curl -sS -g --max-time 20 "http://$A.iron:8000/hello" 2>>"$WORK/check.log")
check "curl B->A by name" test "$got" = "hello from A"
sent=$("$IRON" status --state-dir "$WORK/b" -f json | jq '.relays[0].bytes_sent')
check "B sent the file through the relay ($sent bytes)" test "${sent:-0}" -gt $((10 * 1024 * 1024))
"$IRON" relay status --socket "$WORK/relay.sock" >>"$WORK/check.log" 2>&1

# The relay goes away and comes back: both reconnect by themselves.
kill -KILL "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null
check "A notices the relay is gone" wait_for 25 sh -c "! $IRON status --state-dir $WORK/a -f json | jq -e '.relays[0].connected' >/dev/null"
start_relay
check "A reconnects to the restarted relay" wait_for 20 relay_connected a
check "B reconnects to the restarted relay" wait_for 20 relay_connected b
check "ping -6 B.iron from A after the relay restart" wait_for 20 ping_ok a "$B.iron" 3
check "ping -6 A.iron from B after the relay restart" ping_ok b "$A.iron" 3
connects=$("$IRON" status --state-dir "$WORK/a" -f json | jq '.relays[0].connects')
check "A connected to the relay twice ($connects)" test "$connects" = 2
finish
