"""What the referral pages, the API and the staff console read: stats, lists, monthly series, exports."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select

from tradeapp.extensions import db
from tradeapp.models import Order, Referral, ReferralReward, ReferralTier, User
from tradeapp.models.types import utcnow
from tradeapp.services.referrals import programme

ZERO = Decimal(0)


@dataclass
class Stats:
    """A referrer's programme at a glance (``GET /referrals/stats/``)."""

    total_referrals: int
    qualified_referrals: int
    active_referrals: int
    tier: ReferralTier | None
    next_tier: ReferralTier | None
    paid: dict[str, Decimal] = field(default_factory=dict)
    pending: dict[str, Decimal] = field(default_factory=dict)
    #: held, cancelled and clawed-back amounts are not counted anywhere above
    pending_count: int = 0
    #: the programme's currency
    currency: str = "USD"

    @property
    def to_next(self) -> int | None:
        """Qualified referrals still needed for the next tier (None at the top)."""
        return None if self.next_tier is None else max(self.next_tier.min_referrals - self.qualified_referrals, 0)

    @property
    def progress_percent(self) -> int:
        """How far from this tier's threshold to the next one (100 at the top)."""
        if self.next_tier is None:
            return 100
        start = self.tier.min_referrals if self.tier is not None else 0
        span = self.next_tier.min_referrals - start
        return int(100 * (self.qualified_referrals - start) / span) if span > 0 else 100

    @property
    def commission_percentage(self) -> Decimal:
        return self.tier.commission_percentage if self.tier is not None else ZERO


def stats(user: User) -> Stats:
    total = db.session.scalar(select(func.count()).select_from(User).where(User.referred_by_id == user.id))
    active = db.session.scalar(
        select(func.count()).select_from(User).where(User.referred_by_id == user.id, User.is_active_flag)
    )
    qualified = programme.qualified_count(user.id)
    out = Stats(
        total_referrals=total,
        qualified_referrals=qualified,
        active_referrals=active,
        tier=programme.tier_for(qualified),
        next_tier=programme.next_tier(qualified),
        currency=programme.settings().currency,
    )
    for status, currency, amount in db.session.execute(
        select(ReferralReward.status, ReferralReward.currency, ReferralReward.amount).where(
            ReferralReward.referrer_id == user.id, ReferralReward.status.in_(("paid", "pending", "held"))
        )
    ):
        bucket = out.paid if status == "paid" else out.pending
        bucket[currency] = bucket.get(currency, ZERO) + amount
        if status != "paid":
            out.pending_count += 1
    return out


def rewards_query(user: User, status: str | None = None, reward_type: str | None = None) -> Select:
    query = (
        select(ReferralReward)
        .where(ReferralReward.referrer_id == user.id)
        .order_by(ReferralReward.created_at.desc(), ReferralReward.id.desc())
    )
    if status == "pending":  # held rewards are pending too, for the customer
        query = query.where(ReferralReward.status.in_(("pending", "held")))
    elif status:
        query = query.where(ReferralReward.status == status)
    if reward_type:
        query = query.where(ReferralReward.reward_type == reward_type)
    return query


@dataclass
class ReferredUser:
    """A referee as their referrer may see them: never their e-mail or name."""

    id: int
    username: str
    created_at: datetime
    is_verified: bool
    total_trades: int
    status: str


def referees_query(user: User) -> Select:
    """The users ``user`` referred, newest first."""
    return select(User).where(User.referred_by_id == user.id).order_by(User.created_at.desc(), User.id.desc())


def describe(referees: list[User]) -> list[ReferredUser]:
    """What a referrer may see of ``referees`` (two queries for the whole page)."""
    ids = [u.id for u in referees]
    if not ids:
        return []
    trades = dict(
        db.session.execute(
            select(Order.user_id, func.count())
            .where(Order.user_id.in_(ids), Order.status.in_(("filled", "partially_filled")))
            .group_by(Order.user_id)
        ).all()
    )
    statuses = dict(
        db.session.execute(select(Referral.referee_id, Referral.status).where(Referral.referee_id.in_(ids))).all()
    )
    return [
        ReferredUser(
            u.id, u.username, u.created_at, bool(u.is_verified), int(trades.get(u.id, 0)), statuses.get(u.id, "active")
        )
        for u in referees
    ]


