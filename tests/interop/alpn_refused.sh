#!/bin/bash
# Issue 5, test 5: an iroh endpoint that speaks only an unrelated protocol
# is refused cleanly both ways: iron's dial fails with a TLS alert, logged,
# with backoff; the iroh node's dial to iron is refused with a log line on
# iron's side. iron survives both, keeps serving, and exits cleanly.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping
need_iroh

setup_link
new_key j
J=$(node_id j)
J_IP=$(node_ip j)
start_js other j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn other/1 ||
	{ not_ok "iroh node starts"; finish; }
start_iron a --peer "$J@10.99.0.2:$JS_PORT" || { not_ok "iron starts"; finish; }
A=$(node_id a)

# iron -> an iroh node that offers only "other/1".
n=$(ping_count a "$J_IP" 3)
check "pings to the iroh node get no reply (${n:-0}/3)" test "${n:-1}" -eq 0
check "iron logged the refusal: no common application protocol" \
	log_has a "WARN +peer: connection to ${J:0:10} failed: handshake failed: closed by peer \(TLS alert: No supported application protocol"
check "the iroh node refused iron for want of a common protocol" \
	js_has other '.event == "refused" and (.error | test("NoApplicationProtocol|known protocol"))'
check "iron backs off between dials (retry in ... ms)" log_has a "retry in [0-9]+ ms"
check "iron is still running" alive a
stop_js other

# An iroh node that offers only "other/1" dials iron.
run_js dial j --bind "10.99.0.2:$((JS_PORT + 1))" --alpn other/1 --peer "$A@10.99.0.1:4766" --connect "$A"
check "the iroh node's dial with only other/1 failed" js_has dial '.event == "connect-failed"'
check "iron logged the refused client at the default level" \
	wait_for 5 log_has a "INFO +quic: refused a connection from .*10\.99\.0\.2\]?:$((JS_PORT + 1)): handshake failed: No supported application protocol"
check "iron is still running" alive a

# iron still serves: the same iroh node with iron/packet/0 gets through.
run_js ping j --bind "10.99.0.2:$((JS_PORT + 1))" --alpn iron/packet/0 --peer "$A@10.99.0.1:4766" \
	--ping "$A" --count 3 --interval 100
check "afterwards an iroh node with iron/packet/0 pings iron: $(js_get ping '.event == "ping-done"' received)/3" \
	test "$(js_get ping '.event == "ping-done"' received)" = 3
# exit_status NAME: stops the daemon and gives its exit status.
exit_status() {
	stop_iron "$1" || return 1
	eval "wait \$PID_$1"
}
check "iron exits 0 on SIGTERM" exit_status a
check "iron logged no crash or error" sh -c "! grep -Eq 'ERROR|AddressSanitizer|runtime error' '$WORK/a.log'"
finish
