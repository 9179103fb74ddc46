# shellcheck shell=bash
# django_layer.sh -- Django's default channel layer (channels_redis.core.RedisChannelLayer)
# against ws-worker with TOKENAUTH_CHANNEL_LAYER=core and against daphne, in the same run
# (sourced by bench/run.sh after bench/channels.sh; uses their helpers: row, note, free_port,
# wait_port, start_server, cpu_ticks, best_of, field, runs_of, verdict, stop_pid, wait_idle,
# lowest_p99, ms, PIDS, ROWS, CMDS, TMP, TOOLS, BIN, PY, CORES, TICKS, REPEAT).
#
# A redis-server of its own on a Unix socket carries the core layer's sorted sets; Django code
# (bench/django, BENCH_LAYER=core) and ws-worker share it. Parts (BENCH_ONLY names):
#   djgroup    BENCH_DJ_CONNS (1,000) sockets in one group; BENCH_DJ_PUBLISHERS (2) Python
#              processes (bench/django/djpub.py) call async_to_sync(layer.group_send) back to
#              back for BENCH_DJ_SECONDS (5) + 2 s; wsload --external counts the deliveries at
#              the clients for BENCH_DJ_SECONDS from the first one: delivered messages/s,
#              fastest of BENCH_REPEAT runs. Then the publish-to-delivery latency at half that
#              rate (the publishers on a fixed schedule). Against ws-worker with each --workers
#              of BENCH_DJ_WORKERS ("1 <cores>") and daphne serving bench/django's consumer, taking
#              turns run by run, each in a group of its own (bench.tokenauth-w1, bench.django).
#   djforward  BENCH_DJ_CLIENTS (100) sockets, each with one {"command": "bench.echo", ...} in
#              flight: ws-worker forwards it to tokenauth.inbox, `manage.py runworker
#              tokenauth.inbox` (consumers.Inbox) answers on the reply channel; against daphne
#              running the same echo in its consumer. Round trips/s, and the CPU per round trip
#              of ws-worker, runworker, redis-server and wsload.
# Only what the parts need is started, and everything is stopped at the end of its part.

DJ_CONNS=${BENCH_DJ_CONNS:-1000}
DJ_SECS=${BENCH_DJ_SECONDS:-5}
DJ_WORKERS=${BENCH_DJ_WORKERS:-1 $CORES}
DJ_PUBLISHERS=${BENCH_DJ_PUBLISHERS:-2}
DJ_CLIENTS=${BENCH_DJ_CLIENTS:-100}
DJ_SOCK=$TMP/redis-dj.sock
DJ_URL=unix://$DJ_SOCK
DJ_DB=$TMP/django-layer.sqlite3
DJ_ENV=(TOKENAUTH_CHANNEL_LAYER=core TOKENAUTH_REDIS_URL="$DJ_URL"
    TOKENAUTH_WS_PUBLIC_CHANNELS='bench.*' TOKENAUTH_WS_FORWARD_CHANNEL=tokenauth.inbox)
DJ_PYENV=(BENCH_LAYER=core BENCH_REDIS_URL="$DJ_URL" DJANGO_SETTINGS_MODULE=benchsite.settings)
DJ_ECHO='{"command": "bench.echo", "n": 1}'
DJ_REDIS_PID=
DJ_TOKEN=

# dj_redis: the part's redis-server on DJ_SOCK (redis_on, bench/channels.sh).
dj_redis() {
    $PY -c 'import daphne, channels, channels_redis' 2>/dev/null ||
        { note "django layer: daphne, channels or channels_redis missing: scripts/install-deps.sh bench"; return 1; }
    redis_on "$DJ_SOCK" "$TMP/redis-dj.log" "django layer" || return 1
    DJ_REDIS_PID=$REDIS_STARTED
}

# dj_db: a database with one user (the schema's trigger gives it a token); sets DJ_TOKEN.
dj_db() {
    sqlite3 "$DJ_DB" <schema.sql >/dev/null || return 1
    sqlite3 "$DJ_DB" "INSERT INTO auth_user (password, last_login, is_superuser, username,
        last_name, email, is_staff, is_active, date_joined, first_name)
        VALUES ('!', NULL, 0, 'dj', '', 'dj@example.com', 0, 1, datetime('now'), '');" || return 1
    DJ_TOKEN=$(sqlite3 "$DJ_DB" "SELECT key FROM authtoken_token LIMIT 1")
    [ -n "$DJ_TOKEN" ]
}

