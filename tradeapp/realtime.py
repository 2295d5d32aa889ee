"""The one place that emits Socket.IO events (a leaf: services emit through it after commit).

Rooms: ``user:<id>`` (every connection of a user), ``staff`` (staff consoles) and
``ticker:<symbol>`` (prices); who joins which is decided in :mod:`tradeapp.sockets`. In production the app is initialised with the Redis message
queue, so workers and the feed process emit through the same calls.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import current_app, g, has_request_context
from socketio import RedisManager

from tradeapp.currencies import get_currency
from tradeapp.extensions import socketio

log = logging.getLogger(__name__)


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def ticker_room(symbol: str) -> str:
    return f"ticker:{symbol.replace('/', '-').upper()}"


#: emits held back by an open :func:`batched` block (per thread / task)
_pending: ContextVar[list | None] = ContextVar("tradeapp_realtime_pending", default=None)


def _emit(event: str, data: dict, room: str) -> None:
    pending = _pending.get()
    if pending is not None:
        pending.append((event, data, room))
    else:
        socketio.emit(event, data, to=room)


@contextmanager
def batched() -> Iterator[None]:
    """Emits inside the block go out together when it ends: one Redis round trip for all of
    them when this process only publishes to the message queue (the production web, worker
    and feed processes), one by one otherwise. Nested blocks join the outer one."""
    if _pending.get() is not None:
        yield
        return
    token = _pending.set([])
    try:
        yield
    finally:
        pending = _pending.get() or []
        _pending.reset(token)
        if pending:
            publish_all(pending)


def publish_all(messages: list[tuple[str, dict, str]]) -> None:
    """Emit ``(event, data, room)`` messages; pipelined to Redis when this process is write-only."""
    manager = getattr(socketio.server, "manager", None)
    if len(messages) < 2 or not isinstance(manager, RedisManager) or not manager.write_only:
        for event, data, room in messages:
            socketio.emit(event, data, to=room)
        return
    # The message python-socketio's PubSubManager.emit publishes, built once per event here.
    payloads = [
        manager.json.dumps(
            {
                "method": "emit",
                "event": event,
                "data": [data],
                "binary": False,
                "namespace": "/",
                "room": room,
                "skip_sid": None,
                "callback": None,
                "host_id": manager.host_id,
            }
        )
        for event, data, room in messages
    ]
    try:
        if not manager.connected:
            manager._redis_connect()
        pipe = manager.redis.pipeline(transaction=False)
        for payload in payloads:
            pipe.publish(manager.channel, payload)
        pipe.execute()
    except Exception:  # noqa: BLE001 - like one emit: the change is committed, a lost event is logged
        manager.connected = False
        log.exception("could not publish %d Socket.IO events", len(payloads))


def emit_to_user(user_id: int, event: str, data: dict) -> None:
    _emit(event, data, user_room(user_id))


def emit_to_staff(event: str, data: dict) -> None:
    _emit(event, data, "staff")


def emit_ticker(symbol: str, data: dict) -> None:
    _emit("ticker", data, ticker_room(symbol))


def emit_orderbook(symbol: str, book: dict) -> None:
    """The pair's order book (``orderbook``: symbol, bids, asks, timestamp; JSON-safe) to its ticker room."""
    data = {key: book.get(key) for key in ("symbol", "bids", "asks", "timestamp")}
    _emit("orderbook", data, ticker_room(symbol))


# -- money events (funds) ----------------------------------------------------------------------


def wallet_payload(wallet) -> dict:
    """``wallet_updated``: the wallet's balances, to the currency's precision."""
    quantum = get_currency(wallet.currency).quantum
    return {
        "currency": wallet.currency,
        "balance": format(wallet.balance.quantize(quantum), "f"),
        "locked_balance": format(wallet.locked_balance.quantize(quantum), "f"),
        "available_balance": format(wallet.available_balance.quantize(quantum), "f"),
    }


def wallet_updated(wallet) -> None:
    """Tell the wallet's owner its balances changed (``wallet_updated``); call after commit."""
    emit_to_user(wallet.user_id, "wallet_updated", wallet_payload(wallet))


def transaction_created(txn) -> None:
    """Tell a customer about a new or changed history line (``transaction``); call after commit."""
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
            "amount": format(txn.amount.quantize(quantum), "f"),
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
    """``obj`` as the API shows it, for the ``event`` Socket.IO event.

    Within a request the newest payload of each object is kept, so the API can answer with it
    (:func:`dumped`) instead of dumping the same object again.
    """
    data = current_app.extensions[SCHEMAS][event].dump(obj)
    if has_request_context():
        g.setdefault(_DUMPED, {})[event, id(obj)] = (obj, data)
    return data


_DUMPED = "socket_payloads"


def dumped(event: str, obj) -> dict | None:
    """The newest ``event`` payload this request built for ``obj`` (None if it built none)."""
    found = g.get(_DUMPED, {}).get((event, id(obj))) if has_request_context() else None
    return found[1] if found is not None and found[0] is obj else None


def order_payload(order, pair) -> dict:
    """``order``: an order was placed or changed (the API's order)."""
    return payload("order", order)


def trade_payload(trade, pair) -> dict:
    """``trade``: an order filled (partly) (the API's trade)."""
    return payload("trade", trade)


def position_payload(position, pair) -> dict:
    """``position``: a position changed (the API's position, without a valuation: prices move on ``ticker``)."""
    return payload("position", position)
