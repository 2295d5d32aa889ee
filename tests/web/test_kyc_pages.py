"""Customer KYC page (form, errors inline, history) and the file route with web sessions."""

import re

from sqlalchemy import func, select

from tests.conftest import csrf_token, web_login
from tests.kyc_helpers import DOC_NUMBER, multipart, png, stored_files, valid_data, valid_files
from tradeapp.models.kyc import KYCDocument, KYCFile
from tradeapp.models.types import utcnow

PAGE = "/kyc/"


def _count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def post_form(client, data=None, files=None, htmx=False, names=None):
    body = multipart(data or valid_data(), files if files is not None else valid_files(), names)
    body["csrf_token"] = csrf_token(client, PAGE)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(PAGE, data=body, content_type="multipart/form-data", headers=headers)


def test_anonymous_is_sent_to_login(client):
    r = client.get(PAGE)
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]


def test_page_shows_the_form_and_the_nav_link(logged_in_client):
    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert 'id="kyc-form"' in html and 'hx-encoding="multipart/form-data"' in html
    assert 'enctype="multipart/form-data"' in html and "js/kyc.js" in html
    assert "Verify identity" in html and "<script>" not in html
    assert 'href="/kyc/"' in logged_in_client.get("/withdrawals/").get_data(as_text=True)


def test_submit_redirects_and_shows_pending_status_and_history(app, db, logged_in_client, user):
    r = post_form(logged_in_client)
    assert r.status_code == 303 and r.headers["Location"].endswith(PAGE)
    doc = db.session.scalars(select(KYCDocument)).one()
    assert doc.status == "pending" and doc.user_id == user.id

    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert "being reviewed" in html and "•••• 8765" in html and DOC_NUMBER not in html
    assert 'id="kyc-form"' not in html  # nothing to submit while pending
    for f in doc.files:
        assert f"/kyc/files/{f.id}" in html


def test_htmx_submit_swaps_the_panel(app, db, logged_in_client):
    r = post_form(logged_in_client, htmx=True)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith("{% from") is False and 'id="kyc-panel"' in html and "<html" not in html
    assert "received" in html
    assert _count(db, KYCDocument) == 1


def test_errors_are_shown_inline_and_nothing_is_stored(app, db, logged_in_client):
    before = stored_files(app)
    r = post_form(
        logged_in_client,
        valid_data(document_type="national_id", country="XX"),
        valid_files(document_front=b"not a picture at all" * 30),
        htmx=True,
        names={"document_front": "front.jpg"},
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="kyc-panel"' in html and "field-errors" in html
    assert "ISO 3166-1" in html and "back of your document" in html and "JPEG or PNG image or a PDF" in html
    assert _count(db, KYCDocument) == 0 and _count(db, KYCFile) == 0
    assert stored_files(app) == before


def test_small_image_and_under_age_errors(app, db, logged_in_client):
    r = post_form(logged_in_client, valid_data(date_of_birth="2020-01-01"), valid_files(selfie=png(120, 120)))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "at least 18 years" in html and "too small" in html
    assert _count(db, KYCDocument) == 0


def test_missing_csrf_is_refused(app, db, logged_in_client):
    body = multipart(valid_data(), valid_files())
    r = logged_in_client.post(PAGE, data=body, content_type="multipart/form-data")
    assert r.status_code in (400, 422)
    assert _count(db, KYCDocument) == 0


def test_resubmit_after_rejection_keeps_history(app, db, logged_in_client, user):
    post_form(logged_in_client)
    doc = db.session.scalars(select(KYCDocument)).one()
    doc.status, doc.rejection_reason, doc.reviewed_at = "rejected", "The photo is blurry", utcnow()
    user.kyc_status = "rejected"
    db.session.commit()

    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert "The photo is blurry" in html and 'id="kyc-form"' in html
    assert post_form(logged_in_client).status_code == 303
    assert _count(db, KYCDocument) == 2
    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert html.count("•••• 8765") >= 2


def _file_url(db) -> str:
    f = db.session.scalars(select(KYCFile).where(KYCFile.kind == "front")).one()
    return f"/kyc/files/{f.id}"


def test_file_route_by_web_session(app, db, logged_in_client, client, create_user, staff_client_factory):
    post_form(logged_in_client)
    url = _file_url(db)

    own = logged_in_client.get(url)
    assert own.status_code == 200 and own.data == valid_files()["document_front"]
    assert own.headers["Cache-Control"] == "no-store, private"

    assert app.test_client().get(url).status_code == 404  # anonymous

    other = create_user(email="trudy@example.com")
    c = app.test_client()
    web_login(c, other.email)
    assert c.get(url).status_code == 404

    support, _ = staff_client_factory("support")
    assert support.get(url).status_code == 404
    compliance, _ = staff_client_factory("compliance")
    r = compliance.get(url)
    assert r.status_code == 200 and r.mimetype == "image/jpeg"


def test_staff_without_second_factor_gets_404(app, db, logged_in_client, create_staff):
    post_form(logged_in_client)
    url = _file_url(db)
    staff = create_staff(role="compliance")
    c = app.test_client()
    web_login(c, staff.email)  # password only: no staff_2fa_ok in the session
    assert c.get(url).status_code == 404


def test_approved_user_sees_validity_and_no_form_or_nav_link(app, db, logged_in_client, user):
    post_form(logged_in_client)
    doc = db.session.scalars(select(KYCDocument)).one()
    doc.status, doc.reviewed_at = "approved", utcnow()
    doc.expires_at = utcnow().replace(year=utcnow().year + 2)
    user.kyc_status, user.is_verified = "approved", True
    db.session.commit()
    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert "Valid until" in html and 'id="kyc-form"' not in html
    assert not re.search(r">Verify identity</a>", html)
    r = post_form(logged_in_client)
    assert r.status_code == 422 and "already verified" in r.get_data(as_text=True)
