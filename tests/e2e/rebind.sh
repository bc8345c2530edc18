#!/bin/bash
# NAT rebinding in the middle of a connection. R is the internet
# (11.22.33.0/24); NA and NB are routers with a port forward for their node
# (A behind NA, B behind NB): the node's UDP port 4766 is reachable at
# <router>:4766, and what it sends from there leaves from that port too
# (SNAT), so each node has a static public endpoint. A dials B at
# 11.22.33.2:4766; B knows nothing of A beforehand. A rebinding moves a
# router's external port for its node (the forward and the SNAT) and
# drops its UDP conntrack entries, during a ping flood from A to B:
# - NA (the dialler's own NAT): B sees A's packets come from a new port and
#   follows (QUIC path validation): pings go on, same connection (no new
#   dial), the gap is reported.
# - NB (the accepting side), no relay: A's packets to the old port are
#   dropped; B's come from the new one (NA's forward lets them in: behind
#   a NAT that filters by port A could not hear B, and only a relay would
#   help). A takes the silence for a dead path and dials B again where
#   B's packets now come from: pings resume within 5 s.
# - NB again, both nodes with `iron relay` in R: A falls back to the relay
#   within 5 s (one fallback) and then goes direct again to B's new port.
# FLOOD_WAIT (s, default 10): how long a flood waits for pings to resume.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping jq nft conntrack awk
FLOOD_WAIT=${FLOOD_WAIT:-10}

. "$(dirname "$0")/lib_nat.sh"
nat_routers

# forward GW PORT: GW's node gets the public endpoint <GW's address>:PORT
# for its UDP port 4766 (in and out); everything else is masqueraded, and
# what arrives unasked for the router itself is dropped. The UDP conntrack
# entries go: the flows of the old mapping are rebound at their next
# packet.
forward() {
	local n=1
	[ "$1" = nb ] && n=2
	# One transaction: no packet passes between the old rules and the new.
	ip netns exec "$PREFIX$1" nft -f - <<EOF
table ip nat { }
delete table ip nat
table ip nat {
	chain pre { type nat hook prerouting priority -100; iifname "${PREFIX}w$n" udp dport $2 dnat to 192.168.$n.2:4766; }
	chain post { type nat hook postrouting priority 100; oifname "${PREFIX}w$n" ip saddr 192.168.$n.2 udp sport 4766 snat to 11.22.33.$n:$2; oifname "${PREFIX}w$n" masquerade; }
	chain input { type filter hook input priority 0; iifname "${PREFIX}w$n" ct state established,related accept; iifname "${PREFIX}w$n" drop; }
}
EOF
	ip netns exec "$PREFIX$1" conntrack -D -p udp >/dev/null 2>&1
	return 0
}
forward na 4766
forward nb 4766
check "A reaches R through NA" wait_for 5 in_ns a ping -c 1 -W 1 11.22.33.254
check "B reaches R through NB" wait_for 5 in_ns b ping -c 1 -W 1 11.22.33.254

new_key a
new_key b
A=$(node_id a)
B=$(node_id b)
counter() { status "$1" | jq ".peer_table.$2"; }

# flood NAME: pings from A to B every 20 ms, each reply timestamped, into
# $WORK/NAME.txt, until stopped (flood_end) or after FLOOD_WAIT + 5 s.
flood() {
	ip netns exec "${PREFIX}a" ping -6 -D -i 0.02 -W 1 -w $((FLOOD_WAIT + 5)) "$B.iron" \
		>"$WORK/$1.txt" 2>&1 &
	FLOOD=$!
	PIDS="$PIDS $FLOOD"
	wait_for 5 sh -c "[ \$(grep -c 'bytes from' $WORK/$1.txt) -ge 10 ]"
}
# replies_after NAME T: the replies in flood NAME timestamped after T.
replies_after() {
	awk -F'[][]' -v t="$2" '/bytes from/ && $2 + 0 > t + 0 { n++ } END { print n + 0 }' "$WORK/$1.txt"
}
resumed() { [ "$(replies_after "$1" "$2")" -ge 25 ]; }
# flood_end NAME T: waits up to FLOOD_WAIT s for 25 replies after T (just
# after the rebinding), stops the flood and sets GAP_MS to the longest time without
# a reply from the last one before T on (to the end of the wait when none
# came after T) and LOST to the pings never answered.
flood_end() {
	wait_for "$FLOOD_WAIT" resumed "$1" "$2"
	local end
	end=$(date +%s.%N)
	kill -INT "$FLOOD" 2>/dev/null
	wait "$FLOOD" 2>/dev/null
	GAP_MS=$(awk -F'[][]' -v t="$2" -v end="$end" '
		/bytes from/ { ts = $2 + 0; if (ts <= t + 0) { last = ts; next }
			if (ts - last > gap) gap = ts - last; last = ts; after++ }
		END { if (!after) gap = end - last; printf "%d", gap * 1000 }' "$WORK/$1.txt")
	LOST=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$WORK/$1.txt" |
		awk '{ print $1 - $2 }')
	RESUMED=$(replies_after "$1" "$2")
}
# report WHAT: the gap, in words.
report() {
	if [ "$RESUMED" -gt 0 ]; then
		echo "$1: longest gap ${GAP_MS} ms, $LOST pings lost" | tee -a "$WORK/check.log"
	else
		echo "$1: no recovery within $FLOOD_WAIT s" | tee -a "$WORK/check.log"
	fi
}

