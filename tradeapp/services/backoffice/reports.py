"""Financial reports: the daily report per currency, customer balances, trading volume.

The daily report explains how client money moved in one UTC day, per currency::

    closing = opening + deposits − withdrawals − fees − counterparty P&L + other

``fees`` is what the fee account earned (trading and withdrawal fees, paid by clients), the
counterparty P&L what the trading counterparty account gained, ``other`` the rest (transfers net to
zero; adjustments, bonuses, loans). Opening and closing are the clients' wallet postings summed up to
the day's start and end, so the report is the ledger's own arithmetic; ``ledger_ok`` is the full
``ledger check`` at the time. The nightly job stores yesterday's report: a stored day is read back,
never recomputed, so past days do not change.
"""

import csv
import io
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp.extensions import db
from tradeapp.models import (
    DailyReport,
    Deposit,
    JournalEntry,
    PlatformAccount,
    Posting,
    Trade,
    TradingPair,
    User,
    Wallet,
    Withdrawal,
)
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.backoffice.aggregates import ZERO, day_range, grouped
from tradeapp.services.trading import prices
from tradeapp.services.uow import unit_of_work
from tradeapp.templating import money

log = logging.getLogger(__name__)

FIELDS = [
    "currency",
    "opening",
    "deposits",
    "deposits_count",
    "withdrawals",
    "withdrawals_count",
    "fees",
    "counterparty_pnl",
    "other",
    "closing",
    "trading_volume",
    "ledger_ok",
    "ledger_problems",
]


@dataclass
class DayLine:
    """One currency's line of a daily report."""

    currency: str
    opening: Decimal = ZERO
    deposits: Decimal = ZERO
    deposits_count: int = 0
    withdrawals: Decimal = ZERO
    withdrawals_count: int = 0
    fees: Decimal = ZERO
    counterparty_pnl: Decimal = ZERO
    other: Decimal = ZERO
    closing: Decimal = ZERO
    trading_volume: Decimal = ZERO
    ledger_ok: bool = True
    ledger_problems: int = 0

    @property
    def explained(self) -> Decimal:
        """What the named movements account for (the rest is ``other``)."""
        return self.deposits - self.withdrawals - self.fees - self.counterparty_pnl

    @property
    def balances(self) -> bool:
        """The line's arithmetic: opening + movements = closing."""
        return self.opening + self.explained + self.other == self.closing


@dataclass
class DayReport:
    day: date
    lines: list[DayLine] = field(default_factory=list)
    #: read back from the nightly job's stored rows (else computed now)
    stored: bool = False
    stored_at: object = None


def _client_sums(where: list) -> dict[str, Decimal]:
    """Client wallet postings per currency whose journal entries match ``where``."""
    sums = grouped(
        [Posting.currency],
        [Posting.amount],
        [Posting.wallet_id.is_not(None), *where],
        select_from=Posting.__table__.join(JournalEntry.__table__, JournalEntry.id == Posting.entry_id),
    )
    return {cur: values[1] for (cur,), values in sums.items()}


