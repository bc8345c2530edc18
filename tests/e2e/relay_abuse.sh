#!/bin/bash
# iron relay under abuse: broken HTTP, WebSocket and relay frames
# (relay_abuse.py), slow clients, 1000 clients at once, clients that stop
# answering pings, a client that never reads, a full server. After each the
# relay still answers /ping and status, and its memory stays bounded.
. "$(dirname "$0")/lib.sh"

need_cmd curl python3
RELAYC=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/relayc
[ -x "$RELAYC" ] || skip "needs $RELAYC (built with the tests)"
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 4096 ] || skip "needs 4096 file descriptors"
ulimit -n 4096

# start_relay NAME ARGS...: a relay on a loopback port the kernel picks;
# sets ADDR_<NAME> and PID_<NAME>. Short keep-alive and write patience so
# that the drops below happen within seconds.
start_relay() {
	local name=$1 line=""
	shift
	IRON_RELAY_PING_MS=1000 IRON_RELAY_PONG_MS=1000 IRON_RELAY_STALL_MS=2000 \
		"$IRON" relay --listen 127.0.0.1:0 --stun-listen none --socket "$WORK/$name.sock" \
		"$@" 2>"$WORK/$name.log" &
	eval "PID_$name=$!"
	PIDS="$PIDS $!"
	for _ in $(seq 100); do
		line=$(grep -m1 '^iron relay ready' "$WORK/$name.log") && break
		sleep 0.1
	done
	[ -n "$line" ] || { cat "$WORK/$name.log"; not_ok "relay $name starts"; finish; }
	eval "ADDR_$name=$(echo "$line" | sed -n 's/.* http \([^ ]*\) .*/\1/p')"
}

start_relay main --handshake-timeout 2 --max-clients 3000
A=$ADDR_main
PID=$PID_main
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status"; }
# relay_json EXPR [NAME]: iron relay status -f json of relay NAME (default
# main) makes the Python expression EXPR true, with the status as d.
relay_json() {
	"$IRON" relay status -f json --socket "$WORK/${2:-main}.sock" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}
alive() {
	check "$1: /ping still answers" curl -sf --max-time 5 "http://$A/ping"
	check "$1: status still answers" relay_json 'd["ok"]'
}
RSS0=$(rss_kb)
echo "RSS at start: $RSS0 kB"

# --- broken protocol, case by case ------------------------------------------
python3 "$(dirname "$0")/relay_abuse.py" "$A" >"$WORK/cases.out" 2>&1
while read -r verdict name rest; do
	if [ "$verdict" = ok ]; then ok "$name"; else not_ok "$name: $rest"; fi
done <"$WORK/cases.out"
[ "$(grep -c '^ok ' "$WORK/cases.out")" -ge 15 ] && ok "every case ran" ||
	not_ok "every case ran: $(cat "$WORK/cases.out")"
alive "after the broken frames"
check "nothing was relayed for an unauthenticated client" \
	relay_json 'd["datagrams"]["received"] == 0 and d["auth"]["ok"] == 0'
check "the broken frames were counted" \
	relay_json 'd["closed"]["protocol_error"] >= 8 and d["http"]["bad_requests"] >= 4'
check "wrong signatures were refused" relay_json 'd["auth"]["bad_signature"] >= 2'
"$RELAYC" "$A" badsig 5 >>"$WORK/check.log" 2>&1
check "relayc's wrong signature was refused" relay_json 'd["auth"]["bad_signature"] >= 3'

# --- slow clients: 300 heads trickling in are closed by the handshake timeout --
python3 "$(dirname "$0")/relay_abuse.py" "$A" slowloris 300 8 >"$WORK/slow.out" 2>&1
grep -q '^ok slowloris' "$WORK/slow.out" && ok "300 slow clients are closed" ||
	not_ok "300 slow clients are closed: $(cat "$WORK/slow.out")"
check "handshake timeouts counted" relay_json 'd["closed"]["handshake_timeout"] >= 300'
alive "after the slow clients"

