"""Gating rules in one place: which actions need approved KYC, and limits by KYC level.

Settings ``<ACTION>_REQUIRE_KYC`` (e.g. ``WITHDRAWALS_REQUIRE_KYC``, later ``LOANS_REQUIRE_KYC``)
switch the KYC requirement per action; an action without a setting requires KYC.
"""

from decimal import Decimal

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import AccountControl, User


class KycRequired(DomainError):
    """The action needs an approved identity verification."""

    status = 403
    code = "kyc_required"


#: 24-hour withdrawal limit in USD-equivalent, by KYC level
WITHDRAWAL_DAILY_LIMIT_USD: dict[str, Decimal] = {
    "approved": Decimal("100000"),
    # only reachable when WITHDRAWALS_REQUIRE_KYC is off
    "unverified": Decimal("1000"),
}

ACTION_LABELS = {
    "withdrawals": "withdraw funds",
    "loans": "borrow",
    "master_traders": "become a master trader",
}


def kyc_required_for(action: str) -> bool:
    """Whether ``action`` needs approved KYC (setting ``<ACTION>_REQUIRE_KYC``, default true)."""
    return bool(current_app.config.get(f"{action.upper()}_REQUIRE_KYC", True))


def kyc_level(user: User) -> str:
    """``approved`` once identity verification passed, ``unverified`` before."""
    return "approved" if user.kyc_status == "approved" else "unverified"


def require_kyc(user: User, action: str) -> None:
    """Refuse ``action`` unless the user's KYC is approved (when the settings ask for it).

    :raise KycRequired: 403 ``kyc_required``
    """
    if kyc_required_for(action) and kyc_level(user) != "approved":
        label = ACTION_LABELS.get(action, action.replace("_", " "))
        raise KycRequired(f"Verify your identity before you {label}.")


def withdrawal_daily_limit_usd(user: User) -> Decimal:
    """How much (USD-equivalent) the user may withdraw in any 24 hours."""
    return WITHDRAWAL_DAILY_LIMIT_USD[kyc_level(user)]


# -- frozen accounts ---------------------------------------------------------------------------------


class AccountFrozen(DomainError):
    """Staff froze the account: it can log in and see everything, but not move money or trade."""

    status = 403
    code = "account_frozen"


FROZEN_LABELS = {
    "trade": "trade",
    "withdraw": "withdraw",
    "transfer": "send money",
}


#: user ids known (in the current transaction) to have no account_controls row
_NO_CONTROL = "compliance.no_control"


def account_control(user_id: int) -> AccountControl | None:
    """The account's control row (frozen flag, sessions revoked), or None when staff never acted on it.

    Read at most once per transaction: the request's authentication usually loads it with the user
    (:func:`note_account_control`), so the session check and :func:`require_unfrozen` cost no query.
    """
    session = db.session()
    control = session.identity_map.get(identity_key(AccountControl, user_id))
    if control is not None:
        return control
    absent = session.info.get(_NO_CONTROL)
    if absent is not None and user_id in absent and not any(isinstance(o, AccountControl) for o in session.new):
        return None
    control = session.get(AccountControl, user_id)
    if control is None:
        note_account_control(user_id, None)
    return control


def note_account_control(user_id: int, control: AccountControl | None) -> None:
    """Remember what a query that joined the user's control row found (None: there is none)."""
    if control is None:
        db.session.info.setdefault(_NO_CONTROL, set()).add(user_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_controls(session: Session, transaction) -> None:
    if transaction.parent is None:  # the next transaction reads the row again
        session.info.pop(_NO_CONTROL, None)


def is_frozen(user_id: int) -> bool:
    """Whether staff froze the account (one primary-key read per transaction, often none)."""
    control = account_control(user_id)
    return control is not None and control.frozen_at is not None


def require_unfrozen(user: User | int, action: str) -> None:
    """Refuse ``action`` (``trade``, ``withdraw``, ``transfer``, or a future domain's) on a frozen account.

    Every service that moves a customer's money or trades calls this one check.

    :raise AccountFrozen: 403 ``account_frozen``
    """
    user_id = user if isinstance(user, int) else user.id
    if is_frozen(user_id):
        label = FROZEN_LABELS.get(action, action.replace("_", " "))
        raise AccountFrozen(f"Your account is frozen, so you cannot {label} right now. Please contact support.")
