#!/bin/bash
# The systemd unit passes `systemd-analyze verify` and has the settings of
# SPEC section 12; `cmake --install` installs the binary, the man page and
# the units (iron-relay.service too).
. "$(dirname "$0")/lib.sh"

src=${IRON_SOURCE_DIR:?}
build=${IRON_BUILD_DIR:-$(dirname "$IRON")}
unit="$src/docs/iron.service"
for line in "Type=notify" \
	"ExecStart=/usr/sbin/iron serve --state-dir /var/lib/iron --socket /run/iron/iron.sock" \
	"StateDirectory=iron" "RuntimeDirectory=iron" "AmbientCapabilities=CAP_NET_ADMIN" \
	"CapabilityBoundingSet=CAP_NET_ADMIN" "NoNewPrivileges=yes" "ProtectSystem=strict" \
	"ProtectHome=yes" "PrivateTmp=yes" "Restart=on-failure"; do
	grep -qxF "$line" "$unit" && ok || fail "iron.service lacks '$line'"
done

if command -v systemd-analyze >/dev/null && command -v man >/dev/null; then
	# Verify a copy whose ExecStart is the binary under test (the real
	# path exists only once installed) with the man page on MANPATH (the
	# unit's Documentation= is checked with man).
	mkdir -p "$TMP/man/man8" "$TMP/unit"
	cp "$src/docs/iron.8" "$TMP/man/man8/"
	sed "s|/usr/sbin/iron|$IRON|" "$unit" >"$TMP/unit/iron.service"
	out=$(MANPATH="$TMP/man" systemd-analyze verify "$TMP/unit/iron.service" 2>&1)
	[ $? -eq 0 ] && [ -z "$out" ] && ok || fail "systemd-analyze verify: $out"
	sed "s|/usr/sbin/iron|$IRON|" "$src/docs/iron-relay.service" >"$TMP/unit/iron-relay.service"
	out=$(MANPATH="$TMP/man" systemd-analyze verify "$TMP/unit/iron-relay.service" 2>&1)
	[ $? -eq 0 ] && [ -z "$out" ] && ok || fail "systemd-analyze verify iron-relay.service: $out"
else
	fail "systemd-analyze or man is not installed (Debian packages systemd, man-db)"
fi

out=$(DESTDIR="$TMP/root" cmake --install "$build" --prefix /usr 2>&1)
[ $? -eq 0 ] && ok || fail "cmake --install failed: $out"
for f in usr/sbin/iron usr/share/man/man8/iron.8 usr/lib/systemd/system/iron.service \
	usr/lib/systemd/system/iron-relay.service; do
	[ -f "$TMP/root/$f" ] && ok || fail "cmake --install did not install /$f"
done
finish
