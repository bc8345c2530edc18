#!/bin/bash
# iron's BLAKE3 (through tests/tools/blake3sum) against Debian's b3sum, live:
# every chunk and tree boundary up to 17 chunks and some large inputs, in
# all three modes, with default and long outputs. Skipped without b3sum.
set -u
command -v b3sum >/dev/null || { echo "SKIP: b3sum not installed (apt-get install b3sum)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to make inputs"; exit 77; }
TOOL=${IRON_BUILD_DIR:?}/tests/tools/blake3sum
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iron-b3.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
KEY_HEX=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
printf "$(echo $KEY_HEX | sed 's/../\\x&/g')" >"$TMP/key"
CONTEXT="iron 2024 blake3_b3sum.sh test context"

lengths="0 1 63 64 65 127 128 129 1023 1024 1025 2047 2048 2049 3071 3072 3073"
for c in 4 5 6 7 8 9 15 16 17 31 32 33; do
	lengths="$lengths $((c * 1024 - 1)) $((c * 1024)) $((c * 1024 + 1))"
done
lengths="$lengths 102400 1048576 1048577"
python3 -c "import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range(1048577)))" >"$TMP/all"
for len in $lengths; do
	head -c "$len" "$TMP/all" >"$TMP/in"
	for out_len in 32 131; do
		want=$(b3sum --no-names -l $out_len "$TMP/in")
		got=$("$TOOL" -l $out_len <"$TMP/in")
		want_k=$(b3sum --no-names -l $out_len --keyed "$TMP/in" <"$TMP/key")
		got_k=$("$TOOL" -l $out_len --keyed $KEY_HEX <"$TMP/in")
		want_d=$(b3sum --no-names -l $out_len --derive-key "$CONTEXT" "$TMP/in")
		got_d=$("$TOOL" -l $out_len --derive-key "$CONTEXT" <"$TMP/in")
		for pair in "hash:$want:$got" "keyed:$want_k:$got_k" "derive:$want_d:$got_d"; do
			IFS=: read -r mode w g <<<"$pair"
			if [ -n "$w" ] && [ "$w" = "$g" ]; then
				passed=$((passed + 1))
			else
				failed=$((failed + 1))
				echo "FAIL: $mode of $len bytes, $out_len out: b3sum $w, iron $g" >&2
			fi
		done
	done
done
# A long XOF output.
want=$(printf abc | b3sum --no-names -l 10000)
got=$(printf abc | "$TOOL" -l 10000)
if [ "$want" = "$got" ]; then passed=$((passed + 1)); else
	failed=$((failed + 1))
	echo "FAIL: 10000 bytes of output differ" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