def referred_users(user: User, limit: int = 500) -> list[ReferredUser]:
    return describe(list(db.session.scalars(referees_query(user).limit(limit))))


def _month(value: datetime) -> str:
    return value.strftime("%Y-%m")


def last_months(n: int = 12, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    year, month = now.year, now.month
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(out))


def monthly(user: User, months: int = 12) -> dict:
    """Referrals joined and rewards earned (paid or pending, programme currency only) per month."""
    keys = last_months(months)
    joined = dict.fromkeys(keys, 0)
    earned = dict.fromkeys(keys, ZERO)
    currency = programme.settings().currency
    for (created,) in db.session.execute(select(User.created_at).where(User.referred_by_id == user.id)):
        if _month(created) in joined:
            joined[_month(created)] += 1
    for created, amount in db.session.execute(
        select(ReferralReward.created_at, ReferralReward.amount).where(
            ReferralReward.referrer_id == user.id,
            ReferralReward.currency == currency,
            ReferralReward.status.in_(("paid", "pending", "held")),
        )
    ):
        if _month(created) in earned:
            earned[_month(created)] += amount
    return {
        "months": keys,
        "joined": [joined[k] for k in keys],
        "earned": [earned[k] for k in keys],
        "currency": currency,
    }


# -- staff ---------------------------------------------------------------------------------------------


def held_query() -> Select:
    return select(ReferralReward).where(ReferralReward.status == "held").order_by(ReferralReward.created_at)


def top_referrers(limit: int = 20) -> list[dict]:
    """Referrers by qualified referrals, with what they earned (paid) per currency."""
    rows = db.session.execute(
        select(Referral.referrer_id, func.count(Referral.qualified_at), func.count())
        .where(Referral.status != "disqualified")
        .group_by(Referral.referrer_id)
        .order_by(func.count(Referral.qualified_at).desc(), func.count().desc())
        .limit(limit)
    ).all()
    paid: dict[int, dict[str, Decimal]] = defaultdict(dict)
    ids = [r[0] for r in rows]
    if ids:
        for referrer_id, currency, amount in db.session.execute(
            select(ReferralReward.referrer_id, ReferralReward.currency, ReferralReward.amount).where(
                ReferralReward.referrer_id.in_(ids), ReferralReward.status == "paid"
            )
        ):
            paid[referrer_id][currency] = paid[referrer_id].get(currency, ZERO) + amount
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return [
        {
            "user": users[referrer_id],
            "qualified": qualified,
            "total": total,
            "tier": programme.tier_for(qualified),
            "paid": paid.get(referrer_id, {}),
        }
        for referrer_id, qualified, total in rows
    ]


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula (usernames may start with ``+``, ``-`` or ``@``)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


EXPORT_COLUMNS = (
    "reward_id",
    "created_at",
    "paid_at",
    "referrer_id",
    "referrer",
    "referee",
    "type",
    "status",
    "currency",
    "gross_amount",
    "amount",
    "offset_amount",
    "clawback_outstanding",
    "journal_entry",
    "clawback_entry",
    "reason",
)


def export_rows(start: datetime | None = None, end: datetime | None = None):
    """Every reward in the period for accounting (one row each, ledger entry ids to reconcile against)."""
    query = select(ReferralReward).order_by(ReferralReward.id)
    if start is not None:
        query = query.where(ReferralReward.created_at >= start)
    if end is not None:
        query = query.where(ReferralReward.created_at < end)
    names = {}
    for reward in db.session.scalars(query).yield_per(500):
        for uid in (reward.referrer_id, reward.referee_id):
            if uid not in names:
                names[uid] = db.session.scalar(select(User.username).where(User.id == uid))
        yield [
            reward.id,
            reward.created_at.isoformat(),
            reward.paid_at.isoformat() if reward.paid_at else "",
            reward.referrer_id,
            csv_cell(names[reward.referrer_id]),
            csv_cell(names[reward.referee_id]),
            reward.reward_type,
            reward.status,
            reward.currency,
            f"{reward.gross_amount:f}",
            f"{reward.amount:f}",
            f"{reward.offset_amount:f}",
            f"{reward.clawback_outstanding:f}",
            reward.entry_id or "",
            reward.clawback_entry_id or "",
            csv_cell(reward.reason),
        ]
