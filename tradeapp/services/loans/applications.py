"""Loan products, applications (the collateral is held at once), staff approval with maker-checker,
disbursement through the ledger and rejection.

Lifecycle (:data:`tradeapp.models.loans.LOAN_STATES`)::

    pending ──approve (1, or 2 different staff above LOAN_DUAL_APPROVAL_OVER)──▶ approved ─disburse─▶ active
       └──reject (reason)──▶ rejected (collateral released)

Approval and disbursement are one unit of work: the ``loan`` entry moves the principal from the
platform ``loans`` account into the customer's wallet, and the loan is ``active`` with its due date.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp.currencies import CurrencyError, get_currency, parse_amount
from tradeapp.errors import Conflict, IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanApproval, LoanProduct, Transaction, User
from tradeapp.models.loans import OPEN_STATUSES
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, compliance, ledger
from tradeapp.services.ledger import InsufficientFunds, Leg
from tradeapp.services.loans import calc
from tradeapp.services.loans.common import (
    BOOK,
    HOLD_REASON,
    LOAN_APPROVED,
    LOAN_REJECTED,
    MANAGE,
    PriceUnavailable,
    announce,
    approvals_required,
    collateral_pair,
    collateral_rate,
    event,
    fresh_price,
    lock,
    quantum,
    refresh_triggers,
    show,
)
from tradeapp.services.notifications import notify
from tradeapp.services.uow import unit_of_work

#: at most this many open (pending, approved or active) loans per customer
MAX_OPEN_LOANS = 3


# -- products ------------------------------------------------------------------------------------

PRODUCT_FIELDS = (
    "name",
    "description",
    "loan_currency",
    "collateral_currencies",
    "min_amount",
    "max_amount",
    "interest_rate",
    "term_days",
    "term_options",
    "initial_ltv",
    "margin_call_ltv",
    "liquidation_ltv",
    "liquidation_fee",
    "grace_days",
    "is_active",
)


def _require(staff: User) -> None:
    if not has_permission(staff, MANAGE):
        raise PermissionDenied("You do not have permission to manage loans.")


def _percent(value, name: str, errors: dict, *, low=Decimal(0), high=Decimal(100)) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except Exception:  # noqa: BLE001 - any unparsable value is a field error
        errors[name] = ["Enter a number."]
        return None
    if not number.is_finite() or number < low or number >= high:
        errors[name] = [f"Between {low} and {high}."]
        return None
    return number.quantize(Decimal("0.0001"))


def clean_product(data: dict) -> dict:
    """Checked product fields; ValidationFailed lists every problem (LTVs must rise: initial < margin < liquidation)."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name or len(name) > 100:
        errors["name"] = ["Give the product a name (at most 100 characters)."]
    out["name"] = name
    out["description"] = str(data.get("description") or "")[:2000]
    try:
        currency = get_currency(str(data.get("loan_currency") or "USD")).code
    except CurrencyError as exc:
        errors["loan_currency"] = [str(exc)]
        currency = "USD"
    out["loan_currency"] = currency
    collateral = data.get("collateral_currencies") or []
    if isinstance(collateral, str):
        collateral = [c for c in collateral.replace(",", " ").split() if c]
    codes = []
    for code in collateral if isinstance(collateral, list) else []:
        try:
            code = get_currency(str(code)).code
        except CurrencyError:
            errors.setdefault("collateral_currencies", []).append(f"Unknown currency {str(code)[:10]}.")
            continue
        if code == currency:
            errors.setdefault("collateral_currencies", []).append("Collateral must differ from the loan currency.")
        elif collateral_pair(code, currency) is None:
            errors.setdefault("collateral_currencies", []).append(
                f"No {code}/{currency} market to value and liquidate {code}."
            )
        elif code not in codes:
            codes.append(code)
    if not codes and "collateral_currencies" not in errors:
        errors["collateral_currencies"] = ["Accept at least one collateral currency."]
    out["collateral_currencies"] = codes
    for field in ("min_amount", "max_amount"):
        try:
            out[field] = parse_amount(data.get(field), currency)
        except CurrencyError as exc:
            errors[field] = [str(exc)]
    if "min_amount" in out and "max_amount" in out and out["max_amount"] < out["min_amount"]:
        errors["max_amount"] = ["At least the minimum amount."]
    out["interest_rate"] = _percent(data.get("interest_rate"), "interest_rate", errors)
    for field in ("initial_ltv", "margin_call_ltv", "liquidation_ltv"):
        out[field] = _percent(data.get(field), field, errors, low=Decimal("1"), high=Decimal("100"))
    if None not in (out["initial_ltv"], out["margin_call_ltv"], out["liquidation_ltv"]) and not (
        out["initial_ltv"] < out["margin_call_ltv"] < out["liquidation_ltv"]
    ):
        errors["margin_call_ltv"] = ["Initial LTV < margin-call LTV < liquidation LTV."]
    out["liquidation_fee"] = _percent(data.get("liquidation_fee", "2"), "liquidation_fee", errors, high=Decimal(20))
    terms = data.get("term_options") or []
    if isinstance(terms, str):
        terms = [t for t in terms.replace(",", " ").split() if t]
    try:
        term_days = int(str(data.get("term_days")))
        options = sorted({int(str(t)) for t in terms} | {term_days})
        if not all(0 < t <= 3650 for t in options):
            raise ValueError
    except (TypeError, ValueError):
        errors["term_days"] = ["Terms are whole days between 1 and 3650."]
        term_days, options = 30, [30]
    out["term_days"], out["term_options"] = term_days, options
    try:
        out["grace_days"] = int(str(data.get("grace_days", 3)))
        if not 0 <= out["grace_days"] <= 365:
            raise ValueError
    except (TypeError, ValueError):
        errors["grace_days"] = ["Whole days between 0 and 365."]
    out["is_active"] = bool(data.get("is_active", True))
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return out


