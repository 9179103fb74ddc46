#!/usr/bin/env python3
"""login_profile.py -- instructions per login, by callgrind, for login-fcgi and fcgi_fixed.

Wall-clock rates on a shared host move with whatever else runs; instruction counts do not. This
runs a FastCGI responder under `valgrind --tool=callgrind` on a Unix socket (fd 0, as lighttpd's
bin-path does), sends it N logins one connection each (the parameters lighttpd sends for
bench/login.lua's request: form body, users bench0..bench99 at 1 PBKDF2 iteration, tokens
already made), stops it with SIGTERM and reads callgrind's total. It does so twice, for N1 and N2
logins, so that start-up and the first request's preparations cancel out:

    per login = (Ir(N2) - Ir(N1)) / (N2 - N1)

Usage: bench/login_profile.py [BUILD]   (BUILD: the build folder, build by default)
Environment: PROFILE_N1 (50), PROFILE_N2 (550), PROFILE_KEEP=DIR keeps the callgrind files there
(callgrind_annotate DIR/login-fcgi-550.out for the line by line cost), TOKENAUTH_* passed on.
Prints one line per responder and their ratio. Needs valgrind and sqlite3's schema.sql.
PROFILE_TOOL=strace counts system calls per login the same way instead (`strace -f -c`, the
same difference of two runs), with the calls by name. PROFILE_PAUSE_S=0.5 pauses that long after
the first 100 logins of each run (every user then kept, the files quiet past the stamp's 200 ms):
with N1 and N2 both above 100 the difference is then of kept logins only, which otherwise depends
on when each process confirmed its stamp (login-fcgi/readcache.h)."""
import base64
import hashlib
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from fcgi_wire import params, record  # noqa: E402
PASSWORD = "bench-password"
TOOL = os.environ.get("PROFILE_TOOL", "callgrind")
PAUSE_S = float(os.environ.get("PROFILE_PAUSE_S", "0"))
N_USERS = 100


def request(i):
    """The records of login i, as lighttpd 1.4 sends them for login.lua's request."""
    body = ("username=bench%d&password=%s" % (i % N_USERS, PASSWORD)).encode()
    env = {"CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/x-www-form-urlencoded",
           "QUERY_STRING": "", "REQUEST_URI": "/api/login/", "SCRIPT_NAME": "/api/login/",
           "SCRIPT_FILENAME": "/tmp/api/login/", "DOCUMENT_ROOT": "/tmp",
           "REQUEST_METHOD": "POST", "REDIRECT_STATUS": "200", "SERVER_PROTOCOL": "HTTP/1.1",
           "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "lighttpd/1.4.69",
           "SERVER_NAME": "127.0.0.1", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "8080",
           "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(40000 + i % 20000),
           "REQUEST_SCHEME": "http", "HTTP_HOST": "127.0.0.1:8080",
           "HTTP_CONTENT_TYPE": "application/x-www-form-urlencoded",
           "HTTP_CONTENT_LENGTH": str(len(body))}
    return (record(1, struct.pack("!HB5x", 1, 0)) + record(4, params(env)) + record(4, b"")
            + record(5, body) + record(5, b""))


def answer(s):
    """Reads until END_REQUEST; the response's Status."""
    data = b""
    while True:
        head = s.recv(8, socket.MSG_WAITALL)
        if len(head) < 8:
            break
        _, rtype, _, clen, plen = struct.unpack("!BBHHBx", head)
        content = s.recv(clen + plen, socket.MSG_WAITALL) if clen + plen else b""
        if rtype == 6:
            data += content[:clen]
        if rtype == 3:
            break
    m = re.search(rb"Status: (\d+)", data)
    return int(m.group(1)) if m else None


