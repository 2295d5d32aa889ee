"""The staff dashboard's aggregate queries on a big book: 100,000 customers and 1,000,000 ledger postings.

Run: ``.venv/bin/python bench/dashboard_bench.py`` (needs PostgreSQL on localhost). Seeds a scratch
database with bulk ``INSERT … SELECT generate_series`` statements (customers, wallets, 500,000 journal
entries with 1,000,000 postings over 60 days, 100,000 deposits, 30,000 withdrawals, 200,000 orders and
trades), ANALYZEs it, then times each dashboard section and the whole dashboard (median of ``--runs``)
and prints the figures against the 300 ms target.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import app_env, drop_database, pg_url, recreate_database  # noqa: E402

TARGET_MS = 300.0

SEED_SQL = [
    # customers (and one admin who looks at the dashboard)
    """INSERT INTO users (email, username, password_hash, first_name, last_name, phone_number, is_verified,
        kyc_status, referral_code, is_active, created_at, updated_at)
       SELECT 'c' || i || '@example.com', 'c' || i, 'x', '', '', '', true,
              CASE WHEN i % 500 = 0 THEN 'pending' ELSE 'approved' END, 'R' || lpad(i::text, 9, '0'), true,
              now() - (i % 365) * interval '1 day', now()
       FROM generate_series(1, :customers) AS i""",
    """INSERT INTO users (email, username, password_hash, first_name, last_name, phone_number, is_verified,
        kyc_status, referral_code, is_active, created_at, updated_at, role)
       VALUES ('admin@bench.example.com', 'benchadmin', 'x', 'Ada', '', '', true, 'approved', 'ADMIN00001', true,
               now(), now(), 'admin')""",
    """INSERT INTO trading_pairs (symbol, base_currency, quote_currency, pair_type, is_active, min_order_size,
        max_order_size, price_precision, quantity_precision, maker_fee, taker_fee, feed_exchange, feed_symbol, created_at)
       VALUES ('BTC/USD', 'BTC', 'USD', 'crypto', true, 0.0001, 100, 2, 6, 0.1, 0.2, 'simulated', 'BTC/USD', now())""",
    # a USD wallet per customer, a BTC wallet for every third
    """INSERT INTO wallets (user_id, currency, balance, locked_balance, created_at, updated_at)
       SELECT id, 'USD', 1000 + (id % 997), 0, now(), now() FROM users WHERE role IS NULL""",
    """INSERT INTO wallets (user_id, currency, balance, locked_balance, created_at, updated_at)
       SELECT id, 'BTC', 0.01 * (id % 7 + 1), 0, now(), now() FROM users WHERE role IS NULL AND id % 3 = 0""",
    """INSERT INTO platform_accounts (code, currency, balance, created_at) VALUES
       ('clearing:bank', 'USD', 0, now()), ('fees', 'USD', 0, now()), ('trading', 'USD', 0, now()),
       ('trading', 'BTC', 0, now()), ('adjustments', 'USD', 0, now())""",
    # 500,000 entries over 60 days, two postings each: a wallet and a platform account
    """INSERT INTO journal_entries (kind, memo, reference, created_at)
       SELECT CASE WHEN i % 5 = 0 THEN 'trade' ELSE 'deposit' END, '', 'bench-' || i,
              now() - (i % 60) * interval '1 day' - (i % 1440) * interval '1 minute'
       FROM generate_series(1, :entries) AS i""",
    """INSERT INTO postings (entry_id, wallet_id, currency, amount)
       SELECT e.id, w.id, 'USD', 10 + (e.id % 90)
       FROM journal_entries e JOIN wallets w ON w.currency = 'USD' AND w.user_id = (e.id % :customers) + 1""",
    """INSERT INTO postings (entry_id, platform_account_id, currency, amount)
       SELECT e.id, (SELECT id FROM platform_accounts WHERE code = 'clearing:bank'), 'USD', -(10 + (e.id % 90))
       FROM journal_entries e""",
    # deposits and withdrawals with their history lines, spread over 60 days
    """INSERT INTO transactions (user_id, transaction_type, currency, amount, fee, status, reference_id, external_id,
        notes, direction, created_at)
       SELECT (i % :customers) + 1, 'deposit', 'USD', 100 + i % 900, 0, 'completed', 'D' || i, '', '', 1,
              now() - (i % 60) * interval '1 day'
       FROM generate_series(1, :deposits) AS i""",
    """INSERT INTO deposits (transaction_id, user_id, payment_method, status, currency, amount, credited_amount,
        payment_details, provider, rejection_reason, created_at, completed_at)
       SELECT t.id, t.user_id, 'bank_transfer', CASE WHEN t.id % 200 = 0 THEN 'pending' ELSE 'completed' END,
              'USD', t.amount, t.amount, '{}', 'bank', '', t.created_at,
              CASE WHEN t.id % 200 = 0 THEN NULL ELSE t.created_at + interval '5 minutes' END
       FROM transactions t WHERE t.transaction_type = 'deposit'""",
    """INSERT INTO transactions (user_id, transaction_type, currency, amount, fee, status, reference_id, external_id,
        notes, direction, created_at)
       SELECT (i % :customers) + 1, 'withdrawal', 'USD', 50 + i % 400, 1, 'completed', 'W' || i, '', '', -1,
              now() - (i % 60) * interval '1 day'
       FROM generate_series(1, :withdrawals) AS i""",
    """INSERT INTO withdrawals (transaction_id, user_id, currency, amount, fee, status, destination_type,
        destination_details, rejection_reason, payout_provider, payout_attempts, failure_reason, created_at, completed_at)
       SELECT t.id, t.user_id, 'USD', t.amount, 1, CASE WHEN t.id % 100 = 0 THEN 'pending' ELSE 'completed' END,
              'bank_account', '{}', '', 'sandbox', 1, '', t.created_at,
              CASE WHEN t.id % 100 = 0 THEN NULL ELSE t.created_at + interval '1 hour' END
       FROM transactions t WHERE t.transaction_type = 'withdrawal'""",
    # orders (one in fifty still open) and their trades, against the trade entries
    """INSERT INTO orders (user_id, pair_id, order_type, side, quantity, price, filled_quantity, status, fee, source,
        status_reason, created_at, updated_at)
       SELECT (i % :customers) + 1, (SELECT id FROM trading_pairs LIMIT 1), 'limit', 'buy', 0.01, 50000,
              CASE WHEN i % 50 = 0 THEN 0 ELSE 0.01 END, CASE WHEN i % 50 = 0 THEN 'open' ELSE 'filled' END,
              CASE WHEN i % 50 = 0 THEN 0 ELSE 1 END, 'manual', '', now() - (i % 60) * interval '1 day', now()
       FROM generate_series(1, :orders) AS i""",
    """INSERT INTO trades (order_id, user_id, pair_id, side, quantity, price, notional, fee, liquidity, entry_id,
        external_trade_id, executed_at)
       SELECT o.id, o.user_id, o.pair_id, 'buy', 0.01, 50000, 500, 1, 'taker',
              (SELECT min(id) FROM journal_entries) + (o.id % :entries), '', o.created_at
       FROM orders o WHERE o.status = 'filled'""",
    "ANALYZE",
]


def seed(engine, sizes: dict) -> float:
    from sqlalchemy import text

    started = time.perf_counter()
    with engine.begin() as conn:
        # the append-only triggers guard updates and deletes; inserts go straight in
        for statement in SEED_SQL[:-1]:
            conn.execute(text(statement), sizes)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(SEED_SQL[-1]))
    return time.perf_counter() - started


def timed(func, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    dbname = f"tradeapp_bench_dashboard_{os.getpid()}"
    recreate_database(dbname)
    os.environ.update(app_env(dbname))
    os.environ["MARKET_FEED"] = "simulated"
    try:
        return run(args, dbname)
    finally:
        if not args.keep:
            drop_database(dbname)


def run(args, dbname: str) -> int:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from tradeapp import create_app
    from tradeapp.extensions import db
    from tradeapp.models import Deposit, Posting, User, Withdrawal
    from tradeapp.models.types import utcnow
    from tradeapp.services import ledger
    from tradeapp.services.backoffice import dashboard, reports
    from tradeapp.services.backoffice.aggregates import day_range

    app = create_app()
    with app.app_context():
        upgrade()
        sizes = {
            "customers": args.customers,
            "entries": args.postings // 2,
            "deposits": args.customers,
            "withdrawals": max(args.customers * 3 // 10, 1),
            "orders": args.customers * 2,
        }
        seconds = seed(db.engine, sizes)
        postings = db.session.scalar(select(func.count()).select_from(Posting))
        customers = db.session.scalar(select(func.count()).select_from(User).where(User.role.is_(None)))
        print(f"seeded {customers:,} customers, {postings:,} postings in {seconds:.1f} s ({pg_url(dbname)})")
        admin = db.session.scalar(select(User).where(User.role == "admin"))
        today = utcnow().date()
        # what the nightly job keeps: the past days' reports (the charts read them; only today is live)
        started = time.perf_counter()
        check = ledger.check()
        for back in range(1, dashboard.CHART_DAYS):
            reports.store_day(today - timedelta(days=back), check)
        print(f"stored {dashboard.CHART_DAYS - 1} daily reports in {time.perf_counter() - started:.1f} s")
        week = day_range(today - timedelta(days=6), today)

        sections = {
            "deposits (7 days, per currency)": lambda: dashboard.money_flow(
                Deposit, func.coalesce(Deposit.credited_amount, Deposit.amount), *week
            ),
            "withdrawals (7 days, per currency)": lambda: dashboard.money_flow(Withdrawal, Withdrawal.amount, *week),
            "client assets (by currency, USD)": dashboard.client_assets,
            "trading volume and fees (7 days)": lambda: dashboard.trading_figures(*week),
            "open orders": dashboard.open_orders,
            "queues with oldest item": lambda: dashboard.queues(admin),
            "30-day series (4 charts)": lambda: dashboard.daily_series(today=today),
            "whole dashboard (admin)": lambda: dashboard.build(admin),
        }
        worst = 0.0
        print(f"{'section':40} {'median ms':>10} {'max ms':>8}")
        for name, func_ in sections.items():
            func_()  # warm the caches and the price feed
            median, peak = timed(func_, args.runs)
            db.session.rollback()
            print(f"{name:40} {median:10.1f} {peak:8.1f}")
            if name.startswith("whole"):
                worst = median
        verdict = "OK" if worst < TARGET_MS else "OVER"
        print(f"whole dashboard: {worst:.1f} ms median, target < {TARGET_MS:.0f} ms: {verdict}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
