#!/bin/bash
# iron dns-server without root on loopback: a packet PUT to the pkarr relay
# (tests/tools/pkarrput) and read back by GET, byte for byte; dig finds its
# records as TXT _iroh.<z32>.dns.iroh.link over UDP and TCP; NXDOMAIN,
# NODATA, REFUSED, SOA and NS; truncation; refused PUTs (bad signature,
# wrong key, oversized, older); the rate limit; restart with the same
# database; TLS and its reload; status (text and JSON); usage errors.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "SKIP: curl is needed"; exit 77; }
command -v dig >/dev/null || { echo "SKIP: dig (dnsutils) is needed"; exit 77; }
PUT=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/pkarrput
[ -x "$PUT" ] || { echo "SKIP: $PUT is not built"; exit 77; }

PIDS=""
stop_all() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=""
}
trap 'stop_all; rm -rf "$TMP" "$SCRATCH"' EXIT

# start NAME ARGS...: iron dns-server on loopback ports the kernel picks,
# database $TMP/NAME.db, control socket $TMP/NAME.sock; sets HTTP_<NAME>,
# HTTPS_<NAME>, DNS_<NAME> (ADDR:PORT), DPORT_<NAME> and PID_<NAME>.
start() {
	local name=$1 line=""
	shift
	"$IRON" dns-server --socket "$TMP/$name.sock" --db "$TMP/$name.db" "$@" \
		2>"$SCRATCH/$name.log" &
	eval "PID_$name=$!"
	PIDS="$PIDS $!"
	for _ in $(seq 100); do
		line=$(grep -m1 '^iron dns-server ready: ' "$SCRATCH/$name.log") && break
		kill -0 "$!" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$line" ]; then
		echo "dns-server $name did not come up: $(cat "$SCRATCH/$name.log")" >&2
		exit 1
	fi
	eval "HTTP_$name=$(echo "$line" | sed -n 's/.* http \([^ ,]*\).*/\1/p')"
	eval "HTTPS_$name=$(echo "$line" | sed -n 's/.* https \([^ ,]*\).*/\1/p')"
	eval "DNS_$name=$(echo "$line" | sed -n 's/.* dns \([^ ,]*\).*/\1/p')"
	eval "DPORT_$name=\${DNS_$name##*:}"
}
status() { run dns-server status -f json --socket "$TMP/$1.sock"; }
code() { curl -s -o "$SCRATCH/body" -D "$SCRATCH/head" -w '%{http_code}' --max-time 5 "$@"; }
header() { tr -d '\r' <"$SCRATCH/head" | sed -n "s/^$1: //Ip"; }
put() { code -X PUT --data-binary "@$2" "http://$1"; } # URL_WITHOUT_SCHEME FILE
detail() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["detail"])' "$SCRATCH/body"; }
q() { dig +tries=1 +time=3 @127.0.0.1 -p "$DPORT_main" "$@"; }
flags() { q "$@" | sed -n 's/.*flags: \([a-z ]*\);.*/\1/p'; }
rcode() { q "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1; }

TS=1700000000000000
start main --listen 127.0.0.1:0 --dns-listen 127.0.0.1:0
H=$HTTP_main
case $DNS_main in 127.0.0.1:[0-9]*) ok ;; *) fail "readiness line has no DNS address: $DNS_main" ;; esac

