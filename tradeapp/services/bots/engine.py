"""Bot evaluation: once per closed bar, every active bot of that timeframe, candles read once per pair.

:func:`run_bar` is what the ``bots`` queue's bar job calls. It reads each pair's candles once,
computes each distinct (strategy, parameters, pair) signal once, and decides per (bot, pair):
the protective levels against the bar's low/high (stop-loss first, then take-profit, then the
trailing stop), then the exit signal when in a position, the entry signal when flat. A bot whose
day's realised plus unrealised loss reached ``max_daily_loss`` is stopped instead, with the
reason recorded and a notification.

Each action is its own unit of work that first inserts the (bot, pair, bar) row of ``bot_runs``:
a retried or duplicated job hits the primary key and does nothing, so no bar ever trades twice.

Fills: live bots place market orders through :func:`tradeapp.services.trading.orders.place`
(``source='bot'``). Paper bots fill with the same pieces on the same live book: the order path's
slippage cap (:func:`~tradeapp.services.trading.execution.market_cap`), its book walk, its
rounding and the pair's taker fee (:mod:`tradeapp.services.trading.fills`), settled against the
bot's paper cash instead of a wallet and the ledger.
"""

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from types import SimpleNamespace

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from tradeapp.currencies import get_currency
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models import BotModel, BotPosition, BotRun, BotTrade, Candle, TradingBot, TradingPair, Wallet
from tradeapp.queues import enqueue
from tradeapp.services import notifications
from tradeapp.services.bots import bots as bot_service
from tradeapp.services.bots import ml, strategies
from tradeapp.services.bots.backtest import frame
from tradeapp.services.trading import fills, orders, prices
from tradeapp.services.trading.execution import market_cap
from tradeapp.services.trading.fills import quantity_step
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
OUTCOME_COUNTS = {"done": "actions", "duplicate": "duplicates", "error": "errors"}
#: the most bars read per pair for one evaluation
MAX_HISTORY = 2000


class BarNotReady(Exception):
    """The bar's candle is not stored yet (the feed syncs about once a minute): retry the job later."""


@dataclass
class Decision:
    bot_id: int
    pair_id: int
    action: str  # buy, sell
    reason: str  # signal, stop_loss, take_profit, trailing_stop
    price: float
    data: dict


