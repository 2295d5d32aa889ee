"""Read side of the funds domain: wallets, their value in USD, and the transaction history."""

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from tradeapp.currencies import CURRENCIES, CurrencyError, get_currency
from tradeapp.extensions import db
from tradeapp.models import Transaction, User, Wallet
from tradeapp.models.funds import TRANSACTION_STATUSES, TRANSACTION_TYPES
from tradeapp.services.trading import prices

ZERO = Decimal(0)


def fmt(amount: Decimal | None, currency: str) -> str:
    """``amount`` as a plain string with exactly the currency's decimals (JSON, CSV, pages)."""
    if amount is None:
        return ""
    return format(Decimal(amount).quantize(get_currency(currency).quantum), "f")


# -- wallets -----------------------------------------------------------------------------------------


def list_wallets(user: User) -> list[Wallet]:
    """The user's wallets, in the platform's currency order."""
    order = list(CURRENCIES)
    wallets = db.session.scalars(select(Wallet).where(Wallet.user_id == user.id)).all()
    return sorted(wallets, key=lambda w: order.index(w.currency) if w.currency in order else len(order))


def wallets_query(user: User) -> Select:
    """The user's wallets as a select (for paginated API lists)."""
    return select(Wallet).where(Wallet.user_id == user.id).order_by(Wallet.currency, Wallet.id)


def wallet_or_empty(user: User, currency: str) -> Wallet:
    """The user's wallet in ``currency``, or an unsaved one with zero balances (``id`` None).

    :raise CurrencyError: for an unknown currency
    """
    code = get_currency(currency).code
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user.id, Wallet.currency == code))
    if wallet is None:
        wallet = Wallet(user_id=user.id, currency=code, balance=ZERO, locked_balance=ZERO)
        wallet.created_at = wallet.updated_at = None
    return wallet


@dataclass
class WalletLine:
    wallet: Wallet
    usd: Decimal | None


@dataclass
class Portfolio:
    """The wallets overview: one line per wallet and the total in USD."""

    lines: list[WalletLine] = field(default_factory=list)
    total_usd: Decimal = ZERO
    #: some wallets have no price, so the total leaves them out
    partial: bool = False


def portfolio(user: User) -> Portfolio:
    """Each wallet valued in USD at live prices (:func:`prices.convert`); unpriced ones are left out of the total."""
    result = Portfolio()
    rates: dict[str, prices.Rate | None] = {}
    for wallet in list_wallets(user):
        if wallet.currency not in rates:
            rates[wallet.currency] = prices.rate(wallet.currency, "USD")
        rate = rates[wallet.currency]
        usd = prices.convert(wallet.balance, wallet.currency, "USD", at=rate).amount if rate is not None else None
        result.lines.append(WalletLine(wallet, usd))
        if usd is None:
            result.partial = result.partial or wallet.balance != 0
        else:
            result.total_usd += usd
    return result


# -- history -----------------------------------------------------------------------------------------


@dataclass
class HistoryFilters:
    transaction_type: str | None = None
    currency: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        """Non-empty filters as query-string values (for links: pages, CSV)."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items() if v}


def parse_history_filters(args: Mapping[str, str]) -> tuple[HistoryFilters, dict[str, list[str]]]:
    """Filters from query-string values, and messages for the ones that make no sense."""
    filters = HistoryFilters()
    errors: dict[str, list[str]] = {}
    value = (args.get("transaction_type") or "").strip()
    if value:
        if value in TRANSACTION_TYPES:
            filters.transaction_type = value
        else:
            errors["transaction_type"] = [f"One of: {', '.join(TRANSACTION_TYPES)}."]
    value = (args.get("currency") or "").strip()
    if value:
        try:
            filters.currency = get_currency(value).code
        except CurrencyError as exc:
            errors["currency"] = [str(exc)]
    value = (args.get("status") or "").strip()
    if value:
        if value in TRANSACTION_STATUSES:
            filters.status = value
        else:
            errors["status"] = [f"One of: {', '.join(TRANSACTION_STATUSES)}."]
    for name in ("date_from", "date_to"):
        value = (args.get(name) or "").strip()
        if value:
            try:
                setattr(filters, name, date.fromisoformat(value))
            except ValueError:
                errors[name] = ["Use a date like 2026-01-31."]
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors["date_to"] = ["The end date is before the start date."]
    return filters, errors


def history_query(user: User, filters: HistoryFilters | None = None) -> Select:
    """The user's transactions matching ``filters``, newest first."""
    filters = filters or HistoryFilters()
    query = select(Transaction).where(Transaction.user_id == user.id).options(selectinload(Transaction.counterparty))
    if filters.transaction_type:
        query = query.where(Transaction.transaction_type == filters.transaction_type)
    if filters.currency:
        query = query.where(Transaction.currency == filters.currency)
    if filters.status:
        query = query.where(Transaction.status == filters.status)
    # Dates are whole UTC days, both ends included.
    if filters.date_from:
        query = query.where(Transaction.created_at >= datetime.combine(filters.date_from, time.min, UTC))
    if filters.date_to:
        query = query.where(
            Transaction.created_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, UTC)
        )
    return query.order_by(Transaction.created_at.desc(), Transaction.id.desc())


CSV_COLUMNS = [
    "created_at",
    "reference_id",
    "transaction_type",
    "direction",
    "currency",
    "amount",
    "fee",
    "status",
    "counterparty",
    "external_id",
    "notes",
    "completed_at",
]


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def history_csv(user: User, filters: HistoryFilters | None = None) -> Iterator[str]:
    """The filtered history as CSV text, a chunk of lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    query = history_query(user, filters).execution_options(yield_per=500)
    for n, txn in enumerate(db.session.scalars(query), 1):
        writer.writerow(
            [
                txn.created_at.isoformat(),
                txn.reference_id,
                txn.transaction_type,
                "in" if txn.direction > 0 else "out",
                txn.currency,
                fmt(txn.amount, txn.currency),
                fmt(txn.fee, txn.currency),
                txn.status,
                _csv_safe(txn.counterparty.username) if txn.counterparty else "",
                _csv_safe(txn.external_id or ""),
                _csv_safe(txn.notes or ""),
                txn.completed_at.isoformat() if txn.completed_at else "",
            ]
        )
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
