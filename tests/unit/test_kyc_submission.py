"""KYC submission service: validation by content, encrypted storage, the status machine, expiry."""

import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.kyc_helpers import DOC_NUMBER, jpeg, pdf, png, storages, stored_files, valid_data, valid_files
from tradeapp.errors import ValidationFailed
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog
from tradeapp.models.kyc import KYCDocument, KYCFile
from tradeapp.models.types import utcnow
from tradeapp.services import kyc


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def submit(user, data=None, files=None, names=None):
    return kyc.submit_kyc(user, data or valid_data(), storages(files or valid_files(), names))


def test_submission_is_stored_encrypted_and_pending(app, db, user):
    uploads = valid_files(document_front=jpeg(), selfie=png(), address_proof=pdf())
    doc = submit(user, files=uploads)

    assert doc.status == "pending" and user.kyc_status == "pending" and not user.is_verified
    assert doc.document_number_last4 == "8765"
    assert DOC_NUMBER not in doc.document_number_encrypted
    assert kyc.document_number(doc) == DOC_NUMBER
    assert kyc.masked_number(doc) == "•••• 8765"
    assert (doc.country, doc.postal_code, doc.date_of_birth) == ("FR", "75001", date(1990, 5, 17))

    by_kind = {f.kind: f for f in doc.files}
    assert set(by_kind) == {"front", "selfie", "address_proof"}
    assert by_kind["front"].content_type == "image/jpeg"
    assert by_kind["selfie"].content_type == "image/png"
    assert by_kind["address_proof"].content_type == "application/pdf"
    root = app.config["KYC_STORAGE_DIR"]
    assert "static" not in str(root)
    for field, kind in (("document_front", "front"), ("selfie", "selfie"), ("address_proof", "address_proof")):
        f = by_kind[kind]
        on_disk = (root / f.storage_key).read_bytes()
        assert on_disk != uploads[field]
        assert not on_disk.startswith((b"\xff\xd8\xff", b"\x89PNG", b"%PDF"))
        assert kyc.read_file(f) == uploads[field]
        assert f.size == len(uploads[field])
        assert field not in f.storage_key and kind not in f.storage_key  # random names

    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "kyc.submitted")).one()
    assert row.actor_id == user.id and row.target_id == str(doc.id)
    assert DOC_NUMBER not in str(row.after) and "Paris" not in str(row.after) and "1990" not in str(row.after)


def test_file_type_is_decided_by_content_not_by_name(app, db, user):
    before = stored_files(app)
    not_an_image = b"GIF89a" + b"\x00" * 500
    with pytest.raises(ValidationFailed) as exc:
        submit(user, files=valid_files(document_front=not_an_image), names={"document_front": "passport.jpg"})
    assert "document_front" in exc.value.fields
    assert _count(db, KYCDocument) == 0 and _count(db, KYCFile) == 0
    assert stored_files(app) == before


@pytest.mark.parametrize(
    ("data", "files", "field"),
    [
        ({}, {"selfie": pdf()}, "selfie"),  # the selfie must be a photo
        ({}, {"document_front": png(200, 200)}, "document_front"),  # too small
        ({}, {"document_front": b""}, "document_front"),  # empty
        ({}, {"address_proof": b"%PD"}, "address_proof"),
        ({}, {"selfie": b"\x89PNG\r\n\x1a\n" + b"garbage" * 50}, "selfie"),  # PNG magic, broken image
        ({"document_type": "national_id"}, {}, "document_back"),
        ({"document_type": "drivers_license"}, {}, "document_back"),
        ({"document_type": "visa"}, {}, "document_type"),
        ({"document_number": "AB1"}, {}, "document_number"),
        ({"document_number": "AB12<script>"}, {}, "document_number"),
        ({"country": "XX"}, {}, "country"),
        ({"country": "FRA"}, {}, "country"),
        ({"date_of_birth": "not a date"}, {}, "date_of_birth"),
        ({"date_of_birth": (date.today() + timedelta(days=1)).isoformat()}, {}, "date_of_birth"),
        ({"address": ""}, {}, "address"),
        ({"address": "x" * 301}, {}, "address"),
        ({"city": ""}, {}, "city"),
        ({"postal_code": ""}, {}, "postal_code"),
        ({}, {"selfie": None}, "selfie"),
        ({}, {"address_proof": None}, "address_proof"),
    ],
)
def test_bad_input_is_refused_with_field_errors_and_stores_nothing(app, db, user, data, files, field):
    before = stored_files(app)
    with pytest.raises(ValidationFailed) as exc:
        submit(user, valid_data(**data), valid_files(**files))
    assert field in exc.value.fields, exc.value.fields
    assert _count(db, KYCDocument) == 0 and _count(db, KYCFile) == 0
    assert stored_files(app) == before
    db.session.refresh(user)
    assert user.kyc_status == "not_submitted"


