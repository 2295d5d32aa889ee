"""Bots: create, edit, delete, start and stop (the only way ``is_active`` changes), performance, strategy switches.

A bot trades its pairs on one timeframe with one strategy. Paper bots (the default) trade a
paper account (virtual cash on the bot, apart from every wallet); live bots trade the customer's
wallets through the normal order path. Evaluation is :mod:`tradeapp.services.bots.engine`.
"""

import logging
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from tradeapp.amounts import AmountError, amount_text
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import BotPosition, BotStrategySetting, BotTrade, TradingBot, TradingPair, User, Wallet
from tradeapp.models.bots import BOT_TIMEFRAMES
from tradeapp.services import audit, notifications
from tradeapp.services.bots import strategies
from tradeapp.services.trading import prices
from tradeapp.services.trading.fills import quantity_step
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

BOT_STOPPED = notifications.register_kind("bot_stopped", "Bot stopped")
BOT_TRADE = notifications.register_kind("bot_trade", "Bot trade")
BOT_STARTED = notifications.register_kind("bot_started", "Bot started")

ZERO = Decimal(0)
#: the seed's sizing: each entry spends at most this share of the available quote balance
STAKE_FRACTION = Decimal("0.1")
MAX_PAIRS = 10
EDITABLE = (
    "name",
    "description",
    "strategy",
    "trading_pairs",
    "timeframe",
    "is_paper_trading",
    "max_position_size",
    "stop_loss_percentage",
    "take_profit_percentage",
    "trailing_stop_percentage",
    "max_daily_loss",
    "parameters",
    "paper_initial",
)


# -- strategies platform-wide --------------------------------------------------------------------------


def disabled_strategies() -> dict[str, str]:
    """Strategies staff switched off: name → reason."""
    rows = db.session.execute(
        select(BotStrategySetting.strategy, BotStrategySetting.reason).where(BotStrategySetting.enabled.is_(False))
    ).all()
    return {name: reason for name, reason in rows}


def strategy_catalogue() -> list[dict]:
    """Every strategy with its parameter schema and whether it may be used now."""
    off = disabled_strategies()
    return [s.schema() | {"enabled": s.name not in off} for s in strategies.STRATEGIES.values()]


def set_strategy_enabled(actor: User, name: str, enabled: bool, reason: str = "") -> None:
    """Staff switch a strategy on or off for everyone (audited); running bots of it keep running until stopped."""
    strategy = strategies.get(name)
    reason = (reason or "").strip()[:255]
    if not enabled and not reason:
        raise ValidationFailed("Give a reason.", {"reason": ["Say why the strategy is switched off."]})
    with unit_of_work():
        row = db.session.get(BotStrategySetting, strategy.name, with_for_update=True)
        before = row.enabled if row is not None else True
        if row is None:
            row = BotStrategySetting(strategy=strategy.name)
            db.session.add(row)
        row.enabled, row.reason, row.updated_by_id = enabled, reason, actor.id
        audit.record(
            actor,
            "bot_strategy.enable" if enabled else "bot_strategy.disable",
            None,
            before={"strategy": strategy.name, "enabled": before},
            after={"strategy": strategy.name, "enabled": enabled, "reason": reason},
        )


# -- validation ----------------------------------------------------------------------------------------


def _decimal(value, name: str, errors: dict, *, places: int = 8, maximum=Decimal("1e12")) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(amount_text(value if not isinstance(value, float) else str(value)))
    except (AmountError, ArithmeticError, TypeError, ValueError):
        errors[name] = ["Enter a number (digits and one dot)."]
        return None
    if number != number.quantize(Decimal(1).scaleb(-places), ROUND_DOWN):
        errors[name] = [f"At most {places} decimal places."]
        return None
    if number > maximum:
        errors[name] = [f"At most {maximum:f}."]
        return None
    return number


