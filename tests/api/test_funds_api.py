"""Funds API: wallets, transfers, transaction history (filters, pagination), bad input."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tradeapp.models import JournalEntry, Transaction, Wallet
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg

from .helpers import assert_error

D = Decimal


def fund(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    clearing = ledger.platform_account("clearing:bank", currency)
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(clearing, -D(amount))], reference="test")
    db.session.commit()
    return wallet


def rows(db):
    return (
        db.session.scalar(select(func.count()).select_from(Transaction)),
        db.session.scalar(select(func.count()).select_from(JournalEntry)),
        db.session.scalar(select(func.count()).select_from(Wallet)),
    )


@pytest.fixture()
def bob(create_user):
    return create_user(email="bob@example.com", username="bob")


# -- wallets -----------------------------------------------------------------------------------------


def test_wallets_need_a_token(api_client):
    for url in ("/api/v1/wallets/", "/api/v1/wallets/USD/", "/api/v1/transactions/"):
        assert_error(api_client.get(url), 401, "not_authenticated")
    assert_error(api_client.post("/api/v1/transfers/", json={}), 401)


def test_wallet_listing_is_paginated_with_string_amounts(db, user, auth_api_client, bob):
    fund(db, user, "1234.5")
    fund(db, user, "0.5", "BTC")
    fund(db, bob, "99")  # someone else's wallet is never listed
    body = auth_api_client.get("/api/v1/wallets/").get_json()
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    by_currency = {w["currency"]: w for w in body["results"]}
    assert set(by_currency) == {"USD", "BTC"}
    usd = by_currency["USD"]
    assert set(usd) == {
        "id",
        "currency",
        "balance",
        "locked_balance",
        "available_balance",
        "created_at",
        "updated_at",
    }
    assert (usd["balance"], usd["locked_balance"], usd["available_balance"]) == ("1234.50", "0.00", "1234.50")
    assert by_currency["BTC"]["balance"] == "0.50000000"
    page = auth_api_client.get("/api/v1/wallets/?page_size=1").get_json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]


def test_wallet_detail_shows_holds(db, user, auth_api_client):
    wallet = fund(db, user, "100")
    ledger.place_hold(wallet, D("30"), "withdrawal", "test")
    db.session.commit()
    body = auth_api_client.get("/api/v1/wallets/usd/").get_json()
    assert body["id"] == wallet.id
    assert (body["balance"], body["locked_balance"], body["available_balance"]) == ("100.00", "30.00", "70.00")


def test_wallet_detail_without_a_wallet_is_zero_and_unknown_currency_is_404(db, user, auth_api_client):
    r = auth_api_client.get("/api/v1/wallets/ETH/")
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] is None and body["balance"] == "0.00000000" and body["available_balance"] == "0.00000000"
    assert rows(db)[2] == 0  # looking does not create a wallet
    assert_error(auth_api_client.get("/api/v1/wallets/XYZ/"), 404, "not_found")


# -- transfers ---------------------------------------------------------------------------------------


def test_transfer_by_email_returns_the_senders_line(db, user, bob, auth_api_client):
    fund(db, user, "100")
    r = auth_api_client.post(
        "/api/v1/transfers/", json={"to_email": "Bob@Example.com", "currency": "USD", "amount": "25.5", "note": "hi"}
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["transaction_type"] == "transfer" and body["status"] == "completed"
    assert body["amount"] == "25.50" and body["fee"] == "0.00" and body["direction"] == -1
    assert body["counterparty"] == "bob" and body["notes"] == "hi"
    assert body["reference_id"].startswith("TRF-")
    assert {"id", "currency", "external_id", "created_at", "completed_at"} <= set(body)
    db.session.expire_all()
    assert ledger.wallet_for(bob, "USD").balance == D("25.50")
    assert ledger.check().ok


def test_transfer_by_username_with_integer_amount(db, user, bob, auth_api_client):
    fund(db, user, "100")
    r = auth_api_client.post("/api/v1/transfers/", json={"to_username": "bob", "currency": "usd", "amount": 10})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["amount"] == "10.00"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"to_username": "bob", "currency": "USD", "amount": "-5"}, ["amount"]),
        ({"to_username": "bob", "currency": "USD", "amount": "0"}, ["amount"]),
        ({"to_username": "bob", "currency": "USD", "amount": "1.001"}, ["amount"]),
        ({"to_username": "bob", "currency": "USD", "amount": "ten"}, ["amount"]),
        ({"to_username": "bob", "currency": "USD", "amount": "99999999999999999999"}, ["amount"]),
        ({"to_username": "bob", "currency": "USD", "amount": 10.555}, ["amount"]),  # a JSON number, 3 places
        ({"to_username": "bob", "currency": "USD", "amount": None}, ["amount"]),
        ({"to_username": "bob", "currency": "USD"}, ["amount"]),
        ({"to_username": "bob", "currency": "XYZ", "amount": "1"}, ["currency"]),
        ({"to_username": "bob", "amount": "1"}, ["currency"]),
        ({"currency": "USD", "amount": "1"}, ["to_email", "to_username"]),
        ({"to_email": "bob@example.com", "to_username": "bob", "currency": "USD", "amount": "1"}, ["to_email"]),
        ({"to_email": "alice@example.com", "currency": "USD", "amount": "1"}, ["to_email"]),
        ({"to_username": "alice", "currency": "USD", "amount": "1"}, ["to_username"]),
        ({"to_email": "ghost@example.com", "currency": "USD", "amount": "1"}, ["to_email"]),
        ({"to_username": "bob", "currency": "USD", "amount": "1", "note": "x" * 501}, ["note"]),
    ],
)
def test_bad_transfer_input_is_400_and_writes_nothing(db, user, bob, auth_api_client, payload, fields):
    fund(db, user, "100")
    before = rows(db)
    body = assert_error(auth_api_client.post("/api/v1/transfers/", json=payload), 400, fields=fields)
    assert body["code"] == "validation_error"
    assert rows(db) == before


def test_transfer_beyond_available_is_400_insufficient_funds(db, user, bob, auth_api_client):
    fund(db, user, "10")
    before = rows(db)
    r = auth_api_client.post("/api/v1/transfers/", json={"to_username": "bob", "currency": "USD", "amount": "10.01"})
    assert_error(r, 400, "insufficient_funds", fields=["amount"])
    assert rows(db) == before


def test_transfer_body_is_json_or_form(db, user, auth_api_client):
    r = auth_api_client.client.post(
        "/api/v1/transfers/",
        data="to_username=bob",
        headers={
            "Authorization": f"Bearer {auth_api_client.token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert_error(r, 400, "validation_error", ["currency", "amount"])  # read, then found incomplete
    r = auth_api_client.client.post(
        "/api/v1/transfers/",
        data="to_username=bob",
        headers={"Authorization": f"Bearer {auth_api_client.token}", "Content-Type": "text/plain"},
    )
    assert_error(r, 415)
    r = auth_api_client.client.post(
        "/api/v1/transfers/",
        data="{nope",
        headers={"Authorization": f"Bearer {auth_api_client.token}", "Content-Type": "application/json"},
    )
    assert_error(r, 400)


# -- history -----------------------------------------------------------------------------------------


_refs = itertools.count(1)


def _txn(db, user, type_="deposit", currency="USD", status="completed", amount="1", days_ago=0):
    when = datetime.now(UTC) - timedelta(days=days_ago)
    txn = Transaction(
        user_id=user.id,
        transaction_type=type_,
        currency=currency,
        amount=D(amount),
        status=status,
        reference_id=f"T-{next(_refs)}",
        created_at=when,
    )
    db.session.add(txn)
    db.session.commit()
    return txn


def test_history_newest_first_and_only_mine(db, user, bob, auth_api_client):
    old = _txn(db, user, days_ago=3)
    new = _txn(db, user, "withdrawal", days_ago=0)
    _txn(db, bob)
    body = auth_api_client.get("/api/v1/transactions/").get_json()
    assert body["count"] == 2
    assert [t["id"] for t in body["results"]] == [new.id, old.id]
    assert body["results"][0]["amount"] == "1.00" and body["results"][0]["direction"] == 1


def test_history_filters(db, user, auth_api_client):
    a = _txn(db, user, "deposit", "USD", "completed", days_ago=10)
    b = _txn(db, user, "withdrawal", "USD", "pending", days_ago=5)
    c = _txn(db, user, "deposit", "BTC", "failed", amount="0.1", days_ago=1)

    def ids(query):
        r = auth_api_client.get(f"/api/v1/transactions/?{query}")
        assert r.status_code == 200, r.get_json()
        return {t["id"] for t in r.get_json()["results"]}

    assert ids("transaction_type=deposit") == {a.id, c.id}
    assert ids("currency=btc") == {c.id}
    assert ids("status=pending") == {b.id}
    today = datetime.now(UTC).date()
    assert ids(f"date_from={(today - timedelta(days=6)).isoformat()}") == {b.id, c.id}
    assert ids(f"date_to={(today - timedelta(days=5)).isoformat()}") == {a.id, b.id}
    assert ids(
        f"date_from={(today - timedelta(days=5)).isoformat()}&date_to={(today - timedelta(days=5)).isoformat()}"
    ) == {b.id}
    page = auth_api_client.get("/api/v1/transactions/?page_size=2").get_json()
    assert page["count"] == 3 and len(page["results"]) == 2 and "page=2" in page["next"]
    last = auth_api_client.get("/api/v1/transactions/?page_size=2&page=2").get_json()
    assert [t["id"] for t in last["results"]] == [a.id] and last["next"] is None and last["previous"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("transaction_type=gift", "transaction_type"),
        ("status=lost", "status"),
        ("currency=XYZ", "currency"),
        ("date_from=yesterday", "date_from"),
        ("date_from=2026-02-01&date_to=2026-01-01", "date_to"),
        ("page=0", "page"),
    ],
)
def test_history_bad_filters_are_400(db, user, auth_api_client, query, field):
    assert_error(auth_api_client.get(f"/api/v1/transactions/?{query}"), 400, "validation_error", fields=[field])


def test_transfer_shows_in_both_histories(db, user, bob, auth_api_client):
    from tradeapp.services.tokens import issue_tokens

    fund(db, user, "50")
    auth_api_client.post("/api/v1/transfers/", json={"to_username": "bob", "currency": "USD", "amount": "5"})
    mine = auth_api_client.get("/api/v1/transactions/?transaction_type=transfer").get_json()["results"]
    auth_api_client.token = issue_tokens(bob)["access"]
    theirs = auth_api_client.get("/api/v1/transactions/?transaction_type=transfer").get_json()["results"]
    assert [t["direction"] for t in mine] == [-1] and [t["direction"] for t in theirs] == [1]
    assert mine[0]["counterparty"] == "bob" and theirs[0]["counterparty"] == "alice"


def test_openapi_documents_the_funds_endpoints(api_client):
    spec = api_client.get("/api/schema/").get_json()
    paths = spec["paths"]
    for path in ("/api/v1/wallets/", "/api/v1/wallets/{currency}/", "/api/v1/transfers/", "/api/v1/transactions/"):
        assert path in paths, sorted(paths)
    post = paths["/api/v1/transfers/"]["post"]
    assert "201" in post["responses"] and "422" in post["responses"] and "409" in post["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in post.get("parameters", []))