def last_closed_bar(timeframe: str, now: float | None = None) -> int:
    """Open time (epoch ms) of the latest bar of ``timeframe`` that has closed by ``now``."""
    size = TIMEFRAMES[timeframe]
    now = datetime.now(UTC).timestamp() if now is None else now
    return int((now // size - 1) * size * 1000)


def history(pair_id: int, timeframe: str, bar_time: int, bars: int) -> pd.DataFrame:
    """The ``bars`` stored candles of the pair up to and including the bar opening at ``bar_time``."""
    rows = db.session.execute(
        select(Candle.open_time, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(Candle.pair_id == pair_id, Candle.timeframe == timeframe, Candle.open_time <= bar_time)
        .order_by(Candle.open_time.desc())
        .limit(bars)
    ).all()
    if not rows:
        return frame([], [], [], [], [], [])
    t, o, h, lo, c, v = zip(*reversed(rows), strict=True)
    df = frame(pd.to_datetime(list(t), unit="ms", utc=True), o, h, lo, c, v)
    df["open_time"] = list(t)
    return df


def _signals(bot: TradingBot, pair: TradingPair, frames: dict, cache: dict, models: dict) -> tuple[bool, bool] | None:
    """(entry, exit) on the last bar for ``bot`` on ``pair``, computed once per distinct setting."""
    strategy = strategies.STRATEGIES[bot.strategy]
    params = dict(bot.parameters or {})
    df = frames.get(pair.id)
    if df is None or df.empty:
        return None
    if strategy.needs_reference:
        others = [p for p in bot.trading_pairs if p.id != pair.id]
        ref = frames.get(others[0].id) if others else None
        if ref is None or ref.empty:
            return None
        params["reference_pair"] = others[0].symbol
        key = (bot.strategy, json.dumps(params, sort_keys=True), pair.id, others[0].id)
        if key not in cache:
            joined = df.join(ref["close"].rename("ref_close"), how="inner")
            entries, exits = strategy.signals(joined, strategy.validate(params))
            ok = len(joined) and joined.index[-1] == df.index[-1]
            cache[key] = (bool(entries.iloc[-1]), bool(exits.iloc[-1])) if ok else None
        return cache[key]
    if strategy.name == "ml_model":
        model = models.get(bot.id)
        if model is None:
            return None  # not trained yet: the training job runs on start
        p = strategy.validate(params)
        x = ml.features(df).iloc[[-1]]
        if x.isna().any(axis=1).iloc[0]:
            return None
        proba = float(ml.predict(model, x.to_numpy())[0])
        return proba > p["probability_threshold"], proba < p["exit_threshold"]
    key = (bot.strategy, json.dumps(params, sort_keys=True), pair.id)
    if key not in cache:
        entries, exits = strategy.signals(df, strategy.validate(params))
        cache[key] = (bool(entries.iloc[-1]), bool(exits.iloc[-1]))
    return cache[key]


def decide(bot: TradingBot, pair: TradingPair, position: BotPosition | None, bar, signal) -> Decision | None:
    """What the bot does on ``pair`` at this bar's close (see the module docstring for the order)."""
    low, high, close = Decimal(str(bar["low"])), Decimal(str(bar["high"])), Decimal(str(bar["close"]))
    base = {"close": float(close), "bar_time": int(bar["open_time"])}
    if position is not None and position.quantity > 0:
        if position.stop_loss is not None and low <= position.stop_loss:
            return Decision(
                bot.id, pair.id, "sell", "stop_loss", float(close), base | {"stop": str(position.stop_loss)}
            )
        if position.take_profit is not None and high >= position.take_profit:
            return Decision(
                bot.id, pair.id, "sell", "take_profit", float(close), base | {"target": str(position.take_profit)}
            )
        if bot.trailing_stop_percentage > 0 and position.trail_high is not None:
            peak = max(position.trail_high, high)
            trail = peak * (1 - bot.trailing_stop_percentage / HUNDRED)
            if low <= trail:
                return Decision(bot.id, pair.id, "sell", "trailing_stop", float(close), base | {"trail": str(trail)})
        if signal is not None and signal[1]:
            return Decision(bot.id, pair.id, "sell", "signal", float(close), base | {"signal": "exit"})
        return None
    if signal is not None and signal[0]:
        return Decision(bot.id, pair.id, "buy", "signal", float(close), base | {"signal": "entry"})
    return None


def run_bar(timeframe: str, bar_time: int, *, require_candles: bool = True) -> dict:
    """Evaluate every active bot of ``timeframe`` on the bar opening at ``bar_time`` (epoch ms).

    Returns counts: bots, pairs, actions taken, stopped by the daily-loss limit, skipped.
    :raise BarNotReady: when ``require_candles`` and no active pair has the bar stored yet
    """
    bots = db.session.scalars(
        select(TradingBot)
        .where(TradingBot.is_active.is_(True), TradingBot.timeframe == timeframe)
        .options(selectinload(TradingBot.trading_pairs))
    ).all()
    counts = {"bots": len(bots), "pairs": 0, "actions": 0, "stopped": 0, "duplicates": 0, "errors": 0, "missing": 0}
    if not bots:
        db.session.rollback()
        return counts
    pairs = {p.id: p for bot in bots for p in bot.trading_pairs}
    counts["pairs"] = len(pairs)
    need = {}
    for bot in bots:
        strategy = strategies.STRATEGIES[bot.strategy]
        try:
            warm = strategy.warmup(strategy.validate(dict(bot.parameters or {}) | {"reference_pair": ""}))
        except DomainError:
            warm = 200
        for pair in bot.trading_pairs:
            need[pair.id] = min(max(need.get(pair.id, 0), warm), MAX_HISTORY)
    # Candles: one read per pair and timeframe for all bots.
    frames = {pid: history(pid, timeframe, bar_time, bars) for pid, bars in need.items()}
    frames = {pid: df for pid, df in frames.items() if len(df) and int(df["open_time"].iloc[-1]) == bar_time}
    counts["missing"] = len(need) - len(frames)
    if require_candles and not frames:
        db.session.rollback()
        raise BarNotReady(f"no {timeframe} candle opening at {bar_time} stored yet")
    bot_ids = [b.id for b in bots]
    positions = {
        (p.bot_id, p.pair_id): p for p in db.session.scalars(select(BotPosition).where(BotPosition.bot_id.in_(bot_ids)))
    }
    models, trained_until = {}, {}
    ml_bots = [b for b in bots if b.strategy == "ml_model"]
    if ml_bots:
        ml_ids = [b.id for b in ml_bots]
        for row in db.session.scalars(select(BotModel).where(BotModel.bot_id.in_(ml_ids)).order_by(BotModel.version)):
            models[row.bot_id], trained_until[row.bot_id] = row.model, row.trained_until
    stale_models = [b.id for b in ml_bots if _needs_training(b, trained_until.get(b.id), bar_time)]
    day_start = datetime.fromtimestamp(bar_time / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    limited = [b.id for b in bots if b.max_daily_loss > 0]
    realised = bot_service.daily_realised(limited, day_start)

    cache: dict = {}
    decisions: list[Decision] = []
    to_stop: list[tuple[int, str]] = []
    for bot in bots:
        if bot.max_daily_loss > 0:
            loss = realised.get(bot.id, ZERO)
            for pair in bot.trading_pairs:
                position = positions.get((bot.id, pair.id))
                df = frames.get(pair.id)
                if position is not None and position.quantity > 0 and df is not None:
                    loss += position.quantity * Decimal(str(df["close"].iloc[-1])) - position.cost
            if loss <= -bot.max_daily_loss:
                to_stop.append(
                    (
                        bot.id,
                        f"Daily loss limit reached: {loss.quantize(Decimal('0.01'))} {bot_service.quote_currency(bot)} "
                        f"today (limit {bot.max_daily_loss.normalize():f}).",
                    )
                )
                continue
        for pair in bot.trading_pairs:
            df = frames.get(pair.id)
            if df is None or not pair.is_active:  # a pair closed by the broker is not traded
                continue
            try:
                signal = _signals(bot, pair, frames, cache, models)
            except DomainError as exc:
                log.warning("bot %s on %s: %s", bot.id, pair.symbol, exc)
                continue
            decision = decide(bot, pair, positions.get((bot.id, pair.id)), df.iloc[-1], signal)
            if decision is not None:
                decisions.append(decision)
    # Every evaluated bot ran at this bar: one statement for all of them.
    db.session.execute(update(TradingBot).where(TradingBot.id.in_(bot_ids)).values(last_run_at=datetime.now(UTC)))
    db.session.commit()

    for bot_id in stale_models:
        # Walk forward live as in the backtest: a new model version every ``retrain_every`` bars.
        enqueue("tradeapp.jobs.bots.train_model", bot_id, queue="bots", job_id=f"bot-train-{bot_id}-{bar_time}")
    for bot_id, reason in to_stop:
        if stop_for_daily_loss(bot_id, bar_time, reason):
            counts["stopped"] += 1
    books: dict[int, dict] = {}
    for decision in decisions:
        outcome = act(decision, bar_time, pairs[decision.pair_id], books)
        if outcome in OUTCOME_COUNTS:
            counts[OUTCOME_COUNTS[outcome]] += 1
    return counts


def _needs_training(bot: TradingBot, trained_until: int | None, bar_time: int) -> bool:
    if trained_until is None:
        return True
    try:
        every = strategies.get("ml_model").validate(bot.parameters)["retrain_every"]
    except DomainError:
        return False
    return bar_time - trained_until >= every * TIMEFRAMES[bot.timeframe] * 1000


def stop_for_daily_loss(bot_id: int, bar_time: int, reason: str) -> bool:
    """Stop the bot for its daily loss (once: the run row of the bar makes a repeat a no-op)."""
    try:
        with unit_of_work() as uow:
            db.session.add(BotRun(bot_id=bot_id, pair_id=_any_pair(bot_id), bar_time=bar_time, action="daily_loss"))
            db.session.flush()
            bot = db.session.scalar(select(TradingBot).where(TradingBot.id == bot_id).with_for_update())
            if bot is None or not bot.is_active:
                uow.rollback()
                return False
            bot_service.stop_locked(bot, reason, uow)
    except IntegrityError:
        db.session.rollback()
        return False
    log.info("bot %s stopped: %s", bot_id, reason)
    return True


def _any_pair(bot_id: int) -> int:
    from tradeapp.models.bots import bot_pairs

    return db.session.scalar(select(bot_pairs.c.pair_id).where(bot_pairs.c.bot_id == bot_id).limit(1))


def _book(pair: TradingPair, books: dict) -> dict:
    if pair.id not in books:
        books[pair.id] = prices.live_book(pair)
    return books[pair.id]


def act(decision: Decision, bar_time: int, pair: TradingPair, books: dict) -> str:
    """Carry out one decision in its own unit of work, claiming (bot, pair, bar) first.

    Returns ``done``, ``duplicate`` (the bar already acted), ``nothing`` (no longer applies) or ``error``.
    """
    try:
        with unit_of_work() as uow:
            db.session.add(
                BotRun(bot_id=decision.bot_id, pair_id=decision.pair_id, bar_time=bar_time, action=decision.action)
            )
            db.session.flush()  # the claim: a duplicate stops here
            bot = db.session.scalar(
                select(TradingBot)
                .where(TradingBot.id == decision.bot_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if bot is None or not bot.is_active:
                uow.rollback()
                return "nothing"
            trade = execute(bot, pair, decision.action, decision.reason, decision.data, bar_time, books)
            if trade is None:
                return "nothing"  # the claim stays: this bar is done for the pair
            _announce(uow, bot, trade)
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    except (DomainError, prices.MarketDataUnavailable) as exc:
        db.session.rollback()
        log.warning("bot %s on %s: %s", decision.bot_id, pair.symbol, exc)
        _record_error(decision, bar_time, str(exc))
        return "error"
    return "done"


def _record_error(decision: Decision, bar_time: int, message: str) -> None:
    try:
        with unit_of_work() as uow:
            db.session.add(BotRun(bot_id=decision.bot_id, pair_id=decision.pair_id, bar_time=bar_time, action="error"))
            bot = db.session.get(TradingBot, decision.bot_id)
            uow.emit_to_user(bot.user_id, "bot", {"event": "error", "bot_id": bot.id, "message": message[:200]})
    except IntegrityError:
        db.session.rollback()


def _plain(value: Decimal) -> str:
    """A decimal in plain digits without trailing zeros: ``0``, not ``0E-18`` (a zero read from the database)."""
    return format(value.normalize(), "f")


def _announce(uow, bot: TradingBot, trade: BotTrade) -> None:
    payload = {
        "event": "trade",
        "bot_id": bot.id,
        "side": trade.side,
        "symbol": trade.pair.symbol,
        "quantity": _plain(trade.quantity),
        "price": _plain(trade.price),
        "reason": trade.reason,
        "paper": trade.is_paper,
        "realized_pnl": None if trade.realized_pnl is None else _plain(trade.realized_pnl),
        "total_profit": _plain(bot.total_profit),
    }
    uow.emit_to_user(bot.user_id, "bot", payload)
    verb = "bought" if trade.side == "buy" else "sold"
    notifications.notify(
        bot.user_id,
        bot_service.BOT_TRADE,
        f"{bot.name} {verb} {trade.quantity.normalize():f} {trade.pair.base_currency}",
        f"{'Paper' if trade.is_paper else 'Live'} {trade.side} at {trade.price.normalize():f} ({trade.reason.replace('_', ' ')}).",
        link=f"/bots/{bot.id}",
        data={"bot_id": bot.id, "bot_trade_id": trade.id},
        dedupe_key=f"bot-trade:{trade.id}",
    )


def _position(bot: TradingBot, pair: TradingPair) -> BotPosition:
    position = db.session.scalar(
        select(BotPosition)
        .where(BotPosition.bot_id == bot.id, BotPosition.pair_id == pair.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if position is None:
        position = BotPosition(
            bot_id=bot.id, pair_id=pair.id, quantity=ZERO, entry_price=ZERO, cost=ZERO, realized_pnl=ZERO
        )
        db.session.add(position)
        db.session.flush()
    return position


def _paper_fill(
    pair: TradingPair, side: str, quantity: Decimal, book: dict
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(filled quantity, average price, notional, fee) of a market order on ``book``, as the order path computes them."""
    cap = market_cap(SimpleNamespace(side=side, pair=pair, stop_price=None), book)
    if cap is None:
        return ZERO, ZERO, ZERO, ZERO
    levels = book["asks"] if side == "buy" else book["bids"]
    planned = fills.walk_book(levels, quantity, side, cap, quantity_step(pair))
    filled = sum((f.quantity for f in planned), ZERO)
    if filled <= 0:
        return ZERO, ZERO, ZERO, ZERO
    exact = sum((f.price * f.quantity for f in planned), ZERO)
    notional, fee = fills.charge(ZERO, exact, pair.taker_fee, side, get_currency(pair.quote_currency).quantum)
    return filled, fills.vwap(planned), notional, fee


def execute(
    bot: TradingBot, pair: TradingPair, side: str, reason: str, data: dict, bar_time: int | None, books: dict
) -> BotTrade | None:
    """Buy or sell for ``bot`` (locked by the caller) inside the caller's unit of work; None when nothing filled."""
    position = _position(bot, pair)
    if side == "buy":
        if position.quantity > 0:
            return None  # position-aware: no re-buy while in a position
        book = _book(pair, books)
        if not book["asks"]:
            return None
        quantity = bot_service.quantity_for(bot, pair, book["asks"][0][0])
        if quantity < pair.min_order_size:
            raise DomainError(
                f"Too little cash for the minimum order of {pair.symbol} "
                f"({pair.min_order_size.normalize():f} {pair.base_currency})."
            )
        quantity = min(quantity, pair.max_order_size)
    else:
        if position.quantity <= 0:
            return None
        quantity = position.quantity
        if not bot.is_paper_trading:
            wallet = db.session.scalar(
                select(Wallet).where(Wallet.user_id == bot.user_id, Wallet.currency == pair.base_currency)
            )
            available = wallet.available_balance if wallet is not None else ZERO
            quantity = min(quantity, available).quantize(quantity_step(pair), ROUND_DOWN)
            if quantity <= 0:
                raise DomainError(f"No {pair.base_currency} available to sell (open orders may hold it).")

    order_id = None
    if bot.is_paper_trading:
        filled, price, notional, fee = _paper_fill(pair, side, quantity, _book(pair, books))
        if side == "buy" and notional + fee > bot.paper_balance:
            raise DomainError("Not enough paper cash for this order.")
    else:
        order = orders.place(
            bot.user_id,
            orders.OrderRequest(pair=pair, side=side, order_type="market", quantity=quantity),
            source="bot",
            source_id=bot.id,
        )
        order_id = order.id
        filled, price, fee = order.filled_quantity, order.average_price or ZERO, order.fee
        notional = _order_notional(order)
    if filled <= 0:
        return None

    quantum = get_currency(pair.quote_currency).quantum
    pnl = None
    if side == "buy":
        if bot.is_paper_trading:
            bot.paper_balance -= notional + fee
        position.quantity, position.entry_price = filled, price
        position.cost = notional + fee
        position.opened_at = datetime.now(UTC)
        sl, tp = bot.stop_loss_percentage, bot.take_profit_percentage
        position.stop_loss = (price * (1 - sl / HUNDRED)).quantize(quantum) if sl > 0 else None
        position.take_profit = (price * (1 + tp / HUNDRED)).quantize(quantum) if tp > 0 else None
        position.trail_high = price if bot.trailing_stop_percentage > 0 else None
    else:
        if bot.is_paper_trading:
            bot.paper_balance += notional - fee
        share = filled / position.quantity
        cost = (position.cost * share).quantize(quantum) if share < 1 else position.cost
        pnl = notional - fee - cost
        position.quantity -= filled
        position.cost -= cost
        position.realized_pnl += pnl
        if position.quantity <= 0:
            position.stop_loss = position.take_profit = position.trail_high = None
        bot.total_trades += 1
        bot.winning_trades += 1 if pnl > 0 else 0
        bot.total_profit += pnl
    trade = BotTrade(
        bot_id=bot.id,
        pair_id=pair.id,
        order_id=order_id,
        is_paper=bot.is_paper_trading,
        side=side,
        quantity=filled,
        price=price,
        fee=fee,
        realized_pnl=pnl,
        reason=reason,
        signal_data=data,
        bar_time=bar_time,
    )
    trade.pair = pair
    db.session.add(trade)
    db.session.flush()
    return trade


def _order_notional(order) -> Decimal:
    from tradeapp.models import Trade

    rows = db.session.execute(select(Trade.notional).where(Trade.order_id == order.id)).scalars().all()
    return sum(rows, ZERO)


# -- protection on every tick ------------------------------------------------------------------------


def protect(symbol: str) -> int:
    """Sell bot positions of the pair whose stop-loss or take-profit the live bid crossed; returns how many.

    The bar evaluation checks the same levels against each closed bar; this catches them between bars.
    """
    pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == symbol))
    if pair is None:
        return 0
    try:
        bid = prices.live_quote(pair).get("bid")
    except (prices.MarketStale, prices.MarketDataUnavailable):
        db.session.rollback()
        return 0
    if bid is None:
        db.session.rollback()
        return 0
    crossed = db.session.execute(
        select(BotPosition.bot_id, BotPosition.stop_loss, BotPosition.take_profit, BotPosition.opened_at)
        .join(TradingBot, TradingBot.id == BotPosition.bot_id)
        .where(
            BotPosition.pair_id == pair.id,
            BotPosition.quantity > 0,
            TradingBot.is_active.is_(True),
            ((BotPosition.stop_loss.is_not(None)) & (BotPosition.stop_loss >= bid))
            | ((BotPosition.take_profit.is_not(None)) & (BotPosition.take_profit <= bid)),
        )
    ).all()
    db.session.rollback()
    done = 0
    books: dict = {}
    for bot_id, stop, _target, opened_at in crossed:
        reason = "stop_loss" if stop is not None and bid <= stop else "take_profit"
        decision = Decision(bot_id, pair.id, "sell", reason, float(bid), {"bid": str(bid)})
        # Keyed by the position's opening (negative, apart from bar times): its protection fires once.
        key = -int(opened_at.timestamp() * 1000) if opened_at is not None else -1
        done += act(decision, key, pair, books) == "done"
    return done


# -- ml models ---------------------------------------------------------------------------------------


def train_model(bot_id: int) -> BotModel | None:
    """Fit the bot's ``ml_model`` on its first pair's stored candles and store it as the next version."""
    bot = db.session.get(TradingBot, bot_id)
    if bot is None or bot.strategy != "ml_model" or not bot.trading_pairs:
        return None
    params = strategies.get("ml_model").validate(bot.parameters)
    pair = bot.trading_pairs[0]
    bar_time = last_closed_bar(bot.timeframe)
    df = history(pair.id, bot.timeframe, bar_time, min(params["train_window"] + 60, 20_000))
    model = ml.train_latest(df, params["train_window"]) if len(df) > ml.MIN_TRAIN else None
    if model is None:
        db.session.rollback()
        log.info("bot %s: not enough candles to train", bot_id)
        return None
    with unit_of_work() as uow:
        version = (
            db.session.scalar(
                select(BotModel.version).where(BotModel.bot_id == bot_id).order_by(BotModel.version.desc())
            )
            or 0
        ) + 1
        row = BotModel(
            bot_id=bot_id, version=version, trained_until=int(df["open_time"].iloc[-2]), rows=len(df) - 1, model=model
        )
        db.session.add(row)
        db.session.flush()
        uow.keep(row)
    return row
