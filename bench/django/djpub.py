"""djpub.py -- the publisher of bench/django_layer.sh's group delivery: Django's own
`async_to_sync(channel_layer.group_send)(group, event)`, as a view or a Celery task calls it,
in a loop, with the core layer of benchsite.settings (BENCH_LAYER=core).

    python3 bench/django/djpub.py --group G --members M --duration S [--rate R]
        [--index I --of P]

Waits until Redis holds at least M members in the group (asgi:group:G: one per ws-worker
process, one per daphne consumer), then for S seconds sends group_send(G, {"type":
"tokenauth.message", "data": {"t": <CLOCK_MONOTONIC ns>, "s": <n>}}): back to back (no --rate:
as fast as one Python process can), or R per second on a fixed schedule, "t" being the time a
send was due, so a publisher falling behind shows as latency (wsload --external reads "t" with
the same clock: one per machine). With P publishers, publisher I numbers its sends I, I + P, ..
and a rate is R / P each. Prints one line, "djpub: index=I sent=N seconds=S rate=N/s
cpu_s=C behind_ms=N" (cpu_s: the process' CPU time, user + system, while sending; behind: how
late the last scheduled send went out), and exits 0, or 1 with the
reason on stderr. Run from bench/django (the project's folder) with DJANGO_SETTINGS_MODULE and
BENCH_REDIS_URL set. group_send drops a message when a member's queue holds `capacity` (100)
already, silently, as channels_redis does: what counts is what reaches the clients."""
import argparse
import os
import sys
import time


def parse_args(argv):
    a = argparse.ArgumentParser(description="Django group_send publisher for the benchmark")
    a.add_argument("--group", required=True)
    a.add_argument("--members", type=int, default=1, help="members to wait for in the group")
    a.add_argument("--duration", type=float, required=True, help="seconds of sending")
    a.add_argument("--rate", type=float, default=0, help="group_sends/s of all publishers")
    a.add_argument("--index", type=int, default=0)
    a.add_argument("--of", type=int, default=1, help="publishers in all")
    a.add_argument("--wait", type=float, default=60, help="seconds to wait for the members")
    args = a.parse_args(argv)
    if args.duration <= 0 or args.rate < 0 or args.of < 1 or not 0 <= args.index < args.of:
        a.error("--duration > 0, --rate >= 0, 0 <= --index < --of")
    return args


def wait_members(url, group, n, timeout):
    """True once asgi:group:<group> holds n members (the subscriptions are in Redis)."""
    import redis
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if client.zcard("asgi:group:" + group) >= n:
                return True
            time.sleep(0.05)
        return False
    finally:
        client.close()


def publish(args):
    """Sends for args.duration seconds; returns (sent, seconds, CPU seconds, how late the last
    send was in ms)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    group_send = async_to_sync(get_channel_layer().group_send)
    period = args.of / args.rate if args.rate > 0 else 0
    cpu, start = time.process_time(), time.monotonic_ns()
    end, due, seq, sent, behind = start + int(args.duration * 1e9), start, args.index, 0, 0
    while True:
        now = time.monotonic_ns()
        if now >= end:
            break
        if period:
            if due >= end:
                break
            if now < due:
                time.sleep((due - now) / 1e9)
            stamp, behind = due, max(0, now - due)
            due += int(period * 1e9)
        else:
            stamp = now
        group_send(args.group, {"type": "tokenauth.message", "data": {"t": stamp, "s": seq}})
        seq += args.of
        sent += 1
    secs = (time.monotonic_ns() - start) / 1e9
    return sent, secs, time.process_time() - cpu, behind / 1e6


def main(argv):
    args = parse_args(argv)
    import django
    django.setup()
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
    if not wait_members(url, args.group, args.members, args.wait):
        print("djpub: fewer than %d members in group %s after %.0f s"
              % (args.members, args.group, args.wait), file=sys.stderr)
        return 1
    try:
        sent, secs, cpu, behind = publish(args)
    except Exception as e:  # noqa: BLE001 -- Redis or the layer: said, not a traceback
        print("djpub: index=%d failed: %s: %s" % (args.index, type(e).__name__, e),
              file=sys.stderr)
        return 1
    print("djpub: index=%d sent=%d seconds=%.2f rate=%.1f/s cpu_s=%.2f behind_ms=%.1f"
          % (args.index, sent, secs, sent / secs if secs else 0, cpu, behind))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