# dj_worker LABEL WORKERS: ws-worker on the core layer, until each process said redis_up (a
# message forwarded before that would be answered "unavailable"). Sets SRV_PID, DJ_PORT.
dj_worker() {
    local label=$1 workers=$2 log=$TMP/ws-worker-$1.log cap=$DEFAULT_CAP
    [ "$DJ_CONNS" -gt "$cap" ] && cap=$DJ_CONNS
    DJ_PORT=$(free_port)
    start_server "$label" "$((cap + FD_RESERVE))" "$DJ_PORT" env "${DJ_ENV[@]}" \
        "$BIN/ws-worker" --port "$DJ_PORT" --db "$DJ_DB" --workers "$workers" \
        --max-connections "$cap" || return 1
    for _ in $(seq 1 100); do
        [ "$(grep -c 'redis_up' "$log")" -ge "$workers" ] && return 0
        sleep 0.1
    done
    note "$label: no redis_up in $log"
    return 1
}

# dj_python LOG ARGS...: runs python3 ARGS in bench/django with the core layer's settings, in
# the background, its output to LOG. Sets DJ_PID.
# Descriptors: daphne's layer keeps a Redis connection for each operation it ever had in flight
# at once (1,000 consumers joining their group: about 1,000 connections, kept in the pool), on
# top of the sockets of the run: with room for only 1,000 more, the next run's handshakes were
# refused.
dj_python() {
    local log=$1
    shift
    (cd bench/django && ulimit -n $((DJ_CONNS * 3 + 1000)) && exec env "${DJ_PYENV[@]}" "$PY" "$@") \
        >>"$log" 2>&1 &
    DJ_PID=$!
    PIDS+=("$DJ_PID")
}

# dj_daphne: daphne serving bench/django on the core layer. Sets SRV_PID, DJ_PORT. Three
# tries: on a shared machine another program may take the free port before daphne binds it.
dj_daphne() {
    for _ in 1 2 3; do
        DJ_PORT=$(free_port)
        dj_python "$TMP/daphne-dj.log" -m daphne -v 0 -b 127.0.0.1 -p "$DJ_PORT" \
            --websocket_connect_timeout 60 benchsite.asgi:application
        SRV_PID=$DJ_PID
        wait_port "$DJ_PORT" 30 && kill -0 "$SRV_PID" 2>/dev/null && return 0
        stop_pid "$SRV_PID"
    done
    note "daphne did not start: $(tail -n 5 "$TMP/daphne-dj.log")"
    return 1
}

# dj_publishers GROUP MEMBERS SECONDS [RATE]: starts DJ_PUBLISHERS djpub.py processes (their
# lines to $TMP/djpub.out). Sets DJ_PUB_PIDS.
dj_publishers() {
    local i rate_opt=()
    [ -n "${4:-}" ] && rate_opt=(--rate "$4")
    DJ_PUB_PIDS=()
    : >"$TMP/djpub.out"
    for i in $(seq 0 $((DJ_PUBLISHERS - 1))); do
        dj_python "$TMP/djpub.out" djpub.py --group "$1" --members "$2" --duration "$3" \
            --index "$i" --of "$DJ_PUBLISHERS" "${rate_opt[@]}"
        DJ_PUB_PIDS+=("$DJ_PID")
    done
}

# dj_group_run LABEL PID PORT MEMBERS [RATE]: one group delivery run: wsload --external on
# DJ_CONNS sockets in group bench.LABEL, then the publishers; prints wsload's summary with the
# CPU per delivery of the server, redis-server, wsload and the publishers appended
# (server_us= redis_us= client_us= pub_us=), and the publishers' group_sends/s (pub_rate=).
dj_group_run() {
    local label=$1 pid=$2 port=$3 members=$4 rate=${5:-} s0 s1 r0 r1 out lpid p threads=1
    local log=$TMP/djgroup-$label
    [ "$label" != django ] && threads=$members
    wait_idle "$pid"
    # one wsload thread per server process, as bench/channels.sh
    # at most 64 handshakes in flight: daphne on a busy machine reset some of 256 (its listen
    # backlog is 50), and the opening is not what is measured
    "$TOOLS/wsload" --mode fanout --external -c "$DJ_CONNS" -d "$DJ_SECS" -t "$threads" \
        --concurrency 64 --channel "bench.$label" --port "$port" --token "$DJ_TOKEN" >"$log.out" 2>"$log.err" &
    lpid=$!
    PIDS+=("$lpid")
    while kill -0 "$lpid" 2>/dev/null && ! grep -qs "connections open" "$log.out"; do
        sleep 0.02
    done
    if ! grep -qs " $DJ_CONNS of $DJ_CONNS connections open" "$log.out"; then
        wait "$lpid"
        note "$label: $(tail -n 1 "$log.out") $(tail -n 2 "$log.err")"
        echo "$label: sockets not all open: $(tail -n 1 "$log.out")"
        return 1
    fi
    s0=$(cpu_ticks "$pid") r0=$(cpu_ticks "$DJ_REDIS_PID")
    dj_publishers "bench.$label" "$members" "$((DJ_SECS + 2))" "$rate"
    wait "$lpid"
    s1=$(cpu_ticks "$pid") r1=$(cpu_ticks "$DJ_REDIS_PID")
    for p in "${DJ_PUB_PIDS[@]}"; do wait "$p"; done
    out=$(tail -n 1 "$log.out")
    grep -v '^wsload: t=' "$log.err" | while read -r l; do note "$label: $l"; done
    note "$label: $out"
    while read -r l; do note "$label: $l"; done <"$TMP/djpub.out"
    $PY - "$out" "$s0" "$s1" "$r0" "$r1" "$TICKS" "$TMP/djpub.out" <<'PYEOF'
import re, sys
out, s0, s1, r0, r1, ticks, pubs = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]
def num(key, line, default=0.0):
    m = re.search(r"[ :]%s=([0-9.]+)" % key, line)
    return float(m.group(1)) if m else default
