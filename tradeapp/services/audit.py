"""Writing the audit log. Rows join the caller's transaction; they are never updated."""

from typing import Any

from flask import has_request_context, request

from tradeapp.extensions import db
from tradeapp.models import AuditLog, User


def client_ip() -> str:
    """The caller's address (ProxyFix supplies the real one behind a proxy)."""
    if not has_request_context():
        return ""
    return (request.remote_addr or "")[:45]


def record(
    actor: User | None,
    action: str,
    target: Any = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Add an audit row to the current transaction (the caller commits)."""
    target_type = ""
    target_id = ""
    if target is not None:
        target_type = getattr(target, "__tablename__", type(target).__name__)
        target_id = str(getattr(target, "id", "") or "")
    row = AuditLog(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        ip_address=client_ip() if ip is None else ip,
    )
    db.session.add(row)
    return row