def compute_day(day: date, check: ledger.LedgerReport | None = None) -> DayReport:
    """The daily report of ``day`` (UTC) from the ledger and the deposit, withdrawal and trade rows."""
    start, end = day_range(day, day)
    in_day = [JournalEntry.created_at >= start, JournalEntry.created_at < end]
    opening = _client_sums([JournalEntry.created_at < start])
    moved = _client_sums(in_day)
    platform = grouped(
        [PlatformAccount.code, Posting.currency],
        [Posting.amount],
        in_day,
        select_from=Posting.__table__.join(JournalEntry.__table__, JournalEntry.id == Posting.entry_id).join(
            PlatformAccount.__table__, PlatformAccount.id == Posting.platform_account_id
        ),
    )
    deposits = grouped(
        [Deposit.currency],
        [func.coalesce(Deposit.credited_amount, Deposit.amount)],
        [Deposit.status.in_(("completed", "refunded")), Deposit.completed_at >= start, Deposit.completed_at < end],
    )
    withdrawals = grouped(
        [Withdrawal.currency],
        [Withdrawal.amount],
        [Withdrawal.status == "completed", Withdrawal.completed_at >= start, Withdrawal.completed_at < end],
    )
    volume = grouped(
        [TradingPair.quote_currency],
        [Trade.notional],
        [Trade.executed_at >= start, Trade.executed_at < end],
        select_from=Trade.__table__.join(TradingPair.__table__, TradingPair.id == Trade.pair_id),
    )
    currencies = sorted(
        {*opening, *moved, *(c for _, c in platform), *(c for (c,) in deposits), *(c for (c,) in withdrawals)}
        | {c for (c,) in volume}
    )
    check = check if check is not None else ledger.check()
    problems = len(check.problems())
    report = DayReport(day=day)
    for cur in currencies:
        line = DayLine(currency=cur, ledger_ok=check.ok, ledger_problems=problems)
        line.opening = opening.get(cur, ZERO)
        line.closing = line.opening + moved.get(cur, ZERO)
        if (cur,) in deposits:
            line.deposits_count, line.deposits = deposits[(cur,)][0], deposits[(cur,)][1]
        if (cur,) in withdrawals:
            line.withdrawals_count, line.withdrawals = withdrawals[(cur,)][0], withdrawals[(cur,)][1]
        line.fees = platform.get(("fees", cur), [0, ZERO])[1]
        line.counterparty_pnl = platform.get(("trading", cur), [0, ZERO])[1]
        line.trading_volume = volume.get((cur,), [0, ZERO])[1]
        line.other = line.closing - line.opening - line.explained
        report.lines.append(line)
    return report


def stored_day(day: date) -> DayReport | None:
    rows = list(db.session.scalars(select(DailyReport).where(DailyReport.day == day).order_by(DailyReport.currency)))
    if not rows:
        return None
    lines = [DayLine(**{name: getattr(row, name) for name in FIELDS}) for row in rows]
    return DayReport(day=day, lines=lines, stored=True, stored_at=max(r.created_at for r in rows))


def day_report(day: date) -> DayReport:
    """The stored report of ``day`` when the nightly job kept it, else computed now."""
    return stored_day(day) or compute_day(day)


def store_day(day: date, check: ledger.LedgerReport | None = None) -> DayReport:
    """Store ``day``'s report once (idempotent: a stored day is returned as it was, never recomputed).

    ``check`` reuses a ledger check already made (a backfill of many days checks once).
    """
    existing = stored_day(day)
    if existing is not None:
        return existing
    if day >= utcnow().date():
        raise ValueError("only a finished day can be stored")
    report = compute_day(day, check)
    try:
        with unit_of_work():
            for line in report.lines:
                db.session.add(DailyReport(day=day, **{name: getattr(line, name) for name in FIELDS}))
            if not report.lines:
                # a day without any money: one empty line so the day counts as stored
                db.session.add(DailyReport(day=day, **asdict(DayLine(currency="USD"))))
    except IntegrityError:
        log.info("daily report of %s was stored by another run", day)
    return stored_day(day)


def store_previous_day() -> DayReport:
    """The nightly job's work: keep yesterday's report (UTC)."""
    return store_day(utcnow().date() - timedelta(days=1))


def last_stored() -> DailyReport | None:
    """The newest stored report row (its ledger check is the last nightly check)."""
    return db.session.scalar(select(DailyReport).order_by(DailyReport.created_at.desc()).limit(1))