lines = [l for l in open(pubs) if l.startswith("djpub: ")]
n = max(num("total", out), 1)
# the publishers' CPU per delivery: the CPU they used per second of sending over the
# deliveries per second (they send 2 s longer than wsload counts)
pub_rate = sum(num("rate", l) for l in lines)
pub_cpu_per_s = sum(num("cpu_s", l) / max(num("seconds", l), 1e-9) for l in lines)
pub_us = pub_cpu_per_s * 1e6 / (n / max(num("duration_s", out), 1e-9))
print("%s server_us=%.2f redis_us=%.2f client_us=%.2f pub_us=%.2f pub_rate=%.1f publishers=%d"
      % (out, (s1 - s0) * 1e6 / ticks / n, (r1 - r0) * 1e6 / ticks / n,
         num("cpu_s", out) * 1e6 / n, pub_us, pub_rate, len(lines)))
PYEOF
}

# dj_server_name LABEL: what the rows call the server.
dj_server_name() {
    if [ "$1" = django ]; then echo "daphne + Channels 4, core layer (RedisChannelLayer), bench/django"
    else echo "ws-worker --workers ${1#tokenauth-w}, TOKENAUTH_CHANNEL_LAYER=core"; fi
}

# dj_cpu_note LINE: the CPU per delivery of each side.
dj_cpu_note() {
    echo "CPU per delivery: server $(field server_us "$1") µs, redis $(field redis_us "$1") µs, wsload $(field client_us "$1") µs, publishers $(field pub_us "$1") µs"
}

