# Shared helpers for iron's end-to-end tests, in the manner of WireGuard's
# netns.sh: namespaces named after the test's PID, tiny wrappers, waiting
# on conditions (never fixed sleeps), cleanup on exit.
#
# Needs root, `ip netns` and /dev/net/tun; otherwise the test is skipped
# (exit 77). IRON_BIN is the binary under test (set by ctest).

set -u
umask 022 # files the daemon reads must not be writable by others
IRON=${IRON_BIN:-$(dirname "$0")/../../build/iron}
TEST_NAME=$(basename "$0" .sh)
PREFIX="ir$$"
WORK=$(mktemp -d "/tmp/iron-e2e-$TEST_NAME.XXXXXX")
NAMESPACES=""
PIDS=""
passed=0
failed=0

skip() {
	echo "SKIP $TEST_NAME: $*"
	exit 77
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -c /dev/net/tun ] || skip "needs /dev/net/tun"
	command -v ip >/dev/null || skip "needs iproute2"
	ip netns add "${PREFIX}probe" 2>/dev/null || skip "cannot create network namespaces"
	ip netns del "${PREFIX}probe"
}

need_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "needs $c"
	done
}

# stop_all TENTHS: SIGTERM to every process the test started, then waits up
# to TENTHS tenths of a second for each to exit.
stop_all() {
	for pid in $PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $PIDS; do
		for _ in $(seq "$1"); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
}

