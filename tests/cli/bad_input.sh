#!/bin/bash
# Every bad input of the foundation commands: the exit code, the one-line
# message, and proof (a listing with modes, sizes, times and hashes of every
# file, before and after) that nothing was created or changed.
. "$(dirname "$0")/lib.sh"

ST=$TMP/state
KEY=$ST/secret.key
export IRON_STATE_DIR=$ST
mkdir -p "$TMP/elsewhere"
write_seed "$TMP/elsewhere/target.key"

unchanged() { # LABEL
	if [ "$before" = "$(tree_state "$TMP")" ]; then ok; else
		fail "$1 changed files:"
		diff <(echo "$before") <(tree_state "$TMP") >&2
	fi
}

# bad_case CODE MESSAGE LABEL -- ARGS...: runs iron, checks everything.
bad_case() {
	local code=$1 message=$2 label=$3
	shift 4
	before=$(tree_state "$TMP")
	run "$@"
	expect_rc "$code" "$label"
	expect_err "$message" "$label"
	expect_one_line_error "$label"
	expect_no_out "$label"
	unchanged "$label"
}

# --- node IDs given to convert (exit 2: the argument is malformed) -------------
NOT_A_POINT_B32=aiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
NOT_A_POINT_HEX=0200000000000000000000000000000000000000000000000000000000000000
bad_case 2 "read as hex, it has 63 digits, a node ID has 64" "hex of 63 digits" -- convert ${KAT_HEX:0:63}
bad_case 2 "read as hex, it has 65 digits" "hex of 65 digits" -- convert ${KAT_HEX}0
bad_case 2 "read as hex, 'g' at position 64 is not a hex digit" "hex with a g" -- convert ${KAT_HEX:0:63}g
bad_case 2 "read as hex, 'x' at position 1 is not a hex digit" "hex with an x" -- convert x${KAT_HEX:1}
bad_case 2 "read as base32, it has 51 characters, a node ID has 52" "base32 of 51" -- convert ${KAT_B32:0:51}
bad_case 2 "read as base32, it has 53 characters" "base32 of 53" -- convert ${KAT_B32}a
for c in 0 1 8 9; do
	bad_case 2 "read as base32, '$c' at position 10 is not a base32 character" "base32 with $c" -- convert ${KAT_B32:0:9}$c${KAT_B32:10}
done
bad_case 2 "read as base32, '=' padding is not allowed" "base32 with padding" -- convert ${KAT_B32}====
bad_case 2 "read as base32, '=' padding is not allowed" "padding, right length" -- convert ${KAT_B32:0:48}====
bad_case 2 "non-zero trailing bits: the last character must be 'a' or 'q', not 'r'" "trailing bits" -- convert ${KAT_B32:0:51}r
bad_case 2 "not a valid Ed25519 public key" "52 characters, not a point" -- convert $NOT_A_POINT_B32
bad_case 2 "read as base32, it decodes to 32 bytes that are not a valid Ed25519 public key" "52 characters, not a point" -- convert $NOT_A_POINT_B32 --to ipv6
bad_case 2 "read as hex, it decodes to 32 bytes that are not a valid Ed25519 public key" "hex, not a point" -- convert $NOT_A_POINT_HEX
bad_case 2 "read as domain, it has 51 characters" "domain with a short label" -- convert ${KAT_B32:0:51}.iron
bad_case 2 "read as domain, non-zero trailing bits" "domain with trailing bits" -- convert ${KAT_B32:0:51}r.iron
bad_case 2 "read as domain, expected exactly one label before .iron" "domain with two labels" -- convert x.$KAT_B32.iron
bad_case 2 "read as domain, the name does not end in .iron" "domain not .iron" -- convert $KAT_B32.iroh
bad_case 2 "is an IPv6 address; the mapping is one-way" "IPv6 to convert" -- convert $KAT_IPV6
bad_case 2 "is an IPv6 address; the mapping is one-way" "IPv6 to convert, --to hex" -- convert fd69:726f::1 --to hex
bad_case 2 "is an IPv6 address; the mapping is one-way" "::1 to convert" -- convert ::1
bad_case 2 "the VALUE is empty" "empty value" -- convert ""

# --- vanity prefixes (exit 2); --save/--output must not create anything ------
for p in ab0 1 x8 9 ab1cd 0000; do
	c=$(printf '%s' "$p" | tr -d 'a-z2-7' | cut -c1)
	bad_case 2 "prefix '$p': '$c' never appears in a node ID: base32 uses only a-z and 2-7" "vanity $p" -- vanity "$p" --save --output "$TMP/out.key"
done
bad_case 2 "prefix 'abcdefghi' has 9 characters; at most 8" "vanity 9 characters" -- vanity abcdefghi --save
bad_case 2 "prefix 'ABCDEFGHIJKL' has 12 characters; at most 8" "vanity 12 characters" -- vanity ABCDEFGHIJKL
bad_case 2 "character 2 is not in the base32 alphabet" "vanity a!" -- vanity 'a!'
bad_case 2 "the prefix is empty" "vanity empty" -- vanity ""
bad_case 2 "missing the PREFIX" "vanity without prefix" -- vanity
bad_case 2 "--threads: expected 1 to" "vanity --threads 0" -- vanity a --threads 0
bad_case 2 "--threads: expected 1 to" "vanity --threads x" -- vanity a --threads x
bad_case 2 "--max-attempts: expected a number" "vanity --max-attempts -1" -- vanity a --max-attempts -1