def save_product(staff: User, data: dict, product: LoanProduct | None = None) -> LoanProduct:
    """Create or update a product (audited). Loans keep the terms they were granted on."""
    _require(staff)
    values = clean_product(data)
    with unit_of_work():
        before = _product_snapshot(product) if product is not None else None
        if product is None:
            product = LoanProduct(**values)
            db.session.add(product)
        else:
            product = db.session.get(LoanProduct, product.id)
            for key, value in values.items():
                setattr(product, key, value)
        db.session.flush()
        audit.record(
            staff,
            "loan_product.saved" if before else "loan_product.created",
            product,
            before=before,
            after=_product_snapshot(product),
        )
    return product


def _product_snapshot(p: LoanProduct) -> dict:
    return {f: (str(v) if isinstance(v := getattr(p, f), Decimal) else v) for f in PRODUCT_FIELDS}


def active_products() -> list[LoanProduct]:
    return list(db.session.scalars(select(LoanProduct).where(LoanProduct.is_active).order_by(LoanProduct.id)))


# -- applying ------------------------------------------------------------------------------------


def quote_collateral(product: LoanProduct, amount: Decimal, collateral_currency: str) -> dict:
    """For the calculator and the live check: the collateral needed for ``amount`` at the live price."""
    found = collateral_rate(collateral_currency, product.loan_currency)
    if found is None:
        raise PriceUnavailable(f"There is no {collateral_currency} price right now.")
    cq = quantum(collateral_currency)
    return {
        "price": found.value,
        "stale": found.stale,
        "required": calc.required_collateral(amount, product.initial_ltv, found.value, cq),
        "margin_call_price": None,
    }


def _resolve_product(value) -> LoanProduct:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    product = db.session.get(LoanProduct, int(text)) if text.isascii() and text.isdigit() and len(text) < 19 else None
    if product is None or not product.is_active:
        raise ValidationFailed("Invalid input.", {"product": ["No active loan product with this id."]})
    return product


