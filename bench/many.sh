#!/bin/bash
# many.sh -- many authenticated idle WebSockets held by ws-worker on one host ("a million sockets
# on one host"), and what holding them costs. Not part of `make test` or `make bench`.
#
# Usage: bench/many.sh [N]   N sockets (default 100000).
# Settings (environment):
#   MANY_PER_CLIENT    sockets per wsload process (19000: each is bound by the 20,000 descriptor
#                      hard limit too, like every process here)
#   MANY_PARALLEL      wsload processes opening at once (2; the next starts when one holds all
#                      of its sockets)
#   MANY_SOURCES       loopback source addresses 127.0.0.2 .. 127.0.0.K+1 of the held sockets
#                      (N / 10,000 + 1, at most 253: a source has 28,232 ephemeral ports towards
#                      one server port, and connect() slows down as they fill); the rates are
#                      measured from 127.0.0.1, which holds none
#   MANY_SECS          seconds per rate (5)
#   MANY_WARMUP        seconds of handshakes, not counted, before each state's measures (20):
#                      freshly started workers get faster over their first hundreds of
#                      handshakes (pages, caches), and a measure should not catch that
#   MANY_ROUNDS        measures of the rates with none held and with all held (3); each is
#                      reported, and the fastest of each state is compared; once all are closed
#                      again, the rate with none held is measured a second time
#   MANY_MIN_AVAIL_MIB stop opening when MemAvailable drops under it (3072)
#   MANY_FD_SPARE      descriptors of fs.file-max left to the rest of the host (100000)
#   MANY_OPEN_DEADLINE stop opening after so many seconds and measure what is held (0: none)
#   MANY_RETRIES       tries again of a socket reset while opening (3), as a client reconnects:
#                      on a loaded host the kernel resets a few (an accept queue overflows while
#                      SYN cookies are in use); counted and reported
#   MANY_PING_INTERVAL TOKENAUTH_WS_PING_INTERVAL of ws-worker (0: no pings, so the held sockets
#                      are idle and the figures are those of holding alone; ws-worker's default
#                      is 30); wsload answers pings
#   MANY_IDLE_SECS     seconds of measuring ws-worker's CPU while it only holds the sockets
#                      (MANY_PING_INTERVAL when it is over 0: each socket is then pinged once in
#                      the measure; else 10)
#   MANY_PARK          1 (the default without pings): each holding wsload, once all of its
#                      sockets are open, parks them out of its descriptor table (wsload --park,
#                      bench/wsload/park.h): the host's init lists every process's descriptors
#                      each second at a cost that grows with their number, and the clients'
#                      million are the bench's, not the server's. 0: they stay in the table.
#                      Parked sockets answer no ping, so MANY_PARK=1 refuses MANY_PING_INTERVAL
#   MANY_NETNS         0 (default): run in the host's network namespace. K: run in a network
#                      namespace of its own (unshare -n; root) whose TCP established hash has K
#                      buckets (net.ipv4.tcp_child_ehash_entries, set for the moment it is made
#                      and put back), as a host sized for the connections it holds would be:
#                      the host's hash is shared by every socket of every namespace, and
#                      whatever walks it (a /proc/net/tcp read, a socket dump of a monitoring
#                      process) pays for every socket held here
#   MANY_CYCLES        times the sockets are opened, measured held, closed and measured with
#                      none held again, in one run (1). On a VM whose speed wanders from one
#                      minute to the next one held measure against one none-held measure is a
#                      poor verdict: with more, each held measure is compared with the mean of
#                      the none-held measures just before and just after it, and the median of
#                      those ratios is reported
#   MANY_PERF          1: `perf record -a` during each state's warm-up (MANY_WARMUP of 5 s or
#                      more; root, or perf_event_paranoid -1), and after each held measure the
#                      commands and symbols whose CPU per handshake grew most against the
#                      none-held state before it: where holding's cost goes. 0 (default): none
#   MANY_RESULTS       also write the report to this file
#   BUILD              the build folder (build)
# ws-worker runs as deployed for a connection count: --workers 0 --max-connections N (its
# main.c sizes the processes). The held sockets come from wsload --mode idle processes; a socket
# counts once its hello was answered (4401 for a bad token would come after the 101, so a 101
# alone proves nothing). Reports: sockets held; ws-worker's CPU while it only holds them (pings
# included when on); ws-worker RSS and PSS per socket (every worker,
# after minus before); kernel memory per socket (the slab caches of a TCP socket, and
# /proc/net/sockstat's TCP buffer pages); the handshake rate, the ws-worker CPU per handshake
# and one message's round trip (wsload roundtrips -c 1) with none held and with all held.
# When fewer than N open, it says which limit stopped them and at what count: memory
# (MemAvailable), descriptors (fs.file-max, per-process hard limit), ports, the server's caps.
# Every process it started is stopped on exit (trap), whatever the exit.
set -u
cd "$(dirname "$0")/.."
N=${1:-100000}
PER=${MANY_PER_CLIENT:-19000} PARALLEL=${MANY_PARALLEL:-2} SECS=${MANY_SECS:-5}
SOURCES=${MANY_SOURCES:-$((N / 10000 + 1))}
[ "$SOURCES" -gt 253 ] && SOURCES=253
MIN_AVAIL_MIB=${MANY_MIN_AVAIL_MIB:-3072} FD_SPARE=${MANY_FD_SPARE:-100000}
OPEN_DEADLINE=${MANY_OPEN_DEADLINE:-0} RETRIES=${MANY_RETRIES:-3} ROUNDS=${MANY_ROUNDS:-3}
PING=${MANY_PING_INTERVAL:-0}
WARMUP=${MANY_WARMUP:-20}
CYCLES=${MANY_CYCLES:-1}
PERF=${MANY_PERF:-0}
[[ "$PERF" =~ ^[01]$ ]] || { echo "many.sh: MANY_PERF \"$PERF\": expected 0 or 1" >&2; exit 2; }
if [ "$PERF" = 1 ]; then
    awk -v w="$WARMUP" 'BEGIN { exit !(w >= 5) }' || { echo "many.sh: MANY_PERF=1 records during the warm-ups: MANY_WARMUP must be 5 s or more (it is $WARMUP)" >&2; exit 2; }
    perf record -a -q -o /dev/null -- true >/dev/null 2>&1 || { echo "many.sh: MANY_PERF=1: 'perf record -a' does not run here (is perf installed? it needs root, or kernel.perf_event_paranoid -1)" >&2; exit 2; }
