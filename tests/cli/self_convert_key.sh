#!/bin/bash
# Golden tests of self, convert and key: exact text and JSON output for a
# fixed key, key files created 0600 in a 0700 directory with nothing else
# left behind, and the confirmation rules for replacing or deleting a key.
. "$(dirname "$0")/lib.sh"

ST=$TMP/state
KEY=$ST/secret.key
export IRON_STATE_DIR=$ST

block() { # KEY_FILE_OR_EMPTY HEX B32 IPV6
	[ -n "$1" ] && printf 'key file  %s\n' "$1"
	printf 'hex       %s\nbase32    %s\ndomain    %s.iron\nipv6      %s' "$2" "$3" "$3" "$4"
}
ID_JSON="\"node_id\": {\"hex\": \"$KEY_HEX\", \"base32\": \"$KEY_B32\"}, \"network\": {\"domain\": \"$KEY_DOMAIN\", \"ipv6\": \"$KEY_IPV6\"}"

# --- self ------------------------------------------------------------------
run self
expect_rc 1 "self without a key"
expect_err "no key file at $KEY" "self without a key"
expect_err "iron key generate --save" "self without a key names the fix"
[ ! -e "$ST" ] && ok || fail "self created the state directory"
run self --exists
expect_rc 1 "self --exists without a key"
expect_no_out "self --exists without a key"
[ -z "$err" ] && ok || fail "self --exists printed [$err]"

write_seed "$KEY"
run self
expect_rc 0 "self"
expect_out "$(block "$KEY" $KEY_HEX $KEY_B32 $KEY_IPV6)" "self block"
expect_not $'\e' "$out" "self piped output has no colour"
run self --hex
expect_out "$KEY_HEX" "self --hex"
run self --base32
expect_out "$KEY_B32" "self --base32"
run self --domain
expect_out "$KEY_DOMAIN" "self --domain"
run self --ipv6
expect_out "$KEY_IPV6" "self --ipv6"
run self -f json
expect_out "{\"key_file\": \"$KEY\", $ID_JSON}" "self -f json, exact text"
expect_json "{\"key_file\": \"$KEY\", $ID_JSON}" "self -f json"
run self --format json
expect_json "{\"key_file\": \"$KEY\", $ID_JSON}" "self --format json"
run self --exists
expect_rc 0 "self --exists"
expect_no_out "self --exists"
run self --hex --ipv6
expect_rc 2 "self with two output forms"
run self extra
expect_rc 2 "self with an extra argument"
expect_err "unexpected argument 'extra'" "self extra"
run self -f yaml
expect_rc 2 "self -f yaml"

# The state directory by the other rules: XDG_CONFIG_HOME, then HOME.
unset IRON_STATE_DIR
write_seed "$TMP/xdg/iron/secret.key"
XDG_CONFIG_HOME=$TMP/xdg run self -f json
expect_json "{\"key_file\": \"$TMP/xdg/iron/secret.key\", $ID_JSON}" "self via XDG_CONFIG_HOME"
write_seed "$HOME/.config/iron/secret.key"
run self --hex
expect_out "$KEY_HEX" "self via HOME/.config/iron"
run self -f json
expect_json "{\"key_file\": \"$HOME/.config/iron/secret.key\", $ID_JSON}" "self via HOME"
export IRON_STATE_DIR=$ST

# Colour only on a terminal.
if have_tty; then
	run_tty "" self
	expect_rc 0 "self on a terminal"
	expect_out_has $'\e[' "self on a terminal uses colour"
	expect_out_has "$KEY_B32" "self on a terminal"
else
	echo "note: no pseudo-terminal (util-linux script); terminal cases not run"
fi

# --- convert ---------------------------------------------------------------
ALL_KAT=$(block "" $KAT_HEX $KAT_B32 $KAT_IPV6)
for v in $KAT_HEX ${KAT_HEX^^} $KAT_B32 ${KAT_B32^^} $KAT_B32.iron $KAT_B32.iron. ${KAT_B32^^}.IRON $KAT_B32.IrOn.; do
	run convert "$v"
	expect_rc 0 "convert $v"
	expect_out "$ALL_KAT" "convert $v"
