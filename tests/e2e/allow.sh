#!/bin/bash
# The inbound allow-list: A admits only B ([Allow] in its config file). B
# gets in; C's handshake is refused (A counts it and never lists C). A
# SIGHUP with a file that allows C instead of B lets C in, closes B's open
# connection at once and refuses B's next one, without a restart.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

make_ns hub
make_ns a
make_ns b
make_ns c
link_star hub a b c
new_key a
new_key b
new_key c
A=$(node_id a)
B=$(node_id b)
C=$(node_id c)

status_json() {
	"$IRON" status --state-dir "$WORK/$1" -f json 2>/dev/null
}
# counter NODE KEY: the value of "KEY" in NODE's status (inbound counters).
counter() {
	status_json "$1" | tr -d ' \n' | sed -n "s/.*\"inbound\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"
}
# connected NODE PEER: NODE's status lists PEER as connected.
connected() {
	"$IRON" peers --state-dir "$WORK/$1" -f json 2>/dev/null | tr -d ' \n' |
		grep -q "\"id\":\"$2\"[^}]*\"connected\":true"
}
refused_more_than() {
	[ "$(counter a refused)" -gt "$1" ]
}

printf '# only B may connect in\n[Allow]\nID = %s\n' "$B" >"$WORK/a.conf"
start_iron a --config "$WORK/a.conf" || exit 1
start_iron b --peer "$A@10.98.0.1:4766" || exit 1
start_iron c --peer "$A@10.98.0.1:4766" || exit 1

check "A's start-up block says allow-list" grep -q 'inbound  *allow-list (1 node)' "$WORK/a.out"
check "B (no --allow) is open" grep -q 'inbound  *open (any node may connect)' "$WORK/b.out"
check "B's status: open" sh -c "'$IRON' status --state-dir '$WORK/b' | grep -q '^inbound  *open: any node may connect'"
check "A's status: allow-list of 1 node, 0 refused" \
	sh -c "'$IRON' status --state-dir '$WORK/a' | grep -q 'inbound .*allow-list of 1 node, 0 refused'"
check "A's status JSON: policy allow-list" sh -c "'$IRON' status --state-dir '$WORK/a' -f json | tr -d ' ' | grep -q '\"policy\":\"allow-list\"'"

# B is allowed.
check "B reaches A" ping_ok b "$A.iron" 3
check "A lists B as connected" connected a "$B"

# C is not: refused in the handshake, counted, logged with C's ID.
check "C cannot reach A" sh -c "! ip netns exec ${PREFIX}c ping -6 -c 2 -i 0.5 -W 1 $A.iron"
check "A counted the refusal" wait_for 5 refused_more_than 0
check "A logged C's ID as refused" grep -q "refused a connection from .*: handshake failed: $C is not on the allow-list" "$WORK/a.log"
check "C was told it is not allowed" grep -q "failed: refused: this node is not on its allow-list" "$WORK/c.log"
check "A never had C as a peer" sh -c "! '$IRON' peers --state-dir '$WORK/a' -f json | grep -q '$C'"
check "... while B is still connected" connected a "$B"

# Reload: C instead of B, no restart.
printf '[Allow]\nID = %s.iron\n' "$C" >"$WORK/a.conf"
kill -HUP "$PID_a"
check "SIGHUP reloaded the allow-list" wait_for 5 grep -q 'SIGHUP: reloaded .*inbound: allow-list (1 node)' "$WORK/a.log"
check "B's open connection was closed at once" wait_for 5 sh -c "! '$IRON' peers --state-dir '$WORK/a' -f json | tr -d ' \n' | grep -q '\"id\":\"$B\"[^}]*\"connected\":true'"
check "... and counted as revoked" test "$(counter a revoked)" -eq 1
check "B heard of the close" wait_for 5 grep -q "connection with .* closed: closed by peer" "$WORK/b.log"
check "C reaches A now" wait_for 10 ip netns exec "${PREFIX}c" ping -6 -c 1 -W 1 "$A.iron"
check "... every time" ping_ok c "$A.iron" 3
before=$(counter a refused)
check "B cannot reach A any more" sh -c "! ip netns exec ${PREFIX}b ping -6 -c 2 -i 0.5 -W 1 $A.iron"
check "A refused B's new connection" wait_for 5 refused_more_than "$before"
check "A's pid is unchanged (no restart)" answers_as a "$PID_a"
finish