def _pairs(value, errors: dict) -> list[TradingPair] | None:
    if value is None:
        return None
    raw = value if isinstance(value, list) else [value]
    ids = []
    for item in raw:
        text = str(item).strip() if isinstance(item, int | str) and not isinstance(item, bool) else ""
        if not (text.isascii() and text.isdigit() and 0 < len(text) < 19):
            errors["trading_pairs"] = ["A list of trading pair ids."]
            return None
        ids.append(int(text))
    ids = list(dict.fromkeys(ids))
    if not ids:
        errors["trading_pairs"] = ["Choose at least one trading pair."]
        return None
    if len(ids) > MAX_PAIRS:
        errors["trading_pairs"] = [f"At most {MAX_PAIRS} pairs."]
        return None
    found = {p.id: p for p in db.session.scalars(select(TradingPair).where(TradingPair.id.in_(ids)))}
    missing = [i for i in ids if i not in found or not found[i].is_active]
    if missing:
        errors["trading_pairs"] = [f"No active trading pair with id {missing[0]}."]
        return None
    return [found[i] for i in ids]


def clean(data: dict, bot: TradingBot | None = None) -> dict:
    """The bot fields of ``data`` checked (all of them for a new bot, the given ones for an edit).

    :raise ValidationFailed: every problem, by field (``parameters.<name>`` for strategy parameters)
    """
    creating = bot is None
    errors: dict[str, list[str]] = {}
    out: dict = {}
    if creating or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            errors["name"] = ["Give the bot a name."]
        elif len(name) > 100:
            errors["name"] = ["At most 100 characters."]
        out["name"] = name
    if "description" in data:
        out["description"] = str(data.get("description") or "")[:2000]
    if creating or "strategy" in data:
        name = str(data.get("strategy") or "")
        if name not in strategies.STRATEGIES:
            errors["strategy"] = [f"One of {', '.join(strategies.STRATEGIES)}."]
        elif name in disabled_strategies() and (creating or name != bot.strategy):
            errors["strategy"] = ["This strategy is switched off by the broker for now."]
        out["strategy"] = name
    if creating or "trading_pairs" in data:
        pairs = _pairs(data.get("trading_pairs"), errors)
        if pairs is None and "trading_pairs" not in errors:
            errors["trading_pairs"] = ["Choose at least one trading pair."]
        out["trading_pairs"] = pairs
    if "timeframe" in data or creating:
        timeframe = str(data.get("timeframe") or "1h")
        if timeframe not in BOT_TIMEFRAMES:
            errors["timeframe"] = [f"One of {', '.join(BOT_TIMEFRAMES)}."]
        out["timeframe"] = timeframe
    if "is_paper_trading" in data:
        value = data["is_paper_trading"]
        if isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "on", "yes")
        out["is_paper_trading"] = bool(value)
    limits = {
        "max_position_size": (Decimal("1e12"), True),
        "stop_loss_percentage": (Decimal("99.99"), False),
        "take_profit_percentage": (Decimal("10000"), False),
        "trailing_stop_percentage": (Decimal("99.99"), False),
        "max_daily_loss": (Decimal("1e12"), False),
        "paper_initial": (Decimal("1e9"), True),
    }
    for name, (maximum, required_positive) in limits.items():
        if name not in data and not (creating and name == "max_position_size"):
            continue
        places = 2 if name.endswith("percentage") else 8
        value = _decimal(data.get(name), name, errors, places=places, maximum=maximum)
        if name in errors:
            continue
        if value is None:
            if name == "max_position_size":
                errors[name] = ["Set the most one position may cost (quote currency)."]
                continue
            value = Decimal("10000") if name == "paper_initial" else ZERO
        if required_positive and value <= 0:
            errors[name] = ["Must be above 0."]
            continue
        out[name] = value
    strategy_name = out.get("strategy", bot.strategy if bot else None)
    if strategy_name in strategies.STRATEGIES and (creating or "parameters" in data or "strategy" in data):
        raw = data.get("parameters")
        if raw is None and bot is not None and strategy_name == bot.strategy:
            raw = bot.parameters
        try:
            out["parameters"] = strategies.get(strategy_name).validate(raw if raw is not None else {})
        except ValidationFailed as exc:
            errors.update(exc.fields)
    pairs = out.get("trading_pairs") or (list(bot.trading_pairs) if bot else [])
    if pairs and "trading_pairs" not in errors:
        if len({p.quote_currency for p in pairs}) > 1:
            errors["trading_pairs"] = ["All pairs of a bot share one quote currency (its paper cash and limits)."]
        if strategy_name == "arbitrage" and len(pairs) != 2:
            errors["trading_pairs"] = ["An arbitrage bot trades exactly two pairs, each against the other."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return out


# -- reading -----------------------------------------------------------------------------------------


def bots_query(user: User):
    return (
        select(TradingBot)
        .where(TradingBot.user_id == user.id)
        .options(selectinload(TradingBot.trading_pairs))
        .order_by(TradingBot.created_at.desc(), TradingBot.id.desc())
    )


def get_bot(user: User, bot_id: int, *, lock: bool = False) -> TradingBot:
    """One of the user's bots; NotFound for anyone else's."""
    query = select(TradingBot).where(TradingBot.id == bot_id, TradingBot.user_id == user.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    bot = db.session.scalar(query)
    if bot is None:
        raise NotFound("No such bot.")
    return bot


def bot_trades_query(user: User, bot_id: int | None = None):
    query = (
        select(BotTrade)
        .join(TradingBot, TradingBot.id == BotTrade.bot_id)
        .where(TradingBot.user_id == user.id)
        .options(selectinload(BotTrade.pair))
    )
    if bot_id is not None:
        query = query.where(BotTrade.bot_id == bot_id)
    return query.order_by(BotTrade.created_at.desc(), BotTrade.id.desc())


def get_bot_trade(user: User, trade_id: int) -> BotTrade:
    trade = db.session.scalar(bot_trades_query(user).where(BotTrade.id == trade_id))
    if trade is None:
        raise NotFound("No such bot trade.")
    return trade


def quote_currency(bot: TradingBot) -> str:
    return bot.trading_pairs[0].quote_currency if bot.trading_pairs else bot.paper_currency


# -- writing -------------------------------------------------------------------------------------------


def _apply(bot: TradingBot, values: dict) -> None:
    for key, value in values.items():
        if key == "paper_initial":
            continue
        setattr(bot, key, value)
    if bot.trading_pairs:
        bot.paper_currency = bot.trading_pairs[0].quote_currency


def create_bot(user: User, data: dict) -> TradingBot:
    """A new, stopped bot (``is_active`` is ignored: start it to run it)."""
    values = clean(data)
    with unit_of_work() as uow:
        bot = TradingBot(user_id=user.id, description="", is_active=False, is_paper_trading=True)
        paper = values.pop("paper_initial", Decimal("10000"))
        bot.paper_initial = bot.paper_balance = paper
        _apply(bot, values)
        db.session.add(bot)
        db.session.flush()
        uow.keep(bot)
    return bot


def update_bot(user: User, bot_id: int, data: dict) -> TradingBot:
    """Edit a bot's settings; ``is_active`` is read-only here (start/stop), the paper/live switch needs a stopped bot."""
    with unit_of_work() as uow:
        bot = get_bot(user, bot_id, lock=True)
        values = clean({k: v for k, v in data.items() if k in EDITABLE}, bot)
        if "is_paper_trading" in values and values["is_paper_trading"] != bot.is_paper_trading:
            if bot.is_active:
                raise ValidationFailed(
                    "Stop the bot before switching between paper and live.",
                    {"is_paper_trading": ["Stop the bot first."]},
                )
            if _open_positions(bot):
                raise ValidationFailed(
                    "Close the bot's positions before switching between paper and live.",
                    {"is_paper_trading": ["The bot still holds positions."]},
                )
        if "paper_initial" in values:
            new = values.pop("paper_initial")
            if new != bot.paper_initial:
                if bot.is_active or _open_positions(bot):
                    raise ValidationFailed(
                        "Stop the bot and close its positions to reset its paper cash.",
                        {"paper_initial": ["The bot is running or holds positions."]},
                    )
                bot.paper_initial = bot.paper_balance = new
        _apply(bot, values)
        db.session.flush()
        uow.keep(bot)
    return bot


def _open_positions(bot: TradingBot) -> list[BotPosition]:
    return list(db.session.scalars(select(BotPosition).where(BotPosition.bot_id == bot.id, BotPosition.quantity > 0)))


def delete_bot(user: User, bot_id: int) -> None:
    """Delete a stopped bot; its live orders and fills stay with the account."""
    with unit_of_work():
        bot = get_bot(user, bot_id, lock=True)
        if bot.is_active:
            raise IllegalTransition("Stop the bot before deleting it.")
        db.session.delete(bot)


def min_order_cost(pair: TradingPair) -> Decimal:
    """What the pair's minimum order costs at the current ask, taker fee included."""
    quote = prices.live_quote(pair, fresh=False)
    ask = quote.get("ask") or quote.get("last")
    if ask is None:
        raise ValidationFailed(f"No price for {pair.symbol} right now.", {"trading_pairs": ["No price right now."]})
    return pair.min_order_size * ask * (1 + pair.taker_fee / 100)


def buying_power(bot: TradingBot) -> Decimal:
    """The quote cash the bot may spend: its paper cash, or the wallet's available balance (live)."""
    if bot.is_paper_trading:
        return bot.paper_balance
    wallet = db.session.scalar(
        select(Wallet).where(Wallet.user_id == bot.user_id, Wallet.currency == quote_currency(bot))
    )
    return wallet.available_balance if wallet is not None else ZERO


def start_bot(user: User, bot_id: int) -> TradingBot:
    """Start a stopped bot: its pairs must be active and its cash must fund at least one minimum order.

    :raise IllegalTransition: already running
    :raise ValidationFailed: an inactive pair, a strategy switched off, not enough cash for the minimum order
    """
    with unit_of_work() as uow:
        bot = get_bot(user, bot_id, lock=True)
        if bot.is_active:
            raise IllegalTransition("Bot is already running")
        if bot.strategy in disabled_strategies():
            raise ValidationFailed(
                "This strategy is switched off by the broker for now.", {"strategy": ["Switched off."]}
            )
        inactive = [p.symbol for p in bot.trading_pairs if not p.is_active]
        if not bot.trading_pairs or inactive:
            raise ValidationFailed(
                f"Cannot start: {', '.join(inactive) or 'no pair'} is not open for trading.",
                {"trading_pairs": [f"{', '.join(inactive) or 'No pair'}: not open for trading."]},
            )
        needed = min(min_order_cost(p) for p in bot.trading_pairs)
        power = min(buying_power(bot) * STAKE_FRACTION, bot.max_position_size)
        if power < needed and not _open_positions(bot):
            where = "paper cash" if bot.is_paper_trading else f"available {quote_currency(bot)} balance"
            raise ValidationFailed(
                f"Cannot start: 10 % of your {where} (capped by the max position size) is "
                f"{power.quantize(Decimal('0.01'))} {quote_currency(bot)}, less than the minimum order "
                f"({needed.quantize(Decimal('0.01'))} {quote_currency(bot)}).",
                {"max_position_size": ["Too little to fund the minimum order."]},
                code="insufficient_funds",
            )
        bot.is_active = True
        bot.started_at = datetime.now(UTC)
        bot.stopped_reason = ""
        if bot.strategy == "ml_model":
            uow.enqueue("tradeapp.jobs.bots.train_model", bot.id, queue="bots", job_id=f"bot-train-{bot.id}")
        uow.emit_to_user(bot.user_id, "bot", {"event": "started", "bot_id": bot.id, "name": bot.name})
        db.session.flush()
        uow.keep(bot)
    log.info("bot %s started", bot.id)
    return bot


def stop_locked(bot: TradingBot, reason: str, uow, *, kind: str = "stopped") -> None:
    """Stop ``bot`` (locked by the caller) with ``reason``: recorded, announced, notified."""
    bot.is_active = False
    bot.stopped_at = datetime.now(UTC)
    bot.stopped_reason = reason[:255]
    uow.emit_to_user(
        bot.user_id, "bot", {"event": kind, "bot_id": bot.id, "name": bot.name, "reason": bot.stopped_reason}
    )
    notifications.notify(
        bot.user_id,
        BOT_STOPPED,
        f"Bot “{bot.name}” stopped",
        bot.stopped_reason,
        link=f"/bots/{bot.id}",
        data={"bot_id": bot.id, "reason": bot.stopped_reason},
        dedupe_key=f"bot-stopped:{bot.id}:{int(bot.stopped_at.timestamp())}",
    )


def stop_bot(user: User, bot_id: int) -> TradingBot:
    """Stop a running bot (its positions stay open; it no longer trades them).

    :raise IllegalTransition: not running
    """
    with unit_of_work() as uow:
        bot = get_bot(user, bot_id, lock=True)
        if not bot.is_active:
            raise IllegalTransition("Bot is not running")
        stop_locked(bot, "Stopped by you.", uow)
        db.session.flush()
        uow.keep(bot)
    return bot


def staff_stop(actor: User, bot_id: int, reason: str) -> TradingBot:
    """Staff stop a customer's bot with a reason (audited, the customer is notified)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason.", {"reason": ["Say why the bot is stopped."]})
    with unit_of_work() as uow:
        bot = db.session.scalar(select(TradingBot).where(TradingBot.id == bot_id).with_for_update())
        if bot is None:
            raise NotFound("No such bot.")
        if not bot.is_active:
            raise IllegalTransition("Bot is not running")
        stop_locked(bot, f"Stopped by the broker: {reason[:200]}", uow)
        audit.record(
            actor, "bot.stop", bot, before={"is_active": True}, after={"is_active": False, "reason": reason[:200]}
        )
        db.session.flush()
        uow.keep(bot)
    return bot


# -- performance ---------------------------------------------------------------------------------------


def positions_of(bot: TradingBot) -> list[BotPosition]:
    return list(
        db.session.scalars(
            select(BotPosition)
            .where(BotPosition.bot_id == bot.id, BotPosition.quantity > 0)
            .options(selectinload(BotPosition.pair))
        )
    )


def performance(bot: TradingBot) -> dict:
    """The seed's shape (total_trades, winning_trades, total_profit, win_rate, recent_trades) plus the
    equity curve (cumulative realised P&L per closed trade) and the open positions marked at the bid."""
    sells = db.session.scalars(
        select(BotTrade)
        .where(BotTrade.bot_id == bot.id, BotTrade.side == "sell", BotTrade.realized_pnl.is_not(None))
        .order_by(BotTrade.created_at, BotTrade.id)
    ).all()
    running, curve = ZERO, []
    for trade in sells:
        running += trade.realized_pnl
        curve.append({"time": trade.created_at.isoformat(), "pnl": running})
    open_positions = []
    for position in positions_of(bot):
        try:
            bid = prices.live_quote(position.pair, fresh=False).get("bid")
        except (prices.MarketDataUnavailable, prices.MarketStale):
            bid = None
        unrealised = position.quantity * bid - position.cost if bid is not None else None
        open_positions.append(
            {
                "trading_pair": position.pair_id,
                "symbol": position.pair.symbol,
                "quantity": position.quantity,
                "entry_price": position.entry_price,
                "current_price": bid,
                "unrealized_pnl": unrealised,
                "stop_loss": position.stop_loss,
                "take_profit": position.take_profit,
            }
        )
    recent = db.session.scalars(
        select(BotTrade)
        .where(BotTrade.bot_id == bot.id)
        .order_by(BotTrade.created_at.desc(), BotTrade.id.desc())
        .limit(10)
    ).all()
    return {
        "total_trades": bot.total_trades,
        "winning_trades": bot.winning_trades,
        "total_profit": bot.total_profit,
        "win_rate": bot.win_rate,
        "recent_trades": recent,
        "equity_curve": curve,
        "open_positions": open_positions,
        "paper_balance": bot.paper_balance if bot.is_paper_trading else None,
    }


def daily_realised(bot_ids: list[int], since: datetime) -> dict[int, Decimal]:
    """Realised P&L per bot since ``since`` (one query for many bots)."""
    if not bot_ids:
        return {}
    rows = db.session.execute(
        select(BotTrade.bot_id, func.coalesce(func.sum(BotTrade.realized_pnl), 0))
        .where(BotTrade.bot_id.in_(bot_ids), BotTrade.created_at >= since, BotTrade.realized_pnl.is_not(None))
        .group_by(BotTrade.bot_id)
    ).all()
    return {bot_id: Decimal(str(total)) for bot_id, total in rows}


def quantity_for(bot: TradingBot, pair: TradingPair, price: Decimal) -> Decimal:
    """The seed's sizing: min(10 % of buying power, max_position_size) / price, cut to the pair's step."""
    budget = min(buying_power(bot) * STAKE_FRACTION, bot.max_position_size)
    budget = budget / (1 + pair.taker_fee / 100)
    return (budget / price).quantize(quantity_step(pair), ROUND_DOWN) if price > 0 else ZERO


def backtest_bot(user: User, bot_id: int, data: dict) -> dict:
    """Backtest the bot's own settings on its (first) pair's stored candles and store the result."""
    from tradeapp.services.bots import backtest

    bot = get_bot(user, bot_id)
    request = backtest.bot_request(bot, data)
    result = backtest.run_stored(request).to_dict()
    with unit_of_work():
        row = backtest.save(user.id, bot.id, result)
        result["id"] = row.id
    return result


def latest_backtest(bot: TradingBot):
    from tradeapp.models import Backtest

    return db.session.scalar(
        select(Backtest).where(Backtest.bot_id == bot.id).order_by(Backtest.created_at.desc(), Backtest.id.desc())
    )


# -- staff -------------------------------------------------------------------------------------------

STAFF_PAGE = 50


def staff_bots(*, status: str = "", strategy: str = "", mode: str = "", q: str = "", page: int = 1) -> dict:
    """Every customer's bots, newest first, filtered (status running/stopped, strategy, paper/live, user e-mail)."""
    query = select(TradingBot, User).join(User, User.id == TradingBot.user_id)
    if status in ("running", "stopped"):
        query = query.where(TradingBot.is_active.is_(status == "running"))
    if strategy in strategies.STRATEGIES:
        query = query.where(TradingBot.strategy == strategy)
    if mode in ("paper", "live"):
        query = query.where(TradingBot.is_paper_trading.is_(mode == "paper"))
    needle = (q or "").strip().lower()[:100]
    if needle:
        like = f"%{needle.replace('%', '').replace('_', '')}%"
        query = query.where(func.lower(User.email).like(like) | func.lower(TradingBot.name).like(like))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, page)
    rows = db.session.execute(
        query.options(selectinload(TradingBot.trading_pairs))
        .order_by(TradingBot.created_at.desc(), TradingBot.id.desc())
        .limit(STAFF_PAGE)
        .offset((page - 1) * STAFF_PAGE)
    ).all()
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // STAFF_PAGE))}


def staff_bot(bot_id: int) -> tuple[TradingBot, User]:
    row = db.session.execute(
        select(TradingBot, User).join(User, User.id == TradingBot.user_id).where(TradingBot.id == bot_id)
    ).first()
    if row is None:
        raise NotFound("No such bot.")
    return row
