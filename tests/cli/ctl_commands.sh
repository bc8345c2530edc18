#!/bin/bash
# iron status, peers and ping without a daemon (exact errors, exit codes),
# their usage errors, and against a fake daemon: a small Python server on a
# Unix socket that answers the control protocol (docs/control.md) with
# canned replies, lost echoes, errors and broken replies.
. "$(dirname "$0")/lib.sh"

OTHER_B32=5c44wgnkn2atu4fdu4ks7tu3wwzoxjjqdejggjpdeiq4z6c32s2q # a valid key nobody answers for

# --- --help --------------------------------------------------------------
for c in status peers ping; do
	run "$c" --help
	expect_rc 0 "$c --help"
	case $out in "Usage: iron $c"*) ok ;; *) fail "$c --help: [$out]" ;; esac
	[ -z "$err" ] && ok || fail "$c --help wrote to stderr: [$err]"
	run help "$c"
	expect_rc 0 "iron help $c"
	expect_out_has "Usage: iron $c" "iron help $c"
done

# --- no daemon -----------------------------------------------------------
mkdir -p "$TMP/state"
for c in status peers "ping $KAT_B32"; do
	# shellcheck disable=SC2086
	run --socket "$TMP/none.sock" $c
	expect_rc 1 "$c, no daemon"
	name=${c%% *}
	[ "$err" = "iron: $name: no daemon on $TMP/none.sock — is \`iron serve\` running?" ] && ok ||
		fail "$c, no daemon: stderr [$err]"
	expect_no_out "$c, no daemon"
	# shellcheck disable=SC2086
	run $c --state-dir "$TMP/state"
	expect_rc 1 "$c --state-dir, no daemon"
	expect_err "no daemon on $TMP/state/iron.sock" "$c: the socket of --state-dir"
	out=$(IRON_STATE_DIR="$TMP/state" "$IRON" $c 2>&1 </dev/null)
	case $out in *"no daemon on $TMP/state/iron.sock"*) ok ;; *) fail "$c: the socket of IRON_STATE_DIR: [$out]" ;; esac
done
# A path that is there but not a socket.
: >"$TMP/plain"
run --socket "$TMP/plain" status
expect_rc 1 "status, socket path is a plain file"
expect_one_line_error "status, socket path is a plain file"
# -f json: still one JSON document, the error in it.
run --socket "$TMP/none.sock" status -f json
expect_rc 1 "status -f json, no daemon"
expect_json "{\"ok\": false, \"error\": \"no daemon on $TMP/none.sock — is \`iron serve\` running?\"}" "status -f json, no daemon"
run --socket "$TMP/none.sock" peers --format=json
expect_rc 1 "peers -f json, no daemon"
[ "$(json_field '["ok"]')" = False ] && ok || fail "peers -f json, no daemon: [$out]"
run --socket "$TMP/none.sock" ping "$KAT_B32" -f json
expect_rc 1 "ping -f json, no daemon"
[ "$(json_field '["error"]')" = "no daemon on $TMP/none.sock — is \`iron serve\` running?" ] && ok ||
	fail "ping -f json, no daemon: [$out]"

# --- usage errors ---------------------------------------------------------
usage_error() { # LABEL ARGS...
	local label=$1
	shift
	run --socket "$TMP/none.sock" "$@"
	expect_rc 2 "$label"
	expect_no_out "$label"
	case $err in "iron: "*) ok ;; *) fail "$label: stderr [$err]" ;; esac
}
usage_error "ping without PEER" ping
usage_error "ping bad PEER" ping not-a-peer
usage_error "ping bad base32" ping "${KAT_B32%?}b"
usage_error "ping IPv6 as PEER" ping "$KAT_IPV6"
usage_error "ping two PEERs" ping "$KAT_B32" "$KEY_B32"
usage_error "ping -c x" ping "$KAT_B32" -c x
usage_error "ping -c -1" ping "$KAT_B32" -c -1
usage_error "ping -i -1" ping "$KAT_B32" -i -1
usage_error "ping -i nan" ping "$KAT_B32" -i nan
usage_error "ping -W 0" ping "$KAT_B32" -W 0
usage_error "ping -W inf" ping "$KAT_B32" -W inf
usage_error "ping -W 61 (the daemon waits at most 60 s)" ping "$KAT_B32" -W 61
usage_error "ping -W missing" ping "$KAT_B32" -W
usage_error "ping -f xml" ping "$KAT_B32" -f xml
usage_error "ping --bogus" ping "$KAT_B32" --bogus
usage_error "status extra" status extra
usage_error "status --bogus" status --bogus
usage_error "status -f yaml" status -f yaml
usage_error "peers extra" peers extra
usage_error "peers -x" peers -x
run ping not-a-peer
expect_err "'not-a-peer' is not a node ID" "ping bad PEER message"

