"""Onfido adapter: applicant + documents + live photo + check over HTTP, verdict by signed webhook.

A small documented subset of Onfido's API v3.6 (base URL ``ONFIDO_API_URL``, header
``Authorization: Token token=<ONFIDO_API_TOKEN>``):

- ``POST /applicants/`` JSON ``{first_name, last_name, dob, address: {postcode, country}}``; the
  address country is ISO 3166-1 alpha-3 (we store alpha-2 and map it, see ``countries.py``).
- ``POST /documents`` multipart ``applicant_id, type, side, file`` for the front and the back
  (types ``passport``, ``driving_licence``, ``national_identity_card``). The address proof is
  not sent: the reports we ask for do not use it, so it stays with us.
- ``POST /live_photos`` multipart ``applicant_id, file`` for the selfie.
- ``POST /checks`` JSON ``{applicant_id, report_names: ["document", "facial_similarity_photo"],
  document_ids}``; ``GET /checks/{id}`` → ``{id, status, result: "clear" | "consider"}``.
- Webhooks: the raw body is signed with the webhook token, hex HMAC-SHA256 in ``X-SHA2-Signature``;
  the body is ``{"payload": {"resource_type", "action", "object": {"id", "status",
  "completed_at_iso8601", "href"}}}``. Only ``check.completed`` is acted on; the verdict is read
  back from ``GET /checks/{id}`` rather than trusted from the webhook body.

HTTP errors raise, so the RQ job (enqueued with ``Retry``) tries again. ``start_check`` stores
its ids in one commit at the end, so a run that failed half-way leaves nothing behind and the
retry starts over with a new applicant. Nothing personal is logged: ids and verdicts only.
"""

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping

import requests
from flask import current_app
from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.kyc_providers.base import KycProvider, ProviderUnavailable, WebhookRejected
from tradeapp.kyc_providers.countries import alpha3
from tradeapp.models.kyc import KYCDocument, KYCFile
from tradeapp.services import audit

log = logging.getLogger(__name__)

#: our document types → Onfido's
DOCUMENT_TYPES = {
    "passport": "passport",
    "drivers_license": "driving_licence",
    "national_id": "national_identity_card",
}
REPORT_NAMES = ["document", "facial_similarity_photo"]
#: (connect, read) seconds
TIMEOUT = (5, 30)
SIGNATURE_HEADER = "X-SHA2-Signature"
#: Onfido ids are UUIDs; anything else is not put into a URL
_ID = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


