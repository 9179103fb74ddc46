# shellcheck shell=bash
# channels.sh -- the channels part of bench/run.sh (sourced by it; uses its helpers: row, note,
# free_port, wait_port, cpu_ticks, rss_kib, idle_open, best_of, field, runs_of, verdict, stop_pid,
# PIDS, ROWS, CMDS, TMP, TOOLS, BIN, PY).
#
# One redis-server on a Unix socket in the run's folder carries every publication, in the wire
# format of channels_redis' RedisPubSubChannelLayer (PUBLISH asgi__group__<channel>, a msgpack
# map), so one publisher -- wsload's own thread -- drives ws-worker and Django alike. Parts
# (BENCH_ONLY names):
#   fanout    BENCH_CHAN_CONNS (1,000) sockets subscribed to one channel; wsload publishes with
#             BENCH_CHAN_WINDOW (32) publications not yet taken by every socket (wsload naps
#             BENCH_CHAN_NAP_US (200) us when a loop turn found little to read, instead of
#             sleeping in epoll_wait: see bench.md): delivered
#             messages/s counted at the clients, fastest of BENCH_REPEAT runs of
#             BENCH_CHAN_SECONDS (5). Then the publish-to-delivery latency (p50, p99) at a fixed
#             rate of half that. Against ws-worker with each --workers of BENCH_CHAN_WORKERS
#             ("1 <cores>": one process, and the default; wsload runs a thread per process)
#             and daphne serving bench/django (Channels, the same Redis; one process), taking
#             turns run by run; each server has a channel of its own (bench.tokenauth-w1,
#             bench.django, ...) so none gets the others' publications, and the bench waits
#             for a server to go idle before the next run.
#   personal  BENCH_PERSONAL (10,000) sockets of as many users (made with SQL in the bench
#             database), each in its own user.<id>; BENCH_PERSONAL_ROUNDS (3) times one
#             publication to each personal channel, timed until all were delivered (ws-worker
#             only).
#   submem    ws-worker's RSS with BENCH_SUB_CONNS (1,000) sockets each subscribed to
#             BENCH_SUB_K (10) channels, shared by all sockets or each socket's own, against
#             the same sockets with none, per subscription (a fresh ws-worker each time).
# Only what the parts need is started, and everything is stopped at the end of its part.

CHAN_CONNS=${BENCH_CHAN_CONNS:-1000}
CHAN_SECS=${BENCH_CHAN_SECONDS:-5}
CHAN_WINDOW=${BENCH_CHAN_WINDOW:-32}
CHAN_NAP_US=${BENCH_CHAN_NAP_US:-200}
CHAN_WORKERS=${BENCH_CHAN_WORKERS:-1 $CORES}
PERSONAL=${BENCH_PERSONAL:-10000}
PERSONAL_ROUNDS=${BENCH_PERSONAL_ROUNDS:-3}
SUB_CONNS=${BENCH_SUB_CONNS:-1000}
SUB_K=${BENCH_SUB_K:-10}
REDIS_SOCK=$TMP/redis.sock
REDIS_URL=unix://$REDIS_SOCK
CHAN_DB=$TMP/channels.sqlite3
CHAN_ENV=(TOKENAUTH_REDIS_URL="$REDIS_URL" TOKENAUTH_WS_PUBLIC_CHANNELS='bench.*')
REDIS_PID=
CHAN_TOKEN=

