"""Withdraw page (form, list, cancel) and the staff queue (approve, reject, manual payouts, CSV)."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token, web_login
from tradeapp.models import AuditLog, Transaction, Withdrawal
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger
from tradeapp.services import withdrawals as service
from tradeapp.services.ledger import Leg

D = Decimal
PAGE = "/withdrawals/"
QUEUE = "/staff/withdrawals/"
HX = {"HX-Request": "true"}
BANK = {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"}


@pytest.fixture(autouse=True)
def _sandbox():
    SandboxPayout.reset()
    yield
    SandboxPayout.reset()


def fund(db, user, amount="1000", currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    ledger.post(
        "deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", currency), -D(amount))]
    )
    db.session.commit()


@pytest.fixture()
def verified(db, user):
    user.kyc_status = "approved"
    user.is_verified = True
    db.session.commit()
    fund(db, user)
    return user


def form_data(client, **overrides):
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "currency": "USD",
        "amount": "100",
        "destination_type": "bank_account",
        "iban": "GB82 WEST 1234 5698 7654 32",
        "account_holder": "Alice Liddell",
        "bank_name": "",
        "address": "",
        "network": "bitcoin",
    }
    data.update(overrides)
    return data


def count(db):
    return db.session.scalar(select(func.count()).select_from(Withdrawal))


# -- customer page ---------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    r = client.get(PAGE)
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]


def test_page_shows_kyc_message_when_not_verified(logged_in_client, user):
    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert "Withdrawals need a verified identity" in html
    assert 'href="/withdrawals/"' in html  # the nav link
    assert "Fees and limits" in html


def test_request_without_kyc_shows_the_error_and_writes_nothing(logged_in_client, user, db):
    fund(db, user)
    r = logged_in_client.post(PAGE, data=form_data(logged_in_client), headers=HX)
    assert r.status_code == 422
    assert "Verify your identity" in r.get_data(as_text=True)
    assert count(db) == 0


def test_request_posts_and_redirects(logged_in_client, verified, db):
    r = logged_in_client.post(PAGE, data=form_data(logged_in_client))

    assert r.status_code == 303
    w = db.session.scalar(select(Withdrawal))
    assert w.amount == D("100") and w.status == "pending" and w.destination_details["iban"] == BANK["iban"]
    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert "awaits approval" in html and w.transaction.reference_id in html
    assert f'id="withdrawal-{w.id}"' in html and "every 5s" in html  # polls while pending


def test_htmx_request_swaps_the_form_and_refreshes_the_list(logged_in_client, verified, db):
    r = logged_in_client.post(PAGE, data=form_data(logged_in_client, amount="50.25"), headers=HX)

    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'id="withdrawal-form"' in html
    assert "<html" not in html and "50.25 USD requested" in html
    assert r.headers["HX-Trigger"] == "withdrawalsChanged"
    listing = logged_in_client.get("/withdrawals/list", headers=HX).get_data(as_text=True)
    assert "50.25" in listing and "<html" not in listing


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "abc"}, "Enter a valid number."),
        ({"amount": "5"}, "minimum withdrawal"),
        ({"amount": ""}, "This field is required."),
        ({"iban": "GB00WEST12345698765432"}, "valid IBAN"),
        ({"account_holder": ""}, "account holder"),
        ({"currency": "BTC", "destination_type": "crypto_wallet", "address": "nope"}, "valid bitcoin address"),
        ({"amount": "5000"}, "Insufficient available"),
    ],
)
def test_bad_input_shows_inline_errors_and_writes_nothing(logged_in_client, verified, db, overrides, message):
    fund(db, verified, "1", "BTC")
    transactions = db.session.scalar(select(func.count()).select_from(Transaction))
    r = logged_in_client.post(PAGE, data=form_data(logged_in_client, **overrides), headers=HX)
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    assert count(db) == 0
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == transactions


def test_double_submit_with_the_same_form_key_creates_one(logged_in_client, verified, db):
    data = form_data(logged_in_client, idempotency_key="form-key-1")
    logged_in_client.post(PAGE, data=data, headers=HX)
    logged_in_client.post(PAGE, data=data, headers=HX)
    assert count(db) == 1


def test_cancel_swaps_the_row(logged_in_client, verified, db):
    w = service.request_withdrawal(verified, "USD", "100", "bank_account", dict(BANK))
    token = csrf_token(logged_in_client, PAGE)

    r = logged_in_client.post(f"/withdrawals/{w.id}/cancel", data={"csrf_token": token}, headers=HX)

    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith("<tr") and "cancelled" in html and "every 5s" not in html
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "cancelled"
    assert ledger.wallet_for(verified, "USD").available_balance == D("1000")
    again = logged_in_client.post(f"/withdrawals/{w.id}/cancel", data={"csrf_token": token}, headers=HX)
    assert again.status_code == 422 and "Only a pending withdrawal" in again.get_data(as_text=True)


def test_others_withdrawals_are_404(app, logged_in_client, create_user, db):
    other = create_user(kyc_status="approved")
    fund(db, other)
    w = service.request_withdrawal(other, "USD", "100", "bank_account", dict(BANK))
    token = csrf_token(logged_in_client, PAGE)
    assert logged_in_client.get(f"/withdrawals/{w.id}/row").status_code == 404
    assert logged_in_client.post(f"/withdrawals/{w.id}/cancel", data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "pending"


# -- staff queue -----------------------------------------------------------------------------------


@pytest.fixture()
def pending(db, verified):
    return service.request_withdrawal(verified, "USD", "100", "bank_account", dict(BANK))


def test_customers_and_other_staff_are_refused(logged_in_client, staff_client_factory, pending):
    assert logged_in_client.get(QUEUE).status_code == 403
    support, _ = staff_client_factory("support")
    assert support.get(QUEUE).status_code == 403
    token = csrf_token(support, "/staff/")
    assert support.post(f"/staff/withdrawals/{pending.id}/approve", data={"csrf_token": token}).status_code == 403
    assert pending.status == "pending"


def test_queue_lists_pending_with_risk_facts(staff_client_factory, pending):
    client, _ = staff_client_factory("finance")
    html = client.get(QUEUE).get_data(as_text=True)
    assert f'id="staff-withdrawal-{pending.id}"' in html
    assert "alice@example.com" in html and "new account" in html and "no deposits" in html
    assert "0 of 1" in html and 'data-counter="withdrawals"' in html
    assert "Withdrawals" in html  # the sidebar entry


def test_approve_swaps_the_row_and_pays_out(staff_client_factory, pending, db):
    client, staff = staff_client_factory("finance")
    token = csrf_token(client, QUEUE)

    r = client.post(f"/staff/withdrawals/{pending.id}/approve", data={"csrf_token": token}, headers=HX)

    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith("<tr") and "payout has been queued" in html and "completed" in html
    db.session.expire_all()
    assert db.session.get(Withdrawal, pending.id).status == "completed"
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "withdrawal.approved"))
    assert row.actor_id == staff.id
    assert ledger.check().ok


def test_dual_approval_through_the_queue(staff_client_factory, verified, db):
    fund(db, verified, "20000")
    w = service.request_withdrawal(verified, "USD", "15000", "bank_account", dict(BANK))
    first, _ = staff_client_factory("finance")
    second, _ = staff_client_factory("admin")

    r = first.post(f"/staff/withdrawals/{w.id}/approve", data={"csrf_token": csrf_token(first, QUEUE)}, headers=HX)
    assert "1 of 2 approvals" in r.get_data(as_text=True)
    assert "You approved; waiting for a second person" in r.get_data(as_text=True)
    again = first.post(f"/staff/withdrawals/{w.id}/approve", data={"csrf_token": csrf_token(first, QUEUE)}, headers=HX)
    assert again.status_code == 422 and "already approved" in again.get_data(as_text=True)

    second.post(f"/staff/withdrawals/{w.id}/approve", data={"csrf_token": csrf_token(second, QUEUE)}, headers=HX)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "completed"


def test_reject_with_a_preset_reason(staff_client_factory, pending, db):
    client, _ = staff_client_factory("finance")
    token = csrf_token(client, QUEUE)
    preset = service.REJECTION_PRESETS[0]

    empty = client.post(f"/staff/withdrawals/{pending.id}/reject", data={"csrf_token": token}, headers=HX)
    assert empty.status_code == 422 and "Choose a reason" in empty.get_data(as_text=True)
    r = client.post(
        f"/staff/withdrawals/{pending.id}/reject",
        data={"csrf_token": token, "preset": preset, "note": "Please use your own account."},
        headers=HX,
    )

    assert r.status_code == 200 and "rejected" in r.get_data(as_text=True)
    db.session.expire_all()
    w = db.session.get(Withdrawal, pending.id)
    assert w.status == "rejected" and w.rejection_reason == f"{preset}: Please use your own account."
    assert ledger.wallet_for(w.user_id, "USD").available_balance == D("1000")


def test_own_withdrawal_cannot_be_approved_in_the_queue(app, db, create_staff):
    staff = create_staff(role="finance", kyc_status="approved")
    fund(db, staff)
    w = service.request_withdrawal(staff, "USD", "100", "bank_account", dict(BANK))
    client = app.test_client()
    web_login(client, staff.email)
    from tests.conftest import totp_now

    client.post("/staff/2fa", data={"otp": totp_now(), "csrf_token": csrf_token(client, "/staff/2fa")})
    html = client.get(QUEUE).get_data(as_text=True)
    assert "Your own request" in html
    r = client.post(f"/staff/withdrawals/{w.id}/approve", data={"csrf_token": csrf_token(client, QUEUE)}, headers=HX)
    assert r.status_code == 422 and "cannot approve your own" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "pending"


def test_manual_bank_export_and_mark_paid(app, staff_client_factory, verified, db, monkeypatch):
    monkeypatch.setitem(app.config, "PAYOUT_PROVIDER_BANK", "manual_bank")
    w = service.request_withdrawal(verified, "USD", "100", "bank_account", {**BANK, "account_holder": "=HYPERLINK()"})
    approver, _ = staff_client_factory("finance")
    approver.post(f"/staff/withdrawals/{w.id}/approve", data={"csrf_token": csrf_token(approver, QUEUE)}, headers=HX)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "processing"

    csv = approver.get("/staff/withdrawals/export.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert text.splitlines()[0].startswith("withdrawal_id,reference")
    assert BANK["iban"] in text and "'=HYPERLINK()" in text and "100.00" in text
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "withdrawals.exported"))

    html = approver.get(QUEUE).get_data(as_text=True)
    assert f'id="manual-withdrawal-{w.id}"' in html
    r = approver.post(f"/staff/withdrawals/{w.id}/paid", data={"csrf_token": csrf_token(approver, QUEUE)}, headers=HX)
    assert r.status_code == 200 and "Marked paid" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "completed"
    assert ledger.wallet_for(verified, "USD").balance == D("899")
    assert ledger.check().ok
