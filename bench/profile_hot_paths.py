"""cProfile of the hot paths: ``POST /api/v1/transfers/`` and a market ``POST /api/v1/orders/``.

Run: ``.venv/bin/python bench/profile_hot_paths.py [--calls 500] [--sort tottime] [--top 40]``.
One process, the app's own WSGI stack (Flask test client, so no gunicorn in the profile) on a
scratch PostgreSQL database and a private Redis with the simulated feed publishing quotes. Prints
the top functions per call kind; ``--dump DIR`` writes .prof files for snakeviz/pstats.
"""

import argparse
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, app_env, drop_database, flask, private_redis, recreate_database  # noqa: E402
from bench.reference_bench import SYMBOL, wait_for_quote  # noqa: E402
from bench.trading_bench import make_app, make_users, setup_pairs  # noqa: E402


def print_statements(app, call) -> None:
    """The SQL one call runs, in order (BEGIN/COMMIT and pool pings are not statements here)."""
    from sqlalchemy import event

    from tradeapp.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(("executemany: " if executemany else "") + " ".join(statement.split())[:150])

    event.listen(engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    print(f"-- {len(seen)} statements:")
    for line in seen:
        print("   ", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", type=Path, help="directory for the .prof files")
    parser.add_argument("--callers", help="also print the callers of functions matching this pattern")
    parser.add_argument("--sql", action="store_true", help="also print the SQL statements of one call of each")
    parser.add_argument(
        "--time",
        action="store_true",
        help="no profiler: the CPU per call (median of 5 rounds of --calls), to compare changes",
    )
    args = parser.parse_args()

    dbname = "tradeapp_bench_profile"
    recreate_database(dbname)
    env = app_env(dbname)
    env.update(MARKET_FEED="simulated", FEED_INTERVAL="1.0")
    try:
        with private_redis() as redis_url:
            env["REDIS_URL"] = redis_url
            flask(env, "db", "upgrade")
            app = make_app(env)
            with app.app_context():
                setup_pairs(only=SYMBOL)
                users = make_users(2, "bench", {"USD": "10000000", "BTC": "100"})
            feed = subprocess.Popen(
                [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "feed", "run"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_quote(redis_url)
                client = app.test_client()
                headers = {"Authorization": f"Bearer {users[0][1]}"}
                calls = {
                    "transfers": ("/api/v1/transfers/", {"to_username": "bench1", "currency": "USD", "amount": "1.00"}),
                    "orders": (
                        "/api/v1/orders/",
                        {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.001"},
                    ),
                }
                for kind, (path, body) in calls.items():
                    data = json.dumps(body)
                    for _ in range(20):  # warm-up: statement caches, prepared statements
                        client.post(path, data=data, headers=headers, content_type="application/json")
                    if args.sql:
                        print_statements(
                            app,
                            lambda p=path, d=data: client.post(
                                p, data=d, headers=headers, content_type="application/json"
                            ),
                        )
                    if args.time:
                        rounds = []
                        for _ in range(5):
                            started = time.process_time()
                            for _ in range(args.calls):
                                response = client.post(
                                    path, data=data, headers=headers, content_type="application/json"
                                )
                                assert response.status_code == 201, response.get_data(as_text=True)
                            rounds.append((time.process_time() - started) / args.calls * 1000)
                        rounds.sort()
                        print(f"== {kind}: {rounds[2]:.3f} ms of CPU per call (median of 5 x {args.calls}; {rounds})")
                        continue
                    profiler = cProfile.Profile(time.process_time)  # CPU, not time spent waiting
                    profiler.enable()
                    for _ in range(args.calls):
                        response = client.post(path, data=data, headers=headers, content_type="application/json")
                        assert response.status_code == 201, response.get_data(as_text=True)
                    profiler.disable()
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out)
                    total = stats.total_tt / args.calls * 1000
                    print(f"== {kind}: {args.calls} calls, {total:.2f} ms of CPU per call")
                    stats.sort_stats(args.sort).print_stats(args.top)
                    if args.callers:
                        stats.print_callers(args.callers)
                    print(out.getvalue())
                    if args.dump:
                        args.dump.mkdir(parents=True, exist_ok=True)
                        stats.dump_stats(args.dump / f"{kind}.prof")
            finally:
                feed.terminate()
                feed.wait(10)
    finally:
        drop_database(dbname)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
