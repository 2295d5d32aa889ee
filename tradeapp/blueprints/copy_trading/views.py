"""Customer copy-trading pages: the leaderboard, a trader's page (curve, stats, delayed trades, follow form with
a live preview), My copies (P&L, copied and skipped trades, edit/pause/resume/unsubscribe), applying to lead.

Subscription cards swap themselves on each action (toast + visible change); the copies list reloads on the
Socket.IO ``copy_trade`` event. Other users' subscriptions are 404.
"""

from datetime import timedelta

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import select

from tradeapp.errors import DomainError, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import CopySubscription, Trade, TradingPair
from tradeapp.models.copy_trading import OPEN_SUBSCRIPTION
from tradeapp.models.types import utcnow
from tradeapp.services.copy_trading import stats, subscriptions, traders
from tradeapp.templating import money
from tradeapp.web import FORM_EXPIRED, get_owned_or_404, login_required, redirect_client, render, swap_row

from .forms import ApplyForm, FollowForm, SettingsForm

bp = Blueprint("copy_trading", __name__, url_prefix="/copy")

WINDOWS = ("7d", "30d", "90d", "all")
WINDOW_COLUMN = {"7d": "roi_7d", "30d": "roi_30d", "90d": "roi_90d", "all": "profit_percentage"}
BOARD_SIZE = 100
COPIES_SIZE = 50
TRADES_SIZE = 20


def _delay_minutes() -> int:
    return int(traders.setting("FEED_DELAY_MINUTES", 15))


# -- the leaderboard ------------------------------------------------------------------------------


def _board_context() -> dict:
    window = request.args.get("window", "30d")
    window = window if window in WINDOWS else "30d"
    ordering = request.args.get("ordering") or f"-{WINDOW_COLUMN[window]}"
    if ordering.lstrip("-") not in traders.ORDERINGS:
        ordering = f"-{WINDOW_COLUMN[window]}"
    rows = db.session.scalars(traders.public_query(ordering=ordering).limit(BOARD_SIZE)).all()
    return {"rows": rows, "window": window, "ordering": ordering, "roi_column": WINDOW_COLUMN[window]}


def _mine_context(form: ApplyForm | None = None) -> dict:
    me = traders.trader_of(current_user)
    return {
        "me": me,
        "apply_form": form or ApplyForm(formdata=None),
        "problems": traders.eligibility(current_user) if me is None or me.status == "rejected" else [],
        "cap": traders.profit_share_cap(),
    }


@bp.get("/")
@login_required
def leaderboard():
    """Lead traders ranked by a window's time-weighted ROI (or any column); apply to lead beside it."""
    return render(
        "copy_trading/leaderboard.html",
        "copy_trading/_leaderboard.html",
        page_context=_mine_context,
        **_board_context(),
    )


@bp.post("/apply")
@login_required
def trader_apply():
    """Apply to lead; the card swaps to show the application's status."""
    form = ApplyForm()
    error = None
    if not form.validate_on_submit():
        error = FORM_EXPIRED if not form.errors else "Please correct the highlighted fields."
    else:
        try:
            traders.apply(current_user, _form_data(form))
        except DomainError as exc:
            form.show_error(exc)
            error = exc.message
    return swap_row(
        "copy_trading/_apply.html",
        redirect_to=url_for("copy_trading.leaderboard"),
        page="copy_trading/leaderboard.html",
        page_context=_board_context,
        notice=None if error else "Application sent: our team reviews it shortly.",
        error=error,
        **_mine_context(form if error else None),
    )


# -- a trader's page ----------------------------------------------------------------------------------


def _following(trader_id: int) -> CopySubscription | None:
    return db.session.scalar(
        select(CopySubscription).where(
            CopySubscription.follower_id == current_user.id,
            CopySubscription.trader_id == trader_id,
            CopySubscription.status.in_(OPEN_SUBSCRIPTION),
        )
    )