# --- a fake daemon --------------------------------------------------------
cat >"$SCRATCH/fake.py" <<'PY'
import json, os, socket, socketserver, sys, threading, time
path, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]
KAT = "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq"
KEY = "aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4a"
OTHER = "5c44wgnkn2atu4fdu4ks7tu3wwzoxjjqdejggjpdeiq4z6c32s2q"
def peer(i, ip, connected, path, remote, alpn, rtt, bi, bo, pi, po, last):
    return {"id": i, "domain": i + ".iron", "ipv6": ip, "static": True, "connected": connected,
            "connections": int(connected), "path": path, "remote": remote, "alpn": alpn,
            "rtt_ms": rtt, "bytes_in": bi, "bytes_out": bo, "packets_in": pi,
            "packets_out": po, "last_activity_s": last}
PEERS = [
    peer(KAT, "fd69:726f::39b:fa8b:3d36:8d61", True, "direct", "10.99.0.2:4766", "iron/packet/1",
         0.42, 1258291, 2048, 900, 1, 1.5),
    peer(KEY, "fd69:726f::1ddc:8664:1255:31b8", False, "none", None, None, None, 0, 0, 0, 0, None),
    peer(OTHER, "fd69:726f::e322:21cc:f85b:d4b5", True, "relay", "relay.example:443",
         "iron/packet/0", 123.456, 3 * 1024 ** 3, 512, 7, 3, 3723.9),
]
STATUS = {"ok": True, "version": "0.1.0+test", "pid": 4242, "uptime_s": 3723.5,
          "node": {"hex": "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61",
                   "base32": KAT, "domain": KAT + ".iron", "ipv6": "fd69:726f::39b:fa8b:3d36:8d61"},
          "tun": {"name": "iron0", "mtu": 1420}, "listen": ["[::]:4766", "0.0.0.0:4767"],
          "dns": ["127.0.0.1:5333", "[::1]:5333", "[fd69:726f:0:1::53]:53"], "relay": None,
          "registry": {"entries": 3, "capacity": 4096},
          "inbound": {"policy": "allow-list", "allowed": 3, "refused": 12, "revoked": 0},
          "discovery": {"port_mapping": {"on": True, "mapped": True, "protocol": "upnp",
                                         "external": "203.0.113.7:4766", "lifetime_s": 3600,
                                         "requests": 3, "failures": 1,
                                         "upnp_gateway": "http://192.168.1.1:5000/rootDesc.xml"}},
          "counters": {"tun_rx": 1, "tun_tx": 2}, "peers": PEERS}
