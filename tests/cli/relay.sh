#!/bin/bash
# iron relay without root on loopback: the HTTP endpoints (curl), the
# WebSocket upgrade and its refusals, authentication, routing, takeover and
# EndpointGone (tests/tools/relayc), --allow, --token, TLS and its reload,
# the STUN responder, iron relay status (text and JSON), and usage errors.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "SKIP: curl is needed"; exit 77; }
RELAYC=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/relayc
[ -x "$RELAYC" ] || { echo "SKIP: $RELAYC is not built"; exit 77; }

RELAY_PIDS=""
stop_relays() {
	for p in $RELAY_PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $RELAY_PIDS; do wait "$p" 2>/dev/null; done
	RELAY_PIDS=""
}
trap 'stop_relays; rm -rf "$TMP" "$SCRATCH"' EXIT

# start_relay NAME ARGS...: iron relay on loopback ports the kernel picks,
# its control socket $TMP/NAME.sock; waits for the readiness line and sets
# HTTP_<NAME>, STUN_<NAME> (ADDR:PORT) and PID_<NAME>.
start_relay() {
	local name=$1 line
	shift
	"$IRON" relay --socket "$TMP/$name.sock" "$@" 2>"$SCRATCH/$name.log" &
	eval "PID_$name=$!"
	RELAY_PIDS="$RELAY_PIDS $!"
	for _ in $(seq 100); do
		line=$(grep -m1 '^iron relay ready: ' "$SCRATCH/$name.log")
		[ -n "$line" ] && break
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$line" ]; then
		echo "relay $name did not come up: $(cat "$SCRATCH/$name.log")" >&2
		exit 1
	fi
	eval "HTTP_$name=$(echo "$line" | sed -n 's/.* http \([^ ,]*\).*/\1/p')"
	eval "HTTPS_$name=$(echo "$line" | sed -n 's/.* https \([^ ,]*\).*/\1/p')"
	eval "STUN_$name=$(echo "$line" | sed -n 's/.* stun \([^ ,]*\).*/\1/p')"
}

# status NAME: `iron relay status -f json` of relay NAME into $out.
status() { run relay status -f json --socket "$TMP/$1.sock"; }

start_relay main --listen 127.0.0.1:0 --stun-listen 127.0.0.1:0
H=$HTTP_main
case $H in 127.0.0.1:[0-9]*) ok ;; *) fail "readiness line has no http address: $H" ;; esac

# --- plain HTTP endpoints --------------------------------------------------
code() { curl -s -o "$SCRATCH/body" -D "$SCRATCH/head" -w '%{http_code}' --max-time 5 "$@"; }
header() { tr -d '\r' <"$SCRATCH/head" | sed -n "s/^$1: //Ip"; }

