"""The one place that emits Socket.IO events, and the connection handler.

Rooms: ``user:<id>`` (every connection of a user), ``staff`` (staff consoles) and
``ticker:<symbol>`` (prices). In production the app is initialised with the Redis message
queue, so workers and the feed process emit through the same calls.
"""

import logging

from flask import current_app, g, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room, leave_room

from tradeapp.extensions import socketio

log = logging.getLogger(__name__)


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def ticker_room(symbol: str) -> str:
    return f"ticker:{symbol.replace('/', '-').upper()}"


def emit_to_user(user_id: int, event: str, data: dict) -> None:
    socketio.emit(event, data, to=user_room(user_id))


def emit_to_staff(event: str, data: dict) -> None:
    socketio.emit(event, data, to="staff")


def emit_ticker(symbol: str, data: dict) -> None:
    socketio.emit("ticker", data, to=ticker_room(symbol))


def emit_orderbook(symbol: str, book: dict) -> None:
    """The pair's order book (``orderbook``: symbol, bids, asks, timestamp; JSON-safe) to its ticker room."""
    data = {key: book.get(key) for key in ("symbol", "bids", "asks", "timestamp")}
    socketio.emit("orderbook", data, to=ticker_room(symbol))


def _connecting_user(auth):
    from tradeapp.auth import user_from_access_token

    if isinstance(auth, dict) and auth.get("token"):
        return user_from_access_token(str(auth["token"]))
    # Flask-Login caches the user on ``g``; an app context shared with an earlier connection
    # (tests, or a caller's own context) must not lend that user to this one.
    g.pop("_login_user", None)
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def register_events() -> None:
    @socketio.on("connect")
    def on_connect(auth=None):
        user = _connecting_user(auth)
        if user is None:
            # Anonymous visitors may still watch public prices.
            if isinstance(auth, dict) and auth.get("token"):
                raise ConnectionRefusedError("invalid token")
            return True
        join_room(user_room(user.id))
        if user.is_staff:
            from flask import session

            # Web staff must have passed two-factor; API tokens for staff are only issued with it.
            if (isinstance(auth, dict) and auth.get("token")) or session.get("staff_2fa_ok"):
                join_room("staff")
        log.debug("socket %s joined as user %s", request.sid, user.id)
        return True

    @socketio.on("subscribe")
    def on_subscribe(data):
        for symbol in _symbols(data):
            join_room(ticker_room(symbol))
        return {"ok": True}

    @socketio.on("unsubscribe")
    def on_unsubscribe(data):
        for symbol in _symbols(data):
            leave_room(ticker_room(symbol))
        return {"ok": True}


def _symbols(data) -> list[str]:
    """The well-formed symbols of a ``{"symbols": [...]}`` message (at most 50)."""
    symbols = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(symbols, list):
        return []
    return [s for s in symbols[:50] if isinstance(s, str) and 3 <= len(s) <= 20]


# -- money events (funds) ----------------------------------------------------------------------


def wallet_payload(wallet) -> dict:
    """``wallet_updated``: the wallet's balances, to the currency's precision."""
    from tradeapp.currencies import get_currency

    quantum = get_currency(wallet.currency).quantum
    return {
        "currency": wallet.currency,
        "balance": str(wallet.balance.quantize(quantum)),
        "locked_balance": str(wallet.locked_balance.quantize(quantum)),
        "available_balance": str(wallet.available_balance.quantize(quantum)),
    }


def wallet_updated(wallet) -> None:
    """Tell the wallet's owner its balances changed (``wallet_updated``); call after commit."""
    emit_to_user(wallet.user_id, "wallet_updated", wallet_payload(wallet))


def transaction_created(txn) -> None:
    """Tell a customer about a new or changed history line (``transaction``); call after commit."""
    from tradeapp.currencies import get_currency

    quantum = get_currency(txn.currency).quantum
    emit_to_user(
        txn.user_id,
        "transaction",
        {
            "id": txn.id,
            "reference_id": txn.reference_id,
            "transaction_type": txn.transaction_type,
            "status": txn.status,
            "currency": txn.currency,
            "amount": str(txn.amount.quantize(quantum)),
            "direction": txn.direction,
        },
    )


# -- trading events ------------------------------------------------------------------------------
# Services build payloads before they commit and emit them after, so no event describes a change
# that was rolled back and nothing is reloaded from the database just to be announced. A payload is
# what the JSON API answers for the same object: the blueprint that owns the API schemas registers them
# here (``use_schemas``), so a socket ``order`` event and ``GET /api/v1/orders/{id}/`` carry the same fields.

#: ``app.extensions`` key: event name → the API schema that dumps its object
SCHEMAS = "socket_schemas"


def use_schemas(app, **schemas) -> None:
    """Dump the objects of these events (``order=OrderSchema()``) as the API does."""
    app.extensions.setdefault(SCHEMAS, {}).update(schemas)


def payload(event: str, obj) -> dict:
    """``obj`` as the API shows it, for the ``event`` Socket.IO event."""
    return current_app.extensions[SCHEMAS][event].dump(obj)


def order_payload(order, pair) -> dict:
    """``order``: an order was placed or changed (the API's order)."""
    return payload("order", order)


def trade_payload(trade, pair) -> dict:
    """``trade``: an order filled (partly) (the API's trade)."""
    return payload("trade", trade)


def position_payload(position, pair) -> dict:
    """``position``: a position changed (the API's position, without a valuation: prices move on ``ticker``)."""
    return payload("position", position)
