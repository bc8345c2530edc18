#!/bin/bash
# Both nodes dial each other at the same moment: exactly one connection
# remains (the one dialled by the node with the smaller ID), used both ways.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

setup_pair 4 || exit 1
in_ns a ping -6 -c 5 -i 0.2 -W 2 "$B.iron" >"$WORK/ping-a" 2>&1 &
p1=$!
in_ns b ping -6 -c 5 -i 0.2 -W 2 "$A.iron" >"$WORK/ping-b" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
check "ping A->B during simultaneous dial" test "$r1" -eq 0
check "ping B->A during simultaneous dial" test "$r2" -eq 0
open_conns() { # node peer-id
	opened=$(grep -c "connected to ${2:0:10}" "$WORK/$1.log")
	closed=$(grep -c "connection with ${2:0:10} closed" "$WORK/$1.log")
	echo $((opened - closed))
}
# The losing connection's close reaches both sides: wait for it, bounded.
check "A ends with exactly one connection with B" wait_for 5 sh -c "test \$(grep -c 'connected to ${B:0:10}' '$WORK/a.log') -eq \$((\$(grep -c 'connection with ${B:0:10} closed' '$WORK/a.log') + 1))"
check "B ends with exactly one connection with A" wait_for 5 sh -c "test \$(grep -c 'connected to ${A:0:10}' '$WORK/b.log') -eq \$((\$(grep -c 'connection with ${A:0:10} closed' '$WORK/b.log') + 1))"
echo "open connections: A $(open_conns a "$B"), B $(open_conns b "$A")"
tie_breaks() { "$IRON" status --state-dir "$WORK/$1" -f json | sed -n 's/.*"tie_breaks": *\([0-9]*\).*/\1/p'; }
ta=$(tie_breaks a)
tb=$(tie_breaks b)
echo "tie_breaks: A ${ta:-?}, B ${tb:-?}"
# Exactly one tie-break happened: the pair had two connections and one was
# dropped. Each node decides on its own (SPEC section 10, no message between
# them); peer.c counts a tie-break only where a node finds a second
# connection established while it already sends on an established one, and
# not where it drops its own dial still handshaking. With the dials really
# simultaneous one node sees the first case, so the sum is 1.
# KNOWN FAILING (2026-12-05): both nodes report 0 here: the two pings do
# not start within a handshake of each other, or the decision is taken in
# the uncounted branch of peer.c's on_established; see the report.
check "exactly one tie-break over both nodes (A ${ta:-?} + B ${tb:-?})" test "$((${ta:-9} + ${tb:-9}))" -eq 1
check "ping still works both ways" sh -c "ip netns exec ${PREFIX}a ping -6 -c 2 -W 2 $B.iron && ip netns exec ${PREFIX}b ping -6 -c 2 -W 2 $A.iron"
finish
