"""``/webhooks/kyc/<provider>``: signed Onfido check results, auto-approval, forgeries and replays."""

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from tests.kyc_providers.conftest import WEBHOOK_TOKEN
from tradeapp.kyc_providers.onfido import signature
from tradeapp.models import AuditLog
from tradeapp.models.kyc import KYCDocument

URL = "/webhooks/kyc/onfido"


@pytest.fixture()
def sent_doc(db, user):
    """A pending submission already sent to Onfido (rows made directly; the files do not matter here)."""
    doc = KYCDocument(
        user_id=user.id,
        document_type="passport",
        document_number_encrypted="not-read-here",
        document_number_last4="4821",
        date_of_birth=date(1990, 5, 17),
        address="1 Test Street",
        city="London",
        country="GB",
        postal_code="N1 9GU",
        provider="onfido",
        provider_applicant_id=str(uuid.uuid4()),
        provider_check_id=str(uuid.uuid4()),
    )
    user.kyc_status = "pending"
    db.session.add(doc)
    db.session.commit()
    return doc


def event(check_id, action="check.completed", resource_type="check"):
    return json.dumps(
        {
            "payload": {
                "resource_type": resource_type,
                "action": action,
                "object": {
                    "id": check_id,
                    "status": "complete",
                    "completed_at_iso8601": "2026-11-02T09:30:00Z",
                    "href": f"https://api.eu.onfido.com/v3.6/checks/{check_id}",
                },
            }
        }
    ).encode()


def post(client, body, sig=None, token=WEBHOOK_TOKEN):
    headers = {"Content-Type": "application/json"}
    if sig is None:
        sig = signature(body, token)
    if sig:
        headers["X-SHA2-Signature"] = sig
    return client.post(URL, data=body, headers=headers)


def fresh(db, doc):
    db.session.expire_all()
    return db.session.get(KYCDocument, doc.id)


def audit_actions(db, doc):
    return list(
        db.session.scalars(
            select(AuditLog.action).where(AuditLog.target_type == "kyc_documents", AuditLog.target_id == str(doc.id))
        )
    )


def test_clear_with_auto_approve_approves(app, db, client, fake_onfido, sent_doc, monkeypatch):
    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", True)
    fake_onfido.result = "clear"

    response = post(client, event(sent_doc.provider_check_id))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outcome"] == "approved"
    doc = fresh(db, sent_doc)
    assert doc.status == "approved" and doc.reviewed_by_id is None
    assert doc.user.kyc_status == "approved" and doc.user.is_verified is True
    assert doc.provider_result == "clear"
    assert doc.provider_details == {
        "check_id": sent_doc.provider_check_id,
        "status": "complete",
        "result": "clear",
        "completed_at": "2026-11-02T09:30:00Z",
    }
    assert sorted(audit_actions(db, doc)) == ["kyc.auto_approved", "kyc.provider_result"]
    # The verdict was read back from the provider, with our token.
    (fetch,) = fake_onfido.of("GET", f"/checks/{sent_doc.provider_check_id}")
    assert fetch["auth"] == "Token token=test_onfido_api_token"


def test_clear_without_auto_approve_stays_in_the_queue(db, client, fake_onfido, sent_doc):
    fake_onfido.result = "clear"

    response = post(client, event(sent_doc.provider_check_id))

    assert response.status_code == 200 and response.get_json()["outcome"] == "recorded"
    doc = fresh(db, sent_doc)
    assert doc.status == "pending" and doc.provider_result == "clear"
    assert doc.user.kyc_status == "pending" and not doc.user.is_verified
    assert audit_actions(db, doc) == ["kyc.provider_result"]


def test_consider_is_flagged_and_never_auto_approved(app, db, client, fake_onfido, sent_doc, monkeypatch):
    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", True)
    fake_onfido.result = "consider"

    response = post(client, event(sent_doc.provider_check_id))

    assert response.status_code == 200 and response.get_json()["outcome"] == "recorded"
    doc = fresh(db, sent_doc)
    assert doc.status == "pending" and doc.provider_result == "consider"
    assert doc.provider_details["result"] == "consider"
    assert doc.user.kyc_status == "pending"


def test_queue_shows_the_verdict(db, client, fake_onfido, sent_doc):
    from tradeapp.services.kyc_review import pending_submissions

    fake_onfido.result = "consider"
    post(client, event(sent_doc.provider_check_id))

    db.session.expire_all()
    (row,) = pending_submissions({})
    assert row.id == sent_doc.id and row.provider_result == "consider"


@pytest.mark.parametrize(
    "sig",
    [
        "",  # missing
        "0" * 64,  # forged
        signature(b"another body", WEBHOOK_TOKEN),  # signed something else
        "not-hex",
    ],
    ids=["missing", "zeros", "other-body", "garbage"],
)
def test_bad_signature_is_400_and_changes_nothing(app, db, client, fake_onfido, sent_doc, monkeypatch, sig):
    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", True)

    response = post(client, event(sent_doc.provider_check_id), sig=sig)

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error", "code", "fields"} and body["code"] == "invalid_signature"
    assert "X-SHA2-Signature" in body["fields"]
    doc = fresh(db, sent_doc)
    assert doc.status == "pending" and doc.provider_result == "" and doc.provider_details is None
    assert audit_actions(db, doc) == []
    assert fake_onfido.requests == []