fi
[[ "$CYCLES" =~ ^[1-9][0-9]*$ ]] || { echo "many.sh: MANY_CYCLES \"$CYCLES\": expected a count of 1 or more" >&2; exit 2; }
[[ "$WARMUP" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "many.sh: MANY_WARMUP \"$WARMUP\": expected seconds (0 for none)" >&2; exit 2; }
IDLE_SECS=${MANY_IDLE_SECS:-$([ "$PING" -gt 0 ] && echo "$PING" || echo 10)}
BUILD=${BUILD:-build} # as bench/run.sh: the build folder, relative to the repository
NETNS=${MANY_NETNS:-0}
PARK=${MANY_PARK:-$([ "$PING" -gt 0 ] && echo 0 || echo 1)}
[[ "$PARK" =~ ^[01]$ ]] || { echo "many.sh: MANY_PARK \"$PARK\": expected 0 or 1" >&2; exit 2; }
[ "$PARK" = 1 ] && [ "$PING" -gt 0 ] && { echo "many.sh: MANY_PARK=1: parked sockets cannot answer MANY_PING_INTERVAL's pings (ws-worker would close them); set one of the two to 0" >&2; exit 2; }
[[ "$NETNS" =~ ^[0-9]+$ ]] || { echo "many.sh: MANY_NETNS \"$NETNS\": expected 0 or a number of hash buckets" >&2; exit 2; }
if [ "$NETNS" != 0 ] && [ -z "${MANY_IN_NETNS:-}" ]; then
    ehash_was=$(sysctl -n net.ipv4.tcp_child_ehash_entries 2>/dev/null) ||
        { echo "many.sh: MANY_NETNS: this kernel has no net.ipv4.tcp_child_ehash_entries (5.19+)" >&2; exit 2; }
    sysctl -qw net.ipv4.tcp_child_ehash_entries="$NETNS" ||
        { echo "many.sh: MANY_NETNS: setting net.ipv4.tcp_child_ehash_entries needs root" >&2; exit 2; }
    my_ns=$(readlink /proc/self/ns/net)
    MANY_IN_NETNS=1 unshare -n bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@" &
    child=$!
    # The hash size is taken when the namespace is made: put the host's setting back then.
    for _ in $(seq 100); do
        [ "$(readlink "/proc/$child/ns/net" 2>/dev/null)" != "$my_ns" ] && break
        sleep 0.05
    done
    sysctl -qw net.ipv4.tcp_child_ehash_entries="$ehash_was"
    trap 'kill -TERM $child 2>/dev/null' INT TERM
    wait "$child"
    exit $?
fi
TOOLS=$BUILD/tools
for f in "$BUILD/ws-worker" "$TOOLS/wsload"; do
    [ -x "$f" ] || { echo "many.sh: $f missing: make all" >&2; exit 2; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokenauth-many.XXXXXX")
SRV= CLIENTS=()
cleanup() {
    [ -n "$SRV" ] && kill -TERM -- "-$SRV" 2>/dev/null
    for p in "${CLIENTS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "$SRV" ] && kill -KILL -- "-$SRV" 2>/dev/null
    [ -n "${LOGCAT:-}" ] && kill "$LOGCAT" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
REPORT=$TMP/report
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }

worker_pids() { pgrep -g "$SRV" -f "$BUILD/ws-worker" | grep -vx "$SRV"; }
# kib FIELD: the sum of a /proc/<pid>/smaps_rollup field over the workers
# (one cat for every worker's file: a cat each took seconds at a thousand workers)
proc_files() { worker_pids | sed "s|.*|/proc/&/$1|"; }
kib() { proc_files smaps_rollup | xargs cat 2>/dev/null | awk -v f="$1:" '$1 == f { s += $2 } END { print s + 0 }'; }
# ticks [sys]: the workers' CPU ticks; with "sys", also those in the kernel ("all sys"), from
# the same one read of their stat files
ticks() { proc_files stat | xargs cat 2>/dev/null | awk -v sys="${1:-}" '{ s += $14 + $15; k += $15 } END { print s + 0 (sys ? " " k + 0 : "") }'; }
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }  # idle + iowait, all cores
avail_mib() { awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo; }
sock_pages() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
# The slab caches one TCP socket end uses, in KiB: the socket, its inode, dentry and file, and
# the epoll entries of whoever waits on it.
SLABS="TCP sock_inode_cache dentry filp eventpoll_epi eventpoll_pwq"
slab_kib() { awk -v want=" $SLABS " 'index(want, " " $1 " ") { s += $2 * $4 } END { printf "%d", s / 1024 }' /proc/slabinfo; }
slab_each() { awk -v want=" $SLABS " 'index(want, " " $1 " ") { printf "%s %d %d\n", $1, $2, $4 }' /proc/slabinfo; }
fds_in_use() { cut -f1 /proc/sys/fs/file-nr; }
# Where a measure's machine time went: the cores' ticks by kind (/proc/stat: user+nice, system,
# irq+softirq, steal, idle+iowait), and each process's ticks (pid comm ticks, every process:
# kernel threads and the holding wsloads included).
cpu_kinds() { awk '/^cpu / { print $2 + $3, $4, $7 + $8, $9, $5 + $6 }' /proc/stat; }
all_ticks() { cat /proc/[0-9]*/stat 2>/dev/null | awk '{ sub(/^[0-9]+ \(/, ""); n = split($0, a, ") "); split(a[n], f, " "); c = a[1]; gsub(/[0-9]+$/, "", c); t[c] += f[12] + f[13] } END { for (c in t) print c, t[c] }'; }
# time_split K0 K1 T0 T1 N: the machine's time per handshake by kind, and the three commands
# besides ws-worker that took the most (their threads and processes summed by name, digits cut;
# the tools of this script, which read the snapshots, left out)
time_split() {
    awk -v k0="$1" -v k1="$2" -v n="$5" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(k0, a, " "); split(k1, b, " "); if (n <= 0) exit
        printf "  machine time per handshake: user %.0f, system %.0f, irq %.0f, steal %.0f, idle %.0f µs", (b[1] - a[1]) * 1e6 / hz / n, (b[2] - a[2]) * 1e6 / hz / n, (b[3] - a[3]) * 1e6 / hz / n, (b[4] - a[4]) * 1e6 / hz / n, (b[5] - a[5]) * 1e6 / hz / n }'
    join <(sort "$3") <(sort "$4") | awk -v n="$5" -v hz="$(getconf CLK_TCK)" '$1 !~ /^(ws-worker|cat|xargs|awk|sed|sort|join)$/ && $3 > $2 { printf "%.1f %s\n", ($3 - $2) * 1e6 / hz / n, $1 }' |
        sort -rn | head -3 | awk 'BEGIN { printf "; most besides ws-worker:" } { printf " %s %s µs", $2, $1 } END { printf "\n" }'
}

