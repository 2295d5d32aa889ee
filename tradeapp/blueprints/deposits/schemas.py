"""Marshmallow schemas of the deposits API: shapes only; the service checks the rules."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.deposits.payment_details import public_details
from tradeapp.blueprints.funds.schemas import TransactionSchema  # the one TransactionSerializer
from tradeapp.services.wallets import fmt


class MoneyString(fields.Field):
    """An amount: read as a string or an integer (floats refused), written as a string."""

    default_error_messages = {"invalid": "Send amounts as strings or integers, not floats."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool | float) or not isinstance(value, str | int):
            raise self.make_error("invalid")
        text = str(value).strip()
        if not text or len(text) > 40:
            raise ma.ValidationError("Enter a valid number.")
        return text

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class DepositSchema(ma.Schema):
    """The seed's DepositSerializer, plus status and amounts."""

    id = fields.Integer()
    transaction = fields.Nested(TransactionSchema)
    payment_method = fields.String(metadata={"enum": ["card", "bank_transfer", "crypto"]})
    status = fields.String(metadata={"enum": ["pending", "completed", "failed", "rejected", "refunded"]})
    currency = fields.String()
    amount = fields.Function(
        lambda d: fmt(d.amount, d.currency), metadata={"type": "string", "description": "Announced amount."}
    )
    credited_amount = fields.Function(
        lambda d: None if d.credited_amount is None else fmt(d.credited_amount, d.currency),
        metadata={"type": "string", "nullable": True, "description": "What reached the wallet."},
    )
    payment_details = fields.Method(
        "get_payment_details",
        metadata={
            "description": "card: client_secret (pay with Stripe.js or the sandbox); bank_transfer: reference and "
            "bank details; crypto: network and address (a demo format; finance confirms by hand)."
        },
    )
    rejection_reason = fields.String()
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)

    def get_payment_details(self, deposit):
        return public_details(deposit)


class StaffDepositSchema(DepositSchema):
    user_id = fields.Integer()
    user_email = fields.Function(lambda d: d.user.email)


class DepositCreateSchema(ma.Schema):
    payment_method = fields.String(required=True, validate=validate.OneOf(["card", "bank_transfer", "crypto"]))
    currency = fields.String(required=True, validate=validate.Length(min=1, max=10))
    amount = MoneyString(required=True, metadata={"example": "100.00"})
    network = fields.String(load_default="", validate=validate.Length(max=20), metadata={"description": "crypto only"})
    tx_hash = fields.String(
        load_default="", validate=validate.Length(max=80), metadata={"description": "crypto only, optional"}
    )


class DepositConfirmSchema(ma.Schema):
    amount = MoneyString(
        load_default=None, allow_none=True, metadata={"description": "Amount received, if not the announced one."}
    )
    tx_hash = fields.String(
        load_default="", allow_none=True, validate=validate.Length(max=80), metadata={"description": "crypto: required"}
    )


class DepositRejectSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
