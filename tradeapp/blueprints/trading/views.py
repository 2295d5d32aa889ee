"""The customer trade page: pairs, chart, order book, order form, open orders, history and positions.

One page per pair (``/trade/BTC-USD``) made of fragments that refresh themselves: the order form
swaps itself (422 with inline errors), open-order and position rows swap on cancel, close and
protection edits, and the lists reload on the ``ordersChanged`` trigger or the Socket.IO ``order``,
``trade`` and ``position`` events. Prices, the chart's last candle and the book arrive over Socket.IO
(static/js/trade.js). Other users' orders and positions are 404 (the services say NotFound).
"""

from decimal import Decimal

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from tradeapp import realtime
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.errors import DomainError, NotFound
from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models import TradingPair
from tradeapp.services import wallets
from tradeapp.services.trading import orders, pairs, positions, prices
from tradeapp.templating import money
from tradeapp.web import FORM_EXPIRED, after_settle, attempt, login_required, render, swap_row

from .forms import ORDER_TYPE_CHOICES, OrderForm, ProtectionForm
from .schemas import OrderSchema, PositionSchema, TradeSchema, ValuedPosition

bp = Blueprint("trading", __name__, url_prefix="/trade")

OPEN_LIMIT = 100
HISTORY_LIMIT = 50
BOOK_DEPTH = 12
DEFAULT_TIMEFRAME = "1h"
ORDERS_CHANGED = "ordersChanged"
#: after a cancel: the order form forgets its "placed" notice
ORDER_CANCELLED = "orderCancelled"


class _UnvaluedPositionSchema(PositionSchema):
    """A position as the API shows it, unmarked: prices move on ``ticker`` events, not with each fill."""

    UNMARKED = {"current_price": None, "market_value": None, "unrealized_pnl": None}

    def dump(self, obj, *, many=None):
        return super().dump(ValuedPosition(obj, self.UNMARKED), many=many)


@bp.record_once
def _socket_payloads(state) -> None:
    """Socket.IO ``order``, ``trade`` and ``position`` events carry what the orders API answers."""
    realtime.use_schemas(state.app, order=OrderSchema(), trade=TradeSchema(), position=_UnvaluedPositionSchema())


# -- helpers ---------------------------------------------------------------------------------------


def _pair(symbol: str) -> TradingPair:
    """The active pair ``BTC-USD``.

    :raise 404: unknown or inactive
    """
    return pairs.get_pair(symbol)


def _quote(pair: TradingPair) -> dict | None:
    """The pair's latest quote for display (stale or not), or None when there is no price at all."""
    try:
        return prices.live_quote(pair, fresh=False)
    except DomainError:
        return None


def _book(pair: TradingPair) -> dict | None:
    try:
        book = prices.live_book(pair, BOOK_DEPTH, fresh=False)
    except DomainError:
        return None
    return _with_depth(book)


def _with_depth(book: dict) -> dict:
    """Each level as ``(price, qty, cumulative share of the side's largest total)`` for the depth bars."""
    sides = {}
    for side in ("bids", "asks"):
        running, levels = Decimal(0), []
        for price, qty in book[side]:
            running += qty
            levels.append([price, qty, running])
        sides[side] = levels
    top = max([lvl[2] for lvl in sides["bids"][-1:] + sides["asks"][-1:]] or [Decimal(0)])
    for levels in sides.values():
        for lvl in levels:
            lvl[2] = int(lvl[2] * 100 / top) if top else 0
    spread = None
    if book["bids"] and book["asks"]:
        spread = book["asks"][0][0] - book["bids"][0][0]
    return {**book, "bids": sides["bids"], "asks": sides["asks"], "spread": spread}


def _available(pair: TradingPair) -> dict[str, Decimal]:
    """Available balance in the pair's base and quote currency (zero without a wallet)."""
    return {
        code: wallets.wallet_or_empty(current_user, code).available_balance
        for code in (pair.base_currency, pair.quote_currency)
    }


def _stale(pair: TradingPair) -> bool:
    return prices.is_stale(pair)


