#!/bin/bash
# run.sh -- the demo behind `make run`: lighttpd on 127.0.0.1:$PORT in the foreground, serving
# www/ on /, login-fcgi (spawned by lighttpd over a Unix socket) on /api/login/, /api/logout/
# and /api/publish/, and WebSocket upgrades on / proxied to ws-worker on 127.0.0.1:$WS_PORT;
# both services publish and subscribe to channels through a redis-server of its own, on a Unix
# socket in $RUN_DIR, with nothing saved to disk.
#
# It builds nothing (make did) and installs only the run dependencies (lighttpd, redis-server).
# All running state -- database, generated lighttpd config, sockets, logs, the channel secret
# and the publish key -- lives in $RUN_DIR (.run/ by default, ignored by git). A missing
# database is created from schema.sql with the tutorial's users, for the demo only:
# testuserone / testing123 and suraj / 123. The channel secret and the publish key are made
# once from /dev/urandom (files of mode 0600) and kept across runs; they are never printed.
# Ctrl-C or SIGTERM stops lighttpd (which stops its login-fcgi processes), ws-worker and
# redis-server, and waits for them: nothing is left behind. If this script is killed outright
# (SIGKILL), the kernel sends every service SIGTERM as it dies (a parent-death signal, set with
# setpriv), and the pids in $RUN_DIR/services.pid let the next start stop any still left.
#
# Environment (all optional):
#   BUILD      folder of the build (default build): binaries and tokenauth.so are taken there
#   PORT       the HTTP port (default 8000)
#   WS_PORT    ws-worker's port on 127.0.0.1 (default 8001)
#   RUN_DIR    the state folder (default .run)
#   BIN_DIR    folder of login-fcgi and ws-worker (default $BUILD; tests point it elsewhere)
#   EXT        the SQLite extension used to hash the demo passwords (default $BUILD/tokenauth.so)
#   FILE_MODE  1: also allow the client opened as a file from disk (file:// pages send
#              "Origin: null"), by setting TOKENAUTH_CORS_ORIGINS=* and
#              TOKENAUTH_ALLOWED_HOSTS=* -- the tutorial's settings, for a local demo only
#   TOKENAUTH_*  passed on to both services (README, configuration table). Defaults here:
#              TOKENAUTH_REDIS_URL unix://$RUN_DIR/redis.sock (when set, no redis-server is
#              started: that Redis is used), TOKENAUTH_WS_PUBLIC_CHANNELS and
#              TOKENAUTH_WS_PUBLISH_CHANNELS chat.*, TOKENAUTH_CHANNEL_SECRET and
#              TOKENAUTH_PUBLISH_KEY from $RUN_DIR/channel-secret and $RUN_DIR/publish-key
#              TOKENAUTH_WS_MAX_CONNECTIONS 4096 (ws-worker's total, halved until lighttpd's
#              share fits the descriptor hard limit); lighttpd's caps are sized from it
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
PORT=${PORT:-8000}
WS_PORT=${WS_PORT:-8001}
RUN_DIR=${RUN_DIR:-.run}
BIN_DIR=${BIN_DIR:-$BUILD}
EXT=${EXT:-$BUILD/tokenauth.so}
FILE_MODE=${FILE_MODE:-0}

