"""The one place that emits Socket.IO events, and the connection handler.

Rooms: ``user:<id>`` (every connection of a user), ``staff`` (staff consoles) and
``ticker:<symbol>`` (prices). In production the app is initialised with the Redis message
queue, so workers and the feed process emit through the same calls.
"""

import logging

from flask import request
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


def _connecting_user(auth):
    from tradeapp.auth import user_from_access_token

    if isinstance(auth, dict) and auth.get("token"):
        return user_from_access_token(str(auth["token"]))
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
        symbols = (data or {}).get("symbols") or []
        for symbol in symbols[:50]:
            if isinstance(symbol, str) and 3 <= len(symbol) <= 20:
                join_room(ticker_room(symbol))
        return {"ok": True}

    @socketio.on("unsubscribe")
    def on_unsubscribe(data):
        for symbol in (data or {}).get("symbols") or []:
            if isinstance(symbol, str):
                leave_room(ticker_room(symbol))
        return {"ok": True}