def apply(user: User, data: dict, *, seeding: bool = False) -> Loan:
    """Apply for a loan: checks KYC, product, bounds, term and the collateral's market value; holds it.

    :raise KycRequired: 403 without approved identity verification
    :raise ValidationFailed: bad fields, too little collateral ("Minimum collateral: 0.0213 BTC"), 3 open loans
    :raise InsufficientFunds: the collateral wallet's available balance is short
    :raise PriceUnavailable: no fresh price for the collateral

    ``seeding`` (the demo seed only) skips the KYC gate: the demo customer has not verified an identity.
    """
    if not seeding:
        compliance.require_kyc(user, "loans")
    product = _resolve_product(data.get("product"))
    errors: dict[str, list[str]] = {}
    try:
        amount = parse_amount(data.get("amount"), product.loan_currency)
        if not product.min_amount <= amount <= product.max_amount:
            errors["amount"] = [
                f"Between {show(product.min_amount, product.loan_currency)} and {show(product.max_amount, product.loan_currency)} {product.loan_currency}."
            ]
    except CurrencyError as exc:
        errors["amount"] = [str(exc)]
        amount = None
    collateral_currency = str(data.get("collateral_currency") or "").upper()
    if collateral_currency not in product.collateral_currencies:
        errors["collateral_currency"] = [f"One of: {', '.join(product.collateral_currencies)}."]
    collateral = None
    if "collateral_currency" not in errors:
        try:
            collateral = parse_amount(data.get("collateral_amount"), collateral_currency)
        except CurrencyError as exc:
            errors["collateral_amount"] = [str(exc)]
    term = data.get("term_days")
    if term in (None, ""):
        term = product.term_days
    else:
        term = int(term) if str(term).isascii() and str(term).isdigit() and len(str(term)) < 6 else -1
        if term not in product.terms:
            errors["term_days"] = [f"One of: {', '.join(str(t) for t in product.terms)} days."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)

    price = fresh_price(collateral_currency, product.loan_currency)
    needed = calc.required_collateral(amount, product.initial_ltv, price, quantum(collateral_currency))
    if collateral < needed:
        message = f"Minimum collateral: {show(needed, collateral_currency)} {collateral_currency}."
        raise ValidationFailed(message, {"collateral_amount": [message]}, code="insufficient_collateral")

    with unit_of_work() as uow:
        # One application at a time per customer: the open-loan count is read under the user's row lock.
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
        open_loans = db.session.scalar(
            select(func.count()).select_from(Loan).where(Loan.user_id == user.id, Loan.status.in_(OPEN_STATUSES))
        )
        if open_loans >= MAX_OPEN_LOANS:
            raise ValidationFailed(
                f"You already have {MAX_OPEN_LOANS} open loans; repay one before applying again.",
                {"product": [f"At most {MAX_OPEN_LOANS} open loans."]},
                code="too_many_loans",
            )
        loan = Loan(
            user_id=user.id,
            product_id=product.id,
            loan_currency=product.loan_currency,
            amount=amount,
            interest_rate=product.interest_rate,
            term_days=term,
            collateral_amount=collateral,
            collateral_currency=collateral_currency,
            principal_outstanding=amount,
            interest_accrued=Decimal(0),
            interest_remainder=Decimal(0),
            status="pending",
        )
        loan.product = product
        db.session.add(loan)
        db.session.flush()
        wallet = ledger.wallet_for(user, collateral_currency)
        try:
            hold = ledger.place_hold(wallet, collateral, HOLD_REASON, f"loan:{loan.id}")
        except InsufficientFunds:
            message = f"Not enough available {collateral_currency}: this loan needs {show(collateral, collateral_currency)} as collateral."
            raise InsufficientFunds(message, {"collateral_amount": [message]}) from None
        loan.hold_id = hold.id
        refresh_triggers(loan, price)
        event(
            loan,
            "applied",
            f"Applied for {show(amount, loan.loan_currency)} {loan.loan_currency}",
            actor=user,
            price=price,
        )
        audit.record(user, "loan.applied", loan, after=_snapshot(loan))
        announce(uow, loan)
    return loan


def _snapshot(loan: Loan) -> dict:
    return {
        "status": loan.status,
        "amount": show(loan.amount, loan.loan_currency),
        "collateral": f"{show(loan.collateral_amount, loan.collateral_currency)} {loan.collateral_currency}",
        "approvals": len(loan.approvals),
    }


# -- staff decisions -------------------------------------------------------------------------------


def approve(staff: User, loan_id: int) -> Loan:
    """Record ``staff``'s approval; with enough distinct approvers, disburse and activate.

    :raise PermissionDenied: without loans.manage, or one's own loan (``self_approval``)
    :raise Conflict: already approved by this person (``already_approved``); the collateral no longer
        covers the loan at the live price (``collateral_short``)
    :raise IllegalTransition: no longer pending
    """
    _require(staff)
    try:
        with unit_of_work() as uow:
            loan = _approve(uow, staff, loan_id)
    except IntegrityError as exc:
        raise Conflict("You have already approved this loan; another person must.", code="already_approved") from exc
    return loan


def _approve(uow, staff: User, loan_id: int) -> Loan:
    loan = lock(loan_id)
    if loan.user_id == staff.id:
        raise PermissionDenied("You cannot approve your own loan.", code="self_approval")
    if loan.status != "pending":
        raise IllegalTransition(f"This loan is {loan.status}, not pending.")
    if any(a.approver_id == staff.id for a in loan.approvals):
        raise Conflict("You have already approved this loan; another person must.", code="already_approved")
    before = _snapshot(loan)
    price = fresh_price(loan.collateral_currency, loan.loan_currency)
    ltv = calc.ltv(loan.amount, loan.collateral_amount, price)
    if ltv is None or ltv >= loan.product.margin_call_ltv:
        raise Conflict(
            f"At today's price the collateral puts this loan at {ltv}% LTV, past the margin call; "
            "ask the customer for more collateral or reject it.",
            code="collateral_short",
        )
    db.session.add(LoanApproval(loan_id=loan.id, approver_id=staff.id))
    db.session.flush()
    db.session.refresh(loan, ["approvals"])
    required = approvals_required(loan)
    event(loan, "approval", f"Approval {len(loan.approvals)} of {required}", actor=staff, price=price)
    if len(loan.approvals) >= required:
        _disburse(loan, staff, price)
        notify(
            loan.user_id,
            LOAN_APPROVED,
            f"Your loan of {show(loan.amount, loan.loan_currency)} {loan.loan_currency} was approved",
            f"The money is in your {loan.loan_currency} wallet. Repay by {loan.due_date:%d %b %Y}.",
            link=f"/loans/{loan.id}",
            dedupe_key=f"loan:{loan.id}:approved",
        )
    audit.record(staff, "loan.approved", loan, before=before, after={**_snapshot(loan), "required": required})
    announce(uow, loan)
    return loan


