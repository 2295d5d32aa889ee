"""Notification centre figures on PostgreSQL (in process, a scratch database):

(a) ``notify()`` to one user, each in its own unit of work (row, preference read, live event):
    per-call latency, without and with a dedupe key;
(b) the bell and the page for a user with 100,000 notifications: unread count, first page,
    the dropdown's newest 8, mark all read; the plans of the count and the page;
(c) ``notify_many`` to 10,000 users (rows, grouped counts, one Redis round trip for the events).

Run: ``python bench/notify_bench.py`` (needs PostgreSQL and Redis on localhost, see bench/README.md).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    app_env,
    drop_database,
    flask,
    percentile,
    private_redis,
    recreate_database,
)

DBNAME = "tradeapp_bench_notify"


def make_app(env: dict):
    from tradeapp import create_app

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def users(count: int, prefix: str) -> list[int]:
    from sqlalchemy import insert, select

    from tradeapp.extensions import db
    from tradeapp.models import User

    rows = [
        {
            "email": f"{prefix}{i}@example.com",
            "username": f"{prefix}{i}",
            "password_hash": "x",
            "referral_code": f"{prefix[:2]}{i:08d}"[-10:],
        }
        for i in range(count)
    ]
    for start in range(0, count, 1000):
        db.session.execute(insert(User), rows[start : start + 1000])
    db.session.commit()
    return list(db.session.scalars(select(User.id).where(User.email.like(f"{prefix}%")).order_by(User.id)))


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def line(name: str, samples: list[float]) -> str:
    return f"{name}: median {statistics.median(samples):.2f} ms, p95 {percentile(samples, 95):.2f} ms ({len(samples)} calls)"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--fanout", type=int, default=10_000)
    args = parser.parse_args()
    recreate_database(DBNAME)
    with private_redis() as redis_url:
        env = app_env(DBNAME)
        # E-mails are queued for the mail worker, as in production (inline delivery would time the outbox).
        env.update(JOBS_INLINE="false", REDIS_URL=redis_url)
        return run(args, env)


def run(args, env: dict) -> int:
    try:
        flask(env, "db", "upgrade")
        app = make_app(env)
        with app.app_context():
            from sqlalchemy import insert, text

            from tradeapp.extensions import db
            from tradeapp.models import Notification
            from tradeapp.models.types import utcnow
            from tradeapp.services import notifications as notes

            [one] = users(1, "single")
            print(
                line(
                    "(a) notify, one user",
                    timed(lambda i: notes.notify(one, notes.ORDER_FILLED, f"Fill {i}"), args.calls),
                )
            )
            print(
                line(
                    "(a) notify with a dedupe key",
                    timed(lambda i: notes.notify(one, notes.ORDER_FILLED, f"Fill {i}", dedupe_key=f"k{i}"), args.calls),
                )
            )

            [heavy] = users(1, "heavy")
            now = utcnow()
            rows = [
                {
                    "user_id": heavy,
                    "kind": "order_filled",
                    "title": f"N{i}",
                    "body": "",
                    "created_at": now,
                    "read_at": None if i % 10 == 0 else now,
                }
                for i in range(args.history)
            ]
            for start in range(0, len(rows), 5000):
                db.session.execute(insert(Notification), rows[start : start + 5000])
            db.session.commit()
            db.session.execute(text("ANALYZE notifications"))
            db.session.commit()
            print(line(f"(b) unread count of {args.history:,}", timed(lambda i: notes.unread_count(heavy), 200)))
            first_page = notes.for_user(heavy).limit(25)
            print(line("(b) first page of 25", timed(lambda i: db.session.scalars(first_page).all(), 200)))
            print(line("(b) the dropdown's newest 8", timed(lambda i: notes.newest(heavy, 8), 200)))
            for label, sql in (
                ("count", f"EXPLAIN SELECT count(*) FROM notifications WHERE user_id={heavy} AND read_at IS NULL"),
                ("page", f"EXPLAIN SELECT * FROM notifications WHERE user_id={heavy} ORDER BY id DESC LIMIT 25"),
            ):
                plan = [r[0] for r in db.session.execute(text(sql))]
                print(f"    plan ({label}): {plan[0].strip()}" + (f" / {plan[1].strip()}" if len(plan) > 1 else ""))
            db.session.rollback()
            t = time.perf_counter()
            changed = notes.mark_all_read(heavy)
            print(f"(b) mark all read: {changed:,} rows in {(time.perf_counter() - t) * 1000:.0f} ms")

            many = users(args.fanout, "fan")
            for kind, what in ((notes.ORDER_FILLED, "live only"), (notes.DEPOSIT_CREDITED, "live + e-mail")):
                t = time.perf_counter()
                sent = notes.notify_many(many, kind, "Maintenance tonight", dedupe_key=f"bench:{kind}")
                took = time.perf_counter() - t
                print(f"(c) notify_many to {len(many):,} users, {what}: {sent:,} rows in {took:.2f} s")
            t = time.perf_counter()
            again = notes.notify_many(
                many, notes.ORDER_FILLED, "Maintenance tonight", dedupe_key=f"bench:{notes.ORDER_FILLED}"
            )
            print(f"(c) the same fan-out again (dedupe): {again} new rows in {time.perf_counter() - t:.2f} s")
            from tradeapp.queues import redis_connection

            queued = redis_connection().llen("rq:queue:mail")
            print(f"    e-mails queued for the mail worker: {queued:,}")
            redis_connection().flushdb()
    finally:
        drop_database(DBNAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
