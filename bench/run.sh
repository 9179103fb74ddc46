#!/bin/bash
# run.sh -- tokenauth's benchmarks (issues 2, 3 and 11, channels, Django's layer), on loopback, in
# about seventeen minutes.
#
# Builds nothing: `make bench` (or `make BUILD=... all`) has built $BUILD/login-fcgi,
# $BUILD/ws-worker and $BUILD/tools/{wsload,hashrate,lwsecho,fcgi_fixed}. Each run gets a temporary folder with its
# own database (schema.sql + BENCH_USERS users, bench0 .. bench<N-1>, sharing one pbkdf2_sha256
# hash made with Python's hashlib; the schema's trigger gives each a token), its own lighttpd
# (bench/lighttpd.conf: FastCGI spawning login-fcgi) and ws-worker on free loopback ports, and
# removes them all at exit.
#
# Measures, each for a bounded time:
#   1. logins/s through lighttpd + FastCGI at 1 iteration (wrk + bench/login.lua), against a bare
#      libfcgi responder (bench/fcgi_fixed.c) through the same lighttpd and load, taking turns
#   2. logins/s at the default 1,000,000 iterations, against cores / time of one hash (hashrate)
#   3. authenticated handshakes/s, ws-worker --workers 1 and default (wsload handshakes), with
#      three ways of ending each connection: the WebSocket closing handshake then a FIN (ws, as
#      a browser), the closing handshake then a reset (ws-rst), a reset right after the 101 (rst)
#   4. hello round trips/s with 100 connections, both, 1 and 8 in flight per connection
#   5. resident memory per idle authenticated connection at 10,000 connections, both, with
#      --max-connections raised to fit them: the sum of VmRSS of the ws-worker processes before
#      and after wsload idle opened them, divided
#   6. 3-5 against bench/lwsecho.c, a bare libwebsockets server, as a yardstick measured under
#      the same conditions (the same descriptor table size as ws-worker's default cap); and the
#      CPU time per operation of server and load generator
#   7. channels (bench/channels.sh): fan-out deliveries/s with 1,000 sockets on one channel and
#      the latency at half that rate, against ws-worker and against daphne + Django Channels
#      (bench/django) on the same Redis; deliveries/s to 10,000 personal channels; ws-worker's
#      memory per subscription
#   8. Django's default layer (bench/django_layer.sh): Django's group_send to 1,000 sockets,
#      ws-worker (TOKENAUTH_CHANNEL_LAYER=core) against daphne's consumers, delivered messages/s
#      and latency; forwarded round trips through `manage.py runworker` against daphne's echo
# and prints a table of figures against the targets, then the exact commands; it writes the same
# into BENCH_RESULTS (docs/bench-results.md), headed with the date, the commit and the machine,
# so figures are never copied by hand (the method is in docs/bench.md).
# wsload runs one thread per server process (1, or one per core against the default workers):
# a second generator thread against a single-process server only adds context switches. Each
# WebSocket rate is the fastest of BENCH_REPEAT runs (see best_of); the table keeps every run.
#
# Environment: BUILD (build), BENCH_SECONDS per login measurement (10), BENCH_WS_SECONDS per
# WebSocket run (5), BENCH_REPEAT WebSocket runs per figure (3), BENCH_HASH_SECONDS for the
# default-iteration logins (30), BENCH_IDLE (10000 connections), BENCH_LOGIN_PROCS (login-fcgi
# processes at 1 iteration, 3), BENCH_LOGIN_CONNS (wrk connections, 32), BENCH_LOGIN_WARMUP
# (seconds of uncounted load before each login run, 1; 0 = none), BENCH_WS_THREADS
# (wsload threads; default: one per server process), BENCH_CAP (--max-connections for the rate
# measurements; default: ws-worker's own default, 1,024), BENCH_ONLY (a grep pattern over
# login|hash|lwsecho|ws1|wsN|fanout|personal|submem|djgroup|djforward to run a part), the channel settings
# BENCH_CHAN_CONNS, BENCH_CHAN_SECONDS, BENCH_CHAN_WINDOW, BENCH_CHAN_NAP_US, BENCH_CHAN_WORKERS,
# BENCH_PERSONAL, BENCH_PERSONAL_ROUNDS, BENCH_SUB_CONNS, BENCH_SUB_K (bench/channels.sh), BENCH_DJ_CONNS,
# BENCH_DJ_SECONDS, BENCH_DJ_WORKERS, BENCH_DJ_PUBLISHERS, BENCH_DJ_CLIENTS (bench/django_layer.sh),
# BENCH_RESULTS (the results file, default docs/bench-results.md; a relative path is taken from
# the caller's folder), TMPDIR (where the run's folder goes, /tmp), BENCH_KEEP=1 keeps the
# folder. Exits non-zero when a measurement could not run, never because
# a target was missed (the table says so).
set -u
RESULTS=${BENCH_RESULTS:-}
[ -n "$RESULTS" ] && [ "${RESULTS#/}" = "$RESULTS" ] && RESULTS=$PWD/$RESULTS
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
RESULTS=${RESULTS:-$ROOT/docs/bench-results.md}
BUILD=${BUILD:-build}
BIN=$ROOT/$BUILD
TOOLS=$BIN/tools
SECS=${BENCH_SECONDS:-10}
WS_SECS=${BENCH_WS_SECONDS:-5}
REPEAT=${BENCH_REPEAT:-3}
HASH_SECS=${BENCH_HASH_SECONDS:-30}
IDLE=${BENCH_IDLE:-10000}
USERS=${BENCH_USERS:-100}
PASSWORD=bench-password
LOGIN_PROCS=${BENCH_LOGIN_PROCS:-3}
LOGIN_CONNS=${BENCH_LOGIN_CONNS:-32}
LOGIN_WARMUP=${BENCH_LOGIN_WARMUP:-1}
WS_THREADS=${BENCH_WS_THREADS:-}
CAP=${BENCH_CAP:-}
DEFAULT_CAP=1024 # ws-worker's default --max-connections (ws-worker/main.c)
FD_RESERVE=320   # what ws-worker adds to the cap for its descriptor limit (ws-worker/main.c)
PY=/usr/bin/python3
# wsload is one client address opening up to 512 handshakes at once, which ws-worker's
# per-address limits (docs/websocket.md, Hostile clients) exist to refuse: off for the bench.
export TOKENAUTH_WS_ADDR_HANDSHAKES=${TOKENAUTH_WS_ADDR_HANDSHAKES:-0}
export TOKENAUTH_WS_AUTH_FAILURES=${TOKENAUTH_WS_AUTH_FAILURES:-0}
CORES=$(nproc)
TICKS=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg) # the results' header: how busy the machine was

