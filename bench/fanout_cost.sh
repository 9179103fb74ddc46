#!/bin/bash
# fanout_cost.sh -- what one channel delivery costs ws-worker and wsload, on a fixed fan-out
# workload: one ws-worker (--workers 1), CONNS sockets on one channel, wsload publishing with a
# window of 32 for SECS seconds (bench.md, Channels). Decides optimisations on a shared
# machine, where rates are noise: instruction counts do not depend on the load.
#
#   bench/fanout_cost.sh cpu      [CONNS [SECS]]  CPU per delivery: ws-worker user and system
#                                                 (/proc ticks), wsload (its cpu_s)
#   bench/fanout_cost.sh callgrind-server [...]   ws-worker under callgrind: instructions per
#                                                 delivery, and the top functions
#   bench/fanout_cost.sh callgrind-client [...]   the same for wsload (both of its threads)
#
# With RATE=R in the environment wsload publishes R publications per second instead of with a
# window: at a low rate each publication reaches each socket alone (the unbatched path). With
# NAP_US=N wsload naps N us when a turn found little to read (--nap-us, as bench/run.sh runs it
# with 200) instead of sleeping in epoll_wait, whose wake-ups the server's sends pay for.
#
# Counting starts once every socket is open (callgrind_control -z), so handshakes and
# subscriptions are left out; ws-worker's dump is taken when wsload ends. Under callgrind the
# worker runs ~50x slower and batches more frames per write than at full speed, and system
# calls count as one instruction: read the counts as the user-space cost, and the cpu mode's
# system time for the kernel's. Needs a built tree (make all), redis-server, sqlite3 and, for
# the callgrind modes, valgrind. Defaults: 1000 sockets, 8 s. Everything lives in a temporary
# folder, removed at the end; prints the wsload summary line, then the figures.
set -u
MODE=${1:-cpu} CONNS=${2:-1000} SECS=${3:-8}
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
case $MODE in cpu | callgrind-server | callgrind-client) ;; *)
    echo "usage: $0 cpu|callgrind-server|callgrind-client [CONNS [SECS]]" >&2
    exit 2
    ;;
esac
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
TICKS=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15, $14, $15}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --dir "$TMP" \
    >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
sqlite3 "$TMP/db" <schema.sql >/dev/null
sqlite3 "$TMP/db" "INSERT INTO auth_user (password, last_login, is_superuser, username,
    last_name, email, is_staff, is_active, date_joined, first_name)
    VALUES ('!', NULL, 0, 'fan', '', 'fan@example.com', 0, 1, datetime('now'), '')"
TOKEN=$(sqlite3 "$TMP/db" "SELECT key FROM authtoken_token LIMIT 1")
PORT=$(free_port)
for _ in $(seq 50); do
    [ "$(redis-cli -s "$TMP/redis.sock" PING 2>/dev/null)" = PONG ] && break
    sleep 0.1
done

SRV=(env TOKENAUTH_REDIS_URL="unix://$TMP/redis.sock" TOKENAUTH_WS_PUBLIC_CHANNELS='bench.*'
    TOKENAUTH_REDIS_TIMEOUT_MS=600000) # callgrind's pace must not look like a dead Redis
[ "$MODE" = callgrind-server ] && SRV+=(valgrind --tool=callgrind "--callgrind-out-file=$TMP/cg.server")
(ulimit -n $((CONNS + 1000)) && exec "${SRV[@]}" "$BUILD/ws-worker" --port "$PORT" --db "$TMP/db" \
    --workers 1 --max-connections $((CONNS + 100))) >"$TMP/server.log" 2>&1 &
SPID=$!
PIDS+=($SPID)
python3 - "$PORT" <<'PY' || { echo "ws-worker did not start: $(tail -n 3 "$TMP/server.log")" >&2; exit 1; }
import socket, sys, time
for _ in range(600):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY

CLI=()
PACE=(--window 32)
[ -n "${RATE:-}" ] && PACE=(--rate "$RATE")
[ -n "${NAP_US:-}" ] && PACE+=(--nap-us "$NAP_US")
[ "$MODE" = callgrind-client ] && CLI=(valgrind --tool=callgrind "--callgrind-out-file=$TMP/cg.client")
(ulimit -n $((CONNS + 100)) && exec "${CLI[@]}" "$BUILD/tools/wsload" --mode fanout -c "$CONNS" \
    -d "$SECS" "${PACE[@]}" -t 1 --channel bench.cost --redis "unix://$TMP/redis.sock" \
    --port "$PORT" --token "$TOKEN") >"$TMP/wsload.out" 2>"$TMP/wsload.err" &
LPID=$!
PIDS+=($LPID)
while kill -0 $LPID 2>/dev/null && ! grep -qs "connections open" "$TMP/wsload.out"; do sleep 0.02; done
case $MODE in
callgrind-server) callgrind_control -z $SPID >/dev/null 2>&1 ;;
callgrind-client) callgrind_control -z $LPID >/dev/null 2>&1 ;;
esac
read -r _ su0 ss0 < <(ticks $SPID)
wait $LPID
read -r _ su1 ss1 < <(ticks $SPID)
[ "$MODE" = callgrind-server ] && callgrind_control -d $SPID >/dev/null 2>&1
OUT=$(tail -n 1 "$TMP/wsload.out")
echo "$OUT"
N=$(echo "$OUT" | sed -nE 's/.* total=([0-9]+).*/\1/p')
CPU=$(echo "$OUT" | sed -nE 's/.* cpu_s=([0-9.]+).*/\1/p')
[ "${N:-0}" -gt 0 ] || { echo "no deliveries: $(tail -n 3 "$TMP/wsload.err")" >&2; exit 1; }
if [ "$MODE" = cpu ]; then
    python3 -c "n = $N; t = $TICKS
print('deliveries=%d ws-worker_us=%.2f (user %.2f, system %.2f) wsload_us=%.2f' % (n,
    ($su1 - $su0 + $ss1 - $ss0) * 1e6 / t / n, ($su1 - $su0) * 1e6 / t / n,
    ($ss1 - $ss0) * 1e6 / t / n, $CPU * 1e6 / n))"
    exit 0
fi
kill $SPID 2>/dev/null
wait $SPID 2>/dev/null
F=$TMP/cg.client
[ "$MODE" = callgrind-server ] && F=$TMP/cg.server.1 # the dump taken when wsload ended
IR=$(callgrind_annotate "$F" 2>/dev/null | sed -nE 's/^ *([0-9,]+) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
python3 -c "print('deliveries=%d instructions=%d per_delivery=%.0f' % ($N, $IR, $IR / $N))"
# The top functions by their own instructions (the first lines, at 100%, are the call stack
# the counters were zeroed in).
callgrind_annotate --inclusive=no --threshold=100 "$F" 2>/dev/null |
    awk '/file:function/ {on = 1; next} on && NF && $2 != "(100.0%)"' | head -n 20
