"""The withdrawal address book: saved destinations, a cooling-off period before a new one can be
used, an e-mail with a revoke link when one is added, and an optional whitelist-only mode.

A withdrawal's destination is matched to the book by a fingerprint of the normalised destination
(the IBAN; the network and address), so spacing or case never makes a cooling-off address look new.
"""

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from tradeapp.errors import DomainError, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import public_url
from tradeapp.models import User, WithdrawalAddress
from tradeapp.models.types import utcnow
from tradeapp.services import audit, notifications
from tradeapp.services.account_security import ADDRESS_ADDED, settings, twofactor
from tradeapp.services.uow import unit_of_work

MAX_ADDRESSES = 50
REVOKE_MAX_AGE = 30 * 24 * 3600


class AddressRefused(DomainError):
    """The destination may not be used (yet): cooling off, or outside the book in whitelist-only mode."""

    status = 400
    code = "address_refused"


class TwoFactorRequired(DomainError):
    """Above the platform's amount, withdrawals need two-factor authentication turned on."""

    status = 403
    code = "two_factor_required"


def cooling_off() -> timedelta:
    return timedelta(hours=float(current_app.config["WITHDRAWAL_ADDRESS_COOLING_HOURS"]))


def fingerprint(destination_type: str, details: dict) -> str:
    """The identity of a normalised destination (not its labels: holder or bank name)."""
    if destination_type == "bank_account":
        key = {"type": destination_type, "iban": details.get("iban", "")}
    else:
        key = {"type": destination_type, "network": details.get("network", ""), "address": details.get("address", "")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="withdrawal-address-revoke")


def for_user(user: User, *, include_revoked: bool = False):
    """A select of the user's addresses, newest first."""
    query = select(WithdrawalAddress).where(WithdrawalAddress.user_id == user.id)
    if not include_revoked:
        query = query.where(WithdrawalAddress.revoked_at.is_(None))
    return query.order_by(WithdrawalAddress.id.desc())