# slot KIND SLOT: a figure rates_best kept (HS, RT, CPU, WCPU or IRQ of slot n0, h1, ...), or 0.
slot() { local v="$1_$2"; echo "${!v:-0}"; }
# keep SLOT KIND...: the last round's figures of each KIND (slot x) become SLOT's.
keep() {
    local slot=$1 kind
    shift
    for kind in "$@"; do printf -v "${kind}_$slot" %s "$(slot "$kind" x)"; done
}
# rate_line LABEL SLOT [NOTE]: LABEL's handshakes/s, ws-worker CPU and one message's round trip
rate_line() {
    say "$1: handshakes/s $(slot HS "$2") (ws-worker CPU $(slot CPU "$2") µs per handshake); one message round trip $(awk -v r="$(slot RT "$2")" 'BEGIN { if (r > 0) printf "%.0f µs (%d/s)", 1e6 / r, r; else printf "?" }')${3:-}"
}
# rates LABEL KEY: handshakes/s (with the ws-worker CPU per handshake) and one message's round
# trip. The handshakes end with the closing handshake and a reset (--close ws-rst): no TIME_WAIT
# piles up on 127.0.0.1 between the two measures.
rates() {
    local t0 t1 sys0 sys1 hs rt total idle0 idle1 kinds0 kinds1 hz
    hz=$(getconf CLK_TCK)
    all_ticks >"$TMP/ticks0"
    read -r t0 sys0 <<<"$(ticks sys)"
    idle0=$(idle_ticks) kinds0=$(cpu_kinds)
    hs=$("$TOOLS/wsload" --mode handshakes --close ws-rst -c 64 -d "$SECS" --port "$PORT" --token "$TOKEN" 2>/dev/null)
    read -r t1 sys1 <<<"$(ticks sys)"
    idle1=$(idle_ticks) kinds1=$(cpu_kinds)
    all_ticks >"$TMP/ticks1"
    rt=$("$TOOLS/wsload" --mode roundtrips -c 1 -d "$SECS" --port "$PORT" --token "$TOKEN" 2>/dev/null)
    total=$(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$hs")
    printf -v "HS_$2" %s "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$hs")"
    printf -v "RT_$2" %s "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$rt")"
    printf -v "CPU_$2" %s "$(awk -v a="$t0" -v b="$t1" -v n="${total:-0}" -v hz="$hz" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0) }')"
    # The client's own CPU and the cores' softirq time (on loopback, most of both sides' TCP)
    # per handshake: with ws-worker's, what the handshakes themselves took (own_share below).
    printf -v "WCPU_$2" %s "$(awk -v n="${total:-0}" -v c="$(sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p' <<<"$hs")" 'BEGIN { printf "%.1f", (n > 0 ? c * 1e6 / n : 0) }')"
    printf -v "IRQ_$2" %s "$(awk -v k0="$kinds0" -v k1="$kinds1" -v n="${total:-0}" -v hz="$hz" 'BEGIN { split(k0, a, " "); split(k1, b, " "); printf "%.1f", (n > 0 ? (b[3] - a[3]) * 1e6 / hz / n : 0) }')"
    # Where the rest of the machine's time went, per handshake: the client's own CPU, and the
    # cores' idle time (a rate the cores did not limit).
    say "  $1: wsload CPU $(slot WCPU "$2") µs per handshake; the cores idle $(awk -v a="$idle0" -v b="$idle1" -v s="$SECS" -v c="$(nproc)" -v hz="$hz" 'BEGIN { printf "%.0f%%", (b - a) * 100 / hz / s / c }') of the time"
    time_split "$kinds0" "$kinds1" "$TMP/ticks0" "$TMP/ticks1" "${total:-0}" | tee -a "$REPORT"
    awk -v a="$sys0" -v b="$sys1" -v n="${total:-0}" -v hz="$hz" 'BEGIN { if (n > 0) printf "  of ws-worker'"'"'s CPU per handshake, %.1f µs in the kernel\n", (b - a) * 1e6 / hz / n }' | tee -a "$REPORT"
    rate_line "$1" "$2"
    grep -q ' errors=0 ' <<<"$hs$rt" || say "  (wsload errors: $(grep -o 'errors=[0-9]* last_close=[0-9]* last_errno=[0-9]*' <<<"$hs$rt" | tr '\n' ' '))"
}