cleanup() {
	stop_all 50
	for pid in $PIDS; do
		kill -KILL "$pid" 2>/dev/null
	done
	for ns in $NAMESPACES; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	if [ "${KEEP_WORK:-0}" = 1 ] || [ "$failed" -gt 0 ]; then
		echo "logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

ok() {
	passed=$((passed + 1))
	echo "ok - $*"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok - $*"
}

# sanitized: the binary under test is an AddressSanitizer build (its RSS
# and speed are not the release's: tests bound them more loosely).
sanitized() {
	grep -q __asan_init "$IRON" 2>/dev/null
}

# check DESCRIPTION COMMAND...: passes when the command succeeds (and
# returns its status, for a caller that adds diagnostics).
check() {
	desc=$1
	shift
	if "$@" >>"$WORK/check.log" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		return 1
	fi
}

finish() {
	# Stop the daemons, then look for sanitizer reports in their logs (a
	# sanitizer build reports leaks only at exit).
	stop_all 100
	for log in "$WORK"/*.log; do
		[ -f "$log" ] || continue
		if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
			not_ok "sanitizer report in $(basename "$log")"
			grep -E -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -40
		fi
	done
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

# wait_for TIMEOUT_SECONDS COMMAND...: polls every 0.1 s until the command
# succeeds; returns 1 on timeout.
wait_for() {
	# Local: callers loop with i too (link_star did, and named two veths
	# alike when the first ping answered at once).
	local limit=$(($1 * 10)) i=0
	shift
	while [ $i -lt $limit ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# ns NAME: creates namespace $PREFIX$NAME with loopback up and a resolv.conf
# pointing at the in-tunnel DNS server.
make_ns() {
	ns="$PREFIX$1"
	ip netns add "$ns"
	NAMESPACES="$NAMESPACES $ns"
	ip -n "$ns" link set lo up
	# No duplicate address detection: a tentative link-local address holds
	# back neighbour discovery, and so the first packets, for a second.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	mkdir -p "/etc/netns/$ns"
	echo "nameserver fd69:726f:0:1::53" >"/etc/netns/$ns/resolv.conf"
}

# in NAME COMMAND...: runs a command in namespace NAME.
in_ns() {
	ns="$PREFIX$1"
	shift
	ip netns exec "$ns" "$@"
}

# link A B: a veth pair between namespaces A and B, with 10.99.0.1/24 and
# fd00:99::1/64 on A, .2 and ::2 on B.
link_ns() {
	ip link add "${PREFIX}a" netns "$PREFIX$1" type veth peer name "${PREFIX}b" netns "$PREFIX$2"
	ip -n "$PREFIX$1" addr add 10.99.0.1/24 dev "${PREFIX}a"
	ip -n "$PREFIX$2" addr add 10.99.0.2/24 dev "${PREFIX}b"
	ip -n "$PREFIX$1" addr add fd00:99::1/64 dev "${PREFIX}a" nodad
	ip -n "$PREFIX$2" addr add fd00:99::2/64 dev "${PREFIX}b" nodad
	ip -n "$PREFIX$1" link set "${PREFIX}a" up
	ip -n "$PREFIX$2" link set "${PREFIX}b" up
	# A new link drops its first neighbour solicitation (the solicitation
	# is retried after 1 s); settle the neighbour caches before a test
	# times anything.
	wait_for 5 ip netns exec "$PREFIX$1" ping -6 -c 1 -W 1 fd00:99::2
	wait_for 5 ip netns exec "$PREFIX$1" ping -c 1 -W 1 10.99.0.2
}

# link_star HUB NODE...: a bridge in namespace HUB with 10.98.0.254/24 and
# fd00:98::ff/64, and one veth per NODE to it: the i-th NODE (from 1) gets
# 10.98.0.i and fd00:98::i. The HUB stands for the internet.
link_star() {
	hub=$1
	shift
	# An address of its own: a bridge without one takes the lowest of its
	# ports' and changes it as ports join. A node that resolved the old
	# one then sends to an address the bridge no longer takes as its own
	# (from another port than that address's), its packets are dropped
	# until its ARP entry expires, 15-45 s: the middle node of three lost
	# R for ~40 s (e2e.discovery's B, when the third port's random
	# address was the lowest).
	ip -n "$PREFIX$hub" link add br0 address 02:00:00:00:98:fe type bridge
	ip -n "$PREFIX$hub" addr add 10.98.0.254/24 dev br0
	ip -n "$PREFIX$hub" addr add fd00:98::ff/64 dev br0 nodad
	ip -n "$PREFIX$hub" link set br0 up
	i=1
	for node in "$@"; do
		ip link add "${PREFIX}s$i" netns "$PREFIX$node" type veth peer name "p$i" netns "$PREFIX$hub"
		ip -n "$PREFIX$hub" link set "p$i" master br0 up
		ip -n "$PREFIX$node" addr add "10.98.0.$i/24" dev "${PREFIX}s$i"
		ip -n "$PREFIX$node" addr add "fd00:98::$i/64" dev "${PREFIX}s$i" nodad
		ip -n "$PREFIX$node" link set "${PREFIX}s$i" up
		wait_for 5 ip netns exec "$PREFIX$node" ping -c 1 -W 1 10.98.0.254
		i=$((i + 1))
	done
	# Every node still reaches the hub once all ports have joined.
	for node in "$@"; do
		check "$node reaches the hub" ip netns exec "$PREFIX$node" ping -c 1 -W 2 10.98.0.254
	done
}

# net_diag NAME...: prints what the kernel of each namespace knows about
# its links, neighbours, TCP sockets and drops, for a failure that a
# daemon's log cannot explain (a path that does not carry packets).
net_diag() {
	for n in "$@"; do
		echo "# net_diag $n"
		ip -n "$PREFIX$n" -br link 2>&1
		ip -n "$PREFIX$n" -br addr 2>&1
		ip -n "$PREFIX$n" neigh 2>&1
		ip netns exec "$PREFIX$n" bridge fdb show 2>/dev/null | grep -v 'self permanent'
		ip netns exec "$PREFIX$n" ss -tan 2>&1 | head -20
		ip netns exec "$PREFIX$n" nstat -az 2>/dev/null |
			grep -E '^(IpInDiscards|IpOutNoRoutes|IpInAddrErrors|TcpActiveOpens|TcpPassiveOpens|TcpAttemptFails|TcpRetransSegs|TcpExtListenDrops|TcpExtListenOverflows|TcpExtTCPTimeouts|UdpInErrors|UdpNoPorts) ' |
			awk '{printf "%s=%s ", $1, $2} END {print ""}'
	done
}

# cut_off NODE ADDR4 ADDR6: nftables in NODE's namespace drops every packet
# to and from those addresses (no direct path, whatever the protocol).
cut_off() {
	ip netns exec "$PREFIX$1" nft -f - <<EOF
table inet cut {
	chain in { type filter hook input priority 0; ip saddr $2 drop; ip6 saddr $3 drop; }
	chain out { type filter hook output priority 0; ip daddr $2 drop; ip6 daddr $3 drop; }
}
EOF
}

# new_key NAME: makes a state directory with a fresh key for node NAME and
# prints nothing; node_id NAME then gives its base32 ID.
new_key() {
	mkdir -p "$WORK/$1"
	chmod 700 "$WORK/$1"
	head -c 32 /dev/urandom >"$WORK/$1/secret.key"
	chmod 600 "$WORK/$1/secret.key"
}

node_id() {
	"$IRON" self --state-dir "$WORK/$1" --base32
}

node_ip() {
	"$IRON" self --state-dir "$WORK/$1" --ipv6
}

# start_iron NAME [ARGS...]: starts `iron serve` in namespace NAME with state
# in $WORK/NAME, logging to $WORK/NAME.log; waits until this new daemon is
# up (iron_ready). Its standard output goes to a fresh $WORK/NAME.out; the
# output of an earlier start of NAME is kept as $WORK/NAME.out.N, so after a
# restart the previous run's "is up" cannot count.
start_iron() {
	node=$1
	shift
	[ -f "$WORK/$node/secret.key" ] || new_key "$node"
	if [ -e "$WORK/$node.out" ]; then
		local n=1
		while [ -e "$WORK/$node.out.$n" ]; do n=$((n + 1)); done
		mv "$WORK/$node.out" "$WORK/$node.out.$n"
	fi
	# Not through in_ns: $! must be the daemon itself (ip netns exec execs it).
	# No relays unless the test names them: n0's public relays (the
	# default map) are not reachable from here.
	# RELAYS_FROM_CONFIG=1: the test's config file sets the relay map.
	case " $* " in
	*" --relay-url "*) ;;
	*) [ "${RELAYS_FROM_CONFIG:-0}" = 1 ] || set -- --relay-url none "$@" ;;
	esac
	# No discovery unless the test asks for it: n0's pkarr relay and DNS
	# are not reachable from here, and LAN announcements would find the
	# other test nodes. DISCOVERY=1: the defaults; the test's own
	# --pkarr-url/--dns-origin are kept; LAN=1: LAN discovery on.
	if [ "${DISCOVERY:-0}" != 1 ]; then
		case " $* " in
		*" --pkarr-url "* | *" --dns-origin "*) ;;
		*) set -- --pkarr-url none --dns-origin none "$@" ;;
		esac
		[ "${LAN:-0}" = 1 ] || set -- --no-lan-discovery "$@"
	fi
	# No port mapping unless the test runs a gateway for it (PORTMAP=1).
	[ "${PORTMAP:-0}" = 1 ] || set -- --no-port-mapping "$@"
	ip netns exec "$PREFIX$node" "$IRON" serve --state-dir "$WORK/$node" --no-dns-config "$@" \
		>"$WORK/$node.out" 2>>"$WORK/$node.log" &
	pid=$!
	PIDS="$PIDS $pid"
	eval "PID_$node=$pid"
	if ! wait_for 10 iron_ready "$node" "$pid"; then
		echo "iron serve in $node (pid $pid) did not come up:"
		cat "$WORK/$node.log"
		return 1
	fi
}

# iron_ready NAME PID: the daemon PID of node NAME is running, has printed
# "is up" in its own output file, and its control socket (the path it
# printed) answers `iron status` with its pid.
iron_ready() {
	kill -0 "$2" 2>/dev/null || return 1
	grep -q "is up" "$WORK/$1.out" || return 1
	[ "$(daemon_pid "$1")" = "$2" ]
}

# daemon_pid NAME: the pid that the control socket of NAME's current
# daemon (the one whose output is $WORK/NAME.out) reports; empty when it
# does not answer.
daemon_pid() {
	local sock
	sock=$(sed -n 's/^  control  *//p' "$WORK/$1.out")
	[ -n "$sock" ] || return 1
	"$IRON" status --socket "$sock" -f json 2>/dev/null |
		sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'
}

# answers_as NAME PID: the control socket in NAME's state directory answers
# `iron status` with pid PID (for checks right after a restart).
answers_as() {
	"$IRON" status --state-dir "$WORK/$1" -f json 2>/dev/null | grep -Eq "\"pid\": *$2[,}]"
}

# stop_iron NAME [SIGNAL]: stops the daemon of NAME and waits for it.
stop_iron() {
	eval "pid=\$PID_$1"
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# setup_pair [4|6] [EXTRA_ARGS...]: namespaces a and b joined by veth, a
# node in each with the other as a static --peer over the IPv4 (default) or
# IPv6 underlay. Sets A, B (base32 IDs) and A_IP, B_IP (overlay addresses).
# make_pair: namespaces a and b joined by a veth, a key for each; sets A, B
# (node IDs) and A_IP, B_IP (overlay addresses). No daemon yet.
make_pair() {
	make_ns a
	make_ns b
	link_ns a b
	new_key a
	new_key b
	A=$(node_id a)
	B=$(node_id b)
	A_IP=$(node_ip a)
	B_IP=$(node_ip b)
}

setup_pair() {
	family=${1:-4}
	[ $# -gt 0 ] && shift
	make_pair
	if [ "$family" = 6 ]; then
		UNDER_A="[fd00:99::1]"
		UNDER_B="[fd00:99::2]"
	else
		UNDER_A="10.99.0.1"
		UNDER_B="10.99.0.2"
	fi
	start_iron a --peer "$B@$UNDER_B:4766" "$@" || return 1
	start_iron b --peer "$A@$UNDER_A:4766" "$@" || return 1
}

# sha256 of a file.
sum_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# serve_http NAME DIR: python's web server on [::]:8000 in namespace NAME.
serve_http() {
	ip netns exec "$PREFIX$1" python3 -m http.server --bind :: --directory "$2" 8000 >"$WORK/http-$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 10 sh -c "ip netns exec $PREFIX$1 ss -tln | grep -q ':8000'"
}

# ping_ok NODE TARGET COUNT: COUNT pings from NODE at 50 ms intervals, all
# answered (the output goes to the check log).
ping_ok() {
	out=$(ip netns exec "$PREFIX$1" ping -6 -c "$3" -i 0.05 -W 2 "$2" 2>&1)
	echo "$out" >>"$WORK/check.log"
	echo "$out" | grep -q " 0% packet loss"
}