# --- 1000 clients at once -----------------------------------------------------------
mkfifo "$WORK/hold.in"
"$RELAYC" "$A" --timeout 30 hold 1000 <"$WORK/hold.in" >"$WORK/hold.out" 2>&1 &
HOLD=$!
exec 7>"$WORK/hold.in" # keeps relayc holding until closed
if wait_for 60 grep -q '^ready' "$WORK/hold.out"; then
	check "1000 clients authenticated" grep -qx 'ready 1000' "$WORK/hold.out"
else
	not_ok "1000 clients authenticated: $(cat "$WORK/hold.out")"
fi
check "the relay counts 1000 clients" relay_json 'd["clients"] == 1000'
# Held past a few keep-alive rounds: every ping answered, nobody dropped.
check "1000 clients answer pings" wait_for 20 relay_json 'd["pongs_received"] >= 2000'
check "no client dropped for a missing pong" relay_json 'd["closed"]["pong_timeout"] == 0 and d["clients"] == 1000'
RSS1=$(rss_kb)
PER=$(((RSS1 - RSS0) / 1000))
echo "RSS with 1000 clients: $RSS1 kB ($PER kB per client); the relay's estimate: $("$IRON" relay status -f json --socket "$WORK/main.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memory_bytes"])') bytes"
[ "$PER" -le 64 ] && ok "at most 64 kB per idle client ($PER kB)" || not_ok "at most 64 kB per idle client ($PER kB)"
alive "with 1000 clients"
exec 7>&-
wait "$HOLD"
check "the clients' departure is seen" wait_for 20 relay_json 'd["clients"] == 0 and d["connections"] == 0'

# --- clients that stop answering pings ----------------------------------------------------
mkfifo "$WORK/mute.in"
"$RELAYC" "$A" --no-pong hold 200 <"$WORK/mute.in" >"$WORK/mute.out" 2>&1 &
MUTE=$!
exec 8>"$WORK/mute.in"
check "200 clients that never answer pings are dropped" \
	wait_for 30 relay_json 'd["closed"]["pong_timeout"] >= 200 and d["clients"] == 0'
exec 8>&-
wait "$MUTE"
alive "after the mute clients"

# --- a client that never reads --------------------------------------------------------
"$RELAYC" "$A" flood 1200 3 >"$WORK/flood.out" 2>&1
check "the sender stays connected while its peer does not read" grep -qx 'b up' "$WORK/flood.out"
check "datagrams for the full queue were dropped and counted" \
	relay_json 'd["datagrams"]["dropped"]["queue_full"] > 0'
RSS2=$(rss_kb)
echo "RSS after the flood: $RSS2 kB; $(cat "$WORK/flood.out" | tr '\n' ' ')"
[ $((RSS2 - RSS0)) -le 81920 ] && ok "memory bounded after the flood ($((RSS2 - RSS0)) kB over the start)" ||
	not_ok "memory bounded after the flood ($((RSS2 - RSS0)) kB over the start)"
# A reader that stays away for long is dropped (IRON_RELAY_STALL_MS=2000).
"$RELAYC" "$A" flood 1200 5 >"$WORK/flood2.out" 2>&1
check "a client whose queue stays full is dropped" \
	relay_json 'd["closed"]["write_stall"] + d["closed"]["pong_timeout"] >= 201'
alive "after the flood"

# --- a full server refuses more, and recovers ------------------------------------------------
start_relay small --max-clients 10
"$RELAYC" "$ADDR_small" --timeout 5 hold 20 </dev/null >"$WORK/full.out" 2>&1
check "a full relay serves only --max-clients" grep -qx 'ready 10' "$WORK/full.out"
check "refusals counted" relay_json 'd["closed"]["max_clients"] >= 10' small
check "the full relay serves again once clients leave" wait_for 10 "$RELAYC" "$ADDR_small" auth 3

check "the relay is still running" kill -0 "$PID"
RSS3=$(rss_kb)
echo "RSS at the end: $RSS3 kB"
finish
