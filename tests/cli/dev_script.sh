#!/bin/bash
# README's two commands work as written from a root shell without sudo and
# for a user with sudo; CI (.ci/run) runs exactly README's test command.
# Nothing is built: scripts/dev is given a command it does not know, which
# it answers with its usage (exit 2) once it has root.
. "$(dirname "$0")/lib.sh"

src=${IRON_SOURCE_DIR:?}

# The commands as README shows them: indented code lines ending in
# "scripts/dev serve" and "scripts/dev test".
readme_cmd() { grep -E "^    [^#]*scripts/dev $1\$" "$src/README.md" | sed 's/^ *//'; }
test_cmd=$(readme_cmd test)
serve_cmd=$(readme_cmd serve)
[ "$(printf '%s\n' "$test_cmd" | grep -c .)" = 1 ] && ok || fail "README: not one 'scripts/dev test' command: [$test_cmd]"
[ -n "$serve_cmd" ] && ok || fail "README: no 'scripts/dev serve' command"
ci_cmd=$(sed -n 's/^exec //p' "$src/.ci/run")
[ "$ci_cmd" = "$test_cmd" ] && ok || fail ".ci/run runs [$ci_cmd], README says [$test_cmd]"

# A PATH with what scripts/dev needs before it reaches its usage, and no
# sudo; another with a fake sudo that logs its arguments. World-readable,
# for the unprivileged runs.
bin=$(mktemp -d "${TMPDIR:-/tmp}/iron-dev-bin.XXXXXX")
trap 'rm -rf "$TMP" "$SCRATCH" "$bin"' EXIT
mkdir -p "$bin/nosudo" "$bin/fakesudo"
for tool in sh dirname id nproc; do
	ln -s "$(command -v "$tool")" "$bin/nosudo/$tool"
	ln -s "$(command -v "$tool")" "$bin/fakesudo/$tool"
done
printf '#!/bin/sh\necho "$*" >%s/sudo.log\n' "$bin" >"$bin/fakesudo/sudo"
chmod 755 "$bin" "$bin/nosudo" "$bin/fakesudo" "$bin/fakesudo/sudo"
touch "$bin/sudo.log"
chmod 666 "$bin/sudo.log"

# run_dev PATH [AS_NOBODY] ARGS...: README's command line with its last word
# replaced, run in the source tree.
run_dev() {
	local path=$1 drop=$2
	shift 2
	local cmd="${test_cmd% test} $*" pre=()
	[ "$drop" = nobody ] && pre=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	out=$(cd "$src" && "${pre[@]}" env -i PATH="$path" /bin/sh -c "$cmd" 2>"$SCRATCH/stderr")
	rc=$?
	err=$(cat "$SCRATCH/stderr")
}

if [ "$(id -u)" = 0 ]; then
	# Root without sudo: the command as written, not "sudo: not found".
	run_dev "$bin/nosudo" root no-such-command
	expect_rc 2 "root, no sudo: README's command reaches scripts/dev"
	expect_err "usage: scripts/dev serve [ARGS] | scripts/dev test" "root, no sudo: usage"
	# Root with sudo: no detour through it.
	: >"$bin/sudo.log"
	run_dev "$bin/fakesudo" root no-such-command
	expect_rc 2 "root with sudo: usage"
	[ ! -s "$bin/sudo.log" ] && ok || fail "root with sudo: sudo was run: $(cat "$bin/sudo.log")"
fi
if [ "$(id -u)" != 0 ] || command -v setpriv >/dev/null; then
	who=nobody
	[ "$(id -u)" != 0 ] && who=self
	# A user with sudo: scripts/dev runs itself again through it.
	: >"$bin/sudo.log"
	run_dev "$bin/fakesudo" "$who" no-such-command
	expect_rc 0 "user with sudo: exit status of (fake) sudo"
	[ "$(cat "$bin/sudo.log")" = "-- $src/scripts/dev no-such-command" ] && ok ||
		fail "user with sudo: sudo ran [$(cat "$bin/sudo.log")]"
	# A user without sudo: a clear error.
	run_dev "$bin/nosudo" "$who" no-such-command
	expect_rc 1 "user, no sudo: exit 1"
	expect_err "needs root, and sudo is not installed" "user, no sudo: says why"
fi
finish