# warm_up SLOT: MANY_WARMUP seconds of the same handshakes, not counted. With MANY_PERF=1, perf
# records the whole machine meanwhile (from 1 s in to 1 s before the end) into $TMP/perf.SLOT,
# and WRATE_SLOT keeps the warm-up's rate, by which perf_growth turns shares into µs.
warm_up() {
    local out rec=
    awk -v w="$WARMUP" 'BEGIN { exit !(w > 0) }' || return 0
    if [ "$PERF" = 1 ]; then
        (sleep 1 && exec perf record -a -q -F 499 -o "$TMP/perf.$1" -- sleep "$(awk -v w="$WARMUP" 'BEGIN { print w - 2 }')" >/dev/null 2>&1) &
        rec=$!
    fi
    out=$("$TOOLS/wsload" --mode handshakes --close ws-rst -c 64 -d "$WARMUP" --port "$PORT" --token "$TOKEN" 2>/dev/null)
    [ -n "$rec" ] && wait "$rec"
    printf -v "WRATE_$1" %s "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")"
    say "  warm-up: $(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$out") handshakes in $WARMUP s, not counted"
}

# perf_costs SLOT: "comm|dso|symbol µs" lines, each one's machine time per handshake in SLOT's
# warm-up (its share of the samples times the cores' time per handshake at the warm-up's rate).
perf_costs() {
    perf report -i "$TMP/perf.$1" --stdio -t '|' --sort comm,dso,sym 2>/dev/null | grep -v '^#' |
        awk -F'|' -v us="$(awk -v r="$(slot WRATE "$1")" -v c="$(nproc)" 'BEGIN { print (r > 0 ? c * 1e6 / r : 0) }')" '
        NF >= 4 { p = $1; sub(/%.*/, "", p); k = $2 "|" $3 "|" $4; gsub(/  +/, " ", k); gsub(/ \|/, "|", k); print k "\t" p * us / 100 }'
}
# perf_growth NONE HELD: the eight (command, symbol) pairs whose CPU per handshake grew most
# from the none-held warm-up to the held one.
perf_growth() {
    [ "$PERF" = 1 ] && [ -s "$TMP/perf.$1" ] && [ -s "$TMP/perf.$2" ] || return 0
    perf_costs "$1" | sort -t$'\t' -k1,1 >"$TMP/perf.none.txt"
    perf_costs "$2" | sort -t$'\t' -k1,1 >"$TMP/perf.held.txt"
    say "  where holding's cost went (perf -a in the warm-ups; machine time per handshake, $(awk -F'\t' '{ s += $2 } END { printf "%.0f", s }' "$TMP/perf.held.txt") µs held against $(awk -F'\t' '{ s += $2 } END { printf "%.0f", s }' "$TMP/perf.none.txt") none held; the largest growths):"
    join -t$'\t' -a1 -a2 -e 0 -o 0,1.2,2.2 "$TMP/perf.none.txt" "$TMP/perf.held.txt" |
        awk -F'\t' '{ printf "%+.1f\t%.1f\t%.1f\t%s\n", $3 - $2, $3, $2, $1 }' | sort -t$'\t' -k1,1gr | head -8 |
        awk -F'\t' '{ split($4, f, "|"); printf "    %s µs (%s against %s): %s, %s %s\n", $1, $2, $3, f[1], f[2], f[3] }' | tee -a "$REPORT"
}

