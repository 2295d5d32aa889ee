"""Copy trading: one master market fill copied to 1,000 and to 10,000 active followers.

Run: ``.venv/bin/python bench/copy_bench.py [--followers 1000 10000] [--batch 200] [--workers 2] [--profile P]``.
Needs PostgreSQL on localhost (and Redis for the queue the master's fill enqueues its copy job on,
``BENCH_COPY_REDIS_URL``). Each size builds its own scratch database (named with this process's id,
so two runs do not collide) and drops it.

For each size: the followers subscribe through the service (each allocation a ledger hold; the
setup is timed but not the figure), a lead trader places one market buy through the order path
(which writes the copy signal in its own transaction), then the copy job runs in this process, as
one RQ worker would (or, with ``--workers N``, in N worker processes each copying its part, as
``COPY_WORKERS`` fans the job out), in batches of ``--batch`` followers per transaction. The figure is the time
from the master's fill (its order's ``executed_at``) to the commit of the last follower's copy.
Prices come from an in-process feed (one BTC/USD book), so the figure is the copy path itself:
sizing, the allocation hold, each follower's order and fill (booked set-based for the whole batch
by ``services/copy_trading/batch.py``, the same rows ``orders.place`` writes), the ledger entries,
the copied-trade rows, the notifications fan-out. It then checks: exactly one copy per follower,
``ledger check`` clean. Targets: 1,000 followers within 10 s, 10,000 within 60 s (2 cores).
Also printed: the SQL statements the copy job ran per copy (an executemany counts as one) and
the 1-minute load average when it finished (other processes share the cores); ``--profile P``
writes a cProfile of the job to ``P-<followers>.prof``. Figures are printed and written to
``bench/results/copy-<time>.json``.
"""

import argparse
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, app_env, drop_database, flask, recreate_database  # noqa: E402
from bench.trading_bench import BenchFeed, make_app, setup_pairs  # noqa: E402

D = Decimal
SYMBOL = "BTC/USD"
RESULTS_DIR = ROOT / "bench" / "results"
COPY_REDIS_URL = os.environ.get("BENCH_COPY_REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4"))
TARGETS = {1000: 10.0, 10000: 60.0}


def make_followers(count: int, trader_id: int) -> float:
    """``count`` funded users, each subscribed to the trader (25 % of 10,000 USD); returns the seconds it took."""
    from tradeapp.extensions import db
    from tradeapp.models import User
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger
    from tradeapp.services.copy_trading import subscriptions
    from tradeapp.services.ledger import Leg
    from tradeapp.services.users import _new_referral_code

    started = time.perf_counter()
    for start in range(0, count, 500):
        users = []
        for i in range(start, min(count, start + 500)):
            user = User(
                email=f"follower{i}@example.com",
                username=f"follower{i}",
                password_hash="x",
                referral_code=_new_referral_code(),
                email_verified_at=utcnow(),
            )
            db.session.add(user)
            users.append(user)
        db.session.flush()
        adjustments = ledger.platform_account("adjustments", "USD")
        for user in users:
            wallet = ledger.wallet_for(user, "USD")
            ledger.post("adjustment", [Leg(wallet, D("10000")), Leg(adjustments, D("-10000"))])
        db.session.commit()
        for user in users:
            subscriptions.subscribe(user, {"trader": trader_id, "copy_percentage": "25"})
    return time.perf_counter() - started


def worker_main(dbname: str, part: int, parts: int, batch: int) -> int:
    """A copy worker process: builds the app, waits for the signal id on stdin, copies its part."""
    env = app_env(dbname)
    env.update(REDIS_URL=COPY_REDIS_URL, JOBS_INLINE="false", SOCKETIO_MESSAGE_QUEUE="")
    app = make_app(env)
    with app.app_context():
        from tradeapp.services.copy_trading import engine
        from tradeapp.services.trading.pairs import FEED_KEY

        feed = BenchFeed(SYMBOL, levels=20, size="1000")
        feed.set_mid(D("50000"))
        app.extensions[FEED_KEY] = feed
        print("ready", flush=True)
        signal_id = int(sys.stdin.readline())
        totals = engine.copy_signal(signal_id, batch=batch, part=part, parts=parts)
        print(json.dumps(totals), flush=True)
    return 0


