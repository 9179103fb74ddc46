#!/bin/bash
# keepalive.sh -- what one handshake costs a ws-worker process that already holds many idle
# sockets, with and without pings: issue #12's O(sockets held) timer insert of lws 4.1's own
# ping timer, against ws-worker/keepalive.c. Not part of `make test` or `make bench`.
#
# Usage: bench/keepalive.sh [BUILD...]   each a build folder (default: build); give the folder
#        of a build before the change too (e.g. a `git archive` of the older commit, built) to
#        compare both in one run.
# Settings (environment):
#   KA_HELD       idle sockets the one worker holds while measuring (15000; the descriptor hard
#                 limit, 20,000 here, bounds both the worker and the wsload holding them)
#   KA_INTERVALS  TOKENAUTH_WS_PING_INTERVAL values to run (0 30)
#   KA_SECS       seconds per handshake measure (5)
#   KA_IDLE_SECS  also measure the worker's CPU over so many seconds with the sockets held and
#                 no handshakes (0: not); with an interval shorter than that, every held socket
#                 is pinged and answers meanwhile (KA_INTERVALS=5 KA_IDLE_SECS=20: 3,000 pings
#                 and pongs a second at 15,000 held)
#   KA_RESULTS    also write the report to this file
#   KA_CALLGRIND  1: run the worker under valgrind --tool=callgrind and report instructions per
#                 handshake (all of the worker's, and those in lws_dll2_add_sorted, the sorted
#                 timer insert of issue #12): counts, not time, so a busy machine does not move
#                 them. Slow: use a smaller KA_HELD (5000) and KA_SECS 10.
# For each build and interval: one worker (--workers 1 --max-connections 19000), its handshake
# rate (wsload --mode handshakes --close ws-rst -c 64) and its CPU per handshake (utime + stime
# of /proc/<pid>/stat over the measure, divided by the handshakes) with none held, then with
# KA_HELD held by wsload --mode idle (which answers pings) from other source addresses. Every
# process it started is stopped on exit.
set -u
cd "$(dirname "$0")/.."
HELD=${KA_HELD:-15000} INTERVALS=${KA_INTERVALS:-0 30} SECS=${KA_SECS:-5} CG=${KA_CALLGRIND:-0}
IDLE_SECS=${KA_IDLE_SECS:-0}
BUILDS=("$@")
[ ${#BUILDS[@]} -eq 0 ] && BUILDS=(build)
TOOLS=build/tools
for b in "${BUILDS[@]}"; do
    [ -x "$b/ws-worker" ] || { echo "keepalive.sh: $b/ws-worker missing" >&2; exit 2; }
done
[ -x "$TOOLS/wsload" ] || { echo "keepalive.sh: $TOOLS/wsload missing: make all" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokenauth-keepalive.XXXXXX")
SRV= IDLE=
stop_all() {
    [ -n "$IDLE" ] && kill -INT "$IDLE" 2>/dev/null && wait "$IDLE" 2>/dev/null
    [ -n "$SRV" ] && kill -TERM "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
    SRV= IDLE=
}
trap 'stop_all; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
REPORT=$TMP/report
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$SRV/stat"; }

sqlite3 "$TMP/db" <schema.sql >/dev/null
sqlite3 "$TMP/db" "INSERT INTO auth_user (password, is_superuser, username, last_name, email, is_staff, is_active, date_joined, first_name) VALUES ('!', 0, 'ka', '', '', 0, 1, datetime('now'), '')"
TOKEN=$(sqlite3 "$TMP/db" "SELECT key FROM authtoken_token")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# instructions N: with KA_CALLGRIND, the worker's instructions since the last zeroing, per
# handshake of N (all, and in lws_dll2_add_sorted), from a dump made now.
instructions() {
    [ "$CG" = 1 ] || return 0
    callgrind_control -d "$SRV" >/dev/null 2>&1
    local f
    f=$(ls -t "$TMP"/cg.out.* | head -1)
    callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null | awk -v n="$1" '
        /PROGRAM TOTALS/ { gsub(",", "", $1); all = $1 }
        /:lws_dll2_add_sorted \[/ && $2 ~ /^\(/ && !seen++ { gsub(",", "", $1); sorted = $1 }
        END { if (n > 0) printf "    instructions per handshake: %.0f, of which in lws_dll2_add_sorted %.0f\n", all / n, sorted / n }' |
        tee -a "$REPORT"
    callgrind_control -i off "$SRV" >/dev/null 2>&1
}

# measure LABEL: handshakes/s and the worker's CPU per handshake over KA_SECS.
measure() {
    local t0 t1 out total rate
    [ "$CG" = 1 ] && callgrind_control -i on "$SRV" >/dev/null 2>&1 && callgrind_control -z "$SRV" >/dev/null 2>&1
    t0=$(ticks)
    out=$("$TOOLS/wsload" --mode handshakes --close ws-rst -c 64 -d "$SECS" --port "$PORT" --token "$TOKEN" 2>/dev/null)
    t1=$(ticks)
    total=$(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$out")
    rate=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")
    say "$(awk -v l="$1" -v r="${rate:-0}" -v a="$t0" -v b="$t1" -v n="${total:-0}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "  %-22s handshakes/s %6d   ws-worker CPU per handshake %7.1f µs\n", l, r, (n > 0 ? (b - a) * 1e6 / hz / n : 0) }')"
    grep -q ' errors=0 ' <<<"$out" || say "    (wsload: $(grep -o 'errors=[0-9]*.*' <<<"$out" | head -1))"
    instructions "${total:-0}"
}

# idle_cpu: the worker's CPU per second over KA_IDLE_SECS, holding the sockets, no handshakes.
idle_cpu() {
    local t0 t1
    t0=$(ticks)
    sleep "$IDLE_SECS"
    t1=$(ticks)
    say "$(awk -v a="$t0" -v b="$t1" -v s="$IDLE_SECS" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "  idle, %d s               ws-worker CPU %.1f ms a second", s, (b - a) * 1000 / hz / s }')"
}

# hold: KA_HELD idle sockets from 127.0.0.2.., each proven by an answered hello. 0 or 1.
hold() {
    "$TOOLS/wsload" --mode idle -c "$HELD" -d 0 --sources 2 --source-base 2 --port "$PORT" \
        --open-timeout 600 --token "$TOKEN" >"$TMP/idle.out" 2>/dev/null &
    IDLE=$!
    for _ in $(seq 6000); do
        grep -q 'connections open\|aborted' "$TMP/idle.out" && break
        kill -0 "$IDLE" 2>/dev/null || break # it died (killed from outside)
        sleep 0.1
    done
    grep -q "idle: $HELD of $HELD" "$TMP/idle.out"
}

say "command: bench/keepalive.sh ${BUILDS[*]} (KA_HELD=$HELD KA_INTERVALS='$INTERVALS' KA_SECS=$SECS KA_CALLGRIND=$CG KA_IDLE_SECS=$IDLE_SECS)"
say "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo +dirty); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for b in "${BUILDS[@]}"; do
    for i in $INTERVALS; do
        PORT=$(free_port)
        run=()
        [ "$CG" = 1 ] && run=(valgrind --tool=callgrind --instr-atstart=no
            "--callgrind-out-file=$TMP/cg.out.%p")
        TOKENAUTH_WS_PING_INTERVAL=$i "${run[@]}" "$b/ws-worker" --db "$TMP/db" --port "$PORT" \
            --workers 1 --max-connections 19000 >"$TMP/ws.log" 2>&1 &
        SRV=$!
        for _ in $(seq 600); do grep -q event=listen "$TMP/ws.log" && break; sleep 0.1; done
        say "$b/ws-worker, TOKENAUTH_WS_PING_INTERVAL=$i:"
        measure "none held"
        t=$(date +%s%N)
        if hold; then
            say "  opened $HELD in $(( ($(date +%s%N) - t) / 1000000 )) ms"
            measure "$HELD held"
            [ "$IDLE_SECS" -gt 0 ] && idle_cpu
        else
            say "  could not hold $HELD: $(tail -1 "$TMP/idle.out")"
        fi
        stop_all
    done
done
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${KA_RESULTS:-}" ] && cp "$REPORT" "$KA_RESULTS"
exit 0
