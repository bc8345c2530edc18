#!/bin/bash
# Two daemons on one link find each other on the LAN (mDNS, as iroh's local
# discovery) with no address, relay, pkarr or DNS configured: ping and
# curl by name both ways on a "lan" path; a third node with
# --no-lan-discovery is neither found nor announced.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping jq

make_ns a
make_ns b
make_ns c
make_ns r
link_star r a b c
new_key a
new_key b
new_key c
A=$(node_id a)
B=$(node_id b)
C=$(node_id c)

LAN=1 start_iron a || exit 1
LAN=1 start_iron b || exit 1
start_iron c || exit 1 # LAN discovery off

source_of() { # node peer-id
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -r --arg id "$2" '.peers[] | select(.id == $id) | [.paths[] | .source] | unique | join(",")'
}
heard() { test "$(source_of "$1" "$2")" = lan; }
check "A hears B on the LAN" wait_for 10 heard a "$B"
check "B hears A on the LAN" wait_for 10 heard b "$A"
check "ping -6 B.iron from A: 0% loss" ping_ok a "$B.iron" 5
check "ping -6 A.iron from B: 0% loss" ping_ok b "$A.iron" 5
path=$("$IRON" status --state-dir "$WORK/a" -f json | jq -r --arg id "$B" '.peers[] | select(.id == $id) | .path')
check "A's path to B is direct ($path)" test "$path" = direct
echo "hello from B" >"$WORK/hello"
mkdir -p "$WORK/www-b" && mv "$WORK/hello" "$WORK/www-b/"
serve_http b "$WORK/www-b"
got=$(in_ns a curl -sS -g --max-time 20 "http://$B.iron:8000/hello" 2>>"$WORK/check.log")
check "curl A->B by name" test "$got" = "hello from B"
st=$("$IRON" status --state-dir "$WORK/a" -f json)
check "A's status: LAN on, nodes heard" sh -c "echo '$st' | jq -e '.discovery.lan and .discovery.lan_nodes_heard >= 1 and .discovery.lan_interfaces >= 1' >/dev/null"
check "A never heard C (LAN discovery off there)" test -z "$(source_of a "$C")"
out=$("$IRON" ping --state-dir "$WORK/c" "$A" -c 1 -W 3 2>&1)
check "C cannot reach A by ID (nothing to look it up with)" sh -c "echo \"\$0\" | grep -q 'no address known'" "$out"
finish