# --- PUT, GET, dig -----------------------------------------------------------------
Z1=$("$PUT" packet 1 $TS "$TMP/p1" --txt relay=http://127.0.0.1:3340/ --txt addr=192.0.2.1:4433 --txt "addr=[2001:db8::1]:4433")
[ "$(put "$H/pkarr/$Z1" "$TMP/p1")" = 204 ] && ok || fail "PUT of a good packet is not 204: $(cat "$SCRATCH/body")"
[ "$(code "http://$H/pkarr/$Z1")" = 200 ] && ok || fail "GET of a stored key is not 200"
cmp -s "$SCRATCH/body" "$TMP/p1" && ok || fail "GET does not return the relay payload as PUT"
[ "$(header Content-Type)" = application/x-pkarr-signed-packet ] && ok ||
	fail "GET content type is [$(header Content-Type)]"
[ "$(code -I "http://$H/pkarr/$Z1")" = 200 ] && ok || fail "HEAD of a stored key is not 200"
[ "$(header Content-Length)" = "$(stat -c %s "$TMP/p1")" ] && ok || fail "HEAD Content-Length"

want=$(printf '%s\n' '"relay=http://127.0.0.1:3340/"' '"addr=192.0.2.1:4433"' '"addr=[2001:db8::1]:4433"')
[ "$(q +short TXT "_iroh.$Z1.dns.iroh.link")" = "$want" ] && ok ||
	fail "dig TXT: [$(q +short TXT "_iroh.$Z1.dns.iroh.link")]"
[ "$(q +short +tcp TXT "_iroh.$Z1.dns.iroh.link")" = "$want" ] && ok || fail "dig +tcp TXT"
ans=$(q +noall +answer TXT "_iroh.$Z1.DNS.IROH.LINK" | awk '{print $1, $2, $3, $4}' | sort -u)
[ "$ans" = "_iroh.$Z1.DNS.IROH.LINK. 30 IN TXT" ] && ok || fail "owner, TTL, class: [$ans]"
case " $(flags TXT "_iroh.$Z1.dns.iroh.link") " in *" aa "*) ok ;; *) fail "no AA flag" ;; esac

# A record as iron's publisher encodes it (pkarr_encode_dns: compressed
# names, one TXT per address), made by tests/tools/pkarrtool.
TOOL=${IRON_BUILD_DIR:-$(dirname "$IRON")}/tests/tools/pkarrtool
if [ -x "$TOOL" ]; then
	SEED=0101010101010101010101010101010101010101010101010101010101010101
	ZT=$("$TOOL" id $SEED | head -n 1)
	"$TOOL" sign $SEED $TS --relay http://127.0.0.1:3340/ --addr 192.0.2.7:1234 \
		--addr "[2001:db8::7]:1234" | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' >"$TMP/pt"
	[ "$(put "$H/pkarr/$ZT" "$TMP/pt")" = 204 ] && ok || fail "PUT of pkarrtool's packet: $(cat "$SCRATCH/body")"
	got=$(q +short TXT "_iroh.$ZT.dns.iroh.link" | sort)
	want=$(printf '%s\n' '"addr=192.0.2.7:1234"' '"addr=[2001:db8::7]:1234"' '"relay=http://127.0.0.1:3340/"')
	[ "$got" = "$want" ] && ok || fail "pkarrtool's records by DNS: [$got]"
	# What GET returns is what pkarrtool (iron's parser) accepts.
	code "http://$H/pkarr/$ZT" >/dev/null
	"$TOOL" parse "$ZT" "$(od -An -v -tx1 "$SCRATCH/body" | tr -d ' \n')" | grep -qx 'addr 192.0.2.7:1234' &&
		ok || fail "pkarrtool does not parse what GET returns"
else
	fail "$TOOL is not built"
fi

# --- the other answers ---------------------------------------------------------------------
Z9=$("$PUT" id 9)
[ "$(rcode TXT "_iroh.$Z9.dns.iroh.link")" = NXDOMAIN ] && ok || fail "unknown key is not NXDOMAIN"
q TXT "_iroh.$Z9.dns.iroh.link" | grep -q 'IN[[:space:]]*SOA' && ok || fail "NXDOMAIN without SOA"
[ "$(rcode TXT "_other.$Z1.dns.iroh.link")" = NXDOMAIN ] && ok || fail "unknown name is not NXDOMAIN"
[ "$(rcode TXT "_iroh.nokey.dns.iroh.link")" = NXDOMAIN ] && ok || fail "a bad key label is not NXDOMAIN"
[ "$(rcode AAAA "_iroh.$Z1.dns.iroh.link")" = NOERROR ] && ok || fail "another type is not NOERROR"
[ -z "$(q +short AAAA "_iroh.$Z1.dns.iroh.link")" ] && ok || fail "another type has answers"
[ "$(rcode TXT "$Z1.dns.iroh.link")" = NOERROR ] && ok || fail "<z32>.<origin> is not NOERROR"
[ "$(rcode A example.com)" = REFUSED ] && ok || fail "a name outside the zone is not REFUSED"
[ "$(rcode A iroh.link)" = REFUSED ] && ok || fail "the parent zone is not REFUSED"
case " $(flags A example.com) " in *" aa "*) fail "REFUSED with AA" ;; *) ok ;; esac
soa=$(q +short SOA dns.iroh.link)
case $soa in "ns1.dns.iroh.link. hostmaster.dns.iroh.link. "*" 10800 3600 604800 30") ok ;; *) fail "SOA: [$soa]" ;; esac
[ "$(q +short NS dns.iroh.link)" = ns1.dns.iroh.link. ] && ok || fail "NS: [$(q +short NS dns.iroh.link)]"
[ "$(rcode AXFR dns.iroh.link)" = REFUSED ] || [ "$(q +tcp AXFR dns.iroh.link | grep -c 'Transfer failed')" -ge 1 ] && ok ||
	fail "AXFR is not refused"
