"""Withdrawals: request (a hold of amount + fee), cancel, staff approval and rejection, payouts.

Lifecycle (``Withdrawal.__states__``, :data:`tradeapp.models.funds.WITHDRAWAL_STATES`)::

    pending ──approve (1 or 2 staff)──▶ approved ──payout job──▶ processing ──▶ completed
       │                                   │                          └──────▶ failed
       ├──reject──▶ rejected ◀──reject─────┘
       └──cancel (owner)──▶ cancelled

The hold placed at request time reserves amount + fee; it is settled into the rail's clearing
account (``clearing:bank`` or ``clearing:crypto``) and ``fees`` when the payout succeeds, and
released on cancel, rejection or a failed payout.

Limits (per currency below; 24 hours by KYC level in :mod:`tradeapp.services.compliance`) and
the dual-approval threshold ``WITHDRAWAL_DUAL_APPROVAL_OVER`` are compared in USD-equivalent at
live prices (:func:`tradeapp.services.trading.prices.convert`; a stale price still counts, the
limits are indicative). A currency no market prices cannot be checked against the limit, so its
withdrawal is refused until one does, and always needs two approvers.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp import payouts
from tradeapp.currencies import CurrencyError, get_currency, parse_amount
from tradeapp.errors import Conflict, DomainError, IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import (
    AuditLog,
    Deposit,
    Hold,
    Transaction,
    User,
    Withdrawal,
    WithdrawalApproval,
)
from tradeapp.models.funds import DESTINATION_TYPES
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.queues import enqueue
from tradeapp.services import audit, compliance, ledger, notifications, rows
from tradeapp.services.ledger import Leg
from tradeapp.services.trading import prices
from tradeapp.services.uow import UnitOfWork, unit_of_work
from tradeapp.templating import money_text

log = logging.getLogger(__name__)

#: the platform clearing account a paid withdrawal leaves through, by destination type
PAYOUT_CLEARING = {"bank_account": "clearing:bank", "crypto_wallet": "clearing:crypto"}
D = Decimal


@dataclass(frozen=True)
class CurrencyRule:
    """Per-currency withdrawal rule: smallest and largest single withdrawal, flat fee."""

    min: Decimal
    max: Decimal
    fee: Decimal


#: per-currency limits and flat fees (amounts in the currency itself)
RULES: dict[str, CurrencyRule] = {
    "USD": CurrencyRule(D("10"), D("50000"), D("1.00")),
    "EUR": CurrencyRule(D("10"), D("50000"), D("1.00")),
    "GBP": CurrencyRule(D("10"), D("50000"), D("1.00")),
    "BTC": CurrencyRule(D("0.0005"), D("5"), D("0.0002")),
    "ETH": CurrencyRule(D("0.005"), D("100"), D("0.002")),
    "USDT": CurrencyRule(D("10"), D("50000"), D("1")),
}

#: crypto networks a currency can be sent on
NETWORKS: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin",),
    "ETH": ("ethereum",),
    "USDT": ("ethereum", "tron"),
}
ADDRESS_PATTERNS = {
    "bitcoin": re.compile(r"^(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})$"),
    "ethereum": re.compile(r"^0x[0-9a-fA-F]{40}$"),
    "tron": re.compile(r"^T[1-9A-HJ-NP-Za-km-z]{33}$"),
}
IBAN_PATTERN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")

DESTINATION_LABELS = {"bank_account": "Bank account", "crypto_wallet": "Crypto wallet"}

#: statuses that do not count against the 24-hour limit (the money never left)
NOT_COUNTED = ("cancelled", "rejected", "failed")
#: rejection presets offered to staff (free text may be added)
REJECTION_PRESETS = (
    "Destination details do not match the account holder",
    "Identity verification needs to be renewed",
    "Suspicious activity: please contact support",
    "Destination account cannot receive this currency",
)

MANAGE = "withdrawals.manage"
#: the payout job, by name (services never import job modules)
PAYOUT_JOB = "tradeapp.jobs.payouts.send_payout"


class LimitExceeded(DomainError):
    """The 24-hour withdrawal limit would be exceeded."""

    status = 400
    code = "limit_exceeded"


# -- rules and helpers -------------------------------------------------------------------------


def rule_for(currency: str) -> CurrencyRule:
    return RULES[get_currency(currency).code]


class PriceUnavailable(DomainError):
    """No market prices the currency, so the withdrawal cannot be checked against the limits."""

    status = 503
    code = "price_unavailable"


def to_usd(amount: Decimal, currency: str) -> Decimal | None:
    """USD-equivalent of ``amount`` at live prices (cents, half up); None when no market prices it."""
    converted = prices.convert(amount, currency, "USD")
    return converted.amount if converted is not None else None


def _usd_for_limits(amount: Decimal, currency: str) -> Decimal:
    usd = to_usd(amount, currency)
    if usd is None:
        message = f"There is no {currency} price right now to check your withdrawal limit; please try again later."
        raise PriceUnavailable(message, {"amount": [message]})
    return usd


def dual_approval_threshold() -> Decimal:
    return D(str(current_app.config.get("WITHDRAWAL_DUAL_APPROVAL_OVER", "10000")))


def approvals_required(w: Withdrawal) -> int:
    """Two distinct approvers above ``WITHDRAWAL_DUAL_APPROVAL_OVER`` (USD-equivalent), else one."""
    usd = to_usd(w.amount, w.currency)
    return 2 if usd is None or usd > dual_approval_threshold() else 1


def idempotency_key(w: Withdrawal) -> str:
    """The provider key for this withdrawal's payout: the same on every attempt."""
    return f"payout-{w.id}"