def _fresh_order_form(**data) -> OrderForm:
    form = OrderForm(formdata=None, data=data or None)
    form.fresh_key()
    return form


def _open_orders():
    query = orders.orders_query(current_user, live=True).limit(OPEN_LIMIT)
    return db.session.scalars(query).all()


def _order_history():
    query = orders.orders_query(current_user, live=False).limit(HISTORY_LIMIT)
    return db.session.scalars(query).all()


def _positions() -> dict:
    return positions.portfolio(current_user)


def _lists_context() -> dict:
    return {
        "open_orders": _open_orders(),
        "history": _order_history(),
        "portfolio": _positions(),
        "cancel_form": FlaskForm(formdata=None),
    }


def _order_form_context(pair: TradingPair, form: OrderForm, **extra) -> dict:
    return {
        "pair": pair,
        "form": form,
        "available": _available(pair),
        "stale": _stale(pair),
        "quote": _quote(pair),
        **extra,
    }


def _trade_url(pair: TradingPair | None = None) -> str:
    return url_for("trading.trade_page", symbol=pair.url_symbol) if pair else url_for("trading.trade_index")


def _fragment_or_page(fragment: str, at: TradingPair | None = None, **context):
    """HTMX gets ``fragment``; a plain request goes to the trade page (the fragments live there)."""
    return swap_row(fragment, redirect_to=_trade_url(at), **context)


def _filtered_pairs(query: str) -> list[TradingPair]:
    rows = db.session.scalars(pairs.pairs_query(active_only=True)).all()
    needle = (query or "").strip().upper().replace("-", "/")
    if not needle:
        return list(rows)
    return [p for p in rows if needle in p.symbol or needle in p.base_currency or needle in p.quote_currency]


def _pair_quotes(rows: list[TradingPair]) -> dict[int, dict | None]:
    """The feed's last published quote per pair (never asks the exchange: the list must render fast)."""
    return {p.id: pairs.cached_quote(p) for p in rows}


# -- the page --------------------------------------------------------------------------------------


@bp.get("/", endpoint="trade_index")
@login_required
def trade_index():
    """The first active pair's page, or an empty state when no market is open."""
    first = db.session.scalars(pairs.pairs_query(active_only=True).limit(1)).first()
    if first is not None:
        return redirect(url_for("trading.trade_page", symbol=first.url_symbol))
    return render("trading/no_markets.html")


@bp.get("/<symbol>", endpoint="trade_page")
@login_required
def trade_page(symbol: str):
    """Everything for trading one pair.

    :raise 404: unknown or inactive pair
    """
    pair = _pair(symbol)
    if symbol != pair.url_symbol:
        return redirect(url_for("trading.trade_page", symbol=pair.url_symbol, **request.args), 301)
    timeframe = request.args.get("tf", DEFAULT_TIMEFRAME)
    if timeframe not in TIMEFRAMES:
        timeframe = DEFAULT_TIMEFRAME
    search = request.args.get("q", "")
    pair_rows = _filtered_pairs(search)
    return render(
        "trading/trade.html",
        pair_rows=pair_rows,
        pair_quotes=_pair_quotes(pair_rows),
        search=search,
        timeframes=list(TIMEFRAMES),
        timeframe=timeframe,
        book=_book(pair),
        **_order_form_context(pair, _fresh_order_form()),
        **_lists_context(),
    )


@bp.get("/<symbol>/book", endpoint="book_fragment")
@login_required
def book_fragment(symbol: str):
    """The order book (Socket.IO ``orderbook`` events replace it live; this is the fallback)."""
    pair = _pair(symbol)
    return _fragment_or_page("trading/_orderbook.html", pair, pair=pair, book=_book(pair), quote=_quote(pair))


@bp.get("/<symbol>/balances", endpoint="balances_fragment")
@login_required
def balances_fragment(symbol: str):
    """The available balances under the order form (refreshed on ``wallet_updated``)."""
    pair = _pair(symbol)
    return _fragment_or_page("trading/_balances.html", pair, pair=pair, available=_available(pair))


