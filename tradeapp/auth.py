"""Who is calling: Flask-Login for pages, JWT for the API and Socket.IO."""

import time

from flask import Flask, request, session
from flask_jwt_extended import decode_token
from flask_login import user_logged_in
from sqlalchemy import bindparam, select
from sqlalchemy.orm.util import identity_key

from tradeapp.extensions import db, jwt, login_manager
from tradeapp.models import AccountControl, User
from tradeapp.services import compliance
from tradeapp.services.audit import client_ip
from tradeapp.services.backoffice import accounts
from tradeapp.services.tokens import access_revoked, is_revoked, password_claim


def init_auth(app: Flask) -> None:
    login_manager.login_view = "users.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        # The session id carries the password stamp: changing the password logs out other sessions.
        uid, _, stamp = user_id.partition(":")
        if not uid.isdigit():
            return None
        user = load_user_row(int(uid))
        if user is None or not user.is_active or user.password_stamp != stamp:
            return None
        if not accounts.session_valid(user.id, session.get("auth_at")):
            return None  # staff revoked every session of the account since this one began
        return user

    @user_logged_in.connect_via(app)
    def _logged_in(_app, user, **_extra):
        # When the session began (a staff "revoke all sessions" ends older ones) and the login record.
        session["auth_at"] = time.time()
        accounts.record_login(user.id, "web", client_ip(), request.headers.get("User-Agent", ""))

    @jwt.user_lookup_loader
    def load_token_user(_header, payload):
        return _token_user(payload)

    @jwt.token_in_blocklist_loader
    def token_revoked(_header, payload) -> bool:
        if payload.get("type") == "refresh":
            return is_revoked(payload["jti"])
        return access_revoked(payload)


# Built once: the user and the staff controls on the account (frozen, sessions revoked) in one query.
_USER_WITH_CONTROL = (
    select(User, AccountControl)
    .outerjoin(AccountControl, AccountControl.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


def load_user_row(user_id: int) -> User | None:
    """The user ``user_id`` with their account controls (one query, none when already loaded).

    The session check below and the services' ``compliance.require_unfrozen`` read the
    controls from here instead of querying again.
    """
    if db.session.identity_map.get(identity_key(User, user_id)) is not None:
        return db.session.get(User, user_id)
    row = db.session.execute(_USER_WITH_CONTROL, {"user_id": user_id}).first()
    if row is None:
        return None
    user, control = row
    compliance.note_account_control(user.id, control)
    return user


def _token_user(payload: dict) -> User | None:
    """The active user a token names, if the token was issued under their current password."""
    sub = str(payload.get("sub", ""))
    user = load_user_row(int(sub)) if sub.isdigit() and len(sub) < 19 else None
    if user is None or not user.is_active:
        return None
    if "pwd" in payload and payload["pwd"] != password_claim(user):
        return None  # the password changed since: every token of the user is dead
    if not accounts.session_valid(user.id, payload.get("iat")):
        return None  # staff revoked every session and token of the account since this one was issued
    return user


def user_from_access_token(token: str) -> User | None:
    """Decode an access JWT (Socket.IO auth); None when invalid, expired or not an access token."""
    try:
        payload = decode_token(token)
    except Exception:  # noqa: BLE001 - any decoding failure means no user
        return None
    if payload.get("type") != "access":
        return None
    if access_revoked(payload):
        return None
    return _token_user(payload)
