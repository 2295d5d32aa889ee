"""Referral programme costs, in process on a scratch PostgreSQL database.

(a) What the commission hook adds to a fill: market buys of a referred customer (one accrual per
    fill) against the same buys of a customer nobody referred; per-order time and the ratio
    (target ≤ 1.15: the referral programme must not slow trading noticeably).
(b) Payout throughput: N cleared rewards paid by ``pay_due_rewards`` (one transaction each:
    ledger entry, history line, notification), rewards per second; then a second run, which must
    pay nothing, and ``ledger check``.

    python bench/referrals_bench.py [--orders 200] [--rewards 2000]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REDIS_URL, drop_database, pg_url, recreate_database  # noqa: E402

D = Decimal
DB = f"tradeapp_bench_referrals_{os.getpid()}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rewards", type=int, default=2000)
    args = parser.parse_args()

    recreate_database(DB)
    try:
        return run(args)
    finally:
        drop_database(DB)


def run(args) -> int:
    from flask_migrate import upgrade

    from tests.trading_helpers import ManualFeed, fund, make_pairs
    from tradeapp import create_app
    from tradeapp.config import TestConfig
    from tradeapp.extensions import db
    from tradeapp.models import Referral, ReferralAccrual, ReferralTier, User
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger, passwords, referrals
    from tradeapp.services.trading import orders
    from tradeapp.services.trading.pairs import FEED_KEY
    from tradeapp.services.users import _new_referral_code

    url = pg_url(DB).replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app(TestConfig(url, REDIS_URL, Path(tempfile.mkdtemp(prefix="referrals-bench-"))))
    app.config["JOBS_INLINE"] = True
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        feed = app.extensions[FEED_KEY] = ManualFeed()
        make_pairs(db)

        def person(name, referrer=None):
            u = User(
                email=f"{name}@bench.local",
                username=name,
                password_hash=passwords.hash_password("Bench-password-2026"),
                referral_code=_new_referral_code(),
                referred_by_id=referrer.id if referrer else None,
                is_verified=True,
                kyc_status="approved",
            )
            db.session.add(u)
            db.session.flush()
            if referrer:
                db.session.add(Referral(referrer_id=referrer.id, referee_id=u.id, qualified_at=utcnow()))
            return u

        referrer = person("referrer")
        referee = person("referee", referrer)
        loner = person("loner")
        db.session.add(ReferralTier(name="Bronze", min_referrals=0, commission_percentage=D("10")))
        db.session.commit()
        for u in (referee, loner):
            fund(u, "USD", "100000000")

        def buy(user, i) -> float:
            feed.set("BTC/USD", "50000", f"{50000 + i % 50}.11", levels=5, size="0.002", step="0.5")
            start = time.perf_counter()
            orders.place_order(user, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.01"})
            return time.perf_counter() - start

        for i in range(10):  # warm up
            buy(loner, i)
        plain, referred = [], []
        for i in range(args.orders):  # interleaved, so a busy moment of the machine hits both alike
            plain.append(buy(loner, i))
            referred.append(buy(referee, i))
        accruals = db.session.query(ReferralAccrual).count()
        p_med, r_med = statistics.median(plain) * 1000, statistics.median(referred) * 1000
        print(f"(a) market buy of 5 fills, median: not referred {p_med:.2f} ms, referred {r_med:.2f} ms")
        print(f"    ratio referred / not referred = {r_med / p_med:.3f} (target <= 1.15); accruals {accruals}")

        referral = db.session.query(Referral).filter_by(referee_id=referee.id).one()
        from tradeapp.models import ReferralSettings

        conf = referrals.settings()
        conf.monthly_cap = D(0)
        db.session.commit()
        assert isinstance(conf, ReferralSettings)
        long_ago = utcnow() - timedelta(days=30)
        for i in range(args.rewards):
            referrals.create_reward(referral, "trading_commission", D("1.23"), "USD", f"bench:{i}", now=long_ago)
        db.session.commit()
        start = time.perf_counter()
        if os.environ.get("PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            paid = profile.runcall(referrals.pay_due_rewards, limit=args.rewards)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        else:
            paid = referrals.pay_due_rewards(limit=args.rewards)
        elapsed = time.perf_counter() - start
        again = referrals.pay_due_rewards(limit=args.rewards)
        report = ledger.check()
        print(f"(b) paid {paid} rewards in {elapsed:.2f} s = {paid / elapsed:.0f} rewards/s; second run paid {again}")
        print(f"    ledger check: {'clean' if report.ok else report.problems()[:5]}")
        return 0 if report.ok and again == 0 and paid == args.rewards else 1


if __name__ == "__main__":
    raise SystemExit(main())
