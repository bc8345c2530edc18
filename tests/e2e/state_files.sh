#!/bin/bash
# State files the daemon did not make itself (issue 15, item 7), read as
# ssh reads its files: a secret.key owned by another user, or a symbolic
# link to a good key, is refused with one line naming the fix; a FIFO, a
# link or another user's file at known_peers.json is ignored with a
# warning, and start-up does not hang on the FIFO.
. "$(dirname "$0")/lib.sh"
need_root

make_ns a
NOBODY=65534

# serve_fails NAME: iron serve in namespace a with state $WORK/NAME must
# exit (within 10 s) with an error; its stderr goes to $WORK/NAME.err.
serve_fails() {
	timeout 10 ip netns exec "${PREFIX}a" "$IRON" serve --state-dir "$WORK/$1" \
		--no-dns-config --relay-url none >/dev/null 2>"$WORK/$1.err"
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
}

# A key planted by another user, with a perfect mode.
new_key planted
chown "$NOBODY:$NOBODY" "$WORK/planted/secret.key"
check "a key owned by another user: serve refuses to start" serve_fails planted
check "... and says who owns it and what to do" grep -q "secret.key: is owned by another user.*chown" "$WORK/planted.err"
check "... in one line" test "$(wc -l <"$WORK/planted.err")" -eq 1
check "iron self refuses it too" sh -c "! '$IRON' self --state-dir '$WORK/planted' >/dev/null 2>&1"

# A symbolic link to a good key (owned by us, 0600).
new_key target
mkdir -p "$WORK/linked"
chmod 700 "$WORK/linked"
ln -s "$WORK/target/secret.key" "$WORK/linked/secret.key"
check "a symlinked key: serve refuses to start" serve_fails linked
check "... and says it does not follow links" grep -q "secret.key: is a symbolic link" "$WORK/linked.err"

# A FIFO at known_peers.json: no hang, a warning, and the daemon runs.
new_key a
mkfifo -m 600 "$WORK/a/known_peers.json"
check "a FIFO at known_peers.json: the daemon comes up" start_iron a
check "... warning about it" grep -q "ignoring .*known_peers.json: not a regular file" "$WORK/a.log"
stop_iron a
check "... known_peers.json is a regular file now" test -f "$WORK/a/known_peers.json" -a ! -p "$WORK/a/known_peers.json"

# known_peers.json owned by another user, and a symbolic link there.
chown "$NOBODY:$NOBODY" "$WORK/a/known_peers.json"
check "another user's known_peers.json: the daemon comes up" start_iron a
check "... warning about it" grep -q "ignoring .*known_peers.json: owned by another user" "$WORK/a.log"
stop_iron a
check "... and saved its own over it" test "$(stat -c %u "$WORK/a/known_peers.json")" = 0
# The link's target belongs to someone else: never read, never written.
echo '["not touched"]' >"$WORK/peers.real"
chown "$NOBODY:$NOBODY" "$WORK/peers.real"
rm "$WORK/a/known_peers.json"
ln -s "$WORK/peers.real" "$WORK/a/known_peers.json"
check "a symlinked known_peers.json: the daemon comes up" start_iron a
check "... warning about it" grep -q "ignoring .*known_peers.json: is a symbolic link" "$WORK/a.log"
stop_iron a
check "... the link was replaced, its target left alone" sh -c \
	"test ! -L '$WORK/a/known_peers.json' && grep -q 'not touched' '$WORK/peers.real' &&
	 test \"\$(stat -c %u '$WORK/peers.real')\" = $NOBODY"
finish
