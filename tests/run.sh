#!/bin/bash
# run.sh -- runs every test of tokenauth and prints one closing line:
#   tests: N passed, N failed, N skipped
#
# Each suite is a program that prints "ok - ...", "not ok - ..." and "skip - ..." lines and ends
# with "<name>: N passed, N failed, N skipped"; this script adds those counts up. A suite that
# exits non-zero without counting a failure, prints no closing line, or runs past its timeout
# counts as one failure. Suites, in order: unit (optimised, then ASan+UBSan), then every
# tests/integration/test_*.py and tests/browser/run.sh, against the ASan+UBSan binaries.
#
# Environment: BUILD (default build), TESTS (a grep pattern to run only matching suites),
# SUITE_TIMEOUT seconds per suite (default 1800: it only bounds a hang; test_bench takes about
# 8 minutes on a shared 2-core machine under load), TEST_OUT (default tests/out) for the output of
# each suite.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-1800}
out=${TEST_OUT:-tests/out}          # each run may have its own (parallel runs in one tree)
export TOKENAUTH_BIN="$PWD/$BUILD/asan"          # binaries the integration tests run
export TOKENAUTH_EXT="$PWD/$BUILD/tokenauth.so"    # the sqlite3 extension they load
export TOKENAUTH_TOOLS="$PWD/$BUILD/tools"
mkdir -p "$out" && out=$(cd "$out" && pwd)
export TOKENAUTH_TEST_OUT="$out"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for program in login-fcgi ws-worker unit-tests; do
    if [ ! -x "$BUILD/asan/$program" ] || [ ! -x "$BUILD/$program" ]; then
        echo "tests/run.sh: $BUILD/$program or $BUILD/asan/$program is missing: run 'make test'" \
            "(or 'make all asan' first)" >&2
        echo "tests: 0 passed, 1 failed, 0 skipped"
        exit 1
    fi
done

suites=("unit:$BUILD/unit-tests" "unit-asan:$BUILD/asan/unit-tests")
for f in tests/integration/test_*.py; do
    [ -e "$f" ] && suites+=("$(basename "$f" .py):/usr/bin/python3 $f")
done
# The worker's main suites again on libev (TOKENAUTH_WS_EVENT_LIB=libev): --workers 0 picks it
# for large processes, so every behaviour must hold on both loops.
for t in test_ws_worker test_ws_revocation_log test_ws_channels_smoke; do
    [ -e "tests/integration/$t.py" ] &&
        suites+=("$t-libev:env TOKENAUTH_WS_EVENT_LIB=libev /usr/bin/python3 tests/integration/$t.py")
done
# And with 16 lws contexts per process on that loop (TOKENAUTH_WS_CONTEXT_SIZE=1: at most 16),
# consecutive connections in different contexts: sessions, revocation, channels and shutdown
# must not depend on which context holds a connection.
for t in test_ws_worker test_ws_revocation_log test_ws_channels_smoke; do
    [ -e "tests/integration/$t.py" ] &&
        suites+=("$t-contexts:env TOKENAUTH_WS_EVENT_LIB=libev TOKENAUTH_WS_CONTEXT_SIZE=1 /usr/bin/python3 tests/integration/$t.py")
done
[ -e tests/browser/run.sh ] && suites+=("browser:tests/browser/run.sh")

passed=0 failed=0 skipped=0
for entry in "${suites[@]}"; do
    name=${entry%%:*}
    cmd=${entry#*:}
    if [ -n "${TESTS:-}" ] && ! grep -qE "$TESTS" <<<"$name"; then continue; fi
    log="$out/$name.log"
    start=$(date +%s)
    timeout -k 10 "$SUITE_TIMEOUT" $cmd >"$log" 2>&1
    rc=$?
    summary=$(grep -E '^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
    p=0 f=0 s=0
    if [ -n "$summary" ]; then
        read -r p f s < <(sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/' <<<"$summary")
        s=${s:-0}
    fi
    why=""
    if [ $rc = 124 ] || [ $rc = 137 ]; then why="timed out after ${SUITE_TIMEOUT}s"
    elif [ -z "$summary" ]; then why="exit $rc, no closing count line"
    elif [ $rc != 0 ] && [ "$f" = 0 ]; then why="exit $rc"
    fi
    [ -n "$why" ] && f=$((f + 1))
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    secs=$(( $(date +%s) - start ))
    if [ "$f" = 0 ]; then
        printf 'ok - %s: %s passed, %s skipped (%ss)\n' "$name" "$p" "$s" "$secs"
    else
        printf 'not ok - %s: %s passed, %s failed, %s skipped (%ss) %s\n' "$name" "$p" "$f" "$s" "$secs" "$why"
        grep -E '^(not ok|  )' "$log" | head -n 40 | sed 's/^/    /'
        echo "    (whole output: $log)"
    fi
    grep -E '^skip - ' "$log" | head -n 20 | sed 's/^/    /'
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
