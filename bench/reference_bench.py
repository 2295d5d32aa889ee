"""Transfers and market orders through the app against the bare Flask + psycopg reference.

Run: ``make bench-reference`` (or ``.venv/bin/python bench/reference_bench.py``). Needs PostgreSQL
and Redis on localhost.

One scratch database (migrated by the app), 16 funded users and the simulated feed publishing
BTC/USD quotes to a private Redis; then, back to back under the same load generator
(``http_load``, 16 keep-alive connections):

- the app as the Procfile's ``web`` line serves it (``gunicorn -c gunicorn.conf.py``: one worker
  per core × WEB_THREADS);
- ``bench/bare_reference.py`` under gunicorn, one worker per core, the same threads.

Each serves ``POST /api/v1/transfers/`` (every client pays the next user of a ring) and
``POST /api/v1/orders/`` (market buys of 0.001 BTC). Prints rates, latencies, the ratios
app / reference and the targets (transfers ≥ 0.6 ×, market orders ≥ 0.4 ×), then runs
``flask ledger check`` over what both wrote.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ROOT,
    Server,
    app_env,
    drop_database,
    flask,
    free_port,
    http_load,
    private_redis,
    procfile_web,
    recreate_database,
    summarize,
    wait_http,
)
from bench.ledger_bench import run as transfer_load  # noqa: E402
from bench.trading_bench import make_app, make_users, order_request, setup_pairs  # noqa: E402

TARGETS = {"transfers": 0.6, "orders": 0.4}
SYMBOL = "BTC/USD"


@contextmanager
def reference_server(env: dict, workers: int, threads: int):
    """bench/bare_reference.py under gunicorn (gthread), ``workers`` × ``threads``."""
    port = free_port()
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    argv = [gunicorn_bin, "-w", str(workers), "--threads", str(threads), "-k", "gthread"]
    argv += ["-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.bare_reference:app"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc, "the bare reference")
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_quote(redis_url: str, timeout: float = 30) -> None:
    from redis import Redis

    conn = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = conn.get(f"quote:{SYMBOL}")
        if raw and time.time() - json.loads(raw)["received_at"] < 5:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no fresh {SYMBOL} quote in Redis after {timeout:.0f} s")


def load(kind: str, server: Server, users: list[tuple[int, str]], args) -> dict:
    """Warm up, then ``args.seconds`` of ``kind`` (transfers | orders) with ``args.clients`` clients."""
    tokens = [token for _, token in users]
    if kind == "transfers":

        def go(seconds):
            ok, errors, latencies = transfer_load(server.url, tokens, args.clients, seconds)
            return latencies, errors

    else:
        requests = [order_request(server.url, tokens[i % len(tokens)], "buy") for i in range(args.clients)]

        def go(seconds):
            return http_load(server.url, requests, seconds, expect_status=201)

    go(args.warmup)
    cpu = server.cpu_seconds()
    latencies, errors = go(args.seconds)
    cpu = server.cpu_seconds() - cpu
    return {
        "rate": len(latencies) / args.seconds,
        "ok": len(latencies),
        "errors": errors,
        "latencies": latencies,
        "cpu_ms": cpu / max(len(latencies), 1) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="gunicorn workers, both apps")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker, both apps (WEB_THREADS)")
    parser.add_argument("--only", choices=("transfers", "orders"), help="one call only")
    args = parser.parse_args()

    dbname = "tradeapp_bench_reference"
    recreate_database(dbname)
    env = app_env(dbname)
    env.update(MARKET_FEED="simulated", FEED_INTERVAL="1.0")
    results: dict = {}
    load_before = os.getloadavg()[0]
    try:
        with private_redis() as redis_url:
            env["REDIS_URL"] = redis_url
            flask(env, "db", "upgrade")
            app = make_app(env)
            with app.app_context():
                from tradeapp.services import ledger

                setup_pairs(only=SYMBOL)
                users = make_users(args.clients, "bench", {"USD": "10000000", "BTC": "100"})
                for code, currency in (("trading", "USD"), ("trading", "BTC"), ("fees", "USD")):
                    ledger.platform_account(code, currency)
                from tradeapp.extensions import db

                db.session.commit()
            feed = subprocess.Popen(
                [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "feed", "run"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_quote(redis_url)
                kinds = [args.only] if args.only else ["transfers", "orders"]
                for kind in kinds:
                    with procfile_web(env, workers=args.workers, threads=args.threads) as web:
                        results[kind, "app"] = load(kind, web, users, args)
                    with reference_server(env, args.workers, args.threads) as ref:
                        results[kind, "reference"] = load(kind, ref, users, args)
            finally:
                feed.terminate()
                feed.wait(10)
            check = flask(env, "ledger", "check").strip().splitlines()[-1]
    finally:
        drop_database(dbname)

    print(
        f"{args.clients} clients, {args.seconds:.0f} s each; gunicorn {args.workers} worker(s) x {args.threads} "
        f"thread(s) for both (the app through the Procfile's web line)"
    )
    met = True
    for kind in dict.fromkeys(k for k, _ in results):
        a, r = results[kind, "app"], results[kind, "reference"]
        ratio = a["rate"] / r["rate"] if r["rate"] else float("nan")
        ok = ratio >= TARGETS[kind]
        met &= ok
        for name, x in (("app", a), ("bare reference", r)):
            print(
                f"  {kind:<9} {name:<14} {x['rate']:7.1f}/s ({x['ok']} ok, {x['errors']} errors); "
                f"{summarize(x['latencies'])}; server CPU {x['cpu_ms']:.2f} ms per call"
            )
        print(
            f"  {kind:<9} ratio app / reference: {ratio:.2f} (target >= {TARGETS[kind]}: {'met' if ok else 'MISSED'})"
        )
    print(f"ledger check after both: {check}")
    print(f"machine: {os.cpu_count()} CPUs; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print("targets met" if met else "TARGETS MISSED")
    return 0 if check.startswith("OK") else 1


if __name__ == "__main__":
    raise SystemExit(main())