# dj_group: delivered messages/s of Django's group_send, then the latency at half of each
# server's best rate.
dj_group() {
    local labels=() label n best what
    declare -A pids ports members rates cpus
    for n in $DJ_WORKERS; do
        label=tokenauth-w$n
        dj_worker "$label" "$n" || return 1
        pids[$label]=$SRV_PID ports[$label]=$DJ_PORT members[$label]=$n
        labels+=("$label")
    done
    dj_daphne || return 1
    pids[django]=$SRV_PID ports[django]=$DJ_PORT members[django]=$DJ_CONNS
    labels+=(django)
    in_turns djgroup-rate dj_group_fastest "${labels[@]}"
    for label in "${labels[@]}"; do
        best=$(best_of "$TMP/djgroup-rate-$label")
        rates[$label]=$(field rate "$best") cpus[$label]=$(field server_us "$best")
        what="Django group_send, delivered messages/s, $DJ_CONNS sockets in one group, $DJ_PUBLISHERS publisher process(es) back to back ($(dj_server_name "$label"))"
        row "$what" "${rates[$label]:-failed} (runs $(runs_of "$best"), median $(field median_rate "$best"); errors $(field errors "$best"); publishers $(field pub_rate "$best") group_send/s, offering $($PY -c "print('%.0f' % ($(field pub_rate "$best") * $DJ_CONNS))") deliveries/s; $(dj_cpu_note "$best"); latency meanwhile p50 $(ms "$(field p50_us "$best")") ms, p99 $(ms "$(field p99_us "$best")") ms)" "" ""
        [ "$(field errors "$best")" = 0 ] || failed=1
    done
    for n in $DJ_WORKERS; do
        dj_ratio_row "tokenauth-w$n" "${rates[tokenauth-w$n]:-0}" "${rates[django]:-0}" \
            "${cpus[tokenauth-w$n]:-0}" "${cpus[django]:-0}"
    done
    in_turns djgroup-latency dj_group_at_half "${labels[@]}"
    for label in "${labels[@]}"; do
        best=$(lowest_p99 "$TMP/djgroup-latency-$label")
        row "Django group_send, publish-to-delivery latency at half the maximum rate ($(printf '%.0f' "$($PY -c "print(${rates[$label]:-0} / 2)")") messages/s), $DJ_CONNS sockets ($(dj_server_name "$label"))" "p50 $(ms "$(field p50_us "$best")") ms, p99 $(ms "$(field p99_us "$best")") ms (p99 of the runs: $(sed -nE 's/.* runs_p99=([0-9.,inf]+).*/\1/p' <<<"$best") ms; delivered $(field rate "$best")/s, publishers $(field pub_rate "$best") group_send/s; errors $(field errors "$best"); $(dj_cpu_note "$best"))" "" ""
    done
    CMDS+=("redis-server --port 0 --unixsocket SOCK --save '' --appendonly no;  TOKENAUTH_CHANNEL_LAYER=core TOKENAUTH_REDIS_URL=unix://SOCK TOKENAUTH_WS_PUBLIC_CHANNELS='bench.*' TOKENAUTH_WS_FORWARD_CHANNEL=tokenauth.inbox $BUILD/ws-worker --port PORT --db DB --workers W;  (cd bench/django && BENCH_LAYER=core BENCH_REDIS_URL=unix://SOCK DJANGO_SETTINGS_MODULE=benchsite.settings python3 -m daphne -v 0 -b 127.0.0.1 -p PORT --websocket_connect_timeout 60 benchsite.asgi:application)"
        "$BUILD/tools/wsload --mode fanout --external -c $DJ_CONNS -d $DJ_SECS -t THREADS --concurrency 64 --channel bench.LABEL --port PORT --token KEY;  once its sockets are open, $DJ_PUBLISHERS x (cd bench/django && BENCH_LAYER=core BENCH_REDIS_URL=unix://SOCK DJANGO_SETTINGS_MODULE=benchsite.settings python3 djpub.py --group bench.LABEL --members M --duration $((DJ_SECS + 2)) --index I --of $DJ_PUBLISHERS [--rate R])  (M: $DJ_CONNS for daphne, W for ws-worker; THREADS: 1 per server process; fastest of $REPEAT, servers taking turns; then R = best/2/$DJ_CONNS group_send/s, lowest p99 of $REPEAT)")
    for label in "${labels[@]}"; do stop_pid "${pids[$label]}"; done
}

# dj_group_fastest LABEL: one group_send run against server LABEL of dj_group (its pids, ports
# and members), publishers back to back.
dj_group_fastest() {
    dj_group_run "$1" "${pids[$1]}" "${ports[$1]}" "${members[$1]}"
}

# dj_group_at_half LABEL: the same at half the best rate LABEL reached (rates[LABEL], dj_group's;
# at least 0.2 group_send/s).
dj_group_at_half() {
    dj_group_run "$1" "${pids[$1]}" "${ports[$1]}" "${members[$1]}" \
        "$($PY -c "print('%.3f' % max(${rates[$1]:-0} / 2 / $DJ_CONNS, 0.2))")"
}

# dj_ratio_row LABEL TOKENAUTH_RATE DJANGO_RATE TOKENAUTH_CPU_US DJANGO_CPU_US (compare_row,
# bench/channels.sh)
dj_ratio_row() {
    compare_row "Django group_send, $(dj_server_name "$1") / daphne on the same workload" daphne \
        "$2" "$3" "$4" "$5"
}

# dj_forward_run LABEL PID PORT [PYTHON_PID]: one round-trip run with DJ_CLIENTS sockets;
# prints wsload's summary with the CPU per round trip of the server, of the Python worker (for
# ws-worker: runworker), of redis-server and of wsload appended (server_us= python_us=
# redis_us= client_us=) and how busy the Python worker was (python_cores=).
dj_forward_run() {
    local label=$1 pid=$2 port=$3 py=${4:-} s0 s1 p0=0 p1=0 r0 r1 out t0 t1 n cpu
    wait_idle "$pid"
    s0=$(cpu_ticks "$pid") r0=$(cpu_ticks "$DJ_REDIS_PID") t0=$(date +%s.%N)
    [ -n "$py" ] && p0=$(cpu_ticks "$py")
    out=$("$TOOLS/wsload" --mode roundtrips -c "$DJ_CLIENTS" -d "$DJ_SECS" --port "$port" \
        --token "$DJ_TOKEN" --message "$DJ_ECHO" --reply '{"echo"' 2>>"$TMP/djforward-$label.err" | tail -n 1)
    s1=$(cpu_ticks "$pid") r1=$(cpu_ticks "$DJ_REDIS_PID") t1=$(date +%s.%N)
    [ -n "$py" ] && p1=$(cpu_ticks "$py")
    note "$label: $out"
    n=$(field total "$out") cpu=$(field cpu_s "$out")
    # the CPU counts cover the opening of the sockets too (wsload prints nothing in between):
    # a few hundred handshakes against tens of thousands of round trips
    $PY -c "n = max(${n:-0}, 1); t = $TICKS
print('$out server_us=%.2f python_us=%.2f redis_us=%.2f client_us=%.2f python_cores=%.2f' % (($s1 - $s0) * 1e6 / t / n, ($p1 - $p0) * 1e6 / t / n, ($r1 - $r0) * 1e6 / t / n, ${cpu:-0} * 1e6 / n, ($p1 - $p0) / t / ($t1 - $t0)))"
}

