"""Identity verification (KYC) for customers: submission, encrypted private files, expiry.

Status machine of a submission: pending → approved | rejected (review, in
:mod:`tradeapp.services.kyc_review`); approved → expired (:func:`expire_approvals`). Every
submission is kept as history; ``user.kyc_status`` mirrors the latest one.

Files are checked by their content (magic bytes, Pillow for images), encrypted with
MultiFernet (``KYC_ENCRYPTION_KEYS``, newest key first) and written under ``KYC_STORAGE_DIR``
with random names. Document numbers are encrypted with the same keys. Nothing personal is logged.
"""

import base64
import hashlib
import io
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp.data.iso3166 import COUNTRY_CODES
from tradeapp.errors import DomainError, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.models.kyc import KYC_DOCUMENT_TYPES, KYCDocument, KYCFile
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, notifications
from tradeapp.services.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

REVIEW = "kyc.review"
#: the job that hands a submission to an automatic provider (by name: services never import jobs)
PROVIDER_CHECK_JOB = "tradeapp.jobs.kyc.start_provider_check"

DOCUMENT_TYPE_LABELS = {"passport": "Passport", "drivers_license": "Driving licence", "national_id": "National ID card"}

#: input field (the seed's names) → KYCFile.kind
FILE_FIELDS = {"document_front": "front", "document_back": "back", "selfie": "selfie", "address_proof": "address_proof"}
FILE_LABELS = {
    "front": "Document front",
    "back": "Document back",
    "selfie": "Selfie",
    "address_proof": "Proof of address",
}
#: the selfie must be a photo; document pages and the address proof may be scanned to PDF
PDF_ALLOWED = frozenset({"front", "back", "address_proof"})
MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"%PDF-", "application/pdf"))
MIN_PIXELS = 300
MAX_PIXELS = 10_000

DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9 -]{4,40}$")
POSTAL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,19}$")
MAX_ADDRESS = 300
MAX_CITY = 100


class KycAlreadyPending(DomainError):
    """A submission is already waiting for review."""

    status = 400
    code = "kyc_pending"


class KycAlreadyApproved(DomainError):
    """The identity is verified and the approval has not expired."""

    status = 400
    code = "kyc_already_approved"


# -- encryption and storage -----------------------------------------------------------------------


def _fernet() -> MultiFernet:
    """MultiFernet over ``KYC_ENCRYPTION_KEYS`` (newest first), or one key derived from SECRET_KEY."""
    config = current_app.config
    raw = config.get("KYC_ENCRYPTION_KEYS") or ""
    cache_key = ("kyc.fernet", raw, config["SECRET_KEY"])
    cached = current_app.extensions.get("tradeapp.kyc_fernet")
    if cached and cached[0] == cache_key:
        return cached[1]
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        if not config.get("EMBEDDED") and not config.get("TESTING"):
            log.warning("KYC_ENCRYPTION_KEYS is not set: KYC files are encrypted with a key derived from SECRET_KEY")
        keys = [base64.urlsafe_b64encode(hashlib.sha256(config["SECRET_KEY"].encode()).digest()).decode()]
    fernet = MultiFernet([Fernet(k) for k in keys])
    current_app.extensions["tradeapp.kyc_fernet"] = (cache_key, fernet)
    return fernet


def _storage_dir() -> Path:
    return Path(current_app.config["KYC_STORAGE_DIR"])


def _path(storage_key: str) -> Path:
    """The file of ``storage_key``, refusing anything that would leave the storage folder."""
    root = _storage_dir().resolve()
    path = (root / storage_key).resolve()
    if root not in path.parents:
        raise ValueError("storage key outside the KYC folder")
    return path


def _write_encrypted(data: bytes) -> str:
    """Encrypt ``data`` to a new random file; its storage key (a path relative to the folder)."""
    token = secrets.token_hex(20)
    key = f"{token[:2]}/{token}"
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "xb") as fh:
        fh.write(_fernet().encrypt(data))
    path.chmod(0o600)
    return key


def _delete(storage_keys: list[str]) -> None:
    for key in storage_keys:
        try:
            _path(key).unlink(missing_ok=True)
        except OSError:
            log.exception("could not delete an orphaned KYC file")


