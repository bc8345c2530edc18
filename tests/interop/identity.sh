#!/bin/bash
# Issue 5, test 4: identity. An iron key file (made by `iron key generate`)
# loaded as an iroh endpoint's secret key gives the same node ID in both
# implementations, and a key made by iroh is a valid iron key file with the
# same ID; then a live check: iron dials a node ID whose holder is not the
# iroh node at that address, and refuses the connection (peer key mismatch),
# while the right ID at the same address works.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping
need_iroh

setup_link

# iron's key file -> iroh.
mkdir -p "$WORK/k"
chmod 700 "$WORK/k"
"$IRON" key generate --save --state-dir "$WORK/k" >/dev/null 2>>"$WORK/check.log"
start_js key j --key "$WORK/k/secret.key" --bind "10.99.0.2:$JS_PORT" || { not_ok "iroh node starts"; finish; }
stop_js key
check "iroh's ID (base32) of iron's key file equals 'iron self --base32'" \
	test "$(js_get key '.event == "ready"' id)" = "$(node_id k)"
check "iroh's own rendering of the ID (hex) equals 'iron self --hex'" \
	test "$(js_get key '.event == "ready"' iroh_id)" = "$("$IRON" self --state-dir "$WORK/k" --hex)"
check "the overlay address is the same" \
	test "$(js_get key '.event == "ready"' addr)" = "$(node_ip k)"

# iroh's key -> iron: a fresh iroh key saved raw is a valid iron key file.
mkdir -p "$WORK/r"
chmod 700 "$WORK/r"
start_js gen j --save-key "$WORK/r/secret.key" --bind "10.99.0.2:$JS_PORT" || { not_ok "iroh node starts"; finish; }
stop_js gen
check "iron validates the key file iroh wrote" "$IRON" key validate --state-dir "$WORK/r"
check "iron computes the same ID from it as iroh" \
	test "$(js_get gen '.event == "ready"' hex)" = "$("$IRON" self --state-dir "$WORK/r" --hex)"

# A live check: X is a node ID whose key the iroh node does not hold.
new_key j
new_key x
J=$(node_id j)
X=$(node_id x)
X_IP=$(node_ip x)
start_js js j --key "$WORK/j/secret.key" --bind "10.99.0.2:$JS_PORT" --alpn iron/packet/0 ||
	{ not_ok "iroh node starts"; finish; }
start_iron a --peer "$X@10.99.0.2:$JS_PORT" --peer "$J@10.99.0.2:$JS_PORT" || { not_ok "iron starts"; finish; }
n=$(ping_count a "$X_IP" 2)
check "pings to X, dialled at the iroh node's address, get no reply (${n:-0}/2)" test "${n:-1}" -eq 0
check "iron refused the iroh node's key when dialling X (logged)" \
	log_has a "peer key mismatch: dialled $X, got $J"
check "the dial failed with a clear reason" \
	log_has a "connection to ${X:0:10} failed: handshake failed: peer key mismatch"
check "the iroh node saw its connection refused by iron" js_has js '.event == "refused"'
check "the iroh node got no packet for X" test "$(js_count js '.event == "echo-request"')" -eq 0
n=$(ping_count a "$J.iron" 3)
check "the right ID at the same address works: ${n:-0}/3 replies" test "${n:-0}" -eq 3
check "iron is still running" alive a
finish
