"""Shared helpers of the account security tests: turning two-factor on, codes at a time step."""

import time

import pyotp

from tradeapp.extensions import db
from tradeapp.services.account_security import twofactor


def code_at(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps_from_now)


def enable_two_factor(user) -> tuple[str, list[str]]:
    """Turn two-factor on for ``user`` with the previous step's code (so the current one stays fresh)."""
    secret = twofactor.start_enrolment(user)
    codes = twofactor.confirm_enrolment(user, code_at(secret, -1))
    db.session.expire_all()
    return secret, codes
