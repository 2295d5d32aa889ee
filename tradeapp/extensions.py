"""Unbound extension objects; create_app binds them to the app."""

import functools
import threading
import time
from collections import OrderedDict

import flask_jwt_extended.view_decorators
from flask_htmx import HTMX
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api as _SmorestApi
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Deterministic constraint names so Alembic migrations are reviewable and portable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class CachingJWTManager(JWTManager):
    """Flask-JWT-Extended that verifies a given token string once, not on every request.

    Clients send the same access token with every call until it expires; verifying it (two
    decodes, a header parse and the HMAC) cost about a sixth of a transfer's CPU. A verified
    token's claims are kept (bounded LRU, keyed by the token, the key and the options), and a
    hit is only re-checked against the clock: ``exp`` and ``nbf`` with the configured leeway.
    Everything else (blocklist, user lookup, CSRF) still runs per request, after this.
    """

    CACHE_SIZE = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._verified: OrderedDict[tuple, dict] = OrderedDict()
        self._verified_lock = threading.Lock()

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        from flask import current_app

        config = current_app.config
        key = (encoded_token, csrf_value, config["JWT_SECRET_KEY"], config.get("JWT_DECODE_LEEWAY", 0))
        with self._verified_lock:
            claims = self._verified.get(key)
            if claims is not None:
                self._verified.move_to_end(key)
        if claims is not None:
            leeway = key[3].total_seconds() if hasattr(key[3], "total_seconds") else float(key[3])
            now = time.time()
            fresh = allow_expired or "exp" not in claims or claims["exp"] > now - leeway
            if fresh and claims.get("nbf", 0) <= now + leeway:
                return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if not allow_expired:
            with self._verified_lock:
                self._verified[key] = dict(claims)
                if len(self._verified) > self.CACHE_SIZE:
                    self._verified.popitem(last=False)
        return claims


@functools.lru_cache(maxsize=CachingJWTManager.CACHE_SIZE)
def _unverified_header(encoded_token: str) -> dict:
    return _jwt_headers(encoded_token)


def _cached_unverified_header(encoded_token: str) -> dict:
    """The token's header, parsed once per token string (a pure function of it).

    Flask-JWT-Extended parses the header before it decodes the token, with PyJWT checking the
    base64 character by character: a few percent of a transfer. Callers get a copy.
    """
    return dict(_unverified_header(encoded_token))


# The request decorators call the header parser by this module-level name.
_jwt_headers = flask_jwt_extended.view_decorators.get_unverified_jwt_headers
flask_jwt_extended.view_decorators.get_unverified_jwt_headers = _cached_unverified_header


class Api(_SmorestApi):
    """flask-smorest without its app-wide HTTPException handler: ours answers JSON or HTML."""

    def _register_error_handlers(self):
        pass


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
socketio = SocketIO()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
jwt = CachingJWTManager()
htmx = HTMX()
api = Api()
