"""Staff pairs management: list, create, edit inline (the row swaps), activate and deactivate; feed health."""

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_login import current_user
from redis.exceptions import RedisError

from tradeapp.blueprints.staff.forms import EmptyForm
from tradeapp.errors import DomainError
from tradeapp.models import TradingPair
from tradeapp.models.types import utcnow
from tradeapp.services.trading import pairs, prices
from tradeapp.web import get_or_404, is_htmx, render, staff_required

from .forms import NewPairForm, PairForm

bp = Blueprint("staff_trading", __name__, url_prefix="/staff/pairs")

MANAGE = pairs.MANAGE
#: how often the feed status panel refreshes itself
FEED_POLL_SECONDS = 5


def _edit_form(pair: TradingPair) -> PairForm:
    values = pairs.snapshot(pair)
    return PairForm(formdata=None, data={name: values[name] for name in PairForm.FIELDS})


def _new_form() -> NewPairForm:
    return NewPairForm(formdata=None, data={"pair_type": "crypto", "feed_exchange": "simulated", "is_active": True})


def _row(pair: TradingPair, template="staff/pairs/_row.html", status=200, **ctx):
    response = render(
        template,
        template,
        pair=pair,
        quote=pairs.cached_quote(pair),
        toggle_form=EmptyForm(formdata=None),
        **ctx,
    )
    response.status_code = status
    return response


def _feed() -> dict:
    """The feed status panel's context: per pair last tick, age, stale flag and failures."""
    context = {
        "rows": None,
        "error": "",
        "checked_at": utcnow(),
        "stale_after": current_app.config["FEED_STALE_SECONDS"],
        "poll_seconds": FEED_POLL_SECONDS,
    }
    try:
        context["rows"] = prices.feed_status()
    except RedisError:
        # The panel polls: a Redis outage shows here instead of a 500 every few seconds.
        current_app.logger.warning("feed status unavailable", exc_info=True)
        context["error"] = "Feed status unavailable: Redis cannot be reached."
    return context


def _page(new_form=None, notice=None, status=200, edit_id=None, edit_form=None):
    rows = pairs.all_pairs()
    response = render(
        "staff/pairs/pairs.html",
        "staff/pairs/_panel.html",
        pairs=rows,
        quotes={p.id: pairs.cached_quote(p) for p in rows},
        new_form=new_form or _new_form(),
        toggle_form=EmptyForm(formdata=None),
        notice=notice,
        edit_id=edit_id,
        edit_form=edit_form,
        feed=None if is_htmx() else _feed(),
    )
    response.status_code = status
    return response


@bp.get("/", endpoint="pairs")
@staff_required(MANAGE)
def pairs_listing():
    """Every pair, active or not, with its fees, limits, feed and last cached price."""
    return _page()


@bp.get("/feed-status")
@staff_required(MANAGE)
def feed_status():
    """The feed status panel (HTMX polls it); the pairs page without HTMX."""
    if is_htmx():
        return render("staff/trading/_feed_status.html", feed=_feed())
    return redirect(url_for("staff_trading.pairs"), 303)


@bp.post("/new")
@staff_required(MANAGE)
def pair_create():
    """Add a pair; errors show on the create form."""
    form = NewPairForm()
    if not form.validate_on_submit():
        return _page(new_form=form, status=422)
    try:
        pair = pairs.create_pair(current_user, form.values())
    except DomainError as exc:
        form.show_errors(exc.fields or {"": [exc.message]})
        return _page(new_form=form, status=422)
    notice = f"{pair.symbol} created."
    if is_htmx():
        return _page(notice=notice)
    flash(notice, "success")
    return redirect(url_for("staff_trading.pairs"), 303)


@bp.get("/<int:pair_id>/edit")
@staff_required(MANAGE)
def pair_edit_form(pair_id: int):
    """The edit row (HTMX) or the listing with that row open."""
    pair = get_or_404(TradingPair, pair_id)
    if is_htmx():
        return _row(pair, "staff/pairs/_edit_row.html", form=_edit_form(pair))
    return _page(edit_id=pair.id, edit_form=_edit_form(pair))


@bp.get("/<int:pair_id>/row")
@staff_required(MANAGE)
def pair_row(pair_id: int):
    """The read-only row (cancelling an edit)."""
    pair = get_or_404(TradingPair, pair_id)
    if is_htmx():
        return _row(pair)
    return redirect(url_for("staff_trading.pairs"), 303)


@bp.post("/<int:pair_id>/edit")
@staff_required(MANAGE)
def pair_update(pair_id: int):
    """Save a pair's settings; the row swaps back, or the edit row shows the errors."""
    pair = get_or_404(TradingPair, pair_id)
    form = PairForm()

    def failed():
        if is_htmx():
            return _row(pair, "staff/pairs/_edit_row.html", status=422, form=form)
        return _page(edit_id=pair.id, edit_form=form, status=422)

    if not form.validate_on_submit():
        return failed()
    try:
        pair = pairs.update_pair(current_user, pair, form.values())
    except DomainError as exc:  # raised before anything changed
        form.show_errors(exc.fields or {"": [exc.message]})
        return failed()
    notice = f"{pair.symbol} saved."
    if is_htmx():
        return _row(pair, notice=notice)
    flash(notice, "success")
    return redirect(url_for("staff_trading.pairs"), 303)


@bp.post("/<int:pair_id>/toggle")
@staff_required(MANAGE)
def pair_toggle(pair_id: int):
    """Deactivate an active pair or activate an inactive one."""
    pair = get_or_404(TradingPair, pair_id)
    if not EmptyForm().validate_on_submit():
        if is_htmx():
            return _row(pair, status=422, error="The form expired; reload the page.")
        flash("The form expired; reload the page.", "error")
        return redirect(url_for("staff_trading.pairs"), 303)
    pair = pairs.set_active(current_user, pair, not pair.is_active)
    notice = f"{pair.symbol} {'activated' if pair.is_active else 'deactivated'}."
    if is_htmx():
        return _row(pair, notice=notice)
    flash(notice, "success")
    return redirect(url_for("staff_trading.pairs"), 303)
