"""Transfers between customers: instant, from the available balance, one ledger entry."""

import logging
import secrets

from sqlalchemy import func, select

from tradeapp import realtime
from tradeapp.currencies import CurrencyError, get_currency, parse_amount
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Transaction, User
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg

log = logging.getLogger(__name__)

NOTE_MAX = 500
RECIPIENT_FIELDS = ("to_email", "to_username")


def _find_recipient(identifier: str, field: str | None) -> tuple[User | None, str]:
    """The user named by ``identifier`` and the field to blame if there is none.

    ``field`` says how to look (``to_email`` or ``to_username``); without it an identifier
    with an ``@`` is tried as an e-mail address first, then as a username.
    """
    by_email = select(User).where(func.lower(User.email) == identifier.lower())
    by_username = select(User).where(func.lower(User.username) == identifier.lower())
    if field == "to_email":
        return db.session.scalar(by_email), field
    if field == "to_username":
        return db.session.scalar(by_username), field
    user = db.session.scalar(by_email) if "@" in identifier else None
    return user or db.session.scalar(by_username), "to_email" if "@" in identifier else "to_username"


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

    :raise ValidationFailed: unknown or inactive recipient, self, bad currency, amount or note
    :raise InsufficientFunds: the available balance does not cover the amount
    """
    if recipient_field is not None and recipient_field not in RECIPIENT_FIELDS:
        raise ValueError(f"recipient_field must be one of {RECIPIENT_FIELDS}")
    errors: dict[str, list[str]] = {}
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
        raise ValidationFailed("The transfer could not be made.", errors)

    reference = _reference()
    now = utcnow()
    try:
        source = ledger.wallet_for(sender, code)
        target = ledger.wallet_for(recipient, code)
        entry = ledger.post(
            "transfer",
            [Leg(source, -value), Leg(target, value)],
            memo=f"Transfer {sender.username} → {recipient.username}",
            reference=f"transfer:{reference}",
            actor=sender,
        )
        common = dict(
            transaction_type="transfer",
            currency=code,
            amount=value,
            fee=0,
            status="completed",
            notes=note,
            entry_id=entry.id,
            created_at=now,
            completed_at=now,
        )
        sent = Transaction(
            user_id=sender.id, counterparty_id=recipient.id, direction=-1, reference_id=f"{reference}-OUT", **common
        )
        received = Transaction(
            user_id=recipient.id, counterparty_id=sender.id, direction=1, reference_id=f"{reference}-IN", **common
        )
        db.session.add_all([sent, received])
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise

    log.info("transfer %s: %s %s from user %s to user %s", reference, value, code, sender.id, recipient.id)
    _announce(source, target, sent, received)
    return sent, received


def _announce(source, target, sent, received) -> None:
    """Socket.IO events for both sides; the transfer stands whether or not they are delivered."""
    try:
        realtime.wallet_updated(source)
        realtime.wallet_updated(target)
        realtime.transaction_created(sent)
        realtime.transaction_created(received)
    except Exception:  # noqa: BLE001 - the money moved; a lost notification is only cosmetic
        log.exception("could not announce a transfer")
