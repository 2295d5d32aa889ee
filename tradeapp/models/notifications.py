"""The notification centre's rows: one per user and event, and per-user channel preferences."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradeapp.extensions import db
from tradeapp.models.types import UTCDateTime, utcnow


class Notification(db.Model):
    """Something a user should hear about: shown in the bell and the notifications page."""

    __tablename__ = "notifications"
    __table_args__ = (
        # the bell's unread count and the page's newest-first list, per user
        Index("ix_notifications_user_unread", "user_id", "read_at"),
        Index("ix_notifications_user_id_desc", "user_id", "id"),
        # one row per (user, event) when the caller gives a key: a retried job never notifies twice
        UniqueConstraint("user_id", "dedupe_key", name="uq_notifications_user_dedupe_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: registered kind, e.g. ``deposit_credited`` (see :mod:`tradeapp.services.notifications`)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    #: a site path the notification leads to (``/wallet``), never an absolute URL
    link: Mapped[str | None] = mapped_column(String(300))
    data: Mapped[dict | None] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(db.Model):
    """A user's choice of channels for one kind; a kind without a row uses its defaults."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_notification_preferences_user_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    live: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)
