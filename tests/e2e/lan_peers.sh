#!/bin/bash
# Three daemons on one Linux bridge find each other on the LAN (mDNS, as
# iroh's local discovery) with no configuration at all (no address, relay,
# pkarr or DNS origin): each pings the other two by name on a "lan" path;
# dig reads a daemon's records (legacy unicast query to port 5353); a
# fourth node with --no-lan-discovery is neither found nor announced.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping jq dig

make_ns a
make_ns b
make_ns c
make_ns d
make_ns r
link_star r a b c d
for n in a b c d; do new_key $n; done
A=$(node_id a)
B=$(node_id b)
C=$(node_id c)
D=$(node_id d)

LAN=1 start_iron a || exit 1
LAN=1 start_iron b || exit 1
LAN=1 start_iron c || exit 1
start_iron d || exit 1 # LAN discovery off

sources_of() { # node peer-id
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -r --arg id "$2" '.peers[] | select(.id == $id) | [.paths[] | .source] | unique | join(",")'
}
heard() { test "$(sources_of "$1" "$2")" = lan; }
for pair in "a $B" "a $C" "b $A" "b $C" "c $A" "c $B"; do
	set -- $pair
	check "$1 hears $(echo "$2" | cut -c1-8) on the LAN" wait_for 10 heard "$1" "$2"
done
for pair in "a $B" "a $C" "b $A" "b $C" "c $A" "c $B"; do
	set -- $pair
	check "ping -6 $(echo "$2" | cut -c1-8).iron from $1: 0% loss" ping_ok "$1" "$2.iron" 3
done
path=$("$IRON" status --state-dir "$WORK/a" -f json | jq -r --arg id "$B" '.peers[] | select(.id == $id) | .path')
check "A's path to B is direct ($path)" test "$path" = direct
mkdir -p "$WORK/www-b"
echo "hello from B" >"$WORK/www-b/hello"
serve_http b "$WORK/www-b"
got=$(in_ns c curl -sS -g --max-time 20 "http://$B.iron:8000/hello" 2>>"$WORK/check.log")
check "curl C->B by name" test "$got" = "hello from B"
st=$("$IRON" status --state-dir "$WORK/a" -f json)
check "A's status: LAN on, nodes heard" sh -c "echo '$st' | jq -e '.discovery.lan and .discovery.lan_nodes_heard >= 2 and .discovery.lan_interfaces >= 1' >/dev/null"

# dig reads B's records: PTR, SRV to <id>-4766.local., its addresses.
dig_b() {
	ip netns exec "${PREFIX}a" dig @10.98.0.2 -p 5353 -t PTR _irohv1._udp.local \
		+norecurse +time=2 +tries=1 +noall +answer +additional >"$WORK/dig.out" 2>&1 &&
		grep -q SRV "$WORK/dig.out"
}
check "dig gets B's records from B's daemon" wait_for 10 dig_b
cat "$WORK/dig.out" >>"$WORK/check.log"
b32lower=$(echo "$B" | tr 'A-Z' 'a-z')
check "dig: SRV of B with port 4766" grep -Eq "SRV[[:space:]]+0 0 4766 $b32lower-4766\.local\.$" "$WORK/dig.out"
check "dig: B's address" grep -Eq "A[[:space:]]+10\.98\.0\.2$" "$WORK/dig.out"
check "dig: no parse warnings" sh -c "! grep -qi 'malformed\|warning' '$WORK/dig.out'"

check "A never heard D (LAN discovery off there)" test -z "$(sources_of a "$D")"
out=$("$IRON" ping --state-dir "$WORK/d" "$A" -c 1 -W 3 2>&1)
check "D cannot reach A by ID (nothing to look it up with)" sh -c "echo \"\$0\" | grep -q 'no address known'" "$out"
finish