done
run convert $KAT_HEX --to base32
expect_out "$KAT_B32" "convert hex --to base32"
run convert $KAT_B32 --to hex
expect_out "$KAT_HEX" "convert base32 --to hex"
run convert $KAT_B32.iron --to hex
expect_out "$KAT_HEX" "convert domain --to hex"
run convert $KAT_HEX --to domain
expect_out "$KAT_B32.iron" "convert --to domain"
run convert $KAT_HEX --to iron
expect_out "$KAT_B32.iron" "convert --to iron"
run convert -t ipv6 $KAT_B32
expect_out "$KAT_IPV6" "convert -t ipv6 before the value"
run convert $KAT_B32.iron. --to=ipv6
expect_out "$KAT_IPV6" "convert --to=ipv6"
run convert $KAT_B32 --to base32
expect_out "$KAT_B32" "convert base32 --to base32"
run convert ${KAT_B32^^} -f json
expect_json "{\"input\": \"${KAT_B32^^}\", \"detected\": \"base32\", \"node_id\": {\"hex\": \"$KAT_HEX\", \"base32\": \"$KAT_B32\"}, \"network\": {\"domain\": \"$KAT_B32.iron\", \"ipv6\": \"$KAT_IPV6\"}}" "convert -f json"
run convert $KAT_HEX -f json
[ "$(json_field '["detected"]')" = hex ] && ok || fail "convert hex detected as $(json_field '["detected"]')"
run convert $KAT_B32.iron. -f json
[ "$(json_field '["detected"]')" = domain ] && ok || fail "convert domain detected"
run convert $KAT_B32 --to ipv6 -f json
expect_json "{\"ipv6\": \"$KAT_IPV6\"}" "convert --to ipv6 -f json"
run convert $KEY_HEX
expect_out "$(block "" $KEY_HEX $KEY_B32 $KEY_IPV6)" "convert the test key"
run convert
expect_rc 2 "convert without a value"
run convert $KAT_HEX $KAT_B32
expect_rc 2 "convert with two values"
run convert $KAT_HEX --to octal
expect_rc 2 "convert --to octal"
expect_err "unknown form 'octal'" "convert --to octal"

# --- key info / validate / export --------------------------------------------
run key info
expect_rc 0 "key info"
expect_out "$(block "$KEY" $KEY_HEX $KEY_B32 $KEY_IPV6)
mode      0600" "key info"
run key info -f json
expect_json "{\"key_file\": \"$KEY\", \"mode\": \"0600\", $ID_JSON}" "key info -f json"
run key info "$TMP/xdg/iron/secret.key" -f json
expect_json "{\"key_file\": \"$TMP/xdg/iron/secret.key\", \"mode\": \"0600\", $ID_JSON}" "key info FILE"
run key validate
expect_rc 0 "key validate"
expect_out "$KEY: valid key, node ID $KEY_B32" "key validate"
run key export
expect_rc 0 "key export"
expect_out "$SEED_HEX" "key export (hex by default)"
[ -z "$err" ] && ok || fail "key export warned although stdout is no terminal: [$err]"
run key export --format hex
expect_out "$SEED_HEX" "key export --format hex"
run key export --format base64
expect_out "$SEED_B64" "key export --format base64"
run key export -f base32
expect_rc 2 "key export -f base32"
if have_tty; then
	run_tty "" key export
	expect_out_has "warning: this is the secret key" "key export to a terminal warns"
fi

# --- key import --------------------------------------------------------------
rm -rf "$ST"
printf '%s\n' "$SEED_HEX" >"$TMP/seed.hex"
printf '%s\n' "$SEED_B64" >"$TMP/seed.b64"
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(32)))' >"$TMP/seed.raw"
before=$(tree_state "$TMP")
for f in seed.hex seed.b64 seed.raw; do
	run key import "$TMP/$f"
	expect_rc 0 "key import $f"
	expect_out "$(block "" $KEY_HEX $KEY_B32 $KEY_IPV6)" "key import $f"
	expect_err "not saved" "key import $f without --save"
done
run_in "$TMP/seed.b64" key import -
expect_out "$(block "" $KEY_HEX $KEY_B32 $KEY_IPV6)" "key import - (stdin)"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "key import without --save changed files"
expect_not "$SEED_HEX" "$out$err" "key import does not print the secret"

run key import "$TMP/seed.hex" --save
expect_rc 0 "key import --save"
expect_out "$(block "$KEY" $KEY_HEX $KEY_B32 $KEY_IPV6)" "key import --save"
[ "$(file_mode "$KEY")" = 600 ] && ok || fail "imported key mode $(file_mode "$KEY")"
[ "$(file_mode "$ST")" = 700 ] && ok || fail "state dir mode $(file_mode "$ST")"
cmp -s "$KEY" "$TMP/seed.raw" && ok || fail "key file is not the raw 32-byte seed"
[ "$(ls -A "$ST")" = secret.key ] && ok || fail "state dir holds [$(ls -A "$ST")]"
run key import "$TMP/seed.b64" --save
expect_rc 0 "importing the same key again"
expect_err "already the key" "importing the same key again"

