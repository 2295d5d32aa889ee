"""Compliance review of identity verification: the pending queue, approve and reject.

Lifecycle of a submission (the only moves this module makes)::

    pending ──approve──▶ approved   (user.is_verified; expires after KYC_VALIDITY_DAYS)
       └─────reject───▶ rejected   (the user may submit again)

Each decision locks the submission row, commits once (submission, user status and audit row
together), then tells the user by e-mail and Socket.IO and refreshes the staff queue counters.
Audit rows carry statuses only: no names, numbers or dates of birth.
"""

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import Select, func, select

from tradeapp.errors import NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models.kyc import KYC_DOCUMENT_TYPES, KYCDocument
from tradeapp.models.types import utcnow
from tradeapp.models.users import User
from tradeapp.permissions import has_permission
from tradeapp.services import audit, notifications, referrals, rows
from tradeapp.services.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

REVIEW = "kyc.review"

#: rejection reasons offered to reviewers; "Other" needs free text
REJECTION_PRESETS = (
    "Document unreadable",
    "Document expired",
    "Name does not match",
    "Selfie does not match document",
    "Address proof too old or missing",
    "Other",
)

DOCUMENT_TYPE_LABELS = {"passport": "Passport", "drivers_license": "Driver's licence", "national_id": "National ID"}
assert set(DOCUMENT_TYPE_LABELS) == set(KYC_DOCUMENT_TYPES)


# -- the queue -----------------------------------------------------------------------------------


def pending_query(filters: dict | None = None) -> Select:
    """Pending submissions, oldest first, narrowed by ``filters``.

    ``country`` (ISO alpha-2), ``document_type``, ``min_age_hours`` (alias ``older_than``):
    only submissions at least that many hours old. Unknown or empty filters are ignored.
    """
    filters = filters or {}
    query = select(KYCDocument).where(KYCDocument.status == "pending")
    country = (filters.get("country") or "").strip().upper()
    if country:
        query = query.where(KYCDocument.country == country)
    document_type = filters.get("document_type") or ""
    if document_type in KYC_DOCUMENT_TYPES:
        query = query.where(KYCDocument.document_type == document_type)
    hours = filters.get("min_age_hours") or filters.get("older_than")
    try:
        hours = int(hours) if hours not in (None, "") else 0
    except (TypeError, ValueError):
        hours = 0
    if hours > 0:
        query = query.where(KYCDocument.submitted_at <= utcnow() - timedelta(hours=hours))
    return query.order_by(KYCDocument.submitted_at, KYCDocument.id)


def pending_submissions(filters: dict | None = None, limit: int = 200) -> list[KYCDocument]:
    """The review queue: pending submissions oldest first (see :func:`pending_query`)."""
    return list(db.session.scalars(pending_query(filters).limit(limit)))


def pending_count() -> int:
    """How many submissions wait for review (the sidebar's live counter)."""
    return db.session.scalar(select(func.count()).select_from(KYCDocument).where(KYCDocument.status == "pending"))


def pending_countries() -> list[str]:
    """Countries that have pending submissions, for the queue's filter."""
    return list(
        db.session.scalars(
            select(KYCDocument.country).where(KYCDocument.status == "pending").distinct().order_by(KYCDocument.country)
        )
    )


def history(doc: KYCDocument) -> list[KYCDocument]:
    """The user's other submissions, newest first."""
    return list(
        db.session.scalars(
            select(KYCDocument)
            .where(KYCDocument.user_id == doc.user_id, KYCDocument.id != doc.id)
            .order_by(KYCDocument.submitted_at.desc(), KYCDocument.id.desc())
        )
    )


# -- decisions -------------------------------------------------------------------------------


def _lock(document_id: int) -> KYCDocument:
    doc = rows.lock(KYCDocument, document_id)
    if doc is None:
        raise NotFound("No such submission.")
    return doc


def _check_reviewer(actor: User | None, doc: KYCDocument) -> None:
    if actor is None:
        return
    if not has_permission(actor, REVIEW):
        raise PermissionDenied("You do not have permission to review identity verification.")
    if doc.user_id == actor.id:
        raise PermissionDenied("You cannot review your own submission; another person must.", code="self_review")


