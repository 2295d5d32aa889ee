"""Analysts publish signals (``signals.publish``): one validation for the staff form, its live
preview and ``POST /api/v1/signals/``.

A signal goes to the provider's active plans that cover its pair and still have room under their
``max_signals_per_day`` (UTC day): a ``SignalPlanLink`` per plan, which is both what the plan's
subscribers see and what its daily limit counts. The plans are locked while counting, so two
analysts publishing at once cannot both take a plan's last slot. Delivery to the subscribers is
the fan-out job, enqueued after the commit.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from sqlalchemy import func, select

from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models import SignalPlan, SignalPlanLink, SignalProvider, TradingPair, TradingSignal, User
from tradeapp.models.signals import SIGNAL_TYPES, signal_plan_pairs
from tradeapp.models.types import utcnow
from tradeapp.services import audit
from tradeapp.services.signals import record
from tradeapp.services.trading import fills
from tradeapp.services.trading.pairs import from_url_symbol
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

#: how long a signal stays active per timeframe before the lifecycle job expires it
DEFAULT_VALIDITY_HOURS = {"1m": 2, "5m": 8, "15m": 24, "1h": 72, "4h": 168, "1d": 720}
ANALYSIS_MAX = 5000
FANOUT_JOB = "tradeapp.jobs.signals.fan_out_signal"


def validity(timeframe: str) -> timedelta:
    """The timeframe's validity: ``SIGNAL_VALIDITY_HOURS`` in the config overrides the defaults."""
    hours = {**DEFAULT_VALIDITY_HOURS, **current_app.config.get("SIGNAL_VALIDITY_HOURS", {})}
    return timedelta(hours=hours.get(timeframe, 72))


@dataclass
class SignalDraft:
    """A checked signal: typed values, and the plans it would go to."""

    provider: SignalProvider
    pair: TradingPair
    signal_type: str
    entry_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    timeframe: str
    confidence: Decimal
    analysis: str
    plans: list[SignalPlan] = field(default_factory=list)

    @property
    def risk_reward(self) -> Decimal | None:
        """Reward per unit of risk (take-profit distance over stop-loss distance)."""
        if self.stop_loss is None or self.take_profit is None:
            return None
        risk = abs(self.entry_price - self.stop_loss)
        return (abs(self.take_profit - self.entry_price) / risk).quantize(Decimal("0.01"), ROUND_DOWN)


def _pair(data: dict, errors: dict) -> TradingPair | None:
    raw = data.get("trading_pair", data.get("pair"))
    pair = None
    if raw not in (None, ""):
        text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        if text.isascii() and text.isdigit() and len(text) < 10:
            pair = db.session.get(TradingPair, int(text))
        elif text:
            pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == from_url_symbol(text)))
    elif data.get("symbol"):
        pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == from_url_symbol(str(data["symbol"]))))
    if pair is None or not pair.is_active:
        errors["trading_pair"] = ["Choose an active trading pair."]
        return None
    return pair


