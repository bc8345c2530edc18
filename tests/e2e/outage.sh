#!/bin/bash
# A TCP session through the tunnel survives a 45 s outage of the underlay
# (longer than the QUIC idle timeout; both families, or the dial again
# after the silence would go around it on IPv6, a candidate of B's): iron
# redials and the same TCP connection echoes again within 30 s of the
# link coming back.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd nft socat python3

setup_pair 4 || exit 1
ip netns exec "${PREFIX}b" socat TCP6-LISTEN:7000,fork,reuseaddr EXEC:cat >"$WORK/socat.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 5 sh -c "ip netns exec ${PREFIX}b ss -tln | grep -q ':7000'"
cat >"$WORK/client.py" <<PY
import socket, sys, time, os
s = socket.create_connection(("$B_IP", 7000), timeout=10)
def echo(msg, limit):
    s.settimeout(limit)
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(100)
        if not chunk:
            raise SystemExit("connection closed")
        got += chunk
    assert got == msg, got
echo(b"before outage\n", 10)
open("$WORK/phase1", "w").close()
while not os.path.exists("$WORK/restored"):
    time.sleep(0.1)
t = time.time()
echo(b"after outage\n", 30)
print("echo after restore took %.1f s" % (time.time() - t))
PY
ip netns exec "${PREFIX}a" python3 "$WORK/client.py" >"$WORK/client.log" 2>&1 &
client=$!
check "echo before the outage" wait_for 15 test -e "$WORK/phase1"
in_ns a nft -f - <<NFT || not_ok "the outage rules load"
table inet outage {
	chain c { type filter hook output priority 0; ip daddr 10.99.0.2 drop; ip6 daddr fd00:99::2 drop; }
	chain i { type filter hook input priority 0; ip saddr 10.99.0.2 drop; ip6 saddr fd00:99::2 drop; }
}
NFT
sleep 45 # the outage itself: its length is what is tested
in_ns a nft delete table inet outage
touch "$WORK/restored"
wait "$client"
rc=$?
cat "$WORK/client.log"
check "the same TCP connection echoes within 30 s after the outage" test "$rc" -eq 0
finish