# rates_best LABEL SLOT: MANY_ROUNDS measures (each reported), then LABEL's line with the fastest
# round's handshakes (and their CPU) and the fastest round trips: on a shared machine other work
# can only slow a measure down, so the fastest round is the one least disturbed (the channel
# bench's rule too).
rates_best() {
    local r
    warm_up "$2"
    for r in $(seq "$ROUNDS"); do
        rates "$1, round $r" x
        if [ "${HS_x:-0}" -gt "$(slot HS "$2")" ]; then keep "$2" HS CPU WCPU IRQ; fi
        if [ "${RT_x:-0}" -gt "$(slot RT "$2")" ]; then keep "$2" RT; fi
    done
    rate_line "$1" "$2" " (fastest of $ROUNDS rounds)"
}

# idle_cpu: ws-worker's CPU over MANY_IDLE_SECS while it only holds the sockets: with pings on,
# each socket is pinged about once per interval (held / interval pings a second), and a measure
# one interval long that starts once all are open sees each socket's ping once.
# The host's PID 1 is measured beside it: on this VM it lists every process's descriptors each
# second (bench/wsload/park.h), so what it takes while the sockets are only held is their cost.
pid1_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/1/stat; }
idle_cpu() {
    local t0 t1 i0 i1
    t0=$(ticks) i0=$(pid1_ticks); sleep "$IDLE_SECS"; t1=$(ticks) i1=$(pid1_ticks)
    awk -v a="$i0" -v b="$i1" -v s="$IDLE_SECS" -v c="$(cat /proc/1/comm)" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        printf "the host'"'"'s PID 1 (%s) while they are held: %.1f ms of CPU a second\n", c, (b - a) * 1000 / hz / s }' | tee -a "$REPORT"
    awk -v a="$t0" -v b="$t1" -v s="$IDLE_SECS" -v h="$held" -v p="$PING" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        ms = (b - a) * 1000 / hz / s
        printf "ws-worker CPU while holding (%d s, %s): %.1f ms a second, %.3f ms a second per 1,000 held", s, (p > 0 ? "pings every " p " s" : "no pings"), ms, ms * 1000 / h
        if (p > 0) printf "; %.0f pings a second expected: %.1f µs of CPU a ping if it were all theirs", h / p, ms * 1000 / (h / p)
        printf "\n" }' | tee -a "$REPORT"
}

sqlite3 "$TMP/db" <schema.sql >/dev/null
sqlite3 "$TMP/db" "INSERT INTO auth_user (password, is_superuser, username, last_name, email, is_staff, is_active, date_joined, first_name) VALUES ('!', 0, 'many', '', '', 0, 1, datetime('now'), '')"
TOKEN=$(sqlite3 "$TMP/db" "SELECT key FROM authtoken_token")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# What the host allows before anything starts: descriptors (both ends of every loopback
# connection are here) and ports. The bench never takes fs.file-max's last FD_SPARE: running
# the whole host out of descriptors would break everything else on it.
fd_room=$(($(cat /proc/sys/fs/file-max) - $(fds_in_use) - FD_SPARE))
ports=$(awk '{ print $2 - $1 + 1 }' /proc/sys/net/ipv4/ip_local_port_range)
TARGET=$N LIMIT=
if [ $((fd_room / 2)) -lt "$TARGET" ]; then TARGET=$((fd_room / 2)) LIMIT="descriptors (fs.file-max $(cat /proc/sys/fs/file-max), $(fds_in_use) in use, $FD_SPARE left to the host)"; fi
if [ $((SOURCES * ports)) -lt "$TARGET" ]; then TARGET=$((SOURCES * ports)) LIMIT="ports ($SOURCES sources x $ports)"; fi

