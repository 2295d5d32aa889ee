"""Automatic identity checks: hand a submission to its provider, record the provider's verdict.

Providers (:mod:`tradeapp.kyc_providers`) only speak HTTP; this service loads and stores. A
clear verdict approves the submission when ``KYC_AUTO_APPROVE`` is on, in the same unit of work
as the recorded result.
"""

import logging
from collections.abc import Mapping

from flask import current_app
from sqlalchemy import select

from tradeapp.extensions import db
from tradeapp.kyc_providers import KycProvider, get_provider
from tradeapp.models.kyc import KYCDocument
from tradeapp.services import audit
from tradeapp.services.kyc import read_file
from tradeapp.services.kyc_review import approve_kyc
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)


def start_provider_check(document_id: int, provider_name: str) -> None:
    """Send a stored submission to ``provider_name`` (the job enqueued after submission; idempotent)."""
    doc = db.session.get(KYCDocument, document_id)
    if doc is None:
        log.warning("%s: submission %s not found; nothing to check", provider_name, document_id)
        return
    if doc.provider_check_id:
        return  # already sent: a retried or duplicated job
    provider = get_provider(provider_name)
    ids = provider.start_check(doc, read_file)
    if ids is None:
        return
    applicant_id, check_id = ids
    with unit_of_work():
        doc = db.session.get(KYCDocument, document_id)
        doc.provider = provider.name
        doc.provider_applicant_id = applicant_id
        doc.provider_check_id = check_id
    log.info("%s: submission %s sent as check %s", provider.name, document_id, check_id)


def _document_for(provider: KycProvider, check_id: str, lock: bool = False) -> KYCDocument | None:
    query = select(KYCDocument).filter_by(provider=provider.name, provider_check_id=check_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def handle_webhook(provider: KycProvider, body: bytes, headers: Mapping[str, str]) -> str:
    """Verify a provider's webhook and record a completed check's verdict; a short outcome for the log.

    :raise WebhookRejected: bad signature or payload (nothing changed)
    :raise ProviderUnavailable: the provider's API failed while we read the verdict (it retries)
    """
    completed = provider.completed_check(body, headers)
    if completed is None:
        return "ignored"
    check_id, event_object = completed
    doc = _document_for(provider, check_id)
    if doc is None:
        log.info("%s: check %s matches no submission; ignored", provider.name, check_id)
        return "unknown_check"
    if doc.provider_result:
        return "duplicate"  # a replay: the verdict is already recorded
    db.session.rollback()  # read only so far; hold no transaction across the HTTP call
    check = provider.fetch_check(check_id)
    with unit_of_work() as uow:
        # Locked again after the HTTP call: of two concurrent deliveries, one records, one sees it done.
        doc = _document_for(provider, check_id, lock=True)
        if doc is None or doc.provider_result:
            uow.rollback()
            return "duplicate"
        result = str(check.get("result") or "")[:30]
        doc.provider_result = result or "unknown"
        doc.provider_details = {
            "check_id": check_id,
            "status": str(check.get("status") or event_object.get("status") or ""),
            "result": result,
            "completed_at": str(event_object.get("completed_at_iso8601") or check.get("completed_at_iso8601") or ""),
        }
        audit.record(None, "kyc.provider_result", doc, after={"provider": provider.name, "result": doc.provider_result})
        log.info("%s: check %s for submission %s: %s", provider.name, check_id, doc.id, doc.provider_result)
        if result == "clear" and current_app.config.get("KYC_AUTO_APPROVE") and doc.status == "pending":
            approve_kyc(None, doc, note="auto-approved: provider clear")  # joins this unit of work
            return "approved"
    return "recorded"
