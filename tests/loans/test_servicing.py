"""Accrual (idempotent per loan and day, remainders, missed days), repayment (interest first, capped,
collateral released) and adding collateral."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from tests.loans.conftest import active_loan, apply
from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanAccrual, LoanRepayment, Transaction
from tradeapp.services import ledger, loans
from tradeapp.services.ledger import InsufficientFunds, Leg

D = Decimal


def spend(user, currency, amount):
    """Take money out of the wallet (to the adjustments account), as if the customer spent it."""
    amount = D(amount)
    wallet = ledger.wallet_for(user, currency)
    ledger.post("adjustment", [Leg(wallet, -amount), Leg(ledger.platform_account("adjustments", currency), amount)])
    db.session.commit()


def _reload(loan_id):
    db.session.expire_all()
    return db.session.get(Loan, loan_id)


def test_accrual_is_idempotent_per_day_and_catches_up_missed_days(world):
    loan = active_loan(world)
    start = loan.accrued_through
    assert loans.accrue_loan(loan.id, start + timedelta(days=1)) == 1
    assert loans.accrue_loan(loan.id, start + timedelta(days=1)) == 0  # a re-run charges nothing
    assert loans.accrue_loan(loan.id, start + timedelta(days=4)) == 3  # two missed days and today
    loan = _reload(loan.id)
    assert db.session.scalar(select(func.count()).select_from(LoanAccrual).where(LoanAccrual.loan_id == loan.id)) == 4
    # 10000 × 12 % / 365 = 3.28767… a day: 4 days = 13.1506… → 13.15, the rest carried
    assert loan.interest_accrued == D("13.15")
    assert D("0") < loan.interest_remainder < D("0.01")
    assert loans.accrue_all(start + timedelta(days=4)) == 0
    assert loans.accrue_all(start + timedelta(days=5)) == 1


def test_repayment_pays_interest_first_and_records_the_split(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=10))
    result = loans.repay(world.borrower, loan.id, "100")
    rep = result.repayment
    assert rep.interest_amount == D("32.87") and rep.principal_amount == D("67.13")
    assert result.capped == 0
    loan = _reload(loan.id)
    assert loan.interest_accrued == 0 and loan.principal_outstanding == D("9932.87")
    tx = db.session.get(Transaction, rep.transaction_id)
    assert tx.transaction_type == "loan_repayment" and tx.amount == D("100")
    assert ledger.platform_account("fees", "USD").balance == D("32.87")
    assert ledger.platform_account("loans", "USD").balance == D("-9932.87")
    # interest already paid is not charged again
    again = loans.repay(world.borrower, loan.id, "10")
    assert again.repayment.interest_amount == 0 and again.repayment.principal_amount == D("10")
    assert ledger.check().ok


def test_overpayment_is_capped_and_full_repayment_releases_the_collateral(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=2))
    fund(world.borrower, "USD", "500")
    before = balances(world.borrower, "USD")[0]
    result = loans.repay(world.borrower, loan.id, "10500")
    assert result.capped == D("10500") - D("10006.57")
    assert "stays in your wallet" in result.message and "collateral released" in result.message
    assert balances(world.borrower, "USD")[0] == before - D("10006.57")
    loan = _reload(loan.id)
    assert loan.status == "repaid" and loan.hold.status == "released"
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))
    with pytest.raises(IllegalTransition):
        loans.repay(world.borrower, loan.id, "1")
    assert ledger.check().ok


def test_repaying_needs_the_money_and_ones_own_loan(world, create_user):
    loan = active_loan(world)
    spend(world.borrower, "USD", "5000")  # the loan was spent: 6000 USD left of 11000
    with pytest.raises(InsufficientFunds):
        loans.repay(world.borrower, loan.id, "7000")
    other = create_user()
    fund(other, "USD", "20000")
    with pytest.raises(NotFound):
        loans.repay(other, loan.id, "100")
    with pytest.raises(NotFound):
        loans.repay(world.officer, loan.id, "100")  # staff never repay from their wallet for someone else
    assert db.session.scalar(select(func.count()).select_from(LoanRepayment)) == 0


def test_adding_collateral_lowers_the_ltv_and_moves_the_triggers(world):
    loan = active_loan(world)
    before = loan.margin_price
    loan = loans.add_collateral(world.borrower, loan.id, "0.5")
    assert loan.collateral_amount == D("1") and loan.ltv == D("20")
    assert loan.margin_price == before / 2
    assert balances(world.borrower, "BTC") == (D("2"), D("1"))
    assert loan.hold.remaining == D("1")
    assert ledger.check().ok


def test_overdue_loans_are_flagged_once(world):
    loan = active_loan(world)
    assert loans.flag_overdue(loan.due_date) == 0
    assert loans.flag_overdue(loan.due_date + timedelta(days=1)) == 1
    assert loans.flag_overdue(loan.due_date + timedelta(days=2)) == 0
    loan = _reload(loan.id)
    assert loan.overdue_since == loan.due_date
    buckets = loans.delinquency(loan.due_date + timedelta(days=40))
    assert [x.id for x in buckets["31-60"]] == [loan.id]


def test_pending_loans_do_not_accrue(world):
    loan = apply(world)
    assert loans.accrue_all(loan.applied_at.date() + timedelta(days=3)) == 0


# -- exact rows, postings and messages (mutation testing found these unpinned) ---------------------------


def _events(loan_id, kind):
    from tradeapp.models import LoanEvent

    return list(
        db.session.scalars(
            select(LoanEvent).where(LoanEvent.loan_id == loan_id, LoanEvent.kind == kind).order_by(LoanEvent.id)
        )
    )


def _postings(entry_id):
    from tradeapp.models import PlatformAccount, Posting, Wallet

    out = []
    for p in db.session.scalars(select(Posting).where(Posting.entry_id == entry_id)):
        if p.wallet_id is not None:
            w = db.session.get(Wallet, p.wallet_id)
            out.append((f"wallet:{w.user_id}", p.amount))
        else:
            out.append((db.session.get(PlatformAccount, p.platform_account_id).code, p.amount))
    return sorted(out)


def _audits(action):
    from tradeapp.models import AuditLog

    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_accrual_rows_carry_day_principal_amount_and_remainder(world):
    loan = active_loan(world)
    start = loan.accrued_through
    assert loans.accrue_loan(loan.id, start + timedelta(days=2)) == 2
    rows = db.session.scalars(select(LoanAccrual).where(LoanAccrual.loan_id == loan.id).order_by(LoanAccrual.day)).all()
    # 3.287671232876712… a day: 3.28 (0.0076712…), then 3.29 (0.0053424…)
    assert [(r.day, r.principal, r.amount) for r in rows] == [
        (start + timedelta(days=1), D("10000"), D("3.28")),
        (start + timedelta(days=2), D("10000"), D("3.29")),
    ]
    assert rows[0].remainder == D("0.007671232876712328")
    assert rows[1].remainder == D("0.005342465753424656")
    loan = _reload(loan.id)
    assert (loan.interest_accrued, loan.interest_remainder, loan.accrued_through) == (
        D("6.57"),
        D("0.005342465753424656"),
        start + timedelta(days=2),
    )
    [accrued] = _events(loan.id, "accrued")
    assert (accrued.note, accrued.price, accrued.ltv) == ("2 day(s): 6.57 USD", D("50000"), D("40.0263"))
    assert loan.ltv == D("40.0263")  # (10000 + 6.57) / (0.5 × 50000)
    assert loan.margin_price == calc_trigger(D("10006.57"), D("0.5"), D("70"))


def calc_trigger(debt, collateral, ltv):
    from tradeapp.services.loans import calc

    return calc.trigger_price(debt, collateral, ltv)


def test_accrual_skips_a_loan_that_is_not_active_or_is_asked_for_the_past(world):
    loan = active_loan(world)
    start = loan.accrued_through
    assert loans.accrue_loan(loan.id, start - timedelta(days=1)) == 0
    assert loans.accrue_loan(loan.id, start) == 0
    loan = _reload(loan.id)
    loan.status = "defaulted"
    db.session.commit()
    assert loans.accrue_loan(loan.id, start + timedelta(days=3)) == 0
    assert _reload(loan.id).interest_accrued == 0


def test_the_daily_accrual_walks_every_batch_and_survives_a_broken_loan(world, monkeypatch):
    fund(world.borrower, "BTC", "2")
    first, second, third = (active_loan(world, "1000", "0.1") for _ in range(3))
    start = first.accrued_through
    until = start + timedelta(days=1)
    real = loans.servicing.accrue_loan

    def broken_second(loan_id, day):
        if loan_id == second.id:
            raise RuntimeError("boom")
        return real(loan_id, day)

    monkeypatch.setattr(loans.servicing, "accrue_loan", broken_second)
    assert loans.accrue_all(until, batch=1) == 2
    assert [_reload(x.id).accrued_through for x in (first, second, third)] == [until, start, until]


def test_a_repayment_posts_interest_to_fees_and_principal_to_the_loan_book(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=10))
    result = loans.repay(world.borrower, loan.id, "100")
    rep = result.repayment
    assert (rep.amount, rep.requested_amount, rep.fee_amount, rep.source) == (D("100"), D("100"), D("0"), "customer")
    assert _postings(rep.entry_id) == sorted(
        [(f"wallet:{world.borrower.id}", D("-100")), ("fees", D("32.87")), ("loans", D("67.13"))]
    )
    tx = db.session.get(Transaction, rep.transaction_id)
    assert (tx.amount, tx.fee, tx.direction, tx.status, tx.currency) == (D("100"), D("0"), -1, "completed", "USD")
    assert tx.notes == f"Loan {loan.id} repayment" and tx.entry_id == rep.entry_id
    assert re.fullmatch(rf"REPAY-{loan.id}-[0-9A-F]{{12}}", tx.reference_id)
    assert tx.completed_at is not None and tx.user_id == world.borrower.id
    from tradeapp.models import JournalEntry

    entry = db.session.get(JournalEntry, rep.entry_id)
    assert (entry.kind, entry.memo, entry.reference) == (
        "loan_repayment",
        f"Loan {loan.id} repayment",
        f"loan:{loan.id}",
    )
    assert result.message == "Paid 100.00 USD: 32.87 interest, 67.13 principal."
    [repaid_event] = _events(loan.id, "repayment")
    assert (repaid_event.note, repaid_event.actor_id, repaid_event.price) == (
        "100.00 USD",
        world.borrower.id,
        D("50000"),
    )
    [audit] = _audits("loan.repayment")
    assert audit.after == {
        "amount": "100.00",
        "capped": "0.00",
        "outstanding": str(_reload(loan.id).outstanding_balance),
    }
    assert (audit.actor_id, audit.target_type, audit.target_id) == (world.borrower.id, "loans", str(loan.id))
    assert entry.created_by_id == world.borrower.id
    loan = _reload(loan.id)
    assert loan.status == "active"
    assert loan.ltv == D("39.7315")  # the LTV at the price of the repayment: 9932.87 / (0.5 × 50000)


def test_an_interest_only_payment_posts_no_principal_leg_and_a_principal_only_one_no_fee_leg(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=10))
    # amounts under one dollar: the legs depend on what is paid, however little
    interest_only = loans.repay(world.borrower, loan.id, "0.5").repayment
    assert _postings(interest_only.entry_id) == sorted([(f"wallet:{world.borrower.id}", D("-0.5")), ("fees", D("0.5"))])
    loans.repay(world.borrower, loan.id, "32.37")
    principal_only = loans.repay(world.borrower, loan.id, "0.5").repayment
    assert _postings(principal_only.entry_id) == sorted(
        [(f"wallet:{world.borrower.id}", D("-0.5")), ("loans", D("0.5"))]
    )


def test_a_liquidation_payment_takes_its_fee_with_the_interest(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=10))
    with loans.servicing.unit_of_work():
        locked = loans.servicing.lock(loan.id)
        wallet = ledger.wallet_for(world.borrower, "USD")
        rep, capped = loans.servicing.apply_payment(
            locked, wallet, D("20000"), actor=None, source="liquidation", fee=D("5")
        )
    assert capped == D("20000") - D("10032.87")
    assert rep.source == "liquidation"
    assert (rep.amount, rep.interest_amount, rep.principal_amount, rep.fee_amount) == (
        D("10032.87"),
        D("32.87"),
        D("10000"),
        D("5"),
    )
    assert _postings(rep.entry_id) == sorted(
        [(f"wallet:{world.borrower.id}", D("-10037.87")), ("fees", D("37.87")), ("loans", D("10000"))]
    )
    tx = db.session.get(Transaction, rep.transaction_id)
    assert (tx.amount, tx.fee, tx.notes) == (D("10037.87"), D("5"), f"Loan {loan.id} repayment (liquidation)")
    loan = _reload(loan.id)
    assert (loan.interest_accrued, loan.principal_outstanding) == (D("0"), D("0"))


def test_paying_off_says_so_releases_the_collateral_and_tells_the_customer(world):
    from tradeapp.models import Notification

    loan = active_loan(world)
    fund(world.borrower, "USD", "500")
    result = loans.repay(world.borrower, loan.id, "10000")
    assert result.capped == D("0")
    assert (
        result.message
        == "Paid 10000.00 USD: 0.00 interest, 10000.00 principal. The loan is repaid and your collateral released."
    )
    loan = _reload(loan.id)
    assert (loan.status, loan.interest_remainder, loan.overdue_since, loan.margin_called) == ("repaid", 0, None, False)
    assert loan.repaid_at is not None and loan.closed_at == loan.repaid_at
    assert (loan.margin_price, loan.liquidation_price, loan.down_trigger, loan.up_trigger) == (None, None, None, None)
    [repaid] = _events(loan.id, "repaid")
    assert (repaid.note, repaid.actor_id) == ("Collateral released: 0.50000000 BTC", world.borrower.id)
    note = db.session.scalar(
        select(Notification).where(Notification.user_id == world.borrower.id, Notification.kind == "loan_repaid")
    )
    assert (note.title, note.body, note.link) == (
        f"Loan {loan.id} repaid",
        "Your 0.50000000 BTC collateral was released.",
        f"/loans/{loan.id}",
    )
    assert note.dedupe_key == f"loan:{loan.id}:repaid"
    [audit] = _audits("loan.repaid")
    assert sorted(audit.after) == ["amount", "capped", "outstanding"]
    assert (audit.after["amount"], audit.after["capped"], D(audit.after["outstanding"])) == ("10000.00", "0.00", 0)


def test_overpaying_says_what_stays_in_the_wallet(world):
    loan = active_loan(world)
    fund(world.borrower, "USD", "500")
    result = loans.repay(world.borrower, loan.id, "10250.5")
    assert result.capped == D("250.50")
    assert result.message == (
        "Paid 10000.00 USD: 0.00 interest, 10000.00 principal. Only what was owed was taken; "
        "250.50 USD stays in your wallet. The loan is repaid and your collateral released."
    )
    assert result.repayment.requested_amount == D("10250.5")


def test_repay_refuses_a_bad_amount_or_a_short_wallet_with_the_field_message(world):
    from tradeapp.errors import ValidationFailed

    loan = active_loan(world)
    with pytest.raises(ValidationFailed, match="^Invalid amount.$") as bad:
        loans.repay(world.borrower, loan.id, "abc")
    assert bad.value.fields == {"amount": ["Enter a valid number. Use digits and at most one dot, e.g. 100.50."]}
    spend(world.borrower, "USD", "10900")
    with pytest.raises(InsufficientFunds) as short:
        loans.repay(world.borrower, loan.id, "150")
    assert str(short.value) == "Not enough available USD to pay 150.00."
    assert short.value.fields == {"amount": ["Not enough available USD to pay 150.00."]}


def test_repay_and_add_collateral_refuse_a_closed_loan_with_its_status(world):
    loan = active_loan(world)
    loan = _reload(loan.id)
    loan.status = "written_off"
    db.session.commit()
    with pytest.raises(
        IllegalTransition, match="^This loan is written_off; only an active loan or a shortfall can be repaid.$"
    ):
        loans.repay(world.borrower, loan.id, "1")
    with pytest.raises(
        IllegalTransition, match="^This loan is written_off; collateral can only be added to an open loan.$"
    ):
        loans.add_collateral(world.borrower, loan.id, "0.1")


def test_adding_collateral_folds_the_hold_and_records_it(world):
    from tradeapp.errors import ValidationFailed
    from tradeapp.models import Hold

    loan = active_loan(world)
    old_hold = loan.hold_id
    loan = loans.add_collateral(world.borrower, loan.id, "0.25")
    assert db.session.get(Hold, old_hold).status == "released"
    assert (loan.hold.amount, loan.hold.remaining, loan.hold.reason, loan.hold.reference) == (
        D("0.75"),
        D("0.75"),
        "loan_collateral",
        f"loan:{loan.id}",
    )
    assert loan.ltv == D("26.6667")
    [added] = _events(loan.id, "collateral_added")
    assert (added.note, added.actor_id, added.price) == ("0.25000000 BTC", world.borrower.id, D("50000"))
    [audit] = _audits("loan.collateral_added")
    assert audit.after == {"amount": "0.25000000"}
    assert (audit.actor_id, audit.target_type, audit.target_id) == (world.borrower.id, "loans", str(loan.id))
    with pytest.raises(ValidationFailed, match="^Invalid amount.$") as bad:
        loans.add_collateral(world.borrower, loan.id, "-1")
    assert bad.value.fields == {"amount": ["The amount must be greater than zero."]}
    with pytest.raises(InsufficientFunds) as short:
        loans.add_collateral(world.borrower, loan.id, "1.5")
    assert str(short.value) == "Not enough available BTC to add 1.50000000."
    assert short.value.fields == {"amount": ["Not enough available BTC to add 1.50000000."]}
    assert _reload(loan.id).hold.remaining == D("0.75")  # the refused top-up changed nothing
    assert ledger.check().ok


def test_the_overdue_flag_tells_the_customer_and_bumps_the_version(world):
    from tradeapp.models import Notification

    loan = active_loan(world)
    version = _reload(loan.id).version
    assert loans.flag_overdue(loan.due_date + timedelta(days=1)) == 1
    loan = _reload(loan.id)
    assert loan.version == version + 1
    [overdue] = _events(loan.id, "overdue")
    assert overdue.note == f"Due {loan.due_date:%Y-%m-%d}, unpaid"
    note = db.session.scalar(
        select(Notification).where(Notification.user_id == world.borrower.id, Notification.kind == "loan_overdue")
    )
    assert note.title == f"Loan {loan.id} is overdue"
    assert note.body == (
        f"It was due on {loan.due_date:%d %b %Y}. Repay within 3 days or the collateral will be sold to repay it."
    )
    assert (note.link, note.dedupe_key) == (f"/loans/{loan.id}", f"loan:{loan.id}:overdue")


# -- writing off, and what mutation testing found unpinned in the overdue flag and adding collateral ---


def _defaulted_with(world, principal):
    """A loan that defaulted leaving ``principal`` unpaid and 32.50 interest accrued."""
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=10))
    loan = _reload(loan.id)
    loan.status = "defaulted"
    loan.principal_outstanding = D(principal)
    loan.interest_accrued = D("32.50")  # a trailing zero: shown at the currency's precision, "32.50"
    db.session.commit()
    return _reload(loan.id)


def test_a_write_off_posts_the_principal_to_losses_and_records_who_and_why(world):
    from tradeapp.errors import PermissionDenied, ValidationFailed
    from tradeapp.models import JournalEntry

    loan = _defaulted_with(world, "0.5")
    before = {
        "status": "defaulted",
        "principal": str(loan.principal_outstanding),
        "interest": str(loan.interest_accrued),
    }
    with pytest.raises(PermissionDenied, match=r"^You cannot manage loans\.$"):
        loans.write_off(world.borrower, loan.id, "not staff")
    for blank in ("   ", None):
        with pytest.raises(ValidationFailed, match=r"^Say why the shortfall is written off\.$") as err:
            loans.write_off(world.officer, loan.id, blank)
        assert err.value.fields == {"reason": ["Say why."]}
    reason = ("unreachable " * 50)[:500]  # exactly the 500 characters allowed
    with pytest.raises(ValidationFailed, match=r"^The reason is too long\.$") as err:
        loans.write_off(world.officer, loan.id, reason + "x")
    assert err.value.fields == {"reason": ["At most 500 characters."]}
    assert _reload(loan.id).status == "defaulted"

    loans.write_off(world.officer, loan.id, reason)
    loan = _reload(loan.id)
    assert (loan.status, loan.principal_outstanding, loan.interest_accrued, loan.interest_remainder) == (
        "written_off",
        0,
        0,
        0,
    )
    assert loan.closed_at is not None
    entry = db.session.scalar(select(JournalEntry).where(JournalEntry.kind == "loan_write_off"))
    assert (entry.memo, entry.reference, entry.created_by_id) == (
        f"Loan {loan.id} shortfall written off",
        f"loan:{loan.id}",
        world.officer.id,
    )
    assert _postings(entry.id) == [("loan_losses", D("-0.5")), ("loans", D("0.5"))]
    [line] = _events(loan.id, "written_off")
    # the history line keeps the first 255 characters; the audit row below has the whole reason
    assert line.note == f"0.50 USD principal and 32.50 USD interest written off: {reason}"[:255]
    assert line.actor_id == world.officer.id
    [audit] = _audits("loan.written_off")
    assert (audit.actor_id, audit.target_type, audit.target_id) == (world.officer.id, "loans", str(loan.id))
    assert audit.before == before
    assert audit.after == {
        "status": "written_off",
        "principal": before["principal"],
        "interest": before["interest"],
        "reason": reason,
    }
    assert ledger.check().ok


def test_writing_off_only_interest_posts_nothing(world):
    from tradeapp.models import JournalEntry

    loan = _defaulted_with(world, "0")
    loans.write_off(world.officer, loan.id, "Interest only")
    assert _reload(loan.id).status == "written_off"
    assert db.session.scalars(select(JournalEntry).where(JournalEntry.kind == "loan_write_off")).all() == []
    [line] = _events(loan.id, "written_off")
    assert line.note == "0.00 USD principal and 32.50 USD interest written off: Interest only"
    assert ledger.check().ok


def test_the_overdue_flag_counts_only_active_loans_and_rechecks_each_under_its_lock(world, monkeypatch):
    from tradeapp.models import Notification

    fund(world.borrower, "BTC", "2")
    repaid, changed, flagged = (active_loan(world, "1000", "0.1") for _ in range(3))
    fund(world.borrower, "USD", "100")
    loans.repay(world.borrower, repaid.id, "1000")
    assert _reload(repaid.id).status == "repaid"
    real_lock = loans.servicing.lock

    def repaid_meanwhile(loan_id, *args):
        # the customer repays between the job's scan and its lock of this loan
        if loan_id == changed.id:
            db.session.execute(
                update(Loan)
                .where(Loan.id == loan_id)
                .values(status="repaid")
                .execution_options(synchronize_session=False)
            )
        return real_lock(loan_id, *args)

    monkeypatch.setattr(loans.servicing, "lock", repaid_meanwhile)
    due = _reload(flagged.id).due_date
    assert loans.flag_overdue(due + timedelta(days=1)) == 2  # the two active at the scan, not the repaid one
    assert _reload(changed.id).overdue_since is None
    assert _reload(flagged.id).overdue_since == due
    kinds = db.session.scalars(
        select(Notification.title).where(Notification.user_id == world.borrower.id, Notification.kind == "loan_overdue")
    ).all()
    assert kinds == [f"Loan {flagged.id} is overdue"]


def test_only_the_borrower_can_add_collateral_to_a_loan(world, create_user):
    loan = active_loan(world)
    other = create_user()
    fund(other, "BTC", "1")
    with pytest.raises(NotFound):
        loans.add_collateral(other, loan.id, "0.5")
    assert balances(other, "BTC") == (D("1"), D("0"))
    assert _reload(loan.id).collateral_amount == D("0.5")


def test_collateral_can_be_added_to_a_pending_loan_and_without_a_price(world):
    loan = apply(world)
    assert loan.status == "pending"
    loan = loans.add_collateral(world.borrower, loan.id, "0.25")
    assert (loan.collateral_amount, loan.hold.remaining) == (D("0.75"), D("0.75"))
    world.market.books.pop("BTC/USD")
    assert loans.servicing.collateral_rate("BTC", "USD") is None
    loan = loans.add_collateral(world.borrower, loan.id, "0.25")
    assert loan.collateral_amount == D("1")
    added = _events(loan.id, "collateral_added")
    assert [(e.note, e.price) for e in added] == [("0.25000000 BTC", D("50000")), ("0.25000000 BTC", None)]
    assert balances(world.borrower, "BTC") == (D("2"), D("1"))


def test_accrual_without_a_collateral_price_still_accrues(world):
    loan = active_loan(world)
    world.market.books.pop("BTC/USD")
    assert loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=1)) == 1
    assert _reload(loan.id).interest_accrued == D("3.28")
    [accrued] = _events(loan.id, "accrued")
    assert (accrued.note, accrued.price) == ("1 day(s): 3.28 USD", None)


def test_a_repayment_without_a_collateral_price_keeps_the_last_ltv(world):
    loan = active_loan(world)
    ltv = _reload(loan.id).ltv
    world.market.books.pop("BTC/USD")
    result = loans.repay(world.borrower, loan.id, "100")
    assert result.repayment.principal_amount == D("100")
    loan = _reload(loan.id)
    assert (loan.principal_outstanding, loan.ltv) == (D("9900"), ltv)
    [line] = _events(loan.id, "repayment")
    assert (line.note, line.price) == ("100.00 USD", None)