def test_under_age_is_refused(app, db, user):
    today = date.today()
    seventeen = today.replace(year=today.year - 17)
    with pytest.raises(ValidationFailed) as exc:
        submit(user, valid_data(date_of_birth=seventeen.isoformat()))
    assert "18" in exc.value.fields["date_of_birth"][0]
    assert _count(db, KYCDocument) == 0


def test_files_over_the_size_limit_are_refused(app, db, user):
    app.config["KYC_MAX_FILE_MB"] = 1
    try:
        big = pdf() + b"0" * (1024 * 1024)
        with pytest.raises(ValidationFailed) as exc:
            submit(user, files=valid_files(address_proof=big))
    finally:
        app.config["KYC_MAX_FILE_MB"] = 8
    assert "1 MB" in exc.value.fields["address_proof"][0]


def test_oversized_image_dimensions_are_refused(app, db, user):
    with pytest.raises(ValidationFailed) as exc:
        submit(user, files=valid_files(document_front=png(10_001, 300)))
    assert "document_front" in exc.value.fields


def test_national_id_with_back_is_accepted_and_lowercase_input_normalised(app, db, user):
    doc = submit(
        user,
        valid_data(document_type="national_id", country="de", document_number="ab 12 cd 34"),
        valid_files(document_back=png()),
    )
    assert {f.kind for f in doc.files} == {"front", "back", "selfie", "address_proof"}
    assert doc.country == "DE" and kyc.document_number(doc) == "AB 12 CD 34"


def test_resubmitting_while_pending_is_refused(app, db, user):
    submit(user)
    before = stored_files(app)
    with pytest.raises(kyc.KycAlreadyPending) as exc:
        submit(user)
    assert exc.value.status == 400 and exc.value.code == "kyc_pending"
    assert _count(db, KYCDocument) == 1
    assert stored_files(app) == before


def test_the_unique_index_catches_a_race(app, db, user, monkeypatch):
    """Two submits that both passed the check: the database keeps one and the other is 'pending'."""
    first = submit(user)
    # Pretend the check saw nothing pending (as a concurrent request would have).
    monkeypatch.setattr(kyc, "_refusal", lambda latest, now: None)
    before = stored_files(app)
    with pytest.raises(kyc.KycAlreadyPending):
        submit(user)
    assert db.session.scalars(select(KYCDocument.id)).all() == [first.id]
    assert stored_files(app) == before


def _review(db, doc, status, **fields):
    """Stand-in for the review service (another module): set the outcome directly."""
    doc.status = status
    doc.reviewed_at = utcnow()
    for key, value in fields.items():
        setattr(doc, key, value)
    doc.user.kyc_status = status
    doc.user.is_verified = status == "approved"
    db.session.commit()