# --- A's own NAT rebinds ------------------------------------------------------
start_iron a --peer "$B@11.22.33.2:4766" || exit 1
start_iron b || exit 1
check "ping -6 B.iron from A through both routers" wait_for 15 ping_ok a "$B.iron" 5
dials=$(counter a dials)
flood own
forward na 40000
t=$(date +%s.%N)
flood_end own "$t"
report "NA rebinds A's port 4766 -> 40000"
check "pings go on after A's own NAT rebinds (gap ${GAP_MS} ms, at most 2000)" \
	test "$RESUMED" -ge 25 -a "$GAP_MS" -le 2000
check "the same connection: no new dial ($dials -> $(counter a dials))" test "$(counter a dials)" = "$dials"
p=$(status b | jq -r --arg id "$A" '.peers[] | select(.id == $id) | .remote')
check "B sends to A's new port ($p)" test "$p" = "11.22.33.1:40000"

# --- B's NAT rebinds, no relay ------------------------------------------------
flood far
forward nb 5766
t=$(date +%s.%N)
flood_end far "$t"
report "NB rebinds B's port 4766 -> 5766, no relay"
check "pings resume within 5 s after the far side's NAT rebinds (gap ${GAP_MS} ms)" \
	test "$RESUMED" -ge 25 -a "$GAP_MS" -le 5000
check "A dialled again, once ($(counter a redials) redials)" test "$(counter a redials)" = 1
check "A's path to B is its new port ($(path_of a "$B"))" test "$(path_of a "$B")" = "direct 11.22.33.2:5766"
stop_iron a
stop_iron b

# --- B's NAT rebinds, with a relay --------------------------------------------
forward na 4766
forward nb 4766
RELAY=http://11.22.33.254:3340
ip netns exec "${PREFIX}r" "$IRON" relay --listen 11.22.33.254:3340 --stun-listen 11.22.33.254:3478 \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
check "the relay is up" wait_for 10 in_ns a curl -fsS -o /dev/null "$RELAY/ping"
cat >"$WORK/a.conf" <<EOF
[Peer]
ID = $B
Relay = $RELAY
Endpoint = 11.22.33.2:4766
EOF
start_iron a --relay-url "$RELAY" --config "$WORK/a.conf" || exit 1
start_iron b --relay-url "$RELAY" || exit 1
relay_up() { status a | jq -e '.relays[0].connected' && status b | jq -e '.relays[0].connected'; }
check "A and B are connected to the relay" wait_for 10 relay_up
check "ping -6 B.iron from A" wait_for 15 ping_ok a "$B.iron" 5
check "A's path to B goes direct" wait_for 10 path_is a "$B" direct
fallbacks=$(counter a fallbacks)
flood relay
forward nb 6766
t=$(date +%s.%N)
t_ns=$(date +%s%N)
flood_end relay "$t"
report "NB rebinds B's port 4766 -> 6766, with a relay"
check "pings resume within 5 s, by the relay or directly (gap ${GAP_MS} ms)" \
	test "$RESUMED" -ge 25 -a "$GAP_MS" -le 5000
check "one fallback to the relay ($fallbacks -> $(counter a fallbacks))" \
	test "$(counter a fallbacks)" = $((fallbacks + 1))
path_exactly() { [ "$(path_of a "$B")" = "$1" ]; }
if wait_for "${DIRECT_WAIT:-10}" path_exactly "direct 11.22.33.2:6766"; then
	ms=$((($(date +%s%N) - t_ns) / 1000000))
	echo "direct again to B's new port ${ms} ms after the rebinding" | tee -a "$WORK/check.log"
	ok "then direct again, to B's new port ($ms ms)"
else
	echo "not direct again within ${DIRECT_WAIT:-10} s: $(path_of a "$B")" | tee -a "$WORK/check.log"
	not_ok "then direct again, to B's new port"
fi
finish
