"""A customer's security settings: defaults from the configuration until they change one."""

from dataclasses import dataclass

from flask import current_app

from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import SecuritySettings, User
from tradeapp.services import audit, notifications
from tradeapp.services.account_security import SECURITY_CHANGED
from tradeapp.services.uow import unit_of_work

PHRASE_MAX = 64


@dataclass(frozen=True)
class Settings:
    withdrawal_confirmation: bool
    whitelist_only: bool
    anti_phishing_phrase: str


def defaults() -> Settings:
    return Settings(
        withdrawal_confirmation=current_app.config["WITHDRAWAL_EMAIL_CONFIRMATION"],
        whitelist_only=False,
        anti_phishing_phrase="",
    )


def of(user_id: int) -> Settings:
    row = db.session.get(SecuritySettings, user_id)
    if row is None:
        return defaults()
    return Settings(row.withdrawal_confirmation, row.whitelist_only, row.anti_phishing_phrase)


CODE_REQUIRED = "Enter the current code from your authenticator app (or a recovery code)."


def code_required() -> ValidationFailed:
    return ValidationFailed(CODE_REQUIRED, {"otp": [CODE_REQUIRED]}, code="otp_required")


def two_factor_enabled(user: User) -> bool:
    """A customer's two-factor is on (staff two-factor is the console's own, mandatory, matter)."""
    return not user.is_staff and user.totp_secret is not None and user.totp_confirmed_at is not None


def update(user: User, changes: dict, *, fresh_code_checked: bool) -> Settings:
    """Change settings. Every change to a security setting needs a fresh two-factor code when
    two-factor is on (the caller checks it and says so); switching the e-mailed withdrawal
    confirmation off needs two-factor on.

    :raise ValidationFailed: bad values, or confirmation off without two-factor
    """
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for name in ("withdrawal_confirmation", "whitelist_only"):
        if name in changes and changes[name] is not None:
            if not isinstance(changes[name], bool):
                errors[name] = ["Must be true or false."]
            else:
                clean[name] = changes[name]
    if "anti_phishing_phrase" in changes and changes["anti_phishing_phrase"] is not None:
        phrase = " ".join(str(changes["anti_phishing_phrase"]).split())
        if len(phrase) > PHRASE_MAX:
            errors["anti_phishing_phrase"] = [f"At most {PHRASE_MAX} characters."]
        elif phrase and (len(phrase) < 4 or any(c in phrase for c in "<>\"'`")):
            errors["anti_phishing_phrase"] = ["Use 4 to 64 letters, digits, spaces or punctuation (no < > quotes)."]
        clean["anti_phishing_phrase"] = phrase
    enabled = two_factor_enabled(user)
    if clean.get("withdrawal_confirmation") is False and not enabled:
        errors["withdrawal_confirmation"] = [
            "Turn on two-factor authentication first: without it, withdrawals are confirmed by e-mail."
        ]
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    if enabled and not fresh_code_checked:
        raise code_required()
    with unit_of_work():
        row = db.session.get(SecuritySettings, user.id, with_for_update=True)
        if row is None:
            d = defaults()
            row = SecuritySettings(
                user_id=user.id,
                withdrawal_confirmation=d.withdrawal_confirmation,
                whitelist_only=d.whitelist_only,
                anti_phishing_phrase=d.anti_phishing_phrase,
            )
            db.session.add(row)
            db.session.flush()
        before = {k: _plain(getattr(row, k)) for k in clean if getattr(row, k) != clean[k]}
        for key, value in clean.items():
            setattr(row, key, value)
        if before:
            after = {k: _plain(clean[k]) for k in before}
            if "anti_phishing_phrase" in before:  # the phrase is a secret between us and the customer
                before["anti_phishing_phrase"] = after["anti_phishing_phrase"] = "(changed)"
            audit.record(user, "security.settings_changed", user, before=before, after=after)
            labels = ", ".join(k.replace("_", " ") for k in before)
            notifications.notify(
                user.id,
                SECURITY_CHANGED,
                "Your security settings changed",
                f"Changed: {labels}. If this was not you, reset your password now.",
                link="/account/security",
            )
    return of(user.id)


def _plain(value):
    return value


def phrase_for_email(address: str) -> str:
    """The anti-phishing phrase of the customer with this address, for the mail builder."""
    from sqlalchemy import func, select  # noqa: PLC0415

    row = db.session.execute(
        select(SecuritySettings.anti_phishing_phrase)
        .join(User, User.id == SecuritySettings.user_id)
        .where(func.lower(User.email) == (address or "").strip().lower())
    ).first()
    return row[0] if row and row[0] else ""
