"""Users, staff roles and mobile refresh tokens."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.types import UTCDateTime, utcnow

KYC_STATUSES = ("not_submitted", "pending", "approved", "rejected")
STAFF_ROLES = ("admin", "compliance", "finance", "loans", "support", "analyst")


class User(UserMixin, db.Model):
    """A customer or a staff member (staff have a role)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("kyc_status IN ('not_submitted', 'pending', 'approved', 'rejected')", name="kyc_status"),
        CheckConstraint(
            "role IS NULL OR role IN ('admin', 'compliance', 'finance', 'loans', 'support', 'analyst')",
            name="role",
        ),
        # Transfers (and logins) look users up by lower-cased e-mail or username.
        Index("ix_users_lower_email", func.lower(text("email"))),
        Index("ix_users_lower_username", func.lower(text("username"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: login identifier, stored lower-case
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    phone_number: Mapped[str] = mapped_column(String(20), default="")
    #: identity verified (KYC approved) — the seed's meaning
    is_verified: Mapped[bool] = mapped_column(default=False)
    kyc_status: Mapped[str] = mapped_column(String(20), default="not_submitted")
    #: when the user proved they own the e-mail address
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    referral_code: Mapped[str] = mapped_column(String(10), unique=True)
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: a disabled account cannot log in
    is_active_flag: Mapped[bool] = mapped_column("is_active", default=True)
    #: staff role; NULL for customers
    role: Mapped[str | None] = mapped_column(String(20), index=True)
    #: base32 TOTP secret; staff must have one confirmed before using the console
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: last TOTP time-step accepted, so a code cannot be replayed
    totp_last_step: Mapped[int | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    referred_by: Mapped["User | None"] = relationship(remote_side=[id], back_populates="referrals")
    referrals: Mapped[list["User"]] = relationship(back_populates="referred_by")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_flag

    def get_id(self) -> str:  # Flask-Login: the session dies with the password
        return f"{self.id}:{self.password_stamp}"

    @property
    def is_staff(self) -> bool:
        return self.role is not None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.username

    @property
    def password_stamp(self) -> str:
        """Changes whenever the password does; signed tokens embed it so they die with it."""
        return self.password_hash[-12:]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class RefreshToken(db.Model):
    """A refresh token issued to a mobile client; rotation revokes the one used."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: tokens from one login share a family; reuse of a revoked token revokes the family
    family: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship()


class LoginThrottle(db.Model):
    """Failed logins per e-mail address (hashed), whether or not the account exists.

    Keeping the counter for unknown addresses too means a lockout reveals nothing about
    which addresses are registered.
    """

    __tablename__ = "login_throttles"

    #: sha256 of the lower-cased e-mail
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
