"""The staff dashboard's figures, money first: each an indexed aggregate query, each shown by permission.

Sections a viewer's role does not allow are not computed at all. Bench: ``bench/dashboard_bench.py``
(100,000 customers, 1,000,000 postings).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tradeapp import domains
from tradeapp.extensions import db
from tradeapp.models import (
    AuditLog,
    DailyReport,
    Deposit,
    KYCDocument,
    Order,
    Trade,
    TradingPair,
    User,
    Wallet,
    Withdrawal,
)
from tradeapp.models.trading import LIVE_STATUSES
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services.backoffice import reports
from tradeapp.services.backoffice.aggregates import ZERO, as_date, day_of, day_range, grouped
from tradeapp.services.trading import prices

CHART_DAYS = 30


def _any(user: User, *permissions: str) -> bool:
    return any(has_permission(user, p) for p in permissions)


#: what each section needs (any one of the permissions)
SECTION_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "deposits": ("deposits.manage", "reports.view"),
    "withdrawals": ("withdrawals.manage", "reports.view"),
    "assets": ("ledger.view", "reports.view"),
    "trading": ("trading.view", "reports.view"),
    "open_orders": ("trading.view",),
    "ledger": ("ledger.view",),
    "feed": ("trading.view",),
    "charts": ("reports.view",),
}


@dataclass
class Flow:
    """Count and amount per currency over a period."""

    count: int = 0
    by_currency: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class Queue:
    name: str
    label: str
    count: int
    oldest: datetime | None
    endpoint: str


@dataclass
class Dashboard:
    today: date
    sections: set[str]
    deposits: dict[str, Flow] = field(default_factory=dict)
    withdrawals: dict[str, Flow] = field(default_factory=dict)
    assets: list[tuple[str, Decimal, Decimal | None]] = field(default_factory=list)
    assets_usd: Decimal | None = None
    volume: dict[str, dict[str, tuple[Decimal, Decimal]]] = field(default_factory=dict)
    trades: dict[str, int] = field(default_factory=dict)
    open_orders: int = 0
    queues: list[Queue] = field(default_factory=list)
    ledger_last: object = None
    ledger_drift_at: datetime | None = None
    feed: dict | None = None
    charts: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)

    def shows(self, section: str) -> bool:
        return section in self.sections


def periods(today: date) -> dict[str, tuple[datetime, datetime]]:
    """``today`` and the last 7 days (today included), as UTC ranges."""
    return {"today": day_range(today, today), "week": day_range(today - timedelta(days=6), today)}


def money_flow(model, amount_column, start: datetime, end: datetime, status=("completed",)) -> Flow:
    """Completed rows of ``model`` in ``[start, end)`` by ``completed_at``: count and sum per currency."""
    sums = grouped(
        [model.currency],
        [amount_column],
        [model.status.in_(status), model.completed_at >= start, model.completed_at < end],
    )
    flow = Flow()
    for (cur,), values in sorted(sums.items()):
        flow.count += values[0]
        flow.by_currency[cur] = values[1]
    return flow


def client_assets() -> tuple[list[tuple[str, Decimal, Decimal | None]], Decimal | None]:
    """Customers' balances per currency, and in USD at live prices (None when a currency has no price)."""
    sums = grouped([Wallet.currency], [Wallet.balance], [Wallet.balance != ZERO])
    rates = reports.usd_rates([c for (c,) in sums])
    rows = []
    for (cur,), values in sorted(sums.items()):
        rate = rates.get(cur)
        usd = prices.convert(values[1], cur, "USD", at=rate).amount if rate is not None else None
        rows.append((cur, values[1], usd))
    # the USD total of what has a price (a currency without one shows "—" on its own line)
    return rows, sum((usd for _, _, usd in rows if usd is not None), Decimal(0))


