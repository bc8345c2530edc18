# Helpers for the interoperability tests: iron's C daemon against a real
# iroh 1.x endpoint (npm @number0/iroh) that plays an original iron node
# (iron-node.mjs). On top of the end-to-end helpers (namespaces, keys,
# start_iron, check, finish).
#
# Namespace a holds the C node (10.99.0.1, fd00:99::1), namespace j the
# iroh node (10.99.0.2, fd00:99::2), joined by a veth. The iroh endpoint
# runs in its namespace because its port mapper probes the default gateway
# otherwise.

. "$(dirname "$0")/../e2e/lib.sh"

INTEROP_DIR=$(cd "$(dirname "$0")" && pwd)
JS_PORT=7000

# need_iroh: node and npm present (else skip: CI installs them), and the
# pinned @number0/iroh installed from package-lock.json into
# tests/interop/node_modules (once per lock file). A failed install fails
# the test: CI must not skip it. Not `npm ci`: it refuses this package's
# lock file, which cannot list the optional per-platform packages that were
# never published (npm reports them "missing from lock file"); `npm install
# --no-save` installs exactly the locked versions and changes nothing.
need_iroh() {
	need_cmd node npm jq
	stamp="$INTEROP_DIR/node_modules/.iron-lock-sha256"
	want=$(sha256sum "$INTEROP_DIR/package-lock.json" | cut -d' ' -f1)
	(
		flock 9
		[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0
		echo "installing @number0/iroh from package-lock.json"
		(cd "$INTEROP_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error) || exit 1
		echo "$want" >"$stamp"
	) 9>"${TMPDIR:-/tmp}/iron-interop-npm.lock" || {
		echo "FAIL $TEST_NAME: npm install of @number0/iroh failed"
		exit 1
	}
}

# setup_link: namespaces a (C node) and j (iroh node) joined by a veth.
setup_link() {
	make_ns a
	make_ns j
	link_ns a j
}

# start_js NAME NS [ARGS...]: runs iron-node.mjs in namespace NS with its
# events in $WORK/NAME.jsonl (stderr in $WORK/NAME.err); waits for its
# ready event. Sets JS_PID_<NAME>.
start_js() {
	name=$1
	ns=$2
	shift 2
	ip netns exec "$PREFIX$ns" node --no-deprecation "$INTEROP_DIR/iron-node.mjs" "$@" \
		>"$WORK/$name.jsonl" 2>"$WORK/$name.err" &
	pid=$!
	PIDS="$PIDS $pid"
	eval "JS_PID_$name=$pid"
	if ! wait_for 20 js_has "$name" '.event == "ready"'; then
		echo "iroh node $name did not come up:"
		cat "$WORK/$name.err"
		return 1
	fi
}

# run_js NAME NS [ARGS...]: runs iron-node.mjs in the foreground (--ping,
# --connect modes); returns its exit status.
run_js() {
	name=$1
	ns=$2
	shift 2
	ip netns exec "$PREFIX$ns" timeout 60 node --no-deprecation "$INTEROP_DIR/iron-node.mjs" "$@" \
		>"$WORK/$name.jsonl" 2>"$WORK/$name.err"
}

# stop_js NAME: SIGTERM (the node closes its endpoint) and wait.
stop_js() {
	eval "pid=\$JS_PID_$1"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

# js_events NAME: the JSON event lines of NAME (iroh's own log, with
# --log, goes to stdout too).
js_events() {
	grep -a '^{"event"' "$WORK/$1.jsonl" 2>/dev/null
}

# js_has NAME FILTER: some event of NAME matches the jq FILTER.
js_has() {
	js_events "$1" | jq -e -s "map(select($2)) | length > 0" >/dev/null 2>&1
}

# js_count NAME FILTER: how many events of NAME match FILTER.
js_count() {
	js_events "$1" | jq -s "map(select($2)) | length" 2>/dev/null || echo 0
}

# js_get NAME FILTER FIELD: FIELD of the first event matching FILTER.
js_get() {
	js_events "$1" | jq -r -s "map(select($2)) | .[0].$3 // empty" 2>/dev/null
}

# js_frames NAME REGEX: how many lines of iroh's trace log (--log Trace)
# match, colours removed.
js_frames() {
	sed 's/\x1b\[[0-9;]*m//g' "$WORK/$1.jsonl" | grep -Ec "$2"
}

# log_has NAME REGEX: the C node's log has a matching line.
log_has() {
	grep -Eq "$2" "$WORK/$1.log"
}

# alive NAME: the C daemon of NAME is still running.
alive() {
	eval "pid=\$PID_$1"
	kill -0 "$pid" 2>/dev/null
}

# ping_count NODE TARGET COUNT [SIZE]: COUNT pings from NODE; prints the
# number of replies and keeps ping's output in the check log.
ping_count() {
	out=$(ip netns exec "$PREFIX$1" ping -6 -c "$3" -i 0.1 -W 2 -s "${4:-56}" "$2" 2>&1)
	echo "$out" >>"$WORK/check.log"
	echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p'
}

# rtt_of NODE TARGET COUNT: ping's "min/avg/max/mdev" line of COUNT pings.
rtt_of() {
	ip netns exec "$PREFIX$1" ping -6 -c "$3" -i 0.05 -W 2 "$2" 2>&1 | sed -n 's/^rtt [^=]*= //p'
}
