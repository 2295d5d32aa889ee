"""Withdrawal safeguards: the address book (cooling-off, revoke link, whitelist-only), e-mailed confirmation
(hold at once, staff queue only once confirmed, expiry releasing the hold idempotently), fresh codes."""

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.account_security.helpers import code_at, enable_two_factor
from tests.conftest import PG_URL, csrf_token
from tests.trading_helpers import fund
from tradeapp.errors import Conflict, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, Hold, Notification, User, Withdrawal, WithdrawalAddress, WithdrawalConfirmation
from tradeapp.models.types import utcnow
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger, withdrawals
from tradeapp.services.account_security import addresses, confirmations, settings
from tradeapp.services.account_security.addresses import AddressRefused, TwoFactorRequired
from tradeapp.services.tokens import issue_tokens

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Carol Doe"}
OTHER_BANK = {"iban": "DE89 3704 0044 0532 0130 00", "account_holder": "Carol Doe"}


@pytest.fixture()
def carol(db, create_user):
    user = create_user(email="carol@example.com", username="carol", kyc_status="approved", is_verified=True)
    fund(user, "USD", "1000")
    SandboxPayout.reset()
    yield user
    SandboxPayout.reset()


@pytest.fixture()
def confirming(app, monkeypatch):
    """E-mailed confirmation on, as it is by default outside the test configuration."""
    monkeypatch.setitem(app.config, "WITHDRAWAL_EMAIL_CONFIRMATION", True)