def _tell_user(uow: UnitOfWork, doc: KYCDocument, user: User) -> None:
    """The verdict as a notification (e-mailed by the user's preference) and a ``kyc_status`` event."""
    if doc.status == "approved":
        notifications.notify(
            user.id,
            notifications.KYC_APPROVED,
            "Your identity is verified",
            "You can now use every part of your account, including withdrawals.",
            link="/kyc/",
            data={"document_id": doc.id},
            dedupe_key=f"kyc:{doc.id}:approved",
            mail_context={"doc": doc},
        )
    else:
        notifications.notify(
            user.id,
            notifications.KYC_REJECTED,
            "Your identity verification was not accepted",
            f"Reason: {doc.rejection_reason}" if doc.rejection_reason else "",
            link="/kyc/",
            data={"document_id": doc.id},
            dedupe_key=f"kyc:{doc.id}:rejected",
            mail_context={"doc": doc},
        )
    payload = {"status": doc.status, "id": doc.id}
    if doc.status == "rejected":
        payload["reason"] = doc.rejection_reason
    uow.emit_to_user(user.id, "kyc_status", payload)


def _decide(actor: User | None, doc: KYCDocument, status: str, action: str, reason: str = "", note: str = ""):
    _check_reviewer(actor, doc)
    with unit_of_work() as uow:
        doc = _lock(doc.id)
        _check_reviewer(actor, doc)
        user = db.session.scalar(
            select(User)
            .where(User.id == doc.user_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        before = {"status": doc.status, "kyc_status": user.kyc_status, "is_verified": user.is_verified}
        doc.transition_to(status, f"This submission is {doc.status}, not pending.")
        now = utcnow()
        doc.reviewed_at = now
        doc.reviewed_by_id = actor.id if actor is not None else None
        if status == "approved":
            doc.expires_at = now + timedelta(days=int(current_app.config.get("KYC_VALIDITY_DAYS", 730)))
            user.kyc_status = "approved"
            user.is_verified = True
            referrals.on_kyc_approved(user.id)
        else:
            doc.rejection_reason = reason
            user.kyc_status = "rejected"
            user.is_verified = False
        after = {"status": doc.status, "kyc_status": user.kyc_status, "is_verified": user.is_verified}
        if note:
            # The reviewer's note is about the decision, not the person; kept short.
            after["note"] = note[:500]
        if status == "rejected":
            after["reason"] = reason
        audit.record(actor, action, doc, before=before, after=after)
        _tell_user(uow, doc, user)
    log.info("kyc submission %s %s by %s", doc.id, status, actor.id if actor is not None else "provider")
    return doc


def approve_kyc(actor: User | None, doc: KYCDocument, *, note: str = "") -> KYCDocument:
    """Approve a pending submission: the user is verified until now + KYC_VALIDITY_DAYS.

    ``actor`` None is an automatic approval on a provider's clear result.

    :raise PermissionDenied: without kyc.review, or for one's own submission (``self_review``)
    :raise IllegalTransition: the submission is no longer pending (409)
    """
    note = " ".join((note or "").split())
    action = "kyc.approved" if actor is not None else "kyc.auto_approved"
    return _decide(actor, doc, "approved", action, note=note)


def reject_kyc(actor: User | None, doc: KYCDocument, reason: str) -> KYCDocument:
    """Reject a pending submission with a reason the user is told; they may submit again.

    :raise ValidationFailed: no reason (or "Other" without details)
    :raise PermissionDenied: without kyc.review, or for one's own submission (``self_review``)
    :raise IllegalTransition: the submission is no longer pending (409)
    """
    reason = " ".join((reason or "").split())
    if not reason or reason == "Other":
        message = "Give a reason for the customer."
        raise ValidationFailed(message, {"reason": [message]})
    if len(reason) > 500:
        message = "Keep the reason under 500 characters."
        raise ValidationFailed(message, {"reason": [message]})
    return _decide(actor, doc, "rejected", "kyc.rejected", reason=reason)