[ -d "$(dirname "$RESULTS")" ] || { echo "bench: $(dirname "$RESULTS") does not exist (BENCH_RESULTS)" >&2; exit 2; }
for f in "$TOOLS/wsload" "$TOOLS/hashrate" "$TOOLS/lwsecho" "$TOOLS/fcgi_fixed"; do
    [ -x "$f" ] || { echo "bench: $f is missing: run make BUILD=$BUILD all first" >&2; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokenauth-bench.XXXXXX")
PIDS=()
MAIN_PID=$BASHPID
cleanup() {
    [ "$BASHPID" = "$MAIN_PID" ] || return 0 # a $(...) subshell exiting: not the end of the run
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ROWS=()  # "measure|figure|target|verdict"
CMDS=()  # the commands behind the figures
failed=0

want() { [ -z "${BENCH_ONLY:-}" ] || grep -qE "$BENCH_ONLY" <<<"$1"; }
# The login measures need wrk and lighttpd; the WebSocket ones only what make builds.
if want login || want hash; then
    command -v wrk >/dev/null && command -v lighttpd >/dev/null ||
        { echo "bench: the login measures need wrk and lighttpd: scripts/install-deps.sh bench" >&2; exit 2; }
fi
built() { [ -x "$BIN/$1" ] || { echo "bench: $BIN/$1 is not built: skipping its measures" >&2; failed=1; return 1; }; }
row() { ROWS+=("$1|$2|$3|$4"); }
note() { echo "bench: $*" >&2; }

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # port, seconds
    $PY - "$1" "$2" <<'EOF'
import socket, sys, time
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# make_db PATH ITERATIONS: the schema and USERS users sharing one hash of PASSWORD.
make_db() {
    sqlite3 "$1" <schema.sql >/dev/null || return 1
    $PY - "$1" "$2" "$USERS" "$PASSWORD" <<'EOF'
import base64, hashlib, secrets, sqlite3, string, sys
path, iterations, n, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
salt = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))
dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
encoded = "pbkdf2_sha256$%d$%s$%s" % (iterations, salt, base64.b64encode(dk).decode())
db = sqlite3.connect(path)
db.executemany(
    "INSERT INTO auth_user (password, last_login, is_superuser, username, last_name, email,"
    " is_staff, is_active, date_joined, first_name)"
    " VALUES (?, NULL, 0, ?, '', ?, 0, 1, datetime('now'), '')",
    [(encoded, "bench%d" % i, "bench%d@example.com" % i) for i in range(n)])
db.commit()
EOF
}

