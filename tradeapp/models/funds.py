"""Customer-facing money records: transactions, deposits, withdrawals, idempotency keys.

A Transaction is the history line a customer sees; the money itself moves in the ledger
(``entry_id`` points at the journal entry that completed it).
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.types import Money, UTCDateTime, utcnow
from tradeapp.models.users import User

TRANSACTION_TYPES = (
    "deposit",
    "withdrawal",
    "trade",
    "transfer",
    "loan",
    "loan_repayment",
    "referral_bonus",
    "signal_purchase",
)
TRANSACTION_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
DEPOSIT_METHODS = ("bank_transfer", "card", "crypto")
DEPOSIT_STATUSES = ("pending", "completed", "failed", "rejected", "refunded")
WITHDRAWAL_STATUSES = ("pending", "approved", "processing", "completed", "failed", "rejected", "cancelled")
DESTINATION_TYPES = ("bank_account", "crypto_wallet")

#: a card payment that failed may still succeed on a retry of the same PaymentIntent (Stripe lets
#: the customer try another card)
DEPOSIT_STATES = StateMachine(
    "deposit",
    {
        "pending": ("completed", "failed", "rejected"),
        "completed": ("refunded",),
        "failed": ("completed",),
        "rejected": (),
        "refunded": (),
    },
)
#: pending ──approve (1 or 2 staff)──▶ approved ──payout job──▶ processing ──▶ completed | failed;
#: pending or approved ──reject──▶ rejected; pending ──cancel (owner)──▶ cancelled
WITHDRAWAL_STATES = StateMachine(
    "withdrawal",
    {
        "pending": ("approved", "rejected", "cancelled"),
        "approved": ("processing", "rejected"),
        "processing": ("completed", "failed"),
        "completed": (),
        "failed": (),
        "rejected": (),
        "cancelled": (),
    },
)
assert set(DEPOSIT_STATES.statuses) == set(DEPOSIT_STATUSES)
assert set(WITHDRAWAL_STATES.statuses) == set(WITHDRAWAL_STATUSES)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Transaction(db.Model):
    """One line of a customer's money history."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(_in("transaction_type", TRANSACTION_TYPES), name="type"),
        CheckConstraint(_in("status", TRANSACTION_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("fee >= 0", name="fee_non_negative"),
        Index("ix_transactions_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    transaction_type: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(10))
    #: always positive; the type says which way it went
    amount: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reference_id: Mapped[str] = mapped_column(String(100), unique=True)
    #: the payment processor's or chain's id (Stripe PaymentIntent, tx hash, payout id)
    external_id: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    #: the other customer of a transfer
    counterparty_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: +1 money in, -1 money out (for transfers and trades, where the type alone does not say)
    direction: Mapped[int] = mapped_column(default=1)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    counterparty: Mapped[User | None] = relationship(foreign_keys=[counterparty_id])


class Deposit(Stateful, db.Model):
    """A request to add money by card, bank transfer or crypto."""

    __states__ = DEPOSIT_STATES

    __tablename__ = "deposits"
    __table_args__ = (
        CheckConstraint(_in("payment_method", DEPOSIT_METHODS), name="method"),
        CheckConstraint(_in("status", DEPOSIT_STATUSES), name="status"),
        UniqueConstraint("provider", "provider_ref", name="uq_deposits_provider_ref"),
        Index("ix_deposits_status_created", "status", "created_at"),
        #: the back office's daily figures and reports (completed deposits per day)
        Index("ix_deposits_completed", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", ondelete="RESTRICT"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    payment_method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    currency: Mapped[str] = mapped_column(String(10))
    #: what the customer announced; the credited amount may differ (bank confirmations)
    amount: Mapped[Decimal] = mapped_column(Money())
    credited_amount: Mapped[Decimal | None] = mapped_column(Money())
    payment_details: Mapped[dict] = mapped_column(JSON, default=dict)
    #: stripe, sandbox, bank, crypto
    provider: Mapped[str] = mapped_column(String(20))
    #: PaymentIntent id, bank reference or chain tx hash — unique per provider, so a
    #: webhook or a confirmation can only ever complete one deposit once
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    transaction: Mapped[Transaction] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class CryptoAddress(db.Model):
    """A customer's deposit address for one currency on one network."""

    __tablename__ = "crypto_addresses"
    __table_args__ = (
        UniqueConstraint("user_id", "currency", "network", name="uq_crypto_addresses_user_currency_network"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    currency: Mapped[str] = mapped_column(String(10))
    network: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Withdrawal(Stateful, db.Model):
    """A request to send money out; staff approve it, a payout job sends it."""

    __states__ = WITHDRAWAL_STATES

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint(_in("status", WITHDRAWAL_STATUSES), name="status"),
        CheckConstraint(_in("destination_type", DESTINATION_TYPES), name="destination_type"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("fee >= 0", name="fee_non_negative"),
        Index("ix_withdrawals_status_created", "status", "created_at"),
        #: the back office's daily figures and reports (completed withdrawals per day)
        Index("ix_withdrawals_completed", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", ondelete="RESTRICT"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    currency: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    destination_type: Mapped[str] = mapped_column(String(20))
    destination_details: Mapped[dict] = mapped_column(JSON, default=dict)
    #: the ledger hold reserving amount + fee until the payout settles or fails
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id", ondelete="RESTRICT"), unique=True)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    #: sandbox, manual_bank…; ``payout_ref`` is the provider's id, unique so a payout is sent once
    payout_provider: Mapped[str] = mapped_column(String(20), default="")
    payout_ref: Mapped[str | None] = mapped_column(String(120), unique=True)
    payout_attempts: Mapped[int] = mapped_column(default=0)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    transaction: Mapped[Transaction] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    approvals: Mapped[list["WithdrawalApproval"]] = relationship(
        back_populates="withdrawal", order_by="WithdrawalApproval.id"
    )


class WithdrawalApproval(db.Model):
    """One staff approval; large withdrawals need two from different people."""

    __tablename__ = "withdrawal_approvals"
    __table_args__ = (
        UniqueConstraint("withdrawal_id", "approver_id", name="uq_withdrawal_approvals_withdrawal_approver"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    withdrawal_id: Mapped[int] = mapped_column(ForeignKey("withdrawals.id", ondelete="RESTRICT"), index=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    withdrawal: Mapped[Withdrawal] = relationship(back_populates="approvals")
    approver: Mapped[User] = relationship()


class IdempotencyRecord(db.Model):
    """The first response to a money-moving POST with an ``Idempotency-Key``, replayed on retry."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_records_user_key"),
        Index("ix_idempotency_records_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(255))
    #: sha256 of the request body: the same key with another body is refused
    request_hash: Mapped[str] = mapped_column(String(64))
    #: NULL while the first request is still running
    status_code: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
