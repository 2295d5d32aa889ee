"""Demo data for signals: an in-house and a third-party provider with two plans each, signals whose
outcomes are decided by replaying the pairs' price history, a live one, and the demo customer
subscribed to one plan (charged through the ledger like anyone else). Idempotent: runs once."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import SignalPlan, SignalPlanLink, SignalProvider, TradingPair, TradingSignal, User
from tradeapp.models.signals import signal_plan_pairs
from tradeapp.services.signals import lifecycle, publishing, record, subscriptions
from tradeapp.services.trading import pairs as pair_service
from tradeapp.services.trading import prices

log = logging.getLogger(__name__)

DEMO_EMAIL = "demo@tradeapp.local"
ADMIN_EMAIL = "admin@tradeapp.local"

PROVIDERS = [
    (
        "House Research Desk",
        "in_house",
        "Our own analysts: trend and breakout setups on the majors, every signal with a stop-loss.",
        [
            ("Crypto Essentials", "19.00", 30, 0, 3, ["BTC/USD", "ETH/USD"]),
            ("Crypto Pro", "49.00", 30, 7, 10, ["BTC/USD", "ETH/USD"]),
        ],
        ["BTC/USD", "ETH/USD"],
    ),
    (
        "Atlas FX Signals",
        "third_party",
        "An independent forex desk: intraday mean reversion on EUR/USD and GBP/USD.",
        [
            ("FX Weekly", "9.00", 7, 0, 5, ["EUR/USD", "GBP/USD"]),
            ("FX Monthly", "29.00", 30, 3, 8, ["EUR/USD", "GBP/USD"]),
        ],
        ["EUR/USD", "GBP/USD"],
    ),
]
#: the live signal's stop-loss and take-profit distances (fractions of entry): risk 1.5 %, reward 3 % (2R)
RISK = Decimal("0.015")
REWARD = Decimal("0.03")
#: replayed signals risk this many average hourly ranges, and aim for twice that
RANGES_AT_RISK = Decimal(3)
EVERY = 18  # bars between two replayed signals


def _replay(provider: SignalProvider, pair: TradingPair, plans: list[SignalPlan]) -> int:
    """Signals on past 1h bars, decided by walking the bars that followed them."""
    try:
        rows = pair_service.candles(pair, "1h", 400)["candles"]
    except DomainError:
        return 0
    bars = [
        {
            "time": datetime.fromtimestamp(r[0] / 1000, UTC),
            "high": Decimal(r[2]),
            "low": Decimal(r[3]),
            "close": Decimal(r[4]),
        }
        for r in rows
    ]
    step = Decimal(1).scaleb(-pair.price_precision)
    validity = publishing.validity("1h")
    if not bars:
        return 0
    avg_range = sum((b["high"] - b["low"]) / b["close"] for b in bars) / len(bars)
    risk = max(avg_range * RANGES_AT_RISK, Decimal("0.0005"))
    made = 0
    for i in range(12, len(bars) - 6, EVERY):
        bar = bars[i]
        side = "buy" if bar["close"] >= bars[i - 12]["close"] else "sell"
        entry = bar["close"].quantize(step)
        sign = 1 if side == "buy" else -1
        stop = (entry * (1 - sign * risk)).quantize(step, ROUND_DOWN)
        target = (entry * (1 + sign * 2 * risk)).quantize(step, ROUND_DOWN)
        created = bar["time"] + timedelta(hours=1)
        signal = TradingSignal(
            provider_id=provider.id,
            pair_id=pair.id,
            signal_type=side,
            entry_price=entry,
            stop_loss=stop,
            take_profit=target,
            timeframe="1h",
            confidence=Decimal(55 + (i * 7) % 35),
            analysis=f"{'Momentum up' if side == 'buy' else 'Momentum down'} over the last 12 hours; "
            f"stop {(risk * 100).quantize(Decimal('0.01'))}% away, target twice as far.",
            status="active",
            valid_until=created + validity,
            created_at=created,
            delivered_at=created,
        )
        signal.pair, signal.provider = pair, provider
        decided = None
        for later in bars[i + 1 :]:
            if later["time"] >= signal.valid_until:
                decided = ("expired", later["close"], later["time"])
                break
            outcome = lifecycle.decide(signal, later["high"], later["low"])
            if outcome:
                decided = (*outcome, later["time"] + timedelta(hours=1))
                break
        if decided is None:
            continue  # still open at the end of the history: only the live signal stays active
        status, exit_price, closed = decided
        signal.status, signal.exit_price, signal.closed_at = status, exit_price, closed
        signal.r_multiple = lifecycle.r_multiple(signal, exit_price)
        db.session.add(signal)
        db.session.flush()
        db.session.add_all(SignalPlanLink(signal_id=signal.id, plan_id=p.id, created_at=created) for p in plans)
        made += 1
    return made


def seed_demo_signals() -> list[str]:
    """Providers, plans, replayed signals, a live one, and the demo customer's subscription (once)."""
    if db.session.scalar(select(SignalProvider.id).limit(1)) is not None:
        return []
    created: list[str] = []
    by_symbol = {p.symbol: p for p in db.session.scalars(select(TradingPair))}
    first_plan = None
    live_provider = None
    for name, kind, description, plan_specs, symbols in PROVIDERS:
        provider = SignalProvider(name=name, provider_type=kind, description=description)
        db.session.add(provider)
        db.session.flush()
        plans = []
        for plan_name, price, days, trial, per_day, plan_symbols in plan_specs:
            plan = SignalPlan(
                provider_id=provider.id,
                name=plan_name,
                description=f"{name}: up to {per_day} signals a day.",
                price=Decimal(price),
                currency="USD",
                duration_days=days,
                trial_days=trial,
                max_signals_per_day=per_day,
            )
            plan.pairs = [by_symbol[s] for s in plan_symbols if s in by_symbol]
            db.session.add(plan)
            plans.append(plan)
        db.session.flush()
        replayed = 0
        for symbol in symbols:
            if symbol in by_symbol:
                covering = [
                    p
                    for p in plans
                    if db.session.scalar(
                        select(func.count()).where(
                            signal_plan_pairs.c.plan_id == p.id, signal_plan_pairs.c.pair_id == by_symbol[symbol].id
                        )
                    )
                ]
                replayed += _replay(provider, by_symbol[symbol], covering)
        record.refresh_provider(provider.id)
        created.append(f"signal provider {name} ({len(plans)} plans, {replayed} replayed signals)")
        if first_plan is None:
            first_plan, live_provider = plans[0], provider
    db.session.commit()

    demo = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_EMAIL))
    if demo is not None and first_plan is not None:
        try:
            subscriptions.subscribe(demo, first_plan.id)
            created.append(f"demo subscription to {first_plan.name}")
        except DomainError as exc:
            db.session.rollback()
            created.append(f"demo subscription skipped: {exc.message}")
    admin = db.session.scalar(select(User).where(func.lower(User.email) == ADMIN_EMAIL))
    btc = by_symbol.get("BTC/USD")
    if btc is not None and live_provider is not None:
        try:
            ask = prices.live_quote(btc, fresh=False)["ask"]
            step = Decimal(1).scaleb(-btc.price_precision)
            signal = publishing.publish(
                admin,
                {
                    "provider": live_provider.id,
                    "trading_pair": btc.id,
                    "signal_type": "buy",
                    "entry_price": format(ask.quantize(step), "f"),
                    "stop_loss": str((ask * (1 - RISK)).quantize(step)),
                    "take_profit": str((ask * (1 + REWARD)).quantize(step)),
                    "timeframe": "4h",
                    "confidence": "72",
                    "analysis": "Higher lows on the 4h chart; a break of the range targets 2R.",
                },
            )
            created.append(f"live signal #{signal.id} BUY BTC/USD")
        except DomainError as exc:
            db.session.rollback()
            created.append(f"live signal skipped: {exc.message}")
    return created
