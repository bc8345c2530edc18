#!/bin/bash
# The daemon's local listeners against local users (issue 15, items 6, 9
# and 10): the control socket is made with its mode and group at bind and
# never through a path someone else could swap (a directory others can
# write is refused, a planted symlink's target keeps its mode and group);
# 1000 silent control-socket clients and 300 silent TCP DNS clients do not
# lock `iron status` or TCP DNS out (the client idle the longest makes
# room); `iron status` and `iron peers` work with 3000 peers (the reply
# comes in pages). Prints the times it measures.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 dig jq
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=${IRON_BUILD_DIR:-$HERE/../../build}/tests/tools
[ -x "$TOOLS/manypeers" ] || skip "needs $TOOLS/manypeers (build the tests first)"
PEERS=${LISTENER_PEERS:-3000}

make_ns a
new_key a
A=$(node_id a)
A_IP=$(node_ip a)

# ms COMMAND...: runs the command, prints how long it took in ms on fd 3
# and returns its status.
ms() {
	local t0 t1 rc
	t0=$(date +%s%N)
	"$@"
	rc=$?
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >&3
	return $rc
}

# serve_fails NAME SOCKET [ARGS...]: `iron serve` with that control socket
# exits at once with an error, without coming up; its stderr goes to
# $WORK/NAME.err.
serve_fails() {
	local name=$1 sock=$2 rc
	shift 2
	new_key "$name-state"
	timeout 10 ip netns exec "${PREFIX}a" "$IRON" serve --state-dir "$WORK/$name-state" \
		--socket "$sock" --no-dns-config --relay-url none "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err"
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && ! grep -q "is up" "$WORK/$name.out"
}

# --- item 6: where the control socket is made ---------------------------------

mkdir -m 0777 "$WORK/open"
chmod 0777 "$WORK/open"
check "a control socket directory others can write: refused" \
	serve_fails open "$WORK/open/iron.sock"
check "  saying what to fix" grep -q "other users can write the directory $WORK/open (mode 0777): chmod go-w" "$WORK/open.err"
check "  no socket made there" test ! -e "$WORK/open/iron.sock"

mkdir -m 0700 "$WORK/sym"
echo precious >"$WORK/precious"
chmod 0644 "$WORK/precious"
ln -s "$WORK/precious" "$WORK/sym/iron.sock"
check "a symlink planted at the socket path: refused" \
	serve_fails sym "$WORK/sym/iron.sock" --ctl-group 65534
check "  its target keeps its mode and group" \
	test "$(stat -c '%a %g' "$WORK/precious")" = "644 0"
check "  the symlink is left alone" test -L "$WORK/sym/iron.sock"

start_iron a --ctl-group 65534 || exit 1
SOCK=$WORK/a/iron.sock
check "the socket is made with mode 0660 and the group" \
	test "$(stat -c '%F %a %g' "$SOCK")" = "socket 660 65534"

# --- item 9: silent clients ----------------------------------------------------

status_ms=$({ ms "$IRON" status --state-dir "$WORK/a" >/dev/null 2>>"$WORK/check.log"; } 3>&1)
echo "iron status, idle daemon: $status_ms ms"

ip netns exec "${PREFIX}a" python3 "$HERE/local_listeners.py" unix "$SOCK" 1000 >"$WORK/hold-ctl" &
holder=$!
PIDS="$PIDS $holder"
wait_for 30 grep -q '^held' "$WORK/hold-ctl"
echo "control socket: $(head -1 "$WORK/hold-ctl") of 1000 silent clients connected"
status_ms=$({ ms "$IRON" status --state-dir "$WORK/a" >"$WORK/status-held" 2>>"$WORK/check.log"; } 3>&1)
rc=$?
echo "iron status with 1000 silent control clients: $status_ms ms (exit $rc)"
check "iron status answers while 1000 clients hold the control socket" \
	grep -q "^node  *$A" "$WORK/status-held"
check "  within 3 s ($status_ms ms)" test "$status_ms" -lt 3000
kill -TERM "$holder"
wait "$holder" 2>/dev/null
echo "control socket: $(tail -1 "$WORK/hold-ctl") of those left open by the daemon"

ip netns exec "${PREFIX}a" python3 "$HERE/local_listeners.py" tcp 127.0.0.1 5333 300 >"$WORK/hold-dns" &
holder=$!
PIDS="$PIDS $holder"
wait_for 30 grep -q '^held' "$WORK/hold-dns"
echo "TCP DNS: $(head -1 "$WORK/hold-dns") of 300 silent clients connected"
dig_ms=$({ ms ip netns exec "${PREFIX}a" dig +tcp +tries=1 +time=5 +short -p 5333 @127.0.0.1 \
	"$A.iron" AAAA >"$WORK/dig-held" 2>&1; } 3>&1)
