#!/bin/bash
# iron resolve against a real responder (tests/tools/dns_serve, the daemon's
# DNS without the daemon): text and JSON answers, NXDOMAIN, REFUSED,
# SERVFAIL from a forwarding server whose upstream is silent, timeouts,
# usage errors, an IPv6 server.
set -u
iron=${IRON_BIN:?}
tools=${IRON_BUILD_DIR:?}/tests/tools
command -v python3 >/dev/null || { echo "skipped: python3 is needed to parse JSON and to fake a silent server"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_rc() { # expected-rc what -- command...
	local want=$1 what=$2; shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want ($(cat "$tmp/err"))"
}
# Starts a program that prints "port N", waits (bounded) for that line and
# sets $started_port and $started_pid.
start_server() { # name command...
	local name=$1; shift
	"$@" >"$tmp/$name.port" 2>"$tmp/$name.log" &
	started_pid=$!
	pids+=("$started_pid")
	for _ in $(seq 100); do
		grep -q '^port ' "$tmp/$name.port" 2>/dev/null && break
		sleep 0.05
	done
	started_port=$(awk '/^port /{print $2}' "$tmp/$name.port")
}

id=df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq
hex=197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61
ip=fd69:726f::39b:fa8b:3d36:8d61

start_server dns "$tools/dns_serve" --listen 127.0.0.1
port=$started_port dns_pid=$started_pid
[ -n "$port" ] || { echo "dns_serve did not start: $(cat "$tmp/dns.log")" >&2; exit 1; }

# Text: address, TTL, query time, node ID in hex and base32.
expect_rc 0 "text answer" -- "$iron" resolve "$id.iron" --server "127.0.0.1:$port"
grep -qx "address: *$ip" "$tmp/out" || fail "text: address line: $(cat "$tmp/out")"
grep -qx "ttl: *300 s" "$tmp/out" || fail "text: ttl line"
grep -q "^query time: *[0-9.]* ms (127.0.0.1:$port)" "$tmp/out" || fail "text: query time line"
grep -q "$hex" "$tmp/out" || fail "text: hex node ID"
grep -qx " *$id" "$tmp/out" || fail "text: base32 node ID"

# The default server is 127.0.0.1:<--dns-port>; any case and a trailing dot.
expect_rc 0 "default server" -- "$iron" --dns-port "$port" resolve "${id^^}.IRON." -f json
python3 - "$tmp/out" "$ip" "$hex" "$id" "$port" <<'PY' || fail "json answer: $(cat "$tmp/out")"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["rcode"] == "NOERROR", doc
assert doc["address"] == sys.argv[2] and doc["ttl"] == 300, doc
assert doc["addresses"] == [{"address": sys.argv[2], "ttl": 300}], doc
assert doc["node_id"] == {"hex": sys.argv[3], "base32": sys.argv[4]}, doc
assert isinstance(doc["query_time_ms"], float) and doc["query_time_ms"] >= 0, doc
assert doc["server"] == "127.0.0.1:" + sys.argv[5], doc
PY

# NXDOMAIN for a name under .iron that is not an ID; the apex too.
expect_rc 1 "NXDOMAIN" -- "$iron" resolve foo.iron --server "127.0.0.1:$port"
grep -q "NXDOMAIN" "$tmp/err" || fail "NXDOMAIN message: $(cat "$tmp/err")"
expect_rc 1 "NXDOMAIN json" -- "$iron" resolve iron. --server "127.0.0.1:$port" --format=json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rcode"]=="NXDOMAIN" and d["addresses"]==[] and "error" in d, d' "$tmp/out" ||
	fail "NXDOMAIN json: $(cat "$tmp/out")"

# A name outside .iron without upstreams: REFUSED, reported as such.
expect_rc 1 "REFUSED" -- "$iron" resolve example.com --server "127.0.0.1:$port"
grep -q "REFUSED" "$tmp/err" || fail "REFUSED message: $(cat "$tmp/err")"
grep -q "dns-upstream" "$tmp/err" || fail "REFUSED hint: $(cat "$tmp/err")"

# A silent UDP socket: as upstream of a second responder (SERVFAIL after
# its upstream timeout), and as the server itself (our timeout).
start_server silent python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("port", s.getsockname()[1], flush=True)
time.sleep(600)'
silent=$started_port
[ -n "$silent" ] || { echo "python3 UDP socket did not start" >&2; exit 1; }
start_server fwd "$tools/dns_serve" --listen 127.0.0.1 --upstream "127.0.0.1:$silent" --upstream-timeout-ms 200
fwd=$started_port
expect_rc 1 "SERVFAIL" -- "$iron" resolve example.com --server "127.0.0.1:$fwd"
grep -q "SERVFAIL" "$tmp/err" || fail "SERVFAIL message: $(cat "$tmp/err")"
expect_rc 0 ".iron via a forwarding server" -- "$iron" resolve "$id.iron" --server "127.0.0.1:$fwd"

start=$(date +%s%N)
expect_rc 1 "timeout" -- "$iron" resolve "$id.iron" --server "127.0.0.1:$silent" --timeout 0.5
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
grep -q "no answer from 127.0.0.1:$silent within 0.5 s" "$tmp/err" || fail "timeout message: $(cat "$tmp/err")"
grep -q 'is `iron serve` running?' "$tmp/err" || fail "timeout hint: $(cat "$tmp/err")"
[ "$elapsed_ms" -ge 400 ] && [ "$elapsed_ms" -lt 2500 ] || fail "timeout took ${elapsed_ms} ms"

# Nothing listening at all: fails at once (port unreachable) or by the timeout.
kill "$dns_pid"; wait "$dns_pid" 2>/dev/null
start=$(date +%s%N)
expect_rc 1 "nothing listening" -- "$iron" resolve "$id.iron" --server "127.0.0.1:$port" --timeout 1
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
grep -q 'is `iron serve` running?' "$tmp/err" || fail "nothing listening: $(cat "$tmp/err")"
[ "$elapsed_ms" -lt 2500 ] || fail "nothing listening took ${elapsed_ms} ms"

# An IPv6 server, when this host has ::1.
start_server v6 "$tools/dns_serve" --listen ::1
v6=$started_port
if [ -n "$v6" ]; then
	expect_rc 0 "IPv6 server" -- "$iron" resolve "$id.iron" --server "[::1]:$v6"
	grep -q "(\[::1\]:$v6)" "$tmp/out" || fail "IPv6 server: $(cat "$tmp/out")"
else
	echo "note: no ::1 on this host, IPv6 server not tested" >&2
fi

# Usage errors: exit 2.
expect_rc 2 "bad --server" -- "$iron" resolve "$id.iron" --server nowhere
grep -q -- "--server" "$tmp/err" || fail "bad --server message"
expect_rc 2 "bad port" -- "$iron" resolve "$id.iron" --server 127.0.0.1:70000
expect_rc 2 "bad --timeout" -- "$iron" resolve "$id.iron" --timeout 0
expect_rc 2 "bad --timeout text" -- "$iron" resolve "$id.iron" --timeout soon
expect_rc 2 "bad format" -- "$iron" resolve "$id.iron" -f xml
expect_rc 2 "no name" -- "$iron" resolve
expect_rc 2 "two names" -- "$iron" resolve a.iron b.iron
expect_rc 2 "label too long" -- "$iron" resolve "$(printf 'a%.0s' $(seq 70)).iron"
expect_rc 0 "help" -- "$iron" resolve --help
grep -q "Usage: iron resolve" "$tmp/out" || fail "help text"

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "resolve: all checks passed"
