"""Public market-data API: trading pairs, quotes and candles."""

from decimal import Decimal

import pytest

from tradeapp.market import runner as feed_runner
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models import TradingPair
from tradeapp.services.seed import seed_pairs

QUOTE_FIELDS = {"symbol", "last_price", "bid", "ask", "volume", "change_24h", "high_24h", "low_24h", "timestamp"}
PAIR_FIELDS = {
    "id",
    "symbol",
    "base_currency",
    "quote_currency",
    "market_type",
    "pair_type",
    "trading_fee_percentage",
    "is_active",
    "min_order_size",
    "max_order_size",
    "price_precision",
    "quantity_precision",
    "maker_fee",
    "taker_fee",
}


@pytest.fixture()
def seeded(db):
    seed_pairs()
    db.session.commit()
    return {p.symbol: p for p in db.session.scalars(db.select(TradingPair))}


def test_trading_pairs_lists_active_pairs_with_decimal_strings(api_client, seeded, db):
    seeded["GBP/USD"].is_active = False
    db.session.commit()
    r = api_client.get("/api/v1/trading-pairs/")
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert [p["symbol"] for p in body["results"]] == ["BTC/USD", "ETH/USD", "EUR/USD"]
    btc = body["results"][0]
    assert set(btc) == PAIR_FIELDS
    assert btc["base_currency"] == "BTC" and btc["quote_currency"] == "USD" and btc["pair_type"] == "crypto"
    assert btc["min_order_size"] == "0.000100" and btc["max_order_size"] == "100.000000"
    assert btc["maker_fee"] == "0.1" and btc["taker_fee"] == "0.2"
    assert btc["market_type"] == "crypto" and btc["trading_fee_percentage"] == "0.2"  # the seed's names
    assert btc["price_precision"] == 2 and btc["quantity_precision"] == 6 and btc["is_active"] is True


def test_trading_pairs_paginate(api_client, seeded):
    r = api_client.get("/api/v1/trading-pairs/?page_size=3")
    body = r.get_json()
    assert body["count"] == 4 and len(body["results"]) == 3
    assert body["previous"] is None and "page=2" in body["next"]
    second = api_client.get(body["next"]).get_json()
    assert [p["symbol"] for p in second["results"]] == ["GBP/USD"]
    assert second["next"] is None and "page=1" in second["previous"]


def test_bad_page_size_is_400(api_client, seeded):
    r = api_client.get("/api/v1/trading-pairs/?page_size=0")
    assert r.status_code == 400
    assert "page_size" in r.get_json()["fields"]


def test_market_data_falls_back_to_the_simulated_feed(api_client, seeded):
    r = api_client.get("/api/v1/market-data/BTC-USD/")
    assert r.status_code == 200
    q = r.get_json()
    assert set(q) == QUOTE_FIELDS
    assert q["symbol"] == "BTC/USD"
    for key in QUOTE_FIELDS - {"symbol", "timestamp"}:
        assert isinstance(q[key], str)
        Decimal(q[key])
    assert Decimal(q["bid"]) < Decimal(q["ask"])
    assert Decimal(q["bid"]) <= Decimal(q["last_price"]) <= Decimal(q["ask"])
    assert Decimal(q["bid"]).as_tuple().exponent == -2  # the pair's price precision
    assert q["timestamp"]


def test_market_data_prefers_the_feed_processes_last_quote(api_client, seeded, app, monkeypatch):
    cached = {
        "symbol": "ETH/USD",
        "last": "3000.10",
        "bid": "3000.00",
        "ask": "3000.20",
        "change_24h": "-1.25",
        "high_24h": "3100.00",
        "low_24h": "2950.00",
        "volume": "1234.5",
        "timestamp": "2026-11-01T12:00:00+00:00",
    }
    monkeypatch.setattr(feed_runner, "last_quote", lambda symbol: cached if symbol == "ETH/USD" else None)
    monkeypatch.setattr("tradeapp.services.trading.pairs.last_quote", feed_runner.last_quote)
    q = api_client.get("/api/v1/market-data/eth-usd/").get_json()
    assert q == {
        "symbol": "ETH/USD",
        "last_price": "3000.10",
        "bid": "3000.00",
        "ask": "3000.20",
        "volume": "1234.5",
        "change_24h": "-1.25",
        "high_24h": "3100.00",
        "low_24h": "2950.00",
        "timestamp": "2026-11-01T12:00:00+00:00",
    }