echo "dig +tcp with 300 silent TCP clients: $dig_ms ms, answer: $(head -1 "$WORK/dig-held")"
check "TCP DNS answers while 300 silent clients hold it" grep -qx "$A_IP" "$WORK/dig-held"
check "  within 3 s ($dig_ms ms)" test "$dig_ms" -lt 3000
kill -TERM "$holder"
wait "$holder" 2>/dev/null
check "alive after the silent clients" kill -0 "$PID_a"

# --- item 10: thousands of peers -----------------------------------------------

out=$(timeout 120 ip netns exec "${PREFIX}a" "$TOOLS/manypeers" --peer "$A" \
	--connect 127.0.0.1:4766 -n "$PEERS" -w 32 2>&1)
echo "manypeers: $out"
check "$PEERS peers dialled in" sh -c "echo '$out' | grep -q '^$PEERS connected, 0 failed'"

status_ms=$({ ms "$IRON" status --state-dir "$WORK/a" >"$WORK/status-many" 2>>"$WORK/check.log"; } 3>&1)
echo "iron status with $PEERS peers: $status_ms ms, $(wc -c <"$WORK/status-many") bytes"
check "iron status with $PEERS peers: a summary" grep -q "^peers  *$PEERS known, 0 connected" "$WORK/status-many"
check "  that says how to see the rest" grep -q "$PEERS more peers not shown.*iron status --all" "$WORK/status-many"

all_ms=$({ ms "$IRON" peers --all --state-dir "$WORK/a" >"$WORK/peers-all" 2>>"$WORK/check.log"; } 3>&1)
echo "iron peers --all with $PEERS peers: $all_ms ms, $(wc -l <"$WORK/peers-all") lines"
check "iron peers --all: a row for every peer" test "$(wc -l <"$WORK/peers-all")" -eq $((PEERS + 1))
check "iron status --all: a row for every peer" \
	sh -c "'$IRON' status --all --state-dir '$WORK/a' | grep -c ' none ' | grep -qx $PEERS"

json_ms=$({ ms "$IRON" status -f json --state-dir "$WORK/a" >"$WORK/status.json" 2>>"$WORK/check.log"; } 3>&1)
echo "iron status -f json with $PEERS peers: $json_ms ms, $(wc -c <"$WORK/status.json") bytes"
check "status -f json: one line" test "$(wc -l <"$WORK/status.json")" -eq 1
check "status -f json: every peer, each once, the totals and the old fields" \
	jq -e ".ok == true and (.peers | length) == $PEERS and ([.peers[].id] | unique | length) == $PEERS
		and .peers_total == $PEERS and .peers_next == null and .node.base32 == \"$A\"
		and (.counters | type) == \"object\"" "$WORK/status.json"
"$IRON" peers -f json --state-dir "$WORK/a" >"$WORK/peers.json" 2>>"$WORK/check.log"
check "peers -f json: every peer" \
	jq -e ".ok == true and (.peers | length) == $PEERS and .peers_total == $PEERS" "$WORK/peers.json"
check "the same peers in both" \
	bash -c "diff <(jq -r '.peers[].id' '$WORK/status.json' | sort) <(jq -r '.peers[].id' '$WORK/peers.json' | sort)"

# Each reply on the socket stays well under the protocol's 1 MiB.
python3 - "$SOCK" >"$WORK/pages" <<'PY'
import json, socket, sys
after, sizes = None, []
while True:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    req = {"cmd": "peers"} if after is None else {"cmd": "peers", "after": after}
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    reply = json.loads(buf)
    sizes.append((len(buf), len(reply["peers"])))
    after = reply["peers_next"]
    if after is None:
        break
print(" ".join(f"{b}:{n}" for b, n in sizes))
PY
echo "pages (bytes:peers): $(cat "$WORK/pages")"
check "every page under 600 KiB, together every peer" python3 -c '
import sys
pages = [tuple(map(int, p.split(":"))) for p in open(sys.argv[1]).read().split()]
assert len(pages) > 1 and all(b < 600 * 1024 for b, n in pages), pages
assert sum(n for b, n in pages) == int(sys.argv[2]), pages' "$WORK/pages" "$PEERS"
check "a bad cursor or limit: an error reply" python3 -c '
import json, socket, sys
for req, want in (({"cmd": "peers", "after": "nope"}, "peers: \"after\" must be a node ID"),
                  ({"cmd": "status", "limit": 0}, "status: \"limit\" must be an integer from 1 to 1000000"),
                  ({"cmd": "peers", "filter": "x"}, "peers: \"filter\" must be \"all\" or \"active\"")):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(json.dumps(req).encode() + b"\n")
    reply = json.loads(s.makefile().readline())
    assert reply == {"ok": False, "error": want}, reply' "$SOCK"
check "alive at the end" kill -0 "$PID_a"

finish