[ "$(rcode -c CH TXT version.bind)" = REFUSED ] && ok || fail "CHAOS is not REFUSED"
[ "$(rcode +edns=1 +noednsneg SOA dns.iroh.link)" = BADVERS ] && ok || fail "EDNS version 1 is not BADVERS"

# Truncation: 8 long records do not fit 512 bytes.
args=()
for i in $(seq 8); do args+=(--txt "addr=[2001:db8::$i]:$((4000 + i))$(printf 'x%.0s' $(seq 56))"); done
Z2=$("$PUT" packet 2 $TS "$TMP/p2" "${args[@]}")
[ "$(put "$H/pkarr/$Z2" "$TMP/p2")" = 204 ] && ok || fail "PUT of a large packet: $(cat "$SCRATCH/body")"
case " $(flags +noedns +ignore TXT "_iroh.$Z2.dns.iroh.link") " in *" tc "*) ok ;; *) fail "no TC over UDP without EDNS" ;; esac
[ "$(q +short +noedns TXT "_iroh.$Z2.dns.iroh.link" | wc -l)" = 8 ] && ok || fail "dig retried over TCP and got 8"
[ "$(q +short +tcp TXT "_iroh.$Z2.dns.iroh.link" | wc -l)" = 8 ] && ok || fail "8 records over TCP"

# --- PUTs that are refused or not newer -----------------------------------------
"$PUT" packet 1 $((TS - 1)) "$TMP/old" --txt relay=http://old/ >/dev/null
[ "$(put "$H/pkarr/$Z1" "$TMP/old")" = 204 ] && ok || fail "an older packet is not 204 (iroh's answer)"
code "http://$H/pkarr/$Z1" >/dev/null
cmp -s "$SCRATCH/body" "$TMP/p1" && ok || fail "an older packet replaced the newer one"
"$PUT" packet 1 $((TS + 1)) "$TMP/new" --txt relay=http://new/ >/dev/null
[ "$(put "$H/pkarr/$Z1" "$TMP/new")" = 204 ] && ok || fail "a newer packet is not 204"
[ "$(q +short TXT "_iroh.$Z1.dns.iroh.link")" = '"relay=http://new/"' ] && ok || fail "DNS does not serve the newer packet"