# -- orders ----------------------------------------------------------------------------------------


def _placed_notice(order) -> tuple[str, str]:
    """(level, sentence) telling what became of a new order."""
    pair = order.pair
    verb = "Bought" if order.side == "buy" else "Sold"
    qty = f"{money(order.filled_quantity, trim=True)} {pair.base_currency}"
    if order.status == "filled":
        avg = money(order.average_price, places=pair.price_precision)
        return "success", f"{verb} {qty} at {avg} {pair.quote_currency}."
    if order.status == "rejected":
        return "error", f"Order rejected: {order.status_reason or 'the market could not fill it.'}"
    if order.status == "cancelled":
        reason = f" {order.status_reason}" if order.status_reason else ""
        if order.filled_quantity:
            return "warning", f"{verb} {qty}; the rest was cancelled.{reason}"
        return "warning", f"Nothing was bought or sold.{reason}"
    if order.status == "partially_filled":
        return "success", f"{verb} {qty} so far; the rest waits in your open orders."
    kind = dict(ORDER_TYPE_CHOICES).get(order.order_type, order.order_type)
    return "success", f"{kind} order placed: it waits in your open orders."


@bp.route("/<symbol>/order", methods=["GET", "POST"], endpoint="order_create")
@login_required
@idempotent
def order_create(symbol: str):
    """Place an order; the form swaps itself (422 with the errors inline, or a fresh form with a notice)."""
    pair = _pair(symbol)
    if request.method == "GET":
        return _fragment_or_page("trading/_order_form.html", pair, **_order_form_context(pair, _fresh_order_form()))
    form = OrderForm()
    if form.validate_on_submit():
        try:
            order = orders.place_order(current_user, form.order_data(pair.symbol))
        except DomainError as exc:
            form.show_error(exc)
        else:
            level, message = _placed_notice(order)
            # Keep the side and type: a second order of the same kind is one amount away.
            form = _fresh_order_form(side=order.side, order_type=order.order_type)
            return swap_row(
                "trading/_order_form.html",
                redirect_to=_trade_url(pair),
                notice=message,
                level=level,
                trigger=ORDERS_CHANGED,
                **_order_form_context(pair, form),
            )
    # Every answer carries a new key: a corrected resubmission is a new request, a double click is not.
    form.fresh_key()
    return swap_row(
        "trading/_order_form.html",
        redirect_to=_trade_url(pair),
        error=" ".join(form.error_messages()) or "Check the order.",
        **_order_form_context(pair, form),
    )


@bp.post("/<symbol>/preview", endpoint="order_preview")
@login_required
def order_preview(symbol: str):
    """Estimated price, fee and total of the order being typed (the form's live summary)."""
    pair = _pair(symbol)
    form = OrderForm()
    preview, error = None, None
    if form.quantity.data:
        try:
            preview = orders.preview_order(current_user, form.order_data(pair.symbol))
        except DomainError as exc:
            messages = [m for msgs in exc.fields.values() for m in msgs]
            error = messages[0] if messages else exc.message
    return render(
        "trading/_order_preview.html",
        "trading/_order_preview.html",
        pair=pair,
        preview=preview,
        error=error,
        side=form.side.data,
    )


@bp.get("/orders/open", endpoint="open_orders")
@login_required
def open_orders():
    """My live orders, every pair (refreshed when an order changes)."""
    return _fragment_or_page(
        "trading/_open_orders.html", open_orders=_open_orders(), cancel_form=FlaskForm(formdata=None)
    )


@bp.get("/orders/history", endpoint="order_history")
@login_required
def order_history():
    """My finished orders (filled, cancelled, rejected), newest first."""
    return _fragment_or_page("trading/_order_history.html", history=_order_history())


@bp.get("/orders/<int:order_id>/row", endpoint="order_row")
@login_required
def order_row(order_id: int):
    """One open-order row.

    :raise 404: not mine
    """
    order = orders.get_order(current_user, order_id)
    return _fragment_or_page("trading/_open_order_row.html", order=order, cancel_form=FlaskForm(formdata=None))


