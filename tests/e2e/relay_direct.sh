#!/bin/bash
# Relay -> direct -> relay, on one connection. A knows B only through the
# relay and dials it there; then B's direct address becomes known (added to
# A's config file, SIGHUP): the same connection moves to UDP with no ping
# of a flood lost, and the relay carries nothing more. Then the direct
# path is cut during a TCP transfer: traffic falls back to the relay
# within 3 s and the transfer completes with equal SHA-256; when the cut
# ends, the connection goes direct again.
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

ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 10 sh -c "ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping"

status() { # node
	"$IRON" status --state-dir "$WORK/$1" -f json
}
path_of() { # node peer-id
	status "$1" | jq -r --arg id "$2" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"'
}
path_is() { # node peer-id kind
	[ "$(path_of "$1" "$2" | cut -d' ' -f1)" = "$3" ]
}
relay_sent() { # node
	status "$1" | jq '.relays[0].datagrams_sent'
}
counter() { # node name
	status "$1" | jq ".peer_table.$2"
}

cat >"$WORK/a.conf" <<EOF
[Peer]
ID = $B
Relay = $RELAY
EOF
# B has no peer configured: it learns A from A's connection, so A is the
# dialling side, the one that moves the connection.
start_iron a --relay-url "$RELAY" --config "$WORK/a.conf" || exit 1
printf '[Interface]\nRelay = %s\n' "$RELAY" >"$WORK/b.conf"
RELAYS_FROM_CONFIG=1 start_iron b --config "$WORK/b.conf" || exit 1
check "A and B connected to the relay" wait_for 10 sh -c \
	"$IRON status --state-dir $WORK/a -f json | jq -e '.relays[0].connected' &&
	 $IRON status --state-dir $WORK/b -f json | jq -e '.relays[0].connected'"

# No direct path at first: B's candidates (its interface addresses) cannot
# be punched through.
cut_off a 10.98.0.2 fd00:98::2
check "ping -6 B.iron from A through the relay" ping_ok a "$B.iron" 5
check "A's path to B is the relay ($(path_of a "$B"))" path_is a "$B" relay

# The flood runs while the direct address becomes known.
ip netns exec "${PREFIX}a" ping -6 -c 800 -i 0.005 -W 2 "$B.iron" >"$WORK/flood.txt" 2>&1 &
FLOOD=$!
wait_for 5 sh -c "[ \$(wc -l <$WORK/flood.txt) -gt 20 ]"
ip netns exec "${PREFIX}a" nft delete table inet cut
cat >>"$WORK/a.conf" <<EOF
Endpoint = 10.98.0.2:4766
EOF
kill -HUP "$PID_a"
check "A moves the connection to B's direct address" wait_for 10 path_is a "$B" direct
wait "$FLOOD"
tail -3 "$WORK/flood.txt" >>"$WORK/check.log"
check "no ping of the flood lost during the move ($(grep -o '[0-9.]*% packet loss' "$WORK/flood.txt"))" \
	grep -q ' 0% packet loss' "$WORK/flood.txt"
# B's address, the configured one or one of its candidates (the cut is
# lifted just before the SIGHUP, and a punch retry may get there first).
p=$(path_of a "$B")
check "A's path is $p" sh -c "test '$p' = 'direct 10.98.0.2:4766' -o '$p' = 'direct [fd00:98::2]:4766'"
check "still the one dial, one migration (dials $(counter a dials), migrations $(counter a migrations))" \
	test "$(counter a dials)" = 1 -a "$(counter a migrations)" = 1
before=$(relay_sent a)
check "ping after the move" ping_ok a "$B.iron" 20
after=$(relay_sent a)
check "the relay carries nothing more from A ($before -> $after datagrams)" test "$before" = "$after"

# A TCP transfer through the tunnel; the direct path dies in the middle.
mkdir -p "$WORK/www"
head -c $((6 * 1024 * 1024)) /dev/urandom >"$WORK/www/file"
serve_http b "$WORK/www"
ip netns exec "${PREFIX}a" curl -sS -g --max-time 60 --limit-rate 1M -o "$WORK/got" \
	"http://$B.iron:8000/file" 2>>"$WORK/check.log" &
CURL=$!
wait_for 10 sh -c "[ -s $WORK/got ] && [ \$(stat -c %s $WORK/got) -gt 1000000 ]"
# Pings keep packets going both ways whatever the transfer's pace.
ip netns exec "${PREFIX}a" ping -6 -c 200 -i 0.05 -W 1 "$B.iron" >"$WORK/during-cut.txt" 2>&1 &
PING=$!
cut_off a 10.98.0.2 fd00:98::2
cut_at=$(date +%s%N)
ms=999999
while [ $((($(date +%s%N) - cut_at) / 1000000)) -lt 6000 ]; do
	if path_is a "$B" relay; then
		ms=$((($(date +%s%N) - cut_at) / 1000000))
		break
	fi
	sleep 0.05
done
check "traffic falls back to the relay within 3 s (${ms} ms)" test "$ms" -le 3000
wait "$CURL"
wait "$PING"
check "the TCP transfer survived, SHA-256 equal" test "$(sum_of "$WORK/got")" = "$(sum_of "$WORK/www/file")"
check "one fallback counted ($(counter a fallbacks))" test "$(counter a fallbacks)" = 1
check "still one dial ($(counter a dials))" test "$(counter a dials)" = 1
check "ping through the relay after the fallback" ping_ok a "$B.iron" 5
# The direct path comes back: so does the connection (the penalised path
# is tried again with backoff).
ip netns exec "${PREFIX}a" nft delete table inet cut
back_at=$(date +%s%N)
check "restored: the connection is direct again" wait_for 30 path_is a "$B" direct
echo "back to direct $((($(date +%s%N) - back_at) / 1000000)) ms after the cut ended" | tee -a "$WORK/check.log"
check "still one dial ($(counter a dials))" test "$(counter a dials)" = 1
check "ping on the direct path" ping_ok a "$B.iron" 5

# SIGHUP applies a changed relay map: a second relay joins, then the
# first leaves.
RELAY2=http://10.98.0.254:3341
ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3341 --stun-listen none \
	--socket "$WORK/relay2.sock" >>"$WORK/relay2.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 10 sh -c "ip netns exec ${PREFIX}b curl -fsS -o /dev/null $RELAY2/ping"
relays_are() { # node connected-only(true|false) URL...
	local node=$1 filter=$2
	shift 2
	[ "$(status "$node" | jq -r --argjson c "$filter" \
		'[.relays[] | select(.connected or ($c | not)) | .url] | join(" ")')" = "$*" ]
}
printf '[Interface]\nRelay = %s\nRelay = %s\n' "$RELAY" "$RELAY2" >"$WORK/b.conf"
kill -HUP "$PID_b"
check "SIGHUP: B connects to the added relay too" wait_for 10 relays_are b true "$RELAY" "$RELAY2"
printf '[Interface]\nRelay = %s\n' "$RELAY2" >"$WORK/b.conf"
kill -HUP "$PID_b"
check "SIGHUP: B leaves the removed relay" wait_for 10 relays_are b false "$RELAY2"
finish