def me(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def save(user, details=BANK, otp=None, label="Main bank"):
    return addresses.add(
        user,
        {"label": label, "currency": "USD", "destination_type": "bank_account", "destination_details": dict(details)},
        otp,
    )


def request(user, details=BANK, amount="100", otp=None):
    return withdrawals.request_withdrawal(user, "USD", amount, "bank_account", dict(details), otp=otp)


def books_clean():
    report = ledger.check()
    assert report.ok, report.problems()


def available(user):
    db.session.expire_all()
    return ledger.wallet_for(user, "USD").available_balance


# -- the address book --------------------------------------------------------------------------------------


def test_a_new_address_is_mailed_with_a_revoke_link_and_cools_off(client, db, carol):
    row = save(carol)
    assert row.status == "cooling_off" and row.usable_from - row.created_at == timedelta(hours=24)
    assert row.destination_details == {"iban": "GB82WEST12345698765432", "account_holder": "Carol Doe"}
    [mail] = outbox_messages()
    assert mail["subject"] == "A withdrawal address was added" and "24 hours" in mail["text"]
    link = re.search(r"http://localhost(/account/withdrawal-addresses/revoke/\S+)", mail["text"]).group(1)
    page = client.get(link)  # works without signing in: the link proves the mailbox
    assert page.status_code == 200 and "Revoke this address" in page.get_data(as_text=True)
    r = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert r.status_code == 200 and "can no longer receive withdrawals" in r.get_data(as_text=True)
    assert db.session.get(WithdrawalAddress, row.id).status == "revoked"


def test_a_withdrawal_to_an_address_still_cooling_off_is_refused(db, carol):
    save(carol)
    with pytest.raises(AddressRefused) as exc:
        request(
            carol, {"iban": "gb82west12345698765432", "account_holder": "C. Doe"}
        )  # same account, spelled otherwise
    assert exc.value.code == "address_cooling_off" and "destination_details" in exc.value.fields
    assert db.session.scalars(select(Withdrawal)).all() == []
    assert available(carol) == D("1000")


def test_after_the_cooling_off_the_address_can_be_used(db, carol):
    row = save(carol)
    row.usable_from = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert request(carol).status == "pending"


def test_the_cooling_off_is_a_setting(app, db, carol, monkeypatch):
    monkeypatch.setitem(app.config, "WITHDRAWAL_ADDRESS_COOLING_HOURS", "2")
    row = save(carol)
    assert row.usable_from - row.created_at == timedelta(hours=2)


def test_whitelist_only_refuses_destinations_outside_the_book(db, carol):
    row = save(carol)
    row.usable_from = utcnow() - timedelta(minutes=1)
    db.session.commit()
    settings.update(carol, {"whitelist_only": True}, fresh_code_checked=False)
    with pytest.raises(AddressRefused) as exc:
        request(carol, OTHER_BANK)
    assert exc.value.code == "address_not_whitelisted"
    assert request(carol).status == "pending"
    addresses.revoke(carol, row.id)
    with pytest.raises(AddressRefused):
        request(carol)


def test_bad_and_duplicate_addresses_are_refused(db, carol):
    with pytest.raises(ValidationFailed) as exc:
        addresses.add(
            carol,
            {
                "label": "",
                "currency": "USD",
                "destination_type": "bank_account",
                "destination_details": {"iban": "nope"},
            },
        )
    assert {"label", "destination_details.iban"} <= set(exc.value.fields)
    save(carol)
    with pytest.raises(ValidationFailed) as exc:
        save(carol, label="Again")
    assert exc.value.code == "duplicate_address"


def test_the_api_address_book(auth_api_client, user, create_user):
    body = {"label": "Savings", "currency": "USD", "destination_type": "bank_account", "destination_details": BANK}
    r = auth_api_client.post("/api/v1/withdrawal-addresses/", json=body)
    assert r.status_code == 201
    created = r.get_json()
    assert created["status"] == "cooling_off" and created["description"] == "bank account GB82…5432"
    listing = auth_api_client.get("/api/v1/withdrawal-addresses/").get_json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == created["id"]
    r = auth_api_client.post("/api/v1/withdrawal-addresses/", json={**body, "destination_details": {"iban": "x"}})
    assert r.status_code == 400 and "destination_details.iban" in r.get_json()["fields"]
    theirs = save(create_user(), OTHER_BANK)
    assert auth_api_client.get(f"/api/v1/withdrawal-addresses/{theirs.id}/").status_code == 404
    assert auth_api_client.delete(f"/api/v1/withdrawal-addresses/{theirs.id}/").status_code == 404
    assert auth_api_client.delete(f"/api/v1/withdrawal-addresses/{created['id']}/").status_code == 204
    assert auth_api_client.get(f"/api/v1/withdrawal-addresses/{created['id']}/").get_json()["status"] == "revoked"


# -- two-factor on withdrawals ---------------------------------------------------------------------------


def test_with_two_factor_each_withdrawal_needs_a_fresh_code(db, carol):
    secret, _ = enable_two_factor(carol)
    with pytest.raises(ValidationFailed) as exc:
        request(me(carol))
    assert exc.value.code == "otp_required"
    code = code_at(secret)
    assert request(me(carol), otp=code).status == "pending"
    with pytest.raises(ValidationFailed) as exc:
        request(me(carol), otp=code)  # the same code again
    assert exc.value.code == "otp_invalid"
    assert len(db.session.scalars(select(Withdrawal)).all()) == 1


def test_above_the_platform_amount_two_factor_is_mandatory(app, db, carol, monkeypatch):
    monkeypatch.setitem(app.config, "WITHDRAWAL_2FA_OVER_USD", "500")
    assert request(carol, amount="400").status == "pending"
    with pytest.raises(TwoFactorRequired) as exc:
        request(carol, amount="501")
    assert exc.value.status == 403 and exc.value.code == "two_factor_required"
    secret, _ = enable_two_factor(carol)
    assert request(me(carol), amount="501", otp=code_at(secret)).status == "pending"


def test_adding_an_address_with_two_factor_needs_a_code(db, carol):
    secret, _ = enable_two_factor(carol)
    with pytest.raises(ValidationFailed) as exc:
        save(me(carol))
    assert exc.value.code == "otp_required"
    assert save(me(carol), otp=code_at(secret)).id


# -- e-mailed confirmation -----------------------------------------------------------------------------------


def _confirm_link() -> str:
    [mail] = [m for m in outbox_messages() if m["subject"] == "Confirm your withdrawal"]
    return re.search(r"http://localhost(/withdrawals/confirm/\S+)", mail["text"]).group(1)


def test_the_hold_is_placed_at_once_and_staff_see_it_only_once_confirmed(client, db, carol, create_staff, confirming):
    finance = create_staff(role="finance")
    w = request(carol)
    assert available(carol) == D("1000") - w.amount - w.fee  # held now
    assert withdrawals.pending_count() == 0
    assert db.session.scalars(withdrawals.pending_query()).all() == []
    with pytest.raises(Conflict) as exc:
        withdrawals.approve_withdrawal(finance, w)
    assert exc.value.code == "awaiting_confirmation"

    link = _confirm_link()
    page = client.get(link)  # opening the link (a mail scanner) confirms nothing
    assert "Confirm the withdrawal" in page.get_data(as_text=True)
    assert withdrawals.pending_count() == 0
    r = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert r.status_code == 200 and "is confirmed" in r.get_data(as_text=True)
    assert withdrawals.pending_count() == 1
    r = client.post(link, data={"csrf_token": csrf_token(client, link)})  # twice: harmless
    assert r.status_code == 200
    withdrawals.approve_withdrawal(finance, db.session.get(Withdrawal, w.id))
    assert db.session.get(Withdrawal, w.id).status == "completed"
    books_clean()


def test_an_expired_confirmation_releases_the_hold_once(client, db, carol, confirming):
    w = request(carol)
    hold_id = w.hold_id
    assert confirmations.expire_due() == 0  # not yet due
    later = utcnow() + timedelta(minutes=31)
    assert confirmations.expire_due(later) == 1
    assert confirmations.expire_due(later) == 0  # a rerun does nothing
    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == "cancelled" and w.transaction.status == "cancelled"
    assert db.session.get(Hold, hold_id).status == "released"
    assert available(carol) == D("1000")
    row = db.session.get(WithdrawalConfirmation, w.id)
    assert row.expired_at is not None and row.confirmed_at is None
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "withdrawal.confirmation_expired"))
    [note] = db.session.scalars(select(Notification).where(Notification.kind == "withdrawal_expired")).all()
    assert note.user_id == carol.id
    r = client.post(_confirm_link(), data={"csrf_token": csrf_token(client, "/auth/login")})
    assert r.status_code == 409 and "expired" in r.get_data(as_text=True)
    books_clean()


