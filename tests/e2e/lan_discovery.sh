#!/bin/bash
# LAN discovery (lan.h) between three namespaces on one Linux bridge, with
# no configuration: each lanprobe must find the other two with their
# addresses, ports and relay, report each once (unchanged records are not
# reported again), and never itself. Node c announces in "own addresses"
# mode (none given): it must be found with its interface's addresses.
# Then independent tools read the records: dig (a legacy unicast query to
# port 5353, RFC 6762 section 6.7) and, when avahi is installed,
# avahi-browse through an avahi-daemon of the test's own (private D-Bus).
. "$(dirname "$0")/lib.sh"

need_root
need_cmd jq dig
PROBE=${IRON_BUILD_DIR:-$(dirname "$0")/../../build}/tests/tools/lanprobe
[ -x "$PROBE" ] || skip "needs tests/tools/lanprobe (build it)"

make_ns hub
make_ns a
make_ns b
make_ns c
link_star hub a b c
for n in a b c; do
	new_key "$n"
done
A=$(node_id a)
B=$(node_id b)
C=$(node_id c)

# start_probe NAME ARGS...: lanprobe in namespace NAME, JSON lines to
# $WORK/NAME.jsonl.
start_probe() {
	node=$1
	shift
	ip netns exec "$PREFIX$node" "$PROBE" "$@" >"$WORK/$node.jsonl" 2>>"$WORK/$node.log" &
	PIDS="$PIDS $!"
	eval "PROBE_$node=$!"
}

start_probe a --relay http://relay-a.example/ "$A" 4001 10.98.0.1:4001 "[fd00:98::1]:4001"
start_probe b "$B" 4002 10.98.0.2:4002 "[fd00:98::2]:4002"
start_probe c "$C" 4003

# found NAME ID PORT RELAY ADDR...: NAME reported ID with exactly these
# addresses (any order), this port and relay. (Slurped: jq 1.6's -e looks
# only at the last line's result.)
found() {
	local node=$1 id=$2 port=$3 relay=$4
	shift 4
	local want
	want=$(printf '%s\n' "$@" | jq -R . | jq -sc 'sort')
	jq -se --arg id "$id" --argjson port "$port" --arg relay "$relay" --argjson want "$want" \
		'any(.[]; .event == "found" and .id == $id and .port == $port and
			.relay == $relay and (.addrs | sort) == $want)' \
		"$WORK/$node.jsonl" >/dev/null
}

A_ADDRS="10.98.0.1:4001 [fd00:98::1]:4001"
B_ADDRS="10.98.0.2:4002 [fd00:98::2]:4002"
C_ADDRS="10.98.0.3:4003 [fd00:98::3]:4003"
# shellcheck disable=SC2086
{
	check "a finds b" wait_for 20 found a "$B" 4002 "" $B_ADDRS
	check "a finds c (own addresses)" wait_for 20 found a "$C" 4003 "" $C_ADDRS
	check "b finds a (with relay)" wait_for 20 found b "$A" 4001 http://relay-a.example/ $A_ADDRS
	check "b finds c" wait_for 20 found b "$C" 4003 "" $C_ADDRS
	check "c finds a" wait_for 20 found c "$A" 4001 http://relay-a.example/ $A_ADDRS
	check "c finds b" wait_for 20 found c "$B" 4002 "" $B_ADDRS
}

# reports NAME ID: how many times NAME reported ID.
reports() {
	jq -r --arg id "$2" 'select(.event == "found" and .id == $id) | .id' "$WORK/$1.jsonl" | wc -l
}

# Let the start-up announcements (0, 1, 3 s) pass: the counters say when.
sent_enough() {
	kill -USR1 "$1"
	jq -se 'any(.[]; .event == "stats" and .sent >= 12)' "$2" >/dev/null
}
check "a has sent its start-up announcements" wait_for 20 sent_enough "$PROBE_a" "$WORK/a.jsonl"
for pair in "a $B" "a $C" "b $A" "b $C" "c $A" "c $B"; do
	set -- $pair
	check "$1 reported $2 once (unchanged records not reported again)" \
		test "$(reports "$1" "$2")" -eq 1
done
for pair in "a $A" "b $B" "c $C"; do
	set -- $pair
	check "$1 never reports itself" test "$(reports "$1" "$2")" -eq 0
done

