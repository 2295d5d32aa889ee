"""Customer bot pages: the list (live status and P&L), the form with inline validation and a backtest, the bot page.

The form renders each strategy's parameters from its schema; changing the strategy or any value
re-checks the whole form through the service (nothing is saved) and swaps it in with the errors
inline. "Backtest" runs the form's settings on the first pair's stored candles and shows the
metrics, the equity curve and the price chart with entries and exits (static/js/bots.js).
Other users' bots are 404 (the service says NotFound).
"""

from datetime import UTC, datetime, timedelta

from flask import Blueprint, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from tradeapp.errors import DomainError, ValidationFailed
from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models import BotTrade, TradingPair
from tradeapp.services.bots import backtest as bt
from tradeapp.services.bots import bots as bot_service
from tradeapp.services.bots import strategies
from tradeapp.web import attempt, login_required, redirect_client, render, swap_row

from .forms import PARAM_PREFIX, BotForm

bp = Blueprint("bots", __name__, url_prefix="/bots")

BOTS_CHANGED = "botsChanged"
TRADES_LIMIT = 50
#: candles drawn under a backtest's markers
CHART_BARS = 3000


def _pair_choices() -> list[tuple[str, str]]:
    rows = db.session.scalars(select(TradingPair).where(TradingPair.is_active.is_(True)).order_by(TradingPair.symbol))
    return [(str(p.id), p.symbol) for p in rows]


def _form(bot=None, formdata=None) -> BotForm:
    if bot is not None and formdata is None:
        form = BotForm(
            formdata=None,
            data={
                "name": bot.name,
                "description": bot.description,
                "strategy": bot.strategy,
                "trading_pairs": [str(p.id) for p in bot.trading_pairs],
                "timeframe": bot.timeframe,
                "is_paper_trading": bot.is_paper_trading,
                "paper_initial": f"{bot.paper_initial.normalize():f}",
                "max_position_size": f"{bot.max_position_size.normalize():f}",
                "stop_loss_percentage": f"{bot.stop_loss_percentage.normalize():f}",
                "take_profit_percentage": f"{bot.take_profit_percentage.normalize():f}",
                "trailing_stop_percentage": f"{bot.trailing_stop_percentage.normalize():f}",
                "max_daily_loss": f"{bot.max_daily_loss.normalize():f}",
            },
        )
    elif formdata is None:
        form = BotForm(formdata=None)
    else:
        form = BotForm()
    form.trading_pairs.choices = _pair_choices()
    return form


def _param_rows(strategy_name: str, values: dict, errors: dict) -> list[dict]:
    """Each parameter of the strategy with the value to show and its error (from ``parameters.<name>``)."""
    strategy = strategies.STRATEGIES.get(strategy_name) or strategies.MOVING_AVERAGE
    rows = []
    for param in strategy.params:
        value = values.get(param.name, param.default)
        rows.append(
            {
                "param": param,
                "input": PARAM_PREFIX + param.name,
                "value": "" if value is None else value,
                "errors": errors.get(f"parameters.{param.name}", []),
            }
        )
    return rows


def _form_context(form: BotForm, bot=None, *, params: dict | None = None, errors: dict | None = None, **extra):
    strategy = form.strategy.data or (bot.strategy if bot else "moving_average")
    if params is None:
        params = dict(bot.parameters) if bot is not None and bot.strategy == strategy else {}
    return {
        "form": form,
        "bot": bot,
        "strategy": strategies.STRATEGIES.get(strategy),
        "param_rows": _param_rows(strategy, params, errors or {}),
        "disabled": bot_service.disabled_strategies(),
        "action": url_for("bots.bot_edit", bot_id=bot.id) if bot else url_for("bots.bot_new"),
        **extra,
    }


# -- list --------------------------------------------------------------------------------------------


def _list_context() -> dict:
    bots = db.session.scalars(bot_service.bots_query(current_user)).all()
    return {"bots": bots, "action_form": FlaskForm(formdata=None)}