def _disburse(loan: Loan, staff: User, price: Decimal) -> None:
    """Pay the principal out of the ``loans`` book into the customer's wallet; the loan is active."""
    now = utcnow()
    loan.transition_to("approved")
    loan.approved_at, loan.approved_by_id = now, staff.id
    wallet = ledger.wallet_for(loan.user_id, loan.loan_currency)
    tx = Transaction(
        user_id=loan.user_id,
        transaction_type="loan",
        currency=loan.loan_currency,
        amount=loan.amount,
        fee=Decimal(0),
        status="completed",
        direction=1,
        reference_id=f"LOAN-{loan.id}-{secrets.token_hex(4).upper()}",
        notes=f"Loan {loan.id} disbursed",
        completed_at=now,
    )
    db.session.add(tx)
    db.session.flush()
    entry = ledger.post(
        "loan",
        [Leg(wallet, loan.amount), Leg(ledger.platform_account(BOOK, loan.loan_currency), -loan.amount)],
        memo=f"Loan {loan.id} disbursed",
        reference=f"loan:{loan.id}",
        actor=staff,
    )
    tx.entry_id = entry.id
    loan.disbursement_entry_id = entry.id
    loan.transition_to("active")
    loan.disbursed_at = now
    today = now.date()
    loan.due_date = today + timedelta(days=loan.term_days)
    loan.accrued_through = today - timedelta(days=1)  # the first accrual is for the day of disbursement
    refresh_triggers(loan, price)
    event(
        loan,
        "approved",
        f"Disbursed {show(loan.amount, loan.loan_currency)} {loan.loan_currency}",
        actor=staff,
        price=price,
    )


def reject(staff: User, loan_id: int, reason: str) -> Loan:
    """Refuse a pending application with a reason; the collateral is released and the customer told."""
    _require(staff)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Give a reason for the customer.", {"reason": ["Give a reason for the customer."]})
    if len(reason) > 500:
        raise ValidationFailed("The reason is too long.", {"reason": ["At most 500 characters."]})
    with unit_of_work() as uow:
        loan = lock(loan_id)
        before = _snapshot(loan)
        loan.transition_to("rejected", f"Only a pending loan can be rejected; this one is {loan.status}.")
        loan.rejection_reason = reason
        loan.closed_at = utcnow()
        if loan.hold is not None and loan.hold.status == "active":
            ledger.release_hold(loan.hold)
        refresh_triggers(loan)
        event(loan, "rejected", reason, actor=staff)
        audit.record(staff, "loan.rejected", loan, before=before, after={**_snapshot(loan), "reason": reason})
        notify(
            loan.user_id,
            LOAN_REJECTED,
            "Your loan application was not approved",
            f"Reason: {reason}. Your {show(loan.collateral_amount, loan.collateral_currency)} {loan.collateral_currency} collateral was released.",
            link=f"/loans/{loan.id}",
            dedupe_key=f"loan:{loan.id}:rejected",
        )
        announce(uow, loan)
    return loan


def cancel(user: User, loan_id: int) -> Loan:
    """The customer withdraws their pending application: it ends ``cancelled`` and the collateral is released.

    :raise NotFound: not the user's loan
    :raise IllegalTransition: no longer pending (approved and disbursed loans are repaid instead)
    """
    with unit_of_work() as uow:
        loan = lock(loan_id, user.id)
        loan.transition_to("cancelled", f"Only a pending application can be withdrawn; this loan is {loan.status}.")
        loan.closed_at = utcnow()
        if loan.hold is not None and loan.hold.status == "active":
            ledger.release_hold(loan.hold)
        refresh_triggers(loan)
        event(loan, "cancelled", "Withdrawn by the customer", actor=user)
        announce(uow, loan)
    return loan


def get_for_user(user: User, loan_id: int) -> Loan:
    loan = db.session.scalar(select(Loan).where(Loan.id == loan_id, Loan.user_id == user.id))
    if loan is None:
        raise NotFound("No such loan.")
    return loan