[ "$(code "http://$H/ping")" = 200 ] && ok || fail "/ping is not 200"
[ "$(code -H 'X-Iroh-Challenge: abc.DEF-12_3' "http://$H/generate_204")" = 204 ] && ok ||
	fail "/generate_204 is not 204"
[ "$(header X-Iroh-Response)" = "response abc.DEF-12_3" ] && ok ||
	fail "/generate_204 answered [$(header X-Iroh-Response)] to the challenge"
[ "$(code -H 'X-Iroh-Challenge: no spaces!' "http://$H/generate_204")" = 204 ] && ok ||
	fail "/generate_204 with a bad challenge is not 204"
[ -z "$(header X-Iroh-Response)" ] && ok || fail "a bad challenge got a response header"
long=$(printf 'a%.0s' $(seq 64))
code -H "X-Iroh-Challenge: $long" "http://$H/generate_204" >/dev/null
[ -z "$(header X-Iroh-Response)" ] && ok || fail "a 64-character challenge got a response"
[ "$(code "http://$H/healthz")" = 200 ] && ok || fail "/healthz is not 200"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["status"] != "ok")' \
	"$SCRATCH/body" && ok || fail "/healthz body: $(cat "$SCRATCH/body")"
[ "$(code "http://$H/")" = 200 ] && ok || fail "/ is not 200"
[ "$(code "http://$H/robots.txt")" = 200 ] && ok || fail "/robots.txt is not 200"
[ "$(cat "$SCRATCH/body")" = "$(printf 'User-agent: *\nDisallow: /')" ] && ok ||
	fail "robots.txt: $(cat "$SCRATCH/body")"
[ "$(code "http://$H/nothing-here")" = 404 ] && ok || fail "an unknown path is not 404"
[ "$(code -X POST "http://$H/ping")" = 404 ] && ok || fail "POST /ping is not 404"
# Keep-alive: two requests on one connection.
[ "$(curl -s -o /dev/null -o /dev/null -w '%{http_code}%{num_connects}' "http://$H/ping" "http://$H/healthz")" = 20012000 ] &&
	ok || fail "two requests on one kept-alive connection"

# --- the upgrade and its refusals -------------------------------------------
WS=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
[ "$(code "http://$H/relay")" = 400 ] && ok || fail "/relay without upgrade is not 400"
[ "$(code "${WS[@]}" "http://$H/relay")" = 400 ] && ok || fail "/relay without a subprotocol is not 400"
[ "$(code "${WS[@]}" -H 'Sec-WebSocket-Protocol: chat' "http://$H/relay")" = 400 ] && ok ||
	fail "an unknown subprotocol is not 400"
[ "$(code -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 8' -H 'Sec-WebSocket-Key: x' \
	-H 'Sec-WebSocket-Protocol: iroh-relay-v2' "http://$H/relay")" = 400 ] && ok ||
	fail "WebSocket version 8 is not 400"
[ "$(header Sec-WebSocket-Version)" = 13 ] && ok || fail "the 400 does not name version 13"
[ "$(code -H 'Upgrade: h2c' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: x' \
	-H 'Sec-WebSocket-Protocol: iroh-relay-v2' "http://$H/relay")" = 400 ] && ok ||
	fail "Upgrade: h2c is not 400"
# A good upgrade: 101, the RFC 6455 example accept key, the subprotocol
# (curl then waits for the challenge bytes: cut it short).
curl -s -D "$SCRATCH/head" -o /dev/null --max-time 1 "${WS[@]}" \
	-H 'Sec-WebSocket-Protocol: iroh-relay-v1, iroh-relay-v2' "http://$H/relay"
head -n1 "$SCRATCH/head" | grep -q '^HTTP/1.1 101' && ok || fail "no 101: $(cat "$SCRATCH/head")"
[ "$(header Sec-WebSocket-Accept)" = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ] && ok ||
	fail "Sec-WebSocket-Accept is [$(header Sec-WebSocket-Accept)]"
[ "$(header Sec-WebSocket-Protocol)" = iroh-relay-v2 ] && ok ||
	fail "the subprotocol chosen is [$(header Sec-WebSocket-Protocol)], not v2"

# --- the relay protocol ------------------------------------------------------
rc_of() { out=$("$RELAYC" "$@" 2>&1); rc=$?; err=$out; }
rc_of "$H" auth 7
expect_rc 0 "authentication"
expect_out "confirmed" "authentication"
rc_of "$H" badsig 7
expect_rc 0 "a wrong signature"
expect_out "denied: signature invalid" "a wrong signature"
rc_of "$H" pair 200 1200
expect_rc 0 "pair: datagrams both ways and EndpointGone"
expect_out_has "gone ok" "EndpointGone after B left"
rc_of "$H" --v1 pair 50 100
expect_rc 0 "pair over iroh-relay-v1"
rc_of "$H" takeover
expect_rc 0 "a second connection with the same ID (v2)"
expect_out_has "status 1" "Status(SameEndpointIdConnected)"
rc_of "$H" --v1 takeover
expect_rc 0 "a second connection with the same ID (v1)"
rc_of "$H" pair 3 65000
expect_rc 0 "datagrams of 65000 bytes"

# --- STUN --------------------------------------------------------------------
stun=$(python3 - "$STUN_main" <<'PY'
import os, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.bind(("127.0.0.1", 0))
txid = os.urandom(12)
s.sendto(struct.pack(">HHI", 1, 0, 0x2112A442) + txid, (host, int(port)))
data, _ = s.recvfrom(2048)
typ, length, cookie = struct.unpack(">HHI", data[:8])
assert typ == 0x0101 and cookie == 0x2112A442 and data[8:20] == txid, "bad header"
i, mapped = 20, None
while i + 4 <= len(data):
    at, al = struct.unpack(">HH", data[i:i + 4])
    v = data[i + 4:i + 4 + al]
    if at == 0x0020:
        xport = struct.unpack(">H", v[2:4])[0] ^ 0x2112
        xaddr = struct.unpack(">I", v[4:8])[0] ^ 0x2112A442
        mapped = "%s:%d" % (socket.inet_ntoa(struct.pack(">I", xaddr)), xport)
    i += 4 + (al + 3) // 4 * 4
want = "%s:%d" % s.getsockname()
print("ok" if mapped == want else "mapped %s, expected %s" % (mapped, want))
PY
)
[ "$stun" = ok ] && ok || fail "STUN Binding: $stun"

# --- status --------------------------------------------------------------------
status main
expect_rc 0 "relay status -f json"
expect_json "$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d))')" "status is JSON"
[ "$(json_field '["service"]')" = relay ] && ok || fail "status service: $out"
[ "$(json_field '["datagrams"]["relayed"]')" -ge 400 ] && ok || fail "relayed count: $out"
[ "$(json_field '["auth"]["bad_signature"]')" -ge 1 ] && ok || fail "bad signatures: $out"
[ "$(json_field '["auth"]["ok"]')" -ge 8 ] && ok || fail "authentications: $out"
[ "$(json_field '["replaced"]')" -ge 2 ] && ok || fail "replaced: $out"
[ "$(json_field '["endpoint_gone_sent"]')" -ge 2 ] && ok || fail "EndpointGone count: $out"
[ "$(json_field '["stun"]["responses"]')" = 1 ] && ok || fail "STUN responses: $out"
[ "$(json_field '["http"]["bad_requests"]')" -ge 5 ] && ok || fail "bad requests: $out"
[ "$(json_field '["listen"]["http"][0]')" = "$H" ] && ok || fail "listen address: $out"
run relay status --socket "$TMP/main.sock"
expect_rc 0 "relay status"
expect_out_has "datagrams" "relay status text"
expect_out_has "authenticated" "relay status text"

# --- --allow and --token ----------------------------------------------------------
ID1=$("$RELAYC" "$H" id 1)
start_relay acl --listen 127.0.0.1:0 --stun-listen none --allow "$ID1" --token s3cret
A=$HTTP_acl
[ "$STUN_acl" = none ] && ok || fail "--stun-listen none still has STUN: $STUN_acl"
[ "$(code "${WS[@]}" -H 'Sec-WebSocket-Protocol: iroh-relay-v2' "http://$A/relay")" = 401 ] && ok ||
	fail "/relay without the token is not 401"
[ "$(code "${WS[@]}" -H 'Sec-WebSocket-Protocol: iroh-relay-v2' -H 'Authorization: Bearer wrong' "http://$A/relay")" = 401 ] &&
	ok || fail "/relay with a wrong token is not 401"
[ "$(code "http://$A/ping")" = 200 ] && ok || fail "/ping needs no token"
rc_of "$A" --token s3cret auth 1
expect_out "confirmed" "an allowed node with the token"
rc_of "$A" --token s3cret auth 2
expect_out "denied: not authorized" "a node not in --allow"
rc_of "$A" auth 1
expect_out "denied: HTTP 401" "an allowed node without the token"
status acl
[ "$(json_field '["auth"]["denied"]')" = 1 ] && ok || fail "denied count: $out"
[ "$(json_field '["auth"]["bad_token"]')" = 3 ] && ok || fail "bad token count: $out"

# --- one relay per socket; usage errors ----------------------------------------------
run relay --socket "$TMP/main.sock" --listen 127.0.0.1:0 --stun-listen none
expect_rc 1 "a second relay on the same socket"
expect_err "another iron relay" "a second relay on the same socket"
for args in "--listen bogus" "--listen 127.0.0.1" "--max-clients 0" "--max-clients x" \
	"--rate 5X" "--rate -1" "--burst 0" "--queue-limit 9G" "--tls-cert only.pem" \
	"--tls-listen 127.0.0.1:0" "--allow not-an-id" "--handshake-timeout 0" \
	"--listen none --stun-listen none" "--format json" "extra" "--token" \
	"status --listen 127.0.0.1:1" "status extra" "status -f yaml"; do
	# shellcheck disable=SC2086
	run relay $args
	expect_rc 2 "iron relay $args"
	expect_one_line_error "iron relay $args"
done
run relay status --socket "$TMP/none.sock"
expect_rc 1 "relay status without a relay"
expect_one_line_error "relay status without a relay"
run relay status -f json --socket "$TMP/none.sock"
expect_rc 1 "relay status -f json without a relay"
[ "$(json_field '["ok"]')" = False ] && ok || fail "relay status -f json error: $out"
run relay --help
expect_rc 0 "relay --help"
expect_out_has "--stun-listen" "relay --help"

# --- TLS, and its reload on SIGHUP -----------------------------------------------
if command -v openssl >/dev/null; then
	gen_cert() {
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=$1" -addext "subjectAltName=DNS:$1" \
			-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
	}
	gen_cert relay-one.test
	start_relay tls --listen none --tls-listen 127.0.0.1:0 --stun-listen none \
		--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
	T=$HTTPS_tls
	[ "$(code -k "https://$T/ping")" = 200 ] && ok || fail "/ping over TLS"
	[ "$(header Strict-Transport-Security)" != "" ] && ok || fail "no HSTS header over TLS"
	curl -sk -v -o /dev/null "https://$T/ping" 2>&1 | grep -q 'CN=relay-one.test' && ok ||
		fail "the first certificate is not served"
	gen_cert relay-two.test
	kill -HUP "$PID_tls"
	for _ in $(seq 50); do
		curl -sk -v -o /dev/null "https://$T/ping" 2>&1 | grep -q 'CN=relay-two.test' && break
		sleep 0.1
	done
	curl -sk -v -o /dev/null "https://$T/ping" 2>&1 | grep -q 'CN=relay-two.test' && ok ||
		fail "SIGHUP did not load the new certificate"
	status tls
	[ "$(json_field '["tls_reloads"]')" = 1 ] && ok || fail "tls_reloads: $out"
	echo "not a key" >"$TMP/key.pem"
	kill -HUP "$PID_tls"
	[ "$(code -k "https://$T/ping")" = 200 ] && ok || fail "a bad certificate on SIGHUP broke TLS"
else
	fail "openssl is not installed"
fi

# --- SIGHUP without TLS, then SIGTERM: exit 0, socket removed --------------------------
kill -HUP "$PID_main"
[ "$(code "http://$H/ping")" = 200 ] && ok || fail "the relay died on SIGHUP"
kill -TERM "$PID_main"
wait "$PID_main"
main_rc=$?
[ "$main_rc" = 0 ] && ok || fail "SIGTERM: exit $main_rc"
[ ! -e "$TMP/main.sock" ] && ok || fail "the control socket is left behind"
finish