def test_the_expiry_job_leaves_a_cancelled_withdrawal_alone(db, carol, confirming):
    from tradeapp.jobs.account_security import expire_unconfirmed_withdrawals

    w = request(carol)
    withdrawals.cancel_withdrawal(carol, w)
    row = db.session.get(WithdrawalConfirmation, w.id)
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert expire_unconfirmed_withdrawals() == 1  # the confirmation is closed
    assert db.session.get(Withdrawal, w.id).status == "cancelled"
    assert available(carol) == D("1000")
    books_clean()


@pytest.mark.skipif(not PG_URL, reason="row-lock race: PostgreSQL only")
def test_a_click_racing_the_expiry_ends_one_way(app, db, carol, confirming):
    w = request(carol)
    token = re.search(r"/withdrawals/confirm/(\S+)", _confirm_link()).group(1)
    row = db.session.get(WithdrawalConfirmation, w.id)
    row.expires_at = utcnow() + timedelta(seconds=1)
    db.session.commit()
    outcomes = []

    def click():
        with app.app_context():
            try:
                confirmations.confirm(token)
                outcomes.append("confirmed")
            except Exception as exc:  # noqa: BLE001
                outcomes.append(type(exc).__name__)
            finally:
                db.session.remove()

    def expire():
        with app.app_context():
            outcomes.append(f"expired:{confirmations.expire_due(utcnow() + timedelta(minutes=5))}")
            db.session.remove()

    threads = [threading.Thread(target=click), threading.Thread(target=expire)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    row = db.session.get(WithdrawalConfirmation, w.id)
    if w.status == "cancelled":
        assert row.expired_at is not None and row.confirmed_at is None
    else:
        assert w.status == "pending" and row.confirmed_at is not None and row.expired_at is None
    books_clean()


def test_confirmation_can_be_switched_off_only_with_two_factor(db, carol):
    with pytest.raises(ValidationFailed) as exc:
        settings.update(carol, {"withdrawal_confirmation": False}, fresh_code_checked=False)
    assert "withdrawal_confirmation" in exc.value.fields
    enable_two_factor(carol)
    with pytest.raises(ValidationFailed) as exc:
        settings.update(me(carol), {"withdrawal_confirmation": False}, fresh_code_checked=False)
    assert exc.value.code == "otp_required"
    assert (
        settings.update(me(carol), {"withdrawal_confirmation": False}, fresh_code_checked=True).withdrawal_confirmation
        is False
    )


def test_the_security_api_patches_with_a_fresh_code(auth_api_client, user):
    body = auth_api_client.get("/api/v1/security/").get_json()
    assert body == {
        "two_factor_enabled": False,
        "recovery_codes_left": 0,
        "withdrawal_confirmation": False,  # the test configuration's default (True elsewhere)
        "whitelist_only": False,
        "anti_phishing_phrase": "",
    }
    r = auth_api_client.patch("/api/v1/security/", json={"withdrawal_confirmation": True, "whitelist_only": True})
    assert r.status_code == 200 and r.get_json()["whitelist_only"] is True
    r = auth_api_client.patch("/api/v1/security/", json={"withdrawal_confirmation": False})
    assert r.status_code == 400 and "withdrawal_confirmation" in r.get_json()["fields"]
    secret, _ = enable_two_factor(me(user))
    assert auth_api_client.get("/api/v1/security/").status_code == 401  # turning 2FA on ended other logins
    auth_api_client.token = issue_tokens(me(user))["access"]
    r = auth_api_client.patch("/api/v1/security/", json={"whitelist_only": False})
    assert r.status_code == 400 and r.get_json()["code"] == "otp_required"
    r = auth_api_client.patch("/api/v1/security/", json={"whitelist_only": False, "otp": code_at(secret)})
    assert r.status_code == 200 and r.get_json()["whitelist_only"] is False


def test_the_anti_phishing_phrase_heads_every_email(db, carol, confirming):
    settings.update(carol, {"anti_phishing_phrase": "blue heron at noon"}, fresh_code_checked=False)
    request(carol)
    mails = outbox_messages()
    assert mails and all(
        m["text"].startswith("Your anti-phishing phrase: blue heron at noon") for m in mails if m["to"] == carol.email
    )
    audit_row = db.session.scalar(select(AuditLog).where(AuditLog.action == "security.settings_changed"))
    assert "blue heron" not in repr(audit_row.after)


def test_the_api_says_a_withdrawal_awaits_its_confirmation(app, db, carol, confirming, client):
    token = issue_tokens(carol)["access"]
    body = {"currency": "USD", "amount": "50", "destination_type": "bank_account", "destination_details": BANK}
    r = client.post("/api/v1/withdrawals/", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201 and r.get_json()["awaiting_confirmation"] is True
    link = _confirm_link()
    client.post(link, data={"csrf_token": csrf_token(client, link)})
    r = client.get(f"/api/v1/withdrawals/{r.get_json()['id']}/", headers={"Authorization": f"Bearer {token}"})
    assert r.get_json()["awaiting_confirmation"] is False
