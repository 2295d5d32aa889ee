"""OnfidoProvider.start_check against the fake Onfido: applicant, documents, live photo, check."""

import io
from datetime import date

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage

from tradeapp.jobs.kyc import start_provider_check
from tradeapp.kyc_providers import OnfidoProvider, get_provider
from tradeapp.kyc_providers.countries import alpha3
from tradeapp.models.kyc import KYCDocument
from tradeapp.services.kyc import submit_kyc


def image(fmt: str, color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 320), color).save(buffer, fmt)
    return buffer.getvalue()


def upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture()
def files():
    return {
        "front": image("JPEG", "red"),
        "back": image("PNG", "blue"),
        "selfie": image("JPEG", "green"),
        "proof": PDF,
    }


@pytest.fixture()
def submit(user, files):
    """``submit(document_type)`` → a stored submission made by K1's real service (files encrypted)."""

    def make(document_type="drivers_license"):
        uploads = {
            "document_front": upload(files["front"], "my passport front.jpg"),
            "selfie": upload(files["selfie"], "me.jpg"),
            "address_proof": upload(files["proof"], "bill.pdf"),
        }
        if document_type != "passport":
            uploads["document_back"] = upload(files["back"], "back.png")
        data = {
            "document_type": document_type,
            "document_number": "AB 123456 C",
            "date_of_birth": "1990-05-17",
            "address": "1 Test Street",
            "city": "London",
            "country": "GB",
            "postal_code": "N1 9GU",
        }
        return submit_kyc(user, data, uploads)

    return make


def fresh(db, doc):
    db.session.expire_all()
    return db.session.get(KYCDocument, doc.id)


def test_start_check_sends_applicant_documents_selfie_and_check(db, fake_onfido, submit, files, user):
    doc = submit("drivers_license")

    start_provider_check(doc.id, "onfido")

    requests = fake_onfido.requests
    assert [(r["method"], r["path"]) for r in requests] == [
        ("POST", "/applicants/"),
        ("POST", "/documents"),
        ("POST", "/documents"),
        ("POST", "/live_photos"),
        ("POST", "/checks"),
    ]
    assert {r["auth"] for r in requests} == {"Token token=test_onfido_api_token"}

    applicant = requests[0]["body"]
    assert applicant == {
        "first_name": "Alice",
        "last_name": "Liddell",
        "dob": "1990-05-17",
        "address": {"postcode": "N1 9GU", "country": "GBR"},
    }
    front, back = requests[1]["body"], requests[2]["body"]
    applicant_id = fake_onfido.of("POST", "/checks")[0]["body"]["applicant_id"]
    for sent, side, content, content_type in (
        (front, "front", files["front"], "image/jpeg"),
        (back, "back", files["back"], "image/png"),
    ):
        assert sent["applicant_id"] == applicant_id
        assert sent["type"] == "driving_licence" and sent["side"] == side
        # The decrypted bytes, under a name of ours (never the customer's file name).
        assert sent["file"]["content"] == content
        assert sent["file"]["content_type"] == content_type
        assert sent["file"]["filename"] == f"{side}.{'jpg' if side == 'front' else 'png'}"
    selfie = requests[3]["body"]
    assert selfie["applicant_id"] == applicant_id and selfie["file"]["content"] == files["selfie"]
    assert set(selfie) == {"applicant_id", "file"}
    # The address proof stays with us.
    assert all(files["proof"] != (r["body"].get("file") or {}).get("content") for r in requests[1:4])

    check = requests[4]["body"]
    assert check["report_names"] == ["document", "facial_similarity_photo"]
    assert len(check["document_ids"]) == 2

    doc = fresh(db, doc)
    assert doc.provider == "onfido"
    assert doc.provider_applicant_id == applicant_id
    assert doc.provider_check_id and doc.provider_result == ""
    assert doc.status == "pending"


