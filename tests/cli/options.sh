#!/bin/bash
# Every long option a command accepts (its getopt table in src/cmd_<name>.c,
# or the "--name" strings it compares by hand)
# appears in `iron <name> --help` and in the man page, and every command
# rejects an unknown option with exit 2.
. "$(dirname "$0")/lib.sh"

src=${IRON_SOURCE_DIR:?}
man=$(sed 's/\\-/-/g' "$src/docs/iron.8")
for file in "$src"/src/cmd_*.c; do
	cmd=$(basename "$file" .c)
	cmd=${cmd#cmd_}
	cmd=${cmd//_/-} # src/cmd_dns_server.c is `iron dns-server`
	[ "$cmd" = resolve-addr ] && cmd="resolve --addr" # a mode of iron resolve
	help=$("$IRON" $cmd --help 2>&1)
	# getopt tables, and options compared by hand ("--name").
	options=$( (grep -oE '\{"[a-z0-9-]+", *(no|required|optional)_argument' "$file" |
		sed -E 's/\{"([^"]+)".*/\1/'
		grep -oE '"--[a-z0-9-]+"' "$file" | tr -d '"' | sed 's/^--//') | sort -u)
	[ -n "$options" ] && ok || fail "no options found in $file"
	for opt in $options; do
		printf '%s\n' "$help" | grep -q -- "--$opt" && ok || fail "iron $cmd --help does not mention --$opt"
		printf '%s\n' "$man" | grep -q -- "--$opt" && ok || fail "the man page does not mention --$opt ($cmd)"
	done
	"$IRON" $cmd --no-such-option >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] && ok || fail "iron $cmd --no-such-option exits $rc, not 2"
done
finish
