"""Compliance review API: pending queue, approve, reject."""

import marshmallow as ma
from flask import abort, url_for
from marshmallow import fields, validate

from tradeapp.blueprints.api import ApiBlueprint, PageArgsSchema, api_user, page_schema, paginate, token_required
from tradeapp.extensions import db
from tradeapp.input_guards import ID_MAX
from tradeapp.models.kyc import KYC_DOCUMENT_TYPES, KYC_FILE_KINDS, KYC_SUBMISSION_STATUSES, KYCDocument
from tradeapp.services import kyc_review

blp = ApiBlueprint(
    "kyc_staff_api", __name__, url_prefix="/api/v1/kyc", description="Identity verification review (staff)"
)

REVIEW = kyc_review.REVIEW


def _file_urls(doc: KYCDocument) -> dict[str, str]:
    return {f.kind: url_for("kyc.file", file_id=f.id, _external=True) for f in doc.files}


class KycReviewItemSchema(ma.Schema):
    """A pending submission as a reviewer sees it (no document number)."""

    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    user_email = fields.Function(lambda d: d.user.email, dump_only=True, metadata={"type": "string"})
    status = fields.String(dump_only=True, metadata={"enum": list(KYC_SUBMISSION_STATUSES)})
    document_type = fields.String(dump_only=True, metadata={"enum": list(KYC_DOCUMENT_TYPES)})
    country = fields.String(dump_only=True, metadata={"description": "ISO 3166-1 alpha-2"})
    submitted_at = fields.DateTime(dump_only=True)
    provider = fields.String(dump_only=True)
    provider_result = fields.String(
        dump_only=True, metadata={"description": "The provider's verdict (e.g. `clear`, `consider`); empty if none."}
    )
    files = fields.Function(
        _file_urls,
        dump_only=True,
        metadata={
            "type": "object",
            "additionalProperties": {"type": "string", "format": "uri"},
            "description": "Absolute URLs of the files' authorised download routes, by kind "
            f"({', '.join(KYC_FILE_KINDS)}); open them with the same bearer token.",
        },
    )


DECISION_MESSAGES = {"approved": "KYC approved", "rejected": "KYC rejected"}


class KycDecisionSchema(ma.Schema):
    """A submission after a decision, with the seed's ``message`` ("KYC approved" / "KYC rejected")."""

    message = fields.Function(
        lambda d: DECISION_MESSAGES.get(d.status, ""),
        dump_only=True,
        metadata={"type": "string", "enum": list(DECISION_MESSAGES.values())},
    )
    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(KYC_SUBMISSION_STATUSES)})
    reviewed_at = fields.DateTime(dump_only=True, allow_none=True)
    reviewed_by_id = fields.Integer(dump_only=True, allow_none=True)
    rejection_reason = fields.String(dump_only=True)
    expires_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "When an approval stops counting."}
    )


class KycQueueArgsSchema(PageArgsSchema):
    """Filters of the pending queue."""

    country = fields.String(load_default="", validate=validate.Length(max=2))
    document_type = fields.String(load_default="", validate=validate.OneOf(["", *KYC_DOCUMENT_TYPES]))
    min_age_hours = fields.Integer(load_default=0, validate=validate.Range(min=0, max=ID_MAX))


class KycApproveSchema(ma.Schema):
    note = fields.String(load_default="", validate=validate.Length(max=500), metadata={"description": "Staff only."})

    class Meta:
        unknown = ma.EXCLUDE


class KycRejectSchema(ma.Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "Told to the customer, e.g. one of: " + "; ".join(kyc_review.REJECTION_PRESETS[:-1]) + "."
        },
    )


def _get_or_404(document_id: int) -> KYCDocument:
    doc = db.session.get(KYCDocument, document_id)
    if doc is None:
        abort(404)
    return doc


@blp.route("/pending/", methods=["GET"])
@token_required(REVIEW)
@blp.arguments(KycQueueArgsSchema, location="query")
@blp.response(200, page_schema(KycReviewItemSchema))
def kyc_pending(args):
    """Staff: submissions awaiting review, oldest first, filtered by country, document type, age."""
    return paginate(kyc_review.pending_query(args))


@blp.route("/<int:document_id>/approve/", methods=["POST"])
@token_required(REVIEW)
@blp.arguments(KycApproveSchema)
@blp.response(200, KycDecisionSchema)
@blp.alt_response(404, description="No such submission")
@blp.alt_response(403, description="Your own submission (`self_review`) or no permission (`permission_denied`)")
@blp.alt_response(409, description="No longer pending (`illegal_transition`)")
def kyc_approve(data, document_id):
    """Staff: approve; the customer is verified for KYC_VALIDITY_DAYS and told."""
    return kyc_review.approve_kyc(api_user(), _get_or_404(document_id), note=data.get("note", ""))


@blp.route("/<int:document_id>/reject/", methods=["POST"])
@token_required(REVIEW)
@blp.arguments(KycRejectSchema)
@blp.response(200, KycDecisionSchema)
@blp.alt_response(404, description="No such submission")
@blp.alt_response(403, description="Your own submission (`self_review`) or no permission (`permission_denied`)")
@blp.alt_response(409, description="No longer pending (`illegal_transition`)")
def kyc_reject(data, document_id):
    """Staff: reject with a reason for the customer, who may submit again."""
    return kyc_review.reject_kyc(api_user(), _get_or_404(document_id), data["reason"])