def _recent_trades(trader, following: bool) -> tuple[list, int]:
    """The trader's latest fills; non-followers see them only after the delay (nobody front-runs)."""
    delay = 0 if following or trader.user_id == current_user.id else _delay_minutes()
    query = (
        select(Trade, TradingPair)
        .join(TradingPair, TradingPair.id == Trade.pair_id)
        .where(Trade.user_id == trader.user_id)
        .order_by(Trade.executed_at.desc(), Trade.id.desc())
        .limit(TRADES_SIZE)
    )
    if delay:
        query = query.where(Trade.executed_at <= utcnow() - timedelta(minutes=delay))
    return db.session.execute(query).all(), delay


def _trader_context(trader_id: int, form: FollowForm | None = None, **extra) -> dict:
    trader = traders.get_public(trader_id)
    following = _following(trader.id)
    trades, delay = _recent_trades(trader, following is not None)
    return {
        "trader": trader,
        "following": following,
        "trades": trades,
        "delay": delay,
        "form": form or FollowForm(formdata=None, data={"copy_percentage": "25"}),
        "own": trader.user_id == current_user.id,
        "preview": None,
        **extra,
    }


@bp.get("/traders/<int:trader_id>")
@login_required
def trader_page(trader_id: int):
    """A lead trader: equity curve, stats, recent trades (delayed for non-followers) and the follow form.

    :raise 404: not an active lead trader
    """
    return render("copy_trading/trader.html", **_trader_context(trader_id))


@bp.get("/traders/<int:trader_id>/curve")
@login_required
def trader_curve(trader_id: int):
    """The equity curve's points for the chart (``?window=7d|30d|90d|all``)."""
    trader = traders.get_public(trader_id)
    window = request.args.get("window", "all")
    return jsonify(points=stats.curve(trader, window if window in WINDOWS else "all"))


def _form_data(form) -> dict:
    return {name: field.data for name, field in form._fields.items() if name not in ("csrf_token",)}


@bp.post("/traders/<int:trader_id>/preview")
@login_required
def follow_preview(trader_id: int):
    """What a copy of the trader's last buy would have been with the form's settings (nothing is written)."""
    trader = traders.get_public(trader_id)
    form = FollowForm()
    try:
        found = subscriptions.preview(current_user, trader, _form_data(form))
        error = None
    except ValidationFailed as exc:
        found, error = None, exc.message
    return render("copy_trading/_preview.html", "copy_trading/_preview.html", preview=found, preview_error=error)


@bp.post("/traders/<int:trader_id>/follow")
@login_required
def trader_follow(trader_id: int):
    """Follow: the allocation is held at once; on success the browser goes to My copies."""
    form = FollowForm()
    if form.validate_on_submit():
        try:
            sub = subscriptions.subscribe(current_user, {"trader": trader_id, **_form_data(form)})
        except DomainError as exc:
            form.show_error(exc)
            error = exc.message
        else:
            from flask import flash

            flash(
                f"You now copy {sub.trader.display_name} with {money(sub.allocated_amount, sub.currency)} "
                f"{sub.currency}.",
                "success",
            )
            return redirect_client(url_for("copy_trading.my_copies"))
    else:
        error = FORM_EXPIRED if not form.errors else "Please correct the highlighted fields."
    return swap_row(
        "copy_trading/_follow.html",
        redirect_to=url_for("copy_trading.trader_page", trader_id=trader_id),
        page="copy_trading/trader.html",
        error=error,
        **_trader_context(trader_id, form),
    )


# -- My copies ----------------------------------------------------------------------------------------


