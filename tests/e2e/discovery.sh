#!/bin/bash
# Reach a node by its ID alone. R stands for the internet: `iron relay` and
# `iron dns-server` (pkarr relay + authoritative DNS for dns.iroh.link, the
# default origin), and it is the first nameserver of every namespace's
# resolv.conf (iron's in-tunnel DNS, for .iron names, the second: R
# refuses what is not its zone, and the resolver moves on).
# - A and B are started with only --relay-url and --pkarr-url (LAN
#   discovery off, so that it cannot find them first): B looks up by DNS
#   and pkarr GET; A -> B ends on the direct path; ping and curl by name
#   both ways.
# - C (--pkarr-url none: DNS lookups only, publishes nothing) cannot reach
#   B directly (nftables): C -> B by ID through the relay; ping and curl
#   both ways.
# - iron resolve --addr shows what each source finds.
# - A node that never published: `iron ping` says so, and ping -6 gets
#   ICMPv6 unreachable within a few seconds.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping sha256sum jq nft dig

make_ns a
make_ns b
make_ns c
make_ns r
link_star r a b c
new_key a
new_key b
new_key c
new_key nobody
A=$(node_id a)
B=$(node_id b)
C=$(node_id c)
NOBODY=$(node_id nobody)
RELAY=http://10.98.0.254:3340
PKARR=http://10.98.0.254:8080/pkarr
ORIGIN=dns.iroh.link

# z32 NODE: the node's ID in z-base-32, as pkarr and the DNS name have it.
z32() {
	"$IRON" self --state-dir "$WORK/$1" --hex | python3 -c '
import sys
b = bytes.fromhex(sys.stdin.read().strip())
a = "ybndrfg8ejkmcpqxot1uwisza345h769"
n = int.from_bytes(b, "big") << 4  # 256 bits -> 52 groups of 5
print("".join(a[(n >> (5 * (51 - i))) & 31] for i in range(52)))'
}

for n in a b c; do
	printf 'nameserver 10.98.0.254\nnameserver fd69:726f:0:1::53\n' >"/etc/netns/$PREFIX$n/resolv.conf"
done

ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
ip netns exec "${PREFIX}r" "$IRON" dns-server --listen 10.98.0.254:8080 \
	--dns-listen 10.98.0.254:53 --origin "$ORIGIN" --db "$WORK/records.db" \
	--socket "$WORK/dns-server.sock" >>"$WORK/dns-server.log" 2>&1 &
PIDS="$PIDS $!"
check "iron relay is up" wait_for 10 sh -c "ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping"
check "iron dns-server is up" wait_for 10 sh -c \
	"ip netns exec ${PREFIX}a curl -fsS -o /dev/null http://10.98.0.254:8080/healthcheck"

DISCOVERY=1 start_iron a --relay-url "$RELAY" --pkarr-url "$PKARR" --no-lan-discovery || exit 1
DISCOVERY=1 start_iron b --relay-url "$RELAY" --pkarr-url "$PKARR" --no-lan-discovery || exit 1

published() { # node: its record is in the dns-server with its relay
	in_ns a dig +short +tries=1 +time=2 @10.98.0.254 TXT "_iroh.$(z32 "$1").$ORIGIN" |
		grep -q "relay=$RELAY/"
}
check "B's record is published (relay and addresses)" wait_for 15 published b ||
	{
		tail -5 "$WORK/b.log"
		net_diag b r
		# Is it iron, or can nothing in B reach R?
		in_ns b ping -c 1 -W 1 10.98.0.254 >/dev/null && echo "B's namespace: ping R ok" || echo "B's namespace: ping R FAILED"
		in_ns b curl -fsS -m 3 -o /dev/null http://10.98.0.254:8080/healthcheck && echo "B's namespace: curl R ok" || echo "B's namespace: curl R FAILED"
		net_diag b r
	}