def read_file(kyc_file: KYCFile) -> bytes:
    """The decrypted bytes of ``kyc_file`` (checked against the stored SHA-256)."""
    with open(_path(kyc_file.storage_key), "rb") as fh:
        data = _fernet().decrypt(fh.read())
    if hashlib.sha256(data).hexdigest() != kyc_file.sha256:
        raise InvalidToken("KYC file does not match its checksum")
    return data


def document_number(doc: KYCDocument) -> str:
    """The decrypted document number (for reviewers; never log it)."""
    return _fernet().decrypt(doc.document_number_encrypted.encode()).decode()


def masked_number(doc: KYCDocument) -> str:
    return f"•••• {doc.document_number_last4}"


# -- queries ----------------------------------------------------------------------------------------


def latest_submission(user: User) -> KYCDocument | None:
    return db.session.scalars(
        select(KYCDocument)
        .where(KYCDocument.user_id == user.id)
        .order_by(KYCDocument.submitted_at.desc(), KYCDocument.id.desc())
        .limit(1)
    ).first()


def submissions(user: User) -> list[KYCDocument]:
    """The user's submissions, newest first (the history)."""
    return list(
        db.session.scalars(
            select(KYCDocument)
            .where(KYCDocument.user_id == user.id)
            .order_by(KYCDocument.submitted_at.desc(), KYCDocument.id.desc())
        )
    )


def pending_count() -> int:
    return db.session.scalar(select(func.count()).select_from(KYCDocument).where(KYCDocument.status == "pending"))


