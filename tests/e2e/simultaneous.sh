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
sleep 1 # let the losing connection's close reach both sides
open_conns() { # node peer-id
	opened=$(grep -c "connected to ${2:0:10}" "$WORK/$1.log")
	closed=$(grep -c "connection with ${2:0:10} closed" "$WORK/$1.log")
	echo $((opened - closed))
}
check "A has exactly one connection with B ($(open_conns a "$B"))" test "$(open_conns a "$B")" -eq 1
check "B has exactly one connection with A ($(open_conns b "$A"))" test "$(open_conns b "$A")" -eq 1
check "ping still works both ways" sh -c "ip netns exec ${PREFIX}a ping -6 -c 2 -W 2 $B.iron && ip netns exec ${PREFIX}b ping -6 -c 2 -W 2 $A.iron"
finish