def test_signed_with_the_wrong_token_is_400(db, client, fake_onfido, sent_doc):
    response = post(client, event(sent_doc.provider_check_id), token="someone-else")
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_signature"
    assert fresh(db, sent_doc).provider_result == ""


def test_unconfigured_webhook_token_refuses_everything(app, db, client, fake_onfido, sent_doc, monkeypatch):
    body = event(sent_doc.provider_check_id)
    sig = signature(body, "")
    monkeypatch.setitem(app.config, "ONFIDO_WEBHOOK_TOKEN", "")

    response = post(client, body, sig=sig)

    assert response.status_code == 400 and response.get_json()["code"] == "webhook_not_configured"
    assert fresh(db, sent_doc).provider_result == ""


def test_replay_is_a_no_op(app, db, client, fake_onfido, sent_doc, monkeypatch):
    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", True)
    body = event(sent_doc.provider_check_id)
    assert post(client, body).get_json()["outcome"] == "approved"
    approved_at = fresh(db, sent_doc).reviewed_at

    response = post(client, body)

    assert response.status_code == 200 and response.get_json()["outcome"] == "duplicate"
    assert len(fake_onfido.of("GET", f"/checks/{sent_doc.provider_check_id}")) == 1  # no second fetch
    doc = fresh(db, sent_doc)
    assert doc.status == "approved" and doc.reviewed_at == approved_at
    assert sorted(audit_actions(db, doc)) == ["kyc.auto_approved", "kyc.provider_result"]


def test_result_after_a_manual_decision_is_recorded_but_decides_nothing(
    app, db, client, fake_onfido, sent_doc, monkeypatch
):
    from tradeapp.services.kyc_review import reject_kyc

    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", True)
    reject_kyc(None, sent_doc, "Document unreadable")

    response = post(client, event(sent_doc.provider_check_id))

    assert response.status_code == 200 and response.get_json()["outcome"] == "recorded"
    doc = fresh(db, sent_doc)
    assert doc.status == "rejected" and doc.provider_result == "clear"
    assert doc.user.kyc_status == "rejected"


def test_unknown_check_is_acknowledged_and_ignored(db, client, fake_onfido, sent_doc):
    response = post(client, event(str(uuid.uuid4())))

    assert response.status_code == 200 and response.get_json()["outcome"] == "unknown_check"
    assert fake_onfido.requests == []
    assert fresh(db, sent_doc).provider_result == ""


@pytest.mark.parametrize(
    ("action", "resource_type"), [("check.started", "check"), ("report.completed", "report"), ("x", "workflow_run")]
)
def test_other_events_are_ignored(db, client, fake_onfido, sent_doc, action, resource_type):
    response = post(client, event(sent_doc.provider_check_id, action=action, resource_type=resource_type))

    assert response.status_code == 200 and response.get_json()["outcome"] == "ignored"
    assert fake_onfido.requests == []
    assert fresh(db, sent_doc).provider_result == ""


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"no": "payload"}', event("../applicants/x"), event("")],
    ids=["text", "list", "no-payload", "path-in-id", "empty-id"],
)
def test_signed_but_unreadable_payload_is_400(db, client, fake_onfido, sent_doc, body):
    response = post(client, body)

    assert response.status_code == 400 and response.get_json()["code"] == "invalid_payload"
    assert fake_onfido.requests == []


def test_provider_down_while_fetching_is_503_and_changes_nothing(db, client, fake_onfido, sent_doc):
    fake_onfido.fail_with = 500
    body = event(sent_doc.provider_check_id)

    response = post(client, body)

    assert response.status_code == 503 and response.get_json()["code"] == "provider_unavailable"
    assert fresh(db, sent_doc).provider_result == ""
    # Onfido retries; the next delivery records it.
    fake_onfido.fail_with = None
    assert post(client, body).get_json()["outcome"] == "recorded"


@pytest.mark.parametrize("provider", ["nosuch", "manual"])
def test_unknown_provider_is_404(db, client, provider):
    response = client.post(f"/webhooks/kyc/{provider}", data=b"{}", headers={"Content-Type": "application/json"})

    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "code", "fields"}


def test_webhook_needs_no_csrf_or_session(db, client, fake_onfido, sent_doc):
    # The test client carries no session or CSRF token: the signature is the only credential.
    response = post(client, event(sent_doc.provider_check_id))
    assert response.status_code == 200 and response.get_json()["outcome"] == "recorded"
    doc = fresh(db, sent_doc)
    assert doc.status == "pending" and doc.provider_result == fake_onfido.result  # recorded for a reviewer


def test_get_is_not_allowed(client, db):
    assert client.get(URL).status_code == 405


def test_two_deliveries_at_once_approve_once(app, db, fake_onfido, sent_doc, monkeypatch):
    import threading

    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", True)
    body = event(sent_doc.provider_check_id)
    db.session.rollback()  # the main thread holds no transaction (on SQLite, no write lock)
    barrier = threading.Barrier(2)
    outcomes = []

    def deliver():
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = post(client, body)
            outcomes.append((response.status_code, response.get_json()["outcome"]))
            db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(outcomes) == [(200, "approved"), (200, "duplicate")]
    doc = fresh(db, sent_doc)
    assert doc.status == "approved" and doc.user.kyc_status == "approved"
    assert sorted(audit_actions(db, doc)) == ["kyc.auto_approved", "kyc.provider_result"]
