#!/bin/bash
# Two nodes over a veth, IPv4 and IPv6 underlay: ping both ways by name, a
# 10 MiB file by curl both ways (SHA-256 compared), iperf3 for 10 s.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 curl ping sha256sum

run_family() {
	fam=$1
	setup_pair "$fam" || { not_ok "IPv$fam: daemons start"; return; }
	check "IPv$fam: ping -6 -c 20 B.iron from A: 0% loss" ping_ok a "$B.iron" 20
	check "IPv$fam: ping -6 -c 20 A.iron from B: 0% loss" ping_ok b "$A.iron" 20

	mkdir -p "$WORK/www-a" "$WORK/www-b"
	head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www-b/file"
	head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www-a/file"
	serve_http b "$WORK/www-b"
	serve_http a "$WORK/www-a"
	in_ns a curl -sS -g --max-time 60 -o "$WORK/got-from-b" "http://$B.iron:8000/file" 2>>"$WORK/check.log"
	check "IPv$fam: 10 MiB A<-B by curl, SHA-256 equal" test "$(sum_of "$WORK/got-from-b")" = "$(sum_of "$WORK/www-b/file")"
	in_ns b curl -sS -g --max-time 60 -o "$WORK/got-from-a" "http://$A.iron:8000/file" 2>>"$WORK/check.log"
	check "IPv$fam: 10 MiB B<-A by curl, SHA-256 equal" test "$(sum_of "$WORK/got-from-a")" = "$(sum_of "$WORK/www-a/file")"

	if command -v iperf3 >/dev/null; then
		in_ns b iperf3 -s -1 -D --logfile "$WORK/iperf3-server.log"
		wait_for 5 sh -c "ip netns exec ${PREFIX}b ss -tln | grep -q ':5201'"
		in_ns a iperf3 -6 -c "$B_IP" -t 10 -J >"$WORK/iperf3-$fam.json" 2>&1
		rate=$(python3 -c "import json; d=json.load(open('$WORK/iperf3-$fam.json')); print(round(d['end']['sum_received']['bits_per_second']/1e6))" 2>/dev/null)
		check "IPv$fam: iperf3 TCP A->B for 10 s completes (${rate:-?} Mbit/s)" test -n "$rate"
		echo "iperf3 IPv$fam underlay: ${rate:-?} Mbit/s"
	fi
}

run_family 4
cleanup_pair() {
	for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $PIDS; do wait "$pid" 2>/dev/null; done
	PIDS=""
	for ns in $NAMESPACES; do ip netns del "$ns"; rm -rf "/etc/netns/$ns"; done
	NAMESPACES=""
	rm -rf "$WORK/a" "$WORK/b" "$WORK"/www-* "$WORK"/*.out
}
cleanup_pair
run_family 6
finish
