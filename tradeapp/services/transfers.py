"""Transfers between customers: instant, from the available balance, one ledger entry."""

import logging
import secrets

from sqlalchemy import bindparam, func, select

from tradeapp import realtime
from tradeapp.currencies import CurrencyError, get_currency, parse_amount
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Transaction, User, Wallet
from tradeapp.models.types import utcnow
from tradeapp.services import compliance, ledger
from tradeapp.services.ledger import ZERO, Leg
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

NOTE_MAX = 500
RECIPIENT_FIELDS = ("to_email", "to_username")

# Built once (building and hashing a statement costs about as much as running it). The
# lower() lookups use the functional indexes on users.
_BY_EMAIL = select(User).where(func.lower(User.email) == bindparam("name"))
_BY_USERNAME = select(User).where(func.lower(User.username) == bindparam("name"))
_WALLETS_OF = (
    select(Wallet)
    .where(Wallet.user_id.in_(bindparam("user_ids", expanding=True)), Wallet.currency == bindparam("currency"))
    .order_by(Wallet.id)
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)


def _find_recipient(identifier: str, field: str | None) -> tuple[User | None, str]:
    """The user named by ``identifier`` and the field to blame if there is none.

    ``field`` says how to look (``to_email`` or ``to_username``); without it an identifier
    with an ``@`` is tried as an e-mail address first, then as a username.
    """
    name = {"name": identifier.lower()}
    if field == "to_email":
        return db.session.scalar(_BY_EMAIL, name), field
    if field == "to_username":
        return db.session.scalar(_BY_USERNAME, name), field
    user = db.session.scalar(_BY_EMAIL, name) if "@" in identifier else None
    return user or db.session.scalar(_BY_USERNAME, name), "to_email" if "@" in identifier else "to_username"


def _reference() -> str:
    return f"TRF-{secrets.token_hex(8).upper()}"


def transfer(
    sender: User,
    recipient_identifier: str,
    currency: str,
    amount,
    note: str = "",
    *,
    recipient_field: str | None = None,
) -> tuple[Transaction, Transaction]:
    """Move ``amount`` of ``currency`` from ``sender``'s available balance to another customer.

    ``recipient_identifier`` is an e-mail address or a username (``recipient_field`` says which,
    ``to_email`` or ``to_username``; by default it is guessed). Returns the sender's and the
    recipient's history lines. Both users are told over Socket.IO after the commit.

    :raise ValidationFailed: unknown or inactive recipient, self, bad currency, amount or note; a staff
        account on either side (code ``recipient_is_staff`` / ``sender_is_staff``)
    :raise InsufficientFunds: the available balance does not cover the amount
    :raise AccountFrozen: 403 when staff froze the sender's account
    """
    compliance.require_unfrozen(sender, "transfer")
    if recipient_field is not None and recipient_field not in RECIPIENT_FIELDS:
        raise ValueError(f"recipient_field must be one of {RECIPIENT_FIELDS}")
    errors: dict[str, list[str]] = {}
    code_of_error = None
    identifier = (recipient_identifier or "").strip()
    recipient, field = _find_recipient(identifier, recipient_field) if identifier else (None, recipient_field)
    field = field or "to_username"
    if not identifier:
        errors[field] = ["Enter the recipient's email address or username."]
    elif recipient is None or not recipient.is_active:
        what = "email address" if field == "to_email" else "username"
        errors[field] = [f"No active customer has this {what}."]
    elif recipient.id == sender.id:
        errors[field] = ["You cannot send money to yourself."]
    elif recipient.is_staff:
        # Staff accounts hold no customer money: a transfer to one would be client money gone astray.
        errors[field] = ["Staff accounts cannot receive transfers."]
        code_of_error = "recipient_is_staff"
    if sender.is_staff:
        errors.setdefault(field, []).append("Staff accounts cannot send transfers.")
        code_of_error = "sender_is_staff"

    code = None
    try:
        code = get_currency(currency).code
    except CurrencyError as exc:
        errors["currency"] = [str(exc)]
    if code is not None:
        try:
            value = parse_amount(amount, code)
        except CurrencyError as exc:
            errors["amount"] = [str(exc)]
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = [f"At most {NOTE_MAX} characters."]
    if errors:
        raise ValidationFailed("The transfer could not be made.", errors, code=code_of_error)

    reference = _reference()
    now = utcnow()
    sender_id, recipient_id = sender.id, recipient.id
    with unit_of_work() as uow:
        source, target = _wallets(sender_id, recipient_id, code)
        common = dict(
            transaction_type="transfer",
            currency=code,
            amount=value,
            fee=ZERO,
            status="completed",
            external_id="",
            notes=note,
            created_at=now,
            completed_at=now,
        )
        # The users themselves, not only their ids: the answer names the counterparty without a query.
        sent = Transaction(
            user_id=sender_id,
            user=sender,
            counterparty_id=recipient_id,
            counterparty=recipient,
            direction=-1,
            reference_id=f"{reference}-OUT",
            **common,
        )
        received = Transaction(
            user_id=recipient_id,
            user=recipient,
            counterparty_id=sender_id,
            counterparty=sender,
            direction=1,
            reference_id=f"{reference}-IN",
            **common,
        )
        # The entry and both history lines, written together.
        ledger.post(
            "transfer",
            [Leg(source, -value), Leg(target, value)],
            memo=f"Transfer {sender.username} → {recipient.username}",
            reference=f"transfer:{reference}",
            actor=sender,
            lines=[sent, received],
        )
        # What this transaction wrote stays loaded: the answer and the events use it as it is.
        uow.keep(sender, recipient, source, target, sent, received)
        # Both sides are told once the money moved; a lost notification never undoes the transfer.
        uow.after_commit(realtime.wallet_updated, source)
        uow.after_commit(realtime.wallet_updated, target)
        uow.after_commit(realtime.transaction_created, sent)
        uow.after_commit(realtime.transaction_created, received)

    log.info("transfer %s: %s %s from user %s to user %s", reference, value, code, sender_id, recipient_id)
    return sent, received


def _wallets(sender_id: int, recipient_id: int, currency: str):
    """Both users' wallets in ``currency``, locked in id order by one query (so the ledger posting
    does not lock them again); one is created only if it is missing."""
    rows = db.session.scalars(_WALLETS_OF, {"user_ids": [sender_id, recipient_id], "currency": currency}).all()
    found = {wallet.user_id: wallet for wallet in rows}
    if len(found) == 2:
        ledger.mark_locked(rows)
    # else a wallet is created below and the posting locks both together, in id order
    source = found.get(sender_id) or ledger.wallet_for(sender_id, currency)
    target = found.get(recipient_id) or ledger.wallet_for(recipient_id, currency)
    return source, target