@bp.get("/", endpoint="bots_listing")
@login_required
def bots_listing():
    """My bots with their live status and P&L (reloaded on the Socket.IO ``bot`` event)."""
    return render("bots/list.html", "bots/_list.html", **_list_context())


# -- the form ----------------------------------------------------------------------------------------


def _submitted(form: BotForm) -> tuple[dict, dict]:
    """(data for the service, parameter values as typed)."""
    data = form.bot_data(request.form)
    return data, data["parameters"]


def _check(form: BotForm, bot=None) -> tuple[dict, dict]:
    """Shape (the form) then rules (the service's clean, which saves nothing): (data, field errors)."""
    data, params = _submitted(form)
    errors: dict = {}
    if not form.validate_on_submit():
        errors.update({f.name: f.errors for f in form if f.errors})
    try:
        bot_service.clean(data, bot)
    except ValidationFailed as exc:
        for key, messages in exc.fields.items():
            errors.setdefault(key, list(messages))
    db.session.rollback()
    return data, errors


def _show(form: BotForm, errors: dict) -> None:
    form.show_errors({k: v for k, v in errors.items() if not k.startswith("parameters.") and k not in form.errors})


def _save(bot=None):
    form = _form(bot, request.form)
    data, params = _submitted(form)
    errors: dict = {}
    if form.validate_on_submit():
        try:
            saved = (
                bot_service.update_bot(current_user, bot.id, data)
                if bot
                else bot_service.create_bot(current_user, data)
            )
        except ValidationFailed as exc:
            errors = exc.fields
        except DomainError as exc:
            form.show_error(exc)
        else:
            return redirect_client(url_for("bots.bot_detail", bot_id=saved.id))
    else:
        _, errors = _check(form, bot)
    _show(form, errors)
    return swap_row(
        "bots/_form.html",
        redirect_to=request.path,
        page="bots/form.html",
        error="Check the highlighted fields.",
        **_form_context(form, bot, params=params, errors=errors),
    )


@bp.route("/new", methods=["GET", "POST"], endpoint="bot_new")
@login_required
def bot_new():
    """Create a bot (it starts stopped)."""
    if request.method == "POST":
        return _save()
    form = _form()
    strategy = request.args.get("strategy")
    if strategy in strategies.STRATEGIES:
        form.strategy.data = strategy
    return render("bots/form.html", **_form_context(form))


@bp.route("/<int:bot_id>/edit", methods=["GET", "POST"], endpoint="bot_edit")
@login_required
def bot_edit(bot_id: int):
    """Edit a bot's settings (start and stop are on the bot's page)."""
    bot = bot_service.get_bot(current_user, bot_id)
    if request.method == "POST":
        return _save(bot)
    return render("bots/form.html", **_form_context(_form(bot)))


@bp.post("/form/check", endpoint="bot_form_check")
@login_required
def bot_form_check():
    """Inline validation, nothing saved: a new strategy answers its parameter inputs; any other change
    answers a status line plus every field's error list out of band (inputs are never replaced)."""
    bot_id = request.args.get("bot", type=int)
    bot = bot_service.get_bot(current_user, bot_id) if bot_id else None
    form = _form(bot, request.form)
    if request.headers.get("HX-Trigger-Name") == "strategy":
        params = dict(bot.parameters) if bot and bot.strategy == form.strategy.data else {}
        return render("bots/_params.html", "bots/_params.html", **_form_context(form, bot, params=params))
    _, errors = _check(form, bot)
    # While typing, a field left empty is not an error yet (saving says so).
    typed = {k: v for k, v in request.form.items() if str(v).strip()}
    shown: dict[str, list[str]] = {}
    for f in form:
        if f.name in ("csrf_token", "idempotency_key"):
            continue
        messages = errors.get(f.name, [])
        shown[f.name] = list(messages) if f.name in typed else []
    context = _form_context(form, bot, params=form.parameters(request.form), errors=errors)
    for row in context["param_rows"]:
        shown[row["input"]] = row["errors"]
    others = [m for k, v in errors.items() if k not in shown and not k.startswith("parameters.") for m in v]
    problems = any(shown.values()) or bool(others)
    complete = all(typed.get(k) for k in ("name", "max_position_size", "trading_pairs"))
    return render(
        "bots/_check.html",
        "bots/_check.html",
        checked=not problems and complete,
        check_errors=problems,
        oob_errors=shown,
    )


