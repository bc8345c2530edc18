#!/bin/bash
# Operating a node: iron status, peers and ping against two real daemons in
# namespaces, and the control socket under load and abuse: its mode, a
# second daemon on the same state directory, 100 clients at once, an
# oversized line, invalid JSON, clients that never send.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 ping stat

setup_pair 4 || {
	not_ok "daemons a and b start"
	finish
}
SOCK_A=$WORK/a/iron.sock
SA=(--state-dir "$WORK/a")
PID_A_START=$PID_a

# --- status before and after traffic -------------------------------------
out=$("$IRON" status "${SA[@]}" 2>&1)
check "status: exit 0" "$IRON" status "${SA[@]}"
check "status: node is A" grep -qx "node      $A" <<<"$out"
check "status: A's address" grep -qx "ipv6      $A_IP" <<<"$out"
check "status: the TUN and its MTU" grep -qE '^tun       [^ ]+ \(mtu 1420\)$' <<<"$out"
check "status: listen address" grep -qx "listen    .*:4766" <<<"$out"
check "status: relay none" grep -qx "relay     none" <<<"$out"
check "status: uptime" grep -qE '^uptime    [0-9]+s$' <<<"$out"

check "ping -6 B.iron through the tunnel" ping_ok a "$B.iron" 5
status_shows_b() {
	out=$("$IRON" status "${SA[@]}" 2>&1)
	echo "$out" >"$WORK/status.txt"
	# PEER  ADDRESS  PATH  RTT  ... with a non-zero RTT and iron/packet/1.
	printf '%s\n' "$out" | grep -qE "^${B:0:10}… +$B_IP +direct 10\.99\.0\.2:4766 \((static|learned)\) +[0-9]+\.[0-9]{2} ms .* iron/packet/1$" &&
		! printf '%s\n' "$out" | grep -qE "^${B:0:10}… .* 0\.00 ms "
}
check "status: B connected, path direct, RTT, iron/packet/1" wait_for 5 status_shows_b
check "status: 1 connected peer" grep -qx "peers     1 known, 1 connected" "$WORK/status.txt"
no_escape() { ! grep -q $'\033' "$1"; }
check "status piped: no colour" no_escape "$WORK/status.txt"
echo "--- iron status on node a:"
cat "$WORK/status.txt"

# JSON: node.base32 is iron self's, B connected with traffic counted.
"$IRON" status "${SA[@]}" -f json >"$WORK/status.json" 2>>"$WORK/check.log"
check "status -f json: fields" python3 - "$WORK/status.json" "$(node_id a)" "$A_IP" "$B" "$B_IP" "$PID_a" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
me, my_ip, b, b_ip, pid = sys.argv[2:7]
assert doc["ok"] is True and doc["pid"] == int(pid), doc
assert doc["node"]["base32"] == me and doc["node"]["ipv6"] == my_ip, doc["node"]
assert doc["node"]["domain"] == me + ".iron" and len(doc["node"]["hex"]) == 64
assert doc["tun"]["mtu"] == 1420 and doc["relay"] is None and doc["uptime_s"] > 0
assert any(l.endswith(":4766") for l in doc["listen"]), doc["listen"]
t = doc["transport"]
assert t["datagrams_received"] > 0 and t["datagrams_sent"] > 0 and t["bytes_sent"] > 0, t
assert t["send_failed"] == 0 and t["no_relay_link"] == 0 and t["received_unknown"] == 0, t
peers = {p["id"]: p for p in doc["peers"]}
p = peers[b]
assert p["connected"] is True and p["static"] is True and p["path"] == "direct", p
assert p["source"] in ("static", "learned"), p
assert any(c["source"] == "static" and c["addr"] == "10.99.0.2:4766" and c["kind"] == "direct" and c["expires_in_s"] is None for c in p["paths"]), p
assert sum(1 for c in p["paths"] if c["active"]) == 1, p
assert p["remote"] == "10.99.0.2:4766" and p["alpn"] == "iron/packet/1" and p["ipv6"] == b_ip, p
assert p["rtt_ms"] > 0 and p["bytes_out"] > 0 and p["bytes_in"] > 0, p
assert p["packets_out"] >= 5 and p["packets_in"] >= 5, p
assert p["last_activity_s"] is not None and p["last_activity_s"] < 60, p
PY
# The other side sees A too (the connection A dialled).
check "status on b: A connected" sh -c "'$IRON' status --state-dir '$WORK/b' | grep -qE '^${A:0:10}… +$A_IP +direct 10\.99\.0\.1:4766 '"
# $IRON_STATE_DIR finds the same socket.
check "status with IRON_STATE_DIR" sh -c "IRON_STATE_DIR='$WORK/a' '$IRON' status | grep -qx 'node      $A'"

