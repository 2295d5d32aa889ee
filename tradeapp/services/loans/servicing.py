"""Running a loan: daily interest accrual, repayments, adding collateral, overdue flagging.

Interest accrues on the outstanding principal at the annual rate / 365 for each day after
``accrued_through``, one ``LoanAccrual`` row per (loan, day) under the loan's row lock: a re-run
finds the day done, a missed day is caught up, no day is charged twice. What does not make a
whole cent is carried in ``interest_remainder``.

A repayment pays the accrued interest first, then principal, never more than is owed (the rest is
left in the wallet and the answer says so): one ``loan_repayment`` entry (wallet → ``fees`` for the
interest, → ``loans`` for the principal), a Transaction and a LoanRepayment row. Paid off, the loan
is ``repaid`` and its collateral hold released.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from tradeapp.currencies import CurrencyError, parse_amount
from tradeapp.errors import IllegalTransition, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanAccrual, LoanRepayment, Transaction, User
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, ledger
from tradeapp.services.ledger import InsufficientFunds, Leg
from tradeapp.services.loans import calc
from tradeapp.services.loans.common import (
    BOOK,
    HOLD_REASON,
    LOAN_OVERDUE,
    LOAN_REPAID,
    LOSSES,
    MANAGE,
    REVENUE,
    announce,
    collateral_rate,
    event,
    lock,
    quantum,
    refresh_triggers,
    show,
)
from tradeapp.services.notifications import notify
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)
ZERO = Decimal(0)


# -- interest ----------------------------------------------------------------------------------


def accrue_loan(loan_id: int, until: date) -> int:
    """Accrue the loan's interest for every day after ``accrued_through`` up to ``until``; returns days added."""
    with unit_of_work() as uow:
        loan = lock(loan_id)
        if loan.status != "active" or loan.accrued_through is None or loan.accrued_through >= until:
            uow.rollback()
            return 0
        days = calc.days_to_accrue(loan.accrued_through, until)
        rows = calc.accrue(
            loan.principal_outstanding, loan.interest_rate, loan.interest_remainder, days, quantum(loan.loan_currency)
        )
        for row in rows:
            db.session.add(
                LoanAccrual(
                    loan_id=loan.id,
                    day=row.day,
                    principal=loan.principal_outstanding,
                    amount=row.amount,
                    remainder=row.remainder,
                )
            )
        total = sum((r.amount for r in rows), ZERO)
        loan.interest_accrued += total
        loan.interest_remainder = rows[-1].remainder
        loan.accrued_through = until
        found = collateral_rate(loan.collateral_currency, loan.loan_currency)
        price = found.value if found is not None else None
        refresh_triggers(loan, price)
        event(
            loan, "accrued", f"{len(rows)} day(s): {show(total, loan.loan_currency)} {loan.loan_currency}", price=price
        )
        db.session.flush()
        announce(uow, loan)
    return len(rows)


def accrue_all(until: date, batch: int = 500) -> int:
    """The daily job: accrue every active loan up to ``until`` (each loan in its own transaction)."""
    done = 0
    last_id = 0
    while True:
        ids = list(
            db.session.scalars(
                select(Loan.id)
                .where(Loan.status == "active", Loan.id > last_id, Loan.accrued_through < until)
                .order_by(Loan.id)
                .limit(batch)
            )
        )
        db.session.rollback()
        if not ids:
            return done
        for loan_id in ids:
            try:
                if accrue_loan(loan_id, until):
                    done += 1
            except Exception:  # noqa: BLE001 - one broken loan must not stop the others
                log.exception("accrual of loan %s failed", loan_id)
        last_id = ids[-1]


# -- repaying ----------------------------------------------------------------------------------


@dataclass
class RepaymentResult:
    """A repayment and what it says: the split, and the overpayment not taken."""

    loan: Loan
    repayment: LoanRepayment
    capped: Decimal

    @property
    def message(self) -> str:
        q = quantum(self.loan.loan_currency)
        cur = self.loan.loan_currency
        text = (
            f"Paid {show(self.repayment.amount.quantize(q), cur)} {cur}: {show(self.repayment.interest_amount.quantize(q))} interest, "
            f"{show(self.repayment.principal_amount.quantize(q))} principal."
        )
        if self.capped > 0:
            text += f" Only what was owed was taken; {show(self.capped.quantize(q), cur)} {cur} stays in your wallet."
        if self.loan.status == "repaid":
            text += " The loan is repaid and your collateral released."
        return text


