"""Every API amount, quantity and price goes through the one grammar; JSON numbers arrive exactly; form bodies work."""

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.api.order_helpers import available, pin_prices
from tests.trading_helpers import fund
from tradeapp.models import Order, TradingPair, Transaction

HOSTILE = ["1e1", "1_0", "１０", "١٠", "+1", "10\n", "NaN", "Infinity", "-1"]


@pytest.fixture()
def alice(db, user, pairs, market):
    pin_prices(market)
    fund(user, "USD", "1000")
    return user


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("amount", HOSTILE, ids=repr)
def test_hostile_transfer_amounts_are_400_and_move_nothing(db, alice, create_user, auth_api_client, amount):
    create_user(email="bob@example.com", username="bob")
    r = auth_api_client.post("/api/v1/transfers/", json={"to_username": "bob", "currency": "USD", "amount": amount})
    assert_error(r, 400, "validation_error", ["amount"])
    assert _count(db, Transaction) == 0 and available(alice) == 1000


@pytest.mark.parametrize("quantity", HOSTILE, ids=repr)
def test_hostile_order_quantities_are_400_and_place_nothing(db, alice, auth_api_client, quantity):
    body = {"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": quantity}
    assert_error(auth_api_client.post("/api/v1/orders/", json=body), 400, "validation_error", ["quantity"])
    assert _count(db, Order) == 0


@pytest.mark.parametrize("literal", ["1e-2", "1E1", "NaN", "Infinity"])
def test_json_number_spellings_outside_the_grammar_are_refused(db, alice, auth_api_client, literal):
    raw = f'{{"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": {literal}}}'
    r = auth_api_client.post("/api/v1/orders/", data=raw, content_type="application/json")
    assert r.status_code == 400 and _count(db, Order) == 0


def test_a_json_number_quantity_is_read_exactly(db, alice, auth_api_client):
    raw = '{"symbol": "BTC-USD", "order_type": "limit", "side": "buy", "quantity": 0.01, "price": 40000.10}'
    r = auth_api_client.post("/api/v1/orders/", data=raw, content_type="application/json")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["quantity"] == "0.010000" and r.get_json()["price"] == "40000.10"


def test_an_order_may_be_form_encoded(db, alice, auth_api_client):
    pair_id = db.session.scalar(select(TradingPair.id).where(TradingPair.symbol == "BTC/USD"))
    body = {"trading_pair": str(pair_id), "order_type": "limit", "side": "buy", "quantity": "0.01", "price": "40000"}
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        r = auth_api_client.client.post(
            "/api/v1/orders/", data=body, content_type=content_type, headers=auth_api_client._headers(None)
        )
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["status"] == "open" and r.get_json()["price"] == "40000.00"
    assert _count(db, Order) == 2


def test_a_form_withdrawal_reads_its_details_object_from_json_text(db, user, auth_api_client):
    user.kyc_status, user.is_verified = "approved", True
    db.session.commit()
    fund(user, "USD", "500")
    body = {
        "currency": "USD",
        "amount": "100",
        "destination_type": "bank_account",
        "destination_details": '{"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"}',
    }
    r = auth_api_client.client.post(
        "/api/v1/withdrawals/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=auth_api_client._headers(None),
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["destination_details"]["account_holder"] == "Alice Liddell"


def test_every_path_parameter_has_a_schema(api_client, db):
    spec = api_client.get("/api/schema/").get_json()
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    assert parameter.get("schema"), (method, template, parameter)


def test_request_amounts_document_the_grammar_and_bounds(api_client, db):
    spec = api_client.get("/api/schema/").get_json()
    for name in ("Transfer", "WithdrawalRequest", "DepositCreate", "OrderCreate"):
        schema = spec["components"]["schemas"][name]
        field = schema["properties"]["amount" if name != "OrderCreate" else "quantity"]
        string, number = field["oneOf"]
        assert string["type"] == "string" and string["pattern"].startswith("^") and string["maxLength"] == 40
        assert number["type"] == "number" and number["minimum"] == 0 and number["exclusiveMinimum"] is True
