"""Signal fan-out: one signal to 10,000 subscribers (target: within 10 s on this machine).

Run: ``.venv/bin/python bench/signal_bench.py [--subscribers 10000] [--both 2000]``. Needs PostgreSQL
and Redis on localhost (a private ``redis-server`` is started when the command exists).

A scratch database gets ``--subscribers`` customers with an active subscription to plan A of one
provider (``--both`` of them also to plan B, which covers the same pair: they must still get one
notification). The app runs as a worker does (Redis message queue, write-only, jobs inline), and an
analyst publishes one BTC/USD signal; the fan-out job runs after the publish commits. Measured:

- publish → fan-out done: wall time of ``publish`` (its commit, then the fan-out job: the
  ``SignalNotification`` rows, the notification-centre rows, their unread counts, and the Socket.IO
  ``trading_signal`` and ``notification`` emits queued to Redis);
- the rows written and the emits seen on the Socket.IO channel by a Redis subscriber;
- a second run of the fan-out job (a retried job): it must write and emit nothing.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import app_env, drop_database, flask, private_redis, recreate_database  # noqa: E402

DBNAME = "tradeapp_bench_signals"
TARGET_SECONDS = 10.0


def _populate(n: int, both: int) -> dict:
    """Users, a provider with two plans on BTC/USD, subscriptions (bulk inserts: this is set-up, not measured)."""
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import insert

    from tradeapp.extensions import db
    from tradeapp.models import SignalPlan, SignalProvider, SignalSubscription, TradingPair, User
    from tradeapp.models.types import utcnow
    from tradeapp.services import passwords

    now = utcnow()
    pair = TradingPair(
        symbol="BTC/USD",
        base_currency="BTC",
        quote_currency="USD",
        pair_type="crypto",
        min_order_size=Decimal("0.0001"),
        max_order_size=Decimal("100"),
        price_precision=2,
        quantity_precision=6,
        maker_fee=Decimal("0.1"),
        taker_fee=Decimal("0.2"),
    )
    provider = SignalProvider(name="Bench desk", provider_type="in_house")
    db.session.add_all([pair, provider])
    db.session.flush()
    plans = []
    for name in ("A", "B"):
        plan = SignalPlan(
            provider_id=provider.id,
            name=name,
            price=Decimal("10"),
            duration_days=30,
            max_signals_per_day=100,
        )
        plan.pairs = [pair]
        db.session.add(plan)
        plans.append(plan)
    hashed = passwords.hash_password("Bench-password-123")
    analyst = User(
        email="analyst@bench.example",
        username="analyst",
        password_hash=hashed,
        referral_code="BANALYST",
        role="analyst",
        email_verified_at=now,
    )
    db.session.add(analyst)
    db.session.flush()
    rows = [
        {
            "email": f"sub{i}@bench.example",
            "username": f"sub{i}",
            "password_hash": hashed,
            "referral_code": f"B{i:08d}",
            "email_verified_at": now,
            "created_at": now,
        }
        for i in range(n)
    ]
    ids = list(db.session.scalars(insert(User).returning(User.id), rows))
    subs = [
        {
            "user_id": uid,
            "plan_id": plans[0].id,
            "status": "active",
            "started_at": now,
            "expires_at": now + timedelta(days=30),
            "auto_renew": True,
            "is_trial": False,
            "periods": 1,
        }
        for uid in ids
    ]
    subs += [{**s, "plan_id": plans[1].id} for s in subs[:both]]
    db.session.execute(insert(SignalSubscription), subs)
    db.session.commit()
    return {"provider": provider.id, "pair": pair.id, "analyst": analyst.id, "users": len(ids)}


def _count_channel(redis_url: str, channel: str, stop: threading.Event, counts: dict) -> None:
    """Count the Socket.IO messages published on the queue's channel, by event name."""
    import json
    import pickle

    import redis

    conn = redis.Redis.from_url(redis_url)
    pubsub = conn.pubsub()
    pubsub.subscribe(channel)
    counts["ready"] = True
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if not message or message["type"] != "message":
            continue
        data = message["data"]
        try:
            body = json.loads(data)
        except ValueError:  # python-socketio's pickled form, on our own private Redis
            body = pickle.loads(data)  # noqa: S301
        event = body.get("event") if isinstance(body, dict) else None
        counts[event] = counts.get(event, 0) + 1
    pubsub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--both", type=int, default=2_000, help="subscribers who also hold plan B")
    args = parser.parse_args()

    with private_redis() as redis_url:
        env = app_env(DBNAME)
        env["REDIS_URL"] = redis_url
        recreate_database(DBNAME)
        try:
            flask(env, "db", "upgrade")
            os.environ.update(env)
            from sqlalchemy import func, select

            from tradeapp import create_app
            from tradeapp.extensions import db
            from tradeapp.models import Notification, SignalNotification, User
            from tradeapp.services.signals import delivery, publishing

            app = create_app()
            with app.app_context():
                t0 = time.perf_counter()
                world = _populate(args.subscribers, args.both)
                setup = time.perf_counter() - t0
                channel = app.config.get("SOCKETIO_CHANNEL") or "flask-socketio"
                stop, counts = threading.Event(), {}
                listener = threading.Thread(target=_count_channel, args=(redis_url, channel, stop, counts), daemon=True)
                listener.start()
                while not counts.get("ready"):
                    time.sleep(0.05)

                analyst = db.session.get(User, world["analyst"])
                data = {
                    "provider": world["provider"],
                    "trading_pair": world["pair"],
                    "signal_type": "buy",
                    "entry_price": "64000",
                    "stop_loss": "62500",
                    "take_profit": "68000",
                    "timeframe": "4h",
                    "confidence": "70",
                    "analysis": "Bench signal.",
                }
                t0 = time.perf_counter()
                if os.environ.get("SIGNAL_BENCH_PROFILE"):
                    import cProfile
                    import pstats

                    prof = cProfile.Profile()
                    signal = prof.runcall(publishing.publish, analyst, data)
                    pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
                else:
                    signal = publishing.publish(analyst, data)
                elapsed = time.perf_counter() - t0
                signal_id = signal.id

                deliveries = db.session.scalar(select(func.count()).where(SignalNotification.signal_id == signal_id))
                notes = db.session.scalar(select(func.count()).where(Notification.kind == "signal_published"))
                db.session.rollback()
                t1 = time.perf_counter()
                again = delivery.fan_out(signal_id)
                rerun = time.perf_counter() - t1
                time.sleep(1.0)  # let the listener drain the channel
                stop.set()
                listener.join(5)

            reached = world["users"]
            print(f"subscribers: {reached} ({args.both} on both plans); set-up {setup:.1f} s")
            print(
                f"publish + fan-out: {elapsed:.2f} s  (target < {TARGET_SECONDS:.0f} s: {'OK' if elapsed < TARGET_SECONDS else 'MISSED'})"
            )
            print(f"  {reached / elapsed:,.0f} subscribers/s")
            print(f"rows: signal_notifications {deliveries}, notifications {notes} (expected {reached} each)")
            print(
                f"emits on the Socket.IO channel: trading_signal {counts.get('trading_signal', 0)}, "
                f"notification {counts.get('notification', 0)}"
            )
            print(f"re-run of the fan-out job: {again} new deliveries in {rerun:.2f} s (expected 0)")
            ok = deliveries == notes == reached and counts.get("trading_signal", 0) == reached and again == 0
            print("RESULT:", "OK" if ok and elapsed < TARGET_SECONDS else "CHECK")
        finally:
            drop_database(DBNAME)


if __name__ == "__main__":
    main()
