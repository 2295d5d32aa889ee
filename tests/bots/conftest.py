"""Fixtures for the bots tests: real BTC/USD history stored as the platform's candles."""

import pytest

from tradeapp.services.bots import backtest as bt
from tradeapp.services.trading import candles as candle_store

HISTORY = "tradeapp/data/ohlcv/BTC-USD_1h_coinbase.csv"


def history(rows: int = 600):
    """The first ``rows`` hourly bars of the recorded BTC/USD history (see tradeapp/data/ohlcv/NOTICE.md)."""
    return bt.read_csv(HISTORY).iloc[:rows]


def store_history(db, pair, df, timeframe: str = "1h") -> None:
    bars = [
        {
            "timestamp": int(ts.timestamp() * 1000),
            **{k: str(row[k]) for k in ("open", "high", "low", "close", "volume")},
        }
        for ts, row in df.iterrows()
    ]
    candle_store.store(pair.id, timeframe, bars)
    db.session.commit()


@pytest.fixture()
def btc_history(db, pairs):
    """600 real hourly BTC/USD bars stored for the BTC/USD pair; returns the frame."""
    df = history()
    store_history(db, pairs["BTC/USD"], df)
    return df