def trading_figures(start: datetime, end: datetime) -> tuple[dict[str, tuple[Decimal, Decimal]], int]:
    """Per quote currency: (volume, fees) of the trades in ``[start, end)``; and the number of trades."""
    sums = grouped(
        [TradingPair.quote_currency],
        [Trade.notional, Trade.fee],
        [Trade.executed_at >= start, Trade.executed_at < end],
        select_from=Trade.__table__.join(TradingPair.__table__, TradingPair.id == Trade.pair_id),
    )
    return {cur: (v[1], v[2]) for (cur,), v in sorted(sums.items())}, sum(v[0] for v in sums.values())


def open_orders() -> int:
    return db.session.scalar(select(func.count()).select_from(Order).where(Order.status.in_(LIVE_STATUSES))) or 0


def _oldest(column, *where) -> tuple[int, datetime | None]:
    count, oldest = db.session.execute(select(func.count(), func.min(column)).where(*where)).one()
    return int(count or 0), oldest


#: the queues with their oldest item: name → (label, permission, endpoint, count-and-oldest query)
QUEUES: dict[str, tuple[str, str, str, Callable[[], tuple[int, datetime | None]]]] = {
    "kyc": (
        "KYC reviews",
        "kyc.review",
        "staff_kyc.queue",
        lambda: _oldest(KYCDocument.submitted_at, KYCDocument.status == "pending"),
    ),
    "deposits": (
        "Deposits to confirm",
        "deposits.manage",
        "staff_deposits.deposits_queue",
        lambda: _oldest(
            Deposit.created_at,
            Deposit.status == "pending",
            Deposit.payment_method.in_(("bank_transfer", "crypto")),
        ),
    ),
    "withdrawals": (
        "Withdrawals to approve",
        "withdrawals.manage",
        "staff_withdrawals.withdrawals_queue",
        lambda: _oldest(Withdrawal.created_at, Withdrawal.status == "pending"),
    ),
}


def queues(user: User) -> list[Queue]:
    """Every work queue the viewer may work, with the age of its oldest item.

    The three core queues know their oldest item; a queue another domain registered (loans…)
    shows its live counter.
    """
    out = []
    for name, (label, permission, endpoint, query) in QUEUES.items():
        if has_permission(user, permission):
            count, oldest = query()
            out.append(Queue(name, label, count, oldest, endpoint))
    registry = domains.registry()
    known = {q.endpoint for q in out} | {entry[2] for entry in QUEUES.values()}
    for entry in registry.nav:
        if entry.counter and entry.endpoint not in known and has_permission(user, entry.permission):
            counter = registry.counters.get(entry.counter)
            if counter is not None:
                out.append(Queue(entry.counter, entry.label, int(counter.count() or 0), None, entry.endpoint))
    return out


def daily_series(days: int = CHART_DAYS, today: date | None = None) -> dict[str, list[tuple[date, Decimal]]]:
    """30 days of deposits, withdrawals, trading volume and fee revenue per day, in USD at today's prices.

    Days the nightly job stored are read from their stored reports (a row per currency); only the
    days not stored yet (today, usually) are aggregated from the rows.
    """
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    series: dict[str, dict[date, Decimal]] = {k: {} for k in ("deposits", "withdrawals", "volume", "revenue")}
    raw: list[tuple[str, str, date, Decimal]] = []
    stored_days: set[date] = set()
    for row in db.session.scalars(select(DailyReport).where(DailyReport.day >= first, DailyReport.day <= today)):
        stored_days.add(row.day)
        raw += [
            ("deposits", row.currency, row.day, row.deposits),
            ("withdrawals", row.currency, row.day, row.withdrawals),
            ("volume", row.currency, row.day, row.trading_volume),
            ("revenue", row.currency, row.day, row.fees),
        ]
    missing = [first + timedelta(days=i) for i in range(days) if first + timedelta(days=i) not in stored_days]
    if missing:
        raw += _live_series(min(missing), today, set(missing))
    rates = reports.usd_rates({cur for _, cur, _, _ in raw})
    for name, cur, d, amount in raw:
        rate = rates.get(cur)
        if rate is None:
            continue
        series[name][d] = series[name].get(d, Decimal(0)) + amount * rate.value
    return {
        name: [(first + timedelta(days=i), values.get(first + timedelta(days=i), Decimal(0))) for i in range(days)]
        for name, values in series.items()
    }


