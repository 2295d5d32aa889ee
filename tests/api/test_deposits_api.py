"""Deposits API: create by card, bank and crypto; my list; staff queue, confirm and reject."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import ApiClient
from tradeapp.models import AuditLog
from tradeapp.models.funds import Deposit, Transaction
from tradeapp.services import ledger
from tradeapp.services.tokens import issue_tokens

D = Decimal
URL = "/api/v1/deposits/"
TX = "ef" * 32


def rows(db, model=Deposit) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture()
def finance_api(app, db, create_staff):
    staff = create_staff(role="finance")
    return ApiClient(app.test_client(), issue_tokens(staff)["access"]), staff


def create(api, **body):
    return api.post(URL, json={"payment_method": "bank_transfer", "currency": "USD", "amount": "100", **body})


def test_card_deposit_returns_the_client_secret_and_the_transaction(auth_api_client, db):
    r = auth_api_client.post(URL, json={"payment_method": "card", "currency": "EUR", "amount": 25})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["payment_method"] == "card" and body["status"] == "pending"
    assert body["amount"] == "25.00" and body["currency"] == "EUR"
    assert body["payment_details"]["client_secret"].startswith(body["payment_details"]["payment_intent"])
    txn = body["transaction"]
    assert txn["transaction_type"] == "deposit" and txn["status"] == "pending" and txn["amount"] == "25.00"
    assert txn["reference_id"].startswith("DEP-")


def test_bank_deposit_returns_reference_and_bank_details(auth_api_client, db):
    r = create(auth_api_client, amount="250.5")
    assert r.status_code == 201
    details = r.get_json()["payment_details"]
    assert details["reference"].startswith("TA-") and details["bank"]["iban"] and details["bank"]["bic"]


def test_crypto_deposit_returns_the_demo_address(auth_api_client, db):
    r = auth_api_client.post(
        URL, json={"payment_method": "crypto", "currency": "USDT", "network": "tron", "amount": "10"}
    )
    assert r.status_code == 201
    details = r.get_json()["payment_details"]
    assert details["network"] == "tron" and details["address"].startswith("demo-tron-")
    assert "not automatic" in details["address_note"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"amount": "99999999999"}, "amount"),
        ({"amount": 10.555}, "amount"),  # a JSON number with 3 places
        ({"amount": "1e1"}, "amount"),
        ({"amount": "+1"}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"payment_method": "cheque"}, "payment_method"),
        ({"payment_method": "crypto", "currency": "BTC", "network": "ethereum"}, "network"),
        ({"payment_method": "crypto", "currency": "BTC", "network": "bitcoin", "tx_hash": "nope"}, "tx_hash"),
    ],
)
def test_bad_input_is_400_with_field_errors_and_no_rows(auth_api_client, db, body, field):
    r = create(auth_api_client, **body)
    assert r.status_code == 400, r.get_json()
    assert field in r.get_json()["fields"]
    assert rows(db) == 0 and rows(db, Transaction) == 0


def test_a_json_number_amount_arrives_exactly(auth_api_client, db):
    r = auth_api_client.post(
        URL, data='{"payment_method": "bank_transfer", "amount": 100.10}', content_type="application/json"
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["amount"] == "100.10" and r.get_json()["currency"] == "USD"  # USD by default, as the seed


def test_anonymous_is_401(api_client, db):
    assert create(api_client).status_code == 401
    assert api_client.get(URL).status_code == 401


def test_idempotency_key_replays_the_first_deposit(auth_api_client, db):
    headers = {"Idempotency-Key": "dep-1"}
    first = auth_api_client.post(
        URL, json={"payment_method": "bank_transfer", "currency": "USD", "amount": "5"}, headers=headers
    )
    again = auth_api_client.post(
        URL, json={"payment_method": "bank_transfer", "currency": "USD", "amount": "5"}, headers=headers
    )
    other = auth_api_client.post(
        URL, json={"payment_method": "bank_transfer", "currency": "USD", "amount": "6"}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert rows(db) == 1


def test_list_shows_only_my_deposits_paginated(auth_api_client, app, db, create_user):
    other = ApiClient(app.test_client(), issue_tokens(create_user())["access"])
    for amount in ("1", "2", "3"):
        create(auth_api_client, amount=amount)
    theirs = create(other).get_json()["id"]
    r = auth_api_client.get(URL + "?page_size=2")
    body = r.get_json()
    assert r.status_code == 200 and body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert theirs not in [d["id"] for d in body["results"]]
    assert auth_api_client.get(f"{URL}{theirs}/").status_code == 404
    assert other.get(f"{URL}{theirs}/").status_code == 200


def test_staff_confirm_bank_with_a_different_amount(auth_api_client, finance_api, db, user):
    api, staff = finance_api
    deposit_id = create(auth_api_client, amount="100").get_json()["id"]
    pending = api.get(URL + "pending/").get_json()
    assert [d["id"] for d in pending["results"]] == [deposit_id] and pending["results"][0]["user_email"] == user.email

    r = api.post(f"{URL}{deposit_id}/confirm/", json={"amount": "98.75"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "completed" and r.get_json()["credited_amount"] == "98.75"
    assert ledger.wallet_for(user, "USD").balance == D("98.75")
    again = api.post(f"{URL}{deposit_id}/confirm/", json={})
    assert again.status_code == 409 and again.get_json()["code"] == "illegal_transition"
    assert ledger.wallet_for(user, "USD").balance == D("98.75")
    assert api.get(URL + "pending/").get_json()["count"] == 0
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "deposit.confirm")).actor_id == staff.id
    assert ledger.check().ok


def test_staff_confirm_crypto_needs_a_unique_tx_hash(auth_api_client, finance_api, db, user):
    api, _ = finance_api
    body = {"payment_method": "crypto", "currency": "BTC", "network": "bitcoin", "amount": "0.1"}
    first = auth_api_client.post(URL, json=body).get_json()["id"]
    second = auth_api_client.post(URL, json=body).get_json()["id"]
    missing = api.post(f"{URL}{first}/confirm/", json={})
    assert missing.status_code == 400 and "tx_hash" in missing.get_json()["fields"]
    assert api.post(f"{URL}{first}/confirm/", json={"tx_hash": TX}).status_code == 200
    dup = api.post(f"{URL}{second}/confirm/", json={"tx_hash": "0x" + TX})
    assert dup.status_code == 400 and dup.get_json()["code"] == "duplicate_tx_hash"
    assert ledger.wallet_for(user, "BTC").balance == D("0.1")
    assert ledger.check().ok


def test_staff_reject_needs_a_reason(auth_api_client, finance_api, db):
    api, _ = finance_api
    deposit_id = create(auth_api_client).get_json()["id"]
    r = api.post(f"{URL}{deposit_id}/reject/", json={})
    assert r.status_code == 400 and "reason" in r.get_json()["fields"]
    r = api.post(f"{URL}{deposit_id}/reject/", json={"reason": "Never arrived"})
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    mine = auth_api_client.get(f"{URL}{deposit_id}/").get_json()
    assert mine["status"] == "rejected" and mine["rejection_reason"] == "Never arrived"


def test_customers_and_other_roles_get_403_on_staff_routes(auth_api_client, app, db, create_staff):
    deposit_id = create(auth_api_client).get_json()["id"]
    support = ApiClient(app.test_client(), issue_tokens(create_staff(role="support"))["access"])
    for api in (auth_api_client, support):
        assert api.get(URL + "pending/").status_code == 403
        assert api.post(f"{URL}{deposit_id}/confirm/", json={}).status_code == 403
        assert api.post(f"{URL}{deposit_id}/reject/", json={"reason": "x"}).status_code == 403
    assert db.session.get(Deposit, deposit_id).status == "pending"


def test_staff_cannot_confirm_their_own_deposit(finance_api, db):
    api, _ = finance_api
    deposit_id = create(api).get_json()["id"]
    r = api.post(f"{URL}{deposit_id}/confirm/", json={})
    assert r.status_code == 403
    assert db.session.get(Deposit, deposit_id).status == "pending" and ledger.check().entries == 0


def test_unknown_deposit_is_404_for_staff(finance_api, db):
    api, _ = finance_api
    assert api.post(f"{URL}999/confirm/", json={}).status_code == 404
    assert api.post(f"{URL}999/reject/", json={"reason": "x"}).status_code == 404


def test_card_deposits_cannot_be_confirmed_by_staff(auth_api_client, finance_api, db, user):
    api, _ = finance_api
    deposit_id = auth_api_client.post(
        URL, json={"payment_method": "card", "currency": "USD", "amount": "5"}
    ).get_json()["id"]
    assert api.post(f"{URL}{deposit_id}/confirm/", json={}).status_code == 400
    assert ledger.wallet_for(user, "USD").balance == 0
