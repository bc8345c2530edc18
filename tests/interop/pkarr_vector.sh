#!/bin/bash
# Issue 13, formats: iron's pkarr signed packets against an independent
# implementation, npm pkarr (bencode + dns-packet + libsodium): the fixed
# test vector (seed 01x32, timestamp 1700000000000000, relay
# http://127.0.0.1:3340/) is byte for byte what npm pkarr builds and what
# test_pkarr.c holds; iron's packets with addresses (compressed names, as
# iroh writes them) verify and decode there to iroh's records; npm pkarr's
# packets (uncompressed names, unknown keys) verify and parse in iron; a
# changed byte is refused by both. No network, no root.
. "$(dirname "$0")/lib.sh"
need_iroh

TOOL=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/pkarrtool
[ -x "$TOOL" ] || skip "needs $TOOL (build the tools)"
js() {
	node --no-deprecation "$INTEROP_DIR/pkarr_vector.mjs" "$@"
}

SEED=0101010101010101010101010101010101010101010101010101010101010101
TS=1700000000000000
# signature (64), timestamp (8), DNS header (ID 0, QR, 1 answer), then
# _iroh.<z32> TXT IN 30 "relay=http://127.0.0.1:3340/".
VECTOR="244e080779a25c0ed4d0994a6fb5d885fd2aa274479fbff053e8b23f7979df02
	258203e9682a58e53cea791da72d962d569a35e7a914249594c7f9501f6ea704
	00060a24181e4000
	0000 8000 0000 0001 0000 0000
	05 5f69726f68
	34 746b7271387a6d77623861336d396b313563737533713137716d
	   6667716e703964736b627267397571317279647079787037717900
	0010 0001 0000001e 001d
	1c 72656c61793d687474703a2f2f3132372e302e302e313a333334302f"
VECTOR=$(tr -d ' \t\n' <<<"$VECTOR")

# refused COMMAND...: the command fails.
refused() {
	! "$@"
}

{ read -r Z32; read -r HEX; } < <("$TOOL" id "$SEED")
check "seed 01x32 is the well-known Ed25519 key 8a88e3dd...6f5c" \
	test "$HEX" = 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
check "its z-base-32 form" test "$Z32" = tkrq8zmwb8a3m9k15csu3q17qmfgqnp9dskbrg9uq1rydpyxp7qy

# 1. The vector.
P=$("$TOOL" sign "$SEED" "$TS" --relay http://127.0.0.1:3340/)
check "iron's vector is the bytes in test_pkarr.c" test "$P" = "$VECTOR"
js verify "$HEX" "$P" >"$WORK/vector.json" 2>>"$WORK/check.log"
check "npm pkarr verifies iron's vector" test -s "$WORK/vector.json"
check "npm pkarr reads: timestamp, ID 0, a response, no question, one record" \
	jq -e ".ts == $TS and .id == 0 and .type == \"response\" and .questions == 0 and
		(.answers | length) == 1" "$WORK/vector.json"
check "npm pkarr reads: _iroh.<z32> TXT IN 30 \"relay=http://127.0.0.1:3340/\"" \
	jq -e ".answers[0] == {name: \"_iroh.$Z32\", type: \"TXT\", class: \"IN\", ttl: 30,
		data: [\"relay=http://127.0.0.1:3340/\"]}" "$WORK/vector.json"
B=$(js build "$SEED" "$TS" 30 relay=http://127.0.0.1:3340/ 2>>"$WORK/check.log")
check "npm pkarr builds the same vector byte for byte" test "$B" = "$VECTOR"
check "a relay URL without its root path is published with it, as iroh does" \
	test "$("$TOOL" sign "$SEED" "$TS" --relay http://127.0.0.1:3340)" = "$VECTOR"

# 2. iron's record with addresses: one TXT per address, names compressed.
P=$("$TOOL" sign "$SEED" 1700000000000001 --relay https://relay.example.org/ \
	--addr 192.0.2.7:4433 --addr '[2001:db8::1]:4433' --addr 10.1.2.3:1)
js verify "$Z32" "$P" >"$WORK/addrs.json" 2>>"$WORK/check.log"
check "npm pkarr verifies iron's record with three addresses" test -s "$WORK/addrs.json"
check "every record is _iroh.<z32> TXT IN 30 (compression pointers decoded)" \
	jq -e "[.answers[] | select(.name == \"_iroh.$Z32\" and .type == \"TXT\" and
		.class == \"IN\" and .ttl == 30)] | length == 4" "$WORK/addrs.json"
check "relay first, then one addr= per address, in order" \
	jq -e '[.answers[].data] == [["relay=https://relay.example.org/"], ["addr=192.0.2.7:4433"],
		["addr=[2001:db8::1]:4433"], ["addr=10.1.2.3:1"]]' "$WORK/addrs.json"
dns=${P:144}
check "names after the first are pointers to offset 12 (c00c), as simple-dns writes" \
	test "$(grep -o c00c00100001 <<<"$dns" | wc -l)" -eq 3

# 3. npm pkarr's packets (no compression, keys iroh knows and one it
# does not) in iron.
B=$(js build "$SEED" 1700000000000002 60 relay=http://r.example/ 'addr=[2001:db8::2]:7' \
	addr=198.51.100.1:9 user-data=hello foo=bar 'addr=1.2.3.4:5 6.7.8.9:10' 2>>"$WORK/check.log")
"$TOOL" parse "$Z32" "$B" >"$WORK/parsed.txt" 2>>"$WORK/check.log"
check "iron verifies and parses npm pkarr's packet" \
	diff -u - "$WORK/parsed.txt" <<EOF
ts 1700000000000002
ttl 60
relay http://r.example/
addr [2001:db8::2]:7
addr 198.51.100.1:9
EOF

# 4. A changed byte is refused by both.
bad=${VECTOR:0:200}$(printf '%02x' $((0x${VECTOR:200:2} ^ 1)))${VECTOR:202}
check "npm pkarr refuses the vector with one byte changed" refused js verify "$HEX" "$bad"
check "iron refuses it too" refused "$TOOL" parse "$HEX" "$bad"
check "iron refuses the vector under another key" \
	refused "$TOOL" parse 0202020202020202020202020202020202020202020202020202020202020202 "$VECTOR"
finish
