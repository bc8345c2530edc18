#!/bin/bash
# iron dns-server under abuse, on loopback: broken HTTP and DNS, bodies
# that are no signed packets (dns_server_abuse.py), slow clients, a full
# server, floods of PUTs and of queries (refused or rate-limited, memory
# bounded), and `kill -9` during a PUT flood: after a restart every PUT
# that got its 204 is there. Also measures PUTs/s and TXT queries/s.
. "$(dirname "$0")/lib.sh"

need_cmd curl python3 dig
PUT=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/pkarrput
[ -x "$PUT" ] || skip "needs $PUT (built with the tests)"
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 4096 ] || skip "needs 4096 file descriptors"
ulimit -n 4096

# start NAME ARGS...: a dns-server on loopback ports the kernel picks, its
# database $WORK/NAME.db; sets HTTP_<NAME>, DNS_<NAME> and PID_<NAME>.
start() {
	local name=$1 line="" before
	shift
	before=$(grep -c '^iron dns-server ready' "$WORK/$name.log" 2>/dev/null)
	"$IRON" dns-server --listen 127.0.0.1:0 --dns-listen 127.0.0.1:0 \
		--socket "$WORK/$name.sock" --db "$WORK/$name.db" "$@" 2>>"$WORK/$name.log" &
	eval "PID_$name=$!"
	PIDS="$PIDS $!"
	for _ in $(seq 100); do
		if [ "$(grep -c '^iron dns-server ready' "$WORK/$name.log")" -gt "${before:-0}" ]; then
			line=$(grep '^iron dns-server ready' "$WORK/$name.log" | tail -n 1)
			break
		fi
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$line" ] || { cat "$WORK/$name.log"; not_ok "dns-server $name starts"; finish; }
	eval "HTTP_$name=$(echo "$line" | sed -n 's/.* http \([^ ]*\) .*/\1/p')"
	eval "DNS_$name=$(echo "$line" | sed -n 's/.* dns \([^ ]*\) .*/\1/p')"
}
# sj EXPR [NAME]: the status of server NAME (default main) makes the
# Python expression EXPR true, with the status as d.
sj() {
	"$IRON" dns-server status -f json --socket "$WORK/${2:-main}.sock" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
alive() { # LABEL [NAME]
	local n=${2:-main} h d
	eval "h=\$HTTP_$n d=\$DNS_$n"
	check "$1: /healthz answers" curl -sf --max-time 5 "http://$h/healthz"
	check "$1: SOA answers" test -n "$(dig +short +tries=1 +time=2 @127.0.0.1 -p "${d##*:}" SOA dns.iroh.link)"
	check "$1: status answers" sj 'd["ok"]' "$n"
}

TS=1700000000000000
# No rate limits here: the floods measure the server, not the limiter.
start main --put-rate 0 --query-rate 0 --timeout 2 --max-connections 300
PID=$PID_main
RSS0=$(rss_kb "$PID")
echo "RSS at start: $RSS0 kB"
Z1=$("$PUT" packet 1 $TS "$WORK/p1")
check "a packet is stored" test "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$WORK/p1" "http://$HTTP_main/pkarr/$Z1")" = 204

# --- broken input, case by case -----------------------------------------------
python3 "$(dirname "$0")/dns_server_abuse.py" "$HTTP_main" "$DNS_main" "$Z1" >"$WORK/cases.out" 2>&1
while read -r verdict name rest; do
	if [ "$verdict" = ok ]; then ok "$name"; else not_ok "$name: $rest"; fi
done <"$WORK/cases.out"
[ "$(grep -c '^ok ' "$WORK/cases.out")" -ge 16 ] && ok "every case ran" || not_ok "every case ran: $(cat "$WORK/cases.out")"
alive "after the broken input"
check "the bad bodies were counted" sj 'd["puts"]["bad_signature"] + d["puts"]["bad_size"] + d["puts"]["bad_packet"] >= 8'
check "nothing but the good packet was stored" sj 'd["records"] == 1 and d["puts"]["stored"] == 1'

# An old timestamp: 204, not stored.
"$PUT" packet 1 $((TS - 1000000)) "$WORK/old" --txt relay=http://old/ >/dev/null
check "an older packet gets 204" test "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$WORK/old" "http://$HTTP_main/pkarr/$Z1")" = 204
curl -s -o "$WORK/got" "http://$HTTP_main/pkarr/$Z1"
check "an older packet is not stored" cmp -s "$WORK/got" "$WORK/p1"