def day_csv(report: DayReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", *FIELDS, "stored"])
    for line in report.lines:
        values = []
        for name in FIELDS:
            v = getattr(line, name)
            values.append(money(v, line.currency).replace(",", "") if isinstance(v, Decimal) else v)
        writer.writerow([report.day.isoformat(), *values, report.stored])
    return out.getvalue()


# -- customer balances ----------------------------------------------------------------------------


@dataclass
class BalanceLine:
    user_id: int
    email: str
    currency: str
    balance: Decimal
    locked: Decimal
    usd: Decimal | None


def usd_rates(currencies) -> dict[str, prices.Rate | None]:
    """One live USD rate per currency (``prices.rate``), asked once each."""
    out = {}
    for cur in currencies:
        try:
            out[cur] = prices.rate(cur, "USD")
        except Exception:  # noqa: BLE001 - a currency no market prices shows without a USD value
            out[cur] = None
    return out


def _balances_query(currency: str = ""):
    query = (
        select(Wallet.user_id, User.email, Wallet.currency, Wallet.balance, Wallet.locked_balance)
        .join(User, User.id == Wallet.user_id)
        .where(User.role.is_(None), Wallet.balance != ZERO)
        .order_by(Wallet.currency, Wallet.balance.desc(), Wallet.id)
    )
    if currency:
        query = query.where(Wallet.currency == currency.upper())
    return query


@dataclass
class Page:
    """A page of rows (the staff pager's interface: Flask-SQLAlchemy's Pagination has it too)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def customer_balances(currency: str = "", page: int = 1, per_page: int = 50) -> Page:
    """Customers' non-zero wallets, largest first (per currency); a page of rows."""
    query = _balances_query(currency)
    page = max(page, 1)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(db.session.execute(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(rows, page, per_page, total)


def balance_lines(rows) -> list[BalanceLine]:
    rates = usd_rates({r.currency for r in rows})
    lines = []
    for r in rows:
        rate = rates.get(r.currency)
        usd = prices.convert(r.balance, r.currency, "USD", at=rate).amount if rate is not None else None
        lines.append(BalanceLine(r.user_id, r.email, r.currency, r.balance, r.locked_balance, usd))
    return lines


def balances_csv(currency: str = "") -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user_id", "email", "currency", "balance", "locked", "available", "usd_value"])
    rows = list(db.session.execute(_balances_query(currency)))
    for line in balance_lines(rows):
        email = line.email if line.email[:1] not in ("=", "+", "-", "@") else "'" + line.email
        writer.writerow(
            [
                line.user_id,
                email,
                line.currency,
                money(line.balance, line.currency).replace(",", ""),
                money(line.locked, line.currency).replace(",", ""),
                money(line.balance - line.locked, line.currency).replace(",", ""),
                money(line.usd, "USD").replace(",", "") if line.usd is not None else "",
            ]
        )
    return out.getvalue()


# -- trading volume ---------------------------------------------------------------------------------


@dataclass
class VolumeLine:
    symbol: str
    quote_currency: str
    trades: int
    quantity: Decimal
    notional: Decimal
    fees: Decimal


def trading_volume(first: date, last: date) -> list[VolumeLine]:
    """Per pair: trades, quantity, notional (in the quote currency) and fees over ``[first, last]``."""
    start, end = day_range(first, last)
    sums = grouped(
        [TradingPair.symbol, TradingPair.quote_currency],
        [Trade.quantity, Trade.notional, Trade.fee],
        [Trade.executed_at >= start, Trade.executed_at < end],
        select_from=Trade.__table__.join(TradingPair.__table__, TradingPair.id == Trade.pair_id),
    )
    return [
        VolumeLine(symbol, quote, v[0], v[1], v[2], v[3])
        for (symbol, quote), v in sorted(sums.items(), key=lambda kv: kv[0][0])
    ]


def volume_csv(first: date, last: date) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["from", "to", "pair", "quote_currency", "trades", "quantity", "notional", "fees"])
    for line in trading_volume(first, last):
        writer.writerow(
            [
                first.isoformat(),
                last.isoformat(),
                line.symbol,
                line.quote_currency,
                line.trades,
                format(line.quantity.normalize(), "f"),
                money(line.notional, line.quote_currency).replace(",", ""),
                money(line.fees, line.quote_currency).replace(",", ""),
            ]
        )
    return out.getvalue()
