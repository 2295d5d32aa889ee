"""KYC review service: the queue and its filters, approve, reject, illegal moves, self-review, side effects."""

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import PG_URL
from tradeapp import realtime
from tradeapp.errors import IllegalTransition, PermissionDenied, ValidationFailed
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, User
from tradeapp.models.kyc import KYCDocument, KYCFile
from tradeapp.models.types import utcnow
from tradeapp.services import kyc_review as service

PERSONAL = ("Wonderland", "1990-05-17", "123456789", "Rabbit Hole")


def add_submission(db, user, *, hours_ago=1, country="GB", document_type="passport", with_files=True, **fields):
    """A pending submission inserted directly (files are rows only; rendering needs just their URLs)."""
    doc = KYCDocument(
        user_id=user.id,
        status=fields.pop("status", "pending"),
        document_type=document_type,
        document_number_encrypted="not-a-real-token",
        document_number_last4="6789",
        date_of_birth=date(1990, 5, 17),
        address="1 Rabbit Hole",
        city="Wonderland",
        country=country,
        postal_code="WL1 1AA",
        submitted_at=utcnow() - timedelta(hours=hours_ago),
        **fields,
    )
    db.session.add(doc)
    db.session.flush()
    if with_files:
        for kind, content_type in (
            ("front", "image/png"),
            ("selfie", "image/jpeg"),
            ("address_proof", "application/pdf"),
        ):
            db.session.add(
                KYCFile(
                    document_id=doc.id,
                    kind=kind,
                    storage_key=f"test/{doc.id}-{kind}",
                    content_type=content_type,
                    size=2048,
                    sha256="0" * 64,
                )
            )
    if doc.status == "pending":
        user.kyc_status = "pending"
    db.session.commit()
    return doc


@pytest.fixture()
def applicant(create_user):
    return create_user(email="dora@example.com", username="dora", first_name="Dora", last_name="Explorer")


@pytest.fixture()
def reviewer(create_staff):
    return create_staff(role="compliance")


@pytest.fixture()
def emitted(monkeypatch):
    events = []
    monkeypatch.setattr(realtime, "emit_to_user", lambda uid, event, data: events.append(("user", uid, event, data)))
    monkeypatch.setattr(realtime, "emit_to_staff", lambda event, data: events.append(("staff", None, event, data)))
    return events


def _audit(db, action):
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()


# -- the queue ---------------------------------------------------------------------------------


def test_queue_is_pending_only_oldest_first(db, create_user):
    a, b, c, d = (create_user() for _ in range(4))
    newer = add_submission(db, a, hours_ago=1)
    older = add_submission(db, b, hours_ago=30)
    add_submission(db, c, hours_ago=50, status="rejected")
    add_submission(db, d, hours_ago=60, status="approved")
    assert [doc.id for doc in service.pending_submissions()] == [older.id, newer.id]
    assert service.pending_count() == 2


def test_queue_filters(db, create_user):
    a, b, c = (create_user() for _ in range(3))
    gb = add_submission(db, a, hours_ago=2, country="GB", document_type="passport")
    de = add_submission(db, b, hours_ago=30, country="DE", document_type="national_id")
    fr = add_submission(db, c, hours_ago=80, country="FR", document_type="drivers_license")
    ids = lambda f: [doc.id for doc in service.pending_submissions(f)]  # noqa: E731
    assert ids({"country": "de"}) == [de.id]
    assert ids({"document_type": "drivers_license"}) == [fr.id]
    assert ids({"min_age_hours": 24}) == [fr.id, de.id]
    assert ids({"older_than": "72"}) == [fr.id]
    assert ids({"document_type": "nonsense", "min_age_hours": "x"}) == [fr.id, de.id, gb.id]
    assert service.pending_countries() == ["DE", "FR", "GB"]


# -- approve ------------------------------------------------------------------------------------


def test_approve_verifies_the_user_and_tells_everyone(app, db, applicant, reviewer, emitted):
    doc = add_submission(db, applicant)
    before = utcnow()
    service.approve_kyc(reviewer, doc, note="all clear")

    db.session.expire_all()
    doc = db.session.get(KYCDocument, doc.id)
    user = db.session.get(User, applicant.id)
    assert doc.status == "approved"
    assert doc.reviewed_by_id == reviewer.id and doc.reviewed_at >= before
    days = (doc.expires_at - doc.reviewed_at).days
    assert days == app.config["KYC_VALIDITY_DAYS"] == 730
    assert user.kyc_status == "approved" and user.is_verified is True

    [row] = _audit(db, "kyc.approved")
    assert row.actor_id == reviewer.id and row.target_type == "kyc_documents" and row.target_id == str(doc.id)
    assert row.before["status"] == "pending" and row.after["status"] == "approved"
    assert row.after["is_verified"] is True
    assert not any(p in repr(row.before) + repr(row.after) for p in PERSONAL)

    [mail] = outbox_messages()
    assert mail["to"] == applicant.email and mail["subject"] == "Your identity is verified"
    assert ("user", applicant.id, "kyc_status", {"status": "approved", "id": doc.id}) in emitted
    assert ("staff", None, "queue_counters", {"kyc": 0}) in emitted


