"""services.trading.pairs: validation rules, audit rows, market data fallbacks."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tradeapp.errors import NotFound, ValidationFailed
from tradeapp.models import AuditLog, TradingPair
from tradeapp.services.seed import seed_pairs
from tradeapp.services.trading import pairs

GOOD = {
    "symbol": "BTC/EUR",
    "pair_type": "crypto",
    "maker_fee": "0.1",
    "taker_fee": "0.2",
    "min_order_size": "0.0001",
    "max_order_size": "10",
    "price_precision": 2,
    "quantity_precision": 6,
    "feed_exchange": "Binance",
    "feed_symbol": "btc/eur",
}


@pytest.fixture()
def staff(create_staff):
    return create_staff("admin")


def _errors(data, pair=None, staff=None):
    with pytest.raises(ValidationFailed) as exc:
        if pair is None:
            pairs.create_pair(staff, data)
        else:
            pairs.update_pair(staff, pair, data)
    return exc.value.fields


def test_create_normalises_and_audits(db, staff):
    pair = pairs.create_pair(staff, GOOD)
    assert pair.id and pair.feed_exchange == "binance" and pair.feed_symbol == "BTC/EUR"
    assert pair.min_order_size == Decimal("0.0001") and pair.is_active
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "pair.create"))
    assert row.after == pairs.snapshot(pair)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"maker_fee": "5.000001"}, "maker_fee"),
        ({"taker_fee": 0.2}, "taker_fee"),  # floats refused
        ({"taker_fee": "NaN"}, "taker_fee"),
        ({"maker_fee": "0.0000001"}, "maker_fee"),
        ({"min_order_size": "-1"}, "min_order_size"),
        ({"max_order_size": "0.00001"}, "max_order_size"),
        ({"quantity_precision": -1}, "quantity_precision"),
        ({"price_precision": True}, "price_precision"),
        ({"symbol": "BTC/XYZ"}, "symbol"),
        ({"feed_exchange": ""}, "feed_exchange"),
        ({"feed_symbol": "BTC USDT"}, "feed_symbol"),
        ({"pair_type": "stock"}, "pair_type"),
    ],
)
def test_create_rules(db, staff, change, field):
    assert field in _errors({**GOOD, **change}, staff=staff)
    assert db.session.scalar(select(TradingPair.id)) is None
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "pair.create")) is None


def test_several_errors_at_once(db, staff):
    fields = _errors({**GOOD, "maker_fee": "9", "min_order_size": "0"}, staff=staff)
    assert {"maker_fee", "min_order_size"} <= set(fields)


def test_update_only_given_fields_and_no_audit_when_unchanged(db, staff):
    seed_pairs()
    db.session.commit()
    pair = pairs.get_pair("BTC-USD")
    pairs.update_pair(staff, pair, {"maker_fee": "0.1"})  # same value
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "pair.update")) is None
    pairs.update_pair(staff, pair, {"price_precision": "3", "symbol": "HACK/USD"})
    assert pair.price_precision == 3 and pair.symbol == "BTC/USD"
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "pair.update"))
    assert row.before == {"price_precision": 2} and row.after == {"price_precision": 3}


def test_set_active_is_idempotent(db, staff):
    seed_pairs()
    db.session.commit()
    pair = pairs.get_pair("ETH/USD")
    pairs.set_active(staff, pair, True)
    pairs.set_active(staff, pair, False)
    pairs.set_active(staff, pair, False)
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.like("pair.%"))).all()
    assert actions == ["pair.deactivate"]
    with pytest.raises(NotFound):
        pairs.get_pair("ETH-USD")
    assert pairs.get_pair("ETH-USD", active_only=False) is pair


def test_candles_validate_arguments(db):
    seed_pairs()
    db.session.commit()
    pair = pairs.get_pair("BTC-USD")
    with pytest.raises(ValidationFailed) as exc:
        pairs.candles(pair, "7m", 0)
    assert set(exc.value.fields) == {"timeframe", "limit"}
    body = pairs.candles(pair, "1d", 3)
    assert len(body["candles"]) == 3 and all(len(c) == 6 for c in body["candles"])


def test_dec_str():
    assert pairs.dec_str(Decimal("0.100000")) == "0.1"
    assert pairs.dec_str(Decimal("100")) == "100"
    assert pairs.dec_str(Decimal("1E+2")) == "100"
    assert pairs.dec_str(Decimal("0.0001"), 6) == "0.000100"
    assert pairs.dec_str(None) is None