def _chart_candles(df) -> list[dict]:
    tail = df.iloc[-CHART_BARS:]
    return [
        {"time": int(ts.timestamp()), "open": r.open, "high": r.high, "low": r.low, "close": r.close}
        for ts, r in zip(tail.index, tail.itertuples(), strict=True)
    ]


def run_form_backtest(data: dict, start: str | None, end: str | None) -> dict:
    """Backtest what the form holds on its first pair; the answer carries the candles for the chart."""
    cap = data.get("max_position_size")
    # A name and a position cap are not needed to backtest (no cap: the stake alone sizes entries).
    values = bot_service.clean(data | {"name": data.get("name") or "Backtest", "max_position_size": cap or "1"})
    values["max_position_size"] = values["max_position_size"] if cap else None
    pair = values["trading_pairs"][0]
    params = dict(values["parameters"])
    if values["strategy"] == "arbitrage" and len(values["trading_pairs"]) > 1:
        params["reference_pair"] = values["trading_pairs"][1].symbol
    timeframe = values["timeframe"]
    if not start:
        start = (datetime.now(UTC) - timedelta(seconds=TIMEFRAMES[timeframe] * 1000)).date().isoformat()
    request_data = {
        "strategy": values["strategy"],
        "parameters": params,
        "trading_pair": pair.id,
        "timeframe": timeframe,
        "start": start,
        "end": end or None,
        "stake_fraction": "0.1",
        "stop_loss_percentage": values.get("stop_loss_percentage"),
        "take_profit_percentage": values.get("take_profit_percentage"),
        "max_position_size": values.get("max_position_size"),
    }
    result = bt.run_stored(request_data)
    out = result.to_dict()
    errors: dict = {}
    window_start = bt.parse_time(out["start"], "start", errors)
    window_end = bt.parse_time(out["end"], "end", errors)
    out["candles"] = _chart_candles(bt.stored_frame(pair, timeframe, window_start, window_end))
    out["quote_currency"] = pair.quote_currency
    return out


@bp.post("/form/backtest", endpoint="bot_form_backtest")
@login_required
def bot_form_backtest():
    """The form's settings backtested: metrics, equity curve, price chart with entries and exits."""
    form = _form(None, request.form)
    data, _params = _submitted(form)
    try:
        result = run_form_backtest(data, form.bt_start.data, form.bt_end.data)
    except DomainError as exc:
        messages = [m for msgs in exc.fields.values() for m in msgs]
        db.session.rollback()
        return render(
            "bots/_backtest.html", "bots/_backtest.html", status_code=200, error=exc.message, details=messages
        )
    db.session.rollback()
    return render("bots/_backtest.html", "bots/_backtest.html", result=result)


# -- one bot -----------------------------------------------------------------------------------------


def _detail_context(bot) -> dict:
    trades = db.session.scalars(bot_service.bot_trades_query(current_user, bot.id).limit(TRADES_LIMIT)).all()
    return {
        "bot": bot,
        "perf": bot_service.performance(bot),
        "trades": trades,
        "comparison": comparison(bot),
        "strategy_labels": dict(strategies.STRATEGY_CHOICES),
        "action_form": FlaskForm(formdata=None),
    }


