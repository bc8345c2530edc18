#!/bin/bash
# System DNS configuration against a real systemd-resolved (SPEC section 6).
#
# systemd is not PID 1 here (nor in CI), but systemd-resolved runs by hand:
# in a network namespace (its own links) and a private mount namespace
# (its own /run with a private D-Bus system bus, its own /etc/systemd, an
# empty resolv.conf and a passwd with its user), so the host is untouched.
# Stand-in DNS servers (python3) answer AAAA for *.iron on the tunnel DNS
# address [fd69:726f:0:1::53]:53 (on a veth named like the TUN) and on
# 127.0.0.1:5333. The sysdns module is driven by build/tests/test_sysdns.
#
# Proves: `iron serve` itself configures resolved for its TUN and
# `resolvectl query <id>.iron` is answered by its in-tunnel DNS server;
# per-link configuration makes `resolvectl query <id>.iron` resolve
# through the tunnel DNS and only .iron names go there; revert removes it;
# the drop-in (fallback) makes it resolve through 127.0.0.1:5333, is not
# rewritten when unchanged, is removed by the run that wrote it, and
# --cleanup-dns removes iron's file but not a foreign one; a TUN that
# resolved does not know falls back to the drop-in.
#
# systemd-resolved comes from, first that exists: $IRON_RESOLVED_ROOT (a
# directory where the Debian package is unpacked), the installed package,
# or /var/cache/iron-test/systemd-resolved, which this test fills with
# `apt-get download` + `dpkg-deb -x` (the package is not installed: that
# would take over the machine's /etc/resolv.conf).

. "$(dirname "$0")/lib.sh"

KAT=df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq
KAT_IP=fd69:726f::39b:fa8b:3d36:8d61
DROPIN=/etc/systemd/resolved.conf.d/iron.conf

find_resolved() {
	for dir in "${IRON_RESOLVED_ROOT:-}" "" /var/cache/iron-test/systemd-resolved; do
		if [ -z "$dir" ] && [ -n "${IRON_RESOLVED_ROOT:-}" ]; then
			continue
		fi
		for bin in "$dir/lib/systemd/systemd-resolved" "$dir/usr/lib/systemd/systemd-resolved"; do
			if [ -x "$bin" ] && [ -x "$dir/usr/bin/resolvectl" ]; then
				RESOLVED_BIN=$bin
				RESOLVECTL=$dir/usr/bin/resolvectl
				return 0
			fi
		done
	done
	return 1
}

fetch_resolved() {
	cache=/var/cache/iron-test/systemd-resolved
	command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
	# The same version as the installed systemd, whose shared library it uses.
	version=$(dpkg-query -W -f '${Version}' systemd 2>/dev/null) || return 1
	tmp=$(mktemp -d)
	chmod 755 "$tmp"
	(cd "$tmp" && apt-get download "systemd-resolved=$version") >"$tmp/log" 2>&1 || {
		rm -rf "$tmp"
		return 1
	}
	mkdir -p "$cache" && dpkg-deb -x "$tmp"/systemd-resolved_*.deb "$cache"
	rc=$?
	rm -rf "$tmp"
	return $rc
}

