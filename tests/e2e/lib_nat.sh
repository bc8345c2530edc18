# The NAT topology of e2e.nat, e2e.rebind and bench/nat, sourced after
# lib.sh. R is the internet (11.22.33.0/24: a public range, as miniupnpd
# maps nothing on a reserved one; nothing leaves the namespaces). NA and NB
# are home routers between a private network and R (NA 11.22.33.1, NB
# 11.22.33.2), A is behind NA (192.168.1.2), B behind NB (192.168.2.2).
#   nat_routers            the namespaces and links (no NAT rules yet)
#   nat_mode GW MODE       masquerade on GW, ordinary or symmetric
#   nat_services           `iron relay` (with STUN) and `iron dns-server`
#                          in R, the first nameserver of A and B; sets
#                          RELAY, PKARR, A, B
# and the helpers status, path_of, path_is, reflexive_known, published,
# start_node, probes_out.
nat_routers() {
	make_ns r
	make_ns na
	make_ns nb
	make_ns a
	make_ns b
	# A fixed address: see link_star in lib.sh.
	ip -n "${PREFIX}r" link add br0 address 02:00:00:00:98:fe type bridge
	ip -n "${PREFIX}r" addr add 11.22.33.254/24 dev br0
	ip -n "${PREFIX}r" link set br0 up
	i=1
	for side in a b; do
		gw=n$side
		ip link add "${PREFIX}w$i" netns "$PREFIX$gw" type veth peer name "p$i" netns "${PREFIX}r"
		ip -n "${PREFIX}r" link set "p$i" master br0 up
		ip -n "$PREFIX$gw" addr add "11.22.33.$i/24" dev "${PREFIX}w$i"
		ip -n "$PREFIX$gw" link set "${PREFIX}w$i" up
		ip link add "${PREFIX}l$i" netns "$PREFIX$gw" type veth peer name "${PREFIX}h$i" netns "$PREFIX$side"
		ip -n "$PREFIX$gw" addr add "192.168.$i.1/24" dev "${PREFIX}l$i"
		ip -n "$PREFIX$gw" link set "${PREFIX}l$i" up
		ip -n "$PREFIX$side" addr add "192.168.$i.2/24" dev "${PREFIX}h$i"
		ip -n "$PREFIX$side" link set "${PREFIX}h$i" up
		ip -n "$PREFIX$side" route add default via "192.168.$i.1"
		ip netns exec "$PREFIX$gw" sysctl -qw net.ipv4.ip_forward=1
		i=$((i + 1))
	done
}

# nat_mode GW MODE: GW masquerades its private side; MODE "" (ordinary)
# or "random" (symmetric: a new port per destination). Like a home router
# (OpenWrt's default zone rules) it drops what arrives unasked from the
# WAN for itself: such a packet must not leave a conntrack entry behind,
# which would take the port the node's own flow needs. Counts the probes
# (UDP datagrams of 9 bytes: iron's) it forwards out.
nat_mode() { # GW MODE
	local n=1
	[ "$1" = nb ] && n=2
	ip netns exec "$PREFIX$1" nft delete table ip nat 2>/dev/null
	ip netns exec "$PREFIX$1" nft -f - <<EOF
table ip nat {
	counter probes { }
	chain count { type filter hook forward priority 0; oifname "${PREFIX}w$n" udp length 17 counter name probes; }
	chain post { type nat hook postrouting priority 100; oifname "${PREFIX}w$n" masquerade $2; }
	chain input { type filter hook input priority 0; iifname "${PREFIX}w$n" ct state established,related accept; iifname "${PREFIX}w$n" drop; }
}
EOF
}
probes_out() { # GW
	ip netns exec "$PREFIX$1" nft -j list counter ip nat probes | jq '.nftables[1].counter.packets'
}

# nat_ordinary: both routers ordinary, and A and B reach R.
nat_ordinary() {
	nat_mode na ""
	nat_mode nb ""
	check "A reaches R through NA" wait_for 5 in_ns a ping -c 1 -W 1 11.22.33.254
	check "B reaches R through NB" wait_for 5 in_ns b ping -c 1 -W 1 11.22.33.254
	check "R cannot reach A's private address" sh -c "! ip netns exec ${PREFIX}r ping -c 1 -W 1 192.168.1.2 >/dev/null 2>&1"
}

nat_services() {
	# R answers for dns.iroh.link, iron's in-tunnel DNS for .iron names.
	for side in a b; do
		printf 'nameserver 11.22.33.254\nnameserver fd69:726f:0:1::53\n' >"/etc/netns/$PREFIX$side/resolv.conf"
	done
	RELAY=http://11.22.33.254:3340
	PKARR=http://11.22.33.254:8080/pkarr
	ip netns exec "${PREFIX}r" "$IRON" relay --listen 11.22.33.254:3340 --stun-listen 11.22.33.254:3478 \
		--socket "$WORK/relay.sock" >>"$WORK/relay.log" 2>&1 &
	PIDS="$PIDS $!"
	ip netns exec "${PREFIX}r" "$IRON" dns-server --listen 11.22.33.254:8080 \
		--dns-listen 11.22.33.254:53 --db "$WORK/records.db" \
		--socket "$WORK/dns-server.sock" >>"$WORK/dns-server.log" 2>&1 &
	PIDS="$PIDS $!"
	check "relay and dns-server are up" wait_for 10 sh -c \
		"ip netns exec ${PREFIX}a curl -fsS -o /dev/null $RELAY/ping && ip netns exec ${PREFIX}a curl -fsS -o /dev/null http://11.22.33.254:8080/healthcheck"

	new_key a
	new_key b
	A=$(node_id a)
	B=$(node_id b)
}

status() { "$IRON" status --state-dir "$WORK/$1" -f json; }
path_of() { status "$1" | jq -r --arg id "$2" '.peers[] | select(.id == $id) | "\(.path) \(.remote)"'; }
path_is() { [ "$(path_of "$1" "$2" | cut -d' ' -f1)" = "$3" ]; }
reflexive_known() { status "$1" | jq -e '.discovery.reflexive | length > 0' >/dev/null; }
published() { status "$1" | jq -e ".discovery.publishes >= 1 and .discovery.published.relay == \"$RELAY\" and (.discovery.published.addrs[0] | startswith(\"11.22.33.\"))" >/dev/null; }
start_node() { # node port
	DISCOVERY=1 start_iron "$1" --listen "0.0.0.0:$2" --relay-url "$RELAY" --pkarr-url "$PKARR" \
		--no-lan-discovery
}