json.dump(STATUS, open(log + ".status", "w"))
logf = open(log, "a")
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            logf.write(line.decode()); logf.flush()
            req = json.loads(line)
            cmd = req.get("cmd")
            if mode == "close":
                return
            if mode == "invalid":
                self.wfile.write(b'{"ok":true,"peers":[}\n'); continue
            if mode == "refuse":
                reply = {"ok": False, "error": "unknown command '%s'" % cmd}
            elif mode == "empty" and cmd in ("status", "peers"):
                reply = dict(STATUS, peers=[]) if cmd == "status" else {"ok": True, "peers": []}
            elif cmd == "status":
                reply = STATUS
            elif cmd == "peers":
                reply = {"ok": True, "peers": PEERS}
            elif cmd == "ping":
                p, seq, t = req["peer"], req["seq"], req["timeout_ms"]
                if p == KEY:
                    reply = {"ok": False, "error": KEY + " is unreachable: no address known"}
                elif (p == KAT and seq != 2) or (mode == "badseq"):
                    reply = {"ok": True, "peer": p, "seq": seq + (mode == "badseq"),
                             "rtt_ms": 0.25 * seq, "path": "direct", "remote": "10.99.0.2:4766"}
                elif p == OTHER and seq == 1 and mode == "relay":
                    reply = {"ok": True, "peer": p, "seq": seq, "rtt_ms": 12.0, "path": "relay",
                             "remote": None}
                else:
                    time.sleep(t / 1000)
                    reply = {"ok": False, "error": "no reply from %s within %d ms" % (p, t)}
            else:
                reply = {"ok": False, "error": "unknown command"}
            self.wfile.write((json.dumps(reply, separators=(",", ":")) + "\n").encode())
class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
print("ready", flush=True)
server.serve_forever()
PY
# wait_until TENTHS COMMAND...: polls the condition COMMAND every 0.1 s
# until it holds; returns 1 when it still does not after TENTHS tries.
wait_until() {
	local tries=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}
FAKE_PID=""
fake_start() { # MODE
	fake_stop
	: >"$SCRATCH/requests"
	python3 "$SCRATCH/fake.py" "$SCRATCH/fake.sock" "$1" "$SCRATCH/requests" >"$SCRATCH/fake.out" 2>&1 &
	FAKE_PID=$!
	# "ready" is printed once the socket listens.
	wait_until 100 grep -q ready "$SCRATCH/fake.out" ||
		fail "the fake daemon did not start: $(cat "$SCRATCH/fake.out")"
}
fake_stop() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=""
}
trap 'fake_stop; rm -rf "$TMP" "$SCRATCH"' EXIT
S=(--socket "$SCRATCH/fake.sock")

fake_start normal

# status, text.
run "${S[@]}" status
expect_rc 0 "status"
line() { printf '%s\n' "$out" | grep -qxF -- "$1" && ok || fail "$2: no line [$1] in [$out]"; }
line "node      $KAT_B32" "status node"
line "domain    $KAT_B32.iron" "status domain"
line "ipv6      $KAT_IPV6" "status ipv6"
line "uptime    1h 2m 3s" "status uptime"
line "tun       iron0 (mtu 1420)" "status tun"
line "listen    [::]:4766, 0.0.0.0:4767" "status listen"
line "dns       127.0.0.1:5333, [::1]:5333, [fd69:726f:0:1::53]:53" "status dns"
line "relay     none" "status relay"
line "port map  203.0.113.7:4766 by upnp (for 3600 s)" "status port map"
line "registry  3 of 4096 entries" "status registry"
line "inbound   allow-list of 3 nodes, 12 refused" "status inbound"
line "daemon    iron 0.1.0+test, pid 4242" "status daemon"
line "peers     3 known, 2 connected" "status peers"
# The table: a header and one row per peer, columns aligned.
table=$(printf '%s\n' "$out" | sed -n '/^PEER /,$p')
[ "$(printf '%s\n' "$table" | wc -l)" = 4 ] && ok || fail "status table: [$table]"
printf '%s\n' "$table" | head -1 | grep -qE '^PEER +ADDRESS +PATH +RTT +IN +OUT +LAST +ALPN$' && ok ||
	fail "status table header: [$table]"
row1=$(printf '%s\n' "$table" | sed -n 2p)
row2=$(printf '%s\n' "$table" | sed -n 3p)
row3=$(printf '%s\n' "$table" | sed -n 4p)
[[ $row1 =~ ^df7wwi7bns…\ +fd69:726f::39b:fa8b:3d36:8d61\ +direct\ 10\.99\.0\.2:4766\ +0\.42\ ms\ +1\.2\ MiB\ \(900\ pkts\)\ +2\.0\ KiB\ \(1\ pkt\)\ +1\.5s\ ago\ +iron/packet/1$ ]] &&
	ok || fail "status row 1: [$row1]"
