"""The nightly reconciliation job."""

from decimal import Decimal

from sqlalchemy import select, text

from tradeapp.jobs.ledger import reconcile_ledger
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg


def _fund(db, user, amount):
    wallet = ledger.wallet_for(user, "USD")
    ledger.post(
        "deposit",
        [Leg(wallet, Decimal(amount)), Leg(ledger.platform_account("clearing:bank", "USD"), -Decimal(amount))],
    )
    db.session.commit()
    return wallet


def test_clean_ledger_sends_nothing(app, db, user, create_staff):
    create_staff(role="finance")
    _fund(db, user, "5")
    result = reconcile_ledger()
    assert result["ok"] is True
    assert outbox_messages() == []
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "ledger.drift_detected")) is None


def test_drift_is_audited_and_mailed_to_finance(app, db, user, create_staff):
    finance = create_staff(role="finance")
    wallet = _fund(db, user, "5")
    db.session.execute(text("UPDATE wallets SET balance = :b WHERE id = :id"), {"b": "6", "id": wallet.id})
    db.session.commit()
    result = reconcile_ledger()
    assert result["ok"] is False and result["problems"]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "ledger.drift_detected")) is not None
    assert [m["to"] for m in outbox_messages()] == [finance.email]
