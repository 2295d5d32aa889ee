"""Mobile JWTs: access (1 h) and refresh (7 days) with rotation and revocation."""

import uuid

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import delete, or_, select, update

from tradeapp.errors import AuthenticationFailed
from tradeapp.extensions import db
from tradeapp.models import RefreshToken, User
from tradeapp.models.types import utcnow


def _issue(user: User, family: str, user_agent: str) -> dict[str, str]:
    claims = {"role": user.role} if user.role else {}
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims={"fam": family})
    decoded = decode_token(refresh)
    db.session.add(
        RefreshToken(
            jti=decoded["jti"],
            user_id=user.id,
            family=family,
            expires_at=utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
            user_agent=(user_agent or "")[:300],
        )
    )
    return {"access": access, "refresh": refresh}


def issue_tokens(user: User, user_agent: str = "") -> dict[str, str]:
    """A new access/refresh pair starting a new token family."""
    pair = _issue(user, uuid.uuid4().hex, user_agent)
    db.session.commit()
    return pair


def rotate(refresh_claims: dict, user_agent: str = "") -> dict[str, str]:
    """Exchange a valid refresh token for a new pair; the used one is revoked.

    Presenting an already-revoked token means it leaked: the whole family is revoked.
    """
    row = db.session.scalar(
        select(RefreshToken).where(RefreshToken.jti == refresh_claims["jti"]).with_for_update()
    )
    if row is None:
        raise AuthenticationFailed("Token is invalid or expired.", code="token_not_valid")
    if row.revoked_at is not None:
        db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        db.session.commit()
        raise AuthenticationFailed("Token is invalid or expired.", code="token_not_valid")
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed("Token is invalid or expired.", code="token_not_valid")
    row.revoked_at = utcnow()
    pair = _issue(user, row.family, user_agent)
    db.session.commit()
    return pair


def revoke(refresh_claims: dict) -> None:
    """Log out: the refresh token (and so the session) stops working."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == refresh_claims["jti"], RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()


def is_revoked(jti: str) -> bool:
    """Unknown refresh tokens count as revoked."""
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.jti == jti))
    return row is None or row.revoked_at is not None


def purge_expired(retention_days: int = 1) -> int:
    """Delete refresh tokens that expired or were revoked more than ``retention_days`` ago."""
    from datetime import timedelta

    cutoff = utcnow() - timedelta(days=retention_days)
    result = db.session.execute(
        delete(RefreshToken).where(or_(RefreshToken.expires_at < utcnow(), RefreshToken.revoked_at < cutoff))
    )
    db.session.commit()
    return result.rowcount or 0
