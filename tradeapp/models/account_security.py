"""Customer account security: settings, 2FA recovery codes, sessions and devices, the withdrawal
address book and e-mailed withdrawal confirmations.

The TOTP secret itself lives on ``users`` (``totp_secret``, ``totp_confirmed_at``, ``totp_last_step``),
shared with staff two-factor, so one code checker (with its replay guard) serves both.
"""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.types import UTCDateTime, utcnow

SESSION_KINDS = ("web", "api")


class SecuritySettings(db.Model):
    """One row per customer who changed a security setting; without a row the defaults apply."""

    __tablename__ = "security_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    #: withdrawals wait for a click on an e-mailed link before staff see them
    withdrawal_confirmation: Mapped[bool] = mapped_column(Boolean, default=True)
    #: withdrawals only to addresses in the book (past their cooling-off)
    whitelist_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: shown at the top of every e-mail the platform sends this customer
    anti_phishing_phrase: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RecoveryCode(db.Model):
    """A one-time 2FA recovery code, stored as a hash; shown to the customer once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserSession(db.Model):
    """A signed-in device: a web session (``sid`` in the cookie) or an API login (its refresh-token family).

    Revoking one ends it at its next request: the web session is refused by the user loader, the
    API family's refresh tokens are revoked and its access tokens denied until they expire.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_active", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="web")
    #: the web session's random id, or the API login's token family
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KnownDevice(db.Model):
    """A (user agent, IP) pair a customer has logged in from: a login from an unknown one is alerted."""

    __tablename__ = "known_devices"
    __table_args__ = (UniqueConstraint("user_id", "fingerprint", name="uq_known_devices_user_fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: sha256 of user agent and IP
    fingerprint: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WithdrawalAddress(db.Model):
    """A saved destination: usable once its cooling-off period has passed, unless revoked."""

    __tablename__ = "withdrawal_addresses"
    __table_args__ = (Index("ix_withdrawal_addresses_user_fingerprint", "user_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(10))
    destination_type: Mapped[str] = mapped_column(String(20))
    destination_details: Mapped[dict] = mapped_column(JSON)
    #: sha256 of the normalised destination: a withdrawal's destination is matched by it
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    usable_from: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.usable_from <= utcnow() else "cooling_off"


class WithdrawalConfirmation(db.Model):
    """A withdrawal waiting for the customer's click on the e-mailed link before staff see it."""

    __tablename__ = "withdrawal_confirmations"

    withdrawal_id: Mapped[int] = mapped_column(ForeignKey("withdrawals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    withdrawal = relationship("Withdrawal")
