"""Socket.IO connections: who may connect and which rooms they join (the rooms are named in realtime).

:func:`connection_rooms` decides inside the handshake's request context; the in-process server
(embedded mode, tests: :func:`register_events`) and the ``realtime`` process
(:mod:`tradeapp.realtime_server`) both use it, with the same ``subscribe``/``unsubscribe`` events.
"""

import logging

from flask import current_app, g, request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room, leave_room

from tradeapp.auth import user_from_access_token
from tradeapp.extensions import socketio
from tradeapp.realtime import ticker_room, user_room

log = logging.getLogger(__name__)


def _connecting_user(auth):
    if isinstance(auth, dict) and auth.get("token"):
        return user_from_access_token(str(auth["token"]))
    # Flask-Login caches the user on ``g``; an app context shared with an earlier connection
    # (tests, or a caller's own context) must not lend that user to this one.
    g.pop("_login_user", None)
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def connection_rooms(auth) -> list[str]:
    """The rooms a connecting socket joins, decided inside the handshake's request context.

    Authentication is the Flask session cookie (Flask-Login, session protection included) or an
    access JWT in the Socket.IO ``auth`` payload (``{"token": ...}``). Anonymous visitors join no
    room (they may still subscribe to public prices); an invalid token is refused.
    """
    user = _connecting_user(auth)
    if user is None:
        if isinstance(auth, dict) and auth.get("token"):
            raise ConnectionRefusedError("invalid token")
        return []
    rooms = [user_room(user.id)]
    # Web staff must have passed two-factor; API tokens for staff are only issued with it.
    if user.is_staff and ((isinstance(auth, dict) and auth.get("token")) or session.get("staff_2fa_ok")):
        rooms.append("staff")
    return rooms


def register_events() -> None:
    """Socket.IO handlers of the in-process server (embedded mode and tests)."""

    @socketio.on("connect")
    def on_connect(auth=None):
        if not current_app.config.get("REALTIME_IN_WEB", True):
            # Production: browsers connect to the realtime process (nginx routes /socket.io/ there).
            raise ConnectionRefusedError("connect to the realtime process")
        for room in connection_rooms(auth):
            join_room(room)
        log.debug("socket %s joined", request.sid)
        return True

    @socketio.on("subscribe")
    def on_subscribe(data):
        for symbol in symbols_of(data):
            join_room(ticker_room(symbol))
        return {"ok": True}

    @socketio.on("unsubscribe")
    def on_unsubscribe(data):
        for symbol in symbols_of(data):
            leave_room(ticker_room(symbol))
        return {"ok": True}


def symbols_of(data) -> list[str]:
    """The well-formed symbols of a ``{"symbols": [...]}`` message (at most 50)."""
    symbols = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(symbols, list):
        return []
    return [s for s in symbols[:50] if isinstance(s, str) and 3 <= len(s) <= 20]
