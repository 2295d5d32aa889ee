"""Read-side views of the ledger for staff pages."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.models import Hold, JournalEntry, PlatformAccount, Posting, User, Wallet


@dataclass
class PostingLine:
    posting: Posting
    entry: JournalEntry
    wallet: Wallet
    running_balance: Decimal


def platform_balances() -> list[PlatformAccount]:
    return list(db.session.scalars(select(PlatformAccount).order_by(PlatformAccount.code, PlatformAccount.currency)))


def user_wallets(user: User) -> list[Wallet]:
    return list(db.session.scalars(select(Wallet).where(Wallet.user_id == user.id).order_by(Wallet.currency)))


def user_postings(user: User, currency: str | None = None, limit: int = 200) -> list[PostingLine]:
    """The user's postings, newest first, with the running balance after each."""
    query = (
        select(Posting, JournalEntry, Wallet)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Wallet, Wallet.id == Posting.wallet_id)
        .where(Wallet.user_id == user.id)
        .order_by(Posting.id)
    )
    if currency:
        query = query.where(Wallet.currency == currency)
    running: dict[int, Decimal] = {}
    lines = []
    for posting, entry, wallet in db.session.execute(query):
        running[wallet.id] = running.get(wallet.id, Decimal(0)) + posting.amount
        lines.append(PostingLine(posting, entry, wallet, running[wallet.id]))
    return list(reversed(lines))[:limit]


def active_holds(user: User) -> list[Hold]:
    return list(
        db.session.scalars(
            select(Hold)
            .join(Wallet, Wallet.id == Hold.wallet_id)
            .where(Wallet.user_id == user.id, Hold.status == "active")
            .order_by(Hold.id.desc())
        )
    )
