#!/bin/bash
# A static peer given by host name: looked up through the resolver on the
# loop (here /etc/hosts of the namespace), the daemon up before the answer
# matters, and the name looked up again after a dial fails, so a peer that
# moved to another address is found without a restart.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

make_ns a
make_ns b
link_ns a b
new_key a
new_key b
A=$(node_id a)
B=$(node_id b)
B_IP=$(node_ip b)
# "bnode" is B's underlay address, from A's /etc/hosts (ip netns exec
# mounts /etc/netns/NS/hosts over /etc/hosts).
printf '127.0.0.1 localhost\n10.99.0.2 bnode\n' >"/etc/netns/${PREFIX}a/hosts"
start_iron a --peer "$B@bnode:4766" || exit 1
start_iron b || exit 1
check "ping B by name through a peer given by host name" ping_ok a "$B.iron" 3
peer_remote() {
	"$IRON" status --state-dir "$WORK/a" -f json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(c["addr"] + "/" + c["source"] for p in d["peers"] for c in p["paths"]))'
}
check "the name's address is a static candidate" sh -c "'$IRON' status --state-dir '$WORK/a' -f json | grep -q '\"addr\":\"10.99.0.2:4766\",\"kind\":\"direct\",\"source\":\"static\"'"

# B moves to another address; the name follows it.
stop_iron b
in_ns b ip addr del 10.99.0.2/24 dev "${PREFIX}b"
in_ns b ip addr add 10.99.0.3/24 dev "${PREFIX}b"
printf '127.0.0.1 localhost\n10.99.0.3 bnode\n' >"/etc/netns/${PREFIX}a/hosts"
start_iron b || exit 1
# A's connection to the old address times out, its redial fails, and the
# name is looked up again: pings get through once that happened.
check "after B moved, A reaches it by the name again" wait_for 90 ping_ok a "$B.iron" 1
echo "candidates on A: $(peer_remote)"
check "the new address replaced the old static candidate" sh -c "'$IRON' status --state-dir '$WORK/a' -f json | grep -q '\"addr\":\"10.99.0.3:4766\",\"kind\":\"direct\",\"source\":\"static\"' && ! '$IRON' status --state-dir '$WORK/a' -f json | grep -q '\"addr\":\"10.99.0.2:4766\",\"kind\":\"direct\",\"source\":\"static\"'"
finish
