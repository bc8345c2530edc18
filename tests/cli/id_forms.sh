#!/bin/bash
# Every command that reads a node ID takes every form `iron convert` takes
# (id_parse(): hex in either case, base32 in any case, <base32>.iron with or
# without the trailing dot): `iron convert`, `iron serve --peer`,
# `iron serve --allow` and `iron ping`. serve and ping are stopped right
# after the ID is read: serve by an unknown option after --peer/--allow
# (options are read in order), ping by a control socket nobody listens on.
. "$(dirname "$0")/lib.sh"

mixed=$(printf '%s' "$KAT_B32" | sed 's/\(.\)\(.\)/\1\u\2/g')
for form in "$KAT_HEX" "${KAT_HEX^^}" "$KAT_B32" "${KAT_B32^^}" "$mixed" \
	"$KAT_B32.iron" "${KAT_B32^^}.IRON." "$mixed.iron."; do
	run convert "$form" --to base32
	expect_out "$KAT_B32" "convert $form"

	run serve --peer "$form@192.0.2.1:4766" --no-such-option
	expect_rc 2 "serve --peer $form@..."
	expect_err "unknown or incomplete option '--no-such-option'" "serve --peer $form@... is read"
	expect_not "--peer" "$err" "serve --peer $form@... is not refused"

	run serve --allow "$form" --allow "$KEY_B32" --no-such-option
	expect_rc 2 "serve --allow $form"
	expect_err "unknown or incomplete option '--no-such-option'" "serve --allow $form is read"
	expect_not "--allow" "$err" "serve --allow $form is not refused"

	run ping "$form" -c 1 --socket "$TMP/none.sock"
	expect_rc 1 "ping $form"
	expect_err "no daemon on $TMP/none.sock" "ping $form gets as far as the socket"
done

# Not IDs: one hex digit too many, a domain with junk after it.
for bad in "${KAT_HEX}0" "$KAT_B32.iron.x"; do
	run serve --peer "$bad@192.0.2.1:4766"
	expect_rc 2 "serve --peer $bad@..."
	expect_err "expected ID@HOST:PORT or ID@RELAY-URL with a valid node ID" "serve --peer $bad@... refused"
	run ping "$bad" --socket "$TMP/none.sock"
	expect_rc 2 "ping $bad"
	expect_err "is not a node ID" "ping $bad refused"
done

# --allow: anything but a node ID is a usage error on one line, before
# anything is set up: a base32 ID whose 4 unused trailing bits are not zero
# (...r), one that decodes to no Ed25519 key (...a), an ID@ENDPOINT, junk,
# nothing; a missing value is an incomplete option.
for bad in "${KAT_HEX}0" "$KAT_B32.iron.x" "${KAT_B32%q}r" "${KAT_B32%q}a" "nope" "" \
	"$KAT_B32@192.0.2.1:4766"; do
	run serve --allow "$bad" --state-dir "$TMP/allow-state"
	expect_rc 2 "serve --allow '$bad'"
	expect_err "iron: serve: --allow '$bad': not a node ID (expected 52 base32 characters, 64 hex digits or <base32>.iron)" "serve --allow '$bad' refused"
	expect_one_line_error "serve --allow '$bad'"
	[ ! -e "$TMP/allow-state" ] && ok || fail "serve --allow '$bad' created the state directory"
done
run serve --allow
expect_rc 2 "serve --allow without a value"
expect_err "unknown or incomplete option '--allow'" "serve --allow without a value refused"
finish
