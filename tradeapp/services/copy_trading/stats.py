"""Lead-trader statistics, recomputed by a job from the platform's own ledger, fills and prices.

The equity curve is rebuilt from the trader's postings: after each journal entry, every wallet
balance is valued at the last price the trader's own fills reached for its currency; at an
external flow, at the last price any customer's fill reached before it (so a move since the
trader's last fill is performance, not part of the flow); live prices for currencies never
traded, and for the final point. Only trade entries are performance; any
other entry (deposit, withdrawal, transfer, profit share…) is an external flow, so ROI is
time-weighted: each step's return is ``(V_i − F_i) / V_{i−1}``, chained into an index. Drawdown
is measured on that index, the risk score from its drawdown and the volatility of its steps.
"""

import logging
import math
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.models import CopySubscription, JournalEntry, Posting, Trade, Trader, TradingPair, Wallet
from tradeapp.models.copy_trading import OPEN_SUBSCRIPTION
from tradeapp.models.types import utcnow
from tradeapp.services.trading import prices
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
#: points kept for the chart
CURVE_POINTS = 400
VALUE = "USD"


def _live_price(currency: str, cache: dict) -> Decimal:
    if currency not in cache:
        try:
            found = prices.rate(currency, VALUE)
        except Exception:  # noqa: BLE001 - no market: valued at nothing
            found = None
        cache[currency] = found.value if found is not None else ZERO
    return cache[currency]


def platform_price(currency: str, at) -> Decimal | None:
    """The last price any customer's fill reached for ``currency`` (against USD) at or before ``at``."""
    return db.session.scalar(
        select(Trade.price)
        .join(TradingPair, TradingPair.id == Trade.pair_id)
        .where(TradingPair.base_currency == currency, TradingPair.quote_currency == VALUE, Trade.executed_at <= at)
        .order_by(Trade.executed_at.desc(), Trade.id.desc())
        .limit(1)
    )


def equity_points(user_id: int) -> list[tuple[float, Decimal, Decimal]]:
    """``[(epoch seconds, equity in USD, time-weighted index)]`` from the user's first posting to now."""
    rows = db.session.execute(
        select(JournalEntry.id, JournalEntry.kind, JournalEntry.created_at, Wallet.currency, Posting.amount)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Wallet, Wallet.id == Posting.wallet_id)
        .where(Wallet.user_id == user_id)
        .order_by(JournalEntry.created_at, JournalEntry.id)
    ).all()
    fill_price: dict[int, tuple[str, str, Decimal]] = {
        entry_id: (base, quote, price)
        for entry_id, base, quote, price in db.session.execute(
            select(Trade.entry_id, TradingPair.base_currency, TradingPair.quote_currency, Trade.price)
            .join(TradingPair, TradingPair.id == Trade.pair_id)
            .where(Trade.user_id == user_id)
        )
    }
    live: dict[str, Decimal] = {}
    px: dict[str, Decimal] = {VALUE: ONE}
    balances: dict[str, Decimal] = defaultdict(lambda: ZERO)
    points: list[tuple[float, Decimal, Decimal]] = []
    index, last_value = ONE, ZERO

    def price_of(currency: str) -> Decimal:
        return px[currency] if currency in px else _live_price(currency, live)

    def step(at, deltas: dict[str, Decimal], kind: str, entry_id: int | None) -> None:
        nonlocal index, last_value
        if entry_id in fill_price:
            base, quote, price = fill_price[entry_id]
            px[base] = price * price_of(quote)
        elif kind != "mark":
            # a flow: mark what is held at the platform's last fill before it, so the move since the
            # trader's own last fill counts as performance, not as part of the flow
            for currency, balance in balances.items():
                if balance and currency != VALUE:
                    found = platform_price(currency, at)
                    if found is not None:
                        px[currency] = found
        flow = ZERO
        for currency, delta in deltas.items():
            balances[currency] += delta
            if kind != "trade":
                flow += delta * price_of(currency)
        value = sum((b * price_of(c) for c, b in balances.items() if b), ZERO)
        if last_value > 0:
            index = index * (value - flow) / last_value
        last_value = value
        points.append((at.timestamp(), value, index))

    current = None
    deltas: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for entry_id, kind, created_at, currency, amount in rows:
        if current is not None and current[0] != entry_id:
            step(current[2], deltas, current[1], current[0])
            deltas = defaultdict(lambda: ZERO)
        current = (entry_id, kind, created_at)
        deltas[currency] += amount
    if current is not None:
        step(current[2], deltas, current[1], current[0])
        # the final point: today's prices for everything held
        px.clear()
        px[VALUE] = ONE
        step(utcnow(), {}, "mark", None)
    return points


