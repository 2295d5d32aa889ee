"""Append-only audit log of staff actions."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.types import UTCDateTime, utcnow
from tradeapp.models.users import User


class AuditLog(db.Model):
    """One staff (or security-relevant) action: who, what, on what, before/after, from where."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        Index("ix_audit_log_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    #: dotted verb, e.g. ``user.role_changed``
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User | None] = relationship()


class AuditLogImmutable(Exception):
    """Raised when code tries to change or delete an audit row."""


@event.listens_for(AuditLog, "before_update")
def _refuse_update(mapper, connection, target):
    raise AuditLogImmutable("audit rows are append-only")


@event.listens_for(AuditLog, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AuditLogImmutable("audit rows are append-only")