def make_db(path):
    subprocess.run(["sqlite3", path], stdin=open(os.path.join(ROOT, "schema.sql")),
                   stdout=subprocess.DEVNULL, check=True)
    salt = "profilesalt0123456789a"
    dk = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt.encode(), 1)
    encoded = "pbkdf2_sha256$1$%s$%s" % (salt, base64.b64encode(dk).decode())
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO auth_user (password, last_login, is_superuser, username, last_name, email,"
        " is_staff, is_active, date_joined, first_name)"
        " VALUES (?, NULL, 0, ?, '', ?, 0, 1, datetime('now'), '')",
        [(encoded, "bench%d" % i, "bench%d@example.com" % i) for i in range(N_USERS)])
    db.commit()
    db.close()


def run(program, n, db, folder, keep):
    """Ir of program serving n logins (after one unmeasured pass that makes every token)."""
    path = os.path.join(folder, "fcgi.sock")
    if os.path.exists(path):
        os.remove(path)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(64)
    out = os.path.join(keep or folder, "%s-%d.out" % (os.path.basename(program), n))
    env = dict(os.environ, TOKENAUTH_DB=db, TOKENAUTH_PASSWORD_ITERATIONS="1")
    tool = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    if TOOL == "strace":
        tool = ["strace", "-f", "-c", "-U", "name,calls", "-o", out]
    p = subprocess.Popen(tool + [program],
                         stdin=listener.fileno(), stderr=open(out + ".log", "w"), env=env)
    listener.close()
    statuses = {}
    for i in range(n):
        if i == N_USERS and PAUSE_S > 0:
            time.sleep(PAUSE_S)
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(request(i))
        status = answer(s)
        statuses[status] = statuses.get(status, 0) + 1
        s.close()
    # Under valgrind a SIGTERM arriving as the process enters accept() is now and then lost (seen
    # on a loaded host): send it again until the process ends, so callgrind writes its file.
    while True:
        for pid in traced(p.pid):  # strace keeps a SIGTERM to itself: the program gets it
            os.kill(pid, signal.SIGTERM)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            pass
    if statuses != {200: n}:
        sys.exit("login_profile: %s answered %s" % (program, statuses))
    if TOOL == "strace":
        return syscalls(out)
    with open(out) as f:
        totals = [line for line in f if line.startswith(("summary:", "totals:"))]
    return int(totals[-1].split()[1])


def traced(pid):
    """The children of pid (the program strace runs), none under valgrind."""
    if TOOL != "strace":
        return []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def syscalls(out):
    """strace -c's table: {name: calls}."""
    calls = {}
    with open(out) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 2 and fields[1].isdigit() and not fields[0].startswith("-"):
                calls[fields[0]] = int(fields[1])
    return calls


def syscall_line(program, a, b, n):
    """Calls per login by name, from two runs' tables."""
    per = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b) if k != "total"}
    names = ", ".join("%s %.2f" % (k, v) for k, v in sorted(per.items()) if abs(v) >= 0.005)
    return sum(per.values()), "%s: %.2f system calls per login (%s)" % (program, sum(per.values()), names)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    n1 = int(os.environ.get("PROFILE_N1", "50"))
    n2 = int(os.environ.get("PROFILE_N2", "550"))
    keep = os.environ.get("PROFILE_KEEP")
    folder = tempfile.mkdtemp(prefix="login_profile.")
    db = os.path.join(folder, "login.sqlite3")
    make_db(db)
    per = {}
    for program in (os.path.join(build, "login-fcgi"), os.path.join(build, "tools", "fcgi_fixed")):
        run(program, N_USERS, db, folder, None)  # every user's token made, the WAL warm
        a = run(program, n1, db, folder, keep)
        b = run(program, n2, db, folder, keep)
        if TOOL == "strace":
            per[program], line = syscall_line(program, a, b, n2 - n1)
            print(line)
            continue
        per[program] = (b - a) / (n2 - n1)
        print("%s: %.0f instructions per login (Ir %d for %d, %d for %d)"
              % (program, per[program], a, n1, b, n2))
    mine, bare = per.values()
    print("login-fcgi - fcgi_fixed: %.2f %s per login (%.2fx fcgi_fixed's)"
          % (mine - bare, "system calls" if TOOL == "strace" else "instructions", mine / bare))
    subprocess.run(["rm", "-rf", folder])


if __name__ == "__main__":
    main()
