#!/bin/bash
# --config: a bad file is refused with its line number; peers and settings
# from the file work; the command line wins; SIGHUP adds a peer without
# dropping the existing connection, and a broken file on reload keeps the
# old configuration.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

make_ns a
make_ns b
make_ns c
link_ns a b
new_key a
new_key b
new_key c
A=$(node_id a)
B=$(node_id b)
C=$(node_id c)

# A bad file: line number and what is wrong, exit 1, nothing created.
printf '[Interface]\nMTU = 1420\n\n[Peer]\nID = %s\nEndpoint = 10.99.0.2\n' "$B" >"$WORK/bad.conf"
out=$(in_ns a "$IRON" serve --state-dir "$WORK/a" --no-dns-config --config "$WORK/bad.conf" 2>&1)
rc=$?
check "bad config: exit 1" test "$rc" -eq 1
check "bad config: names the line ($out)" sh -c "echo \"\$0\" | grep -q 'line 6'" "$out"
check "bad config: no TUN created" sh -c "! ip -n ${PREFIX}a link show iron0"
out=$(in_ns a "$IRON" serve --state-dir "$WORK/a" --config "$WORK/missing.conf" 2>&1)
check "missing config: exit 1 and says so" sh -c "test $? -eq 1 && echo \"\$0\" | grep -q missing.conf" "$out"

# SSL_CERT_FILE (a private relay's CA) is checked at start, though parsed
# only at the first TLS connection.
out=$(SSL_CERT_FILE="$WORK/missing.pem" in_ns a "$IRON" serve --state-dir "$WORK/a" --no-dns-config --relay-url none 2>&1)
check "SSL_CERT_FILE missing: exit 1 and says so" sh -c "test $? -eq 1 && echo \"\$0\" | grep -q 'SSL_CERT_FILE: cannot read CA certificates from .*missing.pem'" "$out"
echo "not a certificate" >"$WORK/empty.pem"
out=$(SSL_CERT_FILE="$WORK/empty.pem" in_ns a "$IRON" serve --state-dir "$WORK/a" --no-dns-config --relay-url none 2>&1)
check "SSL_CERT_FILE without a certificate: exit 1 and says so" sh -c "test $? -eq 1 && echo \"\$0\" | grep -q 'no CA certificate in .*empty.pem'" "$out"

# Settings and a peer from the file; --mtu on the command line wins.
cat >"$WORK/a.conf" <<CONF
# written by the test
[Interface]
TunName = irontest
MTU = 1300
NoDnsConfig = true

[Peer]
ID = $B.iron
Endpoint = 10.99.0.2:4766
CONF
start_iron a --config "$WORK/a.conf" --mtu 1380 || exit 1
start_iron b --peer "$A@10.99.0.1:4766" || exit 1
check "TunName from the file" ip -n "${PREFIX}a" link show irontest
check "--mtu on the command line wins over the file" sh -c "ip -n ${PREFIX}a link show irontest | grep -q 'mtu 1380'"
check "the file's peer is reachable" ping_ok a "$B.iron" 3

# SIGHUP: add peer C (its own namespace, linked to A) without dropping the
# connection to B.
ip link add "${PREFIX}c1" netns "${PREFIX}a" type veth peer name "${PREFIX}c2" netns "${PREFIX}c"
ip -n "${PREFIX}a" addr add 10.98.0.1/24 dev "${PREFIX}c1"
ip -n "${PREFIX}c" addr add 10.98.0.2/24 dev "${PREFIX}c2"
ip -n "${PREFIX}a" link set "${PREFIX}c1" up
ip -n "${PREFIX}c" link set "${PREFIX}c2" up
wait_for 5 in_ns a ping -c 1 -W 1 10.98.0.2
start_iron c --peer "$A@10.98.0.1:4766" || exit 1
check "C is unknown to A before the reload" sh -c "! ip netns exec ${PREFIX}a ping -6 -c 1 -W 1 $C.iron"
printf '[Peer]\nID = %s\nEndpoint = 10.98.0.2:4766\n' "$C" >>"$WORK/a.conf"
closed_before=$(grep -c 'closed' "$WORK/a.log")
kill -HUP "$PID_a"
check "SIGHUP logged" wait_for 5 grep -q 'SIGHUP: reloaded' "$WORK/a.log"
check "after SIGHUP the new peer is reachable" ping_ok a "$C.iron" 3
check "... and B still is" ping_ok a "$B.iron" 3
check "... without the connection to B being dropped" test "$(grep -c 'closed' "$WORK/a.log")" -eq "$closed_before"

# A broken file on reload keeps the old configuration.
echo "Bogus = 1" >>"$WORK/a.conf"
kill -HUP "$PID_a"
check "broken file on SIGHUP: a warning with the line" wait_for 5 grep -q 'keeping the old configuration' "$WORK/a.log"
check "... the daemon still runs and carries traffic" ping_ok a "$B.iron" 2
finish
