"""Lead traders: applying, the staff's review (approve, reject, suspend, reinstate), the public listing.

A customer with approved KYC and some trading history applies; staff holding ``copy.manage``
decide, audited. Suspending a trader stops their followers' copying (each is told why); the
public view of a trader is display name, bio and stats, never the account behind it.
"""

import logging
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select, update

from tradeapp.amounts import AmountError, parse_decimal
from tradeapp.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import CopySubscription, Trade, Trader, User
from tradeapp.models.types import utcnow
from tradeapp.services import audit
from tradeapp.services.notifications import notify, notify_many, register_kind
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

#: the staff permission for every lead-trader and copy-trading back-office action
MANAGE = "copy.manage"

TRADER_DECIDED = register_kind("copy_trader_decision", "Lead trader application decided", email=True)
TRADER_SUSPENDED = register_kind("copy_trader_suspended", "Copied trader suspended", email=True)

#: leaderboard orderings: the seed's fields plus the ROI windows (a leading ``-`` is descending)
ORDERINGS = (
    "total_followers",
    "profit_percentage",
    "win_rate",
    "roi_7d",
    "roi_30d",
    "roi_90d",
    "risk_score",
    "max_drawdown",
    "total_trades",
)


def setting(name: str, default):
    """A copy-trading setting: ``COPY_<NAME>`` in the app config, else ``default``."""
    value = current_app.config.get(f"COPY_{name}", default)
    return Decimal(str(value)) if isinstance(default, Decimal) else value


def profit_share_cap() -> Decimal:
    return setting("PROFIT_SHARE_CAP", Decimal(20))


def percent(value, name: str, errors: dict, *, low: Decimal, high: Decimal, required: bool = False) -> Decimal | None:
    """A percentage in [low, high] with at most two decimals (blank is None); problems go to ``errors``."""
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        if required:
            errors[name] = ["Enter a percentage."]
        return None
    try:
        number = parse_decimal(value, decimals=2, allow_zero=True)
    except AmountError as exc:
        errors.setdefault(name, []).append(str(exc))
        return None
    if number < low or number > high:
        errors.setdefault(name, []).append(f"Between {low.normalize():f} and {high.normalize():f}.")
        return None
    return number


def _text(value, name: str, errors: dict, *, limit: int, required: bool = False) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        errors[name] = ["This field is required."]
    elif len(text) > limit:
        errors[name] = [f"At most {limit} characters."]
    return text


def trader_of(user: User | int) -> Trader | None:
    """The user's lead-trader record (any status), if they ever applied."""
    user_id = user if isinstance(user, int) else user.id
    return db.session.scalar(select(Trader).where(Trader.user_id == user_id))


def eligibility(user: User) -> list[str]:
    """Why ``user`` may not apply yet (empty when they may)."""
    problems = []
    if user.is_staff:
        problems.append("Staff accounts cannot lead.")
    if user.kyc_status != "approved":
        problems.append("Verify your identity first (approved KYC).")
    needed = setting("MIN_TRADES", 1)
    trades = db.session.scalar(select(func.count()).select_from(Trade).where(Trade.user_id == user.id)) or 0
    if trades < needed:
        problems.append(f"Trade at least {needed} time{'s' if needed != 1 else ''} on the platform first.")
    return problems


def apply(user: User, data: dict) -> Trader:
    """Apply (or apply again after a rejection) to be a lead trader.

    :raise ValidationFailed: bad fields, not eligible, or already a lead trader
    """
    errors: dict[str, list[str]] = {}
    name = _text(data.get("display_name"), "display_name", errors, limit=100, required=True)
    bio = _text(data.get("bio"), "bio", errors, limit=2000)
    share = percent(
        data.get("profit_share_percentage"), "profit_share_percentage", errors, low=Decimal(0), high=profit_share_cap()
    )
    share = share if share is not None else Decimal(0)
    public = data.get("is_public", True)
    public = public if isinstance(public, bool) else str(public).lower() not in ("0", "false", "no", "off", "")
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    problems = eligibility(user)
    if problems:
        raise ValidationFailed(problems[0], {"display_name": problems})
    with unit_of_work() as uow:
        trader = db.session.scalar(select(Trader).where(Trader.user_id == user.id).with_for_update())
        if trader is not None and trader.status != "rejected":
            raise ValidationFailed(
                f"You already applied: your lead-trader status is {trader.status}.",
                {"display_name": ["One application per account."]},
            )
        if trader is None:
            trader = Trader(user_id=user.id, status="pending")
            db.session.add(trader)
        else:
            trader.transition_to("pending")
        trader.display_name, trader.bio, trader.profit_share_percentage = name, bio, share
        trader.is_public, trader.status_reason = public, ""
        db.session.flush()
        uow.emit_to_staff("copy_application", {"id": trader.id})
    log.info("lead trader application %s by user %s", trader.id, user.id)
    return trader