def comparison(bot) -> dict:
    """Backtest vs paper vs live over the same period (since the bot first started, else the stored backtest)."""
    latest = bot_service.latest_backtest(bot)
    since = bot.started_at or bot.created_at

    def side(paper: bool) -> dict:
        rows = db.session.scalars(
            select(BotTrade).where(
                BotTrade.bot_id == bot.id,
                BotTrade.is_paper.is_(paper),
                BotTrade.side == "sell",
                BotTrade.created_at >= since,
            )
        ).all()
        wins = sum(1 for t in rows if (t.realized_pnl or 0) > 0)
        return {
            "trades": len(rows),
            "win_rate": wins / len(rows) * 100 if rows else 0,
            "pnl": sum((t.realized_pnl or 0 for t in rows), 0),
        }

    return {"since": since, "backtest": latest, "paper": side(True), "live": side(False)}


@bp.get("/<int:bot_id>", endpoint="bot_detail")
@login_required
def bot_detail(bot_id: int):
    """The bot's live state, positions, trades, P&L and the backtest / paper / live comparison."""
    bot = bot_service.get_bot(current_user, bot_id)
    return render("bots/detail.html", "bots/_state.html", **_detail_context(bot))


def _act(bot_id: int, func, done: str):
    form = FlaskForm()
    bot, error = attempt(form, lambda: func(current_user, bot_id))
    target = request.args.get("from", "detail")
    if bot is None:
        bot = bot_service.get_bot(current_user, bot_id)
    if target == "list":
        return swap_row(
            "bots/_row.html",
            redirect_to=url_for("bots.bots_listing"),
            notice=None if error else done,
            error=error,
            status_code=200,
            bot=bot,
            action_form=FlaskForm(formdata=None),
        )
    return swap_row(
        "bots/_state.html",
        redirect_to=url_for("bots.bot_detail", bot_id=bot_id),
        notice=None if error else done,
        error=error,
        status_code=200,
        trigger=BOTS_CHANGED,
        **_detail_context(bot),
    )


@bp.post("/<int:bot_id>/start", endpoint="bot_start")
@login_required
def bot_start(bot_id: int):
    return _act(bot_id, bot_service.start_bot, "Bot started: it trades at each close of its bars.")


@bp.post("/<int:bot_id>/stop", endpoint="bot_stop")
@login_required
def bot_stop(bot_id: int):
    return _act(bot_id, bot_service.stop_bot, "Bot stopped. Its positions stay open.")


@bp.post("/<int:bot_id>/delete", endpoint="bot_delete")
@login_required
def bot_delete(bot_id: int):
    form = FlaskForm()
    _, error = attempt(form, lambda: bot_service.delete_bot(current_user, bot_id))
    if error:
        bot = bot_service.get_bot(current_user, bot_id)
        return swap_row(
            "bots/_state.html",
            redirect_to=url_for("bots.bot_detail", bot_id=bot_id),
            error=error,
            status_code=200,
            **_detail_context(bot),
        )
    from flask import flash

    flash("Bot deleted.", "success")
    return redirect_client(url_for("bots.bots_listing"))


@bp.post("/<int:bot_id>/backtest", endpoint="bot_backtest")
@login_required
def bot_backtest(bot_id: int):
    """Backtest the bot's own settings over the period it has run (stored, for the comparison)."""
    bot = bot_service.get_bot(current_user, bot_id)
    form = FlaskForm()
    since = bot.started_at or bot.created_at
    start = (since - timedelta(seconds=TIMEFRAMES[bot.timeframe] * 200)).isoformat()
    _, error = attempt(form, lambda: bot_service.backtest_bot(current_user, bot_id, {"start": start}))
    db.session.expire_all()
    bot = bot_service.get_bot(current_user, bot_id)
    return swap_row(
        "bots/_state.html",
        redirect_to=url_for("bots.bot_detail", bot_id=bot_id),
        notice=None if error else "Backtest stored: compare it below.",
        error=error,
        status_code=200,
        **_detail_context(bot),
    )
