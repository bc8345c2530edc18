#!/bin/bash
# Many peers on one node (issue 16), the small version of bench/peers:
# loadpeers opens 4500 iron/packet/1 connections to a real daemon with
# 4500 keys from 4500 source ports, 64 handshakes at a time, sends an
# ICMPv6 echo through each (the daemon's kernel answers through its TUN,
# the answer comes back on the same connection), holds them and pings
# through each again. The daemon accepts them all (the handshake budget
# of a turn defers the rest, it drops nothing), answers every echo, has
# them all connected, and its open files do not grow with its peers.
# 4500 is past the daemon's former limit of 4096 connections (the rest
# timed out). A sanitizer build takes 1000 (it is several times slower
# and larger).
. "$(dirname "$0")/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=${IRON_BUILD_DIR:-$HERE/../../build}/tests/tools
[ -x "$TOOLS/loadpeers" ] || skip "needs $TOOLS/loadpeers (build the tests first)"
PEERS=${MANY_PEERS:-4500}
sanitized && PEERS=${MANY_PEERS:-1000}

make_ns a
start_iron a
A=$(node_id a)
fds_before=$(ls "/proc/$PID_a/fd" | wc -l)

ip netns exec "${PREFIX}a" "$TOOLS/loadpeers" --peer "$A" --connect 127.0.0.1:4766 \
	-n "$PEERS" -w 64 --hold 60 >"$WORK/lp.out" 2>"$WORK/lp.err" &
lp=$!
PIDS="$PIDS $lp"
check "loadpeers holds its connections" wait_for 60 grep -q '^holding' "$WORK/lp.out"
cat "$WORK/lp.out"
check "all $PEERS dialled in" grep -q "^ramp connected=$PEERS failed=0 " "$WORK/lp.out"
check "an echo through each answered" grep -q "^ping round=0 sent=$PEERS answered=$PEERS " "$WORK/lp.out"
check "the daemon has them all connected" \
	sh -c "'$IRON' status --state-dir '$WORK/a' | grep -q '^peers  *$PEERS known, $PEERS connected'"
fds=$(ls "/proc/$PID_a/fd" | wc -l)
check "its open files do not grow with its peers ($fds_before -> $fds)" test "$fds" -le $((fds_before + 2))

kill -INT "$lp"
check "loadpeers ends the hold with a last echo round" wait_for 30 grep -q '^done ' "$WORK/lp.out"
tail -2 "$WORK/lp.out"
check "every connection still up and answered" \
	grep -q "^done connected=$PEERS failed=0 closed=0 answered_last_round=$PEERS$" "$WORK/lp.out"
wait "$lp"
check "loadpeers exit status 0" test $? -eq 0
check "the daemon is alive" kill -0 "$PID_a"
finish