def _lock(trader_id: int) -> Trader:
    trader = db.session.scalar(
        select(Trader).where(Trader.id == trader_id).with_for_update().execution_options(populate_existing=True)
    )
    if trader is None:
        raise NotFound("No such lead trader.")
    return trader


def _decide(actor: User, trader_id: int, new: str, action: str, reason: str = "", *, need_reason: bool) -> Trader:
    reason = (reason or "").strip()[:255]
    if need_reason and not reason:
        raise ValidationFailed("Give a reason.", {"reason": ["Say why."]})
    with unit_of_work():
        trader = _lock(trader_id)
        if trader.user_id == actor.id:
            raise PermissionDenied("You cannot decide on your own application.")
        before = trader.status
        trader.transition_to(new)
        trader.status_reason = reason
        trader.reviewed_by_id, trader.reviewed_at = actor.id, utcnow()
        audit.record(actor, action, trader, before={"status": before}, after={"status": new, "reason": reason})
        if new in ("approved", "rejected") and before == "pending":
            title = "You are now a lead trader" if new == "approved" else "Your lead-trader application was declined"
            notify(
                trader.user_id,
                TRADER_DECIDED,
                title,
                reason,
                link="/copy/",
                dedupe_key=f"trader:{trader.id}:{action}:{utcnow():%Y%m%d%H%M%S}",
            )
        if new == "suspended":
            _stop_followers(trader, reason)
    return trader


def _stop_followers(trader: Trader, reason: str) -> None:
    """A suspended trader's followers stop copying, and each is told why (inside the caller's unit)."""
    ids = list(
        db.session.scalars(
            update(CopySubscription)
            .where(CopySubscription.trader_id == trader.id, CopySubscription.status.in_(("active", "paused")))
            .values(
                status="stopped",
                status_reason=f"{trader.display_name} was suspended: {reason}"[:255],
                updated_at=utcnow(),
            )
            .returning(CopySubscription.follower_id)
        )
    )
    if ids:
        notify_many(
            ids,
            TRADER_SUSPENDED,
            f"Copying {trader.display_name} stopped",
            f"The trader was suspended by the broker ({reason}). Your allocation is kept; unsubscribe to release it.",
            link="/copy/mine",
            dedupe_key=f"trader-suspended:{trader.id}:{utcnow():%Y%m%d%H%M%S}",
        )


def approve(actor: User, trader_id: int) -> Trader:
    return _decide(actor, trader_id, "approved", "copy.trader_approve", need_reason=False)


def reject(actor: User, trader_id: int, reason: str) -> Trader:
    return _decide(actor, trader_id, "rejected", "copy.trader_reject", reason, need_reason=True)


def suspend(actor: User, trader_id: int, reason: str) -> Trader:
    return _decide(actor, trader_id, "suspended", "copy.trader_suspend", reason, need_reason=True)


def reinstate(actor: User, trader_id: int, reason: str) -> Trader:
    trader = db.session.get(Trader, trader_id)
    if trader is None:
        raise NotFound("No such lead trader.")
    if trader.status != "suspended":
        raise IllegalTransition("Only a suspended trader can be reinstated.")
    return _decide(actor, trader_id, "approved", "copy.trader_reinstate", reason, need_reason=True)


# -- reading -------------------------------------------------------------------------------------


def public_query(*, ordering: str | None = None, risk_score: int | None = None, listed_only: bool = True):
    """Approved (and, by default, listed) traders; ``ordering`` one of ORDERINGS, ``-`` for descending."""
    query = select(Trader).where(Trader.status == "approved")
    if listed_only:
        query = query.where(Trader.is_public.is_(True))
    if risk_score is not None:
        query = query.where(Trader.risk_score == risk_score)
    field = (ordering or "-total_followers").lstrip("-")
    if field not in ORDERINGS:
        raise ValidationFailed(
            "Invalid input.", {"ordering": [f"One of {', '.join(ORDERINGS)} (prefix - to reverse)."]}
        )
    column = getattr(Trader, field)
    descending = (ordering or "-total_followers").startswith("-")
    return query.order_by(column.desc() if descending else column.asc(), Trader.id)


def get_public(trader_id: int) -> Trader:
    """An approved trader (listed or not); anything else is not found."""
    trader = db.session.get(Trader, trader_id)
    if trader is None or trader.status != "approved":
        raise NotFound("No such lead trader.")
    return trader


def get_any(trader_id: int) -> Trader:
    trader = db.session.get(Trader, trader_id)
    if trader is None:
        raise NotFound("No such lead trader.")
    return trader


def applications_query(status: str | None = "pending"):
    query = select(Trader)
    if status:
        query = query.where(Trader.status == status)
    return query.order_by(Trader.created_at, Trader.id)


def pending_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Trader).where(Trader.status == "pending")) or 0
