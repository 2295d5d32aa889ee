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

HTTP errors raise, so the RQ job (enqueued with ``Retry``) tries again. The adapter only speaks
HTTP: :mod:`tradeapp.services.kyc_checks` loads the submission, stores the ids in one unit of
work at the end (a run that failed half-way leaves nothing behind and the retry starts over with
a new applicant) and records verdicts. Nothing personal is logged: ids and verdicts only.
"""

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping

import requests
from flask import current_app

from tradeapp.kyc_providers.base import KycProvider, ProviderUnavailable, WebhookRejected
from tradeapp.kyc_providers.countries import alpha3
from tradeapp.models.kyc import KYCDocument, KYCFile

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

    def _upload(self, path: str, applicant_id: str, kyc_file: KYCFile, data: bytes, **fields: str) -> dict:
        # The file name is ours, never the customer's.
        name = f"{kyc_file.kind}.{_EXTENSIONS.get(kyc_file.content_type, 'bin')}"
        return self._request(
            "POST",
            path,
            data={"applicant_id": applicant_id, **fields},
            files={"file": (name, data, kyc_file.content_type)},
        )

    # -- submission ----------------------------------------------------------------------------

    def start_check(self, doc: KYCDocument, read_file: Callable[[KYCFile], bytes]) -> tuple[str, str]:
        """Create the applicant, upload the documents and selfie, start the check: (applicant id, check id)."""
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
                    "/documents",
                    applicant_id,
                    files[side],
                    read_file(files[side]),
                    type=DOCUMENT_TYPES[doc.document_type],
                    side=side,
                )
                document_ids.append(uploaded["id"])
        if "selfie" in files:
            self._upload("/live_photos", applicant_id, files["selfie"], read_file(files["selfie"]))
        check = self._request(
            "POST",
            "/checks",
            json={"applicant_id": applicant_id, "report_names": REPORT_NAMES, "document_ids": document_ids},
        )
        return applicant_id, check["id"]

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

    def completed_check(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, dict] | None:
        """The check id and event object of a verified ``check.completed`` webhook; None for other events."""
        payload = self.verify(body, headers)["payload"]
        if payload.get("resource_type") != "check" or payload.get("action") != "check.completed":
            return None
        obj = payload.get("object") if isinstance(payload.get("object"), dict) else {}
        check_id = str(obj.get("id") or "")
        if not _ID.match(check_id):
            raise WebhookRejected("Invalid payload.", {"object.id": ["Not a check id."]}, code="invalid_payload")
        return check_id, obj

    def fetch_check(self, check_id: str) -> dict:
        """``GET /checks/{id}``: the verdict is read back rather than trusted from the webhook body."""
        try:
            return self._request("GET", f"/checks/{check_id}")
        except requests.RequestException as exc:
            log.warning("onfido: fetching check %s failed: %s", check_id, type(exc).__name__)
            raise ProviderUnavailable("The provider could not be reached; try again later.") from None