# Another key exists: refused without --force when stdin is no terminal.
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(100, 132)).hex().encode())' >"$TMP/other.hex"
before=$(tree_state "$TMP")
run key import "$TMP/other.hex" --save
expect_rc 1 "key import over another key, no terminal"
expect_err "refusing to replace" "key import refusal"
expect_err "--force" "key import refusal names --force"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "refused import changed files"
run key import "$TMP/other.hex" --save --force
expect_rc 0 "key import --force"
OTHER_HEX=$("$IRON" self --hex)
[ "$OTHER_HEX" != "$KEY_HEX" ] && ok || fail "key import --force did not replace the key"
[ "$(file_mode "$KEY")" = 600 ] && [ "$(ls -A "$ST")" = secret.key ] && ok || fail "after --force: $(ls -lA "$ST")"
run key import "$TMP/other.hex" --force
expect_rc 2 "--force without --save"

# --- key generate ------------------------------------------------------------
before=$(tree_state "$TMP")
run key generate
expect_rc 0 "key generate"
gen_b32=$(printf '%s\n' "$out" | sed -n 's/^base32    //p')
[ ${#gen_b32} = 52 ] && [ "$gen_b32" != "$KEY_B32" ] && ok || fail "key generate printed [$out]"
expect_not "key file" "$out" "key generate without --save names no key file"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "key generate without --save changed files"
run key generate --save
expect_rc 1 "key generate --save over a key, no terminal"
expect_err "refusing to replace the existing key $KEY" "key generate refusal"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "refused generate changed files"
run key generate --save --force
expect_rc 0 "key generate --save --force"
new_hex=$("$IRON" self --hex)
[ "$new_hex" != "$OTHER_HEX" ] && ok || fail "generate --force kept the old key"
expect_out_has "key file  $KEY" "generate --save shows the key file"
[ "$(file_mode "$KEY")" = 600 ] && [ "$(ls -A "$ST")" = secret.key ] && ok || fail "after generate: $(ls -lA "$ST")"
# Into a fresh state directory several levels deep: 0700 directories.
run --state-dir "$TMP/fresh/a/b" key generate --save
expect_rc 0 "key generate --save into a new directory"
[ "$(file_mode "$TMP/fresh/a/b")" = 700 ] && [ "$(file_mode "$TMP/fresh/a/b/secret.key")" = 600 ] && ok ||
	fail "modes $(file_mode "$TMP/fresh/a/b") $(file_mode "$TMP/fresh/a/b/secret.key")"
[ "$(ls -A "$TMP/fresh/a/b")" = secret.key ] && ok || fail "fresh dir holds [$(ls -A "$TMP/fresh/a/b")]"

# --- key reset ---------------------------------------------------------------
before=$(tree_state "$TMP")
run key reset
expect_rc 1 "key reset without --confirm, no terminal"
expect_err "refusing to delete $KEY" "key reset refusal"
expect_err "--confirm" "key reset refusal names --confirm"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "refused reset changed files"
run key reset --confirm
expect_rc 0 "key reset --confirm"
[ ! -e "$KEY" ] && ok || fail "key reset left the key"
run key reset --confirm
expect_rc 0 "key reset with no key"
expect_err "nothing to delete" "key reset with no key"

# --- confirmation on a terminal ------------------------------------------------
if have_tty; then
	write_seed "$KEY"
	before=$(tree_state "$TMP")
	run_tty n key generate --save
	expect_rc 1 "answering n keeps the key"
	expect_out_has "(y/N)" "the terminal is asked"
	[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "answer n changed files"
	run_tty "" key reset
	expect_rc 1 "an empty answer is no"
	[ -e "$KEY" ] && ok || fail "empty answer deleted the key"
	run_tty y key import "$TMP/other.hex" --save
	expect_rc 0 "answering y replaces the key"
	[ "$("$IRON" self --hex)" = "$OTHER_HEX" ] && ok || fail "answer y did not import"
	run_tty YES key reset
	expect_rc 0 "answering YES deletes"
	[ ! -e "$KEY" ] && ok || fail "answer YES kept the key"
fi

finish