# --- slow clients and a full server --------------------------------------------
python3 "$(dirname "$0")/dns_server_abuse.py" "$HTTP_main" "$DNS_main" "$Z1" slowloris 200 10 >"$WORK/slow.out" 2>&1
grep -q '^ok slowloris' "$WORK/slow.out" && ok "200 slow clients are closed" || not_ok "200 slow clients: $(cat "$WORK/slow.out")"
check "timeouts counted" sj 'd["http"]["closed_timeout"] >= 200'
python3 - "$HTTP_main" >"$WORK/full.out" 2>&1 <<'EOF'
import socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
socks = [socket.create_connection((h, int(p))) for _ in range(400)]
time.sleep(0.5)
print("held", len(socks))
for s in socks: s.close()
EOF
check "connections past --max-connections are refused" sj 'd["http"]["refused_full"] >= 100'
check "the server serves again once they leave" wait_for 10 sj 'd["connections"] == 0'
alive "after the full server"

# --- a PUT flood: throughput, memory ------------------------------------------------
"$PUT" flood "$HTTP_main" 5000 -w 64 --from 1000 >"$WORK/flood.out" 2>"$WORK/flood.err"
check "5000 PUTs acknowledged" test "$(grep -c '^ok ' "$WORK/flood.out")" = 5000
echo "PUT flood: $(cat "$WORK/flood.err")"
check "5000 more records" sj 'd["records"] == 5001'
check "the flood shared transactions" sj 'd["store"]["commits"] < 5000'
RSS1=$(rss_kb "$PID")
echo "RSS after 5000 PUTs: $RSS1 kB"

# --- a query flood ------------------------------------------------------------------------
"$PUT" query "$DNS_main" "_iroh.$Z1.dns.iroh.link" 200000 -w 256 >"$WORK/query.out" 2>&1
check "200000 TXT queries answered" grep -q ' 200000 answered, 0 other, 0 lost' "$WORK/query.out"
echo "query flood: $(cat "$WORK/query.out")"
RSS2=$(rss_kb "$PID")
echo "RSS after the query flood: $RSS2 kB"
[ $((RSS2 - RSS0)) -le 65536 ] && ok "memory bounded after the floods ($((RSS2 - RSS0)) kB over the start)" ||
	not_ok "memory bounded after the floods ($((RSS2 - RSS0)) kB over the start)"
alive "after the floods"

# --- rate limits ------------------------------------------------------------------------------
start rl --put-rate 60 --put-burst 10 --query-rate 100 --query-burst 100
"$PUT" flood "$HTTP_rl" 50 -w 1 --from 20000 >"$WORK/rl.out" 2>"$WORK/rl.err"
acked=$(grep -c '^ok ' "$WORK/rl.out")
[ "$acked" -ge 10 ] && [ "$acked" -le 12 ] && ok "a PUT flood from one address gets its burst ($acked of 50)" ||
	not_ok "a PUT flood from one address gets its burst ($acked of 50)"
check "the rest got 429" sj 'd["puts"]["rate_limited"] >= 38' rl
# All 3000 at once: about the burst is answered, the rest dropped.
"$PUT" query "$DNS_rl" "dns.iroh.link" 3000 -w 3000 >"$WORK/rlq.out" 2>&1
echo "query flood over the limit: $(cat "$WORK/rlq.out")"
check "a query flood from one address is cut to its rate" sj 'd["dns"]["rate_limited"] >= 2500 and d["dns"]["udp"] == 3000' rl
soa_rl() { [ -n "$(dig +short +tries=1 +time=1 @127.0.0.1 -p "${DNS_rl##*:}" SOA dns.iroh.link)" ]; }
check "the limited address is served again later" wait_for 5 soa_rl

# --- kill -9 during a PUT flood loses no acknowledged record ---------------------------
start crash --put-rate 0 --query-rate 0
"$PUT" flood "$HTTP_crash" 100000 -w 64 --from 100000 >"$WORK/acked.out" 2>"$WORK/crash-flood.err" &
FLOOD=$!
acked_at_least() { [ "$(grep -c '^ok ' "$WORK/acked.out")" -ge "$1" ]; }
wait_for 60 acked_at_least 3000
kill -KILL "$PID_crash"
wait "$FLOOD" 2>/dev/null
acked=$(grep -c '^ok ' "$WORK/acked.out")
echo "acknowledged before kill -9: $acked ($(cat "$WORK/crash-flood.err"))"
[ "$acked" -ge 3000 ] && [ "$acked" -lt 100000 ] && ok "the flood was cut short by kill -9 after $acked PUTs" ||
	not_ok "the flood was cut short by kill -9 ($acked)"
start crash --put-rate 0 --query-rate 0
"$PUT" check "$HTTP_crash" "$WORK/acked.out" >"$WORK/check.out" 2>&1
check "every acknowledged record survived kill -9 ($(head -n 1 "$WORK/check.out"))" grep -qx "$acked found, 0 missing" "$WORK/check.out"
check "the database holds at least them" sj "d['records'] >= $acked" crash

check "the main server is still running" kill -0 "$PID"
echo "RSS at the end: $(rss_kb "$PID") kB"
finish
