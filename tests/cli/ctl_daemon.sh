#!/bin/bash
# The control socket of a real daemon, spoken to directly: requests the CLI
# never sends. Every number a handler reads is range-checked: a ping with
# "seq": 1e300 once reached an (int64_t) cast of the double, undefined
# behaviour that aborts a UBSan build. The daemon runs in a network
# namespace of its own (unshare -n), so its TUN and ports touch nothing else.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v unshare >/dev/null &&
	unshare -n true 2>/dev/null || {
	echo "SKIP: needs root, /dev/net/tun and unshare -n"
	exit 77
}

STATE="$TMP/state"
SOCK="$TMP/iron.sock"
mkdir -p "$STATE"
chmod 700 "$STATE"
write_seed "$STATE/secret.key" # the node is $KEY_B32

DAEMON_PID=""
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	daemon_rc=$?
	DAEMON_PID=""
}
trap 'stop_daemon; rm -rf "$TMP" "$SCRATCH"' EXIT

# unshare and sh exec, so $! is the daemon itself.
unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$IRON" serve --state-dir "$STATE" \
	--socket "$SOCK" --no-dns-config >"$SCRATCH/daemon.out" 2>"$SCRATCH/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do
	grep -q "is up" "$SCRATCH/daemon.out" && break
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "is up" "$SCRATCH/daemon.out"; then
	echo "the daemon did not come up: $(cat "$SCRATCH/daemon.log")" >&2
	exit 1
fi

# ctl_raw REQUEST...: sends each request line on a connection of its own
# and prints the reply lines in order ("<no reply>" when the daemon closed
# a connection without one). One Python for all: it is slow to start.
ctl_raw() {
	python3 - "$SOCK" "$@" <<'PY'
import socket, sys
for request in sys.argv[2:]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect(sys.argv[1])
        s.sendall(request.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        buf = b""
    s.close()
    print(buf.decode().rstrip("\n") if buf.endswith(b"\n") else "<no reply>")
PY
}
REQUESTS=()
REPLIES=()
expect_reply() { # REQUEST REPLY: queued, sent by check_replies
	REQUESTS+=("$1")
	REPLIES+=("$2")
}
check_replies() { # LABEL
	local i=0 line
	while IFS= read -r line; do
		[ "$line" = "${REPLIES[$i]}" ] && ok ||
			fail "$1: ${REQUESTS[$i]}: reply [$line], expected [${REPLIES[$i]}]"
		i=$((i + 1))
	done < <(ctl_raw "${REQUESTS[@]}")
	[ "$i" = "${#REQUESTS[@]}" ] && ok || fail "$1: $i replies to ${#REQUESTS[@]} requests"
	REQUESTS=()
	REPLIES=()
}
alive() { # LABEL: the daemon is running and answers status
	kill -0 "$DAEMON_PID" 2>/dev/null && ok || fail "$1: the daemon has exited"
	run --socket "$SOCK" status -f json
	expect_rc 0 "$1: status"
	case $out in
	'{"ok":true,'*"\"base32\":\"$KEY_B32\""*) ok ;;
	*) fail "$1: status [$out]" ;;
	esac
}

alive "before"
SEQ_ERROR="{\"ok\":false,\"error\":\"ping: \\\"seq\\\" must be an integer from -9223372036854775808 to 9223372036854775807\"}"
TIMEOUT_ERROR="{\"ok\":false,\"error\":\"ping: \\\"timeout_ms\\\" must be an integer from 1 to 60000\"}"
ping_req() { printf '{"cmd":"ping","peer":"%s",%s}' "$KEY_B32" "$1"; }

# The bug: the daemon must answer, not abort.
expect_reply "$(ping_req '"seq":1e300')" "$SEQ_ERROR"
check_replies "seq 1e300"
alive "after seq 1e300"

for seq in -1e300 9223372036854775808 -9223372036854775809 9.3e18 1.5 1e-300 '"1"' true null; do
	expect_reply "$(ping_req "\"seq\":$seq")" "$SEQ_ERROR"
done
for timeout in 0 60001 -1 1e300 -1e300 2.5 '"100"'; do
	expect_reply "$(ping_req "\"seq\":1,\"timeout_ms\":$timeout")" "$TIMEOUT_ERROR"
done
# Integers within range, at the edges too, get past the checks (to the
# next one: this node is not pinged).
for members in '"seq":9223372036854775807,"timeout_ms":60000' \
	'"seq":-9223372036854775808,"timeout_ms":1' '"seq":4.2e1,"timeout_ms":1e3' '"seq":7'; do
	expect_reply "$(ping_req "$members")" "{\"ok\":false,\"error\":\"ping: $KEY_B32 is this node\"}"
done
check_replies "range checks"
alive "after the range checks"

stop_daemon
[ "$daemon_rc" = 0 ] && ok || fail "the daemon exited with $daemon_rc on SIGTERM"
if grep -Eq 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$SCRATCH/daemon.log"; then
	fail "sanitizer report: $(grep -E -A10 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$SCRATCH/daemon.log" | head -20)"
else
	ok
fi
finish
