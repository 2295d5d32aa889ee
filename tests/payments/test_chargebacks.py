"""Chargebacks on card deposits: the disputed money is held while the dispute runs, released when
it is won, debited to the card clearing account when it is lost; signed webhooks, replays included."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.payments.conftest import event, post_event
from tradeapp.models import JournalEntry, Notification
from tradeapp.models.funds import Deposit, Transaction
from tradeapp.models.ledger import Hold
from tradeapp.services import deposits, ledger
from tradeapp.services.ledger import Leg

D = Decimal


def _completed_deposit(db, user, amount="50") -> Deposit:
    deposit = deposits.create_card_deposit(user, "USD", amount, provider_name="sandbox").deposit
    deposit.provider = "stripe"
    deposit.provider_ref = "pi_" + deposit.provider_ref.removeprefix("sbx_pi_")
    db.session.commit()
    minor = int(D(amount) * 100)
    deposits.complete_card_deposit("stripe", deposit.provider_ref, minor, "USD")
    return db.session.get(Deposit, deposit.id)


def _dispute(deposit: Deposit, dispute_id="dp_1", amount=5000, status="needs_response") -> dict:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "currency": "usd",
        "payment_intent": deposit.provider_ref,
        "status": status,
    }


def _balances(db, user) -> tuple[Decimal, Decimal]:
    db.session.expire_all()
    w = ledger.wallet_for(user, "USD")
    return w.balance, w.locked_balance


def _clean():
    report = ledger.check()
    assert report.ok, report.problems()


def test_opened_dispute_holds_the_amount_and_a_won_dispute_releases_it(app, db, user, webhook_secret):
    deposit = _completed_deposit(db, user)
    client = app.test_client()
    opened = post_event(client, event("charge.dispute.created", _dispute(deposit)))
    assert opened.status_code == 200 and opened.get_json()["outcome"] == "disputed"
    assert _balances(db, user) == (D("50.00"), D("50.00"))  # nothing left to withdraw or trade
    (hold,) = db.session.scalars(select(Hold).where(Hold.reason == "chargeback")).all()
    assert (hold.amount, hold.status, hold.reference) == (D("50.00"), "active", "dispute:dp_1")
    db.session.refresh(deposit)
    assert deposit.payment_details["attention"].startswith("Chargeback opened (dp_1)")
    assert deposit in deposits.attention_query()
    note = db.session.scalars(select(Notification).where(Notification.kind == "deposit_disputed")).one()
    assert "50.00 USD" in note.body and note.user_id == user.id

    post_event(client, event("charge.dispute.created", _dispute(deposit)))  # replay: no second hold
    assert db.session.scalar(select(Hold.id).where(Hold.reason == "chargeback", Hold.id != hold.id)) is None

    closed = post_event(client, event("charge.dispute.closed", _dispute(deposit, status="won")))
    assert closed.get_json()["outcome"] == "dispute_won"
    assert _balances(db, user) == (D("50.00"), D("0.00"))
    db.session.refresh(hold)
    db.session.refresh(deposit)
    assert hold.status == "released" and hold.remaining == 0
    assert deposit.status == "completed" and not deposit.payment_details["attention"]
    assert deposit.payment_details["dispute_holds"]["dp_1"]["status"] == "won"
    post_event(client, event("charge.dispute.closed", _dispute(deposit, status="lost")))  # too late: already closed
    assert _balances(db, user) == (D("50.00"), D("0.00"))
    _clean()


def test_lost_dispute_debits_the_held_money_to_card_clearing(app, db, user, webhook_secret):
    deposit = _completed_deposit(db, user)
    client = app.test_client()
    post_event(client, event("charge.dispute.created", _dispute(deposit)))
    clearing_before = ledger.platform_account("clearing:card", "USD").balance
    for _ in range(2):  # the second is a replay
        r = post_event(client, event("charge.dispute.closed", _dispute(deposit, status="lost")))
        assert r.get_json()["outcome"] == "dispute_lost"
    assert _balances(db, user) == (D("0.00"), D("0.00"))
    entries = db.session.scalars(select(JournalEntry).where(JournalEntry.kind == "deposit_chargeback")).all()
    assert len(entries) == 1
    db.session.expire_all()
    assert ledger.platform_account("clearing:card", "USD").balance == clearing_before + D("50.00")
    line = db.session.scalars(select(Transaction).where(Transaction.notes.like("Chargeback of deposit%"))).one()
    assert (line.amount, line.direction, line.entry_id) == (D("50.00"), -1, entries[0].id)
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.status == "refunded" and not deposit.payment_details["attention"]
    _clean()


def test_dispute_on_spent_money_holds_what_is_left_and_flags_the_rest(app, db, user, webhook_secret):
    deposit = _completed_deposit(db, user)
    w = ledger.wallet_for(user, "USD")
    ledger.place_hold(w, D("30"), "order", "order:1")  # 30 of the 50 already reserved by an order
    db.session.commit()
    client = app.test_client()
    post_event(client, event("charge.dispute.created", _dispute(deposit, amount=4000)))
    (hold,) = db.session.scalars(select(Hold).where(Hold.reason == "chargeback")).all()
    assert hold.amount == D("20.00")
    deposit = db.session.get(Deposit, deposit.id)
    assert "only 20.00 USD could be held" in deposit.payment_details["attention"]
    assert "recover 20.00 USD by hand" in deposit.payment_details["attention"]

    post_event(client, event("charge.dispute.closed", _dispute(deposit, amount=4000, status="lost")))
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.status == "completed"  # only part of it went back
    assert deposit.payment_details["unrecovered_minor"] == 2000
    assert "could not be taken from the wallet" in deposit.payment_details["attention"]
    assert _balances(db, user) == (D("30.00"), D("30.00"))
    _clean()


def test_dispute_on_an_empty_wallet_places_no_hold(app, db, user, create_user, webhook_secret):
    deposit = _completed_deposit(db, user, "10")
    other = create_user(email="payee@example.com")
    w, payee = ledger.wallet_for(user, "USD"), ledger.wallet_for(other, "USD")
    ledger.post("transfer", [Leg(w, D("-10")), Leg(payee, D("10"))], memo="spent")
    db.session.commit()
    post_event(app.test_client(), event("charge.dispute.created", _dispute(deposit, amount=1000)))
    assert db.session.scalar(select(Hold.id).where(Hold.reason == "chargeback")) is None
    r = post_event(app.test_client(), event("charge.dispute.closed", _dispute(deposit, amount=1000, status="lost")))
    assert r.get_json()["outcome"] == "dispute_lost"
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.payment_details["unrecovered_minor"] == 1000
    _clean()


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"id": "dp_x", "status": "won"}, id="no-intent"),
        pytest.param({"payment_intent": "pi_x", "status": "won"}, id="no-id"),
    ],
)
def test_closed_events_without_their_keys_are_ignored(app, db, webhook_secret, obj):
    r = post_event(app.test_client(), event("charge.dispute.closed", obj))
    assert r.status_code == 200 and r.get_json()["outcome"] == "ignored"


def test_closing_an_unknown_dispute_or_with_an_unknown_status_changes_nothing(app, db, user, webhook_secret):
    deposit = _completed_deposit(db, user)
    client = app.test_client()
    post_event(client, event("charge.dispute.closed", _dispute(deposit, dispute_id="dp_never", status="lost")))
    post_event(client, event("charge.dispute.created", _dispute(deposit)))
    post_event(client, event("charge.dispute.closed", _dispute(deposit, status="under_review")))
    assert _balances(db, user) == (D("50.00"), D("50.00"))
    assert db.session.scalar(select(JournalEntry.id).where(JournalEntry.kind == "deposit_chargeback")) is None
    _clean()
