"""test_bench.py -- the benchmark tools work, and prove what they count (issue 3).

Not a measurement: timings are never asserted (the figures come from `make bench`). These cases
check that bench/run.sh runs its WebSocket part end to end in a few seconds and prints a full
table, writes the same table into its results file (BENCH_RESULTS, here a temporary path, so
docs/bench-results.md is never touched) headed with date, commit and machine, that wsload refuses bad arguments clearly, and that a handshake wsload counts is an
authenticated one: with a wrong token, the close-frame forms report the server's 4401 as errors
and the idle mode opens nothing, and the bench's check on --close rst (ws-worker's own connect
log) tells accepted tokens from mere 101s.

Uses the optimised $TOKENAUTH_TOOLS/{wsload,lwsecho} and the ws-worker beside them, as
bench/run.sh does; no wrk or lighttpd (the login part is not run here)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import ROOT, TOOLS, case, check, check_eq, finish, run_cases  # noqa: E402

WSLOAD = os.path.join(TOOLS, "wsload")
BUILD_DIR = os.path.dirname(TOOLS)  # $BUILD: bench/run.sh takes it relative to the root
WORKER = os.path.join(BUILD_DIR, "ws-worker")


def wsload(*args, timeout=60):
    r = subprocess.run([WSLOAD] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def summary(stdout):
    """The key=value pairs of wsload's summary line."""
    line = [l for l in stdout.splitlines() if l.startswith("wsload: mode=")]
    return dict(re.findall(r"(\w+)=(\S+)", line[-1])) if line else {}


def test_wsload_arguments():
    case("b1. wsload --help, and a clear message with exit 2 for each bad argument")
    rc, out, _ = wsload("--help")
    check(rc == 0 and "--close ws|ws-rst|rst" in out, (rc, out[-300:]))
    for args, says in [(["--mode", "bogus"], "--mode"),
                       (["--close", "fin"], "expected ws, ws-rst or rst"),
                       (["--port", "0"], "--port"),
                       (["--connections", "x"], "--connections"),
                       (["--duration", "0", "--mode", "handshakes"], "only for idle"),
                       (["--auth", "protocol"], "--protocol VALUE"),
                       (["--host", "localhost", "--duration", "1"], "numeric IPv4")]:
        rc, out, err = wsload(*args)
        check(rc != 0 and says in err, (args, rc, err[-300:]))


def test_counts_only_authenticated():
    db = harness.make_db("bench.sqlite3", users=[("ann", "pw", {"email": "a@example.com"})])
    key = harness.token_of(db, "ann")
    port = harness.free_port()
    p = harness.start([WORKER, "--db", db, "--port", str(port), "--workers", "1"],
                      log_name="bench-ws-worker-%d" % port)
    harness.wait_port(port)
    bad = "0" * 40
    case("b2. a wrong token: the close-frame forms count the 4401 as errors, exit 1")
    for close in ("ws", "ws-rst"):
        rc, out, _ = wsload("--mode", "handshakes", "--close", close, "-c", "2", "-d", "0.3",
                            "--port", str(port), "--token", bad)
        s = summary(out)
        check(rc == 1 and int(s.get("errors", 0)) > 0 and s.get("last_close") == "4401",
              (close, rc, out[-300:]))
    case("b3. a wrong token in idle mode: no connection counts as open, exit 1")
    rc, out, _ = wsload("--mode", "idle", "-c", "3", "-d", "1", "--port", str(port),
                        "--token", bad)
    check(rc == 1 and "0 of 3 connections open" in out, (rc, out[-300:]))
    case("b4. the right token: every form counts handshakes, none an error; the token is "
         "never printed")
    for close in ("ws", "ws-rst", "rst"):
        rc, out, err = wsload("--mode", "handshakes", "--close", close, "-c", "2", "-d", "0.3",
                              "--port", str(port), "--token", key)
        s = summary(out)
        check(rc == 0 and int(s.get("total", 0)) > 0 and s.get("errors") == "0",
              (close, rc, out[-300:]))
        check(key not in out + err, "token printed")
    harness.stop(p)


