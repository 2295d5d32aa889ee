"""Customer KYC API: multipart submit, status, and the authorised file route with bearer tokens."""

from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.kyc_helpers import DOC_NUMBER, jpeg, multipart, pdf, png, stored_files, valid_data, valid_files
from tradeapp.models.kyc import KYCDocument, KYCFile
from tradeapp.services.tokens import issue_tokens

SUBMIT = "/api/v1/kyc/submit/"
STATUS = "/api/v1/kyc/status/"


def post_submit(api, data=None, files=None, names=None):
    body = multipart(data or valid_data(), files if files is not None else valid_files(), names)
    return api.client.post(SUBMIT, data=body, content_type="multipart/form-data", headers=api._headers(None))


def _count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_submit_returns_the_masked_submission_with_file_urls(app, db, auth_api_client, user):
    r = post_submit(auth_api_client)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) == {
        "id",
        "document_type",
        "document_number",
        "document_front",
        "document_back",
        "selfie",
        "address_proof",
        "date_of_birth",
        "address",
        "city",
        "country",
        "postal_code",
        "submitted_at",
        "rejection_reason",
        "status",
    }
    assert body["document_number"] == "•••• 8765" and DOC_NUMBER not in r.get_data(as_text=True)
    assert body["status"] == "pending" and body["document_back"] is None
    assert body["document_front"].startswith("http://localhost/kyc/files/")

    front = auth_api_client.get(body["document_front"].removeprefix("http://localhost"))
    assert front.status_code == 200 and front.data == valid_files()["document_front"]
    assert front.mimetype == "image/jpeg"
    assert front.headers["Cache-Control"] == "no-store, private"
    assert front.headers["X-Content-Type-Options"] == "nosniff"
    assert front.headers["Content-Disposition"].startswith("inline")
    assert "default-src 'none'" in front.headers["Content-Security-Policy"]

    status = auth_api_client.get(STATUS)
    assert status.status_code == 200
    assert status.get_json()["kyc_status"] == "pending" and status.get_json()["is_verified"] is False
    assert status.get_json()["submitted_at"]


def test_status_before_any_submission(auth_api_client):
    body = auth_api_client.get(STATUS).get_json()
    assert body == {
        "kyc_status": "not_submitted",
        "is_verified": False,
        "submitted_at": None,
        "rejection_reason": "",
        "expires_at": None,
    }


def test_anonymous_gets_401(api_client):
    assert_error(post_submit(api_client), 401)
    assert_error(api_client.get(STATUS), 401)


def test_json_body_is_refused_for_submit_and_json_still_required_elsewhere(auth_api_client):
    assert_error(auth_api_client.post(SUBMIT, json=valid_data()), 415)
    r = auth_api_client.client.post("/api/v1/auth/login/", data="email=a", content_type="text/plain")
    assert_error(r, 415)


def test_wrong_magic_with_a_jpg_name_is_a_400_and_stores_nothing(app, db, auth_api_client):
    before = stored_files(app)
    r = post_submit(auth_api_client, files=valid_files(document_front=b"MZ" + b"\x00" * 400))
    assert_error(r, 400, "validation_error", fields=["document_front"])
    assert _count(db, KYCDocument) == 0 and _count(db, KYCFile) == 0
    assert stored_files(app) == before


def test_every_bad_field_is_reported(app, db, auth_api_client):
    r = post_submit(
        auth_api_client,
        valid_data(document_type="national_id", country="ZZ", date_of_birth="2015-01-01"),
        valid_files(selfie=pdf(), document_front=png(100, 100)),
    )
    body = assert_error(r, 400, "validation_error")
    assert set(body["fields"]) == {"country", "date_of_birth", "document_back", "selfie", "document_front"}
    assert _count(db, KYCDocument) == 0


def test_resubmit_while_pending_is_a_400(app, db, auth_api_client):
    assert post_submit(auth_api_client).status_code == 201
    assert_error(post_submit(auth_api_client), 400, "kyc_pending")
    assert _count(db, KYCDocument) == 1


def test_bearer_access_to_files(app, db, auth_api_client, user, create_user, create_staff):
    body = post_submit(auth_api_client, files=valid_files(selfie=jpeg())).get_json()
    url = body["selfie"].removeprefix("http://localhost")
    client = app.test_client()

    def get(who):
        token = issue_tokens(who)["access"]
        return client.get(url, headers={"Authorization": f"Bearer {token}"})

    assert get(user).status_code == 200
    assert get(create_user(email="mallory@example.com")).status_code == 404
    assert get(create_staff(role="support")).status_code == 404
    assert get(create_staff(role="finance")).status_code == 404
    compliance = get(create_staff(role="compliance"))
    assert compliance.status_code == 200 and compliance.data == jpeg()
    assert client.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 404
    assert client.get(url).status_code == 404
    assert (
        client.get("/kyc/files/999999", headers={"Authorization": f"Bearer {issue_tokens(user)['access']}"}).status_code
        == 404
    )


def test_submit_is_documented_as_multipart(app, api_client):
    spec = api_client.get("/api/schema/").get_json()
    op = spec["paths"]["/api/v1/kyc/submit/"]["post"]
    content = op["requestBody"]["content"]
    assert "multipart/form-data" in content
    schema = spec["components"]["schemas"]["KycSubmit"]
    assert schema["properties"]["selfie"]["format"] == "binary"
    assert "201" in op["responses"] and "400" in op["responses"]