# start_lighttpd ITERATIONS PROCS DB [RESPONDER]: sets LT_PORT and LT_PID. RESPONDER is the
# FastCGI program lighttpd spawns, login-fcgi unless given.
start_lighttpd() {
    local dir=$TMP/lighttpd-$1 responder=${4:-$BIN/login-fcgi}
    mkdir -p "$dir"
    LT_PORT=$(free_port)
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$LT_PORT|g" -e "s|@LOGIN_FCGI@|$responder|g" \
        -e "s|@PROCS@|$2|g" -e "s|@DB@|$3|g" -e "s|@ITERATIONS@|$1|g" \
        bench/lighttpd.conf >"$dir/lighttpd.conf"
    lighttpd -D -f "$dir/lighttpd.conf" 2>>"$dir/lighttpd-error.log" &
    LT_PID=$!
    PIDS+=("$LT_PID")
    wait_port "$LT_PORT" 10 || { note "lighttpd did not start: $(tail -n 5 "$dir/lighttpd-error.log")"; return 1; }
}

stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# login_cmd ITERATIONS PROCS CONNS SECONDS: the command login_bench runs, for the table.
login_cmd() {
    echo "BENCH_USERS=$USERS BENCH_PASSWORD=$PASSWORD wrk -t1 -c$3 -d${4}s --timeout 60s -s bench/login.lua http://127.0.0.1:PORT/api/login/   # lighttpd -D -f bench/lighttpd.conf with max-procs $2, TOKENAUTH_PASSWORD_ITERATIONS=$1"
}

# login_bench ITERATIONS PROCS CONNS SECONDS [RESPONDER]: prints login.lua's line. The database
# is made once per iteration count and kept, so repeated runs find every user's token made. A
# warm-up of LOGIN_WARMUP seconds, same load, goes first and is not counted (lighttpd has just
# spawned the processes: their first requests open the database, prepare statements, fill
# caches; fcgi_fixed gets the same warm-up).
login_bench() {
    local db=$TMP/login-$1.sqlite3 out
    [ -f "$db" ] || make_db "$db" "$1" || return 1
    start_lighttpd "$1" "$2" "$db" "${5:-}" || return 1
    local t0 r0 t1 r1 line n
    if [ "$LOGIN_WARMUP" != 0 ]; then
        BENCH_USERS=$USERS BENCH_PASSWORD=$PASSWORD wrk -t1 -c"$3" -d"$LOGIN_WARMUP"s --timeout 60s \
            -s bench/login.lua "http://127.0.0.1:$LT_PORT/api/login/" >/dev/null 2>&1
    fi
    t0=$(cpu_ticks "$LT_PID")
    r0=$(children_ticks "$LT_PID")
    out=$(BENCH_USERS=$USERS BENCH_PASSWORD=$PASSWORD wrk -t1 -c"$3" -d"$4"s --timeout 60s \
        -s bench/login.lua "http://127.0.0.1:$LT_PORT/api/login/" 2>&1)
    t1=$(cpu_ticks "$LT_PID")
    r1=$(children_ticks "$LT_PID")
    stop_pid "$LT_PID"
    echo "$out" >"$TMP/wrk-$1.out"
    line=$(grep '^login.lua:' <<<"$out")
    n=$(field requests "$line")
    # CPU per request of lighttpd and its FastCGI processes together (server_us) and of the
    # FastCGI processes alone (responder_us): steadier than rates on a shared host.
    $PY -c "n = max(${n:-0}, 1); print('$line server_us=%.1f responder_us=%.1f' % (($t1 - $t0) * 1e6 / $TICKS / n, ($r1 - $r0) * 1e6 / $TICKS / n))"
}