def test_bench_script():
    case("b5. bench/run.sh, WebSocket part, tiny durations: a full table, every figure a number")
    results = os.path.join(harness.OUT, "bench-results.md")
    if os.path.exists(results):
        os.remove(results)
    docs_before = docs_results()
    tmpdir = os.path.join(harness.TMP, "bench-tmp")  # its own: other runs may share /tmp
    os.makedirs(tmpdir, exist_ok=True)
    env = dict(os.environ, BUILD=os.path.relpath(BUILD_DIR, ROOT), BENCH_ONLY="lwsecho|ws1",
               BENCH_WS_SECONDS="0.3", BENCH_REPEAT="1", BENCH_IDLE="40", BENCH_RESULTS=results,
               TMPDIR=tmpdir)
    r = subprocess.run(["bash", "bench/run.sh"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    rows = [l for l in r.stdout.splitlines() if l.startswith("| ") and "measure" not in l]
    check_eq(r.returncode, 0, "exit status; stderr: %s" % r.stderr[-500:])
    for what in ("--close ws (", "--close ws-rst (", "--close rst (", "1 in flight",
                 "8 in flight", "RSS KiB per idle connection, 40 open"):
        for server in ("bare libwebsockets", "ws-worker"):
            check(any(what in l and server in l for l in rows), (what, server))
    check_eq(len(rows), 12, "rows")
    for l in rows:
        figure = l.split("|")[2].strip()
        check(re.match(r"^\d+(\.\d+)?( |$)", figure) is not None, l)
    proofs = re.findall(r"logged (\d+) accepted tokens for (\d+) handshakes", r.stdout)
    check_eq(len(proofs), 3, "one proof per close form against ws-worker")
    check(all(int(a) >= int(b) > 0 for a, b in proofs), proofs)
    check("Commands" in r.stdout and "wsload --mode idle" in r.stdout, r.stdout[-300:])
    case("b5b. bench/run.sh writes the same table into BENCH_RESULTS, headed with date (UTC), "
         "commit, machine and the run's settings; docs/bench-results.md is left alone")
    check(os.path.exists(results), "no " + results)
    text = open(results).read() if os.path.exists(results) else ""
    check(text.startswith("# Benchmark results\n"), text[:200])
    check(re.search(r"^- date: \d{4}-\d\d-\d\d \d\d:\d\d UTC$", text, re.M), text[:400])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    if head:
        check(re.search(r"^- commit: %s(\+dirty)?$" % re.escape(head), text, re.M), text[:400])
    cores = len(os.sched_getaffinity(0))
    check(re.search(r"^- machine: %d cores \(nproc\), \S" % cores, text, re.M), text[:400])
    check("`BENCH_ONLY=lwsecho|ws1`" in text and "`BENCH_REPEAT=1`" in text, text[:400])
    check_eq([l for l in text.splitlines() if l.startswith("| ") and "measure" not in l], rows,
             "the results file's rows vs the printed table")
    check("wsload --mode idle" in text, text[-300:])
    check_eq(docs_results(), docs_before, "docs/bench-results.md")
    case("b6. bench/run.sh leaves no process and no temporary folder behind")
    left = subprocess.run(["pgrep", "-f", re.escape(os.path.join(TOOLS, "lwsecho"))],
                          capture_output=True, text=True).stdout.split()
    check_eq(left, [], "lwsecho processes left")
    check_eq(os.listdir(tmpdir), [], "what bench/run.sh left in its TMPDIR")


def docs_results():
    path = os.path.join(ROOT, "docs", "bench-results.md")
    return open(path).read() if os.path.exists(path) else None


if __name__ == "__main__":
    os.makedirs(harness.OUT, exist_ok=True)
    run_cases(test_wsload_arguments, test_counts_only_authenticated, test_bench_script)
    finish("bench")