def signature(body: bytes, token: str) -> str:
    """The hex HMAC-SHA256 Onfido puts in ``X-SHA2-Signature``."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class OnfidoProvider(KycProvider):
    """Onfido over HTTP (see the module docstring for the subset used)."""

    name = "onfido"
    has_webhook = True

    # -- HTTP ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> dict:
        config = current_app.config
        token = config.get("ONFIDO_API_TOKEN", "")
        if not token:
            raise RuntimeError("ONFIDO_API_TOKEN is not set")
        response = requests.request(
            method,
            f"{config['ONFIDO_API_URL'].rstrip('/')}{path}",
            headers={"Authorization": f"Token token={token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            **kwargs,
        )
        # The error body may echo personal data: raise with the status and URL only.
        response.raise_for_status()
        return response.json()

    def _upload(self, path: str, applicant_id: str, kyc_file: KYCFile, **fields: str) -> dict:
        from tradeapp.services.kyc import read_file

        # The file name is ours, never the customer's.
        name = f"{kyc_file.kind}.{_EXTENSIONS.get(kyc_file.content_type, 'bin')}"
        return self._request(
            "POST",
            path,
            data={"applicant_id": applicant_id, **fields},
            files={"file": (name, read_file(kyc_file), kyc_file.content_type)},
        )

    # -- submission ----------------------------------------------------------------------------

    def start_check(self, document_id: int) -> None:
        """Create the applicant, upload the documents and selfie, start the check; store the ids."""
        doc = db.session.get(KYCDocument, document_id)
        if doc is None:
            log.warning("onfido: submission %s not found; nothing to check", document_id)
            return
        if doc.provider_check_id:
            return  # already sent: a retried or duplicated job
        user = doc.user
        applicant = self._request(
            "POST",
            "/applicants/",
            json={
                "first_name": user.first_name,
                "last_name": user.last_name,
                "dob": doc.date_of_birth.isoformat(),
                "address": {"postcode": doc.postal_code, "country": alpha3(doc.country)},
            },
        )
        applicant_id = applicant["id"]
        files = {f.kind: f for f in doc.files}
        document_ids = []
        for side in ("front", "back"):
            if side in files:
                uploaded = self._upload(
                    "/documents", applicant_id, files[side], type=DOCUMENT_TYPES[doc.document_type], side=side
                )
                document_ids.append(uploaded["id"])
        if "selfie" in files:
            self._upload("/live_photos", applicant_id, files["selfie"])
        check = self._request(
            "POST",
            "/checks",
            json={"applicant_id": applicant_id, "report_names": REPORT_NAMES, "document_ids": document_ids},
        )
        doc.provider = self.name
        doc.provider_applicant_id = applicant_id
        doc.provider_check_id = check["id"]
        db.session.commit()
        log.info("onfido: submission %s sent as check %s", doc.id, check["id"])

    # -- webhook -------------------------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> dict:
        """The webhook's JSON if its signature is right; :class:`WebhookRejected` otherwise."""
        token = current_app.config.get("ONFIDO_WEBHOOK_TOKEN", "")
        if not token:
            raise WebhookRejected("Onfido webhooks are not configured.", code="webhook_not_configured")
        given = headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise WebhookRejected("Missing signature.", {SIGNATURE_HEADER: ["Required."]}, code="invalid_signature")
        if not hmac.compare_digest(given.strip().lower(), signature(body, token)):
            raise WebhookRejected(
                "Invalid signature.", {SIGNATURE_HEADER: ["Does not match."]}, code="invalid_signature"
            )
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("Invalid payload.", code="invalid_payload") from None
        if not isinstance(event, dict) or not isinstance(event.get("payload"), dict):
            raise WebhookRejected("Invalid payload.", code="invalid_payload")
        return event

    def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Record a completed check's verdict; a clear one approves when ``KYC_AUTO_APPROVE``."""
        payload = self.verify(body, headers)["payload"]
        if payload.get("resource_type") != "check" or payload.get("action") != "check.completed":
            return "ignored"
        obj = payload.get("object") if isinstance(payload.get("object"), dict) else {}
        check_id = str(obj.get("id") or "")
        if not _ID.match(check_id):
            raise WebhookRejected("Invalid payload.", {"object.id": ["Not a check id."]}, code="invalid_payload")
        doc = self._document_for(check_id)
        if doc is None:
            log.info("onfido: check %s matches no submission; ignored", check_id)
            return "unknown_check"
        if doc.provider_result:
            return "duplicate"  # a replay: the verdict is already recorded
        db.session.rollback()  # read only so far; hold no transaction across the HTTP call
        try:
            check = self._request("GET", f"/checks/{check_id}")
        except requests.RequestException as exc:
            log.warning("onfido: fetching check %s failed: %s", check_id, type(exc).__name__)
            raise ProviderUnavailable("The provider could not be reached; try again later.") from None
        return self._record(check_id, check, obj)

    def _document_for(self, check_id: str, lock: bool = False) -> KYCDocument | None:
        query = select(KYCDocument).filter_by(provider=self.name, provider_check_id=check_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return db.session.execute(query).scalar_one_or_none()

    def _record(self, check_id: str, check: dict, event_object: dict) -> str:
        # Locked again after the HTTP call: of two concurrent deliveries, one records, one sees it done.
        doc = self._document_for(check_id, lock=True)
        if doc is None or doc.provider_result:
            db.session.rollback()
            return "duplicate"
        result = str(check.get("result") or "")[:30]
        doc.provider_result = result or "unknown"
        doc.provider_details = {
            "check_id": check_id,
            "status": str(check.get("status") or event_object.get("status") or ""),
            "result": result,
            "completed_at": str(event_object.get("completed_at_iso8601") or check.get("completed_at_iso8601") or ""),
        }
        audit.record(None, "kyc.provider_result", doc, after={"provider": self.name, "result": doc.provider_result})
        log.info("onfido: check %s for submission %s: %s", check_id, doc.id, doc.provider_result)
        if result == "clear" and current_app.config.get("KYC_AUTO_APPROVE") and doc.status == "pending":
            from tradeapp.services.kyc_review import approve_kyc

            approve_kyc(None, doc, note="auto-approved: provider clear")  # commits the verdict too
            return "approved"
        db.session.commit()
        return "recorded"
