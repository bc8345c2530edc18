#!/bin/bash
# Paths with an MTU below 1500. nftables drops every underlay packet over
# N bytes (a black hole: no ICMP, the sender learns nothing), or the veth's
# MTU is lowered (the sender's kernel knows). iron finds the path MTU of
# each connection, answers larger packets from the TUN with an ICMPv6
# Packet Too Big carrying what the path can take, and carries packets up
# to 1280 bytes on a stream when a datagram cannot hold them. Pings of
# 1300 and 1400 bytes by name and a 10 MiB transfer (SHA-256) must work.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd nft ethtool ping curl python3 sha256sum jq

make_pair
mkdir -p "$WORK/www"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www/file"

# black_hole N: both namespaces drop incoming UDP packets longer than N
# bytes (the IP header included), counting them. A veth hands a UDP GSO
# batch over whole, and nftables would see its total length: the sender
# segments in software instead, as a real NIC does on the wire.
black_hole() {
	ip netns exec "${PREFIX}a" ethtool -K "${PREFIX}a" tx-udp-segmentation off >/dev/null
	ip netns exec "${PREFIX}b" ethtool -K "${PREFIX}b" tx-udp-segmentation off >/dev/null
	for n in a b; do
		in_ns "$n" nft delete table inet pmtu 2>/dev/null
		in_ns "$n" nft -f - <<NFT
table inet pmtu {
	chain in { type filter hook input priority 0; meta l4proto udp meta length > $1 counter drop; }
}
NFT
	done
}

dropped() {
	in_ns b nft list table inet pmtu 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}

# peer_json NODE: A's (or B's) status entry for the other node.
peer_json() {
	"$IRON" status --state-dir "$WORK/$1" -f json 2>/dev/null | jq -c '.peers[0]'
}

# pmtu_settled NODE: the connection finished its path MTU search.
pmtu_settled() {
	peer_json "$1" | jq -e '.path_mtu_settled == true' >/dev/null
}

