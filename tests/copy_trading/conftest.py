"""Copy-trading fixtures."""

import pytest

from tests.copy_trading.helpers import make_trader


@pytest.fixture()
def btc_market(market, pairs):
    market.set("BTC/USD", "50000", "50010", levels=10, size="50", step="10")
    return market


@pytest.fixture()
def lead(create_user, btc_market):
    return make_trader(create_user)
