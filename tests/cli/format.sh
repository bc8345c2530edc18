#!/bin/bash
# The C sources follow the project's .clang-format.
. "$(dirname "$0")/lib.sh"
src=${IRON_SOURCE_DIR:?}
command -v clang-format >/dev/null || { fail "clang-format is not installed (Debian package clang-format)"; finish; }
cd "$src" || exit 1
for f in src/*.c src/*.h include/iron/*.h tests/unit/*.c tests/fuzz/*.c tests/tools/*.c bench/*.c tests/check.h; do
	[ -e "$f" ] || continue
	out=$(clang-format --dry-run --Werror "$f" 2>&1)
	[ -z "$out" ] && ok || fail "$f is not clang-formatted (run clang-format -i $f)"
done
finish
