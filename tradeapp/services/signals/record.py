"""Providers' track record, computed from the outcomes the lifecycle job decided, never typed in.

Only buy and sell signals count. A signal is *decided* once it hit its take-profit, its
stop-loss, or expired; the hit rate is take-profits over decided signals. Gains are in R
multiples: the move from entry to exit over the risk (entry to stop-loss), so a stop-loss is -1R.
``SignalProvider.accuracy_rate`` and ``total_signals`` cache the overall figures.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.models import SignalProvider, TradingPair, TradingSignal

DECIDED = ("hit_tp", "hit_sl", "expired")
SCORED_TYPES = ("buy", "sell")


def _bucket() -> dict:
    return {"signals": 0, "decided": 0, "hit_tp": 0, "hit_sl": 0, "expired": 0, "r_sum": Decimal(0), "r_count": 0}


def _finish(b: dict) -> dict:
    hit_rate = (
        (Decimal(b["hit_tp"]) * 100 / b["decided"]).quantize(Decimal("0.01"), ROUND_HALF_UP) if b["decided"] else None
    )
    avg_r = (b["r_sum"] / b["r_count"]).quantize(Decimal("0.01"), ROUND_HALF_UP) if b["r_count"] else None
    total_r = b["r_sum"].quantize(Decimal("0.01"), ROUND_HALF_UP)
    return {
        "signals": b["signals"],
        "decided": b["decided"],
        "hit_tp": b["hit_tp"],
        "hit_sl": b["hit_sl"],
        "expired": b["expired"],
        "hit_rate": hit_rate,
        "avg_r": avg_r,
        "total_r": total_r,
    }


def track_record(provider_id: int) -> dict:
    """Overall, per pair and per month (``YYYY-MM``, oldest first): signals, decided, hits, hit rate, R;
    and every decided outcome in order (for the equity curve)."""
    rows = db.session.execute(
        select(
            TradingSignal.status,
            TradingSignal.r_multiple,
            TradingSignal.created_at,
            TradingPair.symbol,
            TradingSignal.closed_at,
        )
        .join(TradingPair, TradingPair.id == TradingSignal.pair_id)
        .where(TradingSignal.provider_id == provider_id, TradingSignal.signal_type.in_(SCORED_TYPES))
        .order_by(TradingSignal.created_at)
    ).all()
    overall = _bucket()
    by_pair: dict[str, dict] = defaultdict(_bucket)
    by_month: dict[str, dict] = defaultdict(_bucket)
    outcomes = []
    for status, r, created, symbol, closed in rows:
        if status in DECIDED:
            outcomes.append((closed or created, status, r if r is not None else Decimal(0)))
        for b in (overall, by_pair[symbol], by_month[created.strftime("%Y-%m")]):
            b["signals"] += 1
            if status in DECIDED:
                b["decided"] += 1
                b[status] += 1
                if r is not None:
                    b["r_sum"] += r
                    b["r_count"] += 1
    return {
        "overall": _finish(overall),
        "by_pair": {k: _finish(v) for k, v in sorted(by_pair.items())},
        "by_month": {k: _finish(v) for k, v in sorted(by_month.items())},
        #: each decided signal in the order it was decided: (when, status, R)
        "outcomes": sorted(outcomes, key=lambda o: o[0]),
    }


def refresh_provider(provider_id: int) -> SignalProvider:
    """Recompute the provider's cached ``accuracy_rate`` and ``total_signals`` (in the caller's transaction)."""
    overall = track_record(provider_id)["overall"]
    provider = db.session.get(SignalProvider, provider_id)
    provider.total_signals = overall["signals"]
    provider.accuracy_rate = overall["hit_rate"] if overall["hit_rate"] is not None else Decimal(0)
    return provider