# The workers' stderr is a pipe, as under systemd (a stream to journald): hundreds of processes
# appending to one shared regular file queue on its file-position lock in the kernel, a cost
# of the redirection, not of ws-worker.
mkfifo "$TMP/log.fifo"
cat "$TMP/log.fifo" >"$TMP/ws.log" &
LOGCAT=$!
setsid env TOKENAUTH_WS_PING_INTERVAL="$PING" "$BUILD/ws-worker" --db "$TMP/db" --port "$PORT" \
    --workers 0 --max-connections "$N" >"$TMP/log.fifo" 2>&1 &
SRV=$!
for _ in $(seq 3000); do  # up to 10 minutes: thousands of workers start 64 at a time
    want=$(sed -n 's/.*msg="--workers 0 and [0-9]* connections: \([0-9]*\) processes.*/\1/p' "$TMP/ws.log")
    [ -n "$want" ] && [ "$(grep -c event=listen "$TMP/ws.log")" -ge "$want" ] && break
    sleep 0.2
done
# Until the workers are idle (their first database checks done; thousands start at once): less
# than 50 ms of CPU a second in all, or 120 s. The rate with none held must not be taken while
# they are still starting.
wait_idle() {
    local t0 t1
    for _ in $(seq 120); do
        t0=$(ticks); sleep 1; t1=$(ticks)
        [ $(((t1 - t0) * 1000 / $(getconf CLK_TCK))) -lt 50 ] && break
    done
}
wait_idle
say "command: bench/many.sh $N (MANY_SOURCES=$SOURCES MANY_PER_CLIENT=$PER MANY_PARALLEL=$PARALLEL MANY_SECS=$SECS MANY_ROUNDS=$ROUNDS MANY_WARMUP=$WARMUP MANY_RETRIES=$RETRIES MANY_PING_INTERVAL=$PING MANY_IDLE_SECS=$IDLE_SECS MANY_PARK=$PARK MANY_NETNS=$NETNS MANY_CYCLES=$CYCLES MANY_PERF=$PERF)"
say "TCP established hash of this network namespace: $(cat /proc/sys/net/ipv4/tcp_ehash_entries 2>/dev/null || echo '?') buckets (negative: the host's, shared)"
say "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo +dirty); $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "ws-worker: $(worker_pids | wc -l) processes listening, $(grep -o '[0-9]* lws contexts*"' "$TMP/ws.log" | head -1 | tr -d '"') each; $(grep -o 'msg=.*' "$TMP/ws.log" | grep 'workers 0' | head -1)"
[ -n "$LIMIT" ] && say "the host allows at most $TARGET of $N: $LIMIT"
# Opens the sockets MANY_PER_CLIENT at a time, MANY_PARALLEL processes at once. Each wsload
# prints "idle: K of C connections open" once all are open, or fewer when some failed (it then
# ends, closing them): that is where a limit shows. With MANY_PARK=1 a batch is done once it
# has also said how many it parked. Sets held, t_open, stopped_by and CLIENTS; each cycle's
# wsloads write into a folder of their own ($CYCLE_DIR).
batch_done() {  # the file of a finished batch: adds its count; a short one names why
    local f=$1 k c why
    read -r k c <<<"$(sed -n 's/.*idle: \([0-9]*\) of \([0-9]*\) connections open.*/\1 \2/p' "$f")"
    if [ -n "$k" ] && [ "$k" = "$c" ]; then held=$((held + k)); return 0; fi
    why=$(grep -o 'last_close=[0-9]* last_errno=[0-9]* (.*)' "$f" | head -1)
    stopped_by="a wsload of $c sockets opened ${k:-?}: $why (held before it: $held)"
    return 1
}
batch_end='connections open\|aborted' park_arg=()
[ "$PARK" = 1 ] && batch_end='connections parked\|aborted' park_arg=(--park)
open_all() {
    local f c started=0
    local -A pending=()
    held=0 stopped_by= t_open=$(date +%s)
    while :; do
        for f in "${!pending[@]}"; do
            if grep -q "$batch_end" "$f" 2>/dev/null; then
                unset "pending[$f]"
                batch_done "$f" || break 2
            fi
        done
        if [ "$OPEN_DEADLINE" -gt 0 ] && [ $(($(date +%s) - t_open)) -ge "$OPEN_DEADLINE" ]; then
            stopped_by="time: MANY_OPEN_DEADLINE=$OPEN_DEADLINE s (not a limit of the host)"
            break
        fi
        if [ "$(avail_mib)" -lt "$MIN_AVAIL_MIB" ]; then
            stopped_by="memory: MemAvailable $(avail_mib) MiB < $MIN_AVAIL_MIB MiB"
            break
        fi
        if [ "${#pending[@]}" -lt "$PARALLEL" ] && [ "$started" -lt "$TARGET" ]; then
            c=$((TARGET - started < PER ? TARGET - started : PER))
            f=$CYCLE_DIR/idle${#CLIENTS[@]}.out
            "$TOOLS/wsload" --mode idle -c "$c" -d 0 --sources "$SOURCES" --source-base 2 --port "$PORT" \
                --open-timeout 900 --retries "$RETRIES" --token "$TOKEN" "${park_arg[@]}" >"$f" 2>/dev/null &
            CLIENTS+=($!)
            pending[$f]=$!
            started=$((started + c))
            continue
        fi
        [ "${#pending[@]}" -eq 0 ] && break
        sleep 0.2
    done
    t_open=$(($(date +%s) - t_open))
    [ -z "$stopped_by" ] && [ "$held" -lt "$N" ] && stopped_by=$LIMIT
    # A batch still opening when the bench stopped (memory, time) is stopped and not counted: it
    # closes its sockets as it ends.
    for f in "${!pending[@]}"; do
        kill -INT "${pending[$f]}" 2>/dev/null
        wait "${pending[$f]}" 2>/dev/null
    done
    sleep 2
}
# clients_sum SED: the sum of one number over this cycle's holding wsloads' outputs (SED prints it)
clients_sum() { cat "$CYCLE_DIR"/idle*.out 2>/dev/null | sed -n "$1" | awk '{ s += $1 } END { print s + 0 }'; }
memory_before() {
    rss0=$(kib Rss) pss0=$(kib Pss) mem0=$(sock_pages) slab0=$(slab_kib) avail0=$(avail_mib) fd0=$(fds_in_use)
    slab_each | sort >"$TMP/slab0"
}
# memory_report: what the held sockets cost, against memory_before's figures.
memory_report() {
    rss1=$(kib Rss) pss1=$(kib Pss) mem1=$(sock_pages) slab1=$(slab_kib) avail1=$(avail_mib) fd1=$(fds_in_use)
    slab_each | sort >"$TMP/slab1"
    awk -v h="$held" -v a="$rss0" -v b="$rss1" -v p="$pss0" -v q="$pss1" -v m0="$mem0" -v m1="$mem1" \
        -v s0="$slab0" -v s1="$slab1" -v v0="$avail0" -v v1="$avail1" -v f0="$fd0" -v f1="$fd1" 'BEGIN {
        printf "ws-worker RSS (sum over the workers): %.0f MiB before, %.0f MiB after: %.2f KiB per socket\n", a / 1024, b / 1024, (b - a) / h
        printf "ws-worker PSS (shared pages split): %.0f MiB before, %.0f MiB after: %.2f KiB per socket\n", p / 1024, q / 1024, (q - p) / h
        printf "kernel slab (TCP, sock_inode_cache, dentry, filp, eventpoll_*): +%.0f MiB: %.2f KiB per connection, both ends (%.2f per socket end)\n", (s1 - s0) / 1024, (s1 - s0) / h, (s1 - s0) / h / 2
        printf "kernel TCP buffers (sockstat mem): +%.1f MiB: %.3f KiB per connection, both ends\n", (m1 - m0) * 4 / 1024, (m1 - m0) * 4 / h
        printf "MemAvailable: %.1f GiB before, %.1f GiB after: %.2f KiB per connection, everything (server, client, kernel)\n", v0 / 1024, v1 / 1024, (v0 - v1) * 1024 / h
        printf "descriptors in use: %d before, %d after\n", f0, f1 }' | tee -a "$REPORT"
    join "$TMP/slab0" "$TMP/slab1" | awk -v h="$held" '{ printf "  %-18s %9d -> %9d objects of %4d bytes: %+.0f bytes per connection\n", $1, $2, $4, $5, ($4 * $5 - $2 * $3) / h }' | tee -a "$REPORT"
}
# own_share NONE HELD: what the handshakes themselves took in two measures (slots): ws-worker,
# the measuring wsload and the cores' softirq time per handshake. The rest of the machine's time
# (the host's own processes, idle cores) is not tokenauth's, and moves from minute to minute on
# this VM; their ratio is the rate ratio a host that ran nothing else would see.
own_share() {
    awk -v c0="$(slot CPU "$1")" -v w0="$(slot WCPU "$1")" -v i0="$(slot IRQ "$1")" \
        -v c1="$(slot CPU "$2")" -v w1="$(slot WCPU "$2")" -v i1="$(slot IRQ "$2")" 'BEGIN {
        a = c0 + w0 + i0; b = c1 + w1 + i1; if (a <= 0 || b <= 0) exit
        printf "  the handshakes'"'"' own cost (ws-worker, the measuring wsload, softirq): %.0f µs none held (%.0f + %.0f + %.0f), %.0f µs held (%.0f + %.0f + %.0f): none/held %.2f, the rate ratio without the rest of the machine'"'"'s time\n", a, c0, w0, i0, b, c1, w1, i1, a / b }' | tee -a "$REPORT"
}
# close_all: stops this cycle's holding wsloads; each one's summary (on SIGINT) counts the
# sockets it still had.
close_all() {
    kill -INT "${CLIENTS[@]}" 2>/dev/null
    wait "${CLIENTS[@]}" 2>/dev/null
    CLIENTS=()
    say "still held at the end$tag: $(clients_sum 's/.*mode=idle.* open=\([0-9]*\).*/\1/p')"
}