# scenario NAME FAMILY EXPECT_PATH_MTU EXPECT_PTB
# The daemons start fresh (a new connection), then: the search settles on
# the expected UDP payload size exactly, an oversized ping with -M do gets
# a Packet Too Big with EXPECT_PTB and one of that size works, pings of
# 1300 and 1400 bytes (the host fragments them after the PTB) and a 10 MiB
# transfer work. Below 1280 in a datagram, packets take streams.
scenario() {
	name=$1 fam=$2 want_pmtu=$3 want_ptb=$4
	if [ "$fam" = 6 ]; then ua="[fd00:99::1]" ub="[fd00:99::2]"; else ua=10.99.0.1 ub=10.99.0.2; fi
	start_iron a --peer "$B@$ub:4766" || { not_ok "$name: daemons start"; return; }
	start_iron b --peer "$A@$ua:4766" || { not_ok "$name: daemons start"; return; }
	check "$name: small ping A->B" ping_ok a "$B.iron" 3
	check "$name: path MTU search settles" wait_for 10 pmtu_settled a
	got=$(peer_json a | jq -r '.path_mtu')
	echo "$name: A's path MTU (UDP payload) $got, max packet $(peer_json a | jq -r '.max_packet')"
	check "$name: path MTU (UDP payload) $got, exactly $want_pmtu" test "$got" = "$want_pmtu"
	cc=$(peer_json a | jq -c '{cwnd, bytes_in_flight}')
	check "$name: status shows the congestion window ($cc)" \
		sh -c "echo '$cc' | jq -e '(.cwnd | type) == \"number\" and .cwnd > 0 and (.bytes_in_flight | type) == \"number\"' >/dev/null"

	# -M do: the host may not fragment; the first oversized ping gets the
	# PTB, the later ones fail locally with the MTU it learnt.
	out=$(in_ns a ping -6 -M do -s 1372 -c 2 -i 0.2 -W 1 "$B.iron" 2>&1)
	echo "$out" >>"$WORK/check.log"
	ptb=$(echo "$out" | grep -o 'mtu[=:] *[0-9]*' | head -1 | grep -o '[0-9]*$')
	echo "$name: ping -M do -s 1372 learnt mtu ${ptb:-none}"
	check "$name: Packet Too Big with mtu $want_ptb (got ${ptb:-none})" test "${ptb:-0}" = "$want_ptb"
	check "$name: ping -M do -s $((want_ptb - 48)) (fits the PTB) 0% loss" \
		sh -c "ip netns exec ${PREFIX}a ping -6 -M do -s $((want_ptb - 48)) -c 5 -i 0.05 -W 2 $B.iron | grep -q ' 0% packet loss'"
	for size in 1300 1400; do
		# The first may be the one answered by the PTB.
		in_ns a ping -6 -s "$size" -c 1 -W 1 "$B.iron" >/dev/null 2>&1
		check "$name: ping -s $size A->B 0% loss" \
			sh -c "ip netns exec ${PREFIX}a ping -6 -s $size -c 10 -i 0.05 -W 2 $B.iron | grep -q ' 0% packet loss'"
		in_ns b ping -6 -s "$size" -c 1 -W 1 "$A.iron" >/dev/null 2>&1
		check "$name: ping -s $size B->A 0% loss" \
			sh -c "ip netns exec ${PREFIX}b ping -6 -s $size -c 10 -i 0.05 -W 2 $A.iron | grep -q ' 0% packet loss'"
	done
	rm -f "$WORK/got"
	start=$(date +%s%N)
	in_ns a curl -sS -g --max-time 30 -o "$WORK/got" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
	ms=$((($(date +%s%N) - start) / 1000000))
	got_bytes=$(stat -c %s "$WORK/got" 2>/dev/null || echo 0)
	echo "$name: 10 MiB A<-B: $got_bytes bytes in $ms ms"
	check "$name: 10 MiB A<-B by curl, SHA-256 equal" test "$(sum_of "$WORK/got" 2>/dev/null)" = "$(sum_of "$WORK/www/file")"
	echo "$name: packets dropped by the black hole at B: $(dropped)"
	tr=$("$IRON" status --state-dir "$WORK/b" -f json | jq -c '.transport | {gso_batches_sent, send_errors}')
	pj=$(peer_json b | jq -c '{path_mtu, max_packet, max_datagram, stream_packets_out, pmtu_probes, pmtu_probes_lost}')
	echo "$name: B's sockets: $tr; B's peer entry: $pj"
	if [ "$want_ptb" = 1280 ]; then
		check "$name: B sent packets too large for a datagram on streams" \
			sh -c "echo '$pj' | jq -e '.max_datagram < 1280 and .stream_packets_out > 0' >/dev/null"
	else
		check "$name: B sent every packet as a datagram" \
			sh -c "echo '$pj' | jq -e '.max_datagram == $want_ptb and .stream_packets_out == 0' >/dev/null"
	fi
	# A datagram over the device's MTU fails alone (EMSGSIZE) and in a
	# GSO batch (EINVAL): the refused probe must not turn GSO off.
	check "$name: GSO still in use at B" sh -c "echo '$tr' | jq -e '.gso_batches_sent > 0' >/dev/null &&
		! grep -q 'GSO not available' '$WORK/b.log'"
	stop_iron a
	stop_iron b
}

serve_http b "$WORK/www"

# IPv6 underlay, 1280: 1232-byte UDP payloads; a datagram holds 1200 bytes
# of packet, so 1201..1280-byte packets take a stream and the PTB says 1280.
black_hole 1280
scenario "black hole 1280, IPv6" 6 1232 1280

# IPv4 underlay, 1400: 1372-byte UDP payloads, 1340-byte packets.
black_hole 1400
scenario "black hole 1400, IPv4" 4 1372 1340

# The veth's MTU at 1280 (no rule): the kernel refuses what does not fit
# (DF set) instead of fragmenting; GSO keeps working.
for n in a b; do in_ns "$n" nft delete table inet pmtu; done
ip -n "${PREFIX}a" link set "${PREFIX}a" mtu 1280
ip -n "${PREFIX}b" link set "${PREFIX}b" mtu 1280
scenario "veth MTU 1280, IPv4" 4 1252 1280
finish
