#!/bin/bash
# iron vanity: matches really start with the prefix and are consistent
# with convert; --max-attempts; the secret only with --show-secret; --save
# and --output never replace a key without confirmation.
. "$(dirname "$0")/lib.sh"

ST=$TMP/state
KEY=$ST/secret.key
export IRON_STATE_DIR=$ST

field() { printf '%s\n' "$out" | sed -n "s/^$1 *//p"; }
seed_hex() { python3 -c 'import sys; print(open(sys.argv[1], "rb").read().hex())' "$1"; }
seed_b64() { python3 -c 'import base64, sys; print(base64.b64encode(open(sys.argv[1], "rb").read()).decode())' "$1"; }

# One and two characters, any case; the printed forms agree with convert.
for p in a Q7 zz; do
	lower=$(printf '%s' "$p" | tr 'A-Z' 'a-z')
	run vanity "$p" --threads 2
	expect_rc 0 "vanity $p"
	b32=$(field base32)
	case $b32 in
	"$lower"*) ok ;;
	*) fail "vanity $p found [$b32]" ;;
	esac
	expected=$("$IRON" convert "$b32")
	expect_out "$expected" "vanity $p prints hex, base32, domain and ipv6 of the match"
	expect_err "found after" "vanity $p"
	expect_not $'\r' "$err" "no progress line when stderr is no terminal"
done

# The secret: never printed unless --show-secret.
run vanity b --output "$TMP/b.key"
expect_rc 0 "vanity --output"
[ "$(file_mode "$TMP/b.key")" = 600 ] && [ "$(stat -c %s "$TMP/b.key")" = 32 ] && ok || fail "output file: $(ls -l "$TMP/b.key")"
secret=$(seed_hex "$TMP/b.key")
expect_not "$secret" "$out$err" "vanity without --show-secret (hex)"
expect_not "$(seed_b64 "$TMP/b.key")" "$out$err" "vanity without --show-secret (base64)"
expect_out_has "output    $TMP/b.key" "vanity --output names the file"
found_b=$(field base32)
run key info "$TMP/b.key" -f json
[ "$(json_field '["node_id"]["base32"]')" = "$found_b" ] && ok || fail "the output file is not the key printed"

run vanity c --show-secret --output "$TMP/c.key"
expect_rc 0 "vanity --show-secret"
shown=$(field secret)
[ "$shown" = "$(seed_hex "$TMP/c.key")" ] && ok || fail "shown secret [$shown] is not the file's"
found_c=$(field base32)
run key import "$TMP/c.key"
[ "$(field base32)" = "$found_c" ] && ok || fail "the shown secret does not give the ID printed"

# JSON output.
run vanity d -f json --threads 1
expect_rc 0 "vanity -f json"
python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["prefix"] == "d" and d["found"] is True, d
assert d["node_id"]["base32"].startswith("d"), d
assert d["network"]["domain"] == d["node_id"]["base32"] + ".iron", d
assert d["threads"] == 1 and d["attempts"] >= 1, d
assert "secret" not in d and "key_file" not in d, d' "$out" && ok || fail "vanity -f json: $out"

# --max-attempts: exhaustion is exit 1 with a message; the count is exact.
run vanity zzzzzzzz --max-attempts 500
expect_rc 1 "vanity --max-attempts exhausted"
expect_err "iron: vanity: no match for 'zzzzzzzz' in 500 attempts" "exhaustion message"
expect_err "1099511627776" "expected attempts named for 8 characters"
expect_no_out "exhausted vanity prints nothing on stdout"
run vanity zzzzzzzz -n 1000 -f json --threads 2
expect_rc 1 "vanity -n exhausted, json"
expect_json '{"prefix": "zzzzzzzz", "found": false, "attempts": 1000, "seconds": '"$(json_field '["seconds"]')"', "keys_per_second": '"$(json_field '["keys_per_second"]')"', "threads": 2}' "exhausted vanity -f json"

# The warning for 6+ characters; none for 5.
run vanity abcdef --max-attempts 1
expect_err "warning: a prefix of 6 characters takes about 1073741824 attempts" "warning for 6 characters"
run vanity abcde --max-attempts 1
expect_not "warning" "$err" "no warning for 5 characters"

# --save: a new key file, 0600 in a 0700 directory.
run vanity e --save
expect_rc 0 "vanity --save"
[ "$(file_mode "$KEY")" = 600 ] && [ "$(file_mode "$ST")" = 700 ] && ok || fail "modes after --save: $(ls -la "$ST")"
[ "$(ls -A "$ST")" = secret.key ] && ok || fail "state dir holds [$(ls -A "$ST")]"
saved=$("$IRON" self --base32)
[ "$saved" = "$(field base32)" ] && ok || fail "saved key $saved is not the match $(field base32)"
expect_out_has "key file  $KEY" "vanity --save names the key file"
expect_not "$(seed_hex "$KEY")" "$out$err" "vanity --save does not print the secret"

# An existing key is not replaced on a non-terminal without --force, and
# the refusal comes before the search (an 8-character prefix would take
# days; the budget makes a wrong behaviour fail instead of hang).
before=$(tree_state "$TMP")
run vanity zzzzzzzz --save --max-attempts 100000000
expect_rc 1 "vanity --save over a key, no terminal"
expect_err "refusing to replace the existing key $KEY" "vanity --save refusal"
expect_err "--force" "vanity --save refusal names --force"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "refused vanity --save changed files"
run vanity zzzzzzzz --output "$TMP/b.key" --max-attempts 100000000
expect_rc 1 "vanity --output over a file, no terminal"
expect_err "refusing to replace the existing key $TMP/b.key" "vanity --output refusal"
[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "refused vanity --output changed files"
run vanity f --save --force
expect_rc 0 "vanity --save --force"
case $("$IRON" self --base32) in f*) ok ;; *) fail "--force did not save the match" ;; esac
run vanity a --force
expect_rc 2 "--force alone"

# On a terminal: the progress line (attempts, keys/s, expected time), and
# --quiet without it; the overwrite question.
if have_tty; then
	run_tty "" vanity zzzzzzzz --max-attempts 200000 --threads 1
	expect_out_has "keys/s" "progress line on a terminal"
	expect_out_has "attempts," "progress line shows attempts"
	expect_out_has "expected ~" "progress line shows the expected time"
	expect_out_has $'\r' "progress line is redrawn in place"
	run_tty "" vanity zzzzzzzz --max-attempts 200000 --threads 1 --quiet
	expect_not "keys/s," "$out" "--quiet hides the progress line"
	before=$(tree_state "$TMP")
	run_tty n vanity g --save
	expect_rc 1 "answering n on a terminal"
	expect_out_has "(y/N)" "vanity asks on a terminal"
	[ "$before" = "$(tree_state "$TMP")" ] && ok || fail "answer n changed files"
	run_tty y vanity h --save
	expect_rc 0 "answering y on a terminal"
	case $("$IRON" self --base32) in h*) ok ;; *) fail "answer y did not save" ;; esac
else
	echo "note: no pseudo-terminal (util-linux script); terminal cases not run"
fi

finish
