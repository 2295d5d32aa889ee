"""Copy trading: lead traders, follower subscriptions, the copy events and each follower's copy.

A master's finished order becomes one :class:`CopySignal` (written in the master's own order
transaction, so no fill is ever lost); the copy job turns it into one :class:`CopiedTrade` per
subscription, unique on (subscription, master order), so a re-run never copies twice.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.ledger import Hold
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.trading import Order, TradingPair
from tradeapp.models.types import Money, UTCDateTime, utcnow
from tradeapp.models.users import User

TRADER_STATES = StateMachine(
    "lead trader",
    {
        "pending": ("approved", "rejected"),
        "approved": ("suspended",),
        "suspended": ("approved",),
        "rejected": ("pending",),
    },
)
TRADER_STATUSES = TRADER_STATES.statuses

#: active copies; paused by the follower; stopped by the portfolio stop or a suspended trader; ended
SUBSCRIPTION_STATES = StateMachine(
    "subscription",
    {
        "active": ("paused", "stopped", "ended"),
        "paused": ("active", "ended"),
        "stopped": ("active", "ended"),
        "ended": (),
    },
)
SUBSCRIPTION_STATUSES = SUBSCRIPTION_STATES.statuses
#: a subscription that still holds its allocation
OPEN_SUBSCRIPTION = ("active", "paused", "stopped")

COPY_STATUSES = ("pending", "copied", "skipped", "failed")
#: why a copy was not made (shown to the follower)
SKIP_REASONS = {
    "insufficient_allocation": "Not enough of the allocation left",
    "slippage": "Price moved past your slippage guard",
    "below_minimum": "Below the pair's minimum order size",
    "market_stale": "Market prices were stale",
    "paused": "Subscription paused",
    "stopped": "Subscription stopped",
    "currency": "Pair not in your allocation's currency",
    "nothing_to_sell": "No copied position to sell",
    "order_failed": "The order could not be placed",
}


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Trader(Stateful, db.Model):
    """A customer approved to be copied (the seed's Trader); its stats come from our own fills."""

    __states__ = TRADER_STATES

    __tablename__ = "traders"
    __table_args__ = (
        CheckConstraint(_in("status", TRADER_STATUSES), name="status"),
        CheckConstraint(
            "profit_share_percentage >= 0 AND profit_share_percentage <= 100", name="profit_share_in_range"
        ),
        CheckConstraint("risk_score >= 1 AND risk_score <= 10", name="risk_score_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    bio: Mapped[str] = mapped_column(Text, default="")
    #: the trader's share of followers' net realised profit above the high-water mark, in percent
    profit_share_percentage: Mapped[Decimal] = mapped_column(Money(8, 2), default=Decimal(0))
    #: listed on the leaderboard (an unlisted trader can still be followed by link)
    is_public: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    #: the staff's reason for a rejection or suspension
    status_reason: Mapped[str] = mapped_column(String(255), default="")
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # -- stats, recomputed by the stats job from fills and prices (the seed's names first)
    total_followers: Mapped[int] = mapped_column(default=0)
    #: realised profit over all time, USD
    total_profit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: time-weighted return over all time, percent
    profit_percentage: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    win_rate: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    total_trades: Mapped[int] = mapped_column(default=0)
    risk_score: Mapped[int] = mapped_column(default=5)
    roi_7d: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    roi_30d: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    roi_90d: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: largest peak-to-trough fall of the time-weighted equity index, percent
    max_drawdown: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: followers' allocations, USD
    assets_under_copy: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: ``[[epoch seconds, equity USD, index], …]`` for the chart
    equity_curve: Mapped[list | None] = mapped_column(JSON)
    stats_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def is_active(self) -> bool:
        """The seed's flag: followable and listed (approved)."""
        return self.status == "approved"


class CopySubscription(Stateful, db.Model):
    """A follower copying one trader with an allocation held in the ledger (the seed's CopyTradingSubscription)."""

    __states__ = SUBSCRIPTION_STATES

    __tablename__ = "copy_subscriptions"
    __table_args__ = (
        CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status"),
        CheckConstraint("copy_percentage > 0 AND copy_percentage <= 100", name="copy_percentage_in_range"),
        CheckConstraint("max_position_size IS NULL OR max_position_size > 0", name="max_position_positive"),
        CheckConstraint(
            "stop_loss_percentage IS NULL OR (stop_loss_percentage > 0 AND stop_loss_percentage <= 100)",
            name="stop_loss_in_range",
        ),
        CheckConstraint(
            "slippage_percentage IS NULL OR (slippage_percentage > 0 AND slippage_percentage <= 100)",
            name="slippage_in_range",
        ),
        CheckConstraint("allocated_amount >= 0", name="allocated_non_negative"),
        # one live subscription per (follower, trader); ended ones stay as history
        Index(
            "uq_copy_subscriptions_live",
            "follower_id",
            "trader_id",
            unique=True,
            postgresql_where=text("status <> 'ended'"),
            sqlite_where=text("status <> 'ended'"),
        ),
        Index("ix_copy_subscriptions_trader_status", "trader_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    trader_id: Mapped[int] = mapped_column(ForeignKey("traders.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    #: share of the follower's available capital allocated to this trader, percent
    copy_percentage: Mapped[Decimal] = mapped_column(Money(8, 2), default=Decimal(100))
    #: cap on one copied order's notional, in the allocation currency
    max_position_size: Mapped[Decimal | None] = mapped_column(Money())
    #: portfolio stop: pause and close the copies when their loss reaches this percent of the allocation
    stop_loss_percentage: Mapped[Decimal | None] = mapped_column(Money(8, 2))
    #: skip a copy whose market price moved more than this percent from the master's fill
    slippage_percentage: Mapped[Decimal | None] = mapped_column(Money(8, 2))
    copy_open_positions: Mapped[bool] = mapped_column(default=False)
    #: the allocation's currency (copies are made in pairs quoted in it)
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    #: the capital allocated (the portfolio stop's base)
    allocated_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: the allocation's uninvested cash, reserved in the follower's wallet
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id", ondelete="RESTRICT"))
    #: cumulative net realised profit of the copied trades (fees included)
    realized_profit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: realised profit already shared: profit share is due only above it
    high_water_mark: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    profit_share_paid: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    status_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    follower: Mapped[User] = relationship()
    trader: Mapped[Trader] = relationship()
    hold: Mapped[Hold | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def cash(self) -> Decimal:
        """What the allocation holds uninvested."""
        hold = self.hold
        return hold.remaining if hold is not None and hold.status == "active" else Decimal(0)


class CopyPosition(db.Model):
    """What one subscription's copies hold in one pair, and what it cost (fees included)."""

    __tablename__ = "copy_positions"
    __table_args__ = (
        UniqueConstraint("subscription_id", "pair_id", name="uq_copy_positions_subscription_pair"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("copy_subscriptions.id", ondelete="RESTRICT"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    pair: Mapped[TradingPair] = relationship()


class CopySignal(db.Model):
    """A lead trader's finished order to copy, written in the order's own transaction."""

    __tablename__ = "copy_signals"
    __table_args__ = (
        Index(
            "ix_copy_signals_unprocessed",
            "created_at",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    master_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), unique=True)
    trader_id: Mapped[int] = mapped_column(ForeignKey("traders.id", ondelete="RESTRICT"), index=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal] = mapped_column(Money())
    #: a sell: the part of the master's position it closed (0-1)
    fraction: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: the master's equity in the pair's quote currency when the order finished
    master_equity: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    master_order: Mapped[Order] = relationship()
    pair: Mapped[TradingPair] = relationship()


class CopiedTrade(db.Model):
    """One follower's copy of one master order (or why it was not made); the seed's CopiedTrade."""

    __tablename__ = "copied_trades"
    __table_args__ = (
        UniqueConstraint("subscription_id", "master_order_id", name="uq_copied_trades_subscription_master"),
        CheckConstraint(_in("status", COPY_STATUSES), name="status"),
        Index("ix_copied_trades_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("copy_subscriptions.id", ondelete="RESTRICT"))
    master_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    follower_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    #: a key of SKIP_REASONS when skipped or failed
    reason: Mapped[str] = mapped_column(String(30), default="")
    detail: Mapped[str] = mapped_column(String(255), default="")
    #: realised profit of this copy (a sell), in the allocation currency
    realized_pnl: Mapped[Decimal | None] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    subscription: Mapped[CopySubscription] = relationship()
    master_order: Mapped[Order] = relationship(foreign_keys=[master_order_id])
    follower_order: Mapped[Order | None] = relationship(foreign_keys=[follower_order_id])

    @property
    def reason_label(self) -> str:
        return SKIP_REASONS.get(self.reason, self.reason)


class ProfitShareSettlement(db.Model):
    """Profit share paid by a follower to a trader for one period (daily, or at unsubscribe)."""

    __tablename__ = "profit_share_settlements"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period", name="uq_profit_share_subscription_period"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("copy_subscriptions.id", ondelete="RESTRICT"))
    trader_id: Mapped[int] = mapped_column(ForeignKey("traders.id", ondelete="RESTRICT"), index=True)
    #: ``YYYY-MM-DD`` for the daily job, ``final`` at unsubscribe
    period: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(10))
    #: realised profit above the high-water mark this settlement shared
    profit: Mapped[Decimal] = mapped_column(Money())
    percentage: Mapped[Decimal] = mapped_column(Money(8, 2))
    amount: Mapped[Decimal] = mapped_column(Money())
    trader_amount: Mapped[Decimal] = mapped_column(Money())
    platform_fee: Mapped[Decimal] = mapped_column(Money())
    high_water_mark_before: Mapped[Decimal] = mapped_column(Money())
    high_water_mark_after: Mapped[Decimal] = mapped_column(Money())
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    subscription: Mapped[CopySubscription] = relationship()
    trader: Mapped[Trader] = relationship()
