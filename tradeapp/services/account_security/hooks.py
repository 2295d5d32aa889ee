"""Account security plugged into the lower services (tokens, users, withdrawals) through their
extension points, so those modules never import this package (no import cycle)."""

from decimal import Decimal

from sqlalchemy.sql import ColumnElement

from tradeapp.errors import Conflict
from tradeapp.extensions import db
from tradeapp.models import User, Withdrawal, WithdrawalConfirmation
from tradeapp.services import tokens, users, withdrawals
from tradeapp.services.account_security import addresses, confirmations, sessions, settings, twofactor
from tradeapp.services.uow import UnitOfWork


class AccountSecurityGuard(withdrawals.WithdrawalGuard):
    """The address book, two-factor and the e-mailed confirmation on every withdrawal."""

    def check(self, user: User, currency: str, usd: Decimal | None, dtype: str, details: dict, otp: str | None):
        addresses.check_withdrawal(user, currency, usd, dtype, details, otp)

    def requested(self, uow: UnitOfWork, user: User, w: Withdrawal) -> None:
        if settings.of(user.id).withdrawal_confirmation:
            confirmations.create(uow, user, w)

    def held_back(self) -> ColumnElement:
        return confirmations.unconfirmed_clause()

    def may_approve(self, w: Withdrawal) -> None:
        waiting = db.session.get(WithdrawalConfirmation, w.id)
        if waiting is not None and waiting.confirmed_at is None:
            raise Conflict("The customer has not confirmed this withdrawal yet.", code="awaiting_confirmation")


def _second_factor(user: User, otp: str | None) -> None:
    if twofactor.two_factor_enabled(user):
        twofactor.verify_login(user, otp)


def _record_api_login(user: User, family: str, user_agent: str, ip: str) -> None:
    sessions.start(user, "api", family, user_agent, ip)


def register() -> None:
    withdrawals.register_guard(AccountSecurityGuard())
    if _second_factor not in tokens.SECOND_FACTORS:
        tokens.SECOND_FACTORS.append(_second_factor)
    if _record_api_login not in tokens.LOGIN_RECORDERS:
        tokens.LOGIN_RECORDERS.append(_record_api_login)
    if sessions.after_password_change not in users.PASSWORD_CHANGED:
        users.PASSWORD_CHANGED.append(sessions.after_password_change)