# --- key files of the wrong size --------------------------------------------------
mkdir -p -m 700 "$ST"
for size in 31 33 0; do
	head -c $size /dev/urandom >"$KEY"
	chmod 600 "$KEY"
	for cmd in "self" "self --hex" "key info" "key validate" "key export"; do
		# shellcheck disable=SC2086
		bad_case 1 "$KEY: not a key file: it must hold exactly 32 bytes" "$size-byte key, $cmd" -- $cmd
	done
	before=$(tree_state "$TMP")
	run self --exists
	expect_rc 1 "$size-byte key, self --exists"
	expect_no_out "$size-byte key, self --exists"
	unchanged "$size-byte key, self --exists"
	# Replacing it still follows the rule: no terminal, no --force, no change.
	bad_case 1 "refusing to replace the existing key $KEY" "$size-byte key, generate --save" -- key generate --save
done

# --- a key file others can read (refused as ssh does) ---------------------------
write_seed "$KEY"
for mode in 644 640 604 660 666; do
	chmod $mode "$KEY"
	for cmd in "self" "self -f json" "key info" "key validate" "key export"; do
		# shellcheck disable=SC2086
		bad_case 1 "$KEY: permissions are too open" "mode $mode, $cmd" -- $cmd
		expect_err "hint: chmod 600 $KEY" "mode $mode, $cmd names the fix"
	done
	[ "$(file_mode "$KEY")" = $mode ] && ok || fail "mode $mode was changed"
done
chmod 600 "$KEY"
run self --hex
expect_out "$KEY_HEX" "after chmod 600 the key is accepted"

# --- a state directory that is a file ---------------------------------------------
rm -rf "$ST"
printf 'not a directory' >"$ST"
for cmd in "self" "key info" "key generate --save" "key generate --save --force" "key import $TMP/elsewhere/target.key --save" "vanity a --save --force" "key reset --confirm"; do
	# shellcheck disable=SC2086
	bad_case 1 "the state directory (or a parent) is not a directory" "state dir is a file, $cmd" -- $cmd
done
rm -f "$ST"

# --- the key path is a symbolic link to elsewhere -----------------------------------
mkdir -p -m 700 "$ST"
ln -s "$TMP/elsewhere/target.key" "$KEY"
for cmd in "self" "self --ipv6" "key info" "key validate" "key export" "key generate --save --force" "key import $TMP/elsewhere/target.key --save --force" "vanity a --save --force"; do
	# shellcheck disable=SC2086
	bad_case 1 "$KEY: is a symbolic link" "key is a symlink, $cmd" -- $cmd
done
[ -L "$KEY" ] && [ "$(readlink "$KEY")" = "$TMP/elsewhere/target.key" ] && ok || fail "the link was changed"
rm -f "$KEY"

# --- HOME unset, and no other way to find the state directory ------------------------
unset IRON_STATE_DIR
mkdir -p "$TMP/cwd"
for cmd in "self" "key info" "key export" "key generate --save" "key import $TMP/elsewhere/target.key --save" "key reset --confirm" "vanity a --save"; do
	before=$(tree_state "$TMP")
	# shellcheck disable=SC2086
	out=$(cd "$TMP/cwd" && env -u HOME -u XDG_CONFIG_HOME "$IRON" $cmd </dev/null 2>"$SCRATCH/stderr")
	rc=$?
	err=$(cat "$SCRATCH/stderr")
	expect_rc 1 "HOME unset, $cmd"
	expect_err "iron: cannot find the state directory: HOME is not set" "HOME unset, $cmd"
	expect_err "hint: set HOME or IRON_STATE_DIR, or pass --state-dir DIR" "HOME unset, $cmd"
	expect_one_line_error "HOME unset, $cmd"
	expect_no_out "HOME unset, $cmd"
	unchanged "HOME unset, $cmd"
done
# self --exists stays silent even then.
out=$(env -u HOME "$IRON" self --exists </dev/null 2>&1)
rc=$?
expect_rc 1 "HOME unset, self --exists"
expect_no_out "HOME unset, self --exists"
# Commands that need no key work without HOME.
out=$(env -u HOME "$IRON" convert $KAT_B32 --to ipv6 </dev/null 2>/dev/null)
[ "$out" = "$KAT_IPV6" ] && ok || fail "convert without HOME: [$out]"

# --- key import of something that is no key -------------------------------------------
export IRON_STATE_DIR=$ST
printf '%s\n' "${SEED_HEX:0:63}" >"$TMP/short.hex"
printf '%s' "${SEED_HEX:0:32}" >"$TMP/half.hex"
printf 'hello world\n' >"$TMP/junk.txt"
for f in short.hex half.hex junk.txt; do
	bad_case 1 "$TMP/$f: not a secret key: expected 64 hex digits, base64 of 32 bytes" "import $f" -- key import "$TMP/$f" --save
done
bad_case 1 "$TMP/missing.hex: No such file or directory" "import a missing file" -- key import "$TMP/missing.hex" --save
head -c 5000 /dev/zero | tr '\0' 'a' >"$TMP/big.txt"
bad_case 1 "too large for a key" "import a large file" -- key import "$TMP/big.txt"

finish
