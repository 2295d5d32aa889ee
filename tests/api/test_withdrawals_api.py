"""Withdrawals API: request, list, cancel; staff queue, approve, reject; errors and idempotency."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import ApiClient
from tradeapp.models import Hold, Transaction, Withdrawal
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg
from tradeapp.services.tokens import issue_tokens

from .helpers import assert_error

D = Decimal
URL = "/api/v1/withdrawals/"
BANK = {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"}


@pytest.fixture(autouse=True)
def _sandbox():
    SandboxPayout.reset()
    yield
    SandboxPayout.reset()


def fund(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    ledger.post(
        "deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", currency), -D(amount))]
    )
    db.session.commit()


def client_for(app, user) -> ApiClient:
    return ApiClient(app.test_client(), issue_tokens(user)["access"])


@pytest.fixture()
def verified(db, user):
    user.kyc_status = "approved"
    user.is_verified = True
    db.session.commit()
    fund(db, user, "1000")
    return user


@pytest.fixture()
def finance_api(app, create_staff):
    return client_for(app, create_staff(role="finance"))


def body(**overrides):
    data = {
        "currency": "USD",
        "amount": "100.00",
        "destination_type": "bank_account",
        "destination_details": dict(BANK),
    }
    data.update(overrides)
    return data


def rows(db):
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Withdrawal, Transaction, Hold))


def test_request_returns_201_with_the_withdrawal(auth_api_client, verified, db):
    r = auth_api_client.post(URL, json=body())

    assert r.status_code == 201, r.get_json()
    data = r.get_json()
    assert data["amount"] == "100.00" and data["fee"] == "1.00" and data["currency"] == "USD"
    assert data["status"] == "pending" and data["approvals"] == 0 and data["approvals_required"] == 1
    assert data["destination_type"] == "bank_account" and data["destination_details"]["iban"] == BANK["iban"]
    assert data["transaction"]["transaction_type"] == "withdrawal" and data["transaction"]["direction"] == -1
    assert data["created_at"]
    assert ledger.wallet_for(verified, "USD").available_balance == D("899.00")


def test_flow_approve_completes_and_list_shows_it(auth_api_client, finance_api, verified, db):
    wid = auth_api_client.post(URL, json=body()).get_json()["id"]

    pending = finance_api.get(URL + "pending/")
    assert pending.status_code == 200 and [w["id"] for w in pending.get_json()["results"]] == [wid]

    r = finance_api.post(f"{URL}{wid}/approve/")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "completed" and r.get_json()["transaction"]["status"] == "completed"

    listing = auth_api_client.get(URL).get_json()
    assert listing["count"] == 1 and listing["results"][0]["status"] == "completed"
    assert finance_api.get(URL + "pending/").get_json()["count"] == 0
    assert ledger.check().ok


def test_reject_releases_funds(auth_api_client, finance_api, verified, db):
    wid = auth_api_client.post(URL, json=body()).get_json()["id"]

    assert_error(finance_api.post(f"{URL}{wid}/reject/", json={}), 400, "validation_error", ["reason"])
    r = finance_api.post(f"{URL}{wid}/reject/", json={"reason": "Account name mismatch"})

    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert r.get_json()["rejection_reason"] == "Account name mismatch"
    db.session.expire_all()
    assert ledger.wallet_for(verified, "USD").available_balance == D("1000")
    assert_error(finance_api.post(f"{URL}{wid}/approve/"), 409, "illegal_transition")


def test_dual_approval_over_the_threshold(app, auth_api_client, create_staff, verified, db):
    fund(db, verified, "20000")
    first, second = client_for(app, create_staff(role="finance")), client_for(app, create_staff(role="admin"))
    wid = auth_api_client.post(URL, json=body(amount="15000")).get_json()["id"]

    r = first.post(f"{URL}{wid}/approve/")
    assert r.get_json()["status"] == "pending" and r.get_json()["approvals"] == 1
    assert r.get_json()["approvals_required"] == 2
    assert_error(first.post(f"{URL}{wid}/approve/"), 409, "already_approved")
    r = second.post(f"{URL}{wid}/approve/")
    assert r.get_json()["status"] == "completed" and r.get_json()["approvals"] == 2


def test_staff_cannot_approve_their_own(app, create_staff, db):
    staff = create_staff(role="finance", kyc_status="approved")
    fund(db, staff, "500")
    api = client_for(app, staff)
    wid = api.post(URL, json=body()).get_json()["id"]

    assert_error(api.post(f"{URL}{wid}/approve/"), 403, "self_approval")


def test_cancel_by_owner_only(app, auth_api_client, create_user, verified, db):
    wid = auth_api_client.post(URL, json=body()).get_json()["id"]
    stranger = client_for(app, create_user())

    assert_error(stranger.post(f"{URL}{wid}/cancel/"), 404)
    r = auth_api_client.post(f"{URL}{wid}/cancel/")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert_error(auth_api_client.post(f"{URL}{wid}/cancel/"), 409, "illegal_transition")
    assert_error(auth_api_client.post(f"{URL}999999/cancel/"), 404)


def test_customers_get_403_on_staff_routes(auth_api_client, verified, db):
    wid = auth_api_client.post(URL, json=body()).get_json()["id"]
    assert_error(auth_api_client.get(URL + "pending/"), 403, "permission_denied")
    assert_error(auth_api_client.post(f"{URL}{wid}/approve/"), 403, "permission_denied")
    assert_error(auth_api_client.post(f"{URL}{wid}/reject/", json={"reason": "x"}), 403, "permission_denied")
    assert db.session.get(Withdrawal, wid).status == "pending"


def test_staff_without_permission_get_403(app, create_staff, db):
    support = client_for(app, create_staff(role="support"))
    assert_error(support.get(URL + "pending/"), 403)


def test_anonymous_gets_401(api_client):
    assert_error(api_client.post(URL, json=body()), 401)
    assert_error(api_client.get(URL), 401)


def test_others_withdrawals_are_not_listed(app, auth_api_client, create_user, verified, db):
    auth_api_client.post(URL, json=body())
    other = client_for(app, create_user())
    assert other.get(URL).get_json()["count"] == 0


def test_kyc_not_approved_is_403(app, create_user, db):
    user = create_user(kyc_status="pending")
    fund(db, user, "500")
    assert_error(client_for(app, user).post(URL, json=body()), 403, "kyc_required")
    assert rows(db) == (0, 0, 0)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 10.555}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"amount": "99999999999999999999"}, "amount"),
        ({"amount": "5"}, "amount"),
        ({"currency": "DOGE"}, "currency"),
        ({"destination_type": "cash"}, "destination_type"),
        ({"destination_details": {"iban": "NOT-AN-IBAN", "account_holder": "A B"}}, "destination_details.iban"),
        ({"destination_details": "GB82WEST12345698765432"}, "destination_details"),
        ({"currency": None}, "currency"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(auth_api_client, verified, db, overrides, field):
    before = rows(db)
    r = auth_api_client.post(URL, json=body(**overrides))
    assert_error(r, 400, fields=[field])
    assert rows(db) == before


def test_missing_fields_are_400(auth_api_client, verified, db):
    assert_error(auth_api_client.post(URL, json={}), 400, "validation_error", ["currency", "amount"])
    assert rows(db) == (0, 0, 0)


def test_limit_and_insufficient_funds(auth_api_client, verified, db):
    assert_error(auth_api_client.post(URL, json=body(amount="1000")), 400, "insufficient_funds", ["amount"])
    assert rows(db) == (0, 0, 0)


def test_idempotency_key_replays_without_a_second_withdrawal(auth_api_client, verified, db):
    headers = {"Idempotency-Key": "wd-key-1"}
    first = auth_api_client.post(URL, json=body(), headers=headers)
    again = auth_api_client.post(URL, json=body(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert rows(db) == (1, 1, 1)
    other = auth_api_client.post(URL, json=body(amount="20"), headers=headers)
    assert_error(other, 422, "idempotency_key_reused")
    assert rows(db) == (1, 1, 1)
