"""Bots with controllable signals: custom rules on closes the test stores as candles."""

from decimal import Decimal

from tradeapp.extensions import db
from tradeapp.services.bots import bots as bot_service
from tradeapp.services.trading import candles as candle_store

D = Decimal
HOUR_MS = 3_600_000
#: the first stored bar opens here (2024-01-01T00:00Z)
T0 = 1_704_067_200_000


def bar_time(i: int) -> int:
    return T0 + i * HOUR_MS


def store_closes(pair, closes, *, start: int = 0, lows=None, highs=None) -> int:
    """Store hourly bars with these closes from bar ``start`` on; returns the last bar's open time."""
    bars = []
    for k, close in enumerate(closes):
        close = D(str(close))
        low = D(str(lows[k])) if lows else close
        high = D(str(highs[k])) if highs else close
        bars.append(
            {"timestamp": bar_time(start + k), "open": close, "high": high, "low": low, "close": close, "volume": D(1)}
        )
    candle_store.store(pair.id, "1h", bars)
    db.session.commit()
    return bar_time(start + len(closes) - 1)


def make_bot(user, pair, *, paper=True, entry="close > 100", exit="close < 50", start=True, **extra):
    data = {
        "name": "rules",
        "strategy": "custom",
        "trading_pairs": [pair.id],
        "timeframe": "1h",
        "is_paper_trading": paper,
        "max_position_size": "5000",
        "parameters": {"entry_rule": entry, "exit_rule": exit},
    } | extra
    bot = bot_service.create_bot(user, data)
    if start:
        bot_service.start_bot(user, bot.id)
    return bot
