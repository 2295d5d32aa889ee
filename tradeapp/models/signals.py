"""Premium signals: providers, their paid plans, customers' subscriptions, the signals analysts
publish, which plans each signal went to, and the per-user delivery rows (the seed's
``SignalNotification``)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.trading import TradingPair
from tradeapp.models.types import Money, UTCDateTime, utcnow
from tradeapp.models.users import User

PROVIDER_TYPES = ("in_house", "third_party")
SIGNAL_TYPES = ("buy", "sell", "close")
SIGNAL_STATUSES = ("active", "hit_tp", "hit_sl", "closed", "expired")
SUBSCRIPTION_STATUSES = ("active", "cancelled", "expired")
#: the statuses that still give access until ``expires_at`` (a cancelled one stops renewing only)
CURRENT_STATUSES = ("active", "cancelled")

#: active ──cancel──▶ cancelled (no renewal, access until expires_at) ──resume──▶ active;
#: either ──expiry job (expires_at reached)──▶ expired, which is final and keeps the history
SUBSCRIPTION_STATES = StateMachine(
    "subscription",
    {
        "active": ("cancelled", "expired"),
        "cancelled": ("active", "expired"),
        "expired": (),
    },
)
#: outcomes are decided by the lifecycle job from platform prices, once
SIGNAL_STATES = StateMachine(
    "signal",
    {
        "active": ("hit_tp", "hit_sl", "closed", "expired"),
        "hit_tp": (),
        "hit_sl": (),
        "closed": (),
        "expired": (),
    },
)
assert set(SUBSCRIPTION_STATES.statuses) == set(SUBSCRIPTION_STATUSES)
assert set(SIGNAL_STATES.statuses) == set(SIGNAL_STATUSES)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SignalProvider(db.Model):
    """Who publishes signals: the house's analysts or a third party. The track record columns are
    a cache recomputed from the signals' outcomes, never typed in."""

    __tablename__ = "signal_providers"
    __table_args__ = (CheckConstraint(_in("provider_type", PROVIDER_TYPES), name="provider_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    provider_type: Mapped[str] = mapped_column(String(20), default="in_house")
    #: percent of decided buy/sell signals that reached their take-profit
    accuracy_rate: Mapped[Decimal] = mapped_column(Money(5, 2), default=Decimal(0))
    #: buy/sell signals published
    total_signals: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


signal_plan_pairs = Table(
    "signal_plan_pairs",
    db.metadata,
    Column("plan_id", ForeignKey("signal_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("pair_id", ForeignKey("trading_pairs.id", ondelete="CASCADE"), primary_key=True),
)


class SignalPlan(db.Model):
    """What a customer pays for: a provider's signals on some pairs, for ``duration_days``."""

    __tablename__ = "signal_plans"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("duration_days > 0", name="duration_positive"),
        CheckConstraint("trial_days >= 0", name="trial_non_negative"),
        CheckConstraint("max_signals_per_day > 0", name="max_signals_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("signal_providers.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    duration_days: Mapped[int] = mapped_column()
    #: free days for a customer's first subscription to this plan (0 = none)
    trial_days: Mapped[int] = mapped_column(default=0)
    max_signals_per_day: Mapped[int] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    provider: Mapped[SignalProvider] = relationship()
    pairs: Mapped[list[TradingPair]] = relationship(secondary=signal_plan_pairs, order_by=TradingPair.symbol)


class SignalSubscription(Stateful, db.Model):
    """A customer's paid (or trial) access to a plan until ``expires_at``."""

    __states__ = SUBSCRIPTION_STATES

    __tablename__ = "signal_subscriptions"
    __table_args__ = (
        CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status"),
        # one current subscription per (user, plan); expired rows are history and never block
        Index(
            "uq_signal_subscriptions_current",
            "user_id",
            "plan_id",
            unique=True,
            postgresql_where=text("status IN ('active', 'cancelled')"),
            sqlite_where=text("status IN ('active', 'cancelled')"),
        ),
        Index("ix_signal_subscriptions_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("signal_plans.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auto_renew: Mapped[bool] = mapped_column(default=True)
    #: the current period started as the plan's free trial
    is_trial: Mapped[bool] = mapped_column(default=False)
    #: paid periods so far (the first charge included); the charge key of the next is ``periods``
    periods: Mapped[int] = mapped_column(default=0)
    #: the last renewal that failed (not enough funds), for the page and the expiry notice
    renewal_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[SignalPlan] = relationship()
    user: Mapped[User] = relationship()


class TradingSignal(Stateful, db.Model):
    """One trade idea: pair, direction, entry, stop-loss, take-profit; its outcome is decided from
    platform prices by the lifecycle job."""

    __states__ = SIGNAL_STATES

    __tablename__ = "trading_signals"
    __table_args__ = (
        CheckConstraint(_in("signal_type", SIGNAL_TYPES), name="signal_type"),
        CheckConstraint(_in("status", SIGNAL_STATUSES), name="status"),
        CheckConstraint("entry_price > 0", name="entry_positive"),
        CheckConstraint("confidence >= 0 AND confidence <= 100", name="confidence_range"),
        Index("ix_trading_signals_provider_created", "provider_id", "created_at"),
        Index("ix_trading_signals_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("signal_providers.id", ondelete="RESTRICT"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    signal_type: Mapped[str] = mapped_column(String(10))
    entry_price: Mapped[Decimal] = mapped_column(Money())
    stop_loss: Mapped[Decimal | None] = mapped_column(Money())
    take_profit: Mapped[Decimal | None] = mapped_column(Money())
    timeframe: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[Decimal] = mapped_column(Money(5, 2))
    analysis: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="active")
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: when the lifecycle job gives up on it (timeframe's validity)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the price the outcome was decided at (take-profit, stop-loss or the last price at expiry)
    exit_price: Mapped[Decimal | None] = mapped_column(Money())
    #: gain in multiples of the risk (entry to stop-loss); None without a stop-loss
    r_multiple: Mapped[Decimal | None] = mapped_column(Money(12, 4))
    #: the fan-out job finished (the signal reached every covered subscriber)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    provider: Mapped[SignalProvider] = relationship()
    pair: Mapped[TradingPair] = relationship()


class SignalPlanLink(db.Model):
    """A signal went to a plan: what subscribers of the plan see, and what its daily limit counts."""

    __tablename__ = "signal_plan_links"

    signal_id: Mapped[int] = mapped_column(ForeignKey("trading_signals.id", ondelete="CASCADE"), primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("signal_plans.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_signal_plan_links_plan_created", "plan_id", "created_at"),)


class SignalNotification(db.Model):
    """A signal delivered to one user (once, however many of their plans cover it), and what they did."""

    __tablename__ = "signal_notifications"
    __table_args__ = (
        UniqueConstraint("signal_id", "user_id", name="uq_signal_notifications_signal_user"),
        Index("ix_signal_notifications_user_sent", "user_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("trading_signals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acted_on: Mapped[bool] = mapped_column(default=False)
    #: the order the user placed from it (execute)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    #: the signal's stop-loss/take-profit still wait for that (resting limit) order to fill
    protection_pending: Mapped[bool] = mapped_column(default=False)

    signal: Mapped[TradingSignal] = relationship()
