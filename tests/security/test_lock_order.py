"""Found by bench/chaos_bench.py: a withdrawal request and a transfer to the same customer deadlocked (500).

The withdrawal serialises a customer's requests on their ``users`` row; a transfer inserting that
customer's history line takes a key-share lock on the same row (the foreign key). An exclusive
``FOR UPDATE`` there blocked the transfer while it held the wallets the withdrawal needed next.
"""

import threading
from decimal import Decimal

import pytest

from tests.conftest import PG_URL
from tests.trading_helpers import fund
from tradeapp.models import User
from tradeapp.services import compliance, ledger, transfers, withdrawals

BANK = {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"}


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_a_transfer_to_a_customer_is_not_blocked_by_their_withdrawal_request(app, db, create_user, monkeypatch):
    alice = create_user(email="alice@example.com", username="alice", kyc_status="approved", is_verified=True)
    bob = create_user(email="bob@example.com", username="bob")
    fund(alice, "USD", "1000")
    fund(bob, "USD", "1000")
    alice_id, bob_id = alice.id, bob.id
    db.session.remove()

    locked, go = threading.Event(), threading.Event()
    real_limit = compliance.withdrawal_daily_limit_usd

    def paused_limit(user):
        # The withdrawal holds its lock on alice's row here; it waits for the transfer below.
        locked.set()
        go.wait(10)
        return real_limit(user)

    monkeypatch.setattr(compliance, "withdrawal_daily_limit_usd", paused_limit)
    outcome = {}

    def withdraw():
        with app.app_context():
            try:
                withdrawals.request_withdrawal(db.session.get(User, alice_id), "USD", "100", "bank_account", dict(BANK))
                outcome["withdrawal"] = "ok"
            except Exception as exc:  # noqa: BLE001 - reported below
                outcome["withdrawal"] = repr(exc)
            finally:
                db.session.remove()

    def transfer():
        with app.app_context():
            try:
                transfers.transfer(db.session.get(User, bob_id), "alice", "USD", "10")
                outcome["transfer"] = "ok"
            except Exception as exc:  # noqa: BLE001 - reported below
                outcome["transfer"] = repr(exc)
            finally:
                db.session.remove()

    w = threading.Thread(target=withdraw)
    w.start()
    assert locked.wait(10)
    t = threading.Thread(target=transfer)
    t.start()
    t.join(8)
    finished_while_withdrawal_waited = not t.is_alive()
    go.set()
    w.join(20)
    t.join(20)
    assert finished_while_withdrawal_waited, "the transfer waited for the withdrawal's lock on alice's row"
    assert outcome == {"withdrawal": "ok", "transfer": "ok"}
    with app.app_context():
        assert ledger.wallet_for(alice_id, "USD").balance == Decimal("1010")
        assert ledger.check().ok


@pytest.mark.skipif(not PG_URL, reason="READ COMMITTED snapshots are a PostgreSQL matter")
def test_ledger_check_on_a_live_system_reads_one_snapshot(app, db, create_user, monkeypatch):
    """Found by the chaos bench: a fill committing mid-check showed as wallet drift that was not there."""
    alice = create_user(email="alice@example.com", username="alice")
    create_user(email="bob@example.com", username="bob")
    fund(alice, "USD", "1000")
    alice_id = alice.id
    db.session.remove()
    real_sum_by = ledger._sum_by
    calls = {"n": 0}

    def transfer_between_queries(*args, **kwargs):
        result = real_sum_by(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # after the postings were summed, before the wallets are read

            def send():
                with app.app_context():
                    transfers.transfer(db.session.get(User, alice_id), "bob", "USD", "10")
                    db.session.remove()

            t = threading.Thread(target=send)
            t.start()
            t.join(20)
        return result

    monkeypatch.setattr(ledger, "_sum_by", transfer_between_queries)
    report = ledger.check()
    assert calls["n"] >= 1
    assert report.ok, report.problems()
    assert report.entries == 1  # the snapshot predates the transfer: its entry is not counted
