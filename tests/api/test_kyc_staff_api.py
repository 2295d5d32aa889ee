"""Staff KYC API: the pending queue with file URLs, approve, reject; 400/403/404/409 paths."""

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.conftest import ApiClient
from tests.unit.test_kyc_review import add_submission
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, User
from tradeapp.models.kyc import KYCDocument
from tradeapp.services.tokens import issue_tokens


@pytest.fixture()
def staff_api(app, db, create_staff):
    """``staff_api(role)`` → (ApiClient with a token, the staff user)."""

    def make(role="compliance"):
        staff = create_staff(role=role)
        return ApiClient(app.test_client(), issue_tokens(staff)["access"]), staff

    return make


@pytest.fixture()
def applicant(create_user):
    return create_user(email="dora@example.com", username="dora")


def test_pending_lists_oldest_first_with_file_urls(db, staff_api, create_user):
    api, _ = staff_api()
    a, b = create_user(email="a@example.com"), create_user(email="b@example.com")
    newer = add_submission(db, a, hours_ago=1)
    older = add_submission(db, b, hours_ago=10, country="DE", provider="onfido", provider_result="clear")
    add_submission(db, create_user(), hours_ago=20, status="approved")
    r = api.get("/api/v1/kyc/pending/")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    assert [row["id"] for row in body["results"]] == [older.id, newer.id]
    row = body["results"][0]
    assert row["user_id"] == b.id and row["user_email"] == "b@example.com"
    assert row["document_type"] == "passport" and row["country"] == "DE" and row["provider_result"] == "clear"
    assert row["submitted_at"]
    files = {f.kind: f.id for f in older.files}
    assert set(row["files"]) == {"front", "selfie", "address_proof"}
    assert row["files"] == {kind: f"http://localhost/kyc/files/{file_id}" for kind, file_id in files.items()}
    assert "document_number" not in repr(row) and "6789" not in repr(row)


def test_pending_filters_and_pages(db, staff_api, create_user):
    api, _ = staff_api()
    for i in range(3):
        add_submission(db, create_user(), hours_ago=i + 1, country="GB" if i else "FR")
    body = api.get("/api/v1/kyc/pending/?country=FR").get_json()
    assert body["count"] == 1 and body["results"][0]["country"] == "FR"
    body = api.get("/api/v1/kyc/pending/?page_size=2").get_json()
    assert body["count"] == 3 and len(body["results"]) == 2 and "page=2" in body["next"]
    assert_error(api.get("/api/v1/kyc/pending/?document_type=bogus"), 400, "validation_error", ["document_type"])


def test_approve(db, staff_api, applicant):
    api, staff = staff_api()
    doc = add_submission(db, applicant)
    r = api.post(f"/api/v1/kyc/{doc.id}/approve/", json={"note": "looks fine"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "approved" and body["reviewed_by_id"] == staff.id and body["expires_at"]
    db.session.expire_all()
    assert db.session.get(User, applicant.id).is_verified is True
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "kyc.approved")).after["note"] == "looks fine"
    assert [m["to"] for m in outbox_messages()] == [applicant.email]


def test_approve_without_a_body(db, staff_api, applicant):
    api, _ = staff_api()
    doc = add_submission(db, applicant)
    r = api.post(f"/api/v1/kyc/{doc.id}/approve/")
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "approved"
    assert db.session.get(User, applicant.id).is_verified is True
    audit_row = db.session.scalar(select(AuditLog).where(AuditLog.action == "kyc.approved"))
    assert audit_row is not None and not audit_row.after.get("note")


def test_reject_needs_a_reason(db, staff_api, applicant):
    api, _ = staff_api()
    doc = add_submission(db, applicant)
    assert_error(api.post(f"/api/v1/kyc/{doc.id}/reject/", json={}), 400, "validation_error", ["reason"])
    assert_error(api.post(f"/api/v1/kyc/{doc.id}/reject/", json={"reason": "  "}), 400, "validation_error", ["reason"])
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"
    r = api.post(f"/api/v1/kyc/{doc.id}/reject/", json={"reason": "Document expired"})
    assert r.status_code == 200 and r.get_json()["rejection_reason"] == "Document expired"
    db.session.expire_all()
    assert db.session.get(User, applicant.id).kyc_status == "rejected"


def test_already_decided_is_409(db, staff_api, applicant):
    api, _ = staff_api()
    doc = add_submission(db, applicant)
    assert api.post(f"/api/v1/kyc/{doc.id}/approve/").status_code == 200
    assert_error(api.post(f"/api/v1/kyc/{doc.id}/approve/"), 409, "illegal_transition")
    assert_error(api.post(f"/api/v1/kyc/{doc.id}/reject/", json={"reason": "Document expired"}), 409)


def test_unknown_submission_is_404(staff_api):
    api, _ = staff_api()
    assert_error(api.post("/api/v1/kyc/999999/approve/"), 404)
    assert_error(api.post("/api/v1/kyc/999999/reject/", json={"reason": "Document expired"}), 404)


def test_own_submission_is_403(db, staff_api):
    api, staff = staff_api()
    doc = add_submission(db, staff)
    assert_error(api.post(f"/api/v1/kyc/{doc.id}/approve/"), 403, "self_review")


def test_customers_and_other_staff_get_403(db, auth_api_client, staff_api, applicant):
    doc = add_submission(db, applicant)
    finance, _ = staff_api("finance")
    for api in (auth_api_client, finance):
        assert_error(api.get("/api/v1/kyc/pending/"), 403, "permission_denied")
        assert_error(api.post(f"/api/v1/kyc/{doc.id}/approve/"), 403, "permission_denied")
        assert_error(api.post(f"/api/v1/kyc/{doc.id}/reject/", json={"reason": "x"}), 403, "permission_denied")
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"


def test_anonymous_gets_401(api_client):
    assert_error(api_client.get("/api/v1/kyc/pending/"), 401)


def test_documented_in_openapi(client):
    paths = client.get("/api/schema/").get_json()["paths"]
    assert "/api/v1/kyc/pending/" in paths
    assert {"403", "404", "409"} <= set(paths["/api/v1/kyc/{document_id}/approve/"]["post"]["responses"])
    assert "400" in paths["/api/v1/kyc/{document_id}/reject/"]["post"]["responses"]