def apply_payment(
    loan: Loan, payer_wallet, amount: Decimal, *, actor: User | None, source: str, fee: Decimal = ZERO
) -> tuple[LoanRepayment, Decimal]:
    """Take ``amount`` (capped at what is owed) plus ``fee`` from ``payer_wallet`` for a locked loan.

    Returns the LoanRepayment and the capped overpayment. Used by repayments and liquidations.
    """
    split = calc.split_payment(amount, loan.interest_accrued, loan.principal_outstanding)
    cur = loan.loan_currency
    now = utcnow()
    tx = Transaction(
        user_id=loan.user_id,
        transaction_type="loan_repayment",
        currency=cur,
        amount=split.total + fee,
        fee=fee,
        status="completed",
        direction=-1,
        reference_id=f"REPAY-{loan.id}-{secrets.token_hex(6).upper()}",
        notes=f"Loan {loan.id} repayment" + (" (liquidation)" if source == "liquidation" else ""),
        completed_at=now,
    )
    db.session.add(tx)
    db.session.flush()
    legs = [Leg(payer_wallet, -(split.total + fee))]
    if split.interest + fee > 0:
        legs.append(Leg(ledger.platform_account(REVENUE, cur), split.interest + fee))
    if split.principal > 0:
        legs.append(Leg(ledger.platform_account(BOOK, cur), split.principal))
    entry = ledger.post(
        "loan_repayment", legs, memo=f"Loan {loan.id} repayment", reference=f"loan:{loan.id}", actor=actor
    )
    tx.entry_id = entry.id
    repayment = LoanRepayment(
        loan_id=loan.id,
        amount=split.total,
        principal_amount=split.principal,
        interest_amount=split.interest,
        fee_amount=fee,
        requested_amount=amount,
        source=source,
        transaction_id=tx.id,
        entry_id=entry.id,
    )
    db.session.add(repayment)
    loan.interest_accrued -= split.interest
    loan.principal_outstanding -= split.principal
    return repayment, split.capped


def close_repaid(loan: Loan) -> Decimal:
    """Mark a paid-off loan repaid and release what remains of its collateral; returns the amount released."""
    released = ZERO
    loan.transition_to("repaid")
    loan.repaid_at = loan.closed_at = utcnow()
    loan.interest_remainder = ZERO
    loan.overdue_since = None
    loan.margin_called = False
    if loan.hold is not None and loan.hold.status == "active" and loan.hold.remaining > 0:
        released = loan.hold.remaining
        ledger.release_hold(loan.hold)
    refresh_triggers(loan)
    return released


def repay(user: User, loan_id: int, amount) -> RepaymentResult:
    """The customer repays from their own wallet in the loan currency (interest first, capped at what is owed).

    :raise NotFound: not the user's loan (staff cannot repay someone else's loan from their wallet)
    :raise IllegalTransition: the loan is neither active nor defaulted (a defaulted loan's shortfall can be paid)
    :raise ValidationFailed: a bad amount
    :raise InsufficientFunds: the wallet's available balance is short
    """
    with unit_of_work() as uow:
        loan = lock(loan_id, user.id)
        if loan.status not in ("active", "defaulted"):
            raise IllegalTransition(f"This loan is {loan.status}; only an active loan or a shortfall can be repaid.")
        try:
            value = parse_amount(amount, loan.loan_currency)
        except CurrencyError as exc:
            raise ValidationFailed("Invalid amount.", {"amount": [str(exc)]}) from None
        owed = loan.outstanding_balance
        take = min(value, owed)
        wallet = ledger.wallet_for(user, loan.loan_currency)
        try:
            repayment, _ = apply_payment(loan, wallet, take, actor=user, source="customer")
        except InsufficientFunds:
            message = f"Not enough available {loan.loan_currency} to pay {show(take, loan.loan_currency)}."
            raise InsufficientFunds(message, {"amount": [message]}) from None
        repayment.requested_amount = value
        capped = value - take
        found = collateral_rate(loan.collateral_currency, loan.loan_currency)
        price = found.value if found is not None else None
        event(loan, "repayment", f"{show(take, loan.loan_currency)} {loan.loan_currency}", actor=user, price=price)
        if loan.outstanding_balance == 0:
            released = close_repaid(loan)
            event(
                loan,
                "repaid",
                f"Collateral released: {show(released, loan.collateral_currency)} {loan.collateral_currency}",
                actor=user,
            )
            notify(
                loan.user_id,
                LOAN_REPAID,
                f"Loan {loan.id} repaid",
                f"Your {show(released, loan.collateral_currency)} {loan.collateral_currency} collateral was released.",
                link=f"/loans/{loan.id}",
                dedupe_key=f"loan:{loan.id}:repaid",
            )
        else:
            refresh_triggers(loan, price)
        audit.record(
            user,
            "loan.repaid" if loan.status == "repaid" else "loan.repayment",
            loan,
            after={"amount": str(take), "capped": str(capped), "outstanding": str(loan.outstanding_balance)},
        )
        db.session.flush()
        announce(uow, loan)
    return RepaymentResult(loan, repayment, capped)