[[ $row2 =~ ^aoqqpp7tzy…\ +fd69:726f::1ddc:8664:1255:31b8\ +none\ +-\ +0\ B\ \(0\ pkts\)\ +0\ B\ \(0\ pkts\)\ +-\ +-$ ]] &&
	ok || fail "status row 2: [$row2]"
[[ $row3 =~ ^5c44wgnkn2…\ +fd69:726f::e322:21cc:f85b:d4b5\ +relay\ relay\.example:443\ +123\.46\ ms\ +3\.0\ GiB\ \(7\ pkts\)\ +512\ B\ \(3\ pkts\)\ +1h\ 2m\ 3s\ ago\ +iron/packet/0$ ]] &&
	ok || fail "status row 3: [$row3]"
# Columns line up: every row has ADDRESS where the header has it.
col=$(printf '%s\n' "$table" | head -1 | awk '{ print index($0, "ADDRESS") }')
for r in "$row1" "$row2" "$row3"; do
	# Count characters, not bytes ("…" is one column).
	c=$(python3 -c 'import sys; print(sys.argv[1].index("fd69") + 1)' "$r")
	[ "$c" = "$col" ] && ok || fail "status: ADDRESS at column $c, header at $col: [$r]"
done
expect_not $'\033' "$out" "status piped: no escape sequences"
expect_not "●" "$out" "status piped: no symbols"
# The request on the wire: the first page, as many peers as a summary shows.
[ "$(head -1 "$SCRATCH/requests")" = '{"cmd":"status","limit":20}' ] && ok || fail "status request: $(cat "$SCRATCH/requests")"

# status on a terminal: colour and the connected symbol.
if have_tty; then
	run_tty "" "${S[@]}" status
	expect_rc 0 "status on a terminal"
	expect_out_has "●" "status on a terminal: connected symbol"
	expect_out_has $'\033[' "status on a terminal: colour"
	out=$(NO_COLOR=1 script -qec "$(printf '%q ' "$IRON" "${S[@]}" status)" /dev/null 2>&1)
	expect_not $'\033[' "$out" "status with NO_COLOR: no colour"
fi

# status -f json: the daemon's reply, one line, as is.
run "${S[@]}" status -f json
expect_rc 0 "status -f json"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && ok || fail "status -f json: not one line"
python3 -c 'import json, sys; assert json.loads(sys.argv[1]) == json.load(open(sys.argv[2]))' \
	"$out" "$SCRATCH/requests.status" && ok || fail "status -f json is not the reply: [$out]"
[ "$(json_field '["node"]["base32"]')" = "$KAT_B32" ] && ok || fail "status -f json node.base32"

# peers: the table alone.
run "${S[@]}" peers
expect_rc 0 "peers"
[ "$(printf '%s\n' "$out" | wc -l)" = 4 ] && ok || fail "peers: 4 lines expected: [$out]"
case $out in "PEER "*) ok ;; *) fail "peers: starts with the header: [$out]" ;; esac
[ "$(printf '%s\n' "$out" | sed -n 2p)" = "$row1" ] && ok || fail "peers row 1 as in status"
run "${S[@]}" peers -f json
expect_rc 0 "peers -f json"
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is True and [p["id"] for p in d["peers"]] == sys.argv[2:], d' "$out" "$KAT_B32" "$KEY_B32" "$OTHER_B32" &&
	ok || fail "peers -f json: [$out]"
[ "$(tail -1 "$SCRATCH/requests")" = '{"cmd":"peers"}' ] && ok || fail "peers request"

# ping: each line as it comes, the lost echo, the summary.
: >"$SCRATCH/requests"
run "${S[@]}" ping "$KAT_B32.iron" -c 3 -i 0.05 -W 0.3
expect_rc 0 "ping, 2 of 3 replies"
expected="PING $KAT_B32.iron ($KAT_IPV6)
reply from df7wwi7bns….iron ($KAT_IPV6): seq=1 rtt=0.25 ms path=direct (10.99.0.2:4766)
no reply: seq=2 (timeout)
reply from df7wwi7bns….iron ($KAT_IPV6): seq=3 rtt=0.75 ms path=direct (10.99.0.2:4766)

