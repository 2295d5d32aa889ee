"""Deposits by card (Stripe or the sandbox), bank transfer and crypto, credited through the ledger.

Every credit happens in exactly one place per rail (``_credit``), under a row lock on the
Deposit, guarded by its state machine: a replayed webhook, a double-clicked confirmation or two
staff members racing find the deposit already completed and change nothing. External ids are
unique per provider (``uq_deposits_provider_ref``), so one PaymentIntent or one chain transaction
can never complete two deposits.

Refunds (``charge.refunded``): the refunded amount is debited back from the wallet when its
*available* balance still covers it. When it does not (the customer already spent or withdrew
the money) nothing is debited — balances never go negative — and the deposit is flagged for
staff attention (``payment_details["attention"]``, an audit row, a staff notification); finance
then recovers the money by hand. Either way the deposit is marked refunded once Stripe reports
the charge fully refunded, because that is what happened at the card rail.
"""

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp import realtime
from tradeapp.currencies import CURRENCIES, CurrencyError, parse_amount
from tradeapp.errors import DomainError, IllegalTransition, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.models.funds import CryptoAddress, Deposit, Transaction
from tradeapp.models.ledger import Hold
from tradeapp.models.types import utcnow
from tradeapp.payments import ProviderError, SandboxProvider, get_provider
from tradeapp.payments.base import from_minor, to_minor
from tradeapp.permissions import has_permission
from tradeapp.services import audit, ledger, notifications, referrals, rows
from tradeapp.services.ledger import Leg
from tradeapp.services.uow import UnitOfWork, unit_of_work
from tradeapp.templating import money_text

log = logging.getLogger(__name__)

METHODS = {"card": "Card", "bank_transfer": "Bank transfer", "crypto": "Crypto"}
#: platform clearing account per rail
CLEARING = {"card": "clearing:card", "bank_transfer": "clearing:bank", "crypto": "clearing:crypto"}
TX_HASH_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


class ServiceUnavailable(DomainError):
    status = 503
    code = "provider_unavailable"


# -- rules shared by the rails -------------------------------------------------------------------


def fiat_currencies() -> list[str]:
    return [c.code for c in CURRENCIES.values() if c.kind == "fiat"]


def crypto_networks() -> dict[str, list[str]]:
    return {cur: nets for cur, nets in current_app.config.get("CRYPTO_NETWORKS", {}).items() if cur in CURRENCIES}


def _amount(currency: str, amount, allowed: list[str], method: str) -> tuple[str, Decimal]:
    """Validate currency and amount together, reporting both fields at once."""
    errors: dict[str, list[str]] = {}
    code = (currency or "").strip().upper()
    if code not in allowed:
        errors["currency"] = [f"{METHODS[method]} deposits accept {', '.join(allowed)}."]
    value = None
    try:
        value = parse_amount(amount, code if code in CURRENCIES else "USD")
    except CurrencyError as exc:
        errors["amount"] = [str(exc)]
    if errors:
        raise ValidationFailed("Invalid input.", errors)
    return code, value


def _new_deposit(user: User, method: str, currency: str, amount: Decimal, provider: str, **details) -> Deposit:
    txn = Transaction(
        user_id=user.id,
        transaction_type="deposit",
        currency=currency,
        amount=amount,
        fee=Decimal(0),
        status="pending",
        reference_id=f"DEP-{secrets.token_hex(6).upper()}",
        notes=f"{METHODS[method]} deposit",
        direction=1,
    )
    db.session.add(txn)
    db.session.flush()
    deposit = Deposit(
        transaction_id=txn.id,
        user_id=user.id,
        payment_method=method,
        status="pending",
        currency=currency,
        amount=amount,
        provider=provider,
        payment_details=dict(details),
    )
    db.session.add(deposit)
    db.session.flush()
    return deposit


def _lock(deposit_id: int) -> Deposit:
    return rows.lock(Deposit, deposit_id)


