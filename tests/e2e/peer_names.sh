#!/bin/bash
# A static peer given by host name: looked up through the resolver on the
# loop (here /etc/hosts of the namespace), the daemon up before the answer
# matters, and the name looked up again after a dial fails, so a peer that
# moved to another address is found without a restart.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

make_pair
# "bnode" is B's underlay address, from A's /etc/hosts (ip netns exec
# mounts /etc/netns/NS/hosts over /etc/hosts).
printf '127.0.0.1 localhost\n10.99.0.2 bnode\n' >"/etc/netns/${PREFIX}a/hosts"
start_iron a --peer "$B@bnode:4766" || exit 1
start_iron b || exit 1
check "ping B by name through a peer given by host name" ping_ok a "$B.iron" 3
# A's candidate paths, one "ADDR/KIND/SOURCE" a line.
candidates() {
	"$IRON" status --state-dir "$WORK/a" -f json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for p in d["peers"]:
    for c in p["paths"]:
        print(c["addr"] + "/" + c["kind"] + "/" + c["source"])'
}
has_candidate() { candidates | grep -qx "$1"; }
check "the name's address is a static candidate" has_candidate 10.99.0.2:4766/direct/static

# B moves to another address; the name follows it.
stop_iron b
in_ns b ip addr del 10.99.0.2/24 dev "${PREFIX}b"
in_ns b ip addr add 10.99.0.3/24 dev "${PREFIX}b"
printf '127.0.0.1 localhost\n10.99.0.3 bnode\n' >"/etc/netns/${PREFIX}a/hosts"
start_iron b || exit 1
# A's connection to the old address times out, its redial fails, and the
# name is looked up again: pings get through once that happened.
check "after B moved, A reaches it by the name again" wait_for 90 ping_ok a "$B.iron" 1
candidates >"$WORK/candidates"
echo "candidates on A: $(tr '\n' ' ' <"$WORK/candidates")"
check "the new address is a static candidate" grep -qx 10.99.0.3:4766/direct/static "$WORK/candidates"
check "the old address is no static candidate any more" sh -c "! grep -qx 10.99.0.2:4766/direct/static '$WORK/candidates'"
finish
