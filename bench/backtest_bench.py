"""Bots: backtest speed on 20,000 real hourly candles, and one bar close evaluated for 1,000 active bots.

Run: ``.venv/bin/python bench/backtest_bench.py`` (PostgreSQL and Redis on localhost for the bot part;
``--skip-bots`` for the backtests alone). Targets: a moving-average and an RSI backtest over
20,000 1 h candles in under 0.5 s each; 1,000 active bots evaluated for one bar close in under
30 s, with the candles read once per pair and timeframe (not once per bot). Prints the figures.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import drop_database, pg_url, recreate_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "tradeapp" / "data" / "ohlcv" / "BTC-USD_1h_coinbase.csv"
D = Decimal


def bench_backtests(repeat: int) -> None:
    from tradeapp.services.bots import backtest as bt

    df = bt.read_csv(str(HISTORY)).iloc[-20_000:]
    print(f"backtests over {len(df):,} hourly BTC/USD candles ({df.index[0]:%Y-%m-%d} → {df.index[-1]:%Y-%m-%d})")
    cases = [
        ("moving_average", {}, {}),
        ("rsi", {}, {}),
        ("moving_average", {}, {"stop_loss_pct": 2.0, "take_profit_pct": 4.0}),
        ("rsi", {}, {"stop_loss_pct": 2.0, "take_profit_pct": 4.0}),
    ]
    for name, params, extra in cases:
        settings = bt.Settings(fee_pct=0.1, stake_fraction=1.0, **extra)
        times, result = [], None
        for _ in range(repeat):
            start = time.perf_counter()
            result = bt.backtest(name, params, df, settings)
            times.append(time.perf_counter() - start)
        label = name + (" + SL/TP" if extra else "")
        print(
            f"  {label:<24} best {min(times) * 1000:7.1f} ms  median {statistics.median(times) * 1000:7.1f} ms"
            f"  ({result.metrics['num_trades']} trades, target < 500 ms: {'ok' if min(times) < 0.5 else 'MISSED'})"
        )


def bench_feed(prices: dict):
    """A feed with fixed quotes and books for the paper fills (no network)."""
    from tradeapp.market.base import MarketFeed

    class BenchFeed(MarketFeed):
        name = "bench"
        ticker = _ticker
        order_book = _order_book
        candles = _candles

    feed = BenchFeed()
    feed.prices = prices
    return feed


def _ticker(self, symbol):
    p = self.prices[symbol]
    return {
        "symbol": symbol,
        "last": p,
        "bid": p,
        "ask": p + 1,
        "change_24h": D(0),
        "high_24h": p,
        "low_24h": p,
        "volume": D(1),
        "timestamp": None,
    }


def _order_book(self, symbol, depth=10):
    p = self.prices[symbol]
    return {
        "symbol": symbol,
        "bids": [[p - i, D(100)] for i in range(depth)],
        "asks": [[p + 1 + i, D(100)] for i in range(depth)],
        "timestamp": None,
    }


def _candles(self, symbol, timeframe="1h", since=None, limit=100):
    return []


def bench_bots(n_bots: int) -> None:
    dbname = "tradeapp_bench_bots"
    recreate_database(dbname)
    os.environ.update(
        DATABASE_URL=pg_url(dbname),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")),
        SECRET_KEY="bench-secret-key-0123456789abcdef0123456789",
        JOBS_INLINE="true",
        MAIL_BACKEND="outbox",
        LOG_LEVEL="WARNING",
        INSTANCE_DIR=tempfile.mkdtemp(prefix="tradeapp-bench-"),
        SESSION_COOKIE_SECURE="false",
        BASE_URL="http://127.0.0.1",
        ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION="true",
    )
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, update

    from tradeapp import create_app
    from tradeapp.extensions import db
    from tradeapp.models import BotPosition, BotTrade, TradingBot, TradingPair, User
    from tradeapp.models.bots import bot_pairs
    from tradeapp.models.types import utcnow
    from tradeapp.services import seed
    from tradeapp.services.bots import backtest as bt
    from tradeapp.services.bots import engine
    from tradeapp.services.trading import candles as candle_store
    from tradeapp.services.trading.pairs import FEED_KEY

    app = create_app()
    try:
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            seed.seed_pairs()
            db.session.commit()
            pairs = {p.symbol: p for p in db.session.scalars(select(TradingPair))}
            df = bt.read_csv(str(HISTORY)).iloc[-1200:]
            # BTC/USD and ETH/USD (ETH: the same history scaled) stored as the platform's 1 h candles
            for symbol, scale in (("BTC/USD", 1), ("ETH/USD", 20)):
                bars = [
                    {
                        "timestamp": int(ts.timestamp() * 1000),
                        **{k: D(str(round(getattr(r, k) / scale, 2))) for k in ("open", "high", "low", "close")},
                        "volume": D(1),
                    }
                    for ts, r in zip(df.index, df.itertuples(), strict=True)
                ]
                candle_store.store(pairs[symbol].id, "1h", bars)
            db.session.commit()
            last = df.iloc[-1]
            app.extensions[FEED_KEY] = bench_feed(
                {"BTC/USD": D(str(last.close)), "ETH/USD": D(str(round(last.close / 20, 2)))}
            )
            bar_time = int(df.index[-1].timestamp() * 1000)

            users = []
            for i in range(n_bots // 10):
                users.append(
                    {
                        "email": f"bot{i}@example.com",
                        "username": f"bot{i}",
                        "password_hash": "x",
                        "referral_code": f"B{i:07d}",
                        "email_verified_at": utcnow(),
                    }
                )
            db.session.execute(insert(User), users)
            user_ids = list(db.session.scalars(select(User.id).where(User.email.like("bot%@example.com"))))
            kinds = [
                ("moving_average", {"short_period": 20, "long_period": 50}),
                ("moving_average", {"short_period": 10, "long_period": 30}),
                ("rsi", {"rsi_period": 14, "oversold_level": 30, "overbought_level": 70, "smoothing": "wilder"}),
                ("macd", {"fast_period": 12, "slow_period": 26, "signal_period": 9}),
                ("bollinger", {"bb_period": 20, "bb_std": 2.0, "exit_band": "middle"}),
                # a share of bots whose rule is true on every bar: they all buy at this close (paper fills)
                ("custom", {"entry_rule": "close > 0", "exit_rule": "close < 0"}),
            ]
            rows = []
            for i in range(n_bots):
                strategy, params = kinds[i % len(kinds)]
                rows.append(
                    {
                        "user_id": user_ids[i % len(user_ids)],
                        "name": f"bench {i}",
                        "description": "",
                        "strategy": strategy,
                        "timeframe": "1h",
                        "is_active": True,
                        "is_paper_trading": True,
                        "max_position_size": D(1000),
                        "stop_loss_percentage": D(2),
                        "take_profit_percentage": D(4),
                        "trailing_stop_percentage": D(0),
                        "max_daily_loss": D(500) if i % 2 else D(0),
                        "parameters": params,
                        "total_trades": 0,
                        "winning_trades": 0,
                        "total_profit": D(0),
                        "paper_currency": "USD",
                        "paper_initial": D(10000),
                        "paper_balance": D(10000),
                        "stopped_reason": "",
                    }
                )
            db.session.execute(insert(TradingBot), rows)
            bot_ids = list(db.session.scalars(select(TradingBot.id).order_by(TradingBot.id)))
            links = [
                {"bot_id": b, "pair_id": pairs["BTC/USD" if k % 2 == 0 else "ETH/USD"].id}
                for k, b in enumerate(bot_ids)
            ]
            db.session.execute(insert(bot_pairs), links)
            db.session.commit()

            start = time.perf_counter()
            counts = engine.run_bar("1h", bar_time)
            elapsed = time.perf_counter() - start
            trades = db.session.scalar(select(func.count()).select_from(BotTrade))
            print(
                f"one 1 h bar close, {counts['bots']:,} active bots on {counts['pairs']} pairs: {elapsed:.2f} s "
                f"({counts['actions']} paper fills, {counts['stopped']} stopped; target < 30 s: "
                f"{'ok' if elapsed < 30 else 'MISSED'})"
            )
            # a duplicated job, with the positions put back to flat so every bot would buy again
            db.session.execute(update(BotPosition).values(quantity=0))
            db.session.commit()
            start = time.perf_counter()
            again = engine.run_bar("1h", bar_time)
            print(
                f"  the same bar again (a duplicated job): {time.perf_counter() - start:.2f} s, "
                f"{again['actions']} new fills, {again['duplicates']} refused as duplicates; "
                f"bot trades {trades} → {db.session.scalar(select(func.count()).select_from(BotTrade))}"
            )
            db.session.execute(update(TradingBot).values(is_active=False))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_database(dbname)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--skip-bots", action="store_true")
    args = parser.parse_args()
    bench_backtests(args.repeat)
    if not args.skip_bots:
        bench_bots(args.bots)


if __name__ == "__main__":
    main()