say() { printf 'run: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

abspath() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$ROOT" "$1" ;; esac; }
RUN_DIR=$(abspath "$RUN_DIR")
BIN_DIR=$(abspath "$BIN_DIR")
EXT=$(abspath "$EXT")
DB=$RUN_DIR/tokenauth.sqlite3

for p in "$PORT" "$WS_PORT"; do
    [[ $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || die "bad port '$p': expected 1-65535"
done
[ "$PORT" != "$WS_PORT" ] || die "PORT and WS_PORT are both $PORT: they must differ"

scripts/install-deps.sh run || die "could not install the run dependencies"
for f in "$BIN_DIR/login-fcgi" "$BIN_DIR/ws-worker"; do
    [ -x "$f" ] || die "$f is missing: build first with make (make run does)"
done
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)

mkdir -p "$RUN_DIR"
chmod 700 "$RUN_DIR"

# $RUN_DIR/services.pid: this script's pid, then the services' pids. Another run with this
# state folder that is still alive is refused; services of an earlier run that was killed before
# it could stop them are stopped now. A service pid counts only while its command line names
# this state folder, so a recycled pid of some other program is never touched.
PIDS=$RUN_DIR/services.pid
stop_stale() {
    local pid i left="" owner
    [ -f "$PIDS" ] || return 0
    owner=$(head -n 1 "$PIDS")
    if [[ $owner =~ ^[0-9]+$ ]] && [ "$owner" != $$ ] &&
        tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -q 'run\.sh'; then
        die "make run is already running with $RUN_DIR (pid $owner): stop it, or set RUN_DIR="
    fi
    for pid in $(tail -n +2 "$PIDS"); do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$RUN_DIR/"; then
            say "stopping pid $pid, left running by an earlier run"
            kill -TERM "$pid" 2>/dev/null && left="$left $pid"
        fi
    done
    for pid in $left; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    rm -f "$PIDS"
}
stop_stale

# The demo database: made in a temporary file and renamed, so an interrupted run never leaves
# a half-made database behind. An existing database is never touched.
make_demo_db() {
    [ -f "$EXT" ] || die "$EXT is missing: build first with make (make run does)"
    local tmp=$DB.new iters=""
    rm -f "$tmp" "$tmp-wal" "$tmp-shm"
    # Hash at the configured iteration count, so login-fcgi finds nothing to re-hash.
    [ -n "${TOKENAUTH_PASSWORD_ITERATIONS:-}" ] && iters=", ${TOKENAUTH_PASSWORD_ITERATIONS}"
    [[ $iters =~ ^(,\ [0-9]+)?$ ]] || die "bad TOKENAUTH_PASSWORD_ITERATIONS"
    {
        cat schema.sql
        printf '.load %s\n' "${EXT%.so}"
        local user pass
        for user in testuserone:testing123 suraj:123; do
            pass=${user#*:} user=${user%%:*}
            printf "%s %s %s\n" \
                "INSERT INTO auth_user (password, last_login, is_superuser, username, last_name," \
                " email, is_staff, is_active, date_joined, first_name) VALUES" \
                "(make_password('$pass'$iters), NULL, 1, '$user', '', '$user@example.com', 1, 1,
                 strftime('%Y-%m-%d %H:%M:%f', 'now'), '');"
        done
    } | sqlite3 -batch -bail "$tmp" >/dev/null || die "could not create the demo database"
    mv "$tmp" "$DB"
    say "created the demo database $DB"
}
[ -f "$DB" ] || make_demo_db

# A secret kept in $RUN_DIR: 32 random bytes as 64 hex digits, made once (mode 0600, through a
# temporary file renamed into place) and reused by every later run. Prints nothing.
make_secret() { # file
    [ -s "$1" ] && return 0
    (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$1.new") &&
        mv "$1.new" "$1" || die "could not create $1"
    say "created $1 (mode 0600)"
}
make_secret "$RUN_DIR/channel-secret"
make_secret "$RUN_DIR/publish-key"
# Read here, exported to both services (lighttpd copies them to login-fcgi): never printed,
# never written into a config file.
export TOKENAUTH_CHANNEL_SECRET=${TOKENAUTH_CHANNEL_SECRET:-$(cat "$RUN_DIR/channel-secret")}
export TOKENAUTH_PUBLISH_KEY=${TOKENAUTH_PUBLISH_KEY:-$(cat "$RUN_DIR/publish-key")}
# The demo's chat rooms: any logged-in user may subscribe to and publish on chat.<anything>.
export TOKENAUTH_WS_PUBLIC_CHANNELS=${TOKENAUTH_WS_PUBLIC_CHANNELS-chat.*}
export TOKENAUTH_WS_PUBLISH_CHANNELS=${TOKENAUTH_WS_PUBLISH_CHANNELS-chat.*}
REDIS_SOCK=""
if [ -z "${TOKENAUTH_REDIS_URL:-}" ]; then
    REDIS_SOCK=$RUN_DIR/redis.sock
    export TOKENAUTH_REDIS_URL=unix://$REDIS_SOCK
fi

if [ "$FILE_MODE" = 1 ]; then
    export TOKENAUTH_CORS_ORIGINS=${TOKENAUTH_CORS_ORIGINS:-*}
    export TOKENAUTH_ALLOWED_HOSTS=${TOKENAUTH_ALLOWED_HOSTS:-*}
fi

# Connection budget. ws-worker holds at most WS_TOTAL sockets in all (TOKENAUTH_WS_MAX_CONNECTIONS
# with --workers 0, the total across its auto-sized processes; past it, close 1013). lighttpd
# must carry every one of them and still have room for the page and the logins, or a socket
# crowd takes the whole site down ("sockets disabled, connection limit reached") and the
# sockets past ws-worker's cap get silence instead of its 1013. So lighttpd's cap is what
# ws-worker's processes can hold at most (ws_held below: each process may take its share plus
# a quarter plus 16, as ws-worker sizes them), plus WS_REFUSING for sockets being refused, plus
# LOGIN_ROOM for everything else. Each of them costs lighttpd 2 descriptors (the client and
# the backend: ws-worker or login-fcgi), plus FD_SPARE for listeners, logs and spawning.
WS_REFUSING=256 LOGIN_ROOM=512 FD_SPARE=256
ws_held() { # total -> the sum of the caps ws-worker gives its processes for that total
    # per: the most --workers 0 gives one process (ws-worker/main.c AUTO_CAP_PER_WORKER)
    local total=$1 per=256 default_cap=1024 cores n needed share workers=${TOKENAUTH_WS_WORKERS:-0}
    if [ "$workers" != 0 ]; then # --workers N: the cap is per process
        echo $((workers * (total > 0 ? total : default_cap)))
        return
    fi
    cores=$(nproc 2>/dev/null || echo 1)
    needed=$(((total + total / 4 + per - 1) / per))
    n=$((needed > cores ? needed : cores))
    share=$(((total + n - 1) / n))
    echo $((n * (share + share / 4 + 16)))
}
lighttpd_fds() { # total -> lighttpd's max-fds for it
    echo $((2 * ($(ws_held "$1") + WS_REFUSING + LOGIN_ROOM) + FD_SPARE))
}
FD_HARD=$(ulimit -H -n)
[ "$FD_HARD" = unlimited ] && FD_HARD=1048576
if [ -n "${TOKENAUTH_WS_MAX_CONNECTIONS:-}" ] && [ "$TOKENAUTH_WS_MAX_CONNECTIONS" != 0 ]; then
    [[ $TOKENAUTH_WS_MAX_CONNECTIONS =~ ^[0-9]{1,7}$ ]] ||
        die "bad TOKENAUTH_WS_MAX_CONNECTIONS '$TOKENAUTH_WS_MAX_CONNECTIONS': expected 0-10000000"
    [[ ${TOKENAUTH_WS_WORKERS:-0} =~ ^[0-9]{1,4}$ ]] || die "bad TOKENAUTH_WS_WORKERS"
    WS_TOTAL=$TOKENAUTH_WS_MAX_CONNECTIONS
    (($(lighttpd_fds "$WS_TOTAL") <= FD_HARD)) ||
        die "TOKENAUTH_WS_MAX_CONNECTIONS=$WS_TOTAL needs $(lighttpd_fds "$WS_TOTAL") descriptors" \
            "for lighttpd, above this shell's hard limit $FD_HARD: lower it or raise ulimit -Hn"
else # the default: 4,096 sockets, halved until lighttpd's share fits the hard limit
    [[ ${TOKENAUTH_WS_WORKERS:-0} =~ ^[0-9]{1,4}$ ]] || die "bad TOKENAUTH_WS_WORKERS"
    WS_TOTAL=4096
    while ((WS_TOTAL > 64 && $(lighttpd_fds "$WS_TOTAL") > FD_HARD)); do
        WS_TOTAL=$((WS_TOTAL / 2))
    done
    [ "${TOKENAUTH_WS_WORKERS:-0}" = 0 ] || WS_TOTAL=0 # --workers N: its own default per process
fi
export TOKENAUTH_WS_MAX_CONNECTIONS=$WS_TOTAL
LIGHTTPD_FDS=$(lighttpd_fds "$WS_TOTAL")
LIGHTTPD_CONNS=$(((LIGHTTPD_FDS - FD_SPARE) / 2))
(($(ulimit -S -n) >= LIGHTTPD_FDS)) || ulimit -S -n "$LIGHTTPD_FDS" ||
    die "could not raise the descriptor limit to $LIGHTTPD_FDS"

# The lighttpd config from conf/, placeholders filled. Paths are escaped for sed.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
sed -e "s|@PORT@|$PORT|g" -e "s|@WS_PORT@|$WS_PORT|g" \
    -e "s|@MAX_FDS@|$LIGHTTPD_FDS|g" -e "s|@MAX_CONNECTIONS@|$LIGHTTPD_CONNS|g" \
    -e "s|@ROOT@|$(sed_escape "$ROOT")|g" -e "s|@BIN@|$(sed_escape "$BIN_DIR")|g" \
    -e "s|@RUN@|$(sed_escape "$RUN_DIR")|g" -e "s|@DB@|$(sed_escape "$DB")|g" \
    conf/lighttpd/tokenauth.conf >"$RUN_DIR/lighttpd.conf"
"$LIGHTTPD" -tt -f "$RUN_DIR/lighttpd.conf" >/dev/null || die "lighttpd rejects $RUN_DIR/lighttpd.conf"

ws_pid="" lighttpd_pid="" redis_pid=""
stop_all() {
    trap - INT TERM HUP EXIT
    local pid
    for pid in $lighttpd_pid $ws_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $lighttpd_pid $ws_pid; do
        wait "$pid" 2>/dev/null || true
    done
    # Redis last, so that the services never see it go away while they still run.
    if [ -n "$redis_pid" ]; then
        kill -TERM "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -f "$PIDS"
}
trap 'stop_all; say "stopped"; exit 0' INT TERM HUP
trap stop_all EXIT

# Accepting connections on 127.0.0.1:$1 yet? (bash's /dev/tcp, no extra tool)
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port pid what
    local i
    for ((i = 0; i < 100; i++)); do
        accepts "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited at start: see $RUN_DIR/$3.log"
        sleep 0.1
    done
    die "$3 does not accept on 127.0.0.1:$1 after 10 s: see $RUN_DIR/$3.log"
}

# Redis listening yet? Its socket file appears once it listens (a stale one of an earlier,
# killed run is removed before the start, so it is never mistaken for the new one).
wait_socket() { # path pid what
    local i
    for ((i = 0; i < 100; i++)); do
        [ -S "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited at start: see $RUN_DIR/$3.log"
        sleep 0.1
    done
    die "$3 has no socket $1 after 10 s: see $RUN_DIR/$3.log"
}

accepts "$PORT" && die "127.0.0.1:$PORT is already in use: choose another with PORT="
accepts "$WS_PORT" && die "127.0.0.1:$WS_PORT is already in use: choose another with WS_PORT="

# Every service runs in a session of its own (setsid, which here does not fork: $! is the
# service), so a Ctrl-C at the terminal reaches only this script, whose trap then stops them in
# order, instead of each service dying on its own and looking like a crash. setpriv (util-linux)
# gives each a parent-death signal, kept across exec: if this script is killed outright, the
# kernel sends them SIGTERM, so they do not outlive it.
echo $$ >"$PIDS"
# redis-server: no TCP port, a socket only this user may open, nothing saved to disk. Its
# process title names the socket, so stop_stale recognises it by $RUN_DIR/ as the others.
if [ -n "$REDIS_SOCK" ]; then
    rm -f "$REDIS_SOCK"
    setsid setpriv --pdeathsig TERM "$REDIS_SERVER" --port 0 --unixsocket "$REDIS_SOCK" \
        --unixsocketperm 700 --save '' --appendonly no --dir "$RUN_DIR" \
        --logfile "$RUN_DIR/redis.log" >>"$RUN_DIR/redis.log" 2>&1 &
    redis_pid=$!
    echo "$redis_pid" >>"$PIDS"
    wait_socket "$REDIS_SOCK" "$redis_pid" redis
fi

# ws-worker gets the TOKENAUTH_* settings, without the variables the tests use for themselves.
setsid setpriv --pdeathsig TERM env -u TOKENAUTH_BIN -u TOKENAUTH_EXT -u TOKENAUTH_TOOLS \
    -u TOKENAUTH_TEST_OUT "$BIN_DIR/ws-worker" --bind 127.0.0.1 --port "$WS_PORT" --db "$DB" \
    >>"$RUN_DIR/ws-worker.log" 2>&1 &
ws_pid=$!
echo "$ws_pid" >>"$PIDS"
wait_port "$WS_PORT" "$ws_pid" ws-worker

setsid setpriv --pdeathsig TERM "$LIGHTTPD" -D -f "$RUN_DIR/lighttpd.conf" \
    >>"$RUN_DIR/lighttpd.log" 2>&1 &
lighttpd_pid=$!
echo "$lighttpd_pid" >>"$PIDS"
wait_port "$PORT" "$lighttpd_pid" lighttpd

# The curl line of the banner publishes to suraj's personal channel, reading the key from its
# file when it comes from there: the key itself is never printed.
suraj_id=$(sqlite3 -batch "$DB" "SELECT id FROM auth_user WHERE username = 'suraj';" 2>/dev/null)
key_arg='$TOKENAUTH_PUBLISH_KEY'
[ "$TOKENAUTH_PUBLISH_KEY" = "$(cat "$RUN_DIR/publish-key")" ] && key_arg="\$(cat $RUN_DIR/publish-key)"
cat <<EOF
tokenauth is running: http://127.0.0.1:$PORT/   (also http://localhost:$PORT/)
  login API  POST http://localhost:$PORT/api/login/   (username, password) -> {"token": ...}
  WebSocket  ws://localhost:$PORT/   (token as subprotocol "tokenauth.token.<key>", or ?token=<key>)
  channels   public: ${TOKENAUTH_WS_PUBLIC_CHANNELS:-none}; publishable from a socket: ${TOKENAUTH_WS_PUBLISH_CHANNELS:-none}
             Redis: ${REDIS_SOCK:-the one of TOKENAUTH_REDIS_URL}
  demo users (demo only, never in production): testuserone / testing123, suraj / 123
  state and logs: $RUN_DIR/   (ws-worker.log, redis.log; lighttpd.log has login-fcgi's lines)
Publish to suraj's personal channel (log in as suraj to see it arrive):
  curl -s -H "Authorization: Bearer $key_arg" -H 'Content-Type: application/json' \\
       -d '{"channel":"user.${suraj_id:-2}","data":"hello from the server"}' http://localhost:$PORT/api/publish/
EOF
[ "$FILE_MODE" = 1 ] &&
    echo "  file mode: any origin allowed (CORS *, allowed hosts *) so www/index.html opened from disk works"
echo "Press Ctrl-C to stop."

# Whichever ends first, the others are stopped too (trap on EXIT).
set +e
wait -n "$ws_pid" "$lighttpd_pid" $redis_pid
rc=$?
say "a service stopped on its own (exit $rc): stopping the rest"
exit 1
