"""Providers, plans and subscribers for the signals tests."""

from decimal import Decimal

import pytest

from tests.trading_helpers import fund, market, pairs  # noqa: F401 - fixtures
from tradeapp.extensions import db
from tradeapp.models import SignalPlan, SignalProvider

D = Decimal


def make_provider(name="House Desk", provider_type="in_house") -> SignalProvider:
    provider = SignalProvider(name=name, description="", provider_type=provider_type)
    db.session.add(provider)
    db.session.commit()
    return provider


def make_plan(provider, pairs_, *, name="Pro", price="30.00", days=30, trial=0, per_day=10, currency="USD"):
    plan = SignalPlan(
        provider_id=provider.id,
        name=name,
        description="",
        price=D(price),
        currency=currency,
        duration_days=days,
        trial_days=trial,
        max_signals_per_day=per_day,
    )
    plan.pairs = list(pairs_)
    db.session.add(plan)
    db.session.commit()
    return plan


@pytest.fixture()
def provider(db):
    return make_provider()


@pytest.fixture()
def plan(provider, pairs):  # noqa: F811 - the imported fixture
    """Pro: 30 USD for 30 days, BTC/USD and ETH/USD, 10 signals a day."""
    return make_plan(provider, pairs.values())


@pytest.fixture()
def customer(create_user):
    user = create_user()
    fund(user, "USD", "100")
    return user