# children_ticks PID: user + system clock ticks of PID's children (lighttpd's FastCGI processes).
children_ticks() {
    local sum=0 c v
    for c in $(pgrep -P "$1"); do
        v=$(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

runs_of() { sed -nE 's/.* runs=([0-9,]+).*/\1/p' <<<"$1"; }
field() { sed -nE "s/.*[ :]$1=([0-9.]+).*/\1/p" <<<"$2" | head -n 1; }
verdict() { $PY -c "import sys; print('met' if $1 else 'MISSED')"; }
judge() { if [ "$1" = lwsecho ]; then echo "(yardstick)"; else verdict "$2"; fi; }

# ws_pids PID: the process and its descendants (worker processes).
ws_pids() {
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p"); do ws_pids "$c"; done
}
# proc_sum PID FILE AWK: the sum over the process and its descendants of what AWK prints from
# /proc/<pid>/FILE.
proc_sum() {
    local sum=0 p v
    for p in $(ws_pids "$1"); do
        v=$(awk "$3" "/proc/$p/$2" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
# rss_kib PID: resident KiB; cpu_ticks PID: user + system clock ticks used so far.
rss_kib() { proc_sum "$1" status '/^VmRSS:/ {print $2}'; }

# idle_open OUT TENTHS WSLOAD_ARGS...: wsload --mode idle with the arguments in the background,
# its output to OUT, then waits until it says its connections are open or it ends (at most
# TENTHS tenths of a second); sets IDLE_PID, also put in PIDS so an interrupted run stops it.
idle_open() {
    local out=$1 tenths=$2
    shift 2
    "$TOOLS/wsload" --mode idle "$@" >"$out" 2>/dev/null &
    IDLE_PID=$!
    PIDS+=("$IDLE_PID")
    for _ in $(seq 1 "$tenths"); do
        grep -q 'connections open' "$out" 2>/dev/null && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
}
cpu_ticks() { proc_sum "$1" stat '{print $14 + $15}'; }

# ws_rate LABEL WPID MODE ARGS...: runs wsload, prints its summary line and appends the CPU
# cost per operation of the server (from /proc ticks) and of wsload (its cpu_s=) as
# "server_us=N client_us=N". Rates depend on what else runs on the machine; CPU per operation
# hardly does, so the table shows both. For ws-worker handshakes it also appends "connects=N":
# the event=connect lines ws-worker logged meanwhile (one per token it accepted; it holds them
# for up to 250 ms, hence the wait).
ws_rate() {
    local label=$1 wpid=$2 mode=$3 t0 t1 out n cpu c0=0 c1=0 log="$TMP/ws-worker-$1.log"
    local count_connects=0
    [ "$mode" = handshakes ] && [ "$label" != lwsecho ] && count_connects=1
    shift 3
    [ $count_connects = 1 ] && c0=$(grep -c 'event=connect ' "$log")
    t0=$(cpu_ticks "$wpid")
    out=$("$TOOLS/wsload" --mode "$mode" "$@" 2>/dev/null | tail -n 1)
    t1=$(cpu_ticks "$wpid")
    n=$(field total "$out")
    cpu=$(field cpu_s "$out")
    if [ $count_connects = 1 ]; then
        sleep 0.5
        c1=$(grep -c 'event=connect ' "$log")
    fi
    note "$label $mode: $out"
    $PY -c "n = max(${n:-0}, 1); print('$out server_us=%.1f client_us=%.1f connects=%d' % (($t1 - $t0) * 1e6 / $TICKS / n, ${cpu:-0} * 1e6 / n, $c1 - $c0))"
}

# best_of FILE: FILE holds one ws_rate line per run; prints the line of the fastest run with
# "median_rate=N runs=a,b,c" appended. Whatever else runs on the machine only ever slows a run
# down, so the fastest of a few short runs is the steadiest estimate of what the software can do
# here (the reason timeit reports a minimum); the median and every run are kept in the table.
best_of() {
    $PY - "$1" <<'PYEOF'
import re, statistics, sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip()]
def rate(line):
    m = re.search(r"[ :]rate=([0-9.]+)", line)
    return float(m.group(1)) if m else 0.0
rates = [rate(l) for l in lines] or [0.0]
best = max(lines, key=rate) if lines else "rate=0"
print("%s median_rate=%.0f runs=%s" % (best, statistics.median(rates),
                                       ",".join("%.0f" % r for r in rates)))
PYEOF
}

# in_turns PREFIX FUNCTION LABEL...: $REPEAT rounds, each running FUNCTION LABEL for every LABEL
# in turn, its output appended to $TMP/PREFIX-LABEL (one line per run, for best_of or
# lowest_p99). The servers take turns, so that a busy moment of the shared machine does not fall
# on one of them alone.
in_turns() {
    local prefix=$1 fn=$2 label
    shift 2
    for _ in $(seq 1 "$REPEAT"); do
        for label in "$@"; do
            "$fn" "$label" >>"$TMP/$prefix-$label"
        done
    done
}

# start_server LABEL NOFILE PORT SERVER ARGS...: starts a server (listening on PORT) under a
# descriptor limit of NOFILE, within the hard limit. Sets SRV_PID.
start_server() {
    local label=$1 nofile=$2 port=$3 hard
    shift 3
    hard=$(ulimit -Hn)
    [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ] && nofile=$hard
    (ulimit -n "$nofile" && exec "$@") >>"$TMP/ws-worker-$label.log" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    wait_port "$port" 10 || { note "$label: $* did not start: $(tail -n 5 "$TMP/ws-worker-$label.log")"; return 1; }
}

# The WebSocket servers under test, by label (lwsecho, workers1, workers-default): their pid,
# port, wsload threads, their own flags (ws-worker) and the description of the rate runs.
declare -A WS_PID WS_PORT WS_NTHREADS WS_FLAGS WS_DESC
WS_LABELS=()
WS_DB=$TMP/ws.sqlite3
WS_TOKEN=

# ws_prepare: the database and the token every wsload run presents.
ws_prepare() {
    [ -n "$WS_TOKEN" ] && return 0
    make_db "$WS_DB" 1 || return 1
    WS_TOKEN=$(sqlite3 "$WS_DB" "SELECT t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id WHERE u.username = 'bench0'")
}

# ws_launch LABEL NOFILE PORT WORKER_FLAGS...: starts lwsecho (LABEL lwsecho: under a descriptor
# limit of NOFILE, which sizes its table) or ws-worker (which sizes its own limit from its cap)
# on PORT. Sets SRV_PID, and LAUNCHED to the command line for the table.
ws_launch() {
    local label=$1 nofile=$2 port=$3
    shift 3
    if [ "$label" = lwsecho ]; then
        LAUNCHED="bare libwebsockets: $BUILD/tools/lwsecho PORT, ulimit -n $nofile"
        start_server "$label" "$nofile" "$port" "$TOOLS/lwsecho" "$port"
    else
        LAUNCHED="ws-worker --port PORT --db DB${*:+ $*}"
        start_server "$label" "$((IDLE + 1000))" "$port" "$BIN/ws-worker" --port "$port" \
            --db "$WS_DB" "$@"
    fi
}

# ws_launch_free LABEL NOFILE WORKER_FLAGS...: ws_launch on a free port, chosen again (3 tries)
# when the server is gone at once: another process took the port between its choice and the
# server's bind (the machine may be shared: "ERROR on binding ... (-1 98)"). Sets SRV_PORT too.
ws_launch_free() {
    local label=$1 nofile=$2 try
    shift 2
    for try in 1 2 3; do
        SRV_PORT=$(free_port)
        ws_launch "$label" "$nofile" "$SRV_PORT" "$@" && return 0
        # still running (a zombie is gone): not a taken port, no other try
        ps -o stat= -p "$SRV_PID" 2>/dev/null | grep -qv Z && return 1
        note "$label: port $SRV_PORT taken meanwhile (try $try of 3)"
    done
    return 1
}

# ws_start LABEL THREADS WORKER_FLAGS...: starts one server for the rate measurements (LABEL
# lwsecho: the bare libwebsockets yardstick, $TOOLS/lwsecho) and registers it, with THREADS
# wsload threads unless BENCH_WS_THREADS says otherwise. The rates run against ws-worker as
# configured (its default cap unless BENCH_CAP); lwsecho gets the descriptor limit ws-worker
# sets for that cap, since libwebsockets' per-close table scan grows with it. The idle
# measurement needs room for IDLE connections per process, so ws_idle starts the server again
# with --max-connections IDLE.
ws_start() {
    local label=$1 threads=${WS_THREADS:-$2} port cap=${CAP:-$DEFAULT_CAP}
    shift 2
    WS_FLAGS[$label]="$*"
    local rate_flags=("$@")
    [ -n "$CAP" ] && rate_flags+=(--max-connections "$CAP")
    ws_prepare || return 1
    ws_launch_free "$label" "$((cap + FD_RESERVE))" "${rate_flags[@]}" || return 1
    port=$SRV_PORT
    WS_DESC[$label]=$LAUNCHED
    WS_PID[$label]=$SRV_PID
    WS_PORT[$label]=$port
    WS_NTHREADS[$label]=$threads
    WS_LABELS+=("$label")
}

# ws_rates: handshakes and round trips against every registered server. The servers take turns
# run by run (A B C, A B C, ...), so a slow minute on a shared host hits them all alike and the
# rows of one measure can be compared; each row is the fastest of REPEAT runs (best_of).
ws_rates() {
    local measures=("handshakes ws" "handshakes ws-rst" "handshakes rst" "roundtrips 1"
        "roundtrips 8")
    local n label mode arg out common
    for n in "${!measures[@]}"; do
        read -r mode arg <<<"${measures[$n]}"
        for _ in $(seq 1 "$REPEAT"); do
            for label in "${WS_LABELS[@]}"; do
                common=(--port "${WS_PORT[$label]}" --token "$WS_TOKEN" -t "${WS_NTHREADS[$label]}"
                    -d "$WS_SECS")
                if [ "$mode" = handshakes ]; then
                    out=$(ws_rate "$label" "${WS_PID[$label]}" handshakes --close "$arg" -c 64 "${common[@]}")
                else
                    out=$(ws_rate "$label" "${WS_PID[$label]}" roundtrips -c 100 --depth "$arg" "${common[@]}")
                fi
                echo "$out" >>"$TMP/rates-$label-$n"
            done
        done
        for label in "${WS_LABELS[@]}"; do
            ws_row "$label" "$mode" "$arg" "$(best_of "$TMP/rates-$label-$n")"
        done
    done
    for label in "${WS_LABELS[@]}"; do stop_pid "${WS_PID[$label]}"; done
}

# ws_row LABEL MODE ARG BEST_LINE: one table row and its command.
# Every counted handshake must be an authenticated one. With ws and ws-rst wsload checks the
# server's close code (1000, not 4401); with rst it stops at the 101, which ws-worker also sends
# before a 4401, so there ws-worker's own log must show a connect (a token it accepted) for
# every handshake wsload counted.
ws_row() {
    local label=$1 mode=$2 arg=$3 out=$4 rate proof="" ok=1 threads=${WS_NTHREADS[$1]}
    local flags=${WS_DESC[$1]} spread
    rate=$(field rate "$out")
    spread="runs $(runs_of "$out"), median $(field median_rate "$out")"
    if [ "$mode" = handshakes ]; then
        if [ "$label" != lwsecho ]; then
            proof="; ws-worker logged $(field connects "$out") accepted tokens for $(field total "$out") handshakes"
            [ "$(field connects "$out")" -ge "$(field total "$out")" ] 2>/dev/null || ok=0
        fi
        row "handshakes/s, --close $arg ($flags)" "${rate:-failed} ($spread; CPU per handshake: server $(field server_us "$out") µs, wsload $(field client_us "$out") µs$proof)" ">= 20000" "$(judge "$label" "${rate:-0} >= 20000 and $ok")"
        CMDS+=("$flags;  wsload --mode handshakes --close $arg -c 64 -d $WS_SECS -t $threads --port PORT --token KEY  (fastest of $REPEAT)")
    else
        # 1 in flight: strict ping-pong; 8: pipelined (every hello still answered, in order,
        # but one read carries several frames).
        row "hello round trips/s, 100 connections, $arg in flight each ($flags)" "${rate:-failed} ($spread; CPU per round trip: server $(field server_us "$out") µs, wsload $(field client_us "$out") µs)" ">= 150000" "$(judge "$label" "${rate:-0} >= 150000")"
        CMDS+=("$flags;  wsload --mode roundtrips -c 100 --depth $arg -d $WS_SECS -t $threads --port PORT --token KEY  (fastest of $REPEAT)")
    fi
}

# ws_idle LABEL: resident memory per idle authenticated connection, IDLE of them, against a
# fresh server with room for them all: the sum of VmRSS of its processes before and after
# wsload opened them, divided.
ws_idle() {
    local label=$1 threads=${WS_NTHREADS[$1]} port wpid out before after per lpid opened desc
    # shellcheck disable=SC2086 # WS_FLAGS holds separate words
    ws_launch_free "$label" "$((IDLE + 1000))" ${WS_FLAGS[$label]} --max-connections "$IDLE" ||
        return 1
    port=$SRV_PORT wpid=$SRV_PID desc=$LAUNCHED
    sleep 1
    before=$(rss_kib "$wpid")
    idle_open "$TMP/idle-$label.out" 1200 -c "$IDLE" -d 0 --concurrency 512 --port "$port" \
        --token "$WS_TOKEN" -t "$threads"
    lpid=$IDLE_PID
    sleep 1
    after=$(rss_kib "$wpid")
    stop_pid "$lpid" # SIGTERM: wsload prints its summary and closes everything
    out=$(cat "$TMP/idle-$label.out")
    note "$label idle: RSS ${before} KiB -> ${after} KiB; $(tr '\n' ' ' <<<"$out")"
    opened=$(sed -nE 's/.*: ([0-9]+) of [0-9]+ connections open.*/\1/p' <<<"$out")
    if [ "${opened:-0}" -gt 0 ]; then
        per=$($PY -c "print('%.2f' % (($after - $before) / $opened))")
        row "RSS KiB per idle connection, $opened open ($desc)" "$per" "<= 8" "$(judge "$label" "$per <= 8 and $opened == $IDLE")"
    else
        row "RSS KiB per idle connection ($desc)" "failed" "<= 8" "MISSED"
        failed=1
    fi
    CMDS+=("$desc;  wsload --mode idle -c $IDLE -d 0 --concurrency 512 -t $threads --port PORT --token KEY  (VmRSS of the server processes before/after)")
    stop_pid "$wpid"
}

# login_runs: logins at 1 iteration against login-fcgi and against fcgi_fixed (a bare libfcgi
# responder: read the body, print a fixed token), taking turns run by run (REPEAT each; the one
# going first alternates round by round, so neither always follows the other) through the same
# lighttpd configuration, process count, warm-up, wrk and login.lua, so a slow minute on a
# shared host hits both alike. Figures: the fastest of each side's runs (best_of) and their
# ratio, as before; and the ratio of each round's two runs, taken minutes apart at most, whose
# median (with the lowest and highest) is the steadier verdict: a round is one moment of the
# machine, where fastest-of-N pairs the best minute of one side with the best of the other.
login_runs() {
    local label line round order
    for round in $(seq 1 "$REPEAT"); do
        order="login-fcgi fcgi_fixed"
        [ $((round % 2)) = 0 ] && order="fcgi_fixed login-fcgi"
        for label in $order; do
            if [ $label = login-fcgi ]; then
                line=$(login_bench 1 "$LOGIN_PROCS" "$LOGIN_CONNS" "$SECS") || failed=1
            else
                line=$(login_bench 1 "$LOGIN_PROCS" "$LOGIN_CONNS" "$SECS" "$TOOLS/fcgi_fixed") || failed=1
            fi
            note "$label: $line"
            sed -E 's/ok_per_s=/rate=/' <<<"$line" >>"$TMP/logins-$label"
        done
    done
    local mine bare r b ratio rounds
    mine=$(best_of "$TMP/logins-login-fcgi")
    bare=$(best_of "$TMP/logins-fcgi_fixed")
    r=$(field rate "$mine")
    b=$(field rate "$bare")
    ratio=$($PY -c "print('%.2f' % (${r:-0} / max(${b:-0}, 1)))")
    rounds=$(round_ratios "$TMP/logins-login-fcgi" "$TMP/logins-fcgi_fixed")
    row "logins/s at 1 iteration (lighttpd + $LOGIN_PROCS login-fcgi)" "${r:-failed} (runs $(runs_of "$mine"), median $(field median_rate "$mine"); CPU per login: lighttpd + login-fcgi $(field server_us "$mine") µs, login-fcgi $(field responder_us "$mine") µs)" ">= 5000" "$(verdict "${r:-0} >= 5000")"
    row "responses/s of a bare libfcgi responder, same lighttpd + $LOGIN_PROCS processes (fcgi_fixed)" "${b:-failed} (runs $(runs_of "$bare"), median $(field median_rate "$bare"); CPU per response: lighttpd + fcgi_fixed $(field server_us "$bare") µs, fcgi_fixed $(field responder_us "$bare") µs)" "" "(yardstick)"
    row "login-fcgi / bare responder, fastest runs" "$ratio" ">= 0.80" "$(verdict "$ratio >= 0.8")"
    row "login-fcgi / bare responder, median of the rounds' ratios" "$(field median "$rounds") (each round $(sed -nE 's/.* each=([0-9.,]+).*/\1/p' <<<"$rounds"); lowest $(field low "$rounds"), highest $(field high "$rounds"); ratio of the medians $(field of_medians "$rounds"))" ">= 0.80" "$(verdict "$(field median "$rounds") >= 0.8")"
    CMDS+=("$(login_cmd 1 "$LOGIN_PROCS" "$LOGIN_CONNS" "$SECS")  (fastest of $REPEAT, after ${LOGIN_WARMUP}s of uncounted warm-up)"
        "the same with bin-path $BUILD/tools/fcgi_fixed instead of login-fcgi  (fastest of $REPEAT, taking turns, the first of each round alternating)")
}

# round_ratios MINE BARE: the ratio of the Nth rate of MINE to the Nth of BARE (one round each),
# as "median=R low=R high=R each=R,R,... of_medians=R".
round_ratios() {
    $PY - "$1" "$2" <<'PYEOF'
import re, statistics, sys
def rates(path):
    out = []
    for line in open(path):
        m = re.search(r"[ :]rate=([0-9.]+)", line)
        out.append(float(m.group(1)) if m else 0.0)
    return out
mine, bare = rates(sys.argv[1]), rates(sys.argv[2])
each = [a / b for a, b in zip(mine, bare) if b > 0] or [0.0]
of_medians = statistics.median(mine or [0]) / max(statistics.median(bare or [0]), 1)
print("rounds: median=%.2f low=%.2f high=%.2f each=%s of_medians=%.2f"
      % (statistics.median(each), min(each), max(each), ",".join("%.2f" % r for r in each),
         of_medians))
PYEOF
}

if want login && built login-fcgi; then
    note "logins at 1 iteration, login-fcgi and fcgi_fixed taking turns: $REPEAT x 2 x ${SECS}s"
    login_runs
fi
if want hash && built login-fcgi; then
    hr=$("$TOOLS/hashrate" 1000000 5)
    note "$hr"
    alone=$(field hash_alone_per_s "$hr")
    note "logins at 1,000,000 iterations: ${HASH_SECS}s"
    line=$(login_bench 1000000 "$CORES" "$((CORES * 2))" "$HASH_SECS") || failed=1
    note "$line"
    r=$(field ok_per_s "$line")
    pct=$($PY -c "print('%.0f' % (100 * ${r:-0} / $alone))")
    together=$(field hashes_per_s "$hr")
    pct_together=$($PY -c "print('%.0f' % (100 * ${r:-0} / $together))")
    row "hash alone: $CORES cores / one 1,000,000-iteration hash (hashrate)" "$alone" "" ""
    row "hash alone, measured: $CORES threads hashing at once (hashrate)" "$together (logins: ${pct_together}% of it)" "" ""
    row "logins/s at 1,000,000 iterations (lighttpd + $CORES login-fcgi)" "${r:-failed} (${pct}% of hash alone)" ">= 90%" "$(verdict "$pct >= 90")"
    CMDS+=("$BUILD/tools/hashrate 1000000 5" "$(login_cmd 1000000 "$CORES" "$((CORES * 2))" "$HASH_SECS")")
fi
want lwsecho && { ws_start lwsecho 1 || failed=1; }
want ws1 && built ws-worker && { ws_start workers1 1 --workers 1 || failed=1; }
want wsN && built ws-worker && { ws_start workers-default "$CORES" || failed=1; }
if [ ${#WS_LABELS[@]} -gt 0 ]; then
    ws_rates
    for label in "${WS_LABELS[@]}"; do ws_idle "$label" || failed=1; done
fi
# shellcheck source=bench/channels.sh
. bench/channels.sh
chan_parts
# shellcheck source=bench/django_layer.sh
. bench/django_layer.sh
dj_parts

# table: the figures and the commands behind them, in Markdown.
table() {
    echo "| measure | figure | target | |"
    echo "|---|---|---|---|"
    for r in "${ROWS[@]}"; do
        IFS='|' read -r a b c d <<<"$r"
        echo "| $a | $b | $c | $d |"
    done
    echo
    echo "Commands (PORT, DB and KEY come from the run's temporary folder; see bench/run.sh):"
    echo
    for c in "${CMDS[@]}"; do echo "    $c"; done
}

# commit: the short hash of HEAD, "+dirty" when tracked files differ from it (as git describe
# --dirty), "unknown" outside a git checkout.
commit() {
    local c
    c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
    git -C "$ROOT" diff --quiet HEAD 2>/dev/null || c="$c+dirty"
    echo "$c"
}

# settings: the BENCH_* variables this run was given (none: a whole run with the defaults).
settings() {
    local v s=""
    for v in BENCH_ONLY BENCH_SECONDS BENCH_WS_SECONDS BENCH_REPEAT BENCH_HASH_SECONDS BENCH_IDLE \
        BENCH_LOGIN_PROCS BENCH_LOGIN_CONNS BENCH_WS_THREADS BENCH_CAP BENCH_CHAN_CONNS \
        BENCH_CHAN_SECONDS BENCH_CHAN_WINDOW BENCH_CHAN_WORKERS BENCH_PERSONAL BENCH_PERSONAL_ROUNDS BENCH_SUB_CONNS \
        BENCH_SUB_K BENCH_DJ_CONNS BENCH_DJ_SECONDS BENCH_DJ_WORKERS BENCH_DJ_PUBLISHERS BENCH_DJ_CLIENTS; do
        [ -n "${!v:-}" ] && s="$s${s:+, }\`$v=${!v}\`"
    done
    echo "${s:-none (a whole run with the defaults)}"
}

# write_results: the results file, replaced whole (through a temporary file, so an interrupted
# write leaves the previous one); the figures of earlier runs stay in git's history.
write_results() {
    local model
    model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    {
        echo "# Benchmark results"
        echo
        echo "Written by \`make bench\` (bench/run.sh); how they are measured: [bench.md](bench.md)."
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M') UTC"
        echo "- commit: $(commit)"
        echo "- machine: $CORES cores (nproc), ${model:-unknown model} (/proc/cpuinfo); the load generator runs on the same cores"
        echo "- settings: $(settings)"
        echo "- load average (1, 5, 15 min; /proc/loadavg): $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
        echo
        table
    } >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS" ||
        { note "could not write $RESULTS"; rm -f "$RESULTS.tmp"; return 1; }
    note "figures written to $RESULTS"
}

echo
table
write_results || failed=1
exit $failed
