"""Socket.IO connections: who may connect and which rooms they join (the rooms are named in realtime)."""

import logging

from flask import g, request, session
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
        # Web staff must have passed two-factor; API tokens for staff are only issued with it.
        if user.is_staff and ((isinstance(auth, dict) and auth.get("token")) or session.get("staff_2fa_ok")):
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
