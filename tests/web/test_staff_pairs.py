"""Staff pairs management: list, edit inline, create, toggle; every change audited."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token
from tradeapp.models import AuditLog, TradingPair
from tradeapp.services.seed import seed_pairs

PAGE = "/staff/pairs/"
HX = {"HX-Request": "true"}


@pytest.fixture()
def seeded(db):
    seed_pairs()
    db.session.commit()
    return {p.symbol: p for p in db.session.scalars(select(TradingPair))}


@pytest.fixture()
def admin(staff_client_factory):
    return staff_client_factory("admin")


def _pair(db, symbol):
    db.session.expire_all()
    return db.session.scalar(select(TradingPair).where(TradingPair.symbol == symbol))


def _audit(db, action):
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def _edit_data(client, pair, **overrides):
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "pair_type": pair.pair_type,
        "maker_fee": str(pair.maker_fee),
        "taker_fee": str(pair.taker_fee),
        "min_order_size": str(pair.min_order_size.normalize()),
        "max_order_size": f"{pair.max_order_size.normalize():f}",
        "price_precision": str(pair.price_precision),
        "quantity_precision": str(pair.quantity_precision),
        "feed_exchange": pair.feed_exchange,
        "feed_symbol": pair.feed_symbol,
        "is_active": "y" if pair.is_active else "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def test_listing_shows_every_pair(admin, seeded, db):
    client, _ = admin
    seeded["GBP/USD"].is_active = False
    db.session.commit()
    r = client.get(PAGE)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for symbol in seeded:
        assert symbol in html
    assert "inactive" in html and "binance" in html and "BTC/USDT" in html
    assert 'href="/staff/pairs/"' in html  # the sidebar entry


def test_edit_row_fragment(admin, seeded):
    client, _ = admin
    pair = seeded["BTC/USD"]
    r = client.get(f"/staff/pairs/{pair.id}/edit", headers=HX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith("<tr") and f'id="pair-{pair.id}"' in html
    assert 'name="maker_fee"' in html and "<html" not in html
    # without HTMX: the whole page with that row open
    full = client.get(f"/staff/pairs/{pair.id}/edit").get_data(as_text=True)
    assert "<html" in full and 'name="maker_fee"' in full
    row = client.get(f"/staff/pairs/{pair.id}/row", headers=HX).get_data(as_text=True)
    assert 'name="maker_fee"' not in row and "Edit" in row


def test_edit_saves_swaps_the_row_and_audits(admin, seeded, db):
    client, staff = admin
    pair = seeded["BTC/USD"]
    data = _edit_data(client, pair, maker_fee="0.05", taker_fee="0.15", max_order_size="50", feed_exchange="kraken")
    r = client.post(f"/staff/pairs/{pair.id}/edit", data=data, headers=HX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "BTC/USD saved." in html and 'name="maker_fee"' not in html and "kraken" in html
    pair = _pair(db, "BTC/USD")
    assert pair.maker_fee == Decimal("0.05") and pair.taker_fee == Decimal("0.15")
    assert pair.max_order_size == Decimal("50") and pair.feed_exchange == "kraken"
    (row,) = _audit(db, "pair.update")
    assert row.actor_id == staff.id and row.target_type == "trading_pairs" and row.target_id == str(pair.id)
    assert row.before == {
        "feed_exchange": "binance",
        "maker_fee": "0.1",
        "max_order_size": "100.000000",
        "taker_fee": "0.2",
    }
    assert row.after == {
        "feed_exchange": "kraken",
        "maker_fee": "0.05",
        "max_order_size": "50.000000",
        "taker_fee": "0.15",
    }


def test_edit_without_htmx_redirects(admin, seeded, db):
    client, _ = admin
    pair = seeded["ETH/USD"]
    r = client.post(f"/staff/pairs/{pair.id}/edit", data=_edit_data(client, pair, taker_fee="0.3"))
    assert r.status_code == 303 and r.headers["Location"].endswith(PAGE)
    assert _pair(db, "ETH/USD").taker_fee == Decimal("0.3")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"maker_fee": "5.5"}, "maker_fee", "between 0 and 5"),
        ({"taker_fee": "-1"}, "taker_fee", "between 0 and 5"),
        ({"maker_fee": "abc"}, "maker_fee", "Enter a valid number"),
        ({"min_order_size": "0"}, "min_order_size", "greater than zero"),
        ({"min_order_size": "10", "max_order_size": "5"}, "max_order_size", "at least the minimum"),
        ({"price_precision": "13"}, "price_precision", "Between 0 and 12"),
        ({"quantity_precision": "2"}, "min_order_size", "At most 2 decimal places"),
        ({"feed_exchange": "bin ance!"}, "feed_exchange", "ccxt exchange id"),
        ({"pair_type": "stocks"}, "pair_type", "Not a valid choice"),
        ({"taker_fee": None}, "taker_fee", "required"),
    ],
)
def test_edit_errors_show_inline_and_change_nothing(admin, seeded, db, overrides, field, message):
    client, _ = admin
    pair = seeded["BTC/USD"]
    before = (pair.maker_fee, pair.taker_fee, pair.min_order_size, pair.max_order_size, pair.price_precision)
    data = _edit_data(client, pair, **{k: v for k, v in overrides.items() if v is not None})
    for k, v in overrides.items():
        if v is None:
            data.pop(k)
    r = client.post(f"/staff/pairs/{pair.id}/edit", data=data, headers=HX)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert f'id="field-{field}"' in html and "has-error" in html
    assert message.lower() in html.lower()
    pair = _pair(db, "BTC/USD")
    assert (pair.maker_fee, pair.taker_fee, pair.min_order_size, pair.max_order_size, pair.price_precision) == before
    assert _audit(db, "pair.update") == []


def test_create_pair(admin, seeded, db):
    client, staff = admin
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "symbol": "eth-eur",
        "pair_type": "crypto",
        "maker_fee": "0.1",
        "taker_fee": "0.25",
        "min_order_size": "0.001",
        "max_order_size": "500",
        "price_precision": "2",
        "quantity_precision": "4",
        "feed_exchange": "kraken",
        "feed_symbol": "",
        "is_active": "y",
    }
    r = client.post("/staff/pairs/new", data=data, headers=HX)
    assert r.status_code == 200
    assert "ETH/EUR created." in r.get_data(as_text=True)
    pair = _pair(db, "ETH/EUR")
    assert (pair.base_currency, pair.quote_currency, pair.feed_symbol) == ("ETH", "EUR", "ETH/EUR")
    assert pair.taker_fee == Decimal("0.25") and pair.quantity_precision == 4 and pair.is_active
    (row,) = _audit(db, "pair.create")
    assert row.actor_id == staff.id and row.before is None and row.after["symbol"] == "ETH/EUR"
    assert row.after["min_order_size"] == "0.0010"


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("BTC/USD", "already exists"),
        ("DOGE/USD", "Unknown currency DOGE"),
        ("BTCUSD", "BASE/QUOTE"),
        ("USD/USD", "differ"),
    ],
)
def test_create_errors(admin, seeded, db, symbol, message):
    client, _ = admin
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "symbol": symbol,
        "pair_type": "crypto",
        "maker_fee": "0.1",
        "taker_fee": "0.2",
        "min_order_size": "1",
        "max_order_size": "10",
        "price_precision": "2",
        "quantity_precision": "2",
        "feed_exchange": "simulated",
    }
    r = client.post("/staff/pairs/new", data=data, headers=HX)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="field-symbol"' in html and message in html
    assert db.session.scalar(select(db.func.count()).select_from(TradingPair)) == 4
    assert _audit(db, "pair.create") == []


def test_toggle_deactivates_and_activates_with_audit(admin, seeded, db):
    client, staff = admin
    pair = seeded["EUR/USD"]
    token = csrf_token(client, PAGE)
    r = client.post(f"/staff/pairs/{pair.id}/toggle", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 200 and "EUR/USD deactivated." in r.get_data(as_text=True)
    assert _pair(db, "EUR/USD").is_active is False
    r = client.post(f"/staff/pairs/{pair.id}/toggle", data={"csrf_token": token})
    assert r.status_code == 303
    assert _pair(db, "EUR/USD").is_active is True
    (off,) = _audit(db, "pair.deactivate")
    (on,) = _audit(db, "pair.activate")
    assert off.before == {"is_active": True} and off.after == {"is_active": False}
    assert on.actor_id == staff.id and on.after == {"is_active": True}


def test_toggle_without_csrf_changes_nothing(admin, seeded, db):
    client, _ = admin
    pair = seeded["EUR/USD"]
    r = client.post(f"/staff/pairs/{pair.id}/toggle", data={}, headers=HX)
    assert r.status_code in (400, 422)
    assert _pair(db, "EUR/USD").is_active is True


def test_unknown_pair_is_404(admin, seeded):
    client, _ = admin
    assert client.get("/staff/pairs/999/edit", headers=HX).status_code == 404


@pytest.mark.parametrize("role", ["finance", "support", "compliance"])
def test_staff_without_products_manage_are_refused(staff_client_factory, seeded, db, role):
    client, _ = staff_client_factory(role)
    pair = seeded["BTC/USD"]
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/staff/")
    r = client.post(f"/staff/pairs/{pair.id}/toggle", data={"csrf_token": token})
    assert r.status_code == 403
    assert _pair(db, "BTC/USD").is_active is True
    assert 'href="/staff/pairs/"' not in client.get("/staff/").get_data(as_text=True)


def test_customers_are_refused(logged_in_client, seeded):
    assert logged_in_client.get(PAGE).status_code == 403
