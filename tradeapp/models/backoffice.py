"""Back-office tables: account controls (freeze, revoked sessions), staff notes, logins, stored daily reports."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.types import Money, UTCDateTime, utcnow
from tradeapp.models.users import User


class AccountControl(db.Model):
    """Staff controls on one account, kept beside the user row (one row per controlled user).

    A frozen account can log in and see everything but cannot move money or trade
    (``compliance.require_unfrozen`` is the one check services call).
    """

    __tablename__ = "account_controls"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    #: set while the account is frozen
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    frozen_reason: Mapped[str] = mapped_column(Text, default="")
    frozen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: web sessions started and tokens issued before this moment no longer work
    sessions_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: staff forced a password reset: the old password no longer works until the customer sets a new one
    password_reset_forced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    frozen_by: Mapped[User | None] = relationship(foreign_keys=[frozen_by_id])

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class StaffNote(db.Model):
    """A note staff keep about a customer (shown on the user 360; adding one is audited)."""

    __tablename__ = "staff_notes"
    __table_args__ = (Index("ix_staff_notes_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])


class LoginEvent(db.Model):
    """One successful login: when, from where, with what (web session or API token)."""

    __tablename__ = "login_events"
    __table_args__ = (Index("ix_login_events_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: web | api
    channel: Mapped[str] = mapped_column(String(10), default="web")
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DailyReport(db.Model):
    """The daily financial report of one currency, stored by the nightly job so past days never change.

    Client balances move by: deposits − withdrawals − fees − counterparty P&L + other = closing − opening.
    """

    __tablename__ = "daily_reports"
    __table_args__ = (UniqueConstraint("day", "currency", name="uq_daily_reports_day_currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(10))
    opening: Mapped[Decimal] = mapped_column(Money())
    deposits: Mapped[Decimal] = mapped_column(Money())
    deposits_count: Mapped[int] = mapped_column(default=0)
    withdrawals: Mapped[Decimal] = mapped_column(Money())
    withdrawals_count: Mapped[int] = mapped_column(default=0)
    fees: Mapped[Decimal] = mapped_column(Money())
    #: what the trading counterparty account gained in this currency (negative: it lost)
    counterparty_pnl: Mapped[Decimal] = mapped_column(Money())
    #: transfers net out to zero; adjustments, bonuses, loans land here
    other: Mapped[Decimal] = mapped_column(Money())
    closing: Mapped[Decimal] = mapped_column(Money())
    trading_volume: Mapped[Decimal] = mapped_column(Money())
    #: the ledger's own check when the report was stored
    ledger_ok: Mapped[bool] = mapped_column(default=True)
    ledger_problems: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
