"""Helpers of the orders and positions API tests (prices and pairs come from ``tests.trading_helpers``)."""

from decimal import Decimal

from tests.trading_helpers import balances

D = Decimal


def pin_prices(market) -> None:
    """BTC/USD bid 50000.00 / ask 50010.00 (levels 10 apart, 1 BTC each); ETH/USD 3000.00 / 3001.00."""
    market.set("BTC/USD", "50000.00", "50010.00", levels=5, size="1", step="10")
    market.set("ETH/USD", "3000.00", "3001.00", levels=5, size="10", step="1")


def make_stale(monkeypatch, symbol: str) -> None:
    """The feed reports ``symbol`` failing, so its prices are stale (as the feed runner would)."""
    from tradeapp.services.trading import prices

    real = prices.pair_status
    monkeypatch.setattr(
        prices, "pair_status", lambda s: {"failures": 3, "last_error": "timeout"} if s == symbol else real(s)
    )


def available(user, currency="USD") -> Decimal:
    balance, locked = balances(user, currency)
    return balance - locked


def balance(user, currency="USD") -> Decimal:
    return balances(user, currency)[0]


def as_user(app, user):
    """A JSON client with an access token for ``user``."""
    from tests.conftest import ApiClient
    from tradeapp.services.tokens import issue_tokens

    return ApiClient(app.test_client(), issue_tokens(user)["access"])


def place(api, **fields):
    """POST /api/v1/orders/: a BTC/USD market buy of 0.01 unless ``fields`` say otherwise (``...`` drops one)."""
    body = {"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": "0.01", **fields}
    return api.post("/api/v1/orders/", json={k: v for k, v in body.items() if v is not ...})
