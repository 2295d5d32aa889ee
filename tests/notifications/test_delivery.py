"""The e-mails that are really notifications go through the centre, so preferences govern them.

Deposit credited, withdrawal approved/sent/rejected/failed, KYC approved/rejected/expired and a resting
order's fill each leave a notification row; the live event and the e-mail follow the user's choice.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.trading_helpers import fund
from tests.unit.test_kyc_review import add_submission
from tradeapp.mail import outbox_messages
from tradeapp.models import Notification
from tradeapp.models.types import utcnow
from tradeapp.payouts import SandboxPayout
from tradeapp.services import deposits, kyc, kyc_review, withdrawals
from tradeapp.services import notifications as notes
from tradeapp.services.trading import orders
from tradeapp.services.trading.pairs import get_pair

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Carol Doe", "bank_name": "West Bank"}


@pytest.fixture()
def live(monkeypatch):
    events = []
    monkeypatch.setattr("tradeapp.realtime.emit_to_user", lambda uid, ev, data: events.append((uid, ev, data)))
    return events


@pytest.fixture()
def customer(create_user):
    return create_user(email="carol@example.com", username="carol", kyc_status="approved", is_verified=True)


def rows(user_id, kind=None):
    query = select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(select_all(query))


def select_all(query):
    from tradeapp.extensions import db

    db.session.expire_all()
    return db.session.scalars(query).all()


def test_a_confirmed_bank_deposit_notifies_and_mails_by_default(db, customer, create_staff, live):
    staff = create_staff(role="finance")
    deposit = deposits.create_bank_deposit(customer, "USD", "250.00")
    deposits.confirm_bank_deposit(staff, deposit)
    [note] = rows(customer.id, notes.DEPOSIT_CREDITED)
    assert note.title == "Deposit credited" and "250.00 USD" in note.body
    assert note.link == f"/deposits/{deposit.id}" and note.data["deposit_id"] == deposit.id
    [mail] = outbox_messages()
    assert mail["to"] == customer.email and mail["subject"] == "Deposit credited" and "250.00 USD" in mail["text"]
    assert any(ev == "notification" and data["id"] == note.id for _, ev, data in live)


def test_with_the_e_mail_switched_off_the_deposit_is_only_in_the_bell(db, customer, create_staff, live):
    notes.set_preference(customer.id, notes.DEPOSIT_CREDITED, email=False, live=False)
    deposit = deposits.create_bank_deposit(customer, "USD", "80.00")
    deposits.confirm_bank_deposit(create_staff(role="finance"), deposit)
    assert len(rows(customer.id, notes.DEPOSIT_CREDITED)) == 1
    assert outbox_messages() == []
    assert not [ev for _, ev, _ in live if ev == "notification"]


def test_a_rejected_deposit_tells_the_customer_why(db, customer, create_staff, live):
    deposit = deposits.create_bank_deposit(customer, "USD", "80.00")
    deposits.reject_deposit(create_staff(role="finance"), deposit, "No transfer arrived")
    [note] = rows(customer.id, notes.DEPOSIT_FAILED)
    assert note.title == "Deposit rejected" and "No transfer arrived" in note.body


@pytest.fixture()
def funded(db, customer):
    fund(customer, "USD", "1000")
    SandboxPayout.reset()
    yield customer
    SandboxPayout.reset()


def test_a_sent_withdrawal_notifies_approved_then_sent_with_the_detailed_mail(db, funded, create_staff, live):
    w = withdrawals.request_withdrawal(funded, "USD", "100", "bank_account", dict(BANK))
    withdrawals.approve_withdrawal(create_staff(role="finance"), w)  # the payout runs inline in tests
    kinds = [n.kind for n in rows(funded.id)]
    assert kinds == [notes.WITHDRAWAL_APPROVED, notes.WITHDRAWAL_COMPLETED]
    [mail] = outbox_messages()  # "approved" is not mailed by default; "sent" is, with its own template
    assert mail["subject"] == "Withdrawal sent" and "reference" in mail["text"] and "Fee:" in mail["text"]


def test_withdrawal_mail_follows_the_preference(db, funded, create_staff, live):
    notes.set_preference(funded.id, notes.WITHDRAWAL_REJECTED, email=False)
    w = withdrawals.request_withdrawal(funded, "USD", "100", "bank_account", dict(BANK))
    withdrawals.reject_withdrawal(create_staff(role="finance"), w, "Name does not match")
    [note] = rows(funded.id, notes.WITHDRAWAL_REJECTED)
    assert "Name does not match" in note.body and note.data == {
        "withdrawal_id": w.id,
        "status": "rejected",
        "level": "error",
    }
    assert outbox_messages() == []


def test_kyc_decisions_and_expiry_are_notifications(db, create_user, create_staff, live):
    applicant = create_user(email="dora@example.com", username="dora")
    notes.set_preference(applicant.id, notes.KYC_APPROVED, email=False)
    doc = add_submission(db, applicant)
    kyc_review.approve_kyc(create_staff(role="compliance"), doc)
    [approved] = rows(applicant.id, notes.KYC_APPROVED)
    assert approved.title == "Your identity is verified" and approved.link == "/kyc/"
    assert outbox_messages() == []

    doc.expires_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert kyc.expire_approvals() == 1
    [expired] = rows(applicant.id, notes.KYC_EXPIRED)
    [mail] = outbox_messages()
    assert mail["subject"] == "Please verify your identity again" and "Hello dora" in mail["text"]
    assert kyc.expire_approvals() == 0
    assert len(rows(applicant.id, notes.KYC_EXPIRED)) == 1


def test_a_rejected_kyc_is_mailed_with_the_reason(db, create_user, create_staff, live):
    applicant = create_user(email="eve@example.com", username="eve")
    doc = add_submission(db, applicant)
    kyc_review.reject_kyc(create_staff(role="compliance"), doc, "The photo is blurred")
    [note] = rows(applicant.id, notes.KYC_REJECTED)
    assert "The photo is blurred" in note.body
    [mail] = outbox_messages()
    assert mail["subject"] == "Your identity verification was not accepted" and "blurred" in mail["text"]


# -- fills ------------------------------------------------------------------------------------------


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    market.set("BTC/USD", "50000", "50010", levels=5, size="1", step="10")
    return user


def test_a_resting_limit_that_fills_later_is_notified_once(db, trader, market, live):
    resting = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.5", "price": "49500"}
    )
    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.1"})
    orders.place_order(  # marketable: fills at once, on screen
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.1", "price": "50100"}
    )
    assert rows(trader.id, notes.ORDER_FILLED) == []

    market.set("BTC/USD", "49480", "49490", levels=5, size="1", step="10")
    db.session.rollback()
    assert orders.check_triggers(get_pair("BTC/USD").symbol) == 1
    assert orders.check_triggers(get_pair("BTC/USD").symbol) == 0
    [note] = rows(trader.id, notes.ORDER_FILLED)
    assert note.title == "Limit order filled: buy 0.5 BTC at 49490 USD"
    assert note.data == {"order_id": resting.id, "symbol": "BTC/USD", "side": "buy", "order_type": "limit"}
    assert outbox_messages() == []  # fills are not e-mailed unless asked for


def test_a_fired_stop_loss_is_notified(db, trader, market, live):
    from tradeapp.services.trading import positions

    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(trader)).one()
    positions.set_protection(trader, position.id, {"stop_loss": "49000"})
    market.set("BTC/USD", "48990", "49000", levels=5, size="1", step="10")
    db.session.rollback()
    order = orders.fire_protection(position.id, D("48990"))
    assert order.status == "filled"
    [note] = rows(trader.id, notes.ORDER_FILLED)
    assert note.title.startswith("Market order filled: sell 0.5 BTC") and "stop-loss fired" in note.body