--- df7wwi7bns….iron ping statistics ---
3 sent, 2 received, 33% loss, rtt min/avg/max = 0.25/0.50/0.75 ms"
expect_out "$expected" "ping output"
# One request per round trip, the peer in base32 whatever form was given.
python3 - "$SCRATCH/requests" "$KAT_B32" <<'PY' && ok || fail "ping requests: $(cat "$SCRATCH/requests")"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert reqs == [{"cmd": "ping", "peer": sys.argv[2], "seq": s, "timeout_ms": 300} for s in (1, 2, 3)], reqs
PY
: >"$SCRATCH/requests"
run "${S[@]}" ping "$KAT_HEX" -c 1
expect_rc 0 "ping by hex, default options"
[ "$(cat "$SCRATCH/requests")" = "{\"cmd\":\"ping\",\"peer\":\"$KAT_B32\",\"seq\":1,\"timeout_ms\":2000}" ] && ok ||
	fail "ping by hex: request $(cat "$SCRATCH/requests")"
# The default is 4 round trips, 1 s apart (3 intervals); -i paces them.
: >"$SCRATCH/requests"
start=$(date +%s%N)
run "${S[@]}" ping "$KAT_B32" -i 0.2 -W 0.1
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_rc 0 "ping, default count"
[ "$(wc -l <"$SCRATCH/requests")" = 4 ] && ok || fail "ping: default count is 4"
[ "$elapsed" -ge 600 ] && [ "$elapsed" -lt 3000 ] && ok || fail "ping -i 0.2: 4 round trips took $elapsed ms"
expect_out_has "4 sent, 3 received, 25% loss" "ping default count summary"

# -f json: one document at the end.
run "${S[@]}" ping "$KAT_B32" -c 3 -i 0 -W 0.1 -f json
expect_rc 0 "ping -f json"
python3 - "$out" "$KAT_B32" "$KAT_IPV6" <<'PY' && ok || fail "ping -f json: [$out]"
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is True and d["peer"] == sys.argv[2] and d["ipv6"] == sys.argv[3], d
assert d["domain"] == sys.argv[2] + ".iron"
assert d["sent"] == 3 and d["received"] == 2 and abs(d["loss_percent"] - 33.33) < 0.01, d
assert d["rtt_ms"] == {"min": 0.25, "avg": 0.5, "max": 0.75}, d
assert d["interrupted"] is False and "error" not in d, d
assert d["results"] == [
    {"seq": 1, "reply": True, "rtt_ms": 0.25, "path": "direct", "remote": "10.99.0.2:4766"},
    {"seq": 2, "reply": False},
    {"seq": 3, "reply": True, "rtt_ms": 0.75, "path": "direct", "remote": "10.99.0.2:4766"}], d
PY

# No reply at all: exit 1, 100% loss.
run "${S[@]}" ping "$OTHER_B32" -c 2 -i 0 -W 0.05
expect_rc 1 "ping, no replies"
expect_out_has "no reply: seq=1 (timeout)" "ping, no replies: line"
expect_out_has "2 sent, 0 received, 100% loss" "ping, no replies: summary"
expect_not "rtt min" "$out" "ping, no replies: no rtt"
run "${S[@]}" ping "$OTHER_B32" -c 1 -W 0.05 -f json
expect_rc 1 "ping -f json, no replies"
python3 -c 'import json, sys
d = json.loads(sys.argv[1]); assert d["ok"] is False and d["rtt_ms"] is None and d["sent"] == 1 and d["received"] == 0, d' "$out" &&
	ok || fail "ping -f json, no replies: [$out]"

# No address known: a clear error at once, exit 1, nothing on stdout.
: >"$SCRATCH/requests"
run "${S[@]}" ping "$KEY_DOMAIN" -c 3
expect_rc 1 "ping, no address"
[ "$(printf '%s\n' "$err" | head -1)" = "iron: ping: $KEY_B32 is unreachable: no address known" ] && ok ||
	fail "ping, no address: [$err]"