def write_off(staff: User, loan_id: int, reason: str) -> Loan:
    """Staff give up collecting a defaulted loan's shortfall: the principal still out leaves the loan book.

    One ``loan_write_off`` entry moves it from ``loans`` to ``loan_losses``; the accrued interest, never
    booked as revenue, is forgiven. The loan ends ``written_off`` (its ``shortfall`` stays on record).
    """
    if not has_permission(staff, MANAGE):
        raise PermissionDenied("You cannot manage loans.")
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Say why the shortfall is written off.", {"reason": ["Say why."]})
    if len(reason) > 500:
        raise ValidationFailed("The reason is too long.", {"reason": ["At most 500 characters."]})
    with unit_of_work() as uow:
        loan = lock(loan_id)
        before = {
            "status": loan.status,
            "principal": str(loan.principal_outstanding),
            "interest": str(loan.interest_accrued),
        }
        loan.transition_to("written_off", f"Only a defaulted loan can be written off; this one is {loan.status}.")
        cur = loan.loan_currency
        principal = loan.principal_outstanding
        if principal > 0:
            ledger.post(
                "loan_write_off",
                [
                    Leg(ledger.platform_account(BOOK, cur), principal),
                    Leg(ledger.platform_account(LOSSES, cur), -principal),
                ],
                memo=f"Loan {loan.id} shortfall written off",
                reference=f"loan:{loan.id}",
                actor=staff,
            )
        forgiven = loan.interest_accrued
        loan.principal_outstanding = loan.interest_accrued = loan.interest_remainder = ZERO
        loan.closed_at = utcnow()
        event(
            loan,
            "written_off",
            f"{show(principal, cur)} {cur} principal and {show(forgiven, cur)} {cur} interest written off: {reason}",
            actor=staff,
        )
        audit.record(
            staff,
            "loan.written_off",
            loan,
            before=before,
            after={"status": loan.status, "principal": str(principal), "interest": str(forgiven), "reason": reason},
        )
        db.session.flush()
        announce(uow, loan)
    return loan


def add_collateral(user: User, loan_id: int, amount) -> Loan:
    """Hold more of the collateral currency against the loan (a margin call's answer); LTV and triggers follow."""
    with unit_of_work() as uow:
        loan = lock(loan_id, user.id)
        if loan.status not in ("pending", "active"):
            raise IllegalTransition(f"This loan is {loan.status}; collateral can only be added to an open loan.")
        try:
            value = parse_amount(amount, loan.collateral_currency)
        except CurrencyError as exc:
            raise ValidationFailed("Invalid amount.", {"amount": [str(exc)]}) from None
        wallet = ledger.wallet_for(user, loan.collateral_currency)
        # One hold per loan: the old one is folded into a new, larger one in the same transaction.
        old = loan.hold
        remaining = old.remaining if old is not None and old.status == "active" else ZERO
        if remaining > 0:
            ledger.release_hold(old)
        try:
            hold = ledger.place_hold(wallet, remaining + value, HOLD_REASON, f"loan:{loan.id}")
        except InsufficientFunds:
            message = f"Not enough available {loan.collateral_currency} to add {show(value, loan.collateral_currency)}."
            raise InsufficientFunds(message, {"amount": [message]}) from None
        loan.hold_id = hold.id
        loan.hold = hold
        loan.collateral_amount += value
        found = collateral_rate(loan.collateral_currency, loan.loan_currency)
        price = found.value if found is not None else None
        refresh_triggers(loan, price)
        event(
            loan,
            "collateral_added",
            f"{show(value, loan.collateral_currency)} {loan.collateral_currency}",
            actor=user,
            price=price,
        )
        audit.record(user, "loan.collateral_added", loan, after={"amount": str(value)})
        db.session.flush()
        announce(uow, loan)
    return loan


# -- overdue -----------------------------------------------------------------------------------


def flag_overdue(today: date) -> int:
    """The daily job: mark active loans past their due date overdue and tell the customer (once)."""
    ids = list(
        db.session.scalars(
            select(Loan.id).where(Loan.status == "active", Loan.due_date < today, Loan.overdue_since.is_(None))
        )
    )
    db.session.rollback()
    for loan_id in ids:
        with unit_of_work() as uow:
            loan = lock(loan_id)
            if loan.status != "active" or loan.overdue_since is not None:
                uow.rollback()
                continue
            loan.overdue_since = loan.due_date
            event(loan, "overdue", f"Due {loan.due_date:%Y-%m-%d}, unpaid")
            notify(
                loan.user_id,
                LOAN_OVERDUE,
                f"Loan {loan.id} is overdue",
                f"It was due on {loan.due_date:%d %b %Y}. Repay within {loan.product.grace_days} days "
                "or the collateral will be sold to repay it.",
                link=f"/loans/{loan.id}",
                dedupe_key=f"loan:{loan.id}:overdue",
            )
            loan.version += 1
            announce(uow, loan)
    return len(ids)
