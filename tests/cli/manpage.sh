#!/bin/bash
# docs/iron.8 renders without warnings and documents every command that
# `iron --help` lists.
. "$(dirname "$0")/lib.sh"

page=${IRON_SOURCE_DIR:?}/docs/iron.8
command -v groff >/dev/null || { echo "SKIP: groff is not installed"; exit 77; }

warnings=$(groff -man -ww -z "$page" 2>&1)
[ -z "$warnings" ] && ok || fail "groff warnings: $warnings"
for section in NAME SYNOPSIS DESCRIPTION "GLOBAL OPTIONS" COMMANDS ENVIRONMENT FILES "EXIT STATUS"; do
	grep -q "^\.SH $section\$" "$page" && ok || fail "no section $section"
done
run --help
commands=$(printf '%s\n' "$out" | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | grep -v '^help$')
[ -n "$commands" ] && ok || fail "no commands found in iron --help"
for c in $commands; do
	grep -q "^\.SS iron $c\b" "$page" && ok || fail "the man page does not document '$c'"
done
for opt in log-level dns-port state-dir socket version; do
	sed 's/\\-/-/g' "$page" | grep -q -- "--$opt" && ok || fail "the man page does not document --$opt"
done
finish
