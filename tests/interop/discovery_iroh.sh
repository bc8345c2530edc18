#!/bin/bash
# Real iroh 1.x finds iron by its ID alone. R stands for the internet:
# `iron relay` and `iron dns-server` serving dns.iroh.link; the iroh node
# uses iroh's N0 preset, whose address lookup asks TXT
# _iroh.<z32>.dns.iroh.link of the system resolver (/etc/resolv.conf, here
# R), and iron publishes its record to R's pkarr relay. The iroh node is
# given nothing but iron's ID (and the relay it uses itself), then pings
# iron's overlay address with each ALPN.
# (The other way, iron finding iroh by ID, cannot be shown here: iroh's N0
# preset publishes only to https://dns.iroh.link/pkarr, out of reach.)
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping dig
need_iroh

make_ns a
make_ns j
make_ns r
link_star r a j
new_key a
new_key j1
new_key j0
A=$(node_id a)
RELAY=http://10.98.0.254:3340
PKARR=http://10.98.0.254:8080/pkarr
# iroh in namespace j resolves through R's DNS server.
echo "nameserver 10.98.0.254" >"/etc/netns/${PREFIX}j/resolv.conf"

ip netns exec "${PREFIX}r" "$IRON" relay --listen 10.98.0.254:3340 --stun-listen none \
	--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
PIDS="$PIDS $!"
ip netns exec "${PREFIX}r" "$IRON" dns-server --listen 10.98.0.254:8080 \
	--dns-listen 10.98.0.254:53 --origin dns.iroh.link --db "$WORK/records.db" \
	--socket "$WORK/dns-server.sock" >>"$WORK/dns-server.log" 2>&1 &
PIDS="$PIDS $!"
check "iron relay and iron dns-server are up" wait_for 10 sh -c \
	"ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping && ip netns exec ${PREFIX}a curl -fsS -o /dev/null http://10.98.0.254:8080/healthcheck"

DISCOVERY=1 start_iron a --relay-url "$RELAY" --pkarr-url "$PKARR" --dns-origin dns.iroh.link \
	--no-lan-discovery || { not_ok "iron starts"; finish; }
published() {
	"$IRON" status --state-dir "$WORK/a" -f json |
		jq -e ".discovery.publishes >= 1 and .discovery.published.relay == \"$RELAY\"" >/dev/null &&
		[ "$("$IRON" status --state-dir "$WORK/a" -f json | jq '.discovery.publishes')" -ge 2 ]
}
# The first record goes out before the relay connects; wait for the one
# with the relay.
check "iron published its record with its relay" wait_for 15 published

for alpn in iron/packet/1 iron/packet/0; do
	name=j${alpn##*/}
	run_js "$name" j --n0 --key "$WORK/$name/secret.key" --bind "10.98.0.2:$JS_PORT" \
		--alpn "$alpn" --relay "$RELAY" --ping "$A" --count 5
	n=$(js_get "$name" '.event == "ping-done"' received)
	check "iroh (N0 lookup, $alpn) -> iron by ID alone: ${n:-0}/5 replies" test "${n:-0}" -eq 5
done
q=$("$IRON" dns-server status --socket "$WORK/dns-server.sock" -f json | jq -c '.dns | {udp, tcp, noerror}')
check "the iroh nodes asked R's DNS server ($q)" sh -c "echo '$q' | jq -e '.noerror >= 2' >/dev/null"
finish