# dig: a legacy unicast query (from a port other than 5353) to b's
# address gets b's records in a unicast reply that dig parses.
dig_b() {
	ip netns exec "${PREFIX}a" dig @10.98.0.2 -p 5353 -t PTR _irohv1._udp.local \
		+norecurse +time=2 +tries=1 +noall +answer +additional >"$WORK/dig.out" 2>&1 &&
		grep -q PTR "$WORK/dig.out"
}
check "dig gets an answer from b" wait_for 10 dig_b
cat "$WORK/dig.out" >>"$WORK/check.log"
# dig_has TYPE DATA: a record of that type with that data, TTL at most 10.
dig_has() {
	awk -v t="$1" -v d="$2" '$4 == t && $2 <= 10 {
		data = $5; for (i = 6; i <= NF; i++) data = data " " $i
		if (data == d) found = 1 } END { exit !found }' "$WORK/dig.out"
}
check "dig: PTR to b's instance" dig_has PTR "$B._irohv1._udp.local."
check "dig: SRV of b with port and target" awk -v n="$B._irohv1._udp.local." \
	-v d="0 0 4002 $B-4002.local." '$1 == n && $4 == "SRV" {
		data = $5 " " $6 " " $7 " " $8; if (data == d) f = 1 } END { exit !f }' "$WORK/dig.out"
check "dig: A of b's target" dig_has A 10.98.0.2
check "dig: AAAA of b's target" dig_has AAAA fd00:98::2
check "dig: TXT of b" dig_has TXT '""'
check "dig: no parse warnings" sh -c "! grep -qi 'malformed\|warning' '$WORK/dig.out'"

# avahi-browse, when avahi is installed (Debian avahi-daemon, avahi-utils;
# scripts/install-deps --test installs them): its own daemon in the hub
# namespace, which sees the bridge, on a private D-Bus. A mount namespace
# of its own keeps its pid file apart from a host avahi's.
if command -v avahi-daemon >/dev/null && command -v avahi-browse >/dev/null &&
	command -v dbus-daemon >/dev/null; then
	BUS="unix:path=$WORK/dbus.sock"
	dbus-daemon --session --address="$BUS" --nofork --nopidfile >"$WORK/dbus.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 5 test -S "$WORK/dbus.sock"
	cat >"$WORK/avahi.conf" <<EOF
[server]
host-name=irontest
use-ipv4=yes
use-ipv6=yes
allow-interfaces=br0
enable-dbus=yes
ratelimit-burst=1000
[publish]
disable-publishing=yes
[reflector]
[rlimits]
EOF
	ip netns exec "${PREFIX}hub" unshare -m sh -c \
		"mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon &&
		 DBUS_SYSTEM_BUS_ADDRESS='$BUS' exec avahi-daemon --no-drop-root --no-chroot \
		 --no-rlimits --no-proc-title -f '$WORK/avahi.conf'" >"$WORK/avahi.log" 2>&1 &
	PIDS="$PIDS $!"
	check "avahi-daemon starts" wait_for 10 grep -q "Server startup complete" "$WORK/avahi.log"
	# browse: avahi-browse (run in the hub, so that it names the interface
	# indexes as the daemon sees them) resolves all three over IPv4.
	browse() {
		DBUS_SYSTEM_BUS_ADDRESS="$BUS" ip netns exec "${PREFIX}hub" \
			timeout 10 avahi-browse -rpt _irohv1._udp \
			>"$WORK/avahi-browse.out" 2>>"$WORK/avahi-browse.err"
		for want in "$A;_irohv1._udp;local;$A-4001.local;10.98.0.1;4001;" \
			"$B;_irohv1._udp;local;$B-4002.local;10.98.0.2;4002;" \
			"$C;_irohv1._udp;local;$C-4003.local;10.98.0.3;4003;"; do
			grep -q "^=;br0;IPv4;$want" "$WORK/avahi-browse.out" || return 1
		done
	}
	# until_deadline SECONDS COMMAND...: retries while time is left (each
	# try of browse takes a while, so wait_for's count of tries would not
	# bound the time).
	until_deadline() {
		local end=$((SECONDS + $1))
		shift
		while [ $SECONDS -lt $end ]; do
			"$@" && return 0
			sleep 0.5
		done
		return 1
	}
	check "avahi-browse resolves a, b and c" until_deadline 30 browse
	cat "$WORK/avahi-browse.out" >>"$WORK/check.log"
	check "avahi-browse: a's TXT has its relay" \
		grep -q "^=;br0;IPv4;$A;.*\"relay=http://relay-a.example/\"" "$WORK/avahi-browse.out"
else
	echo "# avahi not installed: avahi-browse check skipped (scripts/install-deps --test)"
fi

# Clean exit: every handle closed, nothing malformed on this quiet link.
for n in a b c; do
	eval "pid=\$PROBE_$n"
	kill -TERM "$pid"
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid"
	check "$n exits cleanly" test $? -eq 0
	check "$n saw no malformed message" \
		jq -se '[.[] | select(.event == "stats")] | length > 0 and all(.[]; .malformed == 0)' \
		"$WORK/$n.jsonl"
done
finish
