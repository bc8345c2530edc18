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
# A tie-break is a node dropping one of two connections with the same peer
# (SPEC section 10: each node decides on its own, no message between them).
# Whether the two dials overlapped depends on timing. When both daemons
# logged a second connection, at least one node must have counted a
# tie-break (both may, each dropping the losing connection on its side).
# Otherwise a node may still have dropped its own dial while it was
# handshaking: then it counts one and its log says so (its dial wins,
# ours is dropped), or the peer's shows that dial refused; with no such
# line, no tie-break may be counted.
conns=$(($(grep -c "connected to ${B:0:10}" "$WORK/a.log") + $(grep -c "connected to ${A:0:10}" "$WORK/b.log")))
dropped=$(($(grep -cE 'quic: refused a connection|its dial wins, ours is dropped' "$WORK/a.log") + $(grep -cE 'quic: refused a connection|its dial wins, ours is dropped' "$WORK/b.log")))
sum=$((${ta:-9} + ${tb:-9}))
if [ "$conns" -gt 2 ]; then
	check "dials overlapped ($conns connection ends): tie-breaks counted (A ${ta:-?} + B ${tb:-?} in 1..2)" test "$sum" -ge 1 -a "$sum" -le 2
elif [ "$dropped" -gt 0 ]; then
	check "a dial dropped while handshaking ($dropped refused): tie-breaks A ${ta:-?} + B ${tb:-?} in 1..2" test "$sum" -ge 1 -a "$sum" -le 2
else
	check "dials did not overlap: no tie-break counted (A ${ta:-?} + B ${tb:-?})" test "$sum" -eq 0
fi
check "ping still works both ways" sh -c "ip netns exec ${PREFIX}a ping -6 -c 2 -W 2 $B.iron && ip netns exec ${PREFIX}b ping -6 -c 2 -W 2 $A.iron"
finish
