"""Read-side queries for the staff trading pages: orders and trades of every user, an order's money trail.

Nothing here writes; staff actions on orders go through ``services.orders``.
"""

from dataclasses import dataclass, fields
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from tradeapp.extensions import db
from tradeapp.models import AuditLog, JournalEntry, Order, PlatformAccount, Posting, Trade, TradingPair, User, Wallet
from tradeapp.models.trading import LIVE_STATUSES
from tradeapp.services.staff_queries import PER_PAGE, _like, start_of_day

#: the status filter's extra value: open or partially filled
LIVE = "live"


@dataclass
class TradeFilters:
    """The trades list's filters; empty values mean "any"."""

    q: str = ""
    pair: str = ""  # symbol, e.g. BTC/USD
    side: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


@dataclass
class OrderFilters(TradeFilters):
    """The orders list's filters: the trades' plus status and type."""

    status: str = ""  # an order status or "live"
    order_type: str = ""


def _user_ids(term: str):
    """Users whose e-mail or username contains ``term`` (case-insensitive), as a subquery."""
    pattern = _like(term)
    return select(User.id).where(
        or_(func.lower(User.email).like(pattern, escape="\\"), func.lower(User.username).like(pattern, escape="\\"))
    )


def _common(query, model, filters: TradeFilters, when):
    if filters.q.strip():
        query = query.where(model.user_id.in_(_user_ids(filters.q.strip())))
    if filters.pair:
        query = query.where(model.pair_id.in_(select(TradingPair.id).where(TradingPair.symbol == filters.pair)))
    if filters.side:
        query = query.where(model.side == filters.side)
    if filters.date_from:
        query = query.where(when >= start_of_day(filters.date_from))
    if filters.date_to:
        query = query.where(when < start_of_day(filters.date_to + timedelta(days=1)))
    return query


def orders_query(filters: OrderFilters):
    """Orders of every user matching ``filters``, newest first."""
    query = _common(select(Order).options(joinedload(Order.pair)), Order, filters, Order.created_at)
    if filters.status == LIVE:
        query = query.where(Order.status.in_(LIVE_STATUSES))
    elif filters.status:
        query = query.where(Order.status == filters.status)
    if filters.order_type:
        query = query.where(Order.order_type == filters.order_type)
    return query.order_by(Order.created_at.desc(), Order.id.desc())


def trades_query(filters: TradeFilters):
    """Fills of every user matching ``filters``, newest first."""
    query = _common(
        select(Trade).options(joinedload(Trade.pair), joinedload(Trade.order)), Trade, filters, Trade.executed_at
    )
    return query.order_by(Trade.executed_at.desc(), Trade.id.desc())


def search_orders(filters: OrderFilters, page: int = 1, per_page: int = PER_PAGE):
    """A page of orders (Flask-SQLAlchemy Pagination)."""
    return db.paginate(orders_query(filters), page=max(page, 1), per_page=per_page, error_out=False)


def search_trades(filters: TradeFilters, page: int = 1, per_page: int = PER_PAGE):
    """A page of trades (Flask-SQLAlchemy Pagination)."""
    return db.paginate(trades_query(filters), page=max(page, 1), per_page=per_page, error_out=False)


def users_by_id(rows) -> dict[int, User]:
    """The owners of ``rows`` (orders or trades) in one query."""
    ids = {row.user_id for row in rows}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


# -- one order -----------------------------------------------------------------------------------


def order_fills(order: Order) -> list[Trade]:
    """The order's fills, oldest first."""
    return list(db.session.scalars(select(Trade).where(Trade.order_id == order.id).order_by(Trade.id)))


@dataclass
class EntryLine:
    """One posting of an entry, named by its account."""

    posting: Posting
    #: a customer wallet's owner (None for platform accounts)
    user_id: int | None
    account: str


def order_entries(order: Order, fills: list[Trade] | None = None) -> list[tuple[JournalEntry, list[EntryLine]]]:
    """Journal entries the order caused (its fills' settlements and any entry referencing it), oldest first."""
    fills = order_fills(order) if fills is None else fills
    ids = {t.entry_id for t in fills}
    # Entries the service tags with the order (e.g. fee or reversal entries), whatever their fills.
    refs = (f"order:{order.id}", f"orders:{order.id}")
    condition = JournalEntry.reference.in_(refs)
    if ids:
        condition = or_(condition, JournalEntry.id.in_(ids))
    entries = list(
        db.session.scalars(
            select(JournalEntry).options(selectinload(JournalEntry.postings)).where(condition).order_by(JournalEntry.id)
        )
    )
    postings = [p for e in entries for p in e.postings]
    wallets = {
        w.id: w
        for w in db.session.scalars(select(Wallet).where(Wallet.id.in_({p.wallet_id for p in postings if p.wallet_id})))
    }
    platform = {
        a.id: a
        for a in db.session.scalars(
            select(PlatformAccount).where(
                PlatformAccount.id.in_({p.platform_account_id for p in postings if p.platform_account_id})
            )
        )
    }
    result = []
    for entry in entries:
        lines = []
        for p in entry.postings:
            if p.wallet_id:
                wallet = wallets[p.wallet_id]
                owner = "" if wallet.user_id == order.user_id else f" of user #{wallet.user_id}"
                lines.append(EntryLine(p, wallet.user_id, f"{wallet.currency} wallet{owner}"))
            else:
                lines.append(EntryLine(p, None, f"{platform[p.platform_account_id].code} (platform)"))
        result.append((entry, lines))
    return result


def order_audit(order: Order, limit: int = 50) -> list[AuditLog]:
    """Audit rows about the order (e.g. a staff cancel), newest first."""
    query = (
        select(AuditLog)
        .options(joinedload(AuditLog.actor))
        .where(AuditLog.target_type == Order.__tablename__, AuditLog.target_id == str(order.id))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))
