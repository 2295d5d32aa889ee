"""Marshmallow schemas of the deposits API: shapes only; the service checks the rules."""

from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import AmountField
from tradeapp.blueprints.deposits.payment_details import public_details
from tradeapp.blueprints.funds.schemas import TransactionSchema  # the one TransactionSerializer
from tradeapp.currencies import CURRENCIES
from tradeapp.services.wallets import fmt

#: what a customer's ``payment_details`` may hold: a flat object of short scalars
MAX_DETAIL_KEYS = 20
MAX_DETAIL_TEXT = 500


class PaymentDetailsField(fields.Dict):
    """The seed's ``payment_details``: a flat JSON object (at most 20 keys, scalar values, text up to 500).

    ``network`` and ``tx_hash`` of a crypto deposit are read from it; the rest is kept with the deposit.
    """

    def _deserialize(self, value, attr, data, **kwargs) -> dict:
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > MAX_DETAIL_KEYS:
            raise ma.ValidationError(f"At most {MAX_DETAIL_KEYS} keys.")
        clean = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > 64 or "\x00" in key:
                raise ma.ValidationError("Keys are names of at most 64 characters.")
            if isinstance(item, Decimal):
                item = str(item)  # kept exactly as sent
            if item is not None and not isinstance(item, str | int | bool):
                raise ma.ValidationError(f"{key}: only text, numbers, true/false or null.")
            if isinstance(item, str) and (len(item) > MAX_DETAIL_TEXT or "\x00" in item):
                raise ma.ValidationError(f"{key}: text of at most {MAX_DETAIL_TEXT} characters.")
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**53:
                item = str(item)
            clean[key] = item
        return clean


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
    """``POST /deposits/``: the seed's fields (``payment_method``, ``payment_details``, ``currency``, ``amount``)."""

    payment_method = fields.String(required=True, validate=validate.OneOf(["card", "bank_transfer", "crypto"]))
    currency = fields.String(
        load_default="USD",
        validate=validate.Regexp(r"^[A-Za-z]{3,5}$"),
        metadata={
            "enum": list(CURRENCIES),
            "description": "Defaults to USD, as in the seed; case-insensitive (`usd` is `USD`).",
        },
    )
    amount = AmountField(required=True, metadata={"example": "100.00"})
    payment_details = PaymentDetailsField(
        load_default=dict,
        metadata={
            "description": "As the seed sends it: a crypto deposit's `network` (bitcoin, ethereum, tron) and "
            "optional `tx_hash`; other keys (text, numbers) are kept with the deposit and shown back.",
            "example": {"network": "bitcoin"},
            "maxProperties": MAX_DETAIL_KEYS,
        },
    )
    network = fields.String(
        load_default="",
        validate=validate.Length(max=20),
        metadata={"description": "crypto only; same as `payment_details.network`"},
    )
    tx_hash = fields.String(
        load_default="",
        validate=validate.Length(max=80),
        metadata={"description": "crypto only, optional; same as `payment_details.tx_hash`"},
    )


class DepositConfirmSchema(ma.Schema):
    amount = AmountField(
        load_default=None, allow_none=True, metadata={"description": "Amount received, if not the announced one."}
    )
    tx_hash = fields.String(
        load_default="", allow_none=True, validate=validate.Length(max=80), metadata={"description": "crypto: required"}
    )


class DepositRejectSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