# --- peers -------------------------------------------------------------------
out=$("$IRON" peers "${SA[@]}" 2>>"$WORK/check.log")
check "peers: the table" grep -qE '^PEER +ADDRESS +PATH +RTT +IN +OUT +LAST +ALPN$' <<<"$out"
check "peers: B's row" grep -qE "^${B:0:10}… +$B_IP +direct " <<<"$out"
check "peers -f json" sh -c "'$IRON' peers --state-dir '$WORK/a' -f json | python3 -c 'import json, sys
d = json.load(sys.stdin); assert d[\"ok\"] is True and [p[\"id\"] for p in d[\"peers\"]] == [\"$B\"], d'"

# --- ping ---------------------------------------------------------------------
"$IRON" ping "${SA[@]}" "$B.iron" -c 3 -i 0.2 >"$WORK/ping.txt" 2>>"$WORK/check.log"
rc=$?
echo "--- iron ping from a:"
cat "$WORK/ping.txt"
check "ping B.iron -c 3: exit 0" test "$rc" = 0
check "ping: 3 replies, direct" test "$(grep -cE "^reply from ${B:0:10}….iron \($B_IP\): seq=[123] rtt=[0-9]+\.[0-9]{2} ms path=direct \(10\.99\.0\.2:4766\)$" "$WORK/ping.txt")" = 3
check "ping: summary" grep -qE '^3 sent, 3 received, 0% loss, rtt min/avg/max = [0-9.]+/[0-9.]+/[0-9.]+ ms$' "$WORK/ping.txt"
check "ping by hex from b, -f json" sh -c "'$IRON' ping --state-dir '$WORK/b' \$('$IRON' convert '$A' --to hex) -c 2 -i 0.1 -f json |
	python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d[\"ok\"] and d[\"received\"] == 2 and d[\"peer\"] == \"$A\" and d[\"rtt_ms\"][\"min\"] > 0, d
assert all(r[\"reply\"] and r[\"path\"] == \"direct\" for r in d[\"results\"]), d'"

new_key c
C=$(node_id c)
start=$(date +%s%N)
"$IRON" ping "${SA[@]}" "$C" -c 3 >"$WORK/ping-c.out" 2>"$WORK/ping-c.err"
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
check "ping an ID with no address: exit 1" test "$rc" = 1
check "ping an ID with no address: says so" grep -q "^iron: ping: $C is unreachable: no address known" "$WORK/ping-c.err"
check "ping an ID with no address: at once (${elapsed} ms)" test "$elapsed" -lt 2000
"$IRON" ping "${SA[@]}" "$A" -c 1 >/dev/null 2>"$WORK/ping-self.err"
rc=$?
check "ping this node: exit 1" test "$rc" = 1
check "ping this node: says so" grep -qx "iron: ping: $A is this node" "$WORK/ping-self.err"
check "ping a bad PEER: exit 2" sh -c "'$IRON' ping --state-dir '$WORK/a' nope >/dev/null 2>&1; test \$? = 2"

# --- the socket ----------------------------------------------------------------
check "control socket is a socket" test -S "$SOCK_A"
check "control socket mode 0600 ($(stat -c %a "$SOCK_A"))" test "$(stat -c %a "$SOCK_A")" = 600
check "control socket owned by root" test "$(stat -c %u "$SOCK_A")" = 0

# A second daemon on the same state directory refuses, naming the first.
ip netns exec "${PREFIX}a" timeout 10 "$IRON" serve --state-dir "$WORK/a" --no-dns-config \
	--listen 0.0.0.0:4999 --tun-name "${PREFIX}x" >"$WORK/second.out" 2>"$WORK/second.err"
rc=$?
check "second serve on the same state dir: exit 1" test "$rc" = 1
check "second serve: names the running daemon's socket" grep -q "another iron daemon is running on $SOCK_A" "$WORK/second.err"
check "second serve: the first still answers" sh -c "'$IRON' status --state-dir '$WORK/a' | grep -qx 'node      $A'"
check "second serve: the socket is untouched" test -S "$SOCK_A"

# Raw clients, in Python: many at once, silent ones, oversized and invalid lines.
cat >"$WORK/clients.py" <<'PY'
import json, selectors, socket, sys, time
path, what = sys.argv[1], sys.argv[2]
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(path)
    return s
def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf
if what == "many":
    # 100 clients connect at once, all send, then each reads its reply and
    # hangs up (more than the 64 served at once wait in the backlog).
    n, sel, got = 100, selectors.DefaultSelector(), 0
    start = time.time()
    socks = [connect() for _ in range(n)]  # the listen backlog (128) holds them all
    pending = {}
    for s in socks:
        s.sendall(b'{"cmd":"status"}\n')
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
    while pending and time.time() - start < 20:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            chunk = s.recv(1 << 20)
            pending[s] += chunk
            if pending[s].endswith(b"\n") or not chunk:
                reply = json.loads(pending.pop(s))
                assert reply["ok"] is True and "node" in reply, reply
                got += 1
                sel.unregister(s); s.close()
    print("%d replies in %.1f ms" % (got, (time.time() - start) * 1000))
    sys.exit(0 if got == n else 1)
elif what == "oversized":
    s = connect()
    s.sendall(b'{"cmd":"status","pad":"' + b"x" * 5000 + b'"}\n')
    reply = json.loads(read_line(s))
    assert reply == {"ok": False, "error": "request longer than 4096 bytes"}, reply
    try:  # closed; with the rest of the line unread, by a reset
        assert s.recv(1) == b"", "the connection should be closed"
    except ConnectionResetError:
        pass
elif what == "invalid":
    s = connect()
    for bad in (b'{"cmd":', b"not json", b"[1,2]", b'{"cmd":"nope"}', b'{"no":"cmd"}'):
        s.sendall(bad + b"\n")
        reply = json.loads(read_line(s))
        assert reply["ok"] is False and reply["error"], (bad, reply)
    # The same connection still serves a good request.
    s.sendall(b'{"cmd":"peers"}\r\n')
    reply = json.loads(read_line(s))
    assert reply["ok"] is True and "peers" in reply, reply
elif what == "silent":
    # Clients that connect and never send, held open while the test goes on.
    socks = [connect() for _ in range(int(sys.argv[3]))]
    print("ready", flush=True)
    time.sleep(float(sys.argv[4]))
PY
check "100 clients at once: all answered" python3 "$WORK/clients.py" "$SOCK_A" many
grep "replies in" "$WORK/check.log" | tail -1
check "oversized request: error reply, connection closed" python3 "$WORK/clients.py" "$SOCK_A" oversized
check "invalid JSON: error replies, connection still usable" python3 "$WORK/clients.py" "$SOCK_A" invalid

python3 "$WORK/clients.py" "$SOCK_A" silent 20 8 >"$WORK/silent.out" 2>&1 &
silent_pid=$!
wait_for 5 grep -q ready "$WORK/silent.out"
start=$(date +%s%N)
"$IRON" status "${SA[@]}" >/dev/null 2>>"$WORK/check.log"
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
check "20 silent clients: status still answered (${elapsed} ms)" test "$rc" = 0 -a "$elapsed" -lt 1000
check "20 silent clients: ping still answered" "$IRON" ping "${SA[@]}" "$B" -c 1
kill "$silent_pid" 2>/dev/null
wait "$silent_pid" 2>/dev/null

# After all that: the same daemon, still forwarding.
check "daemon a still running (same pid)" kill -0 "$PID_A_START"
check "daemon a: status answers" sh -c "'$IRON' status --state-dir '$WORK/a' -f json | python3 -c 'import json, sys; assert json.load(sys.stdin)[\"pid\"] == $PID_A_START'"
check "daemon a: still forwards (ping -6 B.iron)" ping_ok a "$B.iron" 3

# No daemon: the CLI says so and exits 1.
stop_iron a
out=$("$IRON" status "${SA[@]}" 2>&1)
rc=$?
check "status after the daemon stopped: exit 1" test "$rc" = 1
check "status after the daemon stopped: says so" test "$out" = "iron: status: no daemon on $SOCK_A — is \`iron serve\` running?"
check "the socket file is removed at shutdown" test ! -e "$SOCK_A"
finish