def test_start_check_twice_sends_nothing_the_second_time(db, fake_onfido, submit):
    doc = submit("passport")
    start_provider_check(doc.id, "onfido")
    check_id = fresh(db, doc).provider_check_id
    start_provider_check(doc.id, "onfido")

    assert len(fake_onfido.of("POST", "/applicants/")) == 1
    assert len(fake_onfido.of("POST", "/checks")) == 1
    # A passport has no back: one document upload, typed passport.
    (document,) = fake_onfido.of("POST", "/documents")
    assert document["body"]["type"] == "passport" and document["body"]["side"] == "front"
    assert fresh(db, doc).provider_check_id == check_id


def test_national_id_maps_to_onfido_type(db, fake_onfido, submit):
    doc = submit("national_id")
    start_provider_check(doc.id, "onfido")
    assert {r["body"]["type"] for r in fake_onfido.of("POST", "/documents")} == {"national_identity_card"}


def test_provider_error_raises_so_the_job_retries_and_stores_nothing(db, fake_onfido, submit):
    doc = submit()
    fake_onfido.fail_with = 500

    with pytest.raises(Exception, match="500"):
        start_provider_check(doc.id, "onfido")

    doc = fresh(db, doc)
    assert doc.provider_check_id is None and doc.provider_applicant_id is None
    # The retry succeeds.
    fake_onfido.fail_with = None
    start_provider_check(doc.id, "onfido")
    assert fresh(db, doc).provider_check_id


def test_wrong_api_token_is_an_error(app, db, fake_onfido, submit, monkeypatch):
    doc = submit()
    monkeypatch.setitem(app.config, "ONFIDO_API_TOKEN", "wrong")

    with pytest.raises(Exception, match="401"):
        start_provider_check(doc.id, "onfido")
    assert fresh(db, doc).provider_check_id is None


def test_missing_submission_is_a_no_op(db, fake_onfido):
    start_provider_check(987654, "onfido")
    assert fake_onfido.requests == []


def test_with_kyc_provider_onfido_a_submission_is_sent_inline(app, db, fake_onfido, submit, monkeypatch):
    monkeypatch.setitem(app.config, "KYC_PROVIDER", "onfido")
    assert app.config["JOBS_INLINE"] is True

    doc = submit()  # the service enqueues the provider check after commit

    assert len(fake_onfido.of("POST", "/checks")) == 1
    doc = fresh(db, doc)
    assert doc.provider == "onfido" and doc.provider_check_id

    start_provider_check(doc.id, "onfido")  # a second hand-off (a duplicated job) changes nothing
    assert len(fake_onfido.of("POST", "/applicants/")) == 1


def test_with_the_manual_provider_nothing_is_sent(db, fake_onfido, submit):
    doc = submit()
    assert fake_onfido.requests == []
    assert fresh(db, doc).provider == "manual"


def test_registry(app, db, monkeypatch):
    assert get_provider("onfido").name == "onfido"
    assert get_provider("manual").name == "manual"
    monkeypatch.setitem(app.config, "KYC_PROVIDER", "onfido")
    assert isinstance(get_provider(), OnfidoProvider)
    with pytest.raises(RuntimeError):
        get_provider("nosuch")


@pytest.mark.parametrize(("alpha2", "expected"), [("GB", "GBR"), ("de", "DEU"), ("US", "USA"), ("XK", "XK")])
def test_countries_become_alpha3(alpha2, expected):
    assert alpha3(alpha2) == expected


def test_date_of_birth_is_sent_as_iso(db, fake_onfido, submit):
    doc = submit()
    start_provider_check(doc.id, "onfido")
    assert fake_onfido.of("POST", "/applicants/")[0]["body"]["dob"] == date(1990, 5, 17).isoformat()


def test_every_accepted_country_has_an_alpha3_code():
    from tradeapp.data.iso3166 import COUNTRIES
    from tradeapp.kyc_providers.countries import ALPHA3

    assert set(ALPHA3) == set(COUNTRIES)
    assert len(set(ALPHA3.values())) == len(ALPHA3)