# redis_on SOCK LOG WHO: starts redis-server on the Unix socket SOCK (no TCP, no persistence),
# its output in LOG, and waits until it answers PING; sets REDIS_STARTED to its pid. WHO names
# the bench part in the note when it fails.
redis_on() {
    command -v redis-server >/dev/null || { note "$3: redis-server is missing"; return 1; }
    redis-server --port 0 --unixsocket "$1" --save '' --appendonly no --dir "$TMP" >"$2" 2>&1 &
    REDIS_STARTED=$!
    PIDS+=("$REDIS_STARTED")
    for _ in $(seq 1 100); do
        [ "$(redis-cli -s "$1" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    note "$3: redis-server did not answer: $(tail -n 3 "$2")"
    return 1
}

# chan_redis: the channel parts' redis-server on REDIS_SOCK, started once.
chan_redis() {
    [ -n "$REDIS_PID" ] && return 0
    redis_on "$REDIS_SOCK" "$TMP/redis.log" channels || return 1
    REDIS_PID=$REDIS_STARTED
}

# chan_db: the bench database with PERSONAL users, chan1 .. chanN (the schema's trigger gives
# each a token), and $TMP/tokens ("<user id> <token>" lines, for wsload --tokens; never
# printed). Sets CHAN_TOKEN, the first user's token.
chan_db() {
    [ -n "$CHAN_TOKEN" ] && return 0
    sqlite3 "$CHAN_DB" <schema.sql >/dev/null || return 1
    sqlite3 "$CHAN_DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $PERSONAL)
        INSERT INTO auth_user (password, last_login, is_superuser, username, last_name, email,
            is_staff, is_active, date_joined, first_name)
        SELECT '!', NULL, 0, 'chan' || i, '', 'chan' || i || '@example.com', 0, 1,
            datetime('now'), '' FROM n;" || return 1
    (umask 077 && sqlite3 -separator ' ' "$CHAN_DB" "SELECT u.id, t.key FROM auth_user u
        JOIN authtoken_token t ON t.user_id = u.id ORDER BY u.id" >"$TMP/tokens") || return 1
    CHAN_TOKEN=$(head -n 1 "$TMP/tokens" | cut -d' ' -f2)
    [ "$(wc -l <"$TMP/tokens")" -ge "$PERSONAL" ] || { note "channels: fewer tokens than users"; return 1; }
}

# chan_worker CAP [WORKERS]: starts ws-worker (--workers 1 unless WORKERS) with channels on,
# room for CAP sockets per process. Sets SRV_PID and CHAN_PORT.
chan_worker() {
    local cap=$1 workers=${2:-1}
    [ "$cap" -lt "$DEFAULT_CAP" ] && cap=$DEFAULT_CAP
    CHAN_PORT=$(free_port)
    start_server chan "$((cap + FD_RESERVE))" "$CHAN_PORT" env "${CHAN_ENV[@]}" \
        "$BIN/ws-worker" --port "$CHAN_PORT" --db "$CHAN_DB" --workers "$workers" --max-connections "$cap"
}

# chan_daphne: starts daphne serving bench/django on a free port. Sets SRV_PID and CHAN_PORT.
# Its 5 s handshake timeout is raised: on a busy machine, opening 1,000 sockets 256 at a time
# made daphne reset some, and the figure is about deliveries, not handshakes.
chan_daphne() {
    $PY -c 'import daphne, channels, channels_redis' 2>/dev/null ||
        { note "channels: daphne, channels or channels_redis missing: scripts/install-deps.sh bench"; return 1; }
    CHAN_PORT=$(free_port)
    (cd bench/django && ulimit -n $((CHAN_CONNS + 1000)) && BENCH_REDIS_URL=$REDIS_URL \
        DJANGO_SETTINGS_MODULE=benchsite.settings exec $PY -m daphne -v 0 -b 127.0.0.1 \
        -p "$CHAN_PORT" --websocket_connect_timeout 60 benchsite.asgi:application) \
        >>"$TMP/daphne.log" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    wait_port "$CHAN_PORT" 30 || { note "daphne did not start: $(tail -n 5 "$TMP/daphne.log")"; return 1; }
}

# wait_idle PID: until the process (and its children) use under 2% of a core over 0.5 s, at
# most 30 s: a server still working off the previous run's backlog would slow the next run,
# whichever server it is.
wait_idle() {
    local a b
    for _ in $(seq 1 60); do
        a=$(cpu_ticks "$1")
        sleep 0.5
        b=$(cpu_ticks "$1")
        [ $((b - a)) -le $((TICKS / 100)) ] && return 0
    done
    note "pid $1 still busy after 30 s"
}

# chan_run LABEL PID ARGS...: one wsload run (its summary line) with the CPU per delivery of
# the server, of redis-server and of wsload appended (server_us= redis_us= client_us=). The
# server's and Redis' CPU count from the moment wsload says every socket is open: opening
# them (handshakes, token checks, subscriptions) is no part of a delivery's cost.
chan_run() {
    local label=$1 pid=$2 s0 s1 r0 r1 out n cpu lpid log=$TMP/wsload-$1
    shift 2
    wait_idle "$pid"
    "$TOOLS/wsload" "$@" >"$log.out" 2>"$log.err" &
    lpid=$!
    PIDS+=("$lpid")
    while kill -0 "$lpid" 2>/dev/null && ! grep -q 'connections open' "$log.out"; do
        sleep 0.02
    done
    s0=$(cpu_ticks "$pid") r0=$(cpu_ticks "$REDIS_PID")
    wait "$lpid"
    s1=$(cpu_ticks "$pid") r1=$(cpu_ticks "$REDIS_PID")
    out=$(tail -n 1 "$log.out")
    grep -v '^wsload: t=' "$log.err" | while read -r l; do note "$label: $l"; done
    note "$label: $out"
    n=$(field total "$out") cpu=$(field cpu_s "$out")
    $PY -c "n = max(${n:-0}, 1); t = $TICKS
print('$out server_us=%.2f redis_us=%.2f client_us=%.2f' % (($s1 - $s0) * 1e6 / t / n, ($r1 - $r0) * 1e6 / t / n, ${cpu:-0} * 1e6 / n))"
}

# lowest_p99 FILE: the line of the run with the lowest p99 (runs that failed count as worst),
# with "runs_p99=a,b,c" (ms) appended.
lowest_p99() {
    $PY - "$1" <<'PYEOF'
import re, sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip()]
def p99(line):
    m = re.search(r" p99_us=([0-9.]+)", line)
    e = re.search(r" errors=([0-9]+)", line)
    return float(m.group(1)) if m and e and e.group(1) == "0" else float("inf")
best = min(lines, key=p99) if lines else "p99_us=-1"
print("%s runs_p99=%s" % (best, ",".join("%.1f" % (p99(l) / 1e3) for l in lines)))
PYEOF
}

# ms US: microseconds as milliseconds with one decimal.
ms() { $PY -c "print('%.1f' % (${1:--1000} / 1e3))"; }

# chan_fanout: the fan-out rates, then the latency at half of each server's best rate.
chan_fanout() {
    local labels=() label best n
    declare -A pids ports threads
    for n in $CHAN_WORKERS; do
        label=tokenauth-w$n
        chan_worker "$CHAN_CONNS" "$n" || return 1
        pids[$label]=$SRV_PID ports[$label]=$CHAN_PORT threads[$label]=$n
        labels+=("$label")
    done
    if chan_daphne; then
        pids[django]=$SRV_PID ports[django]=$CHAN_PORT threads[django]=1
        labels+=(django)
    else
        failed=1
    fi
    in_turns fanout fanout_fastest "${labels[@]}"
    declare -A rates cpus
    for label in "${labels[@]}"; do
        best=$(best_of "$TMP/fanout-$label")
        rates[$label]=$(field rate "$best") cpus[$label]=$(field server_us "$best")
        fanout_row "$label" "$best"
    done
    CMDS+=("$(chan_servers)" "$BUILD/tools/wsload --mode fanout -c $CHAN_CONNS -d $CHAN_SECS --window $CHAN_WINDOW --nap-us $CHAN_NAP_US -t THREADS --channel bench.LABEL --redis unix://SOCK --port PORT --token KEY  (fastest of $REPEAT, servers taking turns)")
    for n in $CHAN_WORKERS; do
        ratio_row "tokenauth-w$n" "${rates[tokenauth-w$n]:-0}" "${rates[django]:-}" \
            "${cpus[tokenauth-w$n]:-0}" "${cpus[django]:-0}"
    done
    in_turns latency fanout_at_half "${labels[@]}"
    for label in "${labels[@]}"; do
        latency_row "$label" "${rates[$label]:-0}" "$(lowest_p99 "$TMP/latency-$label")"
    done
    CMDS+=("$BUILD/tools/wsload --mode fanout -c $CHAN_CONNS -d $CHAN_SECS --rate R --nap-us $CHAN_NAP_US -t THREADS --channel bench.LABEL --redis unix://SOCK --port PORT --token KEY  (THREADS: 1 per server process; R = the server's best rate / 2 / $CHAN_CONNS publications/s; lowest p99 of $REPEAT)")
    for label in "${labels[@]}"; do stop_pid "${pids[$label]}"; done
}

# fanout_run LABEL WSLOAD_OPTION VALUE: one fan-out run against server LABEL of chan_fanout
# (its pids, ports and threads), on its channel bench.LABEL, with one more wsload option.
fanout_run() {
    local label=$1
    chan_run "$label" "${pids[$label]}" --mode fanout -c "$CHAN_CONNS" -d "$CHAN_SECS" \
        "$2" "$3" --nap-us "$CHAN_NAP_US" --channel "bench.$label" --redis "$REDIS_URL" \
        --port "${ports[$label]}" --token "$CHAN_TOKEN" -t "${threads[$label]}"
}

# fanout_fastest LABEL: as fast as it goes, $CHAN_WINDOW publications in flight.
fanout_fastest() { fanout_run "$1" --window "$CHAN_WINDOW"; }

# fanout_at_half LABEL: at half the best rate LABEL reached (rates[LABEL], chan_fanout's).
fanout_at_half() {
    fanout_run "$1" --rate "$($PY -c "print('%.3f' % (${rates[$1]:-0} / 2 / $CHAN_CONNS))")"
}

# chan_servers: how the channel servers run, for the table.
chan_servers() {
    echo "redis-server --port 0 --unixsocket SOCK --save '' --appendonly no;  TOKENAUTH_REDIS_URL=unix://SOCK TOKENAUTH_WS_PUBLIC_CHANNELS='bench.*' $BUILD/ws-worker --port PORT --db DB --workers W;  (cd bench/django && BENCH_REDIS_URL=unix://SOCK DJANGO_SETTINGS_MODULE=benchsite.settings python3 -m daphne -v 0 -b 127.0.0.1 -p PORT --websocket_connect_timeout 60 benchsite.asgi:application)"
}

# server_name LABEL: what the rows call the server.
server_name() {
    if [ "$1" = django ]; then echo "daphne + Channels 4 (RedisPubSubChannelLayer), bench/django"
    elif [ "${1#tokenauth-w}" != "$1" ]; then echo "ws-worker --workers ${1#tokenauth-w}"
    else echo "ws-worker --workers 1"; fi
}

# cpu_note LINE: the CPU per delivery of each side.
cpu_note() {
    echo "CPU per delivery: server $(field server_us "$1") µs, redis $(field redis_us "$1") µs, wsload $(field client_us "$1") µs"
}

# fanout_row LABEL BEST_LINE
fanout_row() {
    local label=$1 out=$2 rate ok=1
    rate=$(field rate "$out")
    [ "$(field errors "$out")" = 0 ] || ok=0
    local figure
    figure="${rate:-failed} (runs $(runs_of "$out"), median $(field median_rate "$out"); errors $(field errors "$out"); $(cpu_note "$out"); latency meanwhile p50 $(ms "$(field p50_us "$out")") ms, p99 $(ms "$(field p99_us "$out")") ms)"
    if [ "$label" = django ]; then
        row "fan-out delivered messages/s, $CHAN_CONNS sockets on one channel, window $CHAN_WINDOW ($(server_name django))" "$figure" "" "(comparison)"
    else
        row "fan-out delivered messages/s, $CHAN_CONNS sockets on one channel, window $CHAN_WINDOW ($(server_name "$label"))" "$figure" ">= 200000" "$(verdict "${rate:-0} >= 200000 and $ok")"
    fi
}

# compare_row WHAT OTHER TOKENAUTH_RATE OTHER_RATE TOKENAUTH_CPU_US OTHER_CPU_US: the ratio of
# the rates (the target's: at least 50x), and of the server CPU per delivery, which the other
# work on a shared machine disturbs less. OTHER names the stack compared with.
compare_row() {
    local x c
    if [ -z "$4" ] || [ "$4" = 0 ]; then
        row "$1" "failed (no $2 figure)" ">= 50x" "MISSED"
        return
    fi
    x=$($PY -c "print('%.1f' % ($3 / $4))")
    c=$($PY -c "print('%.1f' % ($6 / $5) if $5 > 0 else '?')")
    row "$1" "${x}x ($3 / $4 delivered messages/s; server CPU per delivery ${c}x less: $5 / $6 µs)" ">= 50x" "$(verdict "$x >= 50")"
}

# ratio_row LABEL TOKENAUTH_RATE DJANGO_RATE TOKENAUTH_CPU_US DJANGO_CPU_US
ratio_row() {
    compare_row "fan-out, $(server_name "$1") / Django on the same workload" Django "$2" "$3" "$4" "$5"
}

# latency_row LABEL MAX_RATE LOWEST_P99_LINE
latency_row() {
    local label=$1 max=$2 out=$3 p50 p99 target="" judged="(comparison)"
    p50=$(ms "$(field p50_us "$out")") p99=$(ms "$(field p99_us "$out")")
    local figure
    figure="p50 $p50 ms, p99 $p99 ms (p99 of the runs: $(sed -nE 's/.* runs_p99=([0-9.,inf]+).*/\1/p' <<<"$out") ms; delivered $(field rate "$out")/s, $(field published "$out") publications, $(field taken "$out") taken by all, errors $(field errors "$out"); $(cpu_note "$out"))"
    if [ "$label" != django ]; then
        target="p99 <= 50 ms"
        judged=$(verdict "0 <= $p99 <= 50 and '$(field errors "$out")' == '0'")
    fi
    row "publish-to-delivery latency at half the maximum rate ($((${max%.*} / 2)) messages/s), $CHAN_CONNS sockets ($(server_name "$label"))" "$figure" "$target" "$judged"
}

# chan_personal: one publication to each of PERSONAL personal channels, PERSONAL_ROUNDS times.
chan_personal() {
    local out rate secs
    chan_worker "$PERSONAL" || return 1
    out=$(chan_run personal "$SRV_PID" --mode personal -c "$PERSONAL" --concurrency 512 \
        --tokens "$TMP/tokens" --rounds "$PERSONAL_ROUNDS" -d 120 --redis "$REDIS_URL" \
        --port "$CHAN_PORT")
    stop_pid "$SRV_PID"
    rate=$(field rate "$out")
    secs=$($PY -c "print('%.3f' % ($PERSONAL / ${rate:-0}) if ${rate:-0} else 'failed')")
    row "personal: $PERSONAL sockets of $PERSONAL users, each in its own user.<id>, one publication to each: deliveries/s ($(server_name personal))" "${rate:-failed} (all delivered in $secs s; rounds $(sed -nE 's/.* rounds_rate=([0-9,]+).*/\1/p' <<<"$out")/s; errors $(field errors "$out"); latency p50 $(ms "$(field p50_us "$out")") ms, p99 $(ms "$(field p99_us "$out")") ms; $(cpu_note "$out"))" "" ""
    if [ -z "$rate" ] || [ "$(field errors "$out")" != 0 ]; then failed=1; fi
    CMDS+=("$BUILD/ws-worker ... --max-connections $PERSONAL;  $BUILD/tools/wsload --mode personal -c $PERSONAL --concurrency 512 --tokens TOKENS --rounds $PERSONAL_ROUNDS -d 120 --redis unix://SOCK --port PORT  (TOKENS: '<user id> <token>' lines of $PERSONAL users made by SQL; fastest round)")
}

# sub_rss WSLOAD_ARGS...: a fresh ws-worker, then wsload idle with the arguments; sets
# SUB_GROWTH (the server's RSS growth, KiB) and SUB_OPENED (the connections wsload opened).
sub_rss() {
    local before after lpid
    SUB_GROWTH=0 SUB_OPENED=0
    chan_worker "$SUB_CONNS" || return 1
    sleep 1
    before=$(rss_kib "$SRV_PID")
    idle_open "$TMP/submem.out" 600 -c "$SUB_CONNS" -d 0 --port "$CHAN_PORT" \
        --token "$CHAN_TOKEN" "$@"
    lpid=$IDLE_PID
    sleep 1
    after=$(rss_kib "$SRV_PID")
    stop_pid "$lpid"
    stop_pid "$SRV_PID"
    SUB_OPENED=$(sed -nE 's/.*: ([0-9]+) of [0-9]+ connections open.*/\1/p' "$TMP/submem.out")
    SUB_GROWTH=$((after - before))
    note "submem ${*:-(no subscriptions)}: RSS $before KiB -> $after KiB, ${SUB_OPENED:-0} open"
}

# chan_submem: bytes per subscription, shared channels and each socket's own.
chan_submem() {
    local base base_open n=$((SUB_CONNS * SUB_K))
    sub_rss || return 1
    base=$SUB_GROWTH base_open=$SUB_OPENED
    sub_rss --subscriptions "$SUB_K" --channel bench.mem || return 1
    submem_row "$SUB_K channels shared by all sockets" "$base" "$SUB_GROWTH" "$base_open $SUB_OPENED"
    sub_rss --subscriptions "$SUB_K" --distinct --channel bench.own || return 1
    submem_row "$SUB_K channels of each socket's own ($n channels)" "$base" "$SUB_GROWTH" "$base_open $SUB_OPENED"
    CMDS+=("$BUILD/ws-worker ... --workers 1 (fresh for each);  $BUILD/tools/wsload --mode idle -c $SUB_CONNS -d 0 --port PORT --token KEY [--subscriptions $SUB_K --channel bench.mem [--distinct]]  (VmRSS before/after; the growth with subscriptions minus the growth without, / $n)")
}

# submem_row WHAT BASE_KIB WITH_KIB "OPENED_BASE OPENED_WITH"
submem_row() {
    local per opened_ok
    opened_ok=$($PY -c "print(1 if '$4' == '$SUB_CONNS $SUB_CONNS' else 0)")
    per=$($PY -c "print('%.0f' % (($3 - $2) * 1024 / ($SUB_CONNS * $SUB_K)))")
    [ "$opened_ok" = 1 ] || { per=failed; failed=1; }
    row "ws-worker RSS per subscription, $SUB_CONNS sockets x $1" "$per bytes (RSS +$3 KiB with them, +$2 KiB with the sockets alone)" "<= 256" "$(verdict "$opened_ok and ${per/failed/1e9} <= 256")"
}

# chan_parts: the parts BENCH_ONLY wants; failed (run.sh's exit status) set when one could not
# run.
# shellcheck disable=SC2034
chan_parts() {
    want fanout || want personal || want submem || return 0
    built ws-worker || return 0
    if ! chan_redis || ! chan_db; then
        failed=1
        return 0
    fi
    want fanout && { chan_fanout || failed=1; }
    want personal && { chan_personal || failed=1; }
    want submem && { chan_submem || failed=1; }
    stop_pid "$REDIS_PID"
}