def test_rejected_user_may_resubmit_and_history_is_kept(app, db, user):
    first = submit(user)
    _review(db, first, "rejected", rejection_reason="Blurry photo")
    second = submit(user)

    assert [d.id for d in kyc.submissions(user)] == [second.id, first.id]
    assert kyc.latest_submission(user).id == second.id
    assert first.status == "rejected" and second.status == "pending" and user.kyc_status == "pending"


def test_approved_user_may_not_resubmit_until_it_expires(app, db, user):
    doc = submit(user)
    _review(db, doc, "approved", expires_at=utcnow() + timedelta(days=30))
    with pytest.raises(kyc.KycAlreadyApproved) as exc:
        submit(user)
    assert exc.value.code == "kyc_already_approved" and exc.value.status == 400

    doc.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    again = submit(user)  # the approval lapsed (before the job ran): allowed, and the old one is marked
    assert again.status == "pending" and doc.status == "expired"


def test_expire_approvals_expires_due_ones_and_asks_to_verify_again(app, db, user, create_user):
    doc = submit(user)
    _review(db, doc, "approved", expires_at=utcnow() - timedelta(hours=1))
    other = create_user(email="bob@example.com")
    fresh = submit(other)
    _review(db, fresh, "approved", expires_at=utcnow() + timedelta(days=100))

    assert kyc.expire_approvals() == 1
    db.session.refresh(user)
    db.session.refresh(other)
    assert doc.status == "expired" and user.kyc_status == "not_submitted" and not user.is_verified
    assert fresh.status == "approved" and other.kyc_status == "approved" and other.is_verified
    mails = [m for m in outbox_messages() if m["to"] == user.email]
    assert len(mails) == 1 and "verify" in mails[0]["subject"].lower()
    audit_row = db.session.scalars(select(AuditLog).where(AuditLog.action == "kyc.expired")).one()
    assert audit_row.target_id == str(doc.id) and audit_row.actor_id is None

    assert kyc.expire_approvals() == 0  # idempotent
    assert len([m for m in outbox_messages() if m["to"] == user.email]) == 1
    assert kyc.can_submit(user)


def test_expiry_job_runs_the_service(app, db, user):
    from tradeapp.jobs.kyc import expire_kyc_approvals

    doc = submit(user)
    _review(db, doc, "approved", expires_at=utcnow() - timedelta(days=1))
    assert expire_kyc_approvals() == 1
    assert expire_kyc_approvals() == 0


def test_can_view_file(app, db, user, create_user, create_staff):
    doc = submit(user)
    f = doc.files[0]
    assert kyc.can_view_file(user, f)
    assert not kyc.can_view_file(create_user(email="eve@example.com"), f)
    assert kyc.can_view_file(create_staff(role="compliance"), f)
    assert kyc.can_view_file(create_staff(role="admin"), f)
    assert not kyc.can_view_file(create_staff(role="support"), f)
    assert not kyc.can_view_file(None, f)


def test_key_rotation_reads_files_written_with_an_older_key(app, db, user):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    saved = app.config.get("KYC_ENCRYPTION_KEYS", "")
    try:
        app.config["KYC_ENCRYPTION_KEYS"] = old
        doc = submit(user)
        app.config["KYC_ENCRYPTION_KEYS"] = f"{new},{old}"
        assert kyc.document_number(doc) == DOC_NUMBER
        assert kyc.read_file(doc.files[0]) == valid_files()["document_front"]
    finally:
        app.config["KYC_ENCRYPTION_KEYS"] = saved


def test_nothing_personal_is_logged(app, db, user, create_user, caplog):
    caplog.set_level(logging.DEBUG)
    submit(user, files=valid_files(), names={"document_front": "alice-liddell-passport.jpg"})
    with pytest.raises(ValidationFailed):
        submit(create_user(email="carol@example.com"), valid_data(country="XX"))
    text = caplog.text
    for secret in (DOC_NUMBER, "8765", "Liddell", "Alice", "alice@", "carol@", "1990-05-17", "Rivoli", "75001"):
        assert secret not in text