def _lock_by_ref(provider: str, provider_ref: str) -> Deposit | None:
    return db.session.scalar(
        select(Deposit)
        .where(Deposit.provider == provider, Deposit.provider_ref == provider_ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _client(client_details: dict | None) -> dict:
    """What the customer sent in ``payment_details`` is kept (as the seed keeps it), beside ours, never over it."""
    return {"client": client_details} if client_details else {}


def _details(deposit: Deposit, **changes) -> None:
    # JSON columns track reassignment, not in-place mutation.
    deposit.payment_details = {**(deposit.payment_details or {}), **changes}


def _credit(deposit: Deposit, amount: Decimal, external_id: str, actor: User | None = None) -> None:
    """Post the credit and complete the deposit and its transaction (caller holds the row lock)."""
    deposit.transition_to("completed")
    wallet = ledger.wallet_for(deposit.user_id, deposit.currency)
    clearing = ledger.platform_account(CLEARING[deposit.payment_method], deposit.currency)
    entry = ledger.post(
        "deposit",
        [Leg(wallet, amount), Leg(clearing, -amount)],
        memo=f"{METHODS[deposit.payment_method]} deposit {deposit.id}",
        reference=f"deposit:{deposit.id}",
        actor=actor,
    )
    now = utcnow()
    deposit.credited_amount = amount
    deposit.completed_at = now
    txn = deposit.transaction
    txn.status = "completed"
    txn.amount = amount
    txn.external_id = (external_id or "")[:100]
    txn.entry_id = entry.id
    txn.completed_at = now
    referrals.on_deposit_completed(deposit)


def _lock_for_staff(staff: User, deposit_id: int, method: str) -> Deposit:
    """Lock a pending ``method`` deposit that ``staff`` may settle.

    :raise ValidationFailed: another payment method
    :raise PermissionDenied: no deposits.manage, or the staff member's own deposit
    :raise IllegalTransition: no longer pending
    """
    deposit = _lock(deposit_id)
    if deposit.payment_method != method:
        raise ValidationFailed(f"This is not a {METHODS[method].lower()} deposit.")
    _staff_check(staff, deposit)
    if deposit.status != "pending":
        raise IllegalTransition(f"This deposit is already {deposit.status}.")
    return deposit


def _staff_check(staff: User, deposit: Deposit) -> None:
    if not has_permission(staff, "deposits.manage"):
        raise PermissionDenied("You may not manage deposits.")
    if deposit.user_id == staff.id:
        raise PermissionDenied("You cannot confirm or reject your own deposit.")


# -- telling people --------------------------------------------------------------------------------


def pending_count() -> int:
    """Bank and crypto deposits waiting for finance (the ``deposits`` counter, pushed after every change)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Deposit)
        .where(Deposit.status == "pending", Deposit.payment_method.in_(("bank_transfer", "crypto")))
    )


def _notify(uow: UnitOfWork, deposit: Deposit, message: str, level: str = "success", *, refund: bool = False) -> None:
    """Tell the customer once the change is committed: wallet, deposit status, a notification.

    The notification's kind follows the deposit's state (credited, failed or rejected, refunded),
    so the customer's preferences decide whether it is also pushed live and e-mailed; the
    dedupe key makes a replayed webhook tell nobody twice.
    """
    uow.after_commit(_push_wallet, deposit)
    uow.emit_to_user(
        deposit.user_id, "deposit", {"id": deposit.id, "status": deposit.status, "currency": deposit.currency}
    )
    if refund:
        # a refund may come in several parts: each is its own event
        kind, title, key = notifications.DEPOSIT_REFUNDED, "Card refund", None
    elif deposit.status == "completed":
        kind, title, key = notifications.DEPOSIT_CREDITED, "Deposit credited", f"deposit:{deposit.id}:credited"
    else:
        kind, title, key = notifications.DEPOSIT_FAILED, f"Deposit {deposit.status}", None
    notifications.notify(
        deposit.user_id,
        kind,
        title,
        message,
        link=f"/deposits/{deposit.id}",
        data={"deposit_id": deposit.id, "status": deposit.status, "level": level},
        dedupe_key=key,
    )


def _push_wallet(deposit: Deposit) -> None:
    if deposit.status in ("completed", "refunded"):
        realtime.wallet_updated(ledger.wallet_for(deposit.user_id, deposit.currency))


def _money(amount: Decimal, currency: str) -> str:
    return money_text(amount, currency)


# -- card ----------------------------------------------------------------------------------------


@dataclass
class CardDeposit:
    deposit: Deposit
    client_secret: str


def create_card_deposit(
    user: User, currency: str, amount, provider_name: str | None = None, client_details: dict | None = None
) -> CardDeposit:
    """A pending card deposit and its PaymentIntent; the browser or app pays with the client secret.

    Two commits, on purpose: the deposit row exists before we call the provider (so a webhook
    that arrives early finds it), and the provider call is not made inside a DB transaction.

    :raise ValidationFailed: bad currency or amount (nothing written)
    :raise ServiceUnavailable: the provider could not be reached (the deposit is marked failed)
    """
    currency, amount = _amount(currency, amount, fiat_currencies(), "card")
    try:
        provider = get_provider(provider_name)
    except ProviderError as exc:
        raise ServiceUnavailable("Card payments are not available right now.") from exc
    with unit_of_work():
        deposit = _new_deposit(user, "card", currency, amount, provider.name, **_client(client_details))
    try:
        intent = provider.create_intent(
            amount_minor=to_minor(amount, currency), currency=currency, deposit_id=deposit.id
        )
    except ProviderError as exc:
        log.warning("payment intent for deposit %s failed: %s", deposit.id, exc)
        with unit_of_work():
            deposit = _lock(deposit.id)
            deposit.transition_to("failed")
            deposit.transaction.status = "failed"
            _details(deposit, failure="The card processor could not be reached.")
        raise ServiceUnavailable("The card processor could not be reached; please try again.") from exc
    with unit_of_work():
        deposit = _lock(deposit.id)
        deposit.provider_ref = intent.id
        deposit.transaction.external_id = intent.id
        _details(deposit, client_secret=intent.client_secret, intent_status=intent.status)
    return CardDeposit(deposit, intent.client_secret)


def complete_card_deposit(
    provider: str, provider_ref: str, amount_received_minor: int, currency: str, card_fingerprint: str = ""
):
    """Credit a card deposit whose payment succeeded — exactly once.

    ``card_fingerprint`` (the processor's id of the card number) is kept: the referral programme
    recognises one person's card behind two accounts by it.

    Called by the Stripe webhook and by the sandbox card form. Unknown intents are ignored
    (``None``); a deposit that is already completed or refunded is returned unchanged.
    """
    with unit_of_work() as uow:
        deposit = _lock_by_ref(provider, provider_ref)
        if deposit is None:
            uow.rollback()
            log.info("payment %s/%s matches no deposit; ignored", provider, provider_ref)
            return None
        if deposit.status in ("completed", "refunded", "rejected"):
            uow.rollback()  # a replay: nothing to do
            return deposit
        if (currency or "").upper() != deposit.currency or int(amount_received_minor) <= 0:
            _details(
                deposit,
                attention=f"Payment reported {amount_received_minor} {currency}; expected {deposit.currency}.",
            )
            audit.record(None, "deposit.payment_mismatch", deposit, after=deposit.payment_details, ip="")
            uow.emit_to_staff("deposit_attention", {"id": deposit.id})
            return deposit
        amount = from_minor(int(amount_received_minor), deposit.currency)
        if card_fingerprint:
            _details(deposit, card_fingerprint=str(card_fingerprint)[:64])
        _credit(deposit, amount, provider_ref)
        _details(deposit, intent_status="succeeded", failure=None)
        _notify(uow, deposit, f"Your card deposit of {_money(amount, deposit.currency)} is in your wallet.")
    return deposit


def mark_card_failed(provider: str, provider_ref: str, message: str = "") -> Deposit | None:
    """Record a failed card payment (the customer may retry the same intent)."""
    with unit_of_work() as uow:
        deposit = _lock_by_ref(provider, provider_ref)
        if deposit is None or deposit.status != "pending":
            uow.rollback()  # unknown, already failed, or a late failure after success
            return deposit
        deposit.transition_to("failed")
        deposit.transaction.status = "failed"
        _details(deposit, failure=(message or "The payment failed.")[:300], intent_status="requires_payment_method")
        _notify(uow, deposit, f"Your card deposit failed: {message or 'the payment was declined'}.", "error")
    return deposit


def _taken_back_line(deposit: Deposit, amount: Decimal, entry, tag: str, notes: str) -> None:
    """The customer's history line for money a card refund or a lost chargeback took back."""
    db.session.add(
        Transaction(
            user_id=deposit.user_id,
            transaction_type="deposit",
            currency=deposit.currency,
            amount=amount,
            status="completed",
            reference_id=f"DEP-{tag}-{secrets.token_hex(6).upper()}",
            external_id=deposit.provider_ref[:100],
            notes=notes,
            direction=-1,
            entry_id=entry.id,
            completed_at=utcnow(),
        )
    )


def refund_card_deposit(provider: str, provider_ref: str, amount_refunded_minor: int, fully_refunded: bool):
    """Take back what a card refund returned to the card (see the module docstring for the rule).

    ``amount_refunded_minor`` is the charge's cumulative refunded amount, so replays and partial
    refunds are handled by the difference with what was already processed.
    """
    with unit_of_work() as uow:
        deposit = _lock_by_ref(provider, provider_ref)
        if deposit is None or deposit.status not in ("completed", "refunded"):
            uow.rollback()
            return deposit
        details = deposit.payment_details or {}
        already = int(details.get("refunded_minor", 0))
        delta_minor = int(amount_refunded_minor) - already
        if delta_minor <= 0:
            uow.rollback()  # a replay, or an older event arriving late
            return deposit
        delta = from_minor(delta_minor, deposit.currency)
        wallet = ledger.wallet_for(deposit.user_id, deposit.currency)
        wallet = ledger.lock_wallets([wallet.id])[wallet.id]
        recovered = wallet.available_balance >= delta
        changes: dict = {"refunded_minor": int(amount_refunded_minor)}
        if recovered:
            clearing = ledger.platform_account("clearing:card", deposit.currency)
            entry = ledger.post(
                "deposit_refund",
                [Leg(wallet, -delta), Leg(clearing, delta)],
                memo=f"Card refund of deposit {deposit.id}",
                reference=f"deposit:{deposit.id}",
            )
            _taken_back_line(deposit, delta, entry, "RFD", f"Card refund of deposit #{deposit.id}")
        else:
            unrecovered = int(details.get("unrecovered_minor", 0)) + delta_minor
            changes["unrecovered_minor"] = unrecovered
            changes["attention"] = (
                f"Card refund of {_money(delta, deposit.currency)} could not be taken back: the wallet's "
                f"available balance is lower. Recover {_money(from_minor(unrecovered, deposit.currency), deposit.currency)} by hand."
            )
            audit.record(None, "deposit.refund_unrecovered", deposit, after={"amount": str(delta)}, ip="")
        if fully_refunded and deposit.status == "completed":
            deposit.transition_to("refunded")
        referrals.on_deposit_reversed(deposit.id, f"The referee's deposit #{deposit.id} was refunded.")
        _details(deposit, **changes)
        if recovered:
            _notify(
                uow,
                deposit,
                f"A card refund of {_money(delta, deposit.currency)} was taken from your wallet.",
                "info",
                refund=True,
            )
        else:
            uow.emit_to_staff("deposit_attention", {"id": deposit.id})
    return deposit


def sandbox_fingerprint(card_number: str) -> str:
    """What Stripe's ``card.fingerprint`` is for the sandbox: one id per card number, not the number."""
    digits = "".join(ch for ch in card_number if ch.isdigit())
    key = current_app.config["SECRET_KEY"].encode()
    return "sbx_" + hmac.new(key, f"card:{digits}".encode(), hashlib.sha256).hexdigest()[:20]


def _dispute(deposit: Deposit, dispute_id: str) -> dict:
    return dict(((deposit.payment_details or {}).get("dispute_holds") or {}).get(dispute_id) or {})


def _set_dispute(deposit: Deposit, dispute_id: str, record: dict, **changes) -> None:
    holds = dict((deposit.payment_details or {}).get("dispute_holds") or {})
    holds[dispute_id] = record
    _details(deposit, dispute_holds=holds, **changes)


def dispute_card_deposit(
    provider: str, provider_ref: str, dispute_id: str = "", amount_minor: int | None = None
) -> Deposit | None:
    """A chargeback was opened on a card deposit: reserve the disputed money and tell everyone.

    The card network takes the disputed amount from the merchant at once, so the customer must not
    trade or withdraw it away while the dispute runs: a ``chargeback`` hold reserves it (as much of
    it as the wallet's available balance still covers; what it does not cover is flagged for
    finance). The referral reward the deposit earned is taken back. :func:`close_card_dispute`
    releases the hold when the dispute is won, or debits it when it is lost.
    """
    dispute_id = dispute_id or "dispute"
    with unit_of_work() as uow:
        deposit = _lock_by_ref(provider, provider_ref)
        if deposit is None or deposit.status not in ("completed", "refunded"):
            uow.rollback()
            return deposit
        disputes = list((deposit.payment_details or {}).get("disputes") or [])
        if dispute_id in disputes:
            uow.rollback()  # a replayed event
            return deposit
        disputed = deposit.credited_amount or deposit.amount
        if amount_minor is not None:
            disputed = min(disputed, from_minor(int(amount_minor), deposit.currency))
        wallet = ledger.wallet_for(deposit.user_id, deposit.currency)
        wallet = ledger.lock_wallets([wallet.id])[wallet.id]
        held = max(min(disputed, wallet.available_balance), Decimal(0))
        hold = ledger.place_hold(wallet, held, "chargeback", f"dispute:{dispute_id}") if held > 0 else None
        short = disputed - held
        attention = f"Chargeback opened ({dispute_id}) for {_money(disputed, deposit.currency)}: "
        attention += (
            "the amount is held on the customer's wallet until the dispute closes."
            if short == 0
            else f"only {_money(held, deposit.currency)} could be held (the wallet's available balance); "
            f"recover {_money(short, deposit.currency)} by hand if the dispute is lost."
        )
        _set_dispute(
            deposit,
            dispute_id,
            {
                "status": "open",
                "amount": str(disputed),
                "held": str(held),
                "hold_id": hold.id if hold is not None else None,
            },
            disputes=[*disputes, dispute_id],
            attention=attention,
        )
        audit.record(None, "deposit.chargeback", deposit, after={"dispute": dispute_id, "held": str(held)}, ip="")
        referrals.on_deposit_reversed(deposit.id, f"The referee's deposit #{deposit.id} was charged back.")
        uow.emit_to_staff("deposit_attention", {"id": deposit.id})
        uow.after_commit(_push_wallet, deposit)
        notifications.notify(
            deposit.user_id,
            notifications.DEPOSIT_DISPUTED,
            "Card payment disputed",
            f"Your card issuer opened a dispute on deposit #{deposit.id}: "
            f"{_money(held, deposit.currency)} is reserved on your wallet until it is resolved.",
            link=f"/deposits/{deposit.id}",
            data={"deposit_id": deposit.id, "status": deposit.status, "level": "warning"},
            dedupe_key=f"deposit:{deposit.id}:dispute:{dispute_id}",
        )
    return deposit


def _chargeback_attention_cleared(deposit: Deposit) -> dict:
    # the flag this dispute raised goes; a flag about something else (an unrecovered refund) stays
    attention = (deposit.payment_details or {}).get("attention") or ""
    return {"attention": ""} if attention.startswith("Chargeback") else {}


def close_card_dispute(provider: str, provider_ref: str, dispute_id: str, outcome: str) -> Deposit | None:
    """A chargeback closed: ``won`` (or ``warning_closed``) releases its hold, ``lost`` debits it.

    A lost dispute moves the held money to the card clearing account (the network already took it
    from us), with a history line for the customer; a part that could not be held stays flagged for
    finance. Replays find the dispute closed and change nothing.
    """
    with unit_of_work() as uow:
        deposit = _lock_by_ref(provider, provider_ref)
        record = _dispute(deposit, dispute_id) if deposit is not None else {}
        if not record or record.get("status") != "open" or outcome not in ("won", "lost", "warning_closed"):
            uow.rollback()
            return deposit
        held = Decimal(record["held"])
        short = Decimal(record["amount"]) - held
        hold = db.session.get(Hold, record["hold_id"]) if record.get("hold_id") else None
        changes: dict = {}
        if outcome == "lost":
            if hold is not None:
                clearing = ledger.platform_account("clearing:card", deposit.currency)
                entry = ledger.settle_hold(
                    hold,
                    held,
                    [Leg(clearing, held)],
                    kind="deposit_chargeback",
                    memo=f"Chargeback {dispute_id} of deposit {deposit.id}",
                    reference=f"deposit:{deposit.id}",
                )
                _taken_back_line(deposit, held, entry, "CBK", f"Chargeback of deposit #{deposit.id}")
            if short > 0:
                unrecovered = int((deposit.payment_details or {}).get("unrecovered_minor", 0))
                changes["unrecovered_minor"] = unrecovered + to_minor(short, deposit.currency)
                changes["attention"] = (
                    f"Chargeback {dispute_id} lost: {_money(short, deposit.currency)} could not be taken "
                    "from the wallet. Recover it by hand."
                )
            else:
                changes.update(_chargeback_attention_cleared(deposit))
            if deposit.status == "completed" and short == 0 and held >= (deposit.credited_amount or deposit.amount):
                deposit.transition_to("refunded")
            message = f"The dispute on deposit #{deposit.id} was decided for the card holder: {_money(held, deposit.currency)} was taken from your wallet."
        else:
            if hold is not None:
                ledger.release_hold(hold)
            changes.update(_chargeback_attention_cleared(deposit))
            message = f"The dispute on deposit #{deposit.id} was closed in our favour: {_money(held, deposit.currency)} is available again."
        _set_dispute(deposit, dispute_id, {**record, "status": outcome}, **changes)
        audit.record(None, f"deposit.chargeback_{outcome}", deposit, after={"dispute": dispute_id}, ip="")
        if short > 0 and outcome == "lost":
            uow.emit_to_staff("deposit_attention", {"id": deposit.id})
        uow.after_commit(_push_wallet, deposit)
        notifications.notify(
            deposit.user_id,
            notifications.DEPOSIT_DISPUTED,
            "Card dispute closed",
            message,
            link=f"/deposits/{deposit.id}",
            data={"deposit_id": deposit.id, "status": deposit.status, "level": "info"},
            dedupe_key=f"deposit:{deposit.id}:dispute:{dispute_id}:{outcome}",
        )
    return deposit


def pay_sandbox_card(user: User, deposit: Deposit, card_number: str) -> tuple[Deposit, bool, str]:
    """Pay a sandbox card deposit with a test card: through the same completion code as Stripe's webhook.

    :raise PermissionDenied: not the owner's deposit
    :raise IllegalTransition: not a sandbox card deposit waiting for payment
    """
    if deposit.user_id != user.id:
        raise PermissionDenied("This is not your deposit.")
    if deposit.provider != SandboxProvider.name or deposit.status not in ("pending", "failed"):
        raise IllegalTransition("This deposit is not waiting for a sandbox card payment.")
    ok, message = SandboxProvider.charge(card_number)
    if ok:
        deposit = complete_card_deposit(
            SandboxProvider.name,
            deposit.provider_ref,
            to_minor(deposit.amount, deposit.currency),
            deposit.currency,
            card_fingerprint=sandbox_fingerprint(card_number),
        )
    else:
        deposit = mark_card_failed(SandboxProvider.name, deposit.provider_ref, message) or deposit
    return deposit, ok, message


# -- bank transfer -------------------------------------------------------------------------------


def _bank_reference() -> str:
    for _ in range(20):
        reference = "TA-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        if (
            db.session.scalar(select(Deposit.id).where(Deposit.provider == "bank", Deposit.provider_ref == reference))
            is None
        ):
            return reference
    raise RuntimeError("could not find a free bank reference")  # 32^8 references: never in practice


def bank_details() -> dict:
    return dict(current_app.config.get("BANK_DETAILS", {}))


def create_bank_deposit(user: User, currency: str, amount, client_details: dict | None = None) -> Deposit:
    """Announce a bank transfer: a pending deposit with a unique reference to quote on the transfer."""
    currency, amount = _amount(currency, amount, fiat_currencies(), "bank_transfer")
    with unit_of_work():
        reference = _bank_reference()
        deposit = _new_deposit(
            user,
            "bank_transfer",
            currency,
            amount,
            "bank",
            reference=reference,
            bank=bank_details(),
            **_client(client_details),
        )
        deposit.provider_ref = reference
        deposit.transaction.external_id = reference
    return deposit


def confirm_bank_deposit(staff: User, deposit: Deposit, amount=None) -> Deposit:
    """Finance saw the money arrive: credit the amount received (which may differ from the announced one).

    :raise PermissionDenied: no deposits.manage, or the staff member's own deposit
    :raise IllegalTransition: not pending (already confirmed or rejected)
    :raise ValidationFailed: a bad amount
    """
    with unit_of_work() as uow:
        deposit = _lock_for_staff(staff, deposit.id, "bank_transfer")
        received = deposit.amount if amount in (None, "") else _parse(amount, deposit.currency)
        before = {"status": deposit.status, "amount": str(deposit.amount)}
        _credit(deposit, received, deposit.provider_ref or "", actor=staff)
        deposit.confirmed_by_id = staff.id
        audit.record(
            staff, "deposit.confirm", deposit, before=before, after={"status": "completed", "credited": str(received)}
        )
        _notify(uow, deposit, f"Your bank transfer of {_money(received, deposit.currency)} is in your wallet.")
    return deposit


def _parse(amount, currency: str) -> Decimal:
    try:
        return parse_amount(amount, currency)
    except CurrencyError as exc:
        raise ValidationFailed(str(exc), {"amount": [str(exc)]}) from exc


def reject_deposit(staff: User, deposit: Deposit, reason: str) -> Deposit:
    """Finance could not match the money (or it never came): reject with a reason the customer sees."""
    reason = (reason or "").strip()
    with unit_of_work() as uow:
        if not reason:
            raise ValidationFailed("Give a reason.", {"reason": ["Give a reason: the customer will see it."]})
        if len(reason) > 500:
            raise ValidationFailed("The reason is too long.", {"reason": ["At most 500 characters."]})
        deposit = _lock(deposit.id)
        if deposit.payment_method == "card":
            raise ValidationFailed("Card deposits are settled by the card processor, not by staff.")
        _staff_check(staff, deposit)
        if deposit.status != "pending":
            raise IllegalTransition(f"This deposit is already {deposit.status}.")
        deposit.transition_to("rejected")
        deposit.rejection_reason = reason
        deposit.confirmed_by_id = staff.id
        deposit.transaction.status = "failed"
        deposit.transaction.notes = f"Rejected: {reason}"[:2000]
        audit.record(
            staff,
            "deposit.reject",
            deposit,
            before={"status": "pending"},
            after={"status": "rejected", "reason": reason},
        )
        _notify(uow, deposit, f"Your deposit #{deposit.id} was rejected: {reason}", "error")
    return deposit


# -- crypto --------------------------------------------------------------------------------------


def _network(currency: str, network: str) -> tuple[str, str]:
    networks = crypto_networks()
    code = (currency or "").strip().upper()
    net = (network or "").strip().lower()
    if code not in networks:
        raise ValidationFailed("Invalid input.", {"currency": [f"Crypto deposits accept {', '.join(networks)}."]})
    if not net and len(networks[code]) == 1:
        net = networks[code][0]
    if net not in networks[code]:
        raise ValidationFailed("Invalid input.", {"network": [f"{code} deposits use {', '.join(networks[code])}."]})
    return code, net


def _demo_address(user_id: int, currency: str, network: str) -> str:
    # Deterministic and unique per (user, currency, network); deliberately not a real chain
    # format, so nobody sends real coins to it: chain watching is out of scope.
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{user_id}:{currency}:{network}".encode(), hashlib.sha256).hexdigest()
    return f"demo-{network}-{digest[:40]}"


def _address_row(user_id: int, currency: str, network: str) -> CryptoAddress:
    query = select(CryptoAddress).where(
        CryptoAddress.user_id == user_id, CryptoAddress.currency == currency, CryptoAddress.network == network
    )
    row = db.session.scalar(query)
    if row is None:
        db.session.execute(
            rows.upsert_insert(CryptoAddress)
            .values(
                user_id=user_id,
                currency=currency,
                network=network,
                address=_demo_address(user_id, currency, network),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["user_id", "currency", "network"])
        )
        row = db.session.scalar(query)
    return row


def crypto_address(user: User, currency: str, network: str = "") -> CryptoAddress:
    """The user's (demo) deposit address for ``currency`` on ``network``, created on first use."""
    with unit_of_work():
        currency, network = _network(currency, network)
        row = _address_row(user.id, currency, network)
    return row


def normalize_tx_hash(tx_hash: str) -> str:
    """Lower-case hex without ``0x``, so one chain transaction has one spelling.

    :raise ValidationFailed: not 64 hex digits
    """
    value = (tx_hash or "").strip()
    if not TX_HASH_RE.match(value):
        raise ValidationFailed("Invalid input.", {"tx_hash": ["A transaction hash is 64 hexadecimal characters."]})
    return value.lower().removeprefix("0x")


def _tx_hash_taken(tx_hash: str, exclude_id: int | None = None) -> bool:
    query = select(Deposit.id).where(Deposit.provider == "crypto", Deposit.provider_ref == tx_hash)
    if exclude_id is not None:
        query = query.where(Deposit.id != exclude_id)
    return db.session.scalar(query) is not None


TX_HASH_TAKEN = {"tx_hash": ["This transaction hash was already used for a deposit."]}


def create_crypto_deposit(
    user: User, currency: str, network: str, amount, tx_hash: str | None = None, client_details: dict | None = None
) -> Deposit:
    """Announce a crypto deposit to the user's address (optionally with the transaction hash)."""
    errors: dict = {}
    try:
        currency, network = _network(currency, network)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    try:
        value = parse_amount(amount, currency if currency in CURRENCIES else "BTC")
    except CurrencyError as exc:
        errors["amount"] = [str(exc)]
    normalized = None
    if tx_hash:
        try:
            normalized = normalize_tx_hash(tx_hash)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Invalid input.", errors)
    try:
        with unit_of_work():
            if normalized and _tx_hash_taken(normalized):
                raise ValidationFailed(
                    "This transaction hash was already used.", TX_HASH_TAKEN, code="duplicate_tx_hash"
                )
            address = _address_row(user.id, currency, network)
            deposit = _new_deposit(
                user,
                "crypto",
                currency,
                value,
                "crypto",
                network=network,
                address=address.address,
                **_client(client_details),
            )
            if normalized:
                deposit.provider_ref = normalized
                deposit.transaction.external_id = normalized
                _details(deposit, tx_hash=normalized)
            db.session.flush()
    except IntegrityError as exc:
        raise ValidationFailed(
            "This transaction hash was already used.", TX_HASH_TAKEN, code="duplicate_tx_hash"
        ) from exc
    return deposit


def confirm_crypto_deposit(staff: User, deposit: Deposit, tx_hash: str | None = None, amount=None) -> Deposit:
    """Finance found the transaction on chain: credit it. A tx hash can credit only one deposit."""
    try:
        with unit_of_work() as uow:
            return _confirm_crypto(uow, staff, deposit, tx_hash, amount)
    except IntegrityError as exc:
        raise ValidationFailed(
            "This transaction hash was already used.", TX_HASH_TAKEN, code="duplicate_tx_hash"
        ) from exc


def _confirm_crypto(uow: UnitOfWork, staff: User, deposit: Deposit, tx_hash: str | None, amount) -> Deposit:
    deposit = _lock_for_staff(staff, deposit.id, "crypto")
    if not tx_hash and not deposit.provider_ref:
        raise ValidationFailed("Invalid input.", {"tx_hash": ["Enter the transaction hash."]})
    normalized = normalize_tx_hash(tx_hash) if tx_hash else deposit.provider_ref
    received = deposit.amount if amount in (None, "") else _parse(amount, deposit.currency)
    if _tx_hash_taken(normalized, exclude_id=deposit.id):
        raise ValidationFailed("This transaction hash was already used.", TX_HASH_TAKEN, code="duplicate_tx_hash")
    before = {"status": deposit.status, "amount": str(deposit.amount), "tx_hash": deposit.provider_ref}
    deposit.provider_ref = normalized
    _details(deposit, tx_hash=normalized)
    db.session.flush()  # the unique constraint speaks here if another confirmation raced us
    _credit(deposit, received, normalized, actor=staff)
    deposit.confirmed_by_id = staff.id
    audit.record(
        staff,
        "deposit.confirm",
        deposit,
        before=before,
        after={"status": "completed", "credited": str(received), "tx_hash": normalized},
    )
    _notify(uow, deposit, f"Your {deposit.currency} deposit of {_money(received, deposit.currency)} is in your wallet.")
    return deposit


def confirm_deposit(staff: User, deposit: Deposit, amount=None, tx_hash: str | None = None) -> Deposit:
    """Confirm a bank or crypto deposit (the staff queue and API's one entry point)."""
    if deposit.payment_method == "crypto":
        return confirm_crypto_deposit(staff, deposit, tx_hash, amount)
    if deposit.payment_method == "bank_transfer":
        return confirm_bank_deposit(staff, deposit, amount)
    raise ValidationFailed("Card deposits are settled by the card processor, not by staff.")


# -- queries -------------------------------------------------------------------------------------


def user_deposits_query(user: User):
    return select(Deposit).where(Deposit.user_id == user.id).order_by(Deposit.created_at.desc(), Deposit.id.desc())


def pending_queue_query():
    """Bank and crypto deposits waiting for finance, oldest first."""
    return (
        select(Deposit)
        .where(Deposit.status == "pending", Deposit.payment_method.in_(("bank_transfer", "crypto")))
        .order_by(Deposit.created_at, Deposit.id)
    )


def attention_query():
    """Deposits flagged for a person (unrecovered refunds, mismatched payments)."""
    found = db.session.scalars(
        select(Deposit).where(Deposit.payment_method == "card").order_by(Deposit.id.desc()).limit(500)
    )
    return [d for d in found if (d.payment_details or {}).get("attention")]