def test_market_data_reads_the_runner_in_this_process(api_client, seeded, app, db):
    db.session.commit()  # the runner uses its own session (SQLite: one writer at a time)
    runner = feed_runner.FeedRunner(app, interval=1)
    published = runner.tick_once()
    app.extensions[feed_runner.EXTENSION_KEY] = runner
    try:
        q = api_client.get("/api/v1/market-data/EUR-USD/").get_json()
    finally:
        app.extensions.pop(feed_runner.EXTENSION_KEY)
    assert q["last_price"] == published["EUR/USD"]["last"]
    assert q["timestamp"] == published["EUR/USD"]["timestamp"]


@pytest.mark.parametrize("symbol", ["DOGE-USD", "nonsense", "GBP-USD"])
def test_unknown_or_inactive_symbol_is_404(api_client, seeded, db, symbol):
    seeded["GBP/USD"].is_active = False
    db.session.commit()
    for url in (f"/api/v1/market-data/{symbol}/", f"/api/v1/candles/{symbol}/"):
        r = api_client.get(url)
        assert r.status_code == 404, url
        body = r.get_json()
        assert body["code"] == "not_found" and body["error"] and body["fields"] == {}


def test_pair_without_a_feed_source_is_503(api_client, seeded, db):
    db.session.add(
        TradingPair(
            symbol="ETH/EUR",
            base_currency="ETH",
            quote_currency="EUR",
            pair_type="crypto",
            min_order_size=Decimal("0.01"),
            max_order_size=Decimal("10"),
            maker_fee=Decimal("0.1"),
            taker_fee=Decimal("0.2"),
        )
    )
    db.session.commit()
    r = api_client.get("/api/v1/market-data/ETH-EUR/")
    assert r.status_code == 503
    assert r.get_json()["code"] == "market_data_unavailable"


def test_candles_shape(api_client, seeded):
    r = api_client.get("/api/v1/candles/BTC-USD/?timeframe=15m&limit=20")
    assert r.status_code == 200
    body = r.get_json()
    assert body["symbol"] == "BTC/USD" and body["timeframe"] == "15m"
    bars = body["candles"]
    assert len(bars) == 20
    step = TIMEFRAMES["15m"] * 1000
    assert all(b[0] - a[0] == step for a, b in zip(bars, bars[1:], strict=False))
    for ms, o, h, low, c, v in bars:
        assert isinstance(ms, int)
        assert all(isinstance(x, str) for x in (o, h, low, c, v))
        assert Decimal(low) <= min(Decimal(o), Decimal(c)) <= max(Decimal(o), Decimal(c)) <= Decimal(h)


def test_candles_defaults(api_client, seeded):
    body = api_client.get("/api/v1/candles/ETH-USD/").get_json()
    assert body["timeframe"] == "1h" and len(body["candles"]) == 100


@pytest.mark.parametrize(
    ("query", "field"),
    [("timeframe=2h", "timeframe"), ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit")],
)
def test_bad_candle_arguments_are_400(api_client, seeded, query, field):
    r = api_client.get(f"/api/v1/candles/BTC-USD/?{query}")
    assert r.status_code == 400
    body = r.get_json()
    assert body["code"] == "validation_error" and field in body["fields"]


def test_market_endpoints_are_documented_and_public(api_client, seeded):
    spec = api_client.get("/api/schema/").get_json()
    for path in ("/api/v1/trading-pairs/", "/api/v1/market-data/{symbol}/", "/api/v1/candles/{symbol}/"):
        op = spec["paths"][path]["get"]
        assert "security" not in op
        assert "200" in op["responses"]
