"""Every deposit and withdrawal for staff: filters (status, method, user, dates, amounts), totals, CSV rows.

The queues show what waits; these lists show everything that ever happened, so finance can answer
"what came in last week by card" and export it.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from tradeapp.extensions import db
from tradeapp.models import Deposit, User, Withdrawal
from tradeapp.models.funds import DEPOSIT_METHODS, DEPOSIT_STATUSES, DESTINATION_TYPES, WITHDRAWAL_STATUSES
from tradeapp.services.backoffice.aggregates import day_range, grouped
from tradeapp.templating import money

PER_PAGE = 50
#: the most rows one CSV export holds (a month of a busy broker's deposits fits)
EXPORT_LIMIT = 100_000


@dataclass
class MoneyFilters:
    """The history's filters; empty means any. ``user`` matches an id, or part of an e-mail or username."""

    status: str = ""
    method: str = ""
    currency: str = ""
    user: str = ""
    date_from: date | None = None
    date_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None

    def active(self) -> bool:
        return any(getattr(self, f.name) not in (None, "") for f in fields(self))

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments (for the CSV link and the pager)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ""):
                out[f.name] = value.isoformat() if isinstance(value, date) else str(value)
        return out


@dataclass(frozen=True)
class Kind:
    """What differs between the deposit and the withdrawal history."""

    name: str
    model: type
    method_column: str
    methods: tuple[str, ...]
    statuses: tuple[str, ...]


DEPOSITS = Kind("deposits", Deposit, "payment_method", DEPOSIT_METHODS, DEPOSIT_STATUSES)
WITHDRAWALS = Kind("withdrawals", Withdrawal, "destination_type", DESTINATION_TYPES, WITHDRAWAL_STATUSES)
KINDS = {k.name: k for k in (DEPOSITS, WITHDRAWALS)}


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(kind: Kind, filters: MoneyFilters) -> list:
    model = kind.model
    where = []
    if filters.status:
        where.append(model.status == filters.status)
    if filters.method:
        where.append(getattr(model, kind.method_column) == filters.method)
    if filters.currency:
        where.append(model.currency == filters.currency.upper())
    term = filters.user.strip()
    if term:
        if term.isdigit():
            where.append(model.user_id == int(term))
        else:
            pattern = _like(term)
            users = select(User.id).where(
                or_(
                    func.lower(User.email).like(pattern, escape="\\"),
                    func.lower(User.username).like(pattern, escape="\\"),
                )
            )
            where.append(model.user_id.in_(users))
    if filters.date_from or filters.date_to:
        start, end = day_range(filters.date_from or date(1970, 1, 1), filters.date_to or date(9999, 12, 30))
        if filters.date_from:
            where.append(model.created_at >= start)
        if filters.date_to:
            where.append(model.created_at < end)
    if filters.amount_min is not None:
        where.append(model.amount >= filters.amount_min)
    if filters.amount_max is not None:
        where.append(model.amount <= filters.amount_max)
    return where


def query(kind: Kind, filters: MoneyFilters):
    """Rows matching ``filters``, newest first, with their customer loaded."""
    model = kind.model
    return (
        select(model)
        .options(joinedload(model.user))
        .where(*_where(kind, filters))
        .order_by(model.created_at.desc(), model.id.desc())
    )


def page(kind: Kind, filters: MoneyFilters, number: int = 1, per_page: int = PER_PAGE):
    """A page of the history (Flask-SQLAlchemy Pagination)."""
    return db.paginate(query(kind, filters), page=max(number, 1), per_page=per_page, error_out=False)


@dataclass(frozen=True)
class Total:
    currency: str
    count: int
    amount: Decimal
    fee: Decimal


def totals(kind: Kind, filters: MoneyFilters) -> list[Total]:
    """Count, amount and fee per currency of every row matching ``filters`` (one grouped query)."""
    model = kind.model
    amounts = [model.amount] + ([model.fee] if hasattr(model, "fee") else [])
    sums = grouped([model.currency], amounts, _where(kind, filters))
    out = []
    for (currency,), values in sorted(sums.items()):
        fee = values[2] if len(values) > 2 else Decimal(0)
        out.append(Total(currency, values[0], values[1], fee))
    return out


def _csv_safe(value) -> str:
    """Spreadsheets run cells starting with = + - @: quote them."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(kind: Kind, filters: MoneyFilters) -> Iterator[str]:
    """The filtered history as CSV, header first; amounts exact at the currency's precision, no separators."""
    out = io.StringIO()
    writer = csv.writer(out)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    is_deposit = kind is DEPOSITS
    writer.writerow(
        ["id", "created_at", "completed_at", "user_id", "email", "status", "method", "currency", "amount"]
        + (["credited_amount", "reference"] if is_deposit else ["fee", "reference"])
    )
    yield flush()
    for row in db.session.scalars(query(kind, filters).limit(EXPORT_LIMIT)).yield_per(1000):
        plain = money(row.amount, row.currency).replace(",", "")
        extra = row.credited_amount if is_deposit else row.fee
        writer.writerow(
            [
                row.id,
                row.created_at.isoformat(),
                row.completed_at.isoformat() if row.completed_at else "",
                row.user_id,
                _csv_safe(row.user.email),
                row.status,
                getattr(row, kind.method_column),
                row.currency,
                plain,
                money(extra, row.currency).replace(",", "") if extra is not None else "",
                _csv_safe(row.provider_ref if is_deposit else row.payout_ref),
            ]
        )
        yield flush()
