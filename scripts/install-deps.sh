#!/bin/sh
# install-deps.sh -- installs the Debian 12 packages tokenauth needs, only those missing.
#
# Usage: scripts/install-deps.sh [--missing] build|run|test|fuzz|bench
# Idempotent and quiet when nothing is missing (one dpkg query). `make deps` (build), `make run`
# (run), `make test` (test) and `make fuzz` (fuzz) call it; reading the Makefile never does.
# Installs with apt-get as root, or through sudo; otherwise names the packages and fails.
# --missing installs nothing: it prints the set's missing packages on one line (empty when none)
# and exits 0, so the Makefile can name them in its error.
# The browser tests also need playwright-core from npm: tests/browser/ installs it (test set).
set -eu

build="build-essential pkg-config libfcgi-dev libwebsockets-dev libsqlite3-dev libcjson-dev
       libssl-dev libargon2-dev sqlite3 libhiredis-dev libmsgpack-dev zlib1g-dev
       libev-dev libwebsockets-evlib-ev"
run="$build lighttpd redis-server"
test="$run apache2 nginx-light spawn-fcgi libfcgi-bin python3 python3-django
      python3-djangorestframework python3-argon2 python3-websockets chromium nodejs curl procps strace
      python3-django-channels python3-channels-redis python3-daphne python3-redis python3-msgpack"
fuzz="$build clang"
# bench: the channels part runs Django Channels under daphne beside ws-worker (bench/django)
bench="$run wrk python3-django python3-django-channels python3-channels-redis python3-daphne"

list_only=""
if [ "${1:-}" = --missing ]; then
    list_only=yes
    shift
fi
case "${1:-build}" in
build) want=$build ;;
run) want=$run ;;
test) want=$test ;;
fuzz) want=$fuzz ;;
bench) want=$bench ;;
*) echo "install-deps.sh: unknown set '$1': expected build, run, test, fuzz or bench" >&2; exit 2 ;;
esac

# $want unquoted: a list of words. Unknown packages make dpkg-query fail; their lines are missing.
installed=" $(dpkg-query -W -f='${Package}:${Status}\n' $want 2>/dev/null |
    sed -n 's/:install ok installed$//p' | tr '\n' ' ')"
missing=""
for p in $want; do
    case "$installed" in *" $p "*) ;; *) missing="$missing $p" ;; esac
done
# Node.js from NodeSource ships its own npm and conflicts with Debian's npm package.
case " $want " in *" nodejs "*) command -v npm >/dev/null 2>&1 || missing="$missing npm" ;; esac
if [ -n "$list_only" ]; then
    echo $missing
    exit 0
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "install-deps.sh: missing Debian packages:$missing" >&2
    echo "install-deps.sh: run as root: apt-get install$missing" >&2
    exit 1
fi
echo "install-deps.sh: installing$missing" >&2
# Package scripts must not start the web servers on port 80: we start them ourselves.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $as_root tee $policy >/dev/null && $as_root chmod 755 $policy
    made_policy=yes
fi
export DEBIAN_FRONTEND=noninteractive
status=0
$as_root apt-get update -qq >&2 || status=$?
[ $status = 0 ] && { $as_root apt-get install -y -qq --no-install-recommends $missing >&2 || status=$?; }
[ -n "$made_policy" ] && $as_root rm -f $policy
if [ $status != 0 ]; then
    echo "install-deps.sh: apt-get failed (exit $status) installing:$missing" >&2
    exit 1
fi