def _card_context(sub: CopySubscription, form: SettingsForm | None = None) -> dict:
    return {
        "sub": sub,
        "perf": subscriptions.performance(sub),
        "settings_form": form
        or SettingsForm(
            formdata=None,
            data={
                "copy_percentage": f"{sub.copy_percentage.normalize():f}",
                "max_position_size": f"{sub.max_position_size.normalize():f}" if sub.max_position_size else "",
                "stop_loss_percentage": f"{sub.stop_loss_percentage.normalize():f}" if sub.stop_loss_percentage else "",
                "slippage_percentage": f"{sub.slippage_percentage.normalize():f}" if sub.slippage_percentage else "",
            },
        ),
    }


def _copies_context() -> dict:
    status = request.args.get("status") or None
    status = status if status in ("copied", "skipped", "failed") else None
    query = subscriptions.copied_trades_query(current_user, status=status).limit(COPIES_SIZE)
    return {"copies": db.session.scalars(query).all(), "status_filter": status}


def _mine_page_context() -> dict:
    found = subscriptions.portfolio(current_user)
    return {
        "portfolio": found,
        "cards": [_card_context(sub) for sub, _perf in found["subscriptions"]],
        **_copies_context(),
    }


@bp.get("/mine")
@login_required
def my_copies():
    """My subscriptions with their P&L and settings; my copied and skipped trades."""
    return render("copy_trading/mine.html", **_mine_page_context())


@bp.get("/mine/copies")
@login_required
def my_copies_list():
    """The copies list fragment (reloaded on ``copy_trade`` events and by the status filter)."""
    return render(
        "copy_trading/mine.html", "copy_trading/_copies.html", page_context=_mine_page_context, **_copies_context()
    )


def _card_action(subscription_id: int, action, notice: str, form: SettingsForm | None = None):
    sub = get_owned_or_404(CopySubscription, subscription_id, owner_attr="follower_id")
    form = form or SettingsForm()
    error = None
    if not form.validate_on_submit():
        error = FORM_EXPIRED if not form.errors else "Please correct the highlighted fields."
    else:
        try:
            action(sub)
        except DomainError as exc:
            form.show_error(exc)
            error = exc.message
    db.session.expire_all()
    sub = db.session.get(CopySubscription, subscription_id)
    return swap_row(
        "copy_trading/_subscription.html",
        redirect_to=url_for("copy_trading.my_copies"),
        notice=None if error else notice,
        error=error,
        trigger="copiesChanged",
        **_card_context(sub, form if error else None),
    )


@bp.post("/mine/<int:subscription_id>/settings")
@login_required
def subscription_settings(subscription_id: int):
    """Save the settings (a new allocation percentage resizes the allocation's hold)."""
    form = SettingsForm()

    def act(sub):
        data = {k: v for k, v in _form_data(form).items() if k != "idempotency_key"}
        subscriptions.update_subscription(current_user, sub.id, data)

    return _card_action(subscription_id, act, "Settings saved.", form)


@bp.post("/mine/<int:subscription_id>/pause")
@login_required
def subscription_pause(subscription_id: int):
    return _card_action(
        subscription_id,
        lambda sub: subscriptions.update_subscription(current_user, sub.id, {"is_active": False}),
        "Paused: new trades are not copied until you resume.",
        _csrf_only(),
    )


@bp.post("/mine/<int:subscription_id>/resume")
@login_required
def subscription_resume(subscription_id: int):
    return _card_action(
        subscription_id,
        lambda sub: subscriptions.update_subscription(current_user, sub.id, {"is_active": True}),
        "Resumed: the trader's next trades are copied.",
        _csrf_only(),
    )


@bp.post("/mine/<int:subscription_id>/unsubscribe")
@login_required
def subscription_unsubscribe(subscription_id: int):
    return _card_action(
        subscription_id,
        lambda sub: subscriptions.unsubscribe(current_user, sub.id),
        "Unsubscribed: profit share settled and the allocation released. Your copied positions stay yours.",
        _csrf_only(),
    )


def _csrf_only() -> SettingsForm:
    """A bare POST button's form: CSRF checked, no fields required."""
    form = SettingsForm()
    form.copy_percentage.validators = []
    return form
