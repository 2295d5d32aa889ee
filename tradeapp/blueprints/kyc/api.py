"""Customer KYC API: submit (multipart) and status."""

import marshmallow as ma
from flask import request, url_for
from sqlalchemy import select

from tradeapp.blueprints.api import (
    ApiBlueprint,
    PageArgsSchema,
    api_user,
    error_response,
    id_parameter,
    multipart_body,
    page_schema,
    paginate,
    token_required,
)
from tradeapp.errors import DomainError, NotFound
from tradeapp.extensions import db
from tradeapp.models.kyc import KYC_DOCUMENT_TYPES, KYC_SUBMISSION_STATUSES, KYCDocument
from tradeapp.permissions import has_permission
from tradeapp.services import kyc, kyc_review

blp = ApiBlueprint("kyc_api", __name__, url_prefix="/api/v1/kyc", description="Identity verification")

BINARY = {"type": "string", "format": "binary"}
TEXT_FIELDS = ("document_type", "document_number", "date_of_birth", "address", "city", "country", "postal_code")


class KycSubmitSchema(ma.Schema):
    """The multipart body of a submission (documented; the service checks it)."""

    document_type = ma.fields.String(required=True, metadata={"enum": list(KYC_DOCUMENT_TYPES)})
    document_number = ma.fields.String(
        required=True, metadata={"description": "4–40 letters, digits, spaces or hyphens."}
    )
    document_front = ma.fields.Raw(
        required=True, metadata={**BINARY, "description": "JPEG, PNG or PDF, at most KYC_MAX_FILE_MB."}
    )
    document_back = ma.fields.Raw(
        metadata={**BINARY, "description": "Required for drivers_license and national_id; JPEG, PNG or PDF."}
    )
    selfie = ma.fields.Raw(required=True, metadata={**BINARY, "description": "JPEG or PNG, 300–10000 px a side."})
    address_proof = ma.fields.Raw(required=True, metadata={**BINARY, "description": "JPEG, PNG or PDF."})
    date_of_birth = ma.fields.Date(required=True, metadata={"description": "At least KYC_MIN_AGE (18) years ago."})
    address = ma.fields.String(required=True, metadata={"maxLength": kyc.MAX_ADDRESS})
    city = ma.fields.String(required=True, metadata={"maxLength": kyc.MAX_CITY})
    country = ma.fields.String(required=True, metadata={"description": "ISO 3166-1 alpha-2.", "example": "GB"})
    postal_code = ma.fields.String(required=True, metadata={"maxLength": 20})


def _file_url(doc, kind: str) -> str | None:
    for f in doc.files:
        if f.kind == kind:
            return url_for("kyc.file", file_id=f.id, _external=True)
    return None


class KYCDocumentSchema(ma.Schema):
    """A submission as its owner sees it: the number masked, files as authorised URLs."""

    id = ma.fields.Integer()
    document_type = ma.fields.String(metadata={"enum": list(KYC_DOCUMENT_TYPES)})
    document_number = ma.fields.Function(kyc.masked_number, metadata={"example": "•••• 4821"})
    document_front = ma.fields.Function(lambda d: _file_url(d, "front"), metadata={"format": "uri"})
    document_back = ma.fields.Function(lambda d: _file_url(d, "back"), allow_none=True, metadata={"format": "uri"})
    selfie = ma.fields.Function(lambda d: _file_url(d, "selfie"), metadata={"format": "uri"})
    address_proof = ma.fields.Function(lambda d: _file_url(d, "address_proof"), metadata={"format": "uri"})
    date_of_birth = ma.fields.Date()
    address = ma.fields.String()
    city = ma.fields.String()
    country = ma.fields.String()
    postal_code = ma.fields.String()
    submitted_at = ma.fields.DateTime()
    rejection_reason = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(KYC_SUBMISSION_STATUSES)})


class KycStatusSchema(ma.Schema):
    kyc_status = ma.fields.String(metadata={"enum": ["not_submitted", "pending", "approved", "rejected"]})
    is_verified = ma.fields.Boolean()
    submitted_at = ma.fields.DateTime(allow_none=True)
    rejection_reason = ma.fields.String()
    expires_at = ma.fields.DateTime(allow_none=True)


@blp.route("/submit/", methods=["POST"])
@multipart_body
@token_required()
@blp.doc(
    summary="Submit identity documents",
    requestBody={"required": True, "content": {"multipart/form-data": {"schema": KycSubmitSchema}}},
)
@blp.response(201, KYCDocumentSchema)
@blp.alt_response(400, description="Invalid input, a submission already pending, or already verified.")
@blp.alt_response(413, description="The request is larger than MAX_CONTENT_LENGTH.")
@blp.alt_response(415, description="The body is not multipart/form-data.")
def kyc_submit():
    """Send a new submission; files are checked by content, encrypted and kept private."""
    data = {name: request.form.get(name) for name in TEXT_FIELDS}
    files = {name: request.files.get(name) for name in kyc.FILE_FIELDS}
    try:
        return kyc.submit_kyc(api_user(), data, files)
    except DomainError as exc:
        return error_response(exc.status, exc.message, exc.code, exc.fields)


def _documents_query(user):
    """The seed's KYCViewSet queryset: staff who review see every submission, a customer their own."""
    query = select(KYCDocument).order_by(KYCDocument.submitted_at.desc(), KYCDocument.id.desc())
    if has_permission(user, kyc_review.REVIEW):
        return query
    return query.where(KYCDocument.user_id == user.id)


@blp.route("/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(KYCDocumentSchema))
def kyc_listing(args):
    """Your submissions, newest first (reviewers: everyone's); document numbers are masked."""
    return paginate(_documents_query(api_user()))


@blp.route("/<int:document_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[id_parameter("document_id", "The submission's id.")])
@blp.response(200, KYCDocumentSchema)
@blp.alt_response(404, description="No such submission of yours (`not_found`)")
def kyc_detail(document_id):
    """One submission (yours; reviewers: anyone's), with its files as authorised URLs."""
    doc = db.session.scalar(_documents_query(api_user()).where(KYCDocument.id == document_id))
    if doc is None:
        raise NotFound("KYC submission not found.")
    return doc


@blp.route("/status/", methods=["GET"])
@token_required()
@blp.response(200, KycStatusSchema)
def kyc_status():
    """My verification status, with the latest submission's time and any rejection reason."""
    user = api_user()
    latest = kyc.latest_submission(user)
    return {
        "kyc_status": user.kyc_status,
        "is_verified": bool(user.is_verified),
        "submitted_at": latest.submitted_at if latest else None,
        "rejection_reason": latest.rejection_reason if latest and latest.status == "rejected" else "",
        "expires_at": latest.expires_at if latest and latest.status == "approved" else None,
    }
