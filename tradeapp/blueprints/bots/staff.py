"""Staff pages over bots: every customer's bots with filters, stop a bot with a reason (audited), strategy switches."""

from flask import Blueprint, request, url_for
from flask_login import current_user

from tradeapp.errors import DomainError
from tradeapp.services.bots import bots as bot_service
from tradeapp.services.bots.strategies import STRATEGIES
from tradeapp.web import FORM_EXPIRED, render, staff_required, swap_row

from .forms import StopReasonForm, StrategySwitchForm

bp = Blueprint("staff_bots", __name__, url_prefix="/staff/bots")

VIEW = "trading.view"
MANAGE = "bots.manage"


def _filters() -> dict:
    return {
        "status": request.args.get("status", ""),
        "strategy": request.args.get("strategy", ""),
        "mode": request.args.get("mode", ""),
        "q": request.args.get("q", "")[:100],
    }


@bp.get("/")
@staff_required(VIEW)
def bots_listing():
    """Every customer's bots, newest first; filter by status, strategy, paper/live and user or bot name."""
    filters = _filters()
    results = bot_service.staff_bots(**filters, page=request.args.get("page", 1, type=int) or 1)
    return render(
        "staff/bots/list.html",
        "staff/bots/_rows.html",
        filters=filters,
        results=results,
        strategies=list(STRATEGIES),
        stop_form=StopReasonForm(formdata=None),
        MANAGE=MANAGE,
    )


def _row(bot_id: int, form=None, **answer):
    bot, owner = bot_service.staff_bot(bot_id)
    return swap_row(
        "staff/bots/_row.html",
        redirect_to=url_for("staff_bots.bots_listing"),
        bot=bot,
        owner=owner,
        stop_form=form or StopReasonForm(formdata=None),
        MANAGE=MANAGE,
        **answer,
    )


@bp.post("/<int:bot_id>/stop")
@staff_required(MANAGE)
def bot_stop(bot_id: int):
    """Stop a customer's bot with a reason: recorded on the bot, audited, and the customer is notified.

    :raise 404: when there is no such bot
    """
    bot_service.staff_bot(bot_id)
    form = StopReasonForm()
    if not form.validate_on_submit():
        error = FORM_EXPIRED if form.csrf_token.errors else "Say why the bot is stopped."
        return _row(bot_id, form, error=error, status_code=422)
    try:
        bot_service.staff_stop(current_user, bot_id, form.reason.data)
    except DomainError as exc:
        return _row(bot_id, form, error=exc.message)
    return _row(bot_id, notice=f"Bot #{bot_id} stopped; the customer was told why.")


def _strategies_context(**extra) -> dict:
    return {"catalogue": bot_service.strategy_catalogue(), "form": StrategySwitchForm(formdata=None), **extra}


@bp.get("/strategies")
@staff_required(VIEW)
def strategies_listing():
    """The strategies and whether customers may use them."""
    return render("staff/bots/strategies.html", "staff/bots/_strategies.html", MANAGE=MANAGE, **_strategies_context())


@bp.post("/strategies/<name>")
@staff_required(MANAGE)
def strategy_switch(name: str):
    """Switch a strategy on or off for everyone (off needs a reason; running bots keep running; audited)."""
    form = StrategySwitchForm()
    enable = request.form.get("enabled") == "1"
    error = None
    if not form.validate_on_submit():
        error = FORM_EXPIRED
    else:
        try:
            bot_service.set_strategy_enabled(current_user, name, enable, form.reason.data or "")
        except DomainError as exc:
            error = exc.message
    return swap_row(
        "staff/bots/_strategies.html",
        redirect_to=url_for("staff_bots.strategies_listing"),
        notice=None if error else f"{name.replace('_', ' ').capitalize()} switched {'on' if enable else 'off'}.",
        error=error,
        status_code=200,
        MANAGE=MANAGE,
        **_strategies_context(),
    )
