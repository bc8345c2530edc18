#!/bin/bash
# B is killed (SIGKILL) and restarted: A reconnects by itself and ping works
# within 10 s. Then B stops with SIGTERM: A learns it at once from the
# CONNECTION_CLOSE, not after an idle timeout.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ping

setup_pair 4 || exit 1
check "ping before the restart" in_ns a ping -6 -c 3 -i 0.2 -W 2 "$B.iron"
stop_iron b KILL
start_iron b --peer "$A@10.99.0.1:4766" || exit 1
# start_iron returns once the new daemon is up, not on the killed one's
# "is up"; so the time below counts from B's real restart.
check "start_iron returned with B's new daemon up (pid $PID_b)" answers_as b "$PID_b"
start=$(date +%s)
check "ping works within 10 s of B's restart" wait_for 10 in_ns a ping -6 -c 1 -W 1 "$B.iron"
echo "reconnected after $(($(date +%s) - start)) s"

check "traffic before the shutdown" in_ns a ping -6 -c 2 -i 0.2 -W 2 "$B.iron"
lines=$(wc -l <"$WORK/a.log")
stop_iron b TERM
check "A logs 'closed by peer' within 2 s of B's SIGTERM" wait_for 2 sh -c "tail -n +$((lines + 1)) '$WORK/a.log' | grep -q 'closed by peer'"
finish
