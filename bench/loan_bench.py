"""Loans: the LTV re-check after a 10 % price drop with 100,000 active loans on BTC/USD.

Run: ``make bench-loan`` or ``.venv/bin/python bench/loan_bench.py`` (``--loans``, ``--drop``). Needs
PostgreSQL and Redis on localhost; it makes (and drops) a scratch database and runs the app in-process on it
in production mode (jobs such as the customers' notifications go to the RQ queues, as the workers would
take them), prices from a hand-set book in place of the feed.

The book: ``--loans`` active loans against 1 BTC each, spread over 1,000 customers, their LTVs uniform
between 20 % and 65 % at 34,500 USD (margin call at 70 %, liquidation at 80 %), plus ``--near`` loans
already in margin call at 72.5 % with real wallets and collateral holds. Bulk rows
are inserted directly (the path under test reads and settles loans; it never needs the bulk loans'
holds); the near-liquidation loans go through the real services.

Then BTC falls by ``--drop`` and ``loans.check_ltv("BTC/USD")`` runs once, as the feed's tick job
does. Printed: the time of the indexed crossing query alone, the time of the whole check, the
loans touched (margin calls, liquidations through the order engine) and how many a scan would
have read. Target: the whole check under 5 s on this machine. ``ledger check`` must stay clean.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REDIS_URL, drop_database, pg_url, recreate_database  # noqa: E402

D = Decimal
DB = "tradeapp_loan_bench"
REDIS = REDIS_URL  # BENCH_REDIS_URL; the queues' leftover jobs are emptied at the end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--near", type=int, default=20, help="loans already in margin call (liquidated by the drop)")
    parser.add_argument("--drop", type=float, default=10.0, help="price drop in %%")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    recreate_database(DB)
    # As in production: jobs (customers' notifications and their e-mail) go to the RQ queues in Redis.
    os.environ.update(
        DATABASE_URL=pg_url(DB),
        REDIS_URL=REDIS,
        SECRET_KEY="bench-loans-0123456789abcdef0123456789",
        INSTANCE_DIR=tempfile.mkdtemp(prefix="tradeapp-loan-bench-"),
        BASE_URL="http://127.0.0.1",
        MAIL_BACKEND="outbox",
        LOG_LEVEL="WARNING",
        ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION="true",
    )
    try:
        run(args)
    finally:
        if not args.keep:
            drop_database(DB)


def run(args) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, text

    from tradeapp import create_app
    from tradeapp.extensions import db
    from tradeapp.market.base import MarketFeed
    from tradeapp.models import Loan, TradingPair, User
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger, loans
    from tradeapp.services.loans import calc
    from tradeapp.services.loans.risk import crossed
    from tradeapp.services.trading.pairs import FEED_KEY

    class Book(MarketFeed):
        """A hand-set book: ``bid`` with deep levels a dollar apart (as tests' ManualFeed)."""

        name = "bench"

        def __init__(self):
            super().__init__()
            self.bid = D("50000")

        def _levels(self, start, sign):
            return [[start + sign * i, D("50")] for i in range(20)]

        def ticker(self, symbol):
            bid = self.bid if symbol == "BTC/USD" else D("3000")
            return {"symbol": symbol, "last": bid, "bid": bid, "ask": bid + 1, "timestamp": None}

        def order_book(self, symbol, depth=20):
            bid = self.bid if symbol == "BTC/USD" else D("3000")
            return {"symbol": symbol, "bids": self._levels(bid, -1)[:depth], "asks": self._levels(bid + 1, 1)[:depth]}

        def candles(self, *a, **k):
            return []

    app = create_app()
    book = Book()
    app.extensions[FEED_KEY] = book
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        t0 = time.perf_counter()
        for symbol, base in (("BTC/USD", "BTC"), ("ETH/USD", "ETH")):
            db.session.add(
                TradingPair(
                    symbol=symbol,
                    base_currency=base,
                    quote_currency="USD",
                    pair_type="crypto",
                    is_active=True,
                    min_order_size=D("0.0001"),
                    max_order_size=D("1000"),
                    price_precision=2,
                    quantity_precision=6,
                    maker_fee=D("0.1"),
                    taker_fee=D("0.2"),
                    feed_exchange="simulated",
                    feed_symbol=symbol,
                )
            )
        now = utcnow()
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"admin{i}@bench.example",
                    "username": f"admin{i}",
                    "password_hash": "x",
                    "referral_code": f"ADM{i:05d}",
                    "role": role,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, role in enumerate(("admin", "loans"))
            ],
        )
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"b{i}@bench.example",
                    "username": f"b{i}",
                    "password_hash": "x",
                    "referral_code": f"B{i:08d}",
                    "kyc_status": "approved",
                    "is_verified": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1000)
            ],
        )
        db.session.commit()
        admin, officer = db.session.scalars(select(User).where(User.role.is_not(None)).order_by(User.id)).all()
        product = loans.save_product(
            admin,
            {
                "name": "Bench",
                "loan_currency": "USD",
                "collateral_currencies": ["BTC"],
                "min_amount": "100",
                "max_amount": "1000000",
                "interest_rate": "10",
                "term_days": 30,
                "initial_ltv": "50",
                "margin_call_ltv": "70",
                "liquidation_ltv": "80",
                "liquidation_fee": "2",
                "grace_days": 3,
            },
        )
        customers = db.session.scalars(select(User.id).where(User.role.is_(None)).order_by(User.id)).all()
        # The loans near liquidation go through the real services: collateral held, disbursed at 50 % LTV,
        # then BTC falls to 34,500 and the tick check puts them in margin call (72.5 %).
        for user_id in customers[: args.near]:
            user = db.session.get(User, user_id)
            wallet = ledger.wallet_for(user, "BTC")
            adjustments = ledger.platform_account("adjustments", "BTC")
            ledger.post("adjustment", [ledger.Leg(wallet, D("1")), ledger.Leg(adjustments, D("-1"))])
            db.session.commit()
            loan = loans.apply(
                user, {"product": product.id, "amount": "25000", "collateral_amount": "1", "collateral_currency": "BTC"}
            )
            loans.approve(officer, loan.id)
            loans.approve(admin, loan.id)  # above the dual-approval threshold: two different people
        price = book.bid = D("34500")
        loans.check_ltv("BTC/USD")
        # The bulk of the book: LTVs uniform between 20 % and 65 % at today's price, 1 BTC each.
        rng = random.Random(7)
        today = now.date()
        rows = []
        for n in range(args.loans - args.near):
            ltv = D(rng.uniform(20, 65)).quantize(D("0.01"))
            amount = (price * ltv / 100).quantize(D("0.01"))
            margin_price = calc.trigger_price(amount, D(1), D(70))
            rows.append(
                {
                    "user_id": customers[n % len(customers)],
                    "product_id": product.id,
                    "loan_currency": "USD",
                    "amount": amount,
                    "interest_rate": D("10"),
                    "term_days": 30,
                    "collateral_amount": D(1),
                    "collateral_currency": "BTC",
                    "principal_outstanding": amount,
                    "interest_accrued": D(0),
                    "interest_remainder": D(0),
                    "status": "active",
                    "applied_at": now,
                    "disbursed_at": now,
                    "due_date": today,
                    "accrued_through": today,
                    "ltv": ltv,
                    "margin_called": False,
                    "margin_calls": 0,
                    "shortfall": D(0),
                    "version": 1,
                    "rejection_reason": "",
                    "margin_price": margin_price,
                    "liquidation_price": calc.trigger_price(amount, D(1), D(80)),
                    "down_trigger": margin_price,
                    "up_trigger": None,
                }
            )
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Loan), rows[start : start + 5000])
        db.session.commit()
        db.session.execute(text("ANALYZE loans"))
        db.session.commit()
        setup = time.perf_counter() - t0
        total = db.session.scalar(select(func.count()).select_from(Loan).where(Loan.status == "active"))
        called = db.session.scalar(select(func.count()).select_from(Loan).where(Loan.margin_called))
        db.session.rollback()
        print(f"setup: {total:,} active loans ({called} already in margin call) in {setup:.1f} s")

        # The drop.
        book.bid = (price * (1 - D(str(args.drop)) / 100)).quantize(D("0.01"))
        t1 = time.perf_counter()
        calls, liquidations, cleared = crossed("BTC", "USD", book.bid)
        query_s = time.perf_counter() - t1
        db.session.rollback()
        # Time the liquidations apart (each sells through the order engine in its own transaction).
        from tradeapp.services.loans import risk

        spent = {"liquidations": 0.0}
        real_liquidate = risk.liquidate

        def timed_liquidate(*a, **k):
            start = time.perf_counter()
            try:
                return real_liquidate(*a, **k)
            finally:
                spent["liquidations"] += time.perf_counter() - start

        risk.liquidate = timed_liquidate
        t2 = time.perf_counter()
        if os.environ.get("LOAN_BENCH_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            counts = profiler.runcall(loans.check_ltv, "BTC/USD")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        else:
            counts = loans.check_ltv("BTC/USD")
        check_s = time.perf_counter() - t2
        report = ledger.check()
        from tradeapp.queues import QUEUES, get_queue

        queued = {name: len(get_queue(name)) for name in QUEUES}
        for name in QUEUES:
            get_queue(name).empty()
        print(f"price: BTC {price} → {book.bid} (−{args.drop:g} %)")
        print(
            f"indexed crossing query: {query_s * 1000:.0f} ms → {len(calls):,} margin calls, "
            f"{len(liquidations):,} liquidations, {len(cleared):,} cleared (a scan would read {total:,})"
        )
        liq = spent["liquidations"]
        per = liq / counts["liquidated"] if counts["liquidated"] else 0
        print(
            f"check_ltv: {check_s:.2f} s, touched {counts['touched']:,} of {total:,} loans "
            f"({counts['margin_calls']:,} margin calls, {counts['liquidated']:,} liquidated through the order "
            f"engine, {counts['cleared']:,} cleared)"
        )
        print(f"  of which margin calls {check_s - liq:.2f} s, liquidations {liq:.2f} s ({per * 1000:.0f} ms each)")
        print(f"jobs left for the workers (customers' notifications, e-mail): {sum(queued.values())} {queued}")
        print(
            f"target < 5 s: {'met' if check_s < 5 else 'MISSED'}; ledger check: {'ok' if report.ok else report.problems()[:5]}"
        )


if __name__ == "__main__":
    main()