def test_validity_days_is_a_setting(app, db, applicant, reviewer, monkeypatch):
    monkeypatch.setitem(app.config, "KYC_VALIDITY_DAYS", 30)
    doc = service.approve_kyc(reviewer, add_submission(db, applicant))
    assert (doc.expires_at - doc.reviewed_at).days == 30


def test_automatic_approval_has_no_actor(db, applicant, emitted):
    doc = service.approve_kyc(None, add_submission(db, applicant))
    assert doc.status == "approved" and doc.reviewed_by_id is None
    [row] = _audit(db, "kyc.auto_approved")
    assert row.actor_id is None


# -- reject -------------------------------------------------------------------------------------


def test_reject_records_the_reason_and_tells_the_user(db, applicant, reviewer, emitted):
    doc = add_submission(db, applicant)
    service.reject_kyc(reviewer, doc, "  Document unreadable:   the photo is blurred ")

    db.session.expire_all()
    doc = db.session.get(KYCDocument, doc.id)
    user = db.session.get(User, applicant.id)
    assert doc.status == "rejected" and doc.expires_at is None
    assert doc.rejection_reason == "Document unreadable: the photo is blurred"
    assert user.kyc_status == "rejected" and user.is_verified is False
    [row] = _audit(db, "kyc.rejected")
    assert row.before["status"] == "pending" and row.after["status"] == "rejected"
    [mail] = outbox_messages()
    assert "the photo is blurred" in mail["text"]
    assert (
        "user",
        applicant.id,
        "kyc_status",
        {"status": "rejected", "id": doc.id, "reason": doc.rejection_reason},
    ) in (emitted)


@pytest.mark.parametrize("reason", ["", "   ", "Other", "x" * 501])
def test_reject_needs_a_reason(db, applicant, reviewer, reason):
    doc = add_submission(db, applicant)
    with pytest.raises(ValidationFailed) as err:
        service.reject_kyc(reviewer, doc, reason)
    assert "reason" in err.value.fields
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"
    assert outbox_messages() == []
    assert _audit(db, "kyc.rejected") == []


# -- illegal moves and permissions ------------------------------------------------------------------


@pytest.mark.parametrize("status", ["approved", "rejected", "expired"])
def test_only_pending_can_be_decided(db, applicant, reviewer, status):
    doc = add_submission(db, applicant, status=status)
    with pytest.raises(IllegalTransition) as err:
        service.approve_kyc(reviewer, doc)
    assert err.value.status == 409
    with pytest.raises(IllegalTransition):
        service.reject_kyc(reviewer, doc, "Document expired")
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == status
    assert outbox_messages() == []


def test_second_decision_is_refused(db, applicant, reviewer, create_staff):
    doc = add_submission(db, applicant)
    service.approve_kyc(reviewer, doc)
    with pytest.raises(IllegalTransition):
        service.reject_kyc(create_staff(role="compliance"), doc, "Document expired")
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "approved"


def test_staff_cannot_review_their_own_submission(db, reviewer):
    doc = add_submission(db, reviewer)
    with pytest.raises(PermissionDenied) as err:
        service.approve_kyc(reviewer, doc)
    assert err.value.code == "self_review"
    with pytest.raises(PermissionDenied):
        service.reject_kyc(reviewer, doc, "Document expired")
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"


@pytest.mark.parametrize("role", ["finance", "support", None])
def test_reviewers_need_the_permission(db, applicant, create_user, create_staff, role):
    actor = create_staff(role=role) if role else create_user()
    doc = add_submission(db, applicant)
    with pytest.raises(PermissionDenied):
        service.approve_kyc(actor, doc)
    with pytest.raises(PermissionDenied):
        service.reject_kyc(actor, doc, "Document expired")
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_two_reviewers_racing_exactly_one_wins(app, db, applicant, reviewer, create_staff):
    other = create_staff(role="compliance")
    doc_id = add_submission(db, applicant).id
    reviewer_id, other_id = reviewer.id, other.id
    db.session.close()
    results = []
    barrier = threading.Barrier(2)

    def decide(actor_id, approve):
        with app.app_context():
            actor = db.session.get(User, actor_id)
            doc = db.session.get(KYCDocument, doc_id)
            barrier.wait()
            try:
                if approve:
                    service.approve_kyc(actor, doc)
                else:
                    service.reject_kyc(actor, doc, "Document expired")
                results.append("ok")
            except IllegalTransition:
                results.append("refused")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=decide, args=(reviewer_id, True)),
        threading.Thread(target=decide, args=(other_id, False)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    assert len(_audit(db, "kyc.approved")) + len(_audit(db, "kyc.rejected")) == 1
