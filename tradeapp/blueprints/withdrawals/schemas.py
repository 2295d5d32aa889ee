"""Marshmallow schemas of the withdrawals API: shapes only; the service checks the rules."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import AmountField
from tradeapp.blueprints.funds.schemas import TransactionSchema
from tradeapp.currencies import CURRENCIES
from tradeapp.models.funds import DESTINATION_TYPES, WITHDRAWAL_STATUSES
from tradeapp.services.account_security import confirmations
from tradeapp.services.wallets import fmt
from tradeapp.services.withdrawals import approvals_required

AMOUNT_DOC = {"type": "string", "example": "100.00", "description": "Decimal string, the currency's precision."}


class WithdrawalSchema(ma.Schema):
    """A withdrawal and its history line."""

    id = fields.Integer(dump_only=True)
    transaction = fields.Nested(TransactionSchema, dump_only=True)
    currency = fields.String(dump_only=True, metadata={"enum": list(CURRENCIES)})
    amount = fields.Function(lambda w: fmt(w.amount, w.currency), dump_only=True, metadata=AMOUNT_DOC)
    fee = fields.Function(
        lambda w: fmt(w.fee, w.currency), dump_only=True, metadata={**AMOUNT_DOC, "description": "Charged on top."}
    )
    status = fields.String(dump_only=True, metadata={"enum": list(WITHDRAWAL_STATUSES)})
    destination_type = fields.String(dump_only=True, metadata={"enum": list(DESTINATION_TYPES)})
    destination_details = fields.Dict(dump_only=True)
    approvals = fields.Function(
        lambda w: len(w.approvals),
        dump_only=True,
        metadata={"type": "integer", "description": "Staff approvals so far."},
    )
    approvals_required = fields.Function(
        lambda w: _required(w),
        dump_only=True,
        metadata={"type": "integer", "description": "1, or 2 above the threshold."},
    )
    awaiting_confirmation = fields.Function(
        lambda w: confirmations.pending_for(w) is not None,
        dump_only=True,
        metadata={
            "type": "boolean",
            "description": "Waits for the customer's click on the e-mailed link before staff see it.",
        },
    )
    rejection_reason = fields.String(dump_only=True)
    failure_reason = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    completed_at = fields.DateTime(dump_only=True, allow_none=True)


def _required(w) -> int:
    return approvals_required(w)


class WithdrawalRequestSchema(ma.Schema):
    """``POST /withdrawals/``."""

    currency = fields.String(
        required=True,
        validate=validate.Length(max=10),
        metadata={"enum": list(CURRENCIES), "description": "Case-insensitive: `usd` is read as `USD`."},
    )
    amount = AmountField(required=True, metadata={"example": "100.00"})
    destination_type = fields.String(required=True, metadata={"enum": list(DESTINATION_TYPES)})
    destination_details = fields.Dict(
        required=True,
        metadata={
            "description": "bank_account: `iban`, `account_holder`, optional `bank_name`; "
            "crypto_wallet: `address`, `network` (bitcoin, ethereum, tron).",
            "example": {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"},
        },
    )
    otp = fields.String(
        load_default=None,
        allow_none=True,
        load_only=True,
        validate=validate.Length(max=20),
        metadata={
            "description": "With two-factor on: the current code (or a recovery code). Each withdrawal needs a fresh one."
        },
    )


class RejectSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
