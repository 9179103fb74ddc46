#!/bin/bash
# run.sh -- the browser tests: installs their npm dependency (playwright-core, pinned in
# package-lock.json) into tests/browser/node_modules when missing, then runs browser.mjs, which
# starts the stack with scripts/run.sh on free ports and drives Debian's headless Chromium.
#
# If Chromium, Node.js or playwright-core cannot be had, this says so loudly and counts as a
# failure, never as a pass or a skip. Ends with "browser: N passed, N failed, N skipped".
# It proves that rule first, by running itself and browser.mjs with CHROMIUM pointing nowhere.
# Environment: TOKENAUTH_BIN, TOKENAUTH_EXT, TOKENAUTH_TEST_OUT (set by tests/run.sh), CHROMIUM.
set -u
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

cannot_run() {
    echo "not ok - browser tests can run"
    echo "  ************************************************************"
    echo "  BROWSER TESTS CANNOT RUN: $*"
    echo "  ************************************************************"
    echo "browser: 0 passed, 1 failed, 0 skipped"
    exit 1
}

if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    "$ROOT/scripts/install-deps.sh" test >&2 || true
fi
[ -x "$CHROMIUM" ] || cannot_run "no Chromium at $CHROMIUM (Debian package chromium)"
command -v node >/dev/null || cannot_run "no node (Debian package nodejs)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] 2>/dev/null || cannot_run "node $(node --version) is too old: playwright-core needs 20 or later"

if [ ! -f node_modules/playwright-core/package.json ]; then
    command -v npm >/dev/null || cannot_run "no npm to install playwright-core"
    echo "# installing playwright-core into tests/browser/node_modules (npm ci)" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2 ||
        cannot_run "npm ci could not install playwright-core (is the npm registry reachable?)"
fi

# Self-check of the rule above: with Chromium hidden (CHROMIUM pointing nowhere), both this
# script and browser.mjs must end in a counted failure that says so, never a pass or a skip.
# Counted as cases of this suite; browser.mjs adds them to its own closing line.
pre_passed=0 pre_failed=0
if [ -z "${BROWSER_SELF_CHECK:-}" ]; then
    for how in run.sh browser.mjs; do
        if [ $how = run.sh ]; then
            out=$(BROWSER_SELF_CHECK=1 CHROMIUM=/nonexistent/chromium bash ./run.sh 2>&1)
        else
            out=$(CHROMIUM=/nonexistent/chromium node browser.mjs 2>&1)
        fi
        rc=$?
        if [ $rc != 0 ] && grep -q 'BROWSER TESTS CANNOT RUN' <<<"$out" &&
            grep -qx 'browser: 0 passed, 1 failed, 0 skipped' <<<"$out"; then
            echo "ok - without Chromium, $how fails loudly (a counted failure, no pass)"
            pre_passed=$((pre_passed + 1))
        else
            echo "not ok - without Chromium, $how fails loudly (a counted failure, no pass)"
            sed 's/^/  /' <<<"exit $rc: $out"
            pre_failed=$((pre_failed + 1))
        fi
    done
fi

BROWSER_PRE_PASSED=$pre_passed BROWSER_PRE_FAILED=$pre_failed exec node browser.mjs
