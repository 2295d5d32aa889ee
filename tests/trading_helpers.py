"""A market the tests set by hand, and helpers to fund wallets and create pairs."""

import time
from decimal import Decimal

import pytest

from tradeapp.market.base import MarketFeed

D = Decimal


class ManualFeed(MarketFeed):
    """Quotes and books exactly as a test sets them: ``feed.set("BTC/USD", bid, ask)``."""

    name = "manual"

    def __init__(self) -> None:
        super().__init__()
        self.books: dict[str, dict] = {}

    def set(self, symbol: str, bid, ask, *, levels: int = 5, size="10", step="1") -> None:
        """A book of ``levels`` per side, ``size`` each, ``step`` apart, from ``bid``/``ask`` outwards."""
        bid, ask, size, step = D(str(bid)), D(str(ask)), D(str(size)), D(str(step))
        self.set_book(
            symbol,
            bids=[[bid - step * i, size] for i in range(levels) if bid - step * i > 0],
            asks=[[ask + step * i, size] for i in range(levels)],
        )

    def set_book(self, symbol: str, bids, asks) -> None:
        self.books[symbol] = {
            "bids": [[D(str(p)), D(str(q))] for p, q in bids],
            "asks": [[D(str(p)), D(str(q))] for p, q in asks],
        }

    def ticker(self, symbol: str) -> dict:
        from tradeapp.market.base import UnknownSymbol

        book = self.books.get(symbol)
        if book is None:
            raise UnknownSymbol(symbol)
        bid = book["bids"][0][0] if book["bids"] else None
        ask = book["asks"][0][0] if book["asks"] else None
        last = ask if bid is None else bid
        return {
            "symbol": symbol,
            "last": last,
            "bid": bid,
            "ask": ask,
            "change_24h": D("0"),
            "high_24h": ask,
            "low_24h": bid,
            "volume": D("100"),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def order_book(self, symbol: str, depth: int = 10) -> dict:
        book = self.books[symbol]
        return {"symbol": symbol, "bids": book["bids"][:depth], "asks": book["asks"][:depth], "timestamp": None}

    def candles(self, symbol, timeframe="1h", since=None, limit=100):
        return []


def _clear_published(app) -> None:
    if not app.config.get("REDIS_URL"):
        return
    from tradeapp.jobs import redis_connection

    with app.app_context():
        conn = redis_connection()
        for pattern in ("quote:*", "book:*", "feedstatus:*"):
            keys = list(conn.scan_iter(pattern))
            if keys:
                conn.delete(*keys)


@pytest.fixture()
def market(app):
    """A ManualFeed in place of the configured one (and no quotes left in Redis by other tests)."""
    from tradeapp.services.trading.pairs import FEED_KEY

    feed = ManualFeed()
    previous = app.extensions.get(FEED_KEY)
    app.extensions[FEED_KEY] = feed
    _clear_published(app)
    yield feed
    _clear_published(app)
    if previous is None:
        app.extensions.pop(FEED_KEY, None)
    else:
        app.extensions[FEED_KEY] = previous


@pytest.fixture()
def pairs(db):
    """BTC/USD (price 2 dp, qty 6 dp, maker 0.1 %, taker 0.2 %) and ETH/USD; returns them by symbol."""
    return make_pairs(db)


def make_pairs(db) -> dict:
    """The ``pairs`` fixture's pairs, for tests that empty the tables themselves."""
    from tradeapp.models import TradingPair

    made = {}
    for symbol, base in (("BTC/USD", "BTC"), ("ETH/USD", "ETH")):
        pair = TradingPair(
            symbol=symbol,
            base_currency=base,
            quote_currency="USD",
            pair_type="crypto",
            is_active=True,
            min_order_size=D("0.0001"),
            max_order_size=D("100"),
            price_precision=2,
            quantity_precision=6,
            maker_fee=D("0.1"),
            taker_fee=D("0.2"),
            feed_exchange="simulated",
            feed_symbol=symbol,
        )
        db.session.add(pair)
        made[symbol] = pair
    db.session.commit()
    return made


def fund(user, currency: str, amount) -> None:
    """Credit ``amount`` to the user's wallet from the adjustments account (committed)."""
    from tradeapp.extensions import db
    from tradeapp.services import ledger
    from tradeapp.services.ledger import Leg

    amount = D(str(amount))
    wallet = ledger.wallet_for(user, currency)
    ledger.post("adjustment", [Leg(wallet, amount), Leg(ledger.platform_account("adjustments", currency), -amount)])
    db.session.commit()


def balances(user, currency: str) -> tuple[Decimal, Decimal]:
    """``(balance, locked_balance)`` of the user's wallet, read fresh."""
    from sqlalchemy import select

    from tradeapp.extensions import db
    from tradeapp.models import Wallet

    db.session.expire_all()
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user.id, Wallet.currency == currency))
    db.session.rollback()
    return (wallet.balance, wallet.locked_balance) if wallet else (D(0), D(0))
