"""Subscriptions to signal plans: paid through the ledger, renewed and expired by jobs.

Lifecycle::

    subscribe ──charge (or trial)──▶ active ──cancel──▶ cancelled ──resume──▶ active
                                        │                   │
                                        └──expires_at reached (expiry job)──▶ expired (final, kept)

A charge is one journal entry, ``signal_purchase``: the customer's wallet in the plan's currency
to the platform's ``subscriptions`` revenue account, plus the customer's history line whose
``reference_id`` (``SIG-<subscription>-<period>``) is unique: a retried request or job can never
charge the same period twice. A charge that the available balance does not cover writes nothing.

Access to signals is ``status in (active, cancelled) and expires_at > now``: cancelling stops the
renewal, never the days already paid for. The renewal job charges subscriptions due within
``RENEW_AHEAD``; one it cannot charge is left to end at ``expires_at`` (the user is told, and a
later run within the window tries again if they topped up). The expiry job ends every current
subscription whose ``expires_at`` passed, so an expired row never blocks a new subscription.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from tradeapp import realtime
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import SignalPlan, SignalSubscription, Transaction, User
from tradeapp.models.signals import CURRENT_STATUSES
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds, Leg
from tradeapp.services.notifications import notify
from tradeapp.services.signals import catalog
from tradeapp.services.signals.kinds import (
    SUBSCRIPTION_EXPIRED,
    SUBSCRIPTION_RENEWAL_FAILED,
    SUBSCRIPTION_RENEWED,
    SUBSCRIPTION_STARTED,
)
from tradeapp.services.uow import unit_of_work
from tradeapp.services.wallets import fmt

log = logging.getLogger(__name__)

#: the renewal job charges subscriptions that end within this window
RENEW_AHEAD = timedelta(hours=1)
REVENUE_ACCOUNT = "subscriptions"
LINK = "/signals/subscriptions"


def _money(amount: Decimal, currency: str) -> str:
    return f"{fmt(amount, currency)} {currency}"


def has_access(sub: SignalSubscription, now: datetime | None = None) -> bool:
    return sub.status in CURRENT_STATUSES and sub.expires_at > (now or utcnow())


def days_remaining(sub: SignalSubscription, now: datetime | None = None) -> int:
    """Whole days left (the seed's ``days_remaining``); 0 once it lost access."""
    if not has_access(sub, now):
        return 0
    return max(0, (sub.expires_at - (now or utcnow())).days)


# -- reading ---------------------------------------------------------------------------------------


def subscriptions_query(user: User):
    """The user's subscriptions, current ones first, newest first."""
    return (
        select(SignalSubscription)
        .where(SignalSubscription.user_id == user.id)
        .order_by(SignalSubscription.expired_at.is_not(None), SignalSubscription.id.desc())
    )


def get_subscription(user: User, subscription_id: int) -> SignalSubscription:
    """:raise NotFound: not one of the user's subscriptions."""
    sub = db.session.scalar(
        select(SignalSubscription).where(
            SignalSubscription.id == subscription_id, SignalSubscription.user_id == user.id
        )
    )
    if sub is None:
        raise NotFound("No such subscription.")
    return sub


def current_plan_ids(user_id: int, now: datetime | None = None) -> list[int]:
    """Plans the user has access to right now."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(SignalSubscription.plan_id).where(
                SignalSubscription.user_id == user_id,
                SignalSubscription.status.in_(CURRENT_STATUSES),
                SignalSubscription.expires_at > now,
            )
        )
    )


def quote(user: User, plan_id: int) -> dict:
    """What subscribing would charge now (the confirm step): amount, trial, expiry, available balance."""
    plan = catalog.get_plan(plan_id)
    trial = _trial_applies(user.id, plan)
    now = utcnow()
    wallet = ledger.wallet_for(user.id, plan.currency) if not user.is_staff else None
    available = wallet.available_balance if wallet is not None else Decimal(0)
    charge = Decimal(0) if trial else plan.price
    days = plan.trial_days if trial else plan.duration_days
    db.session.rollback()  # a quote writes nothing (wallet_for may have created an empty wallet row: fine to drop)
    return {
        "plan": plan,
        "trial": trial,
        "charge": charge,
        "currency": plan.currency,
        "expires_at": now + timedelta(days=days),
        "available": available,
        "enough": available >= charge,
    }


def _trial_applies(user_id: int, plan: SignalPlan) -> bool:
    """A plan's trial is for a customer's first subscription to it only."""
    if plan.trial_days <= 0:
        return False
    return not db.session.scalar(
        select(exists().where(SignalSubscription.user_id == user_id, SignalSubscription.plan_id == plan.id))
    )


# -- charging --------------------------------------------------------------------------------------


def _charge(sub: SignalSubscription, plan: SignalPlan, period: int, uow) -> Transaction:
    """One period's charge: wallet → ``subscriptions`` revenue, and the history line (unique per period).

    :raise InsufficientFunds: nothing is written
    """
    price = plan.price
    wallet = ledger.wallet_for(sub.user_id, plan.currency)
    reference = f"SIG-{sub.id}-{period}"
    entry = ledger.post(
        "signal_purchase",
        [Leg(wallet, -price), Leg(ledger.platform_account(REVENUE_ACCOUNT, plan.currency), price)],
        memo=f"Signal plan {plan.name} (subscription {sub.id}, period {period})",
        reference=f"signal_subscription:{sub.id}:{period}",
    )
    now = utcnow()
    txn = Transaction(
        user_id=sub.user_id,
        transaction_type="signal_purchase",
        currency=plan.currency,
        amount=price,
        fee=Decimal(0),
        status="completed",
        reference_id=reference,
        external_id="",
        notes=f"{plan.provider.name}: {plan.name}, {plan.duration_days} days",
        direction=-1,
        entry_id=entry.id,
        created_at=now,
        completed_at=now,
    )
    db.session.add(txn)
    db.session.flush()
    uow.after_commit(realtime.wallet_updated, wallet)
    uow.after_commit(realtime.transaction_created, txn)
    return txn


# -- customer actions ------------------------------------------------------------------------------


def subscribe(user: User, plan_id: int, *, auto_renew: bool = True) -> SignalSubscription:
    """Subscribe ``user`` to an active plan: charge its price (or start its trial) and set ``expires_at``.

    :raise NotFound: unknown or inactive plan
    :raise ValidationFailed: already subscribed (``already_subscribed``), a staff account
    :raise InsufficientFunds: the available balance does not cover the price (nothing is charged)
    """
    if user.is_staff:
        raise ValidationFailed(
            "Staff accounts cannot subscribe to signals.", {"plan": ["Staff accounts hold no money."]}
        )
    user_id = user.id
    try:
        with unit_of_work() as uow:
            plan = catalog.get_plan(plan_id)
            now = utcnow()
            current = db.session.scalar(
                select(SignalSubscription)
                .where(
                    SignalSubscription.user_id == user_id,
                    SignalSubscription.plan_id == plan.id,
                    SignalSubscription.status.in_(CURRENT_STATUSES),
                )
                .with_for_update()
            )
            if current is not None:
                if current.expires_at > now:
                    raise ValidationFailed(
                        "Already subscribed to this plan.",
                        {"plan": ["You already subscribe to this plan."]},
                        code="already_subscribed",
                    )
                _expire(current, now, uow)  # its time ran out before the expiry job came by
                db.session.flush()
            trial = _trial_applies(user_id, plan)
            days = plan.trial_days if trial else plan.duration_days
            sub = SignalSubscription(
                user_id=user_id,
                plan_id=plan.id,
                status="active",
                started_at=now,
                expires_at=now + timedelta(days=days),
                auto_renew=bool(auto_renew),
                is_trial=trial,
                periods=0,
            )
            sub.plan = plan
            db.session.add(sub)
            db.session.flush()  # a racing subscribe of the same plan fails here, before any charge
            if not trial and plan.price > 0:
                try:
                    _charge(sub, plan, 1, uow)
                except InsufficientFunds:
                    raise InsufficientFunds(
                        f"Insufficient available {plan.currency} balance: this plan costs "
                        f"{_money(plan.price, plan.currency)}.",
                        {"plan": [f"Costs {_money(plan.price, plan.currency)}; more than you have available."]},
                    ) from None
                sub.periods = 1
            what = f"free for {plan.trial_days} days" if trial else _money(plan.price, plan.currency)
            notify(
                user_id,
                SUBSCRIPTION_STARTED,
                f"Subscribed to {plan.name}",
                f"{plan.provider.name}: {what}, until {sub.expires_at:%Y-%m-%d %H:%M} UTC.",
                link=LINK,
                data={"subscription_id": sub.id, "plan_id": plan.id},
                dedupe_key=f"signal_sub:{sub.id}:started",
            )
            uow.keep(sub, plan)
    except IntegrityError:
        raise ValidationFailed(
            "Already subscribed to this plan.",
            {"plan": ["You already subscribe to this plan."]},
            code="already_subscribed",
        ) from None
    log.info("user %s subscribed to plan %s (subscription %s, trial=%s)", user_id, plan_id, sub.id, sub.is_trial)
    return sub


def _lock_own(user: User, subscription_id: int) -> SignalSubscription:
    sub = db.session.scalar(
        select(SignalSubscription)
        .where(SignalSubscription.id == subscription_id, SignalSubscription.user_id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if sub is None:
        raise NotFound("No such subscription.")
    return sub


def cancel(user: User, subscription_id: int) -> SignalSubscription:
    """Stop renewing; access stays until ``expires_at`` and the row stays in the history.

    Cancelling a cancelled subscription changes nothing. :raise IllegalTransition: it already expired
    """
    with unit_of_work() as uow:
        sub = _lock_own(user, subscription_id)
        if sub.status != "cancelled":
            sub.transition_to("cancelled", "This subscription has already ended.")
            sub.auto_renew = False
            sub.cancelled_at = utcnow()
        uow.keep(sub)
    return sub


def resume(user: User, subscription_id: int) -> SignalSubscription:
    """Undo a cancel before the subscription ends: it renews again.

    :raise IllegalTransition: not cancelled, or already past ``expires_at``
    """
    with unit_of_work() as uow:
        sub = _lock_own(user, subscription_id)
        if sub.status != "cancelled" or sub.expires_at <= utcnow():
            raise IllegalTransition("Only a cancelled subscription that has not ended can be resumed.")
        sub.transition_to("active")
        sub.auto_renew = True
        sub.cancelled_at = None
        uow.keep(sub)
    return sub


def set_auto_renew(user: User, subscription_id: int, auto_renew: bool) -> SignalSubscription:
    """Turn renewal of an active subscription on or off (``status`` itself is never written by customers).

    :raise IllegalTransition: the subscription is cancelled or expired (resume it, or subscribe again)
    """
    with unit_of_work() as uow:
        sub = _lock_own(user, subscription_id)
        if sub.auto_renew != bool(auto_renew):
            if sub.status != "active":
                raise IllegalTransition("Only an active subscription's renewal can be changed.")
            sub.auto_renew = bool(auto_renew)
        uow.keep(sub)
    return sub


# -- jobs ------------------------------------------------------------------------------------------


def due_for_renewal(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(SignalSubscription.id)
            .where(
                SignalSubscription.status == "active",
                SignalSubscription.auto_renew.is_(True),
                SignalSubscription.expires_at <= now + RENEW_AHEAD,
                SignalSubscription.expires_at > now,
            )
            .order_by(SignalSubscription.id)
        )
    )


def renew(subscription_id: int, now: datetime | None = None) -> str:
    """Charge the next period of one due subscription; returns ``renewed``, ``failed`` or ``skipped``.

    Locked and re-checked: a second run (or a duplicated job) finds it no longer due and skips.
    """
    now = now or utcnow()
    with unit_of_work() as uow:
        sub = db.session.scalar(
            select(SignalSubscription)
            .where(SignalSubscription.id == subscription_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if (
            sub is None
            or sub.status != "active"
            or not sub.auto_renew
            or sub.expires_at > now + RENEW_AHEAD
            or sub.expires_at <= now
        ):
            uow.rollback()
            return "skipped"
        plan = sub.plan
        period = sub.periods + 1
        if not plan.is_active or not plan.provider.is_active:
            sub.auto_renew = False
            _tell_failed(sub, plan, period, "the plan is no longer offered")
            return "failed"
        try:
            if plan.price > 0:
                _charge(sub, plan, period, uow)
        except InsufficientFunds:
            sub.renewal_failed_at = now
            _tell_failed(sub, plan, period, f"your available {plan.currency} balance does not cover it")
            log.info("subscription %s: renewal %s failed, not enough funds", sub.id, period)
            return "failed"
        sub.periods = period
        sub.expires_at = sub.expires_at + timedelta(days=plan.duration_days)
        sub.is_trial = False
        sub.renewal_failed_at = None
        notify(
            sub.user_id,
            SUBSCRIPTION_RENEWED,
            f"{plan.name} renewed",
            f"Charged {_money(plan.price, plan.currency)}; now until {sub.expires_at:%Y-%m-%d %H:%M} UTC.",
            link=LINK,
            data={"subscription_id": sub.id},
            dedupe_key=f"signal_sub:{sub.id}:renewed:{period}",
        )
    log.info("subscription %s renewed (period %s)", subscription_id, period)
    return "renewed"


def _tell_failed(sub: SignalSubscription, plan: SignalPlan, period: int, why: str) -> None:
    notify(
        sub.user_id,
        SUBSCRIPTION_RENEWAL_FAILED,
        f"{plan.name} could not be renewed",
        f"We could not renew it: {why}. Nothing was charged; it ends {sub.expires_at:%Y-%m-%d %H:%M} UTC.",
        link=LINK,
        data={"subscription_id": sub.id},
        dedupe_key=f"signal_sub:{sub.id}:renewal_failed:{period}",
    )


def renew_due(now: datetime | None = None) -> dict[str, int]:
    """Renew every subscription due within the window, each in its own transaction."""
    counts = {"renewed": 0, "failed": 0, "skipped": 0}
    for sub_id in due_for_renewal(now):
        counts[renew(sub_id, now)] += 1
    db.session.rollback()
    return counts


def _expire(sub: SignalSubscription, now: datetime, uow) -> None:
    sub.transition_to("expired")
    sub.expired_at = now
    sub.auto_renew = False
    plan = sub.plan
    why = " (the renewal could not be charged)" if sub.renewal_failed_at is not None else ""
    notify(
        sub.user_id,
        SUBSCRIPTION_EXPIRED,
        f"{plan.name} has ended",
        f"Your subscription to {plan.provider.name}'s {plan.name} ended{why}. Subscribe again any time.",
        link=LINK,
        data={"subscription_id": sub.id},
        dedupe_key=f"signal_sub:{sub.id}:expired",
    )


def expire_due(now: datetime | None = None) -> int:
    """End every current subscription whose ``expires_at`` passed; each in its own transaction."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(SignalSubscription.id)
            .where(SignalSubscription.status.in_(CURRENT_STATUSES), SignalSubscription.expires_at <= now)
            .order_by(SignalSubscription.id)
        )
    )
    done = 0
    for sub_id in ids:
        with unit_of_work() as uow:
            sub = db.session.scalar(
                select(SignalSubscription)
                .where(SignalSubscription.id == sub_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if sub is None or sub.status not in CURRENT_STATUSES or sub.expires_at > now:
                uow.rollback()
                continue
            _expire(sub, now, uow)
            done += 1
    db.session.rollback()
    return done
