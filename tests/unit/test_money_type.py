"""The Money column type keeps exact decimals on both backends, including large forex volumes."""

from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from tradeapp.models.types import Money

D = Decimal


@pytest.mark.parametrize(
    "value",
    [D("0"), D("1.234567890123456789"), D("1234567890123.5"), D("99999999999.123456789"), D("-42.5")],
)
def test_sqlite_text_round_trips_every_value_that_fits(value):
    money = Money()
    stored = money.process_bind_param(value, sqlite.dialect())
    assert len(stored.lstrip("-")) == 36 + 1
    assert money.process_result_value(stored, sqlite.dialect()) == value


def test_sqlite_refuses_values_wider_than_the_column():
    with pytest.raises(ValueError, match="does not fit"):
        Money().process_bind_param(D("1e19"), sqlite.dialect())


def test_postgres_gets_the_decimal_itself():
    assert Money().process_bind_param(D("1234567890123.5"), postgresql.dialect()) == D("1234567890123.5")


def test_a_forex_sized_candle_volume_is_stored_exactly(app, db):
    from tests.trading_helpers import make_pairs
    from tradeapp.models import Candle

    pair = make_pairs(db)["BTC/USD"]
    volume = D("48213377120.000000000000000001")
    db.session.add(
        Candle(
            pair_id=pair.id,
            timeframe="1m",
            open_time=1_767_225_600_000,
            open=D("1.08"),
            high=D("1.09"),
            low=D("1.07"),
            close=D("1.085"),
            volume=volume,
        )
    )
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Candle, (pair.id, "1m", 1_767_225_600_000)).volume == volume