def can_view_file(user, kyc_file: KYCFile) -> bool:
    """The owner, or staff allowed to review KYC."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "id", None):
        return False
    return kyc_file.document.user_id == user.id or has_permission(user, REVIEW)


def can_submit(user: User, latest: KYCDocument | None = None, now: datetime | None = None) -> bool:
    """Whether a new submission would be accepted now (nothing pending, no live approval)."""
    latest = latest if latest is not None else latest_submission(user)
    return _refusal(latest, now or utcnow()) is None


def _approval_live(doc: KYCDocument, now: datetime) -> bool:
    return doc.status == "approved" and (doc.expires_at is None or doc.expires_at > now)


def _refusal(latest: KYCDocument | None, now: datetime) -> DomainError | None:
    if latest is None:
        return None
    if latest.status == "pending":
        return KycAlreadyPending("Your identity documents are already being reviewed.")
    if _approval_live(latest, now):
        return KycAlreadyApproved("Your identity is already verified.", code="kyc_already_approved")
    return None


# -- validation ----------------------------------------------------------------------------------


@dataclass
class _Upload:
    kind: str
    data: bytes
    content_type: str


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    return str(value).strip()


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _parse_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _sniff(data: bytes) -> str | None:
    for magic, content_type in MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def _check_file(kind: str, storage, errors: list[str]) -> _Upload | None:
    """Read and check one upload by its content; ``None`` (and messages in ``errors``) if refused."""
    limit_mb = int(current_app.config.get("KYC_MAX_FILE_MB", 8))
    limit = limit_mb * 1024 * 1024
    stream = getattr(storage, "stream", storage)
    data = stream.read(limit + 1)
    if not data:
        errors.append("The file is empty.")
        return None
    if len(data) > limit:
        errors.append(f"The file is larger than {limit_mb} MB.")
        return None
    content_type = _sniff(data)
    if content_type is None or (content_type == "application/pdf" and kind not in PDF_ALLOWED):
        allowed = "a JPEG or PNG photo" if kind not in PDF_ALLOWED else "a JPEG or PNG image or a PDF"
        errors.append(f"Upload {allowed}.")
        return None
    if content_type.startswith("image/"):
        # Pillow is imported on the first image upload, not at every process start.
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if min(width, height) < MIN_PIXELS:
                    errors.append(f"The image is too small: at least {MIN_PIXELS}×{MIN_PIXELS} pixels.")
                    return None
                if max(width, height) > MAX_PIXELS:
                    errors.append(f"The image is too large: at most {MAX_PIXELS}×{MAX_PIXELS} pixels.")
                    return None
                image.verify()
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
            errors.append("The image could not be read.")
            return None
    return _Upload(kind, data, content_type)


def _validate(data: dict, files: dict, today: date) -> tuple[dict, list[_Upload]]:
    """Clean values and checked uploads, or raise ValidationFailed with every field's errors."""
    errors: dict[str, list[str]] = {}
    clean: dict = {}

    document_type = _text(data, "document_type")
    if document_type not in KYC_DOCUMENT_TYPES:
        errors["document_type"] = ["Choose passport, driving licence or national ID card."]
    clean["document_type"] = document_type

    number = re.sub(r"\s+", " ", _text(data, "document_number").upper())
    if not number:
        errors["document_number"] = ["This field is required."]
    elif not DOCUMENT_NUMBER.match(number) or len(re.sub(r"[ -]", "", number)) < 4:
        errors["document_number"] = ["Use 4 to 40 letters, digits, spaces or hyphens, as printed on the document."]
    clean["document_number"] = number

    raw_dob = data.get("date_of_birth")
    born = _parse_date(raw_dob) if raw_dob not in (None, "") else None
    min_age = int(current_app.config.get("KYC_MIN_AGE", 18))
    if raw_dob in (None, ""):
        errors["date_of_birth"] = ["This field is required."]
    elif born is None:
        errors["date_of_birth"] = ["Enter a valid date (YYYY-MM-DD)."]
    elif born > today or born.year < 1900:
        errors["date_of_birth"] = ["Enter your real date of birth."]
    elif _age(born, today) < min_age:
        errors["date_of_birth"] = [f"You must be at least {min_age} years old."]
    clean["date_of_birth"] = born

    for name, limit in (("address", MAX_ADDRESS), ("city", MAX_CITY)):
        value = _text(data, name)
        if not value:
            errors[name] = ["This field is required."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        clean[name] = value

    postal = re.sub(r"\s+", " ", _text(data, "postal_code").upper())
    if not postal:
        errors["postal_code"] = ["This field is required."]
    elif not POSTAL_CODE.match(postal):
        errors["postal_code"] = ["Use 2 to 20 letters, digits, spaces or hyphens."]
    clean["postal_code"] = postal

    country = _text(data, "country").upper()
    if not country:
        errors["country"] = ["This field is required."]
    elif country not in COUNTRY_CODES:
        errors["country"] = ["Use an ISO 3166-1 two-letter country code, such as GB or DE."]
    clean["country"] = country

    uploads: list[_Upload] = []
    for field, kind in FILE_FIELDS.items():
        storage = files.get(field)
        # A browser sends an empty part with no file name for a file input left empty.
        present = storage is not None and bool(getattr(storage, "filename", None))
        if not present:
            required = kind != "back" or document_type in ("drivers_license", "national_id")
            if required:
                label = "the back of your document" if kind == "back" else FILE_LABELS[kind].lower()
                errors[field] = [f"Upload {label}."]
            continue
        file_errors: list[str] = []
        upload = _check_file(kind, storage, file_errors)
        if upload is None:
            errors[field] = file_errors
        else:
            uploads.append(upload)

    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return clean, uploads


# -- operations ------------------------------------------------------------------------------------


def submit_kyc(user: User, data: dict, files: dict) -> KYCDocument:
    """Check and store a new submission; the user's status becomes ``pending``.

    ``data`` holds the seed's text fields, ``files`` their uploads by field name
    (``document_front``, ``document_back``, ``selfie``, ``address_proof``).

    :raise ValidationFailed: bad input, with messages per field (nothing stored)
    :raise KycAlreadyPending: a submission is already waiting for review
    :raise KycAlreadyApproved: the identity is verified and the approval has not expired
    """
    now = utcnow()
    refusal = _refusal(latest_submission(user), now)
    if refusal is not None:
        raise refusal
    clean, uploads = _validate(data, files, now.date())

    number = clean.pop("document_number")
    written: list[str] = []
    try:
        with unit_of_work() as uow:
            doc = _store(uow, user, clean, uploads, number, now, written)
    except IntegrityError:
        _delete(written)
        raise KycAlreadyPending("Your identity documents are already being reviewed.") from None
    except BaseException:
        _delete(written)
        raise
    log.info("kyc submission %s stored (user %s, %d files)", doc.id, doc.user_id, len(uploads))
    return doc


def _store(uow: UnitOfWork, user: User, clean: dict, uploads: list, number: str, now, written: list[str]):
    fernet = _fernet()
    # Lock the user: two submits at once queue here (PostgreSQL); the partial unique index
    # catches whatever gets past it (SQLite serialises writers anyway).
    locked = db.session.scalars(select(User).where(User.id == user.id).with_for_update()).one()
    latest = latest_submission(locked)
    refusal = _refusal(latest, now)
    if refusal is not None:
        raise refusal
    if latest is not None and latest.status == "approved":
        latest.transition_to("expired")  # its approval lapsed; the expiry job has not run yet
    doc = KYCDocument(
        user_id=locked.id,
        status="pending",
        document_number_encrypted=fernet.encrypt(number.encode()).decode(),
        document_number_last4=re.sub(r"[ -]", "", number)[-4:],
        submitted_at=now,
        rejection_reason="",
        provider=current_app.config.get("KYC_PROVIDER", "manual") or "manual",
        **clean,
    )
    db.session.add(doc)
    for upload in uploads:
        key = _write_encrypted(upload.data)
        written.append(key)
        doc.files.append(
            KYCFile(
                kind=upload.kind,
                storage_key=key,
                content_type=upload.content_type,
                size=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(),
            )
        )
    before = locked.kyc_status
    locked.kyc_status = "pending"
    locked.is_verified = False
    db.session.flush()
    audit.record(
        locked,
        "kyc.submitted",
        doc,
        before={"kyc_status": before},
        after={"kyc_status": "pending", "document_type": doc.document_type, "files": len(uploads)},
    )
    # Hand the submission to an automatic provider, if one is configured; it is stored and
    # queued for people either way.
    provider = current_app.config.get("KYC_PROVIDER", "manual") or "manual"
    if provider != "manual":
        uow.enqueue(PROVIDER_CHECK_JOB, doc.id, provider, job_id=f"kyc-check-{doc.id}")
    return doc


def expire_approvals(now: datetime | None = None) -> int:
    """Approvals past ``expires_at`` become ``expired``; their users must verify again.

    The user's status goes back to ``not_submitted`` (with ``is_verified`` false): of the four
    user statuses it is the one that says "no verification counts, submit one", which is
    exactly the expired user's position; ``rejected`` would wrongly suggest a reviewer refused
    them. The submission itself keeps ``expired`` as history. Each user gets an e-mail asking
    them to verify again. Safe to run twice: a second run finds nothing to expire.
    """
    now = now or utcnow()
    with unit_of_work() as uow:
        return _expire(uow, now)


def _expire(uow: UnitOfWork, now: datetime) -> int:
    docs = list(
        db.session.scalars(
            select(KYCDocument)
            .where(KYCDocument.status == "approved", KYCDocument.expires_at <= now)
            .order_by(KYCDocument.id)
            .with_for_update(skip_locked=True)
        )
    )
    expired_users: list[tuple[int, int]] = []
    for doc in docs:
        doc.transition_to("expired")
        user = doc.user
        if user.kyc_status == "approved":
            latest = latest_submission(user)
            if latest is None or latest.id == doc.id:
                user.kyc_status = "not_submitted"
                user.is_verified = False
                expired_users.append((user.id, doc.id))
        audit.record(
            None,
            "kyc.expired",
            doc,
            before={"status": "approved"},
            after={"status": "expired", "kyc_status": user.kyc_status},
            ip="",
        )
    for user_id, doc_id in expired_users:
        notifications.notify(
            user_id,
            notifications.KYC_EXPIRED,
            "Please verify your identity again",
            "Your identity verification has expired; withdrawals are paused until you verify again.",
            link="/kyc/",
            data={"document_id": doc_id},
            dedupe_key=f"kyc:{doc_id}:expired",
        )
    if docs:
        log.info("expired %d KYC approvals", len(docs))
    return len(docs)
