"""Staff pages over trading: every user's orders and trades with live filters, an order's file, staff cancel."""

from flask import Blueprint, request, url_for
from flask_login import current_user

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Order, User
from tradeapp.services import staff_queries
from tradeapp.services.trading import orders, pairs
from tradeapp.services.trading import queries as trading_queries
from tradeapp.web import FORM_EXPIRED, get_or_404, render, staff_required, swap_row

from .staff_forms import OrderFilterForm, StaffCancelForm, TradeFilterForm

bp = Blueprint("staff_orders", __name__, url_prefix="/staff/trading")

VIEW = "trading.view"
#: cancelling a customer's order releases their funds (compliance and admins)
CANCEL = "orders.cancel"


def _symbols() -> list[str]:
    return [p.symbol for p in pairs.all_pairs()]


# -- listings ------------------------------------------------------------------------------------


def _listing(form_class, filters_class, search, page: str, rows: str):
    """A filtered, paginated list of orders or trades; an HTMX request gets only the results."""
    form = form_class(request.args, symbols=_symbols())
    valid = form.validate()
    filters = filters_class(**{f.name: form.value(f.name) for f in form})
    results = search(filters, request.args.get("page", 1, type=int))
    return render(
        page,
        rows,
        form=form,
        valid=valid,
        filters=filters,
        results=results,
        owners=trading_queries.users_by_id(results.items),
    )


@bp.get("/orders/")
@staff_required(VIEW)
def orders_listing():
    """Every user's orders, newest first; filters narrow them."""
    return _listing(
        OrderFilterForm,
        trading_queries.OrderFilters,
        trading_queries.search_orders,
        "staff/trading/orders.html",
        "staff/trading/_order_rows.html",
    )


@bp.get("/trades/")
@staff_required(VIEW)
def trades_listing():
    """Every user's fills, newest first, with the same live filters."""
    return _listing(
        TradeFilterForm,
        trading_queries.TradeFilters,
        trading_queries.search_trades,
        "staff/trading/trades.html",
        "staff/trading/_trade_rows.html",
    )


# -- one order -----------------------------------------------------------------------------------


def _detail_context(order: Order, **extra) -> dict:
    fills = trading_queries.order_fills(order)
    return {
        "order": order,
        "owner": db.session.get(User, order.user_id),
        "fills": fills,
        "hold": order.hold,
        "entries": trading_queries.order_entries(order, fills),
        "trail": trading_queries.order_audit(order),
        "changes": staff_queries.audit_changes,
        "cancel_form": extra.pop("cancel_form", None) or StaffCancelForm(formdata=None),
        "CANCEL": CANCEL,
        **extra,
    }


@bp.get("/orders/<int:order_id>")
@staff_required(VIEW)
def order_detail(order_id: int):
    """An order's file: terms, fills, its hold, the ledger entries it caused and its audit trail.

    :raise 404: when there is no such order
    """
    order = get_or_404(Order, order_id)
    return render("staff/trading/order_detail.html", "staff/trading/_order_panel.html", **_detail_context(order))


def _panel(order: Order, cancel_form=None, **answer):
    """The refreshed order panel with a toast (the page, or back to it, without HTMX)."""
    url = url_for("staff_orders.order_detail", order_id=order.id)
    context = _detail_context(order, cancel_form=cancel_form)
    page = "staff/trading/order_detail.html"
    return swap_row("staff/trading/_order_panel.html", redirect_to=url, page=page, **answer, **context)


@bp.post("/orders/<int:order_id>/cancel")
@staff_required(CANCEL)
def order_cancel(order_id: int):
    """Cancel a customer's live order with a reason: the unfilled hold is released and the action audited.

    :raise 404: when there is no such order
    """
    order = get_or_404(Order, order_id)
    form = StaffCancelForm()
    if not form.validate_on_submit():
        error = FORM_EXPIRED if form.csrf_token.errors else None
        return _panel(order, error=error, status_code=422, cancel_form=form)
    try:
        order = orders.staff_cancel(current_user, order.id, form.reason.data)
    except DomainError as exc:
        return _panel(order, error=exc.message, cancel_form=form)
    return _panel(order, notice=f"Order #{order.id} cancelled; the unfilled hold was released.")