def get_own(user: User, address_id: int) -> WithdrawalAddress:
    row = db.session.get(WithdrawalAddress, address_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such address.")
    return row


def add(user: User, data: dict, otp: str | None = None) -> WithdrawalAddress:
    """Save a destination (validated as a withdrawal's would be); usable after the cooling-off period.

    Needs a fresh two-factor code when two-factor is on (a security change). The customer is
    e-mailed at once with a link that revokes it, so an intruder's address is caught in time.
    """
    from tradeapp.services import withdrawals  # noqa: PLC0415 - withdrawals imports this module

    errors: dict[str, list[str]] = {}
    label = " ".join(str(data.get("label") or "").split())
    if not label:
        errors["label"] = ["Give the address a name you will recognise."]
    elif len(label) > 80:
        errors["label"] = ["At most 80 characters."]
    currency = str(data.get("currency") or "").upper().strip()
    if currency not in withdrawals.RULES:
        errors["currency"] = [f"Choose one of: {', '.join(withdrawals.RULES)}."]
    destination_type = data.get("destination_type") or ""
    details, destination_errors = withdrawals.validate_destination(
        currency if currency in withdrawals.RULES else "", destination_type, data.get("destination_details")
    )
    errors.update(destination_errors)
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    print_ = fingerprint(destination_type, details)
    existing = db.session.scalar(
        select(WithdrawalAddress).where(
            WithdrawalAddress.user_id == user.id,
            WithdrawalAddress.fingerprint == print_,
            WithdrawalAddress.revoked_at.is_(None),
        )
    )
    if existing is not None:
        raise ValidationFailed(
            "This destination is already in your address book.",
            {"destination_details": [f"Already saved as “{existing.label}”."]},
            code="duplicate_address",
        )
    count = len(db.session.scalars(for_user(user)).all())
    if count >= MAX_ADDRESSES:
        raise ValidationFailed(f"At most {MAX_ADDRESSES} saved addresses; remove one first.", code="too_many")
    twofactor.require_fresh_code(user, otp)
    now = utcnow()
    with unit_of_work() as uow:
        row = WithdrawalAddress(
            user_id=user.id,
            label=label,
            currency=currency,
            destination_type=destination_type,
            destination_details=details,
            fingerprint=print_,
            created_at=now,
            usable_from=now + cooling_off(),
        )
        db.session.add(row)
        db.session.flush()
        audit.record(user, "security.address_added", row, after={"label": label, "type": destination_type})
        token = _serializer().dumps({"uid": user.id, "aid": row.id})
        hours = cooling_off().total_seconds() / 3600
        notifications.notify(
            user.id,
            ADDRESS_ADDED,
            "A withdrawal address was added",
            f"“{label}” ({describe(row)}) can be used for withdrawals in {hours:g} hours. "
            "If you did not add it, revoke it with the link in the e-mail and change your password.",
            link="/account/withdrawal-addresses",
            data={"address_id": row.id},
            dedupe_key=f"address:{row.id}:added",
            mail_context={
                "address": row,
                "destination": describe(row),
                "hours": f"{hours:g}",
                "revoke_link": public_url("account_security.address_revoke_link", token=token),
            },
        )
        uow.keep(row)
    return row


def describe(row: WithdrawalAddress) -> str:
    d = row.destination_details or {}
    if row.destination_type == "bank_account":
        iban = d.get("iban", "")
        return f"bank account {iban[:4]}…{iban[-4:]}" if len(iban) > 8 else "bank account"
    address = d.get("address", "")
    short = f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address
    return f"{d.get('network', '')} {short}".strip()


def revoke(user: User, address_id: int) -> WithdrawalAddress:
    """Remove an address from the book (it stays in the history as revoked)."""
    with unit_of_work() as uow:
        row = db.session.scalar(
            select(WithdrawalAddress)
            .where(WithdrawalAddress.id == address_id, WithdrawalAddress.user_id == user.id)
            .with_for_update()
        )
        if row is None:
            raise NotFound("No such address.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(user, "security.address_revoked", row, after={"label": row.label})
        uow.keep(row)
    return row


def revoke_target(token: str) -> WithdrawalAddress:
    """The address an e-mailed revoke link names (the link works without signing in)."""
    try:
        data = _serializer().loads(token, max_age=REVOKE_MAX_AGE)
    except SignatureExpired:
        raise ValidationFailed("This link has expired: sign in and remove the address.", code="token_expired") from None
    except BadSignature:
        raise ValidationFailed("This link is invalid.", code="token_invalid") from None
    row = db.session.get(WithdrawalAddress, data.get("aid")) if isinstance(data, dict) else None
    if row is None or row.user_id != data.get("uid"):
        raise ValidationFailed("This link is invalid.", code="token_invalid")
    return row


def revoke_by_link(token: str) -> WithdrawalAddress:
    row = revoke_target(token)
    return revoke(db.session.get(User, row.user_id), row.id)


# -- the withdrawal's checks ---------------------------------------------------------------------------


def check_withdrawal(
    user: User, currency: str, usd_amount: Decimal | None, destination_type: str, details: dict, otp: str | None
) -> WithdrawalAddress | None:
    """What account security asks of a withdrawal before its hold is placed.

    - a destination in the book that is still cooling off is refused;
    - in whitelist-only mode, a destination outside the book (or revoked) is refused;
    - above ``WITHDRAWAL_2FA_OVER_USD`` two-factor must be on;
    - with two-factor on, a fresh code is needed (checked last: a refused request spends no code).
    """
    print_ = fingerprint(destination_type, details)
    row = db.session.scalar(
        select(WithdrawalAddress)
        .where(
            WithdrawalAddress.user_id == user.id,
            WithdrawalAddress.fingerprint == print_,
            WithdrawalAddress.revoked_at.is_(None),
        )
        .order_by(WithdrawalAddress.id.desc())
    )
    if row is not None and row.usable_from > utcnow():
        wait = row.usable_from - utcnow()
        hours = max(1, round(wait.total_seconds() / 3600))
        message = f"“{row.label}” was added recently: it can be used in about {hours} hour{'s' if hours != 1 else ''}."
        raise AddressRefused(message, {"destination_details": [message]}, code="address_cooling_off")
    if row is None and settings.of(user.id).whitelist_only:
        message = "Your account sends withdrawals only to saved addresses: add this one to your address book first."
        raise AddressRefused(message, {"destination_details": [message]}, code="address_not_whitelisted")
    limit = current_app.config.get("WITHDRAWAL_2FA_OVER_USD")
    over = limit not in (None, "") and usd_amount is not None and usd_amount > Decimal(str(limit))
    if over and not twofactor.two_factor_enabled(user):
        raise TwoFactorRequired(
            f"Withdrawals above {Decimal(str(limit)):,} USD need two-factor authentication: turn it on in "
            "your account's security settings.",
            {"amount": [f"Above {Decimal(str(limit)):,} USD, two-factor authentication is required."]},
        )
    twofactor.require_fresh_code(user, otp)
    return row