def _index_at(points, at: float) -> Decimal:
    found = points[0][2]
    for ts, _value, index in points:
        if ts > at:
            break
        found = index
    return found


def summarize(points: list[tuple[float, Decimal, Decimal]], now: float) -> dict:
    """ROI per window (percent), max drawdown (percent) and the step volatility of an equity curve."""
    out = {f"roi_{w}": ZERO for w in WINDOWS} | {"roi_all": ZERO, "max_drawdown": ZERO, "volatility": 0.0}
    if len(points) < 2:
        return out
    last = points[-1][2]
    for name, days in WINDOWS.items():
        start = _index_at(points, now - days * 86400)
        out[f"roi_{name}"] = ((last / start - ONE) * HUNDRED).quantize(Decimal("0.01")) if start > 0 else ZERO
    out["roi_all"] = ((last - ONE) * HUNDRED).quantize(Decimal("0.01"))
    peak, worst = ZERO, ZERO
    returns = []
    previous = None
    for _ts, _value, index in points:
        peak = max(peak, index)
        if peak > 0:
            worst = max(worst, (peak - index) / peak)
        if previous is not None and previous > 0 and index != previous:
            returns.append(float(index / previous - ONE))
        previous = index
    out["max_drawdown"] = (worst * HUNDRED).quantize(Decimal("0.01"))
    if len(returns) > 1:
        mean = sum(returns) / len(returns)
        out["volatility"] = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    return out


def risk_score(max_drawdown: Decimal, volatility: float) -> int:
    """1 (calm) to 10 (wild): one point per 5 % of drawdown and per 1 % of step volatility."""
    return max(1, min(10, 1 + int(max_drawdown / 5) + int(volatility * 100)))


def refresh(trader_id: int) -> Trader | None:
    """Recompute one trader's stats (own unit of work)."""
    trader = db.session.get(Trader, trader_id)
    if trader is None:
        return None
    points = equity_points(trader.user_id)
    summary = summarize(points, utcnow().timestamp())
    sells = (
        db.session.execute(
            select(Trade.realized_pnl).where(Trade.user_id == trader.user_id, Trade.realized_pnl.is_not(None))
        )
        .scalars()
        .all()
    )
    trades = db.session.scalar(select(func.count()).select_from(Trade).where(Trade.user_id == trader.user_id)) or 0
    followers, aum = db.session.execute(
        select(func.count(), func.coalesce(func.sum(CopySubscription.allocated_amount), 0)).where(
            CopySubscription.trader_id == trader.id, CopySubscription.status.in_(OPEN_SUBSCRIPTION)
        )
    ).one()
    stride = max(1, len(points) // CURVE_POINTS)
    curve = [[int(ts), f"{value.quantize(Decimal('0.01'))}", f"{index:.6f}"] for ts, value, index in points[::stride]]
    if points and (not curve or curve[-1][0] != int(points[-1][0])):
        ts, value, index = points[-1]
        curve.append([int(ts), f"{value.quantize(Decimal('0.01'))}", f"{index:.6f}"])
    with unit_of_work():
        trader = db.session.scalar(select(Trader).where(Trader.id == trader_id).with_for_update())
        trader.roi_7d, trader.roi_30d, trader.roi_90d = summary["roi_7d"], summary["roi_30d"], summary["roi_90d"]
        trader.profit_percentage = summary["roi_all"]
        trader.max_drawdown = summary["max_drawdown"]
        trader.risk_score = risk_score(summary["max_drawdown"], summary["volatility"])
        trader.total_profit = sum(sells, ZERO).quantize(Decimal("0.01"))
        trader.win_rate = (
            (HUNDRED * sum(1 for p in sells if p > 0) / len(sells)).quantize(Decimal("0.01")) if sells else ZERO
        )
        trader.total_trades = trades
        trader.total_followers = followers
        trader.assets_under_copy = Decimal(aum)
        trader.equity_curve = curve
        trader.stats_updated_at = utcnow()
    return trader


def refresh_all() -> int:
    """The stats job: every approved or suspended trader."""
    ids = list(db.session.scalars(select(Trader.id).where(Trader.status.in_(("approved", "suspended")))))
    db.session.rollback()
    for trader_id in ids:
        try:
            refresh(trader_id)
        except Exception:  # noqa: BLE001
            db.session.rollback()
            log.exception("stats of trader %s failed", trader_id)
    return len(ids)


def curve(trader: Trader, window: str | None) -> list[dict]:
    """The stored equity curve, cut to ``window`` (7d, 30d, 90d or all) for the chart."""
    points = trader.equity_curve or []
    days = WINDOWS.get(window or "")
    if days:
        since = (utcnow() - timedelta(days=days)).timestamp()
        points = [p for p in points if p[0] >= since]
    return [{"time": p[0], "equity": p[1], "index": p[2]} for p in points]
