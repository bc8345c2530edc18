#!/bin/bash
# A node with another key sits at B's address: A dials B's ID there, the
# handshake fails, nothing is delivered, A logs the key mismatch.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

make_ns a
make_ns b
link_ns a b
new_key a
new_key b
new_key c
A=$(node_id a)
B=$(node_id b)
B_IP=$(node_ip b) # before the impostor takes over b's state
start_iron a --peer "$B@10.99.0.2:4766" || exit 1
# The impostor: key c, in namespace b, at B's address.
mkdir -p "$WORK/b"
cp -p "$WORK/c/secret.key" "$WORK/b/secret.key"
start_iron b || exit 1
out=$(in_ns a ping -6 -c 3 -i 0.3 -W 2 "$B.iron" 2>&1)
echo "$out" >>"$WORK/check.log"
# It fails for the reason named, not because of DNS: the name resolved to
# B's address, all three requests went out and none was answered.
check "ping to B through the impostor: $B.iron resolved to $B_IP" sh -c "echo \"\$0\" | grep -qF '($B_IP)'" "$out"
check "ping to B through the impostor fails: 3 sent, 0 received" sh -c "echo \"\$0\" | grep -q '^3 packets transmitted, 0 received'" "$out"
check "A logs the key mismatch" wait_for 10 grep -qi "mismatch" "$WORK/a.log"
check "the impostor never saw an authenticated connection" sh -c "! grep -q 'connected to' '$WORK/b.log'"
finish
