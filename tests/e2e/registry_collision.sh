#!/bin/bash
# Registry poisoning through an address collision (issue 15, item 5). An
# overlay address holds only the last 8 bytes of an ID, so anyone makes an
# ID with B's address in microseconds (tests/tools/idcollide), and one DNS
# query for its name on A inserts it. Before the fix the first entry won:
# B's own connection could not take its address back, so A's replies to B
# went to the forged ID (B -> A pings lost), and the forged ID was saved
# to known_peers.json and came back after a restart. Now the name is only
# tentative: B's handshake takes the address back, pings work both ways,
# the forged ID is not saved, and after a restart a new query for it
# changes nothing.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping getent
COLLIDE=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/idcollide
[ -x "$COLLIDE" ] || skip "needs tests/tools/idcollide (build it)"

make_pair
FORGED=$("$COLLIDE" "$B" 3)
F1=$(echo "$FORGED" | sed -n 1p)
F2=$(echo "$FORGED" | sed -n 2p)
F3=$(echo "$FORGED" | sed -n 3p)
F1_IP=$("$IRON" convert "$F1" --to ipv6)
echo "B $B ($B_IP); forged $F1 ($F1_IP)"

# A knows nobody; B has A as a static peer and dials it when it sends.
start_iron a || exit 1
# The attack, before B ever connected: a local user asks A's DNS.
check "the forged name resolves on A to B's address" sh -c \
	"ip netns exec ${PREFIX}a getent ahostsv6 $F1.iron | grep -qi '^$B_IP '"
start_iron b --peer "$A@10.99.0.1:4766" || exit 1

check "B -> A pings after the attack" ping_ok b "$A.iron" 3
check "A -> B pings after the attack" ping_ok a "$B.iron" 3
# More names for B's address, now that B is authenticated: no effect.
in_ns a getent ahostsv6 "$F2.iron" >/dev/null
in_ns a getent ahostsv6 "$F3.iron" >/dev/null
check "B -> A pings after more forged names" ping_ok b "$A.iron" 3
check "A -> B pings after more forged names" ping_ok a "$B.iron" 3
check "A logs that B took its address back" grep -q "now belongs to $B (authenticated)" "$WORK/a.log"

stop_iron a || exit 1
check "known_peers.json holds B" grep -q "\"$B\"" "$WORK/a/known_peers.json"
check "known_peers.json holds no forged ID" sh -c \
	"! grep -Eq '$F1|$F2|$F3' '$WORK/a/known_peers.json'"
start_iron a || exit 1
# Right after the restart, before B is back: the cache entry outranks a name.
in_ns a getent ahostsv6 "$F1.iron" >/dev/null
check "B -> A pings after A's restart" wait_for 10 ping_ok b "$A.iron" 3
check "A -> B pings after A's restart" ping_ok a "$B.iron" 3
finish
