"""Staff pairs management: list, create, edit inline (the row swaps), activate and deactivate; feed health."""

from flask import Blueprint, current_app, url_for
from flask_login import current_user
from redis.exceptions import RedisError

from tradeapp.blueprints.staff.forms import EmptyForm
from tradeapp.errors import DomainError
from tradeapp.models import TradingPair
from tradeapp.models.types import utcnow
from tradeapp.services.trading import pairs, prices
from tradeapp.web import FORM_EXPIRED, get_or_404, render, staff_required, swap_row

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


def _row(pair: TradingPair, template: str = "staff/pairs/_row.html", **ctx):
    """The pair's row (or its edit row) for HTMX, with a toast; back to the listing otherwise.

    A failed edit without HTMX shows the listing with that row open and its errors.
    """
    return swap_row(
        template,
        redirect_to=url_for("staff_trading.pairs"),
        page="staff/pairs/pairs.html" if "form" in ctx else None,
        page_context=lambda: _page_context(edit_id=pair.id, edit_form=ctx["form"]),
        pair=pair,
        quote=pairs.cached_quote(pair),
        toggle_form=EmptyForm(formdata=None),
        **ctx,
    )


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


def _panel_context(new_form=None, edit_id=None, edit_form=None) -> dict:
    """The pairs panel: every pair with its cached quote, the create form, the row being edited."""
    rows = pairs.all_pairs()
    return {
        "pairs": rows,
        "quotes": {p.id: pairs.cached_quote(p) for p in rows},
        "new_form": new_form or _new_form(),
        "toggle_form": EmptyForm(formdata=None),
        "edit_id": edit_id,
        "edit_form": edit_form,
    }


def _page_context(**panel) -> dict:
    """The whole listing: the panel and the feed status (polled on its own once shown)."""
    return {**_panel_context(**panel), "feed": _feed()}


@bp.get("/", endpoint="pairs")
@staff_required(MANAGE)
def pairs_listing():
    """Every pair, active or not, with its fees, limits, feed and last cached price."""
    return render("staff/pairs/pairs.html", "staff/pairs/_panel.html", page_context=_feed_context, **_panel_context())


def _feed_context() -> dict:
    return {"feed": _feed()}


@bp.get("/feed-status")
@staff_required(MANAGE)
def feed_status():
    """The feed status panel (HTMX polls it); the pairs page without HTMX."""
    return swap_row("staff/trading/_feed_status.html", redirect_to=url_for("staff_trading.pairs"), feed=_feed())


@bp.post("/new")
@staff_required(MANAGE)
def pair_create():
    """Add a pair; errors show on the create form."""
    form = NewPairForm()
    if form.validate_on_submit():
        try:
            pair = pairs.create_pair(current_user, form.values())
        except DomainError as exc:
            form.show_error(exc)
        else:
            return swap_row(
                "staff/pairs/_panel.html",
                redirect_to=url_for("staff_trading.pairs"),
                notice=f"{pair.symbol} created.",
                **_panel_context(),
            )
    return render(
        "staff/pairs/pairs.html",
        "staff/pairs/_panel.html",
        status_code=422,
        page_context=_feed_context,
        **_panel_context(new_form=form),
    )


@bp.get("/<int:pair_id>/edit")
@staff_required(MANAGE)
def pair_edit_form(pair_id: int):
    """The edit row (HTMX) or the listing with that row open."""
    pair = get_or_404(TradingPair, pair_id)
    form = _edit_form(pair)
    return render(
        "staff/pairs/pairs.html",
        "staff/pairs/_edit_row.html",
        page_context=lambda: _page_context(edit_id=pair.id, edit_form=form),
        pair=pair,
        quote=pairs.cached_quote(pair),
        form=form,
        toggle_form=EmptyForm(formdata=None),
    )


@bp.get("/<int:pair_id>/row")
@staff_required(MANAGE)
def pair_row(pair_id: int):
    """The read-only row (cancelling an edit)."""
    return _row(get_or_404(TradingPair, pair_id))


@bp.post("/<int:pair_id>/edit")
@staff_required(MANAGE)
def pair_update(pair_id: int):
    """Save a pair's settings; the row swaps back, or the edit row shows the errors."""
    pair = get_or_404(TradingPair, pair_id)
    form = PairForm()
    if form.validate_on_submit():
        try:
            pair = pairs.update_pair(current_user, pair, form.values())
        except DomainError as exc:  # raised before anything changed
            form.show_error(exc)
        else:
            return _row(pair, notice=f"{pair.symbol} saved.")
    return _row(pair, "staff/pairs/_edit_row.html", status_code=422, form=form)


@bp.post("/<int:pair_id>/toggle")
@staff_required(MANAGE)
def pair_toggle(pair_id: int):
    """Deactivate an active pair or activate an inactive one."""
    pair = get_or_404(TradingPair, pair_id)
    if not EmptyForm().validate_on_submit():
        return _row(pair, error=FORM_EXPIRED)
    pair = pairs.set_active(current_user, pair, not pair.is_active)
    return _row(pair, notice=f"{pair.symbol} {'activated' if pair.is_active else 'deactivated'}.")