def _iban_ok(iban: str) -> bool:
    if not IBAN_PATTERN.match(iban):
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def validate_destination(currency: str, destination_type: str, details) -> tuple[dict, dict[str, list[str]]]:
    """Normalised destination details and field errors (``destination_details.<name>``)."""
    errors: dict[str, list[str]] = {}
    if destination_type not in DESTINATION_TYPES:
        return {}, {"destination_type": [f"Choose one of: {', '.join(DESTINATION_TYPES)}."]}
    if not isinstance(details, dict):
        return {}, {"destination_details": ["Send the destination as an object."]}

    def text(name: str, limit: int = 120) -> str:
        value = details.get(name, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            errors[f"destination_details.{name}"] = ["Must be text."]
            return ""
        value = value.strip()
        if len(value) > limit:
            errors[f"destination_details.{name}"] = [f"At most {limit} characters."]
        return value

    kind = get_currency(currency).kind if currency in RULES else None
    clean: dict[str, str] = {}
    if destination_type == "bank_account":
        if kind == "crypto":
            errors["destination_type"] = [f"{currency} is sent to a crypto wallet, not a bank account."]
        iban = re.sub(r"[\s-]", "", text("iban", 50)).upper()
        holder = " ".join(text("account_holder").split())
        bank_name = text("bank_name")
        if not iban:
            errors.setdefault("destination_details.iban", ["Enter the IBAN of the account."])
        elif not _iban_ok(iban):
            errors.setdefault("destination_details.iban", ["Enter a valid IBAN (e.g. GB82 WEST 1234 5698 7654 32)."])
        if len(holder) < 2:
            errors.setdefault("destination_details.account_holder", ["Enter the account holder's name."])
        clean = {"iban": iban, "account_holder": holder}
        if bank_name:
            clean["bank_name"] = bank_name
    else:
        if kind == "fiat":
            errors["destination_type"] = [f"{currency} is paid to a bank account, not a crypto wallet."]
        address = text("address")
        network = text("network", 20).lower()
        networks = NETWORKS.get(currency, ())
        if networks and not network and len(networks) == 1:
            network = networks[0]
        if networks and network not in networks:
            errors.setdefault("destination_details.network", [f"{currency} can be sent on: {', '.join(networks)}."])
        if not address:
            errors.setdefault("destination_details.address", ["Enter the wallet address."])
        elif network in ADDRESS_PATTERNS and not ADDRESS_PATTERNS[network].match(address):
            errors.setdefault("destination_details.address", [f"This is not a valid {network} address."])
        clean = {"address": address, "network": network}
    return clean, errors


def _lock(withdrawal_id: int) -> Withdrawal:
    w = rows.lock(Withdrawal, withdrawal_id)
    if w is None:
        raise NotFound("No such withdrawal.")
    return w


def _require_manager(staff: User) -> None:
    if not has_permission(staff, MANAGE):
        raise PermissionDenied("You do not have permission to manage withdrawals.")


def _snapshot(w: Withdrawal) -> dict:
    return {"status": w.status, "amount": str(w.amount), "currency": w.currency, "approvals": len(w.approvals)}


def pending_count() -> int:
    """The staff queue's length (the ``withdrawals`` counter, pushed after every change)."""
    return db.session.scalar(
        select(func.count()).select_from(Withdrawal).where(Withdrawal.status == "pending", ~_unconfirmed())
    )


def _unconfirmed():
    """SQL: a guard holds this withdrawal back from the staff queue (e.g. it awaits e-mailed confirmation)."""
    from sqlalchemy import false, or_  # noqa: PLC0415

    clauses = [c for guard in _guards() if (c := guard.held_back()) is not None]
    return or_(*clauses) if clauses else false()


class WithdrawalGuard:
    """What account security adds to withdrawals, without this module knowing it (no import cycle).

    ``check`` refuses a request before its hold (raise a DomainError); ``requested`` runs in the new
    withdrawal's unit of work; ``held_back`` is SQL for requests staff may not see yet; ``may_approve``
    refuses an approval (raise).
    """

    def check(self, user: User, currency: str, usd: Decimal | None, dtype: str, details: dict, otp: str | None):
        return None

    def requested(self, uow: UnitOfWork, user: User, w: Withdrawal) -> None:
        return None

    def held_back(self):
        return None

    def may_approve(self, w: Withdrawal) -> None:
        return None


_GUARDS: list[WithdrawalGuard] = []


def register_guard(guard: WithdrawalGuard) -> None:
    if all(type(g) is not type(guard) for g in _GUARDS):
        _GUARDS.append(guard)


def _guards() -> list[WithdrawalGuard]:
    """The registered guards; none at all means the app was not assembled: refuse rather than skip them."""
    if not _GUARDS:
        raise RuntimeError("withdrawal guards are not registered (import tradeapp.services.account_security)")
    return _GUARDS


def _tell_user(uow: UnitOfWork, w: Withdrawal, message: str, level: str, kind: str, title: str) -> None:
    """The status event and a notification (the kind's e-mail by the user's preference), once committed."""
    uow.emit_to_user(w.user_id, "withdrawal_status", {"id": w.id, "status": w.status})
    notifications.notify(
        w.user_id,
        kind,
        title,
        message,
        link="/withdrawals/",
        data={"withdrawal_id": w.id, "status": w.status, "level": level},
        dedupe_key=f"withdrawal:{w.id}:{w.status}",
        mail_context={"withdrawal": w},
    )


# -- customer operations ---------------------------------------------------------------------------


def daily_usage_usd(user: User, now=None) -> Decimal:
    """USD-equivalent of the user's withdrawals in the last 24 hours that may still leave or left."""
    since = (now or utcnow()) - timedelta(hours=24)
    totals: dict[str, Decimal] = {}
    for currency, amount in db.session.execute(
        select(Withdrawal.currency, Withdrawal.amount).where(
            Withdrawal.user_id == user.id,
            Withdrawal.created_at >= since,
            Withdrawal.status.not_in(NOT_COUNTED),
        )
    ):
        totals[currency] = totals.get(currency, D(0)) + amount
    return sum((_usd_for_limits(amount, currency) for currency, amount in totals.items()), D(0))


def request_withdrawal(
    user: User, currency: str, amount, destination_type: str, destination_details: dict, *, otp: str | None = None
) -> Withdrawal:
    """Ask to send ``amount`` out: checks KYC, limits and destination, holds amount + fee.

    Account security first: the address book's cooling-off and whitelist-only mode, two-factor
    above the platform's amount, and a fresh code (``otp``) when the customer has two-factor on.
    With e-mailed confirmation on (the default) the hold is placed now but staff see the request
    only once the customer clicks the link; unconfirmed, it expires and the hold is released.

    :raise KycRequired: 403 when identity verification is required and not approved
    :raise ValidationFailed: bad currency, amount, destination (nothing written)
    :raise LimitExceeded: over the 24-hour limit
    :raise InsufficientFunds: available balance below amount + fee
    :raise AccountFrozen: 403 when staff froze the account
    """
    compliance.require_unfrozen(user, "withdraw")
    compliance.require_kyc(user, "withdrawals")
    errors: dict[str, list[str]] = {}
    code = ""
    try:
        code = get_currency(currency).code
        if code not in RULES:
            raise CurrencyError(f"{code} cannot be withdrawn.")
    except CurrencyError as exc:
        errors["currency"] = [str(exc)]
    value = None
    if code:
        try:
            value = parse_amount(amount, code)
        except CurrencyError as exc:
            errors["amount"] = [str(exc)]
    details, destination_errors = validate_destination(code, destination_type, destination_details)
    errors.update(destination_errors)
    if value is not None and code:
        rule = RULES[code]
        if value < rule.min:
            errors["amount"] = [f"The minimum withdrawal is {rule.min} {code}."]
        elif value > rule.max:
            errors["amount"] = [f"The maximum withdrawal is {rule.max:,} {code}."]
    if errors:
        raise ValidationFailed("Invalid withdrawal request.", errors)
    rule = RULES[code]
    usd = to_usd(value, code)
    for guard in _guards():
        guard.check(user, code, usd, destination_type, details, otp)

    with unit_of_work() as uow:
        # One request per user at a time: the 24-hour sum is read under the user's row lock. NO KEY
        # UPDATE, not UPDATE: a transfer to this user takes a key-share lock on the row (its history
        # line's foreign key) while holding the wallets we lock next; UPDATE would deadlock with it.
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
        limit = compliance.withdrawal_daily_limit_usd(user)
        used = daily_usage_usd(user)
        if used + _usd_for_limits(value, code) > limit:
            left = max(limit - used, D(0))
            raise LimitExceeded(
                f"This exceeds your 24-hour withdrawal limit of {limit:,} USD (about {left:,} USD left).",
                {"amount": [f"You can withdraw about {left:,} USD more in the next 24 hours."]},
            )
        wallet = ledger.wallet_for(user, code)
        tx = Transaction(
            user_id=user.id,
            transaction_type="withdrawal",
            currency=code,
            amount=value,
            fee=rule.fee,
            status="pending",
            direction=-1,
            reference_id=f"WD-{secrets.token_hex(8).upper()}",
            notes=f"Withdrawal to {DESTINATION_LABELS[destination_type].lower()}",
        )
        db.session.add(tx)
        db.session.flush()
        hold = ledger.place_hold(wallet, value + rule.fee, "withdrawal", f"transaction:{tx.id}")
        w = Withdrawal(
            transaction_id=tx.id,
            user_id=user.id,
            currency=code,
            amount=value,
            fee=rule.fee,
            status="pending",
            destination_type=destination_type,
            destination_details=details,
            hold_id=hold.id,
        )
        db.session.add(w)
        db.session.flush()
        audit.record(user, "withdrawal.requested", w, after=_snapshot(w))
        for guard in _guards():
            guard.requested(uow, user, w)
    return w


def expire_unconfirmed(uow: UnitOfWork, withdrawal_id: int) -> Withdrawal | None:
    """A withdrawal nobody confirmed in time: cancelled, its hold released, the customer told.

    Called by account security's confirmation expiry (``confirmations.expire_due``) inside its unit
    of work; a withdrawal no longer pending (cancelled by the customer meanwhile) is left alone.
    """
    w = _lock(withdrawal_id)
    if w.status != "pending":
        return None
    before = _snapshot(w)
    w.transition_to("cancelled")
    _release(w, "cancelled", "Not confirmed in time: cancelled, funds released.")
    audit.record(None, "withdrawal.confirmation_expired", w, before=before, after=_snapshot(w), ip="")
    _tell_user(
        uow,
        w,
        f"Your withdrawal of {w.amount} {w.currency} was not confirmed within the time limit and was cancelled; "
        "the funds are available again.",
        "warning",
        notifications.WITHDRAWAL_EXPIRED,
        "Withdrawal cancelled: not confirmed",
    )
    return w


def cancel_withdrawal(user: User, w: Withdrawal) -> Withdrawal:
    """The owner withdraws the request while it is pending; the hold is released.

    :raise NotFound: not the user's withdrawal
    :raise IllegalTransition: no longer pending
    """
    if w.user_id != user.id:
        raise NotFound("No such withdrawal.")
    with unit_of_work():
        w = _lock(w.id)
        before = _snapshot(w)
        w.transition_to("cancelled", f"Only a pending withdrawal can be cancelled; this one is {w.status}.")
        _release(w, "cancelled", "Cancelled by the customer.")
        audit.record(user, "withdrawal.cancelled", w, before=before, after=_snapshot(w))
    return w


# -- staff operations ------------------------------------------------------------------------------


def approve_withdrawal(staff: User, w: Withdrawal) -> Withdrawal:
    """Record ``staff``'s approval; once enough distinct staff approved, queue the payout.

    :raise PermissionDenied: without withdrawals.manage, or for one's own withdrawal
    :raise Conflict: ``already_approved`` by this person
    :raise IllegalTransition: no longer pending
    """
    _require_manager(staff)
    try:
        with unit_of_work() as uow:
            w = _approve(uow, staff, w)
    except IntegrityError as exc:
        raise Conflict(
            "You have already approved this withdrawal; another person must.", code="already_approved"
        ) from exc
    return w


def _approve(uow: UnitOfWork, staff: User, w: Withdrawal) -> Withdrawal:
    w = _lock(w.id)
    if w.user_id == staff.id:
        raise PermissionDenied("You cannot approve your own withdrawal.", code="self_approval")
    if w.status != "pending":
        raise IllegalTransition(f"This withdrawal is {w.status}, not pending.")
    for guard in _guards():
        guard.may_approve(w)
    if compliance.is_frozen(w.user_id):
        raise compliance.AccountFrozen("The customer's account is frozen: unfreeze it before approving.")
    if any(a.approver_id == staff.id for a in w.approvals):
        raise Conflict("You have already approved this withdrawal; another person must.", code="already_approved")
    before = _snapshot(w)
    db.session.add(WithdrawalApproval(withdrawal_id=w.id, approver_id=staff.id))
    db.session.flush()
    db.session.refresh(w, ["approvals"])
    required = approvals_required(w)
    if len(w.approvals) >= required:
        w.transition_to("approved")
        w.approved_by_id = staff.id
        w.decided_at = utcnow()
    after = {**_snapshot(w), "required": required}
    audit.record(staff, "withdrawal.approved", w, before=before, after=after)
    if w.status == "approved":
        uow.after_commit(queue_payout, w.id)
        _tell_user(
            uow,
            w,
            f"Your withdrawal of {w.amount} {w.currency} was approved and is being sent.",
            "info",
            notifications.WITHDRAWAL_APPROVED,
            "Withdrawal approved",
        )
    return w


def queue_payout(withdrawal_id: int):
    """Enqueue the payout job (one per withdrawal: the job id deduplicates)."""
    return enqueue(PAYOUT_JOB, withdrawal_id, queue="payouts", job_id=f"payout-{withdrawal_id}")


def reject_withdrawal(staff: User, w: Withdrawal, reason: str) -> Withdrawal:
    """Refuse the withdrawal with a reason; the hold is released and the user told.

    :raise PermissionDenied: without withdrawals.manage
    :raise ValidationFailed: no reason
    :raise IllegalTransition: already processing or decided
    """
    _require_manager(staff)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Give a reason for the customer.", {"reason": ["Give a reason for the customer."]})
    if len(reason) > 500:
        raise ValidationFailed("The reason is too long.", {"reason": ["At most 500 characters."]})
    with unit_of_work() as uow:
        w = _lock(w.id)
        before = _snapshot(w)
        w.transition_to("rejected")
        w.rejection_reason = reason
        w.decided_at = utcnow()
        _release(w, "cancelled", f"Rejected: {reason}")
        audit.record(staff, "withdrawal.rejected", w, before=before, after={**_snapshot(w), "reason": reason})
        _tell_user(
            uow,
            w,
            f"Your withdrawal was rejected: {reason}",
            "error",
            notifications.WITHDRAWAL_REJECTED,
            "Withdrawal rejected",
        )
    return w


def mark_payout_paid(staff: User, w: Withdrawal) -> Withdrawal:
    """Finance confirms a manually exported bank payout was paid."""
    _require_manager(staff)
    with unit_of_work() as uow:
        w = _lock_manual(staff, w)
        before = _snapshot(w)
        _complete(w, w.payout_ref or f"manual-{idempotency_key(w)}", actor=staff)
        audit.record(staff, "withdrawal.paid", w, before=before, after=_snapshot(w))
        _notify_completed(uow, w)
    return w


def mark_payout_failed(staff: User, w: Withdrawal, reason: str) -> Withdrawal:
    """Finance records that a manually exported bank payout could not be made."""
    _require_manager(staff)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Say why the payment failed.", {"reason": ["Say why the payment failed."]})
    with unit_of_work() as uow:
        w = _lock_manual(staff, w)
        before = _snapshot(w)
        _fail(w, reason)
        audit.record(staff, "withdrawal.payout_failed", w, before=before, after={**_snapshot(w), "reason": reason})
        _notify_failed(uow, w)
    return w


def _lock_manual(staff: User, w: Withdrawal) -> Withdrawal:
    w = _lock(w.id)
    if w.user_id == staff.id:
        raise PermissionDenied("You cannot settle your own withdrawal.", code="self_approval")
    if w.status != "processing" or w.payout_provider != payouts.ManualBankPayout.name:
        raise IllegalTransition("Only a manual bank payout awaiting payment can be marked paid or failed.")
    return w


# -- payouts ---------------------------------------------------------------------------------------


def process_payout(withdrawal_id: int) -> str:
    """Send an approved withdrawal's payout; safe to run any number of times (the payout job).

    Two commits on purpose: ``processing`` is committed *before* the provider is called, so
    a run killed after the provider paid is recognised on the next run, which asks the
    provider for the payout made with the same idempotency key instead of paying again.
    Returns the withdrawal's status afterwards (unchanged when there was nothing to do).
    """
    with unit_of_work() as uow:
        w = _lock(withdrawal_id)
        if w.status not in ("approved", "processing"):
            uow.rollback()
            return w.status  # completed, failed, rejected…: nothing to do
        if w.status == "approved":
            w.transition_to("processing")
            w.payout_provider = payouts.provider_name_for(w.destination_type)
            w.transaction.status = "processing"
        w.payout_attempts += 1
        key = idempotency_key(w)
        provider = payouts.get_provider(w.payout_provider)

    result = provider.lookup(key) or provider.send(w, key)

    with unit_of_work() as uow:
        w = _lock(withdrawal_id)
        if w.status != "processing":
            uow.rollback()
            return w.status
        if result.status == payouts.SENT:
            _complete(w, result.ref)
            _notify_completed(uow, w)
        elif result.status == payouts.FAILED:
            _fail(w, result.message or "The payout provider refused the payment.", ref=result.ref)
            _notify_failed(uow, w)
        else:
            w.payout_ref = result.ref
            w.transaction.external_id = result.ref
    return w.status


def _release(w: Withdrawal, tx_status: str, note: str) -> None:
    hold = db.session.get(Hold, w.hold_id)
    if hold is not None and hold.status == "active":
        ledger.release_hold(hold)
    w.transaction.status = tx_status
    w.transaction.notes = note[:1000]


def _complete(w: Withdrawal, ref: str, actor: User | None = None) -> None:
    w.transition_to("completed")
    hold = db.session.get(Hold, w.hold_id)
    # Paid out: the money left through its rail, so the rail's clearing account gives it back (a
    # deposit took it from there). ``payouts_in_flight`` held completed payouts before, which made
    # the books show paid withdrawals as still on their way.
    legs = [Leg(ledger.platform_account(PAYOUT_CLEARING[w.destination_type], w.currency), w.amount)]
    if w.fee > 0:
        legs.append(Leg(ledger.platform_account("fees", w.currency), w.fee))
    entry = ledger.settle_hold(
        hold,
        w.amount + w.fee,
        legs,
        kind="withdrawal",
        memo=f"Withdrawal {w.id} paid out",
        reference=f"transaction:{w.transaction_id}",
        actor=actor,
    )
    now = utcnow()
    w.payout_ref = ref
    w.completed_at = now
    tx = w.transaction
    tx.status = "completed"
    tx.entry_id = entry.id
    tx.external_id = ref
    tx.completed_at = now


def _fail(w: Withdrawal, reason: str, ref: str | None = None) -> None:
    w.transition_to("failed")
    w.failure_reason = reason
    if ref:
        w.payout_ref = ref
        w.transaction.external_id = ref
    _release(w, "failed", f"Payout failed: {reason}")


def _notify_completed(uow: UnitOfWork, w: Withdrawal) -> None:
    _tell_user(
        uow,
        w,
        f"Your withdrawal of {money_text(w.amount, w.currency)} was sent.",
        "success",
        notifications.WITHDRAWAL_COMPLETED,
        "Withdrawal sent",
    )


def _notify_failed(uow: UnitOfWork, w: Withdrawal) -> None:
    _tell_user(
        uow,
        w,
        f"Your withdrawal of {money_text(w.amount, w.currency)} failed; the funds are available again.",
        "error",
        notifications.WITHDRAWAL_FAILED,
        "Withdrawal failed",
    )


# -- queries for the pages -------------------------------------------------------------------------


def user_withdrawals_query(user: User):
    return (
        select(Withdrawal)
        .where(Withdrawal.user_id == user.id)
        .order_by(Withdrawal.created_at.desc(), Withdrawal.id.desc())
    )


def pending_query():
    """The staff queue: oldest first."""
    return (
        select(Withdrawal)
        .where(Withdrawal.status == "pending", ~_unconfirmed())
        .order_by(Withdrawal.created_at, Withdrawal.id)
    )


def awaiting_manual_query():
    return (
        select(Withdrawal)
        .where(Withdrawal.status == "processing", Withdrawal.payout_provider == payouts.ManualBankPayout.name)
        .order_by(Withdrawal.decided_at, Withdrawal.id)
    )


@dataclass
class RiskFacts:
    account_age_days: int
    deposits_count: int
    deposits_usd: Decimal
    withdrawals_completed: int
    password_changed_recently: bool
    password_changed_at: object
    two_factor_changed_recently: bool
    kyc_status: str

    @property
    def flags(self) -> list[str]:
        out = []
        if self.account_age_days < 7:
            out.append("new account")
        if self.deposits_count == 0:
            out.append("no deposits")
        if self.password_changed_recently:
            out.append("password changed recently")
        if self.two_factor_changed_recently:
            out.append("2FA changed recently")
        return out


RECENT = timedelta(days=7)


def risk_facts(user: User) -> RiskFacts:
    """What a reviewer should weigh: age, deposits, recent credential changes."""
    now = utcnow()
    deposits = db.session.execute(
        select(Deposit.currency, Deposit.amount, Deposit.credited_amount).where(
            Deposit.user_id == user.id, Deposit.status == "completed"
        )
    ).all()
    deposits_usd = sum((to_usd(credited or amount, cur) or D(0) for cur, amount, credited in deposits), D(0))
    completed = db.session.scalar(
        select(func.count())
        .select_from(Withdrawal)
        .where(Withdrawal.user_id == user.id, Withdrawal.status == "completed")
    )
    two_factor_audit = db.session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.target_type == "users",
            AuditLog.target_id == str(user.id),
            AuditLog.action.like("%2fa%"),
            AuditLog.created_at >= now - RECENT,
        )
    )
    two_factor_recent = bool(two_factor_audit) or (
        user.totp_confirmed_at is not None and user.totp_confirmed_at >= now - RECENT
    )
    changed = user.password_changed_at
    return RiskFacts(
        account_age_days=(now - user.created_at).days,
        deposits_count=len(deposits),
        deposits_usd=deposits_usd,
        withdrawals_completed=completed,
        password_changed_recently=bool(
            changed and changed >= now - RECENT and changed - user.created_at > timedelta(minutes=5)
        ),
        password_changed_at=changed,
        two_factor_changed_recently=two_factor_recent,
        kyc_status=user.kyc_status,
    )


def record_manual_export(actor: User, withdrawal_ids: list[int]) -> None:
    """Audit that ``actor`` downloaded bank details of these withdrawals for manual payout."""
    with unit_of_work():
        audit.record(actor, "withdrawals.exported", None, after={"ids": withdrawal_ids})
