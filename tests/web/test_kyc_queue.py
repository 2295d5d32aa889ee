"""Compliance queue and review pages: listing, filters, documents inline, approve/reject swaps, access."""

import re

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token
from tests.unit.test_kyc_review import add_submission
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, User
from tradeapp.models.kyc import KYCDocument

HX = {"HX-Request": "true"}


@pytest.fixture()
def compliance(staff_client_factory):
    return staff_client_factory("compliance")


@pytest.fixture()
def applicant(create_user):
    return create_user(email="dora@example.com", username="dora", first_name="Dora", last_name="Explorer")


def _post(client, url, data=None, page=None, headers=None):
    token = csrf_token(client, page or url.rsplit("/", 1)[0])
    return client.post(url, data={"csrf_token": token, **(data or {})}, headers=headers or {})


# -- queue ------------------------------------------------------------------------------------


def test_queue_lists_pending_oldest_first_with_age(db, compliance, create_user):
    client, _ = compliance
    a, b, c = (create_user(email=f"q{i}@example.com") for i in range(3))
    add_submission(db, a, hours_ago=3)
    add_submission(
        db, b, hours_ago=50, country="DE", document_type="national_id", provider="onfido", provider_result="consider"
    )
    add_submission(db, c, hours_ago=100, status="rejected")
    html = client.get("/staff/kyc/").get_data(as_text=True)
    assert html.index("q1@example.com") < html.index("q0@example.com")
    assert "q2@example.com" not in html
    assert "3 h" in html and "2 d 2 h" in html
    assert "onfido: consider" in html and "National ID" in html
    assert 'data-counter="kyc"' in html
    # The sidebar links the queue with its live counter.
    assert re.search(r'href="/staff/kyc/"', html)


def test_queue_filters_by_htmx_fragment(db, compliance, create_user):
    client, _ = compliance
    a, b = create_user(email="gb@example.com"), create_user(email="de@example.com")
    add_submission(db, a, hours_ago=2, country="GB")
    add_submission(db, b, hours_ago=30, country="DE", document_type="drivers_license")
    r = client.get("/staff/kyc/?country=DE", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="kyc-queue"' in html
    assert "de@example.com" in html and "gb@example.com" not in html
    html = client.get("/staff/kyc/?document_type=passport").get_data(as_text=True)
    assert "gb@example.com" in html and "de@example.com" not in html
    html = client.get("/staff/kyc/?min_age_hours=24").get_data(as_text=True)
    assert "de@example.com" in html and "gb@example.com" not in html
    html = client.get("/staff/kyc/?country=FR", headers=HX).get_data(as_text=True)
    assert "No matching submissions" in html


def test_empty_queue(compliance):
    client, _ = compliance
    html = client.get("/staff/kyc/").get_data(as_text=True)
    assert "Queue is empty" in html


# -- review page --------------------------------------------------------------------------------


def test_review_page_shows_facts_documents_and_history(db, compliance, applicant):
    client, _ = compliance
    old = add_submission(db, applicant, hours_ago=200, status="rejected", rejection_reason="Document expired")
    doc = add_submission(db, applicant, hours_ago=5)
    html = client.get(f"/staff/kyc/{doc.id}").get_data(as_text=True)
    assert "dora@example.com" in html and "Dora Explorer" in html
    assert "1990-05-17" in html and "1 Rabbit Hole" in html
    assert "6789" in html and "not-a-real-token" not in html
    files = {f.kind: f.id for f in doc.files}
    assert f'<img class="kyc-image" src="{_file_url(client, files["front"])}"' in html
    assert f'src="{_file_url(client, files["selfie"])}"' in html
    assert f'<iframe class="kyc-pdf" src="{_file_url(client, files["address_proof"])}"' in html
    assert "data-zoomable" in html and "js/kyc-review.js" in html
    assert f"/staff/kyc/{old.id}" in html and "Document expired" in html
    assert f'action="/staff/kyc/{doc.id}/approve"' in html


def _file_url(client, file_id):
    with client.application.test_request_context():
        from flask import url_for

        return url_for("kyc.file", file_id=file_id)


def test_review_of_unknown_submission_is_404(compliance):
    client, _ = compliance
    assert client.get("/staff/kyc/999999").status_code == 404


def test_approve_swaps_the_decision_card(db, compliance, applicant):
    client, staff = compliance
    doc = add_submission(db, applicant)
    r = _post(client, f"/staff/kyc/{doc.id}/approve", {"note": "ok"}, page=f"/staff/kyc/{doc.id}", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.lstrip().startswith("<section") and 'id="kyc-decision"' in html
    assert "Approved" in html and "Back to the queue" in html and "<form" not in html
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "approved"
    assert db.session.get(User, applicant.id).is_verified is True
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "kyc.approved")).actor_id == staff.id
    assert [m["to"] for m in outbox_messages()] == [applicant.email]