cp "$TMP/new" "$TMP/bad"
printf '\x55' | dd of="$TMP/bad" bs=1 seek=3 conv=notrunc 2>/dev/null
[ "$(put "$H/pkarr/$Z1" "$TMP/bad")" = 400 ] && ok || fail "a bad signature is not 400"
[ "$(detail)" = "invalid body payload: invalid signature" ] && ok || fail "bad signature detail: $(cat "$SCRATCH/body")"
[ "$(put "$H/pkarr/$Z9" "$TMP/new")" = 400 ] && ok || fail "a packet PUT under another key is not 400"
big=()
for i in $(seq 20); do big+=(--txt "addr=$(printf 'y%.0s' $(seq 60))"); done
"$PUT" packet 3 $TS "$TMP/big" "${big[@]}" >/dev/null
Z3=$("$PUT" id 3)
[ "$(put "$H/pkarr/$Z3" "$TMP/big")" = 400 ] && ok || fail "a DNS packet over 1000 bytes is not 400"
[ "$(detail)" = "invalid body payload: too large" ] && ok || fail "oversized detail: $(cat "$SCRATCH/body")"
head -c 50 "$TMP/new" >"$TMP/short"
[ "$(put "$H/pkarr/$Z1" "$TMP/short")" = 400 ] && ok || fail "a short body is not 400"
[ "$(put "$H/pkarr/notakey" "$TMP/new")" = 400 ] && ok || fail "a bad key is not 400"
[ "$(detail)" = "invalid key" ] && ok || fail "bad key detail: $(cat "$SCRATCH/body")"
[ "$(code "http://$H/pkarr/$Z9")" = 404 ] && ok || fail "GET of an unknown key is not 404"
[ "$(code "http://$H/pkarr/abc")" = 400 ] && ok || fail "GET of a bad key is not 400"
[ "$(code -X POST "http://$H/pkarr/$Z1")" = 405 ] && ok || fail "POST is not 405"
[ "$(code -X OPTIONS "http://$H/pkarr/$Z1")" = 204 ] && ok || fail "OPTIONS is not 204"
[ "$(header Access-Control-Allow-Origin)" = "*" ] && ok || fail "no CORS header"
[ "$(code "http://$H/healthz")" = 200 ] && ok || fail "/healthz is not 200"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["status"] != "ok")' "$SCRATCH/body" &&
	ok || fail "/healthz body: $(cat "$SCRATCH/body")"
[ "$(code "http://$H/healthcheck")" = 200 ] && [ "$(cat "$SCRATCH/body")" = OK ] && ok || fail "/healthcheck"
[ "$(code "http://$H/nothing")" = 404 ] && ok || fail "an unknown path is not 404"
# Keep-alive: two requests on one connection.
[ "$(curl -s -o /dev/null -o /dev/null -w '%{http_code}%{num_connects}' "http://$H/healthz" "http://$H/pkarr/$Z1")" = 20012000 ] &&
	ok || fail "two requests on one kept-alive connection"

# --- status ----------------------------------------------------------------------------
status main
expect_rc 0 "dns-server status -f json"
[ "$(json_field '["service"]')" = dns-server ] && ok || fail "status service: $out"
[ "$(json_field '["records"]')" = 3 ] && ok || fail "status records: $out"
[ "$(json_field '["puts"]["stored"]')" = 4 ] && ok || fail "puts stored: $out"
[ "$(json_field '["puts"]["not_newer"]')" = 1 ] && ok || fail "puts not_newer: $out"
[ "$(json_field '["puts"]["bad_signature"]')" = 2 ] && ok || fail "puts bad_signature: $out"
[ "$(json_field '["puts"]["bad_size"]')" -ge 2 ] && ok || fail "puts bad_size: $out"
[ "$(json_field '["dns"]["nxdomain"]')" -ge 4 ] && ok || fail "dns nxdomain: $out"
[ "$(json_field '["dns"]["refused"]')" -ge 3 ] && ok || fail "dns refused: $out"
[ "$(json_field '["dns"]["truncated"]')" -ge 1 ] && ok || fail "dns truncated: $out"
[ "$(json_field '["origins"]')" = "['dns.iroh.link']" ] && ok || fail "origins: $out"
run dns-server status --socket "$TMP/main.sock"
expect_rc 0 "dns-server status"
expect_out_has "3 records" "status text"
expect_out_has "$DNS_main" "status text"

# --- the PUT rate limit -------------------------------------------------------------------
start rl --listen 127.0.0.1:0 --dns-listen none --put-rate 1 --put-burst 2
[ "$(put "$HTTP_rl/pkarr/$Z1" "$TMP/p1")" = 204 ] && ok || fail "first PUT under the rate"
[ "$(put "$HTTP_rl/pkarr/$Z1" "$TMP/p1")" = 204 ] && ok || fail "second PUT (burst 2)"
[ "$(put "$HTTP_rl/pkarr/$Z1" "$TMP/p1")" = 429 ] && ok || fail "third PUT is not 429"
[ -n "$(header Retry-After)" ] && ok || fail "429 without Retry-After"
[ "$(code "http://$HTTP_rl/pkarr/$Z1")" = 200 ] && ok || fail "GET is not limited by the PUT rate"
status rl
[ "$(json_field '["puts"]["rate_limited"]')" = 1 ] && ok || fail "rate_limited: $out"

# --- restart on the same database ----------------------------------------------------------
kill -TERM "$PID_main"
wait "$PID_main"
expect_rc_of() { [ "$1" = "$2" ] && ok || fail "$3: exit $1"; }
expect_rc_of $? 0 "SIGTERM"
[ ! -e "$TMP/main.sock" ] && ok || fail "the control socket was left behind"
start main --listen 127.0.0.1:0 --dns-listen 127.0.0.1:0
H=$HTTP_main
[ "$(code "http://$H/pkarr/$Z1")" = 200 ] && cmp -s "$SCRATCH/body" "$TMP/new" && ok ||
	fail "the record is not there after a restart"
[ "$(q +short TXT "_iroh.$Z1.dns.iroh.link")" = '"relay=http://new/"' ] && ok || fail "DNS after a restart"
status main
[ "$(json_field '["records"]')" = 3 ] && ok || fail "records after a restart: $out"

# --- a second server: same socket, same port ---------------------------------------------------------
run dns-server --socket "$TMP/main.sock" --db "$TMP/x.db" --listen 127.0.0.1:0 --dns-listen 127.0.0.1:0
expect_rc 1 "a second dns-server on the same socket"
expect_one_line_error "a second dns-server on the same socket"
run dns-server --socket "$TMP/y.sock" --db "$TMP/y.db" --listen 127.0.0.1:0 --dns-listen "$DNS_main"
expect_rc 1 "a DNS port in use"
expect_err "cannot" "a DNS port in use"
echo "not a database" >"$TMP/junk.db"
mkdir -p "$TMP/open" && chmod 777 "$TMP/open"
run dns-server --socket "$TMP/open/s.sock" --db "$TMP/o.db" --listen 127.0.0.1:0 --dns-listen none
expect_rc 1 "a control socket in a directory anyone may write"
expect_err "chmod go-w" "a control socket in a directory anyone may write"
expect_err "its directory is not safe" "a control socket in a directory anyone may write"
expect_not "run as root" "$err" "no misleading hint for an unsafe directory"
run dns-server --socket "$TMP/z.sock" --db "$TMP/junk.db" --listen 127.0.0.1:0 --dns-listen none
expect_rc 1 "a file that is not a database"
expect_one_line_error "a file that is not a database"

# --- TLS, and its reload on SIGHUP ------------------------------------------------------------
if command -v openssl >/dev/null; then
	gen_cert() {
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=$1" -addext "subjectAltName=DNS:$1" \
			-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
	}
	gen_cert dns-one.test
	start tls --listen none --tls-listen 127.0.0.1:0 --dns-listen none \
		--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
	T=$HTTPS_tls
	[ "$(code -k -X PUT --data-binary "@$TMP/p1" "https://$T/pkarr/$Z1")" = 204 ] && ok || fail "PUT over TLS"
	[ "$(code -k "https://$T/pkarr/$Z1")" = 200 ] && cmp -s "$SCRATCH/body" "$TMP/p1" && ok || fail "GET over TLS"
	gen_cert dns-two.test
	kill -HUP "$PID_tls"
	for _ in $(seq 50); do
		curl -sk -v -o /dev/null "https://$T/healthz" 2>&1 | grep -q 'CN=dns-two.test' && break
		sleep 0.1
	done
	curl -sk -v -o /dev/null "https://$T/healthz" 2>&1 | grep -q 'CN=dns-two.test' && ok ||
		fail "SIGHUP did not load the new certificate"
	status tls
	[ "$(json_field '["tls_reloads"]')" = 1 ] && ok || fail "tls_reloads: $out"
	echo "not a key" >"$TMP/key.pem"
	kill -HUP "$PID_tls"
	[ "$(code -k "https://$T/healthz")" = 200 ] && ok || fail "a bad key on SIGHUP broke TLS"
else
	fail "openssl is not installed"
fi

# --- usage errors ------------------------------------------------------------------------------
for args in "--listen bogus" "--dns-listen 127.0.0.1" "--origin a..b" "--origin" "--ns x..y" \
	"--max-records 0" "--max-age 0" "--max-age 5y" "--cache 1" "--put-rate x" \
	"--put-burst 0" "--query-rate -1" "--max-connections 0" "--timeout 0" \
	"--tls-cert only.pem" "--tls-listen 127.0.0.1:0" "--listen none" "--format json" \
	"extra" "--db=" "status --listen 127.0.0.1:1" "status extra" "status -f yaml" "--bogus"; do
	# shellcheck disable=SC2086
	run dns-server $args
	expect_rc 2 "iron dns-server $args"
	expect_one_line_error "iron dns-server $args"
done
run dns-server status --socket "$TMP/none.sock"
expect_rc 1 "status without a server"
expect_one_line_error "status without a server"
run dns-server status -f json --socket "$TMP/none.sock"
expect_rc 1 "status -f json without a server"
[ "$(json_field '["ok"]')" = False ] && ok || fail "status -f json error: $out"
run dns-server --help
expect_rc 0 "dns-server --help"
expect_out_has "--dns-listen" "dns-server --help"
run help dns-server
expect_out_has "--origin" "iron help dns-server"
finish
