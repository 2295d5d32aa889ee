"""Identity verification (KYC): submissions and their private files.

Every submission is kept (a rejected user resubmits; the earlier rows are the history). The
user's ``kyc_status`` mirrors their latest submission. Document numbers are encrypted at rest
(Fernet); files live outside any public folder, encrypted, and are served only through an
authorised route.
"""

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.types import UTCDateTime, utcnow
from tradeapp.models.users import User

KYC_DOCUMENT_TYPES = ("passport", "drivers_license", "national_id")
#: pending → approved | rejected; approved → expired (after KYC_VALIDITY_DAYS)
KYC_SUBMISSION_STATUSES = ("pending", "approved", "rejected", "expired")
KYC_FILE_KINDS = ("front", "back", "selfie", "address_proof")
KYC_STATES = StateMachine(
    "submission",
    {"pending": ("approved", "rejected"), "approved": ("expired",), "rejected": (), "expired": ()},
)
assert KYC_STATES.statuses == KYC_SUBMISSION_STATUSES


class KYCDocument(Stateful, db.Model):
    """One identity-verification submission."""

    __states__ = KYC_STATES

    __tablename__ = "kyc_documents"
    __table_args__ = (
        CheckConstraint("document_type IN ('passport', 'drivers_license', 'national_id')", name="document_type"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'expired')", name="status"),
        UniqueConstraint("provider", "provider_check_id", name="uq_kyc_documents_provider_check"),
        Index("ix_kyc_documents_status_submitted", "status", "submitted_at"),
        # At most one pending submission per user, even under concurrent submits.
        Index(
            "uq_kyc_documents_one_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    document_type: Mapped[str] = mapped_column(String(20))
    #: Fernet token of the document number (MultiFernet: rotate keys with KYC_ENCRYPTION_KEYS)
    document_number_encrypted: Mapped[str] = mapped_column(Text)
    #: the last characters, for masked display (e.g. ``•••• 4821``)
    document_number_last4: Mapped[str] = mapped_column(String(4))
    date_of_birth: Mapped[date] = mapped_column(Date)
    address: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(String(100))
    #: ISO 3166-1 alpha-2
    country: Mapped[str] = mapped_column(String(2), index=True)
    postal_code: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    #: when an approval stops counting (set on approval)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: manual or a provider id (``onfido``)
    provider: Mapped[str] = mapped_column(String(20), default="manual")
    provider_applicant_id: Mapped[str | None] = mapped_column(String(100))
    provider_check_id: Mapped[str | None] = mapped_column(String(100))
    #: the provider's verdict (e.g. ``clear``, ``consider``), shown to reviewers
    provider_result: Mapped[str] = mapped_column(String(30), default="")
    provider_details: Mapped[dict | None] = mapped_column(JSON)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    files: Mapped[list["KYCFile"]] = relationship(back_populates="document", order_by="KYCFile.id")


class KYCFile(db.Model):
    """One uploaded file of a submission, stored encrypted outside the static folder."""

    __tablename__ = "kyc_files"
    __table_args__ = (
        UniqueConstraint("document_id", "kind", name="uq_kyc_files_document_kind"),
        CheckConstraint("kind IN ('front', 'back', 'selfie', 'address_proof')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("kyc_documents.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: path relative to KYC_STORAGE_DIR (random name; never derived from user input)
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: detected from the content (image/jpeg, image/png, application/pdf)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    document: Mapped[KYCDocument] = relationship(back_populates="files")