def validate(data: dict) -> SignalDraft:
    """Check a signal's fields: ValidationFailed lists every problem.

    A buy's stop-loss is below its entry and its take-profit above; a sell's the other way round;
    a ``close`` signal takes neither. Prices use the pair's price step.
    """
    errors: dict[str, list[str]] = {}
    provider = None
    raw = data.get("provider", data.get("provider_id"))
    if str(raw or "").isascii() and str(raw or "").isdigit() and len(str(raw)) < 10:
        provider = db.session.get(SignalProvider, int(raw))
    if provider is None or not provider.is_active:
        errors["provider"] = ["Choose an active provider."]
    pair = _pair(data, errors)
    signal_type = str(data.get("signal_type", data.get("type")) or "").strip().lower()
    if signal_type not in SIGNAL_TYPES:
        errors["signal_type"] = [f"One of {', '.join(SIGNAL_TYPES)}."]
    values = {}
    for name in ("entry_price", "stop_loss", "take_profit"):
        value = fills.parse_number(data.get(name), name, errors)
        if value is not None and pair is not None and value != value.quantize(fills.price_step(pair), ROUND_DOWN):
            errors.setdefault(name, []).append(f"Use steps of {fills.price_step(pair):f} {pair.quote_currency}.")
        values[name] = value
    entry, stop, target = values["entry_price"], values["stop_loss"], values["take_profit"]
    if entry is None and "entry_price" not in errors:
        errors["entry_price"] = ["Enter the entry price."]
    if signal_type == "close":
        for name in ("stop_loss", "take_profit"):
            if values[name] is not None:
                errors.setdefault(name, []).append("A close signal takes no stop-loss or take-profit.")
    elif entry is not None and signal_type in ("buy", "sell"):
        below, above = ("stop_loss", "take_profit") if signal_type == "buy" else ("take_profit", "stop_loss")
        label = {"stop_loss": "stop-loss", "take_profit": "take-profit"}
        if values[below] is not None and values[below] >= entry:
            errors.setdefault(below, []).append(f"A {signal_type}'s {label[below]} must be below the entry.")
        if values[above] is not None and values[above] <= entry:
            errors.setdefault(above, []).append(f"A {signal_type}'s {label[above]} must be above the entry.")
    timeframe = str(data.get("timeframe") or "").strip()
    if timeframe not in TIMEFRAMES:
        errors["timeframe"] = [f"One of {', '.join(TIMEFRAMES)}."]
    confidence = fills.parse_number(data.get("confidence"), "confidence", errors)
    if confidence is None and "confidence" not in errors:
        errors["confidence"] = ["Enter a confidence from 0 to 100."]
    elif confidence is not None and (confidence > 100 or confidence != confidence.quantize(Decimal("0.01"))):
        errors["confidence"] = ["A percentage from 0 to 100, at most 2 decimals."]
    analysis = str(data.get("analysis") or "").strip()
    if len(analysis) > ANALYSIS_MAX:
        errors["analysis"] = [f"At most {ANALYSIS_MAX} characters."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return SignalDraft(provider, pair, signal_type, entry, stop, target, timeframe, confidence, analysis)


def _covering_plans(draft: SignalDraft, *, lock: bool) -> list[SignalPlan]:
    query = (
        select(SignalPlan)
        .join(signal_plan_pairs, signal_plan_pairs.c.plan_id == SignalPlan.id)
        .where(
            SignalPlan.provider_id == draft.provider.id,
            SignalPlan.is_active,
            signal_plan_pairs.c.pair_id == draft.pair.id,
        )
        .order_by(SignalPlan.id)
    )
    if lock:
        query = query.with_for_update(of=SignalPlan)
    return list(db.session.scalars(query))


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def sent_today(plan_ids: list[int], now: datetime | None = None) -> dict[int, int]:
    """Signals each plan received since midnight UTC."""
    if not plan_ids:
        return {}
    start = _day_start(now or utcnow())
    rows = db.session.execute(
        select(SignalPlanLink.plan_id, func.count())
        .where(SignalPlanLink.plan_id.in_(plan_ids), SignalPlanLink.created_at >= start)
        .group_by(SignalPlanLink.plan_id)
    ).all()
    return dict(rows)


def _route(draft: SignalDraft, plans: list[SignalPlan], now: datetime) -> list[SignalPlan]:
    """The plans with room today; ValidationFailed when none covers the pair or none has room."""
    if not plans:
        raise ValidationFailed(
            f"No active plan of {draft.provider.name} covers {draft.pair.symbol}.",
            {"trading_pair": [f"No active plan of {draft.provider.name} covers {draft.pair.symbol}."]},
            code="no_plan_covers_pair",
        )
    counts = sent_today([p.id for p in plans], now)
    open_plans = [p for p in plans if counts.get(p.id, 0) < p.max_signals_per_day]
    if not open_plans:
        message = f"Every plan covering {draft.pair.symbol} reached its signals-per-day limit today."
        raise ValidationFailed(message, {"provider": [message]}, code="daily_limit_reached")
    return open_plans


def preview(data: dict) -> dict:
    """The publish form's live preview: the checked signal and the plans it would reach (nothing written)."""
    draft = validate(data)
    now = utcnow()
    plans = _covering_plans(draft, lock=False)
    counts = sent_today([p.id for p in plans], now)
    out = {
        "draft": draft,
        "plans": [(p, counts.get(p.id, 0)) for p in plans],
        "valid_until": now + validity(draft.timeframe),
    }
    db.session.rollback()
    return out


def publish(actor: User, data: dict) -> TradingSignal:
    """Validate and publish a signal; subscribers are reached by the fan-out job after the commit.

    :raise ValidationFailed: bad fields, no plan covering the pair, every covering plan at its daily limit
    """
    draft = validate(data)
    with unit_of_work() as uow:
        now = utcnow()
        plans = _route(draft, _covering_plans(draft, lock=True), now)
        signal = TradingSignal(
            provider_id=draft.provider.id,
            pair_id=draft.pair.id,
            signal_type=draft.signal_type,
            entry_price=draft.entry_price,
            stop_loss=draft.stop_loss,
            take_profit=draft.take_profit,
            timeframe=draft.timeframe,
            confidence=draft.confidence,
            analysis=draft.analysis,
            status="active",
            published_by_id=actor.id if actor is not None else None,
            valid_until=now + validity(draft.timeframe),
            created_at=now,
        )
        signal.provider, signal.pair = draft.provider, draft.pair
        db.session.add(signal)
        db.session.flush()
        db.session.add_all(SignalPlanLink(signal_id=signal.id, plan_id=p.id, created_at=now) for p in plans)
        record.refresh_provider(draft.provider.id)
        audit.record(
            actor,
            "signal.publish",
            signal,
            after={
                "provider": draft.provider.name,
                "pair": draft.pair.symbol,
                "type": draft.signal_type,
                "entry_price": str(draft.entry_price),
                "stop_loss": None if draft.stop_loss is None else str(draft.stop_loss),
                "take_profit": None if draft.take_profit is None else str(draft.take_profit),
                "plans": [p.id for p in plans],
            },
        )
        uow.enqueue(FANOUT_JOB, signal.id, queue="signals", job_id=f"signal-fanout-{signal.id}")
        uow.emit_to_staff("signal_published", {"id": signal.id})
        uow.keep(signal)
    log.info("signal %s published: %s %s to plans %s", signal.id, draft.signal_type, draft.pair.symbol, plans)
    return signal