expect_err "hint: give the daemon the peer's address: iron serve --peer $KEY_B32@HOST:PORT" "ping, no address: hint"
expect_no_out "ping, no address"
[ "$(wc -l <"$SCRATCH/requests")" = 1 ] && ok || fail "ping, no address: stops after one request"
run "${S[@]}" ping "$KEY_B32" -f json
expect_rc 1 "ping -f json, no address"
[ "$(json_field '["error"]')" = "$KEY_B32 is unreachable: no address known" ] && ok || fail "ping -f json, no address: [$out]"

# Ctrl-C: the summary so far, at once, even while a reply is awaited.
"$IRON" "${S[@]}" ping "$KAT_B32" -c 5 -i 0 -W 20 >"$SCRATCH/ping.out" 2>&1 </dev/null &
ping_pid=$!
# The fake daemon logs a request before it answers (or, for seq=2, before
# it sits on it for 20 s). Once seq=2 is logged, the CLI has sent it and
# its next sleep is the wait for that reply: the signal must cut it short.
wait_until 100 grep -q "seq=1" "$SCRATCH/ping.out" || fail "ping, Ctrl-C: no reply to seq=1"
wait_until 100 grep -q '"seq":2' "$SCRATCH/requests" || fail "ping, Ctrl-C: seq=2 was not sent"
cli_waits() { [ "$(cut -d' ' -f3 "/proc/$ping_pid/stat")" = S ]; }
wait_until 100 cli_waits || fail "ping, Ctrl-C: the CLI is not waiting"
start=$(date +%s%N)
kill -INT "$ping_pid"
wait "$ping_pid"
rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 0 ] && ok || fail "ping, Ctrl-C after a reply: exit $rc"
[ "$elapsed" -lt 1000 ] && ok || fail "ping, Ctrl-C: took $elapsed ms to stop"
grep -qx "1 sent, 1 received, 0% loss, rtt min/avg/max = 0.25/0.25/0.25 ms" "$SCRATCH/ping.out" && ok ||
	fail "ping, Ctrl-C summary: $(cat "$SCRATCH/ping.out")"

# A relayed reply without a remote address.
fake_start relay
run "${S[@]}" ping "$OTHER_B32" -c 1
expect_rc 0 "ping, relay path"
expect_out_has "reply from 5c44wgnkn2….iron (fd69:726f::e322:21cc:f85b:d4b5): seq=1 rtt=12.00 ms path=relay
" "ping, relay path line"

# Empty peer lists.
fake_start empty
run "${S[@]}" peers
expect_rc 0 "peers, none"
expect_out "no peers" "peers, none"
run "${S[@]}" status
expect_rc 0 "status, no peers"
line "peers     0 known, 0 connected" "status, no peers"
expect_not "PEER" "$out" "status, no peers: no table"

# The daemon refuses: its error, exit 1; as JSON, its reply.
fake_start refuse
for c in status peers "ping $KAT_B32"; do
	# shellcheck disable=SC2086
	run "${S[@]}" $c
	expect_rc 1 "$c, refused"
	expect_one_line_error "$c, refused"
	expect_err "unknown command '${c%% *}'" "$c, refused: the daemon's reason"
done
run "${S[@]}" status -f json
expect_rc 1 "status -f json, refused"
expect_json '{"ok": false, "error": "unknown command '"'status'"'"}' "status -f json, refused"

# Broken replies.
fake_start invalid
run "${S[@]}" status
expect_rc 1 "status, invalid reply"
expect_err "iron: status: the daemon's reply is not valid JSON (expected a value at byte 20)" "status, invalid reply"
run "${S[@]}" ping "$KAT_B32" -c 1
expect_rc 1 "ping, invalid reply"
expect_err "not a JSON object" "ping, invalid reply"
fake_start close
run "${S[@]}" peers
expect_rc 1 "peers, connection closed"
expect_err "the daemon closed the connection without a reply" "peers, connection closed"
fake_start badseq
run "${S[@]}" ping "$KAT_B32" -c 1
expect_rc 1 "ping, wrong seq"
expect_err "the daemon answered seq=2 to seq=1" "ping, wrong seq"

fake_stop
finish
