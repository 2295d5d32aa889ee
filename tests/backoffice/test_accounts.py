"""Staff account actions: a frozen account cannot move money or trade; sessions, tokens and passwords revoked."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, web_login
from tests.trading_helpers import fund
from tradeapp.errors import PermissionDenied, ValidationFailed
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, LoginEvent, StaffNote, Withdrawal
from tradeapp.services import compliance, transfers, withdrawals
from tradeapp.services.backoffice import accounts
from tradeapp.services.compliance import AccountFrozen
from tradeapp.services.trading import orders

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Alice Liddell", "bank_name": "West Bank"}


@pytest.fixture()
def alice(create_user):
    return create_user(email="alice@example.com", username="alice", kyc_status="approved", is_verified=True)


@pytest.fixture()
def support(create_staff):
    return create_staff(role="support")


def _audit(action):
    return select(AuditLog).where(AuditLog.action == action)


def test_a_frozen_account_cannot_trade_withdraw_or_transfer(db, alice, support, create_user, pairs, market):
    create_user(email="bob@example.com", username="bob")
    fund(alice, "USD", "1000")
    market.set("BTC/USD", "49990", "50000", levels=3, size="1", step="10")

    accounts.freeze(support, alice, "fraud check, ticket 42")

    assert compliance.is_frozen(alice.id)
    order = {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.001"}
    with pytest.raises(AccountFrozen) as refused:
        orders.place_order(alice, order)
    assert refused.value.status == 403 and refused.value.code == "account_frozen"
    with pytest.raises(AccountFrozen):
        withdrawals.request_withdrawal(alice, "USD", "100", "bank_account", dict(BANK))
    with pytest.raises(AccountFrozen):
        transfers.transfer(alice, "bob@example.com", "USD", "10")
    # every source of orders is refused, bots and copy trading included
    with pytest.raises(AccountFrozen):
        orders.place_order(alice, order, source="bot")
    row = db.session.scalar(_audit("user.frozen"))
    assert row.actor_id == support.id and row.after == {"frozen": True, "reason": "fraud check, ticket 42"}

    accounts.unfreeze(support, alice, "cleared")
    assert orders.place_order(alice, order).status == "filled"
    assert db.session.scalar(_audit("user.unfrozen")).after["reason"] == "cleared"


def test_staff_cannot_approve_a_frozen_accounts_pending_withdrawal(db, alice, support, create_staff):
    finance = create_staff(role="finance")
    fund(alice, "USD", "500")
    w = withdrawals.request_withdrawal(alice, "USD", "100", "bank_account", dict(BANK))
    accounts.freeze(support, alice, "chargeback dispute")
    with pytest.raises(AccountFrozen):
        withdrawals.approve_withdrawal(finance, w)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "pending"


def test_actions_need_a_reason_and_the_permission(db, alice, create_staff, support):
    analyst = create_staff(role="analyst")
    with pytest.raises(PermissionDenied):
        accounts.freeze(analyst, alice, "because")
    with pytest.raises(ValidationFailed):
        accounts.freeze(support, alice, " ")
    with pytest.raises(PermissionDenied):
        accounts.freeze(support, support, "myself")
    admin = create_staff(role="admin")
    with pytest.raises(PermissionDenied):
        accounts.revoke_sessions(support, admin, "an admin")
    with pytest.raises(PermissionDenied):
        accounts.reset_two_factor(support, admin, "lost phone")
    accounts.freeze(support, alice, "first")
    with pytest.raises(ValidationFailed):
        accounts.freeze(support, alice, "twice")
    assert not compliance.is_frozen(support.id)


def test_revoking_sessions_logs_out_web_and_api(app, db, alice, support, api_client):
    web = app.test_client()
    web_login(web, alice.email)
    assert web.get("/dashboard").status_code == 200
    tokens = api_client.post("/api/v1/auth/login/", json={"email": alice.email, "password": PASSWORD}).get_json()
    me = app.test_client()
    assert me.get("/api/v1/auth/me/", headers={"Authorization": f"Bearer {tokens['access']}"}).status_code == 200
    logins = db.session.scalars(select(LoginEvent).where(LoginEvent.user_id == alice.id)).all()
    assert sorted(event.channel for event in logins) == ["api", "web"]

    revoked = accounts.revoke_sessions(support, alice, "stolen laptop")

    assert revoked == 1
    assert web.get("/dashboard").status_code in (302, 303)
    assert me.get("/api/v1/auth/me/", headers={"Authorization": f"Bearer {tokens['access']}"}).status_code == 401
    refreshed = api_client.post("/api/v1/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert refreshed.status_code == 401
    # a new login works again
    fresh = app.test_client()
    web_login(fresh, alice.email)
    assert fresh.get("/dashboard").status_code == 200
    assert db.session.scalar(_audit("user.sessions_revoked")).after["reason"] == "stolen laptop"


def test_force_password_reset(app, db, alice, support):
    web = app.test_client()
    web_login(web, alice.email)
    accounts.force_password_reset(support, alice, "credential stuffing")
    assert web.get("/dashboard").status_code in (302, 303)
    refused = app.test_client()
    answer = web_login(refused, alice.email)
    assert answer.status_code not in (302, 303)  # the old password no longer works
    [mail] = [m for m in outbox_messages() if m["to"] == alice.email]
    assert "our team has reset the password" in mail["text"] and "/auth/password/reset/" in mail["text"]
    assert db.session.scalar(_audit("user.password_reset_forced")).after == {"reason": "credential stuffing"}


def test_reset_two_factor_is_for_admins_on_staff_accounts(db, create_staff, alice):
    admin = create_staff(role="admin")
    finance = create_staff(role="finance")
    with pytest.raises(ValidationFailed):
        accounts.reset_two_factor(admin, alice, "a customer")
    accounts.reset_two_factor(admin, finance, "lost phone")
    db.session.expire_all()
    assert finance.totp_confirmed_at is None and finance.totp_secret is None
    assert db.session.scalar(_audit("user.2fa_reset")).after == {"enrolled": False, "reason": "lost phone"}


def test_notes_are_audited(db, alice, support):
    note = accounts.add_note(support, alice, "Called about a late deposit.")
    assert db.session.get(StaffNote, note.id).author_id == support.id
    assert [n.body for n in accounts.notes(alice)] == ["Called about a late deposit."]
    assert db.session.scalar(_audit("user.note_added")).after["note_id"] == note.id
