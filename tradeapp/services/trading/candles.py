"""Stored price history: the feed keeps OHLCV bars per pair and timeframe for charts, bots and backtests.

The feed process calls :func:`sync` for each active pair about once a minute: the first time it
backfills ``BACKFILL`` bars per timeframe, then it refreshes the last few (the newest bar is
still moving). Readers call :func:`recent`, which serves stored bars when they are current and
otherwise asks the feed (a fresh install, a pair added a moment ago).
"""

import time
from decimal import Decimal

from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES, MarketFeed
from tradeapp.models import Candle, TradingPair
from tradeapp.services.rows import upsert_insert
from tradeapp.services.uow import unit_of_work

#: bars fetched per timeframe the first time a feed process sees a pair, and on each refresh
BACKFILL = 500
REFRESH = 3
FIELDS = ("open", "high", "low", "close", "volume")


def store(pair_id: int, timeframe: str, bars: list[dict]) -> int:
    """Insert or update ``bars`` (feed format: timestamp in ms, Decimal OHLCV); returns how many."""
    if not bars:
        return 0
    rows = [
        {"pair_id": pair_id, "timeframe": timeframe, "open_time": int(bar["timestamp"])}
        | {key: Decimal(str(bar[key])) for key in FIELDS}
        for bar in bars
    ]
    statement = upsert_insert(Candle).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["pair_id", "timeframe", "open_time"],
        set_={key: getattr(statement.excluded, key) for key in FIELDS},
    )
    db.session.execute(statement)
    return len(rows)


def sync(pair: TradingPair, feed: MarketFeed, *, backfill: bool = False) -> int:
    """Fetch the pair's latest bars in every timeframe from ``feed`` and store them (one unit of work)."""
    stored = 0
    with unit_of_work():
        for timeframe in TIMEFRAMES:
            bars = feed.candles(pair.symbol, timeframe, limit=BACKFILL if backfill else REFRESH)
            stored += store(pair.id, timeframe, bars)
    return stored


def stored(pair: TradingPair, timeframe: str, limit: int = 100) -> list[dict]:
    """The newest ``limit`` stored bars of the pair, oldest first (feed format)."""
    rows = db.session.scalars(
        select(Candle)
        .where(Candle.pair_id == pair.id, Candle.timeframe == timeframe)
        .order_by(Candle.open_time.desc())
        .limit(limit)
    ).all()
    return [{"timestamp": c.open_time} | {key: getattr(c, key) for key in FIELDS} for c in reversed(rows)]


def is_current(bars: list[dict], timeframe: str, limit: int, now: float | None = None) -> bool:
    """True when ``bars`` reach the current bar of ``timeframe`` and hold ``limit`` of them."""
    if len(bars) < limit:
        return False
    size = TIMEFRAMES[timeframe]
    now = time.time() if now is None else now
    return bars[-1]["timestamp"] / 1000 >= (now // size - 1) * size
