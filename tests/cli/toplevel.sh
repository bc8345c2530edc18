#!/bin/bash
# iron, help, -h, -V, global options and their errors (SPEC section 4).
. "$(dirname "$0")/lib.sh"

for args in "help" "--help" "-h"; do
	# shellcheck disable=SC2086
	run $args
	expect_rc 0 "iron $args"
	expect_out_has "Usage: iron [OPTIONS] <COMMAND>" "iron $args"
	for c in self convert key vanity; do
		expect_out_has "  $c " "iron $args lists $c"
	done
done

# No command is a usage error: the usage goes to stderr, exit 2. The same
# with only global options.
for args in "" "-l debug" "--state-dir $TMP/g"; do
	# shellcheck disable=SC2086
	run $args
	expect_rc 2 "iron $args (no command)"
	expect_no_out "iron $args (no command)"
	expect_err "iron: expected a command" "iron $args (no command)"
	expect_err "Usage: iron [OPTIONS] <COMMAND>" "iron $args (no command): usage on stderr"
done

for v in -V --version; do
	run $v
	expect_rc 0 "iron $v"
	case $out in
	"iron "[0-9]*) ok ;;
	*) fail "iron $v printed [$out]" ;;
	esac
done

run --bogus
expect_rc 2 "unknown global option"
expect_err "iron: unknown option '--bogus'" "unknown global option"
expect_no_out "unknown global option"
run -x self
expect_rc 2 "unknown short option before the command"
expect_err "unknown option '-x'" "unknown short option"
run frobnicate
expect_rc 2 "unknown command"
expect_err "iron: unknown command 'frobnicate'" "unknown command"
run --log-level loud self
expect_rc 2 "bad --log-level"
run --dns-port 70000 self
expect_rc 2 "bad --dns-port"
run --state-dir
expect_rc 2 "--state-dir without a value"
IRON_LOG='quic=nonsense' run self
expect_rc 2 "bad IRON_LOG"

# "iron help CMD" and "iron CMD --help" print the command's usage.
for c in self convert key vanity; do
	run help $c
	expect_rc 0 "help $c"
	expect_out_has "Usage: iron $c" "help $c"
	run $c --help
	expect_rc 0 "$c --help"
	expect_out_has "Usage: iron $c" "$c --help"
	run $c --no-such-option
	expect_rc 2 "$c with an unknown option"
	expect_err "iron: $c: unknown option '--no-such-option'" "$c unknown option"
done
for s in info validate export import generate reset; do
	run key $s --help
	expect_rc 0 "key $s --help"
	expect_out_has "Usage: iron key" "key $s --help"
done
run key
expect_rc 2 "key without a subcommand"
run key frob
expect_rc 2 "key with an unknown subcommand"
expect_err "unknown command 'frob'" "key frob"

# Global options before or after the command, as --opt VALUE or --opt=VALUE.
write_seed "$TMP/g/secret.key"
run --state-dir "$TMP/g" self --hex
expect_out "$KEY_HEX" "--state-dir before the command"
run self --hex --state-dir "$TMP/g"
expect_out "$KEY_HEX" "--state-dir after the command"
run self --state-dir="$TMP/g" --base32 -l debug
expect_out "$KEY_B32" "--state-dir=DIR and -l after the command"
expect_rc 0 "--state-dir=DIR"

finish