# dj_forward: forwarded round trips through runworker against daphne's own echo.
dj_forward() {
    local wpid wport rwpid dpid dport best tb db share
    dj_worker tokenauth-fwd 1 || return 1
    wpid=$SRV_PID wport=$DJ_PORT
    dj_python "$TMP/runworker.log" -m django runworker tokenauth.inbox
    rwpid=$DJ_PID
    dj_daphne || return 1
    dpid=$SRV_PID dport=$DJ_PORT
    sleep 2 # runworker's Django set-up; a message sent before it reads is only queued
    for _ in $(seq 1 "$REPEAT"); do
        dj_forward_run tokenauth "$wpid" "$wport" "$rwpid" >>"$TMP/djforward-tokenauth"
        dj_forward_run django "$dpid" "$dport" >>"$TMP/djforward-django"
    done
    tb=$(best_of "$TMP/djforward-tokenauth")
    db=$(best_of "$TMP/djforward-django")
    share=$($PY -c "s, p, r = $(field server_us "$tb"), $(field python_us "$tb"), $(field redis_us "$tb"); print('%.0f' % (100 * s / max(s + p + r, 1e-9)))")
    row "forwarded round trips/s, $DJ_CLIENTS clients, 1 in flight each: ws-worker --workers 1 -> tokenauth.inbox -> manage.py runworker (echo) -> reply_channel -> client" "${tb:+$(field rate "$tb")} (runs $(runs_of "$tb"), median $(field median_rate "$tb"); errors $(field errors "$tb"); CPU per round trip: ws-worker $(field server_us "$tb") µs, runworker $(field python_us "$tb") µs, redis $(field redis_us "$tb") µs, wsload $(field client_us "$tb") µs; ws-worker's share of the servers' CPU ${share}%; runworker busy $(field python_cores "$tb") of a core)" "bound by the Python worker" "$(verdict "$(field python_us "$tb") >= 3 * $(field server_us "$tb")")"
    row "round trips/s, $DJ_CLIENTS clients, 1 in flight each: daphne, the same echo in its consumer (core layer configured)" "$(field rate "$db") (runs $(runs_of "$db"), median $(field median_rate "$db"); errors $(field errors "$db"); CPU per round trip: daphne $(field server_us "$db") µs, wsload $(field client_us "$db") µs)" "" "(comparison)"
    [ "$(field errors "$tb")" = 0 ] && [ "$(field errors "$db")" = 0 ] || failed=1
    CMDS+=("(cd bench/django && BENCH_LAYER=core BENCH_REDIS_URL=unix://SOCK DJANGO_SETTINGS_MODULE=benchsite.settings python3 -m django runworker tokenauth.inbox);  ws-worker and daphne as above, --workers 1"
        "$BUILD/tools/wsload --mode roundtrips -c $DJ_CLIENTS -d $DJ_SECS --port PORT --token KEY --message '$DJ_ECHO' --reply '{\"echo\"'  (fastest of $REPEAT, servers taking turns; CPU from /proc/<pid>/stat over the run)")
    stop_pid "$wpid"
    stop_pid "$rwpid"
    stop_pid "$dpid"
}

# dj_parts: the parts BENCH_ONLY wants; failed (run.sh's exit status) set when one could not
# run.
# shellcheck disable=SC2034
dj_parts() {
    want djgroup || want djforward || return 0
    built ws-worker || return 0
    if ! dj_redis || ! dj_db; then
        failed=1
        return 0
    fi
    want djgroup && { dj_group || failed=1; }
    want djforward && { dj_forward || failed=1; }
    stop_pid "$DJ_REDIS_PID"
}