rates_best "none held" n0
memory_before
held_any=0 ratios=()
for cycle in $(seq "$CYCLES"); do
    tag=$([ "$CYCLES" -gt 1 ] && echo " (cycle $cycle of $CYCLES)")
    CYCLE_DIR=$TMP/cycle$cycle before=n$((cycle - 1))
    mkdir -p "$CYCLE_DIR"
    open_all
    say "sockets held$tag: $held of $N, each proven by one answered hello ($t_open s to open; $(worker_pids | wc -l) ws-worker processes; $(clients_sum 's/.*connections open (retried \([0-9]*\)).*/\1/p') reset while opening and tried again)"
    [ "$PARK" = 1 ] && say "parked out of the clients' descriptor tables: $(clients_sum 's/.*idle: \([0-9]*\) of [0-9]* connections parked.*/\1/p') of $held$(grep -h -o 'the rest held as usual: .*' "$CYCLE_DIR"/idle*.out 2>/dev/null | head -1 | sed 's/^/ (/; s/$/)/')"
    [ -n "$stopped_by" ] && say "stopped by: $stopped_by"
    if [ "$held" -gt 0 ]; then
        held_any=$held
        # Memory once: the workers keep what they allocated for the first cycle's sockets, so
        # a later cycle's "after minus before" would not be what a socket costs.
        [ "$cycle" = 1 ] && memory_report
        idle_cpu
        rates_best "$held held$tag" "h$cycle"
        awk -v a="$(slot HS "$before")" -v b="$(slot HS "h$cycle")" -v c="$(slot CPU "$before")" -v d="$(slot CPU "h$cycle")" \
            -v r0="$(slot RT "$before")" -v r1="$(slot RT "h$cycle")" -v tag="$tag" 'BEGIN {
            if (a > 0) printf "handshake rate held/none%s: %.2f (target 0.8); ws-worker CPU per handshake held/none: %.2f; round trips held/none: %.2f\n", tag, b / a, (c > 0 ? d / c : 0), (r0 > 0 ? r1 / r0 : 0) }' | tee -a "$REPORT"
        own_share "$before" "h$cycle"
        perf_growth "$before" "h$cycle"
    fi
    close_all
    [ "$held" -gt 0 ] || break
    # The rate with none held again, now that all are closed and the workers idle: a second look
    # at the denominator, which wanders from run to run more than the held rate does.
    wait_idle
    rates_best "none held again$tag" "n$cycle"
    awk -v a="$(slot HS "n$cycle")" -v b="$(slot HS "h$cycle")" -v c="$(slot HS "$before")" -v tag="$tag" 'BEGIN {
        if (a > 0) printf "handshake rate held / none held again%s: %.2f (held / the faster of the two none-held measures: %.2f)\n", tag, b / a, b / (a > c ? a : c) }' | tee -a "$REPORT"
    own_share "n$cycle" "h$cycle"
    ratios+=("$(awk -v a="$(slot HS "$before")" -v b="$(slot HS "h$cycle")" -v c="$(slot HS "n$cycle")" 'BEGIN { printf "%.2f", (a + c > 0 ? 2 * b / (a + c) : 0) }')")
done
# median LIST...: the middle value (the mean of the two middle ones for an even count)
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
[ "${#ratios[@]}" -gt 0 ] && say "held / the mean of the none-held measures before and after it, over ${#ratios[@]} cycle(s): ${ratios[*]}; median $(median "${ratios[@]}") (target 0.8)"
grep -h 'event=error\|level=error' "$TMP/ws.log" | head -3 | tee -a "$REPORT"
[ -n "${MANY_RESULTS:-}" ] && cp "$REPORT" "$MANY_RESULTS"
[ "$held_any" -gt 0 ]
