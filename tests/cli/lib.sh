# Helpers of the command-line tests; sourced by tests/cli/*.sh (ctest does
# not run this file). Each test runs iron in a fresh temporary HOME, so a
# developer's real key is never touched, and prints "N passed, N failed".
set -u

IRON=${IRON_BIN:?IRON_BIN must name the iron binary}
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to check JSON output"; exit 77; }

# TMP is the world the tests inspect; SCRATCH holds the harness's own files.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iron-cli.XXXXXX")
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/iron-cli-scratch.XXXXXX")
trap 'rm -rf "$TMP" "$SCRATCH"' EXIT
unset IRON_STATE_DIR XDG_CONFIG_HOME IRON_LOG RUST_LOG NO_COLOR
export HOME="$TMP/home"
mkdir -p "$HOME"
umask 022

passed=0
failed=0

# The fixed test key: seed 00 01 .. 1f. Its public key was computed
# independently (OpenSSL and Python's cryptography agree).
SEED_HEX=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
SEED_B64=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
KEY_HEX=03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8
KEY_B32=aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4a
KEY_DOMAIN=$KEY_B32.iron
KEY_IPV6=fd69:726f::1ddc:8664:1255:31b8

# The known-answer triple of SPEC section 2.
KAT_HEX=197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61
KAT_B32=df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq
KAT_IPV6=fd69:726f::39b:fa8b:3d36:8d61

ok() { passed=$((passed + 1)); }
fail() {
	failed=$((failed + 1))
	echo "FAIL: $*" >&2
}

# run ARGS...: iron with stdin from /dev/null (never a terminal); sets out,
# err and rc.
run() {
	out=$("$IRON" "$@" </dev/null 2>"$SCRATCH/stderr")
	rc=$?
	err=$(cat "$SCRATCH/stderr")
}

# run_in INPUT_FILE ARGS...: the same with stdin from a file.
run_in() {
	local input=$1
	shift
	out=$("$IRON" "$@" <"$input" 2>"$SCRATCH/stderr")
	rc=$?
	err=$(cat "$SCRATCH/stderr")
}

# run_tty ANSWER ARGS...: iron on a pseudo-terminal (util-linux script),
# ANSWER typed on it; sets out (terminal output, both streams) and rc.
have_tty() { command -v script >/dev/null && script -qec true /dev/null >/dev/null 2>&1; }
run_tty() {
	local answer=$1 cmd=""
	shift
	for a in "$IRON" "$@"; do cmd="$cmd $(printf '%q' "$a")"; done
	out=$(printf '%s\n' "$answer" | script -qec "$cmd" /dev/null 2>&1)
	rc=$?
	err=$out
}

expect_rc() { # CODE LABEL
	if [ "$rc" = "$1" ]; then ok; else fail "$2: exit $rc, expected $1; stderr: $err"; fi
}
expect_out() { # TEXT LABEL
	if [ "$out" = "$1" ]; then ok; else fail "$2: stdout was [$out], expected [$1]"; fi
}
expect_no_out() { # LABEL
	if [ -z "$out" ]; then ok; else fail "$1: stdout should be empty: [$out]"; fi
}
expect_err() { # SUBSTRING LABEL
	case $err in
	*"$1"*) ok ;;
	*) fail "$2: stderr lacks [$1]: [$err]" ;;
	esac
}
expect_out_has() { # SUBSTRING LABEL
	case $out in
	*"$1"*) ok ;;
	*) fail "$2: stdout lacks [$1]: [$out]" ;;
	esac
}
expect_not() { # SUBSTRING TEXT LABEL: TEXT must not contain SUBSTRING
	case $2 in
	*"$1"*) fail "$3: [$1] must not appear" ;;
	*) ok ;;
	esac
}
# An error is one line "iron: <what>: <why>", optionally one hint line.
expect_one_line_error() { # LABEL
	local first lines
	first=$(printf '%s\n' "$err" | head -n 1)
	lines=$(printf '%s\n' "$err" | grep -vc '^  hint: ')
	case $first in
	"iron: "*": "*) ok ;;
	*) fail "$1: error line [$first] is not 'iron: <what>: <why>'" ;;
	esac
	if [ "$lines" = 1 ]; then ok; else fail "$1: $lines error lines: [$err]"; fi
}

# The exact JSON value, checked by a real parser. EXPECTED is JSON text.
expect_json() { # EXPECTED LABEL
	if python3 -c 'import json, sys
got = json.loads(sys.argv[1])
sys.exit(0 if got == json.loads(sys.argv[2]) else 1)' "$out" "$1" 2>"$SCRATCH/json_err"; then
		ok
	else
		fail "$2: JSON [$out] is not [$1] $(cat "$SCRATCH/json_err")"
	fi
}
# json_field PATH: one value of $out, e.g. json_field '["node_id"]["hex"]'.
json_field() { python3 -c 'import json, sys; print(eval("json.loads(sys.argv[1])" + sys.argv[2]))' "$out" "$1"; }

# A listing of everything under DIR: type, mode, size, link target and
# content hash of each entry; equal listings prove nothing was touched.
tree_state() {
	(cd "$1" 2>/dev/null && find . -printf '%p %y %m %s %l %T@\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}

file_mode() { stat -c %a "$1"; }

write_seed() { # FILE: the fixed test key as a raw key file, mode 0600
	mkdir -p "$(dirname "$1")"
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(32)))' >"$1"
	chmod 600 "$1"
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
	exit $?
}
