"""Everything staff need about one user on one page: read-only, a bounded query per section."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from tradeapp.extensions import db
from tradeapp.models import (
    AccountControl,
    Deposit,
    JournalEntry,
    KYCDocument,
    LoginEvent,
    Order,
    Position,
    Posting,
    RefreshToken,
    StaffNote,
    Trade,
    Transaction,
    User,
    Wallet,
    Withdrawal,
)
from tradeapp.models.types import utcnow
from tradeapp.services import staff_queries
from tradeapp.services.backoffice import accounts

#: rows per section; each section links to its full list
LIMIT = 20


@dataclass
class Overview:
    """The sections of the user 360."""

    user: User
    control: AccountControl | None
    kyc: list[KYCDocument]
    wallets: list[Wallet]
    postings: list[tuple[Posting, JournalEntry, Wallet]]
    deposits: list[Deposit]
    withdrawals: list[Withdrawal]
    transfers: list[Transaction]
    orders: list[Order]
    positions: list[Position]
    trades: list[Trade]
    logins: list[LoginEvent]
    tokens: list[RefreshToken]
    notes: list[StaffNote]

    @property
    def frozen(self) -> bool:
        return self.control is not None and self.control.frozen_at is not None

    @property
    def has_money(self) -> bool:
        return any(w.balance != Decimal(0) for w in self.wallets)


def _latest(model, user: User, order_column, limit: int = LIMIT, *options) -> list:
    stmt = select(model).where(model.user_id == user.id).order_by(order_column.desc(), model.id.desc()).limit(limit)
    if options:
        stmt = stmt.options(*options)
    return list(db.session.scalars(stmt))


def overview(user: User) -> Overview:
    """Load every section of ``user``'s 360 (each bounded to its newest rows)."""
    postings = list(
        db.session.execute(
            select(Posting, JournalEntry, Wallet)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .join(Wallet, Wallet.id == Posting.wallet_id)
            .where(Wallet.user_id == user.id)
            .order_by(Posting.id.desc())
            .limit(LIMIT)
        ).tuples()
    )
    return Overview(
        user=user,
        control=accounts.control_of(user),
        kyc=_latest(KYCDocument, user, KYCDocument.submitted_at, 10, selectinload(KYCDocument.files)),
        wallets=list(db.session.scalars(select(Wallet).where(Wallet.user_id == user.id).order_by(Wallet.currency))),
        postings=postings,
        deposits=_latest(Deposit, user, Deposit.created_at),
        withdrawals=_latest(Withdrawal, user, Withdrawal.created_at),
        transfers=list(
            db.session.scalars(
                select(Transaction)
                .where(Transaction.user_id == user.id, Transaction.transaction_type == "transfer")
                .order_by(Transaction.created_at.desc(), Transaction.id.desc())
                .limit(LIMIT)
            )
        ),
        orders=_latest(Order, user, Order.created_at, LIMIT, joinedload(Order.pair)),
        positions=list(
            db.session.scalars(
                select(Position)
                .options(joinedload(Position.pair))
                .where(Position.user_id == user.id, Position.quantity > 0)
                .order_by(Position.opened_at.desc())
            )
        ),
        trades=_latest(Trade, user, Trade.executed_at, LIMIT, joinedload(Trade.pair)),
        logins=accounts.logins(user),
        tokens=list(
            db.session.scalars(
                select(RefreshToken)
                .where(
                    RefreshToken.user_id == user.id,
                    RefreshToken.revoked_at.is_(None),
                    RefreshToken.expires_at > utcnow(),
                )
                .order_by(RefreshToken.created_at.desc())
                .limit(LIMIT)
            )
        ),
        notes=accounts.notes(user),
    )


def audit_trail(user: User, limit: int = 50):
    """The audit rows about the user and by the user (staff actions)."""
    return staff_queries.user_audit_trail(user, limit)
