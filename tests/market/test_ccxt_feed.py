"""The ccxt feed, offline: recorded Binance payloads go through ccxt's own parsers.

A real ``ccxt.binance()`` instance gets its market from ``set_markets`` and its ``fetch`` replaced by
a function serving the recorded ``httpResponse`` (tests/data/ccxt, see NOTICE.md); the adapter's
output must equal ccxt's recorded ``parsedResponse``, as Decimals at the pair's precision.
No test reaches the network: ``ccxt.Exchange.fetch`` itself is replaced by one that fails the test.
"""

import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import ccxt
import pytest

from tradeapp.market.base import FeedError, PairSpec, UnknownSymbol
from tradeapp.market.ccxt_feed import CcxtFeed
from tradeapp.market.runner import FeedRunner, build_feed, feed_routes
from tradeapp.market.simulated import SimulatedFeed
from tradeapp.models import TradingPair
from tradeapp.services.seed import seed_pairs

FIXTURE = json.loads((Path(__file__).parent.parent / "data" / "ccxt" / "binance_spot_btcusdt.json").read_text())
BTC = PairSpec("BTC/USD", "crypto", 2, 6)
ROUTES = {"BTC/USD": ("binance", "BTC/USDT")}
T0 = 1_790_000_000.0


def q(value, places: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(self, url, *args, **kwargs):
        raise AssertionError(f"network access in a test: {url}")

    monkeypatch.setattr(ccxt.Exchange, "fetch", refuse)


class Recorded:
    """Stands in for ``exchange.fetch``: the recorded response for the endpoint asked, or ``error``."""

    def __init__(self, error: Exception | None = None):
        self.error = error
        self.urls: list[str] = []

    def __call__(self, url, method="GET", headers=None, body=None):
        self.urls.append(url)
        if self.error is not None:
            raise self.error
        for call in ("fetchTicker", "fetchOHLCV", "fetchOrderBook"):
            if FIXTURE[call]["url_path"] in url:
                return FIXTURE[call]["httpResponse"]
        raise AssertionError(f"no recording for {url}")


def offline_binance(fetch: Recorded) -> ccxt.Exchange:
    exchange = ccxt.binance({"enableRateLimit": True})
    exchange.set_markets([FIXTURE["market"]])
    exchange.fetch = fetch
    return exchange


@pytest.fixture()
def recorded():
    return Recorded()


@pytest.fixture()
def feed(recorded):
    feed = CcxtFeed(ROUTES, pairs=[BTC], clock=lambda: T0)
    feed.exchanges["binance"] = offline_binance(recorded)
    return feed


def test_ticker_is_ccxts_parse_of_the_recorded_payload(feed, recorded):
    expected = FIXTURE["fetchTicker"]["parsedResponse"]

    ticker = feed.ticker("BTC/USD")

    assert feed.exchange("binance").fetch is recorded
    assert len(recorded.urls) == 1 and "/api/v3/ticker/24hr" in recorded.urls[0]
    assert "symbol=BTCUSDT" in recorded.urls[0]
    assert ticker == {
        "symbol": "BTC/USD",
        "last": q(expected["last"], 2),
        "bid": q(expected["bid"], 2),
        "ask": q(expected["ask"], 2),
        "change_24h": q(expected["percentage"], 2),
        "high_24h": q(expected["high"], 2),
        "low_24h": q(expected["low"], 2),
        "volume": q(expected["baseVolume"], 6),
        "timestamp": "2024-03-13T11:10:45.391Z",  # expected["timestamp"] = 1710328245391
    }
    assert ticker["last"] == Decimal("73369.84") and ticker["volume"] == Decimal("72140.348628")
    assert all(isinstance(ticker[k], Decimal) for k in ticker if k not in ("symbol", "timestamp"))
    assert ticker["change_24h"] == Decimal("1.65")  # 1.647 % at two places


def test_prices_follow_the_pairs_precision(recorded):
    # A coarser pair (whole dollars, 3-place sizes): half-even at the pair's steps.
    feed = CcxtFeed(ROUTES, pairs=[PairSpec("BTC/USD", "crypto", 0, 3)], clock=lambda: T0)
    feed.exchanges["binance"] = offline_binance(recorded)

    ticker = feed.ticker("BTC/USD")
    assert (ticker["last"], ticker["bid"], ticker["high_24h"]) == (Decimal("73370"), Decimal("73370"), Decimal("73650"))
    assert ticker["volume"] == Decimal("72140.349")

    book = feed.order_book("BTC/USD", depth=2)
    # 0.0107 → 0.011; 0.00646 → 0.006; prices to whole dollars
    assert book["bids"] == [[Decimal("42574"), Decimal("0.011")], [Decimal("42574"), Decimal("0.006")]]


def test_order_book_is_ccxts_parse_sorted_best_first(feed, recorded):
    expected = FIXTURE["fetchOrderBook"]["parsedResponse"]

    book = feed.order_book("BTC/USD", depth=FIXTURE["fetchOrderBook"]["limit"])

    assert "/api/v3/depth" in recorded.urls[0] and "limit=2" in recorded.urls[0]
    assert book["symbol"] == "BTC/USD"
    assert book["bids"] == [[q(p, 2), q(a, 6)] for p, a in expected["bids"]]
    assert book["asks"] == [[q(p, 2), q(a, 6)] for p, a in expected["asks"]]
    assert book["bids"][0] == [Decimal("42574.30"), Decimal("0.010700")]
    assert [p for p, _ in book["bids"]] == sorted((p for p, _ in book["bids"]), reverse=True)
    assert [p for p, _ in book["asks"]] == sorted(p for p, _ in book["asks"])
    assert book["bids"][0][0] < book["asks"][0][0]
    # Binance's depth has no timestamp: the book is stamped with the time it was fetched.
    assert expected["timestamp"] is None
    assert book["timestamp"] == "2026-09-21T14:13:20.000Z"


def test_order_book_is_cut_to_depth(feed):
    book = feed.order_book("BTC/USD", depth=1)
    assert book["bids"] == [[Decimal("42574.30"), Decimal("0.010700")]]
    assert book["asks"] == [[Decimal("42574.31"), Decimal("0.008700")]]


def test_candles_are_ccxts_parse_as_decimal_bars(feed, recorded):
    call = FIXTURE["fetchOHLCV"]

    bars = feed.candles("BTC/USD", call["timeframe"], since=call["since"], limit=call["limit"])

    url = recorded.urls[0]
    assert "/api/v3/klines" in url and "interval=1h" in url and f"startTime={call['since']}" in url
    assert bars == [
        {
            "timestamp": ts,
            "open": q(o, 2),
            "high": q(h, 2),
            "low": q(lo, 2),
            "close": q(c, 2),
            "volume": q(v, 6),
        }
        for ts, o, h, lo, c, v in call["parsedResponse"]
    ]
    assert bars[0]["timestamp"] == 1706630400000 and bars[0]["high"] == Decimal("43936.00")
    assert [b["timestamp"] for b in bars] == sorted(b["timestamp"] for b in bars)


def test_candles_have_the_same_shape_as_the_simulated_feeds(feed):
    ours = feed.candles("BTC/USD", "1h", limit=3)
    simulated = SimulatedFeed(seed=1, pairs=[BTC], clock=lambda: T0).candles("BTC/USD", "1h", limit=3)
    assert [set(bar) for bar in ours] == [set(bar) for bar in simulated]
    assert {type(v) for bar in ours for v in bar.values()} == {type(v) for bar in simulated for v in bar.values()}


def test_unknown_timeframe_is_refused_before_any_request(feed, recorded):
    with pytest.raises(ValueError, match="timeframe"):
        feed.candles("BTC/USD", "7m")
    assert recorded.urls == []


@pytest.mark.parametrize(
    "error",
    [
        ccxt.RequestTimeout("binance GET https://api.binance.com/api/v3/ticker/24hr timed out"),
        ccxt.NetworkError("connection reset"),
        ccxt.ExchangeNotAvailable("503 Service Unavailable"),
        ccxt.DDoSProtection("429 Too Many Requests"),
        ccxt.ExchangeError("binance {'code': -1003}"),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("method", ["ticker", "order_book", "candles"])
def test_exchange_failures_become_feed_errors(error, method):
    fetch = Recorded(error=error)
    feed = CcxtFeed(ROUTES, pairs=[BTC])
    feed.exchanges["binance"] = offline_binance(fetch)

    with pytest.raises(FeedError, match="BTC/USD") as caught:
        getattr(feed, method)("BTC/USD")

    assert caught.value.__cause__ is error
    assert len(fetch.urls) == 1


def test_a_symbol_without_a_route_is_unknown(feed, recorded):
    for call in (feed.ticker, feed.order_book, feed.candles):
        with pytest.raises(UnknownSymbol):
            call("DOGE/USD")
    assert recorded.urls == []


def test_a_symbol_the_exchange_does_not_list_is_unknown(recorded):
    feed = CcxtFeed({"ETH/USD": ("binance", "ETH/USDT")})
    feed.exchanges["binance"] = offline_binance(recorded)
    with pytest.raises(UnknownSymbol, match="ETH/USDT"):
        feed.ticker("ETH/USD")
    assert recorded.urls == []


def test_an_exchange_ccxt_does_not_know_is_a_feed_error():
    feed = CcxtFeed({"BTC/USD": ("nosuchexchange", "BTC/USD")})
    with pytest.raises(FeedError, match="nosuchexchange"):
        feed.ticker("BTC/USD")


def test_missing_bid_and_ask_fall_back_to_last(feed):
    def parsed_without_sides(symbol, params=None):
        return {"symbol": "BTC/USDT", "last": 70000.125, "bid": None, "ask": None, "timestamp": None}

    feed.exchanges["binance"].fetch_ticker = parsed_without_sides
    ticker = feed.ticker("BTC/USD")
    assert ticker["last"] == ticker["bid"] == ticker["ask"] == Decimal("70000.12")  # half-even
    assert ticker["change_24h"] is None and ticker["volume"] is None
    assert ticker["timestamp"] == "2026-09-21T14:13:20.000Z"


def test_a_ticker_without_any_price_is_a_feed_error(feed):
    feed.exchanges["binance"].fetch_ticker = lambda symbol, params=None: {"last": None, "bid": None, "ask": None}
    with pytest.raises(FeedError, match="no price"):
        feed.ticker("BTC/USD")


def test_new_instances_are_rate_limited_with_the_timeout():
    feed = CcxtFeed({"EUR/USD": ("kraken", "EUR/USD")}, timeout_ms=2500, credentials={"kraken": {"apiKey": "k"}})
    kraken = feed.exchange("kraken")
    assert isinstance(kraken, ccxt.kraken)
    assert kraken.enableRateLimit is True and kraken.timeout == 2500 and kraken.apiKey == "k"
    assert feed.exchange("kraken") is kraken  # one instance per exchange id


# -- the runner -----------------------------------------------------------------------------


@pytest.fixture()
def seeded(db):
    seed_pairs()
    db.session.commit()
    db.session.remove()  # SQLite: no open transaction while the runner reads


def test_simulated_stays_the_default(app):
    assert app.config["MARKET_FEED"] == "simulated"
    assert isinstance(build_feed(app), SimulatedFeed)


def test_market_feed_ccxt_routes_the_seeded_pairs(app, seeded, monkeypatch):
    monkeypatch.setitem(app.config, "MARKET_FEED", "ccxt")
    monkeypatch.setitem(app.config, "CCXT_TIMEOUT_MS", 4000)

    feed = build_feed(app)

    assert isinstance(feed, CcxtFeed) and feed.timeout_ms == 4000
    assert feed.route("BTC/USD") == ("binance", "BTC/USDT")
    assert feed.route("EUR/USD") == ("kraken", "EUR/USD")
    assert feed_routes(app) == {
        "BTC/USD": ("binance", "BTC/USDT"),
        "ETH/USD": ("binance", "ETH/USDT"),
        "EUR/USD": ("kraken", "EUR/USD"),
        "GBP/USD": ("kraken", "GBP/USD"),
    }
    assert feed.exchanges == {}  # nothing is contacted until a price is asked for


def test_pairs_on_the_simulated_feed_get_no_ccxt_route(app, seeded, db):
    db.session.query(TradingPair).filter_by(symbol="GBP/USD").update({"feed_exchange": "simulated"})
    db.session.commit()
    db.session.remove()
    assert "GBP/USD" not in feed_routes(app)


def test_runner_publishes_ccxt_quotes_and_backs_off_failing_exchanges(app, seeded, monkeypatch):
    monkeypatch.setitem(app.config, "MARKET_FEED", "ccxt")
    recorded = Recorded()
    down = Recorded(error=ccxt.RequestTimeout("kraken timed out"))
    runner = FeedRunner(app, interval=1.0, clock=lambda: T0)
    runner.feed.exchanges["binance"] = offline_binance(recorded)
    kraken = runner.feed.exchanges["kraken"] = ccxt.kraken()
    kraken.fetch = down

    published = runner.tick_once()

    assert set(published) == {"BTC/USD"}
    assert published["BTC/USD"]["last"] == "73369.84" and published["BTC/USD"]["ask"] == "73369.84"
    assert runner.quotes["BTC/USD"] == published["BTC/USD"]
    # ETH/USDT is not in the injected markets; kraken timed out loading its markets: both back off.
    assert set(runner.retry_at) == {"ETH/USD", "EUR/USD", "GBP/USD"}
    assert all(t > T0 for t in runner.retry_at.values())
    assert down.urls and all("kraken.com" in url for url in down.urls)
    again = runner.tick_once()  # failing pairs wait their back-off
    assert set(again) == {"BTC/USD"}
    assert {k: v for k, v in again["BTC/USD"].items() if k != "received_at"} == {
        k: v for k, v in published["BTC/USD"].items() if k != "received_at"
    }
    # …and are marked stale meanwhile, with the error, so no order trades on old prices
    assert runner.statuses["ETH/USD"]["failures"] == 1 and runner.statuses["ETH/USD"]["last_error"]
    assert "BTC/USD" not in runner.statuses