def test_reject_needs_a_reason_inline(db, compliance, applicant):
    client, _ = compliance
    doc = add_submission(db, applicant)
    page = f"/staff/kyc/{doc.id}"
    r = _post(client, f"{page}/reject", {"preset": "Other", "note": ""}, page=page, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Choose a reason" in html and "field-errors" in html
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"

    r = _post(
        client,
        f"{page}/reject",
        {"preset": "Selfie does not match document", "note": "different person"},
        page=page,
        headers=HX,
    )
    assert r.status_code == 200 and "Rejected" in r.get_data(as_text=True)
    db.session.expire_all()
    doc = db.session.get(KYCDocument, doc.id)
    assert doc.status == "rejected" and doc.rejection_reason == "Selfie does not match document: different person"
    assert "different person" in outbox_messages()[0]["text"]


def test_plain_post_redirects_back_and_second_decision_is_refused(db, compliance, applicant):
    client, _ = compliance
    doc = add_submission(db, applicant)
    page = f"/staff/kyc/{doc.id}"
    r = _post(client, f"{page}/reject", {"preset": "Document unreadable"}, page=page)
    assert r.status_code == 303 and r.headers["Location"].endswith(page)
    r = _post(client, f"{page}/approve", page=page, headers=HX)
    assert r.status_code == 422 and "not pending" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "rejected"


def test_own_submission_cannot_be_reviewed(db, compliance):
    client, staff = compliance
    doc = add_submission(db, staff)
    page = f"/staff/kyc/{doc.id}"
    assert "your own submission" in client.get(page).get_data(as_text=True)
    r = _post(client, f"{page}/approve", page=page, headers=HX)
    assert r.status_code == 422 and "own submission" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"


def test_post_without_csrf_changes_nothing(db, compliance, applicant):
    client, _ = compliance
    doc = add_submission(db, applicant)
    r = client.post(f"/staff/kyc/{doc.id}/approve", headers=HX)
    assert r.status_code in (400, 422)
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"


# -- access ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["finance", "support", "analyst"])
def test_staff_without_kyc_review_get_403(db, staff_client_factory, applicant, role):
    client, _ = staff_client_factory(role)
    doc = add_submission(db, applicant)
    assert client.get("/staff/kyc/").status_code == 403
    assert client.get(f"/staff/kyc/{doc.id}").status_code == 403
    token = csrf_token(client, "/staff/")
    r = client.post(f"/staff/kyc/{doc.id}/approve", data={"csrf_token": token})
    assert r.status_code == 403
    db.session.expire_all()
    assert db.session.get(KYCDocument, doc.id).status == "pending"
    assert "/staff/kyc/" not in client.get("/staff/").get_data(as_text=True)


def test_customers_get_403(db, logged_in_client, create_user):
    doc = add_submission(db, create_user(email="other@example.com"))
    assert logged_in_client.get("/staff/kyc/").status_code == 403
    assert logged_in_client.get(f"/staff/kyc/{doc.id}").status_code == 403
    token = csrf_token(logged_in_client, "/account/")
    assert logged_in_client.post(f"/staff/kyc/{doc.id}/approve", data={"csrf_token": token}).status_code == 403


def test_admin_may_review(db, staff_client, applicant):
    doc = add_submission(db, applicant)
    r = staff_client.get(f"/staff/kyc/{doc.id}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert applicant.email in html
    assert f'action="/staff/kyc/{doc.id}/approve"' in html and f'action="/staff/kyc/{doc.id}/reject"' in html


# -- end to end with a real submission ----------------------------------------------------------------


def _png(width=400, height=320, color=(40, 90, 160)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_submitted_documents_open_for_the_reviewer_and_approval_verifies(app, db, compliance, applicant):
    from werkzeug.datastructures import FileStorage

    from tradeapp.services import kyc

    client, _ = compliance
    front, selfie = _png(), _png(color=(200, 120, 40))
    files = {
        "document_front": FileStorage(io_bytes(front), filename="front.png"),
        "selfie": FileStorage(io_bytes(selfie), filename="me.png"),
        "address_proof": FileStorage(io_bytes(PDF), filename="bill.pdf"),
    }
    data = {
        "document_type": "passport",
        "document_number": "X1234567",
        "date_of_birth": "1990-05-17",
        "address": "1 Rabbit Hole",
        "city": "Wonderland",
        "country": "GB",
        "postal_code": "WL1 1AA",
    }
    doc = kyc.submit_kyc(applicant, data, files)
    assert doc.status == "pending"

    html = client.get("/staff/kyc/").get_data(as_text=True)
    assert f"/staff/kyc/{doc.id}" in html
    html = client.get(f"/staff/kyc/{doc.id}").get_data(as_text=True)
    assert "X1234567" not in html and "4567" in html
    by_kind = {f.kind: f for f in doc.files}
    for kind, content in (("front", front), ("selfie", selfie), ("address_proof", PDF)):
        url = _file_url(client, by_kind[kind].id)
        assert f'src="{url}"' in html
        r = client.get(url)
        assert r.status_code == 200 and r.data == content
    assert "<iframe" in html

    page = f"/staff/kyc/{doc.id}"
    r = _post(client, f"{page}/approve", page=page, headers=HX)
    assert r.status_code == 200
    db.session.expire_all()
    user = db.session.get(User, applicant.id)
    assert user.kyc_status == "approved" and user.is_verified is True
    assert kyc.latest_submission(user).status == "approved"


def io_bytes(data: bytes):
    import io

    return io.BytesIO(data)