@bp.post("/orders/<int:order_id>/cancel", endpoint="order_cancel")
@login_required
def order_cancel(order_id: int):
    """Cancel a live order; the row swaps to its new state (the unfilled hold is released).

    :raise 404: not mine
    """
    order = orders.get_order(current_user, order_id)
    cancelled, error = attempt(FlaskForm(), lambda: orders.cancel_order(current_user, order_id))
    order = cancelled or order  # refused and rolled back: ``order`` reloads as it stands
    response = swap_row(
        "trading/_open_order_row.html",
        redirect_to=_trade_url(order.pair),
        notice=None if error else "Order cancelled; its funds are available again.",
        error=error,
        trigger=ORDERS_CHANGED,
        order=order,
        cancel_form=FlaskForm(formdata=None),
        row_error=error,
    )
    # The order form's "placed" notice is about an order that is now gone.
    return response if error else after_settle(response, ORDER_CANCELLED)


# -- positions -------------------------------------------------------------------------------------


def _position_row(position, **extra):
    """The position's row for HTMX (with a toast); back to the trade page otherwise."""
    return swap_row(
        "trading/_position_row.html",
        redirect_to=_trade_url(position.pair),
        position=position,
        value=positions.valuation(position, _quote(position.pair)),
        close_form=FlaskForm(formdata=None),
        **extra,
    )


@bp.get("/positions/", endpoint="positions_listing")
@login_required
def positions_listing():
    """My open positions with their value and unrealised P&L."""
    return _fragment_or_page("trading/_positions.html", portfolio=_positions(), close_form=FlaskForm(formdata=None))


@bp.get("/positions/<int:position_id>/row", endpoint="position_row")
@login_required
def position_row(position_id: int):
    """One position row (cancelling an edit).

    :raise 404: not mine
    """
    return _position_row(positions.get_position(current_user, position_id))


@bp.route("/positions/<int:position_id>/protection", methods=["GET", "POST"], endpoint="position_protection")
@login_required
def position_protection(position_id: int):
    """Edit a position's stop-loss and take-profit in its row.

    :raise 404: not mine
    """
    position = positions.get_position(current_user, position_id)
    pp = position.pair.price_precision
    if request.method == "GET":
        form = ProtectionForm(
            formdata=None,
            data={
                "stop_loss": pairs.dec_str(position.stop_loss, pp) or "",
                "take_profit": pairs.dec_str(position.take_profit, pp) or "",
            },
        )
        return _position_row(position, editing=True, form=form)
    form = ProtectionForm()
    if form.validate_on_submit():
        try:
            position = positions.set_protection(
                current_user,
                position_id,
                {"stop_loss": form.stop_loss.data or "", "take_profit": form.take_profit.data or ""},
            )
        except NotFound:
            raise
        except DomainError as exc:
            form.show_error(exc)
        else:
            return _position_row(position, notice=f"Saved. {position.pair.symbol} stop-loss and take-profit updated.")
    error = " ".join(form.error_messages()) or "Check the stop-loss and take-profit."
    return _position_row(position, error=error, editing=True, form=form)


@bp.post("/positions/<int:position_id>/close", endpoint="position_close")
@login_required
def position_close(position_id: int):
    """Sell the whole position at market; the row swaps (closed, or the reason it could not be).

    :raise 404: not mine
    """
    position = positions.get_position(current_user, position_id)
    error, notice = None, None
    if not FlaskForm().validate_on_submit():
        error = FORM_EXPIRED
    else:
        try:
            order = orders.close_position(current_user, position_id)
        except NotFound:
            raise
        except DomainError as exc:
            details = [m for msgs in exc.fields.values() for m in msgs]
            error = " ".join([exc.message, *details]) if details else exc.message
        else:
            level, notice = _placed_notice(order)
            if level == "error":
                error, notice = notice, None
    return _position_row(position, notice=notice, error=error, row_error=error, trigger=ORDERS_CHANGED)
