"""Anti-abuse rules: a person cannot refer themselves, and bursts of sign-ups wait for a person.

Self-referral is the same person behind both accounts, recognised by an e-mail address that
differs only by a ``+tag`` or (Gmail) dots, the same phone number, the same identity document
number (compared decrypted, only when the referee's identity is approved) or the same card (the
card fingerprint of the referee's first deposit, seen on a deposit of the referrer). A burst is
``burst_signups`` referred sign-ups from one IP address or one device within ``burst_hours``.
"""

import hashlib
import re
from datetime import timedelta

from sqlalchemy import or_, select

from tradeapp.extensions import db
from tradeapp.models import Deposit, KYCDocument, Referral, ReferralSettings, User
from tradeapp.models.types import utcnow
from tradeapp.services import kyc

GMAIL = {"gmail.com", "googlemail.com"}


def canonical_email(email: str) -> str:
    """The mailbox an address delivers to: no ``+tag``; Gmail ignores dots and its two domains are one."""
    local, _, domain = (email or "").strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def canonical_phone(phone: str) -> str:
    """Digits only, without a leading 00 or trunk 0 (``+44 20…`` and ``020…`` compare by their last 9 digits)."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:] if len(digits) >= 7 else ""


def canonical_document(number: str) -> str:
    return re.sub(r"[\s-]", "", (number or "").upper())


def device_hash(user_agent: str, languages: str = "") -> str:
    """A coarse device signature from the request headers (no cookie, no script)."""
    if not user_agent:
        return ""
    return hashlib.sha256(f"{user_agent}\n{languages}".encode()).hexdigest()[:32]


def same_contact(referrer: User, referee: User) -> str | None:
    """Why the two accounts look like one person by e-mail or phone (None when they do not)."""
    if canonical_email(referrer.email) == canonical_email(referee.email):
        return "Self-referral: the same e-mail mailbox as the referrer."
    phone = canonical_phone(referee.phone_number)
    if phone and phone == canonical_phone(referrer.phone_number):
        return "Self-referral: the same phone number as the referrer."
    return None


def _document_numbers(user_id: int) -> set[str]:
    docs = db.session.scalars(
        select(KYCDocument).where(KYCDocument.user_id == user_id, KYCDocument.status.in_(("approved", "expired")))
    )
    return {canonical_document(kyc.document_number(doc)) for doc in docs}


def same_document(referrer_id: int, referee_id: int) -> str | None:
    """Why the referee's approved identity document is the referrer's (None when it is not)."""
    mine = _document_numbers(referee_id)
    if mine and mine & _document_numbers(referrer_id):
        return "Self-referral: the same identity document number as the referrer."
    return None


def card_fingerprint(deposit: Deposit) -> str:
    return str((deposit.payment_details or {}).get("card_fingerprint") or "")


def same_card(referrer_id: int, deposit: Deposit) -> str | None:
    """Why the card of the referee's deposit is one the referrer paid with (None when it is not)."""
    fingerprint = card_fingerprint(deposit)
    if not fingerprint:
        return None
    cards = db.session.scalars(select(Deposit).where(Deposit.user_id == referrer_id, Deposit.payment_method == "card"))
    if any(card_fingerprint(d) == fingerprint for d in cards):
        return "Self-referral: the first deposit was paid with the referrer's card."
    return None


def burst(referral: Referral, conf: ReferralSettings) -> list[Referral]:
    """The referred sign-ups from this one's IP or device within the window, itself included, if they
    are at least ``burst_signups``; an empty list otherwise."""
    clauses = []
    if referral.signup_ip:
        clauses.append(Referral.signup_ip == referral.signup_ip)
    if referral.device:
        clauses.append(Referral.device == referral.device)
    if not clauses:
        return []
    since = utcnow() - timedelta(hours=conf.burst_hours)
    found = list(
        db.session.scalars(
            select(Referral).where(or_(*clauses), Referral.created_at >= since).order_by(Referral.id).with_for_update()
        )
    )
    return found if len(found) >= conf.burst_signups else []
