#!/bin/bash
# A private relay over TLS, as a self-hoster runs it: `iron relay
# --tls-listen` with a certificate for relay.test signed by a CA of the
# test's own, and nodes that name it https://relay.test:3443 (the name
# from their namespace's /etc/hosts, through iron's resolver).
# - A and B (UDP and TCP between them dropped) trust the CA through
#   SSL_CERT_FILE: ping both ways and 4 MiB with equal SHA-256 through the
#   relay, status showing the https relay path.
# - C does not trust the CA (the system store only): it does not connect,
#   and its status and log say that the certificate is the reason.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping sha256sum jq nft openssl

make_ns a
make_ns b
make_ns c
make_ns r
link_star r a b c
new_key a
new_key b
new_key c
A=$(node_id a)
B=$(node_id b)
RELAY=https://relay.test:3443

cut_off a 10.98.0.2 fd00:98::2
check "A cannot reach B's address" sh -c "! ip netns exec ${PREFIX}a ping -c 1 -W 1 10.98.0.2 >/dev/null"

# A CA, and the relay's certificate from it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=iron test CA" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>>"$WORK/check.log"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=relay.test" \
	-keyout "$WORK/relay.key" -out "$WORK/relay.csr" 2>>"$WORK/check.log"
printf 'subjectAltName=DNS:relay.test\n' >"$WORK/relay.ext"
openssl x509 -req -in "$WORK/relay.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
	-days 2 -extfile "$WORK/relay.ext" -out "$WORK/relay.pem" 2>>"$WORK/check.log"
check "a CA and a certificate for relay.test" test -s "$WORK/relay.pem"
for n in a b c; do
	printf '127.0.0.1 localhost\n10.98.0.254 relay.test\n' >"/etc/netns/$PREFIX$n/hosts"
done

ip netns exec "${PREFIX}r" "$IRON" relay --listen none --tls-listen 10.98.0.254:3443 --stun-listen none \
	--tls-cert "$WORK/relay.pem" --tls-key "$WORK/relay.key" \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
check "iron relay answers /ping over TLS, the certificate checked" wait_for 10 \
	sh -c "ip netns exec ${PREFIX}a curl -fsS --cacert $WORK/ca.pem -o /dev/null $RELAY/ping"

relay_connected() { # node
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -e --arg u "$RELAY" '.relays[0].connected == true and .relays[0].url == $u' >/dev/null
}
path_of() { # node peer-id
	"$IRON" status --state-dir "$WORK/$1" -f json |
		jq -r --arg id "$2" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"'
}

SSL_CERT_FILE="$WORK/ca.pem" start_iron a --relay-url "$RELAY" --peer "$B@$RELAY" || exit 1
SSL_CERT_FILE="$WORK/ca.pem" start_iron b --relay-url "$RELAY" --peer "$A@$RELAY" || exit 1
start_iron c --relay-url "$RELAY" || exit 1
check "A connected to the relay over TLS" wait_for 10 relay_connected a
check "B connected to the relay over TLS" wait_for 10 relay_connected b

check "ping -6 B.iron from A through the TLS relay: 0% loss" ping_ok a "$B.iron" 10
check "ping -6 A.iron from B: 0% loss" ping_ok b "$A.iron" 5
p=$(path_of a "$B")
check "A's path to B is the relay ($p)" test "$p" = "relay $RELAY"

mkdir -p "$WORK/www-b"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$WORK/www-b/file"
serve_http b "$WORK/www-b"
in_ns a curl -sS -g --max-time 60 -o "$WORK/got" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
check "4 MiB A<-B through the TLS relay, SHA-256 equal" test "$(sum_of "$WORK/got")" = "$(sum_of "$WORK/www-b/file")"

# C trusts only the system store.
c_refused() {
	"$IRON" status --state-dir "$WORK/c" -f json |
		jq -e '.relays[0].connected == false and (.relays[0].failures >= 1) and (.relays[0].last_error | test("certificate"))' >/dev/null
}
check "C, without the CA, refuses the relay's certificate" wait_for 15 c_refused
err=$("$IRON" status --state-dir "$WORK/c" -f json | jq -r '.relays[0].last_error')
echo "C's relay error: $err" >>"$WORK/check.log"
check "C's log says why ($err)" grep -q "certificate" "$WORK/c.log"
clients=$("$IRON" relay status --socket "$WORK/relay.sock" -f json | jq '.clients')
check "the relay has A and B, not C ($clients clients)" test "$clients" = 2
finish
