"""The one price source converts any amount to any currency at live prices, with a stale flag."""

import time
from decimal import Decimal

from tradeapp.services.trading import prices

D = Decimal


def publish(monkeypatch, quotes: dict[str, str], age: float = 0.0):
    now = time.time() - age
    published = {symbol: {"last": last, "received_at": now} for symbol, last in quotes.items()}
    monkeypatch.setattr(prices, "last_quote", lambda symbol: published.get(symbol))


def test_direct_inverse_and_through_usd(app, db, market, monkeypatch):
    publish(monkeypatch, {"BTC/USD": "50000", "EUR/USD": "1.25"})
    assert prices.rate("USD", "USD").value == 1
    assert prices.convert(D("0.5"), "BTC", "USD").amount == D("25000.00")
    assert prices.convert(D("100"), "USD", "EUR").amount == D("80.00")  # the inverse of EUR/USD
    converted = prices.convert(D("1"), "BTC", "EUR")  # through USD: 50000 / 1.25
    assert converted.amount == D("40000.00") and converted.currency == "EUR" and not converted.stale


def test_old_prices_convert_but_say_they_are_stale(app, db, market, monkeypatch):
    publish(monkeypatch, {"BTC/USD": "50000"}, age=app.config["FEED_STALE_SECONDS"] + 5)
    converted = prices.convert(D("1"), "BTC", "USD")
    assert converted.amount == D("50000.00") and converted.stale


def test_a_currency_no_market_prices_converts_to_none(app, db, market, monkeypatch):
    publish(monkeypatch, {})
    monkeypatch.setitem(app.config, "MARKET_FEED", "ccxt")  # a real exchange is asked only about its pairs
    assert prices.rate("USDT", "USD") is None
    assert prices.convert(D("5"), "USDT", "EUR") is None