check "A's record is published" wait_for 15 published a
txt=$(in_ns a dig +short @10.98.0.254 TXT "_iroh.$(z32 b).$ORIGIN" | tr '\n' ' ')
echo "B's record: $txt" >>"$WORK/check.log"
check "B's record has its direct address 10.98.0.2:4766" sh -c "echo '$txt' | grep -q 'addr=10.98.0.2:4766'"
check "B's record leaves out loopback and the overlay" sh -c "! echo '$txt' | grep -Eq 'addr=(127\.|\[::1\]|\[fd69:726f)'"
st=$("$IRON" status --state-dir "$WORK/b" -f json)
check "B's status: discovery published, no failure" sh -c "echo '$st' | jq -e '.discovery.publishes >= 1 and .discovery.published.relay == \"$RELAY\" and .discovery.dns_origin == \"$ORIGIN\"' >/dev/null"

# A new address on B (on a veth pair of its own): rtnetlink tells B at
# once, not at its next check.
changes() { "$IRON" status --state-dir "$WORK/b" -f json | jq '.discovery.network_changes'; }
changed_since() { [ "$(changes)" -gt "$1" ]; }
has_addr() { "$IRON" status --state-dir "$WORK/b" -f json | jq -e --arg x "$1" '.discovery.published.addrs | index($x) != null' >/dev/null; }
no_addr() { ! has_addr "$1"; }
before=$(changes)
ip -n "${PREFIX}b" link add dummy0 type veth peer name dummy1
ip -n "${PREFIX}b" addr add 10.200.0.2/32 dev dummy0
ip -n "${PREFIX}b" link set dummy0 up
ip -n "${PREFIX}b" link set dummy1 up
check "B hears of its new address (rtnetlink)" wait_for 5 changed_since "$before"
check "... and publishes it" wait_for 5 has_addr 10.200.0.2:4766
ip -n "${PREFIX}b" link del dummy0
check "... and drops it when it goes (network changes: $before -> $(changes))" wait_for 5 no_addr 10.200.0.2:4766

# --- iron resolve --addr: what a lookup finds, by each source ---------------
out=$(in_ns a "$IRON" resolve --addr "$B" --pkarr-url "$PKARR" --dns-origin "$ORIGIN" -f json 2>&1)
echo "resolve --addr B: $out" >>"$WORK/check.log"
check "resolve --addr B: found by DNS and by pkarr" sh -c "echo '$out' | jq -e '.found and ([.records[].source] | sort) == [\"dns\", \"pkarr\"]' >/dev/null"
check "resolve --addr B: its relay and address" sh -c "echo '$out' | jq -e '[.records[] | select(.relay == \"$RELAY/\" and (.addrs | index(\"10.98.0.2:4766\")))] | length == 2' >/dev/null"
out=$(in_ns a "$IRON" resolve --addr "$B.iron" --pkarr-url "$PKARR" --dns-origin none 2>&1)
check "resolve --addr, text: the pkarr relay path" sh -c "echo \"\$0\" | grep -q '^pkarr   addr  10.98.0.2:4766'" "$out"
in_ns a "$IRON" resolve --addr "$NOBODY" --pkarr-url "$PKARR" --dns-origin "$ORIGIN" >"$WORK/resolve.out" 2>&1
rc=$?
check "resolve --addr of an unpublished node: exit 1, says so" sh -c "test $rc = 1 && grep -q 'no record published' '$WORK/resolve.out'"

# --- A -> B by ID, then the direct path ------------------------------------
t0=$(date +%s%N)
check "ping -6 B.iron from A, B found by ID: 0% loss" ping_ok a "$B.iron" 5
t1=$(date +%s%N)
echo "first ping A->B by ID alone: $(((t1 - t0) / 1000000)) ms (5 pings)" | tee -a "$WORK/check.log"
path_of() { # node peer-id
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -r --arg id "$2" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"'
}
source_of() { # node peer-id
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -r --arg id "$2" '.peers[] | select(.id == $id) | [.paths[] | select(.active) | .source][0]'
}
path_is() { test "$(path_of "$1" "$2")" = "$3"; }
check "A's path to B is direct, to 10.98.0.2:4766" wait_for 5 path_is a "$B" "direct 10.98.0.2:4766"
echo "A's path to B: $(path_of a "$B")" >>"$WORK/check.log"
src=$(source_of a "$B")
check "A found that path by discovery ($src)" test "$src" = discovered
check "A looked B up ($("$IRON" status --state-dir "$WORK/a" -f json | jq -c '.discovery | {lookups, lookups_found}'))" \
	sh -c "$IRON status --state-dir $WORK/a -f json | jq -e '.discovery.lookups >= 1 and .discovery.lookups_found >= 1' >/dev/null"
