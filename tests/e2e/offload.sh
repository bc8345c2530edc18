#!/bin/bash
# TUN offloads for real: with them (the default) the TUN has TSO and
# checksum offload on, a 10 MiB transfer each way arrives intact, the
# daemon splits TSO reads and writes coalesced segments, and nothing is
# refused; then both daemons again with IRON_TUN_OFFLOAD=0: a plain TUN,
# the same transfers, no offload counters.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping sha256sum ethtool
HERE=$(dirname "$0")

status_of() {
	python3 "$HERE/iron_status.py" "$WORK/$1/iron.sock" "${@:2}"
}

# feature NODE NAME: prints on/off for an ethtool -k feature of NODE's TUN.
feature() {
	tun=$(status_of "$1" tun.name)
	in_ns "$1" ethtool -k "$tun" | sed -n "s/^$2: \([a-z]*\).*/\1/p"
}

transfers() {
	label=$1
	check "$label: ping -6 -c 5 B.iron from A: 0% loss" ping_ok a "$B.iron" 5
	in_ns a curl -sS -g --max-time 60 -o "$WORK/got-from-b" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
	check "$label: 10 MiB A<-B by curl, SHA-256 equal" test "$(sum_of "$WORK/got-from-b")" = "$(sum_of "$WORK/www-b/file")"
	in_ns b curl -sS -g --max-time 60 -o "$WORK/got-from-a" "http://$A.iron:8000/file" 2>>"$WORK/check.log"
	check "$label: 10 MiB B<-A by curl, SHA-256 equal" test "$(sum_of "$WORK/got-from-a")" = "$(sum_of "$WORK/www-a/file")"
	rm -f "$WORK/got-from-a" "$WORK/got-from-b"
}

# counters NODE: the offload counters of NODE, one "name value" a line.
counters() {
	for c in tun_gso_reads tun_segments_split tun_coalesced_writes tun_coalesced_segments \
		tun_offload_errors; do
		echo "$c $(status_of "$1" "counters.$c")"
	done
}

counter() {
	counters "$1" | sed -n "s/^$2 //p"
}

setup_pair 4 || { not_ok "daemons start"; finish; }
mkdir -p "$WORK/www-a" "$WORK/www-b"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www-b/file"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www-a/file"
serve_http b "$WORK/www-b"
serve_http a "$WORK/www-a"

check "offloads: A's TUN has tcp-segmentation-offload on" test "$(feature a tcp-segmentation-offload)" = on
check "offloads: A's TUN has tx-checksumming on" test "$(feature a tx-checksumming)" = on
check "offloads: status says TSO on" test "$(status_of a tun.offload.tso)" = True
transfers "offloads"
for n in a b; do
	counters "$n" | sed "s/^/$n: /"
	check "offloads: $n split TSO reads" test "$(counter "$n" tun_segments_split)" -gt "$(counter "$n" tun_gso_reads)"
	check "offloads: $n wrote coalesced segments" test "$(counter "$n" tun_coalesced_segments)" -gt "$(counter "$n" tun_coalesced_writes)"
	check "offloads: $n had more than 100 coalesced writes" test "$(counter "$n" tun_coalesced_writes)" -gt 100
	check "offloads: $n no offload errors" test "$(counter "$n" tun_offload_errors)" -eq 0
	# The peer's GSO batches cross the veth whole: UDP_GRO reads them so.
	check "offloads: $n read GRO batches from the UDP socket" test "$(status_of "$n" transport.gro_batches_received)" -gt 0
done

# The same without offloads.
for n in a b; do stop_iron "$n"; done
IRON_TUN_OFFLOAD=0 start_iron a --peer "$B@$UNDER_B:4766" || not_ok "IRON_TUN_OFFLOAD=0: A starts"
IRON_TUN_OFFLOAD=0 start_iron b --peer "$A@$UNDER_A:4766" || not_ok "IRON_TUN_OFFLOAD=0: B starts"
for n in a b; do
	eval "pid=\$PID_$n"
	check "IRON_TUN_OFFLOAD=0: $n's new daemon is up (pid $pid)" answers_as "$n" "$pid"
done
check "IRON_TUN_OFFLOAD=0: A's TUN has tcp-segmentation-offload off" test "$(feature a tcp-segmentation-offload)" = off
check "IRON_TUN_OFFLOAD=0: status says no vnet header" test "$(status_of a tun.offload.vnet_hdr)" = False
transfers "IRON_TUN_OFFLOAD=0"
for n in a b; do
	check "IRON_TUN_OFFLOAD=0: $n no split reads or coalesced writes" test "$(counters "$n" | awk '{s += $2} END {print s}')" -eq 0
done
finish