# ---------------------------------------------------------------- inner
# Runs inside the network namespace and a private mount namespace.
inner() {
	mount -t tmpfs tmpfs /run
	mkdir -p /run/dbus /run/systemd
	mount -t tmpfs tmpfs /etc/systemd
	: >"$WORK/resolv.conf"
	mount --bind "$WORK/resolv.conf" /etc/resolv.conf
	cp /etc/passwd "$WORK/passwd"
	cp /etc/group "$WORK/group"
	grep -q '^systemd-resolve:' "$WORK/passwd" ||
		echo 'systemd-resolve:x:991:991:systemd Resolver:/:/usr/sbin/nologin' >>"$WORK/passwd"
	grep -q '^systemd-resolve:' "$WORK/group" || echo 'systemd-resolve:x:991:' >>"$WORK/group"
	mount --bind "$WORK/passwd" /etc/passwd
	mount --bind "$WORK/group" /etc/group

	cat >"$WORK/bus.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
	dbus-daemon --config-file="$WORK/bus.conf" --nofork --nopidfile >"$WORK/dbus.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 10 test -S /run/dbus/system_bus_socket || { not_ok "private D-Bus starts"; finish; }

	# The TUN's stand-in: a veth (this kernel has no dummy links) carrying
	# the tunnel DNS address.
	ip link set lo up
	ip link add iron0 type veth peer name iron0p
	ip link set iron0p up
	ip link set iron0 up
	ip addr add "fd69:726f:0:1::53/128" dev iron0 nodad

	cat >"$WORK/dns.py" <<'EOF'
import socket, struct, sys
addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
out = open(log, 'a', buffering=1)
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    i, labels = 12, []
    while i < len(q) and q[i] != 0:
        labels.append(q[i + 1:i + 1 + q[i]].decode('ascii', 'replace'))
        i += 1 + q[i]
    if i + 5 > len(q):
        continue
    qtype = struct.unpack('>H', q[i + 1:i + 3])[0]
    name = '.'.join(labels).lower()
    out.write('%s %d\n' % (name, qtype))
    ans = b''
    if qtype == 28 and name.endswith('.iron'):
        ans = b'\xc0\x0c' + struct.pack('>HHIH', 28, 1, 300, 16) + \
            socket.inet_pton(socket.AF_INET6, sys.argv[4])
    flags = 0x8400 | (struct.unpack('>H', q[2:4])[0] & 0x0100)
    s.sendto(q[0:2] + struct.pack('>HHHHH', flags, 1, 1 if ans else 0, 0, 0) + q[12:i + 5] + ans, peer)
EOF
	python3 "$WORK/dns.py" fd69:726f:0:1::53 53 "$WORK/link.log" "$KAT_IP" >"$WORK/dns-link.err" 2>&1 &
	standins=$!
	python3 "$WORK/dns.py" 127.0.0.1 5333 "$WORK/lo.log" "$KAT_IP" >"$WORK/dns-lo.err" 2>&1 &
	standins="$standins $!"
	PIDS="$PIDS $standins"
	touch "$WORK/link.log" "$WORK/lo.log"
	wait_for 10 sh -c "ss -Huln | grep -q '127.0.0.1:5333' && ss -Huln | grep -q 'fd69:726f:0:1::53\\]:53'" ||
		{ not_ok "stand-in DNS servers start"; finish; }

	# A systemctl that "restarts systemd-resolved" by hand.
	cat >"$WORK/start-resolved" <<EOF
#!/bin/sh
"$RESOLVED_BIN" </dev/null >>"$WORK/resolved.log" 2>&1 &
echo \$! >"$WORK/resolved.pid"
for i in \$(seq 100); do "$RESOLVECTL" status >/dev/null 2>&1 && exit 0; sleep 0.1; done
exit 1
EOF
	cat >"$WORK/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$WORK/systemctl.calls"
[ "\$1 \$2" = "try-restart systemd-resolved" ] || exit 0
pid=\$(cat "$WORK/resolved.pid")
kill "\$pid"
for i in \$(seq 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
exec "$WORK/start-resolved"
EOF
	chmod 755 "$WORK/start-resolved" "$WORK/systemctl"
	trap 'kill $(cat "$WORK/resolved.pid" 2>/dev/null) 2>/dev/null; cleanup' EXIT
	"$WORK/start-resolved" || { not_ok "systemd-resolved starts"; finish; }
	ok "systemd-resolved runs in the namespace"
	touch "$WORK/systemctl.calls"

	drive() {
		"$DRIVER" "$@" 2>>"$WORK/driver.log"
	}
	query() {
		"$RESOLVECTL" query --cache=no "$1" 2>&1
	}
	resolves() {
		query "$KAT.iron" | grep -q "$KAT.iron: $KAT_IP"
	}
	restarts() {
		grep -c 'try-restart systemd-resolved' "$WORK/systemctl.calls"
	}

	# --- per link
	out=$(drive configure "$WORK/s1" "" iron0 5333 "$RESOLVECTL" "$WORK/systemctl")
	check "per-link configuration chosen ($out)" [ "$out" = "method=resolved-link rc=0 wrote=0" ]
	status=$("$RESOLVECTL" status iron0)
	check "iron0 has the tunnel DNS server" grep -q 'DNS Servers: fd69:726f:0:1::53' <<<"$status"
	check "iron0 routes ~iron" grep -q 'DNS Domain: ~iron' <<<"$status"
	# resolved learns the link's state over netlink: wait for it.
	check "<id>.iron resolves through the tunnel DNS" wait_for 10 resolves
	check "the query reached the tunnel DNS" grep -q "^$KAT.iron 28" "$WORK/link.log"
	check "no drop-in was written" [ ! -e "$DROPIN" ]
	check "resolved was not restarted" [ "$(restarts)" = 0 ]
	query example.org >"$WORK/example.out"
	check "other names do not go to iron" sh -c "! grep -q example.org '$WORK/link.log'"
	drive restore "$WORK/s1" >/dev/null
	check "revert removes the link's DNS server" \
		sh -c "! '$RESOLVECTL' status iron0 | grep -q 'DNS Servers'"
	check "<id>.iron no longer resolves" sh -c "! '$RESOLVECTL' query --cache=no '$KAT.iron'"

	# --- a TUN resolved does not know: the drop-in instead
	out=$(drive configure "$WORK/s1" "" nosuch0 5333 "$RESOLVECTL" "$WORK/systemctl")
	check "unknown link falls back to the drop-in ($out)" \
		[ "$out" = "method=resolved-dropin rc=0 wrote=1" ]
	printf '%s\n' "# Written by iron (iron serve) so that .iron names resolve; remove with: iron --cleanup-dns" \
		"[Resolve]" "DNS=127.0.0.1:5333" "Domains=~iron" >"$WORK/expected.conf"
	check "drop-in content is exact" cmp "$DROPIN" "$WORK/expected.conf"
	check "resolved was restarted once" [ "$(restarts)" = 1 ]
	"$RESOLVECTL" status >"$WORK/status.global" 2>&1
	check "resolved took DNS=127.0.0.1:5333" grep -Eq 'DNS Servers:? 127.0.0.1:5333' "$WORK/status.global"
	check "resolved took Domains=~iron" grep -Eq 'DNS Domain:? ~iron' "$WORK/status.global"
	check "<id>.iron resolves through 127.0.0.1:5333" wait_for 10 resolves
	check "the query reached 127.0.0.1:5333" grep -q "^$KAT.iron 28" "$WORK/lo.log"
	inode=$(stat -c '%i %Y' "$DROPIN")
	out=$(drive configure "$WORK/s2" "" "" 5333 "$RESOLVECTL" "$WORK/systemctl")
	check "second run finds it up to date ($out)" [ "$out" = "method=resolved-dropin rc=0 wrote=0" ]
	check "drop-in not rewritten" [ "$(stat -c '%i %Y' "$DROPIN")" = "$inode" ]
	check "no second restart" [ "$(restarts)" = 1 ]
	drive restore "$WORK/s2" >/dev/null
	check "a run that did not write it leaves it" [ -e "$DROPIN" ]
	drive restore "$WORK/s1" >/dev/null
	check "the run that wrote it removes it" [ ! -e "$DROPIN" ]
	check "and restarts resolved" [ "$(restarts)" = 2 ]
	check "<id>.iron no longer resolves" sh -c "! '$RESOLVECTL' query --cache=no '$KAT.iron'"

	# --- iron --cleanup-dns after a crash
	drive configure "$WORK/s1" "" "" 5333 "$RESOLVECTL" "$WORK/systemctl" >/dev/null
	check "resolves before the cleanup" wait_for 10 resolves
	out=$(drive cleanup "" "$WORK/systemctl")
	check "cleanup removes iron's drop-in ($out)" [ "$out" = "removed=1 rc=0" ]
	check "cleanup restarted resolved" [ "$(restarts)" = 4 ]
	check "<id>.iron no longer resolves" sh -c "! '$RESOLVECTL' query --cache=no '$KAT.iron'"
	printf '[Resolve]\nDNS=192.0.2.53\n' >"$DROPIN"
	out=$(drive cleanup "" "$WORK/systemctl")
	check "cleanup refuses a foreign file ($out)" [ "$out" = "removed=0 rc=-1" ]
	check "the foreign file is still there" grep -q 'DNS=192.0.2.53' "$DROPIN"
	out=$(drive configure "$WORK/s1" "" "" 5333 "$RESOLVECTL" "$WORK/systemctl")
	check "configure refuses a foreign file ($out)" [ "$out" = "method=none rc=-17 wrote=0" ]
	rm -f "$DROPIN"

	# --- the real daemon: `iron serve` configures resolved for its TUN and
	# `resolvectl query` is answered by iron's in-tunnel DNS server.
	kill $standins
	ip link del iron0
	wait_for 5 sh -c "! ss -Huln | grep -q ':5333'"
	mkdir -m 700 "$WORK/node"
	PATH="$(dirname "$RESOLVECTL"):$PATH" "$IRON" serve --state-dir "$WORK/node" \
		--pkarr-url none --dns-origin none --no-lan-discovery \
		>"$WORK/node.out" 2>"$WORK/node.log" &
	node=$!
	PIDS="$PIDS $node"
	check "iron serve starts" wait_for 10 grep -q "is up" "$WORK/node.out"
	id=$("$IRON" self --state-dir "$WORK/node" --base32)
	ip=$("$IRON" self --state-dir "$WORK/node" --ipv6)
	check "serve configured resolved per link" grep -q "system DNS for .iron: resolved-link" "$WORK/node.log"
	check "iron0 (the TUN) has the tunnel DNS server" \
		sh -c "'$RESOLVECTL' status iron0 | grep -q 'DNS Servers: fd69:726f:0:1::53'"
	check "resolvectl query <own id>.iron answers through iron" \
		wait_for 10 sh -c "'$RESOLVECTL' query --cache=no '$id.iron' | grep -q '$id.iron: $ip'"
	check "resolvectl query <other id>.iron answers through iron" \
		sh -c "'$RESOLVECTL' query --cache=no '$KAT.iron' | grep -q '$KAT.iron: $KAT_IP'"
	kill -TERM "$node"
	check "serve exits on SIGTERM" wait_for 10 sh -c "! kill -0 $node"
	check "the TUN is gone" sh -c "! ip link show iron0"
	check "no drop-in was left behind" [ ! -e "$DROPIN" ]
	finish
}

if [ "${1:-}" = "--inner" ]; then
	inner
fi

need_root
need_cmd python3 dbus-daemon unshare
DRIVER=${IRON_BUILD_DIR:-$(dirname "$0")/../../build}/tests/test_sysdns
[ -x "$DRIVER" ] || skip "needs the test_sysdns driver ($DRIVER)"
if ! find_resolved; then
	fetch_resolved && find_resolved ||
		skip "needs systemd-resolved: Debian package systemd-resolved, unpacked (dpkg-deb -x) into IRON_RESOLVED_ROOT or /var/cache/iron-test/systemd-resolved"
fi
echo "using $RESOLVED_BIN"
export RESOLVED_BIN RESOLVECTL DRIVER
make_ns r
in_ns r unshare -m --propagation private bash "$0" --inner