check "ping -6 A.iron from B: 0% loss" ping_ok b "$A.iron" 5

mkdir -p "$WORK/www-a" "$WORK/www-b" "$WORK/www-c"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$WORK/www-b/file"
echo "hello from A" >"$WORK/www-a/hello"
echo "hello from C" >"$WORK/www-c/hello"
serve_http a "$WORK/www-a"
serve_http b "$WORK/www-b"
serve_http c "$WORK/www-c"
in_ns a curl -sS -g --max-time 30 -o "$WORK/a-got" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
check "4 MiB A<-B by curl by name, SHA-256 equal" test "$(sum_of "$WORK/a-got")" = "$(sum_of "$WORK/www-b/file")"
got=$(in_ns b curl -sS -g --max-time 20 "http://$A.iron:8000/hello" 2>>"$WORK/check.log")
check "curl B->A by name" test "$got" = "hello from A"

# --- C -> B by ID through the relay (no direct path), DNS lookups only ------
cut_off c 10.98.0.2 fd00:98::2
DISCOVERY=1 start_iron c --relay-url "$RELAY" --pkarr-url none --no-lan-discovery || exit 1
check "ping -6 B.iron from C, B found by DNS: 0% loss" wait_for 10 ping_ok c "$B.iron" 3
check "C's path to B is the relay ($(path_of c "$B"))" test "$(path_of c "$B")" = "relay $RELAY"
src=$(source_of c "$B")
check "C found the relay path by discovery ($src)" test "$src" = discovered
check "ping -6 C.iron from B: 0% loss" ping_ok b "$C.iron" 5
in_ns c curl -sS -g --max-time 30 -o "$WORK/c-got" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
check "4 MiB C<-B through the relay, SHA-256 equal" test "$(sum_of "$WORK/c-got")" = "$(sum_of "$WORK/www-b/file")"
got=$(in_ns b curl -sS -g --max-time 20 "http://$C.iron:8000/hello" 2>>"$WORK/check.log")
check "curl B->C by name" test "$got" = "hello from C"
st=$("$IRON" status --state-dir "$WORK/c" -f json)
check "C publishes nothing (no pkarr URL)" sh -c "echo '$st' | jq -e '.discovery.publishes == 0 and .discovery.pkarr_url == null' >/dev/null"

# --- a node that published nothing -----------------------------------------
t0=$(date +%s%N)
out=$("$IRON" ping --state-dir "$WORK/a" "$NOBODY" -c 1 -W 15 2>&1)
rc=$?
t1=$(date +%s%N)
echo "iron ping of an unpublished node: rc $rc in $(((t1 - t0) / 1000000)) ms: $out" >>"$WORK/check.log"
check "iron ping of a node never published: exit 1" test "$rc" = 1
check "... says no address is known" sh -c "echo \"\$0\" | grep -q 'no address known'" "$out"
check "... within 8 s ($(((t1 - t0) / 1000000)) ms)" test $(((t1 - t0) / 1000000)) -lt 8000
t0=$(date +%s%N)
out=$(in_ns b ping -6 -c 1 -W 15 "$NOBODY.iron" 2>&1)
t1=$(date +%s%N)
echo "ping -6 of an unpublished node in $(((t1 - t0) / 1000000)) ms: $out" >>"$WORK/check.log"
check "ping -6 of a node never published: ICMPv6 unreachable" sh -c "echo \"\$0\" | grep -qi 'unreachable'" "$out"
check "... within 8 s ($(((t1 - t0) / 1000000)) ms)" test $(((t1 - t0) / 1000000)) -lt 8000
finish