def _start_workers(dbname: str, parts: int, batch: int) -> list:
    import subprocess

    procs = []
    for part in range(parts):
        argv = [sys.executable, __file__, "--worker", dbname, str(part), str(parts), "--batch", str(batch)]
        procs.append(
            subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ)
        )
    for proc in procs:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a copy worker did not start")
    return procs


def _counting_statements(engine) -> tuple[list[int], object]:
    """Count the statements the engine runs (an executemany counts once) until the listener is removed."""
    from sqlalchemy import event

    counter = [0]

    def note(conn, cursor, statement, parameters, context, executemany):
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", note)
    return counter, note


def run_size(count: int, batch: int, workers: int = 1, profile: Path | None = None) -> dict:
    from redis import Redis
    from rq import Queue
    from sqlalchemy import func, select

    dbname = f"bench_copy_{count}_{os.getpid()}"
    recreate_database(dbname)
    env = app_env(dbname)
    env.update(REDIS_URL=COPY_REDIS_URL, JOBS_INLINE="false", SOCKETIO_MESSAGE_QUEUE="")
    try:
        flask(env, "db", "upgrade")
        app = make_app(env)
        with app.app_context():
            from tradeapp.extensions import db
            from tradeapp.models import CopiedTrade, CopySignal, Order, Trader, User
            from tradeapp.models.types import utcnow
            from tradeapp.services import ledger
            from tradeapp.services.copy_trading import engine
            from tradeapp.services.ledger import Leg
            from tradeapp.services.trading import orders
            from tradeapp.services.trading.pairs import FEED_KEY
            from tradeapp.services.users import _new_referral_code

            conn = Redis.from_url(COPY_REDIS_URL)
            for pattern in ("quote:*", "book:*", "feedstatus:*"):
                for key in conn.scan_iter(pattern):
                    conn.delete(key)
            feed = BenchFeed(SYMBOL, levels=20, size="1000")
            feed.set_mid(D("50000"))
            app.extensions[FEED_KEY] = feed
            setup_pairs(only=SYMBOL)

            lead = User(
                email="lead@example.com",
                username="lead",
                password_hash="x",
                referral_code=_new_referral_code(),
                email_verified_at=utcnow(),
                kyc_status="approved",
            )
            db.session.add(lead)
            db.session.flush()
            wallet = ledger.wallet_for(lead, "USD")
            ledger.post(
                "adjustment",
                [Leg(wallet, D("1000000")), Leg(ledger.platform_account("adjustments", "USD"), D("-1000000"))],
            )
            trader = Trader(user_id=lead.id, display_name="Bench Lead", status="approved")
            db.session.add(trader)
            db.session.commit()
            trader_id, lead_id = trader.id, lead.id

            setup_seconds = make_followers(count, trader_id)
            print(f"  {count} followers subscribed in {setup_seconds:.1f} s (setup, not the figure)", flush=True)

            procs = _start_workers(dbname, workers, batch) if workers > 1 else []
            lead = db.session.get(User, lead_id)
            master = orders.place_order(
                lead, {"symbol": SYMBOL, "side": "buy", "order_type": "market", "quantity": "2"}
            )
            filled_at = master.executed_at.timestamp()
            signal_id = db.session.scalar(select(CopySignal.id).where(CopySignal.master_order_id == master.id))
            Queue("orders", connection=conn).empty()  # this process is the worker
            db.session.rollback()

            from sqlalchemy import event

            counter, note = _counting_statements(db.engine)
            profiler = None
            if profile is not None and not procs:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            started = time.perf_counter()
            if procs:
                totals: dict = {}
                for proc in procs:
                    proc.stdin.write(f"{signal_id}\n")
                    proc.stdin.flush()
                for proc in procs:
                    for key, value in json.loads(proc.stdout.readline()).items():
                        totals[key] = totals.get(key, 0) + value
                    proc.wait(60)
            else:
                totals = engine.copy_signal(signal_id, batch=batch)
            done = time.perf_counter()
            last_commit = time.time()
            seconds = last_commit - filled_at
            if profiler is not None:
                profiler.disable()
                profile.parent.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(profile)
            event.remove(db.engine, "before_cursor_execute", note)
            statements = counter[0]
            load_after = os.getloadavg()[0]

            copies = db.session.scalar(select(func.count()).select_from(CopiedTrade))
            distinct = db.session.scalar(select(func.count(func.distinct(CopiedTrade.subscription_id))))
            follower_orders = db.session.scalar(
                select(func.count()).select_from(Order).where(Order.source == "copy_trade", Order.status == "filled")
            )
            db.session.rollback()
            again = engine.copy_signal(signal_id, batch=batch)  # a duplicate run: nothing more
            report = ledger.check()
            result = {
                "followers": count,
                "batch": batch,
                "workers": workers,
                "fill_to_last_copy_s": round(seconds, 2),
                "job_s": round(done - started, 2),
                "per_follower_ms": round((done - started) * 1000 / count, 2),
                # this process's statements (with --workers, the workers' are not counted)
                "statements": statements if not procs else None,
                "statements_per_copy": round(statements / count, 2) if not procs else None,
                "copies": copies,
                "distinct_subscriptions": distinct,
                "filled_follower_orders": follower_orders,
                "outcomes": totals,
                "rerun_outcomes": again,
                "ledger_ok": report.ok,
                "setup_s": round(setup_seconds, 1),
                # other processes share the 2 cores: the 1-minute load when the copy finished
                "load_avg_1m": round(load_after, 2),
                "target_s": TARGETS.get(count),
            }
            db.session.remove()
        return result
    finally:
        drop_database(dbname)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="copy worker processes, each copying a part")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the copy job to PROFILE-<followers>.prof")
    parser.add_argument("--worker", nargs=3, metavar=("DB", "PART", "PARTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        dbname, part, parts = args.worker
        return worker_main(dbname, int(part), int(parts), args.batch)
    results = []
    for count in args.followers:
        print(f"copy bench: {count} followers, batches of {args.batch}, {args.workers} worker(s)", flush=True)
        profile = args.profile.with_name(f"{args.profile.stem}-{count}.prof") if args.profile else None
        result = run_size(count, args.batch, args.workers, profile)
        target = result["target_s"]
        verdict = (
            ""
            if target is None
            else f"  (target {target:.0f} s: {'met' if result['fill_to_last_copy_s'] <= target else 'MISSED'})"
        )
        print(
            f"  fill → last copy: {result['fill_to_last_copy_s']:.2f} s{verdict}; job {result['job_s']:.2f} s, "
            f"{result['per_follower_ms']:.2f} ms per follower, {result['statements_per_copy']} statements per copy; "
            f"copies {result['copies']} "
            f"(distinct {result['distinct_subscriptions']}, filled orders {result['filled_follower_orders']}); "
            f"re-run made {sum(result['rerun_outcomes'].values())}; ledger check {'OK' if result['ledger_ok'] else 'DRIFT'}; "
            f"load average {result['load_avg_1m']:.2f}",
            flush=True,
        )
        results.append(result)
    if len(results) >= 2:
        a, b = results[0], results[-1]
        growth = b["job_s"] / a["job_s"] if a["job_s"] else float("nan")
        print(
            f"growth: {b['followers'] / a['followers']:.0f}x followers → {growth:.2f}x time "
            f"({a['per_follower_ms']:.2f} → {b['per_follower_ms']:.2f} ms per follower)"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"copy-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out.relative_to(ROOT)}")
    ok = all(r["copies"] == r["followers"] == r["distinct_subscriptions"] and r["ledger_ok"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
