"""The referral programme: settings, tiers, who referred whom, rewards and commission accruals.

A reward is a promise until its clearing period is over; the payout job then pays it through the
ledger (``referral_bonus`` platform account → the referrer's wallet) in the transaction that marks
it paid, so it is paid at most once. Every reward has a unique ``key`` naming what earned it
(``signup:<referee>``, ``first_deposit:<referee>``, ``commission:<referee>:<currency>:<day>:<n>``),
so a hook or job that runs twice cannot create it twice.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.types import Money, UTCDateTime, utcnow
from tradeapp.models.users import User

REWARD_TYPES = ("signup", "first_deposit", "trading_commission")
REWARD_STATUSES = ("pending", "held", "paid", "cancelled", "clawed_back")
#: pending ──clearing over──▶ paid ──refund/abuse──▶ clawed_back; pending ──suspicious──▶ held
#: ──staff──▶ pending | cancelled; pending ──refund, abuse, cap──▶ cancelled
REWARD_STATES = StateMachine(
    "referral reward",
    {
        "pending": ("held", "paid", "cancelled"),
        "held": ("pending", "cancelled"),
        "paid": ("clawed_back",),
        "cancelled": (),
        "clawed_back": (),
    },
)
REFERRAL_STATUSES = ("active", "held", "disqualified")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReferralSettings(db.Model):
    """The programme's one row of settings (id 1), edited by staff with ``referrals.manage``."""

    __tablename__ = "referral_settings"
    __table_args__ = (
        CheckConstraint("signup_bonus >= 0", name="signup_bonus_non_negative"),
        CheckConstraint("first_deposit_bonus >= 0", name="first_deposit_bonus_non_negative"),
        CheckConstraint("first_deposit_minimum >= 0", name="first_deposit_minimum_non_negative"),
        CheckConstraint("monthly_cap >= 0", name="monthly_cap_non_negative"),
        CheckConstraint("clearing_days >= 0", name="clearing_days_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: currency of the fixed bonuses and of the monthly cap
    currency: Mapped[str] = mapped_column(String(10), default="USD")
    signup_bonus: Mapped[Decimal] = mapped_column(Money(), default=Decimal(10))
    first_deposit_bonus: Mapped[Decimal] = mapped_column(Money(), default=Decimal(20))
    #: the first completed deposit must reach this (in the deposit's currency converted to ``currency``)
    first_deposit_minimum: Mapped[Decimal] = mapped_column(Money(), default=Decimal(100))
    #: days a reward waits before it can be paid (refunds and chargebacks land in this window)
    clearing_days: Mapped[int] = mapped_column(default=14)
    #: the most one referrer may earn per calendar month (UTC), in ``currency``; 0 = no cap
    monthly_cap: Mapped[Decimal] = mapped_column(Money(), default=Decimal(1000))
    #: this many referred sign-ups from one IP or device within ``burst_hours`` are held for review
    burst_signups: Mapped[int] = mapped_column(default=3)
    burst_hours: Mapped[int] = mapped_column(default=24)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ReferralTier(db.Model):
    """A tier: reached with ``min_referrals`` qualified referrals; sets the commission and an extra bonus."""

    __tablename__ = "referral_tiers"
    __table_args__ = (
        CheckConstraint("min_referrals >= 0", name="min_referrals_non_negative"),
        CheckConstraint(
            "commission_percentage >= 0 AND commission_percentage <= 100", name="commission_percentage_range"
        ),
        CheckConstraint("bonus_amount >= 0", name="bonus_amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    min_referrals: Mapped[int] = mapped_column(unique=True)
    #: share of each trading fee a referee pays that goes to the referrer
    commission_percentage: Mapped[Decimal] = mapped_column(Money(10, 4))
    #: added to the sign-up reward of each referral qualified at this tier
    bonus_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def percent(self) -> str:
        """The commission as people write it: ``20``, ``12.5``."""
        return format(self.commission_percentage.normalize(), "f")


class Referral(db.Model):
    """Who referred a user, where they signed up from, and whether the referral counts."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(_in("status", REFERRAL_STATUSES), name="status"),
        Index("ix_referrals_referrer_created", "referrer_id", "created_at"),
        Index("ix_referrals_signup_ip_created", "signup_ip", "created_at"),
        Index("ix_referrals_device_created", "device", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    referee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    signup_ip: Mapped[str] = mapped_column(String(45), default="")
    #: a hash of the browser's signature at sign-up (user agent and languages)
    device: Mapped[str] = mapped_column(String(64), default="")
    #: active; held (a burst of sign-ups: rewards wait for staff); disqualified (self-referral)
    status: Mapped[str] = mapped_column(String(20), default="active")
    reason: Mapped[str] = mapped_column(Text, default="")
    #: when the referee's identity was verified: from then on the referral counts for the tier
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    referrer: Mapped[User] = relationship(foreign_keys=[referrer_id])
    referee: Mapped[User] = relationship(foreign_keys=[referee_id])


class ReferralReward(Stateful, db.Model):
    """One reward a referrer earned from one referee; paid through the ledger after clearing."""

    __states__ = REWARD_STATES

    __tablename__ = "referral_rewards"
    __table_args__ = (
        CheckConstraint(_in("reward_type", REWARD_TYPES), name="reward_type"),
        CheckConstraint(_in("status", REWARD_STATUSES), name="status"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("gross_amount >= amount", name="gross_covers_amount"),
        CheckConstraint("offset_amount >= 0 AND offset_amount <= amount", name="offset_range"),
        CheckConstraint("clawback_outstanding >= 0", name="clawback_outstanding_non_negative"),
        Index("ix_referral_rewards_status_clears", "status", "clears_at"),
        Index("ix_referral_rewards_referrer_created", "referrer_id", "created_at"),
        Index("ix_referral_rewards_referee_type", "referee_id", "reward_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what earned it, unique: the idempotency key of every hook and job that creates rewards
    key: Mapped[str] = mapped_column(String(120), unique=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    referee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reward_type: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(10))
    #: what will be paid (after the monthly cap)
    amount: Mapped[Decimal] = mapped_column(Money())
    #: what was earned before the monthly cap
    gross_amount: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    #: not paid before this moment (created_at + clearing days)
    clears_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: why it was held, cancelled or clawed back
    reason: Mapped[str] = mapped_column(Text, default="")
    #: the deposit that earned a first-deposit reward
    deposit_id: Mapped[int | None] = mapped_column(ForeignKey("deposits.id", ondelete="SET NULL"), index=True)
    #: the referrer's history line and the journal entry of the payout
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="RESTRICT"), unique=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    #: part of ``amount`` kept at payout to settle earlier clawback debt
    offset_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: after a clawback: what could not be taken back yet (a debt against future rewards)
    clawback_outstanding: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    clawback_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    referrer: Mapped[User] = relationship(foreign_keys=[referrer_id])
    referee: Mapped[User] = relationship(foreign_keys=[referee_id])


class ReferralAccrual(db.Model):
    """The commission a referrer earned on one fee posting of a referee's fill (exact, unrounded).

    Summed per day into a ``trading_commission`` reward; rounding happens once, on the sum.
    """

    __tablename__ = "referral_accruals"
    __table_args__ = (
        Index("ix_referral_accruals_open", "reward_id", "accrued_on"),
        Index("ix_referral_accruals_referee", "referee_id", "accrued_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    referee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    #: the fill's journal entry, whose posting to ``fees`` is the fee: one accrual per fee posting
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"), unique=True)
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("trades.id", ondelete="SET NULL"))
    currency: Mapped[str] = mapped_column(String(10))
    fee: Mapped[Decimal] = mapped_column(Money())
    percentage: Mapped[Decimal] = mapped_column(Money(10, 4))
    #: fee × percentage / 100, unrounded
    amount: Mapped[Decimal] = mapped_column(Money())
    accrued_on: Mapped[date] = mapped_column(Date)
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("referral_rewards.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