def _live_series(first: date, last: date, wanted: set[date]) -> list[tuple[str, str, date, Decimal]]:
    """Per day and currency from the rows: deposits, withdrawals, volume, fees (trading and withdrawal)."""
    start, end = day_range(first, last)
    raw: list[tuple[str, str, date, Decimal]] = []
    day = day_of(Deposit.completed_at)
    sums = grouped(
        [day, Deposit.currency],
        [func.coalesce(Deposit.credited_amount, Deposit.amount)],
        [Deposit.status.in_(("completed", "refunded")), Deposit.completed_at >= start, Deposit.completed_at < end],
    )
    raw += [("deposits", cur, as_date(d), v[1]) for (d, cur), v in sums.items()]
    day = day_of(Withdrawal.completed_at)
    sums = grouped(
        [day, Withdrawal.currency],
        [Withdrawal.amount, Withdrawal.fee],
        [Withdrawal.status == "completed", Withdrawal.completed_at >= start, Withdrawal.completed_at < end],
    )
    raw += [("withdrawals", cur, as_date(d), v[1]) for (d, cur), v in sums.items()]
    raw += [("revenue", cur, as_date(d), v[2]) for (d, cur), v in sums.items()]
    day = day_of(Trade.executed_at)
    sums = grouped(
        [day, TradingPair.quote_currency],
        [Trade.notional, Trade.fee],
        [Trade.executed_at >= start, Trade.executed_at < end],
        select_from=Trade.__table__.join(TradingPair.__table__, TradingPair.id == Trade.pair_id),
    )
    raw += [("volume", cur, as_date(d), v[1]) for (d, cur), v in sums.items()]
    raw += [("revenue", cur, as_date(d), v[2]) for (d, cur), v in sums.items()]
    return [item for item in raw if item[2] in wanted]


def build(user: User, today: date | None = None) -> Dashboard:
    """The dashboard ``user`` may see (sections their permissions allow, nothing else is queried)."""
    today = today or utcnow().date()
    sections = {name for name, perms in SECTION_PERMISSIONS.items() if _any(user, *perms)}
    board = Dashboard(today=today, sections=sections)
    spans = periods(today)
    if "deposits" in sections:
        amount = func.coalesce(Deposit.credited_amount, Deposit.amount)
        board.deposits = {k: money_flow(Deposit, amount, *span) for k, span in spans.items()}
    if "withdrawals" in sections:
        board.withdrawals = {k: money_flow(Withdrawal, Withdrawal.amount, *span) for k, span in spans.items()}
    if "assets" in sections:
        board.assets, board.assets_usd = client_assets()
    if "trading" in sections:
        for k, span in spans.items():
            board.volume[k], board.trades[k] = trading_figures(*span)
    if "open_orders" in sections:
        board.open_orders = open_orders()
    board.queues = queues(user)
    if "ledger" in sections:
        board.ledger_last = reports.last_stored()
        board.ledger_drift_at = db.session.scalar(
            select(func.max(AuditLog.created_at)).where(AuditLog.action == "ledger.drift_detected")
        )
    if "feed" in sections:
        rows = prices.feed_status()
        board.feed = {
            "pairs": len(rows),
            "stale": sum(1 for r in rows if r["is_active"] and r["stale"]),
            "failures": sum(r["failures"] for r in rows),
        }
    if "charts" in sections:
        board.charts = daily_series(today=today)
    return board


def week_start(today: date) -> date:
    return today - timedelta(days=6)
