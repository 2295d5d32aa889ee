"""The double-entry ledger: wallets, platform accounts, journal entries, postings and holds.

Every movement of money is a JournalEntry whose Postings sum to zero per currency. A posting
moves money into (+) or out of (-) exactly one account: a user's Wallet or a PlatformAccount.
Wallet and platform balances are a cache of their postings, kept in the same transaction;
``locked_balance`` is the sum of the wallet's active Holds. ``flask ledger check`` recomputes
both from scratch.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.types import Money, UTCDateTime, utcnow

#: platform account codes; clearing accounts mirror money held at an outside rail
PLATFORM_ACCOUNTS = {
    "clearing:card": "Card payments clearing (Stripe)",
    "clearing:bank": "Bank transfers clearing",
    "clearing:crypto": "Crypto deposits clearing",
    "payouts_in_flight": "Payouts sent, awaiting settlement",
    "fees": "Fee revenue",
    "loans": "Loan book",
    "loan_losses": "Loan shortfalls written off",
    "bonuses": "Bonuses and referral rewards",
    "referral_bonus": "Referral programme (marketing): rewards paid and clawed back",
    "subscriptions": "Subscription revenue",
    "trading": "Trading counterparty (exchange routing)",
    "adjustments": "Manual adjustments",
}

HOLD_STATUSES = ("active", "posted", "released")
#: a hold closes once nothing remains: posted when any of it was spent, released when none was
HOLD_STATES = StateMachine("hold", {"active": ("posted", "released"), "posted": (), "released": ()})


class Wallet(db.Model):
    """A user's balance in one currency."""

    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("user_id", "currency", name="uq_wallets_user_currency"),
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        CheckConstraint("locked_balance >= 0", name="locked_non_negative"),
        CheckConstraint("balance >= locked_balance", name="available_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    currency: Mapped[str] = mapped_column(String(10))
    #: everything the user owns in this currency
    balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: the part reserved by active holds (open orders, pending withdrawals, collateral…)
    locked_balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def available_balance(self) -> Decimal:
        return self.balance - self.locked_balance


class PlatformAccount(db.Model):
    """The broker's side of postings, per code and currency (may be negative, e.g. clearing)."""

    __tablename__ = "platform_accounts"
    __table_args__ = (UniqueConstraint("code", "currency", name="uq_platform_accounts_code_currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(10))
    balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JournalEntry(db.Model):
    """One balanced movement of money. Immutable: mistakes are corrected by a reversing entry."""

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: deposit, withdrawal, transfer, trade, fee, loan, bonus, subscription, adjustment, reversal
    kind: Mapped[str] = mapped_column(String(30), index=True)
    memo: Mapped[str] = mapped_column(String(255), default="")
    #: the business row that caused it, e.g. ``transaction:17`` or ``order:9``
    reference: Mapped[str] = mapped_column(String(100), default="", index=True)
    #: the entry this one reverses (at most one reversal per entry)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    postings: Mapped[list["Posting"]] = relationship(back_populates="entry", order_by="Posting.id")


class Posting(db.Model):
    """A signed amount into (+) or out of (-) one account, as part of an entry."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("(wallet_id IS NULL) <> (platform_account_id IS NULL)", name="exactly_one_account"),
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        Index("ix_postings_wallet_id", "wallet_id"),
        Index("ix_postings_platform_account_id", "platform_account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"), index=True)
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    platform_account_id: Mapped[int | None] = mapped_column(ForeignKey("platform_accounts.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(Money())

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")


class Hold(Stateful, db.Model):
    """Money reserved in a wallet, later posted (wholly or in parts) or released."""

    __states__ = HOLD_STATES

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        CheckConstraint("status IN ('active', 'posted', 'released')", name="status"),
        Index("ix_holds_wallet_status", "wallet_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    #: what the money is reserved for: order, withdrawal, loan_collateral, subscription…
    reason: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str] = mapped_column(String(100), default="", index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    #: still reserved; posting or releasing reduces it
    remaining: Mapped[Decimal] = mapped_column(Money())
    posted_total: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    wallet: Mapped[Wallet] = relationship()
