"""Marshmallow schemas of the funds API (wallets, transfers, history): shapes only.

Amounts go out as strings with the currency's decimals and come in as strings or integers;
the services parse them (floats are refused there with a clear message).
"""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import AmountField, PageArgsSchema
from tradeapp.currencies import CURRENCIES
from tradeapp.models.funds import TRANSACTION_STATUSES, TRANSACTION_TYPES
from tradeapp.services.wallets import fmt

AMOUNT_DOC = {"type": "string", "example": "100.50", "description": "Decimal string, the currency's precision."}


def _amount(attribute: str, description: str) -> fields.Function:
    return fields.Function(
        lambda obj: fmt(getattr(obj, attribute), obj.currency),
        dump_only=True,
        metadata={**AMOUNT_DOC, "description": description},
    )


class WalletSchema(ma.Schema):
    """The seed's WalletSerializer."""

    id = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "Null until the wallet is first used."}
    )
    currency = fields.String(dump_only=True, metadata={"enum": list(CURRENCIES)})
    balance = _amount("balance", "Everything owned in this currency.")
    locked_balance = _amount("locked_balance", "Held for pending withdrawals, open orders, collateral.")
    available_balance = _amount("available_balance", "Balance minus held: what can be spent or sent.")
    created_at = fields.DateTime(dump_only=True, allow_none=True)
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class TransactionSchema(ma.Schema):
    """The seed's TransactionSerializer, plus which way the money went and the other customer."""

    id = fields.Integer(dump_only=True)
    transaction_type = fields.String(dump_only=True, metadata={"enum": list(TRANSACTION_TYPES)})
    currency = fields.String(dump_only=True)
    amount = _amount("amount", "Always positive; see direction.")
    fee = _amount("fee", "Fee charged on top (0 for transfers).")
    status = fields.String(dump_only=True, metadata={"enum": list(TRANSACTION_STATUSES)})
    reference_id = fields.String(dump_only=True, metadata={"example": "TRF-9F2C4A17B03E5D61-OUT"})
    external_id = fields.String(dump_only=True)
    notes = fields.String(dump_only=True)
    direction = fields.Integer(dump_only=True, metadata={"description": "+1 money in, -1 money out.", "enum": [1, -1]})
    counterparty = fields.Function(
        lambda txn: txn.counterparty.username if txn.counterparty else None,
        dump_only=True,
        metadata={"type": "string", "nullable": True, "description": "The other customer's username (transfers)."},
    )
    created_at = fields.DateTime(dump_only=True)
    completed_at = fields.DateTime(dump_only=True, allow_none=True)


class TransferSchema(ma.Schema):
    """``POST /transfers/``: exactly one of to_email and to_username."""

    to_email = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=254), metadata={"example": "bob@example.com"}
    )
    to_username = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=150))
    currency = fields.String(
        required=True,
        validate=validate.Length(max=10),
        metadata={"enum": list(CURRENCIES), "description": "Case-insensitive: `usd` is read as `USD`."},
    )
    amount = AmountField(required=True, metadata={"example": "25.00"})
    note = fields.String(load_default="", allow_none=True, validate=validate.Length(max=500))

    @ma.validates_schema
    def one_recipient(self, data, **kwargs):
        email, username = (data.get("to_email") or "").strip(), (data.get("to_username") or "").strip()
        if email and username:
            message = "Send either to_email or to_username, not both."
            raise ma.ValidationError({"to_email": [message], "to_username": [message]})
        if not email and not username:
            message = "Send the recipient's to_email or to_username."
            raise ma.ValidationError({"to_email": [message], "to_username": [message]})


class WalletPageArgsSchema(PageArgsSchema):
    """``?page=&page_size=``."""


class TransactionFilterSchema(PageArgsSchema):
    """Filters of ``GET /transactions/``; dates are whole UTC days, both included."""

    transaction_type = fields.String(validate=validate.OneOf(TRANSACTION_TYPES))
    currency = fields.String(metadata={"enum": list(CURRENCIES)})
    status = fields.String(validate=validate.OneOf(TRANSACTION_STATUSES))
    date_from = fields.Date(metadata={"example": "2026-01-01"})
    date_to = fields.Date(metadata={"example": "2026-01-31"})

    @ma.validates("currency")
    def known_currency(self, value, **kwargs):
        if value.upper() not in CURRENCIES:
            raise ma.ValidationError(f"Unknown currency {value!r}.")

    @ma.validates_schema
    def ordered_dates(self, data, **kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ma.ValidationError({"date_to": ["The end date is before the start date."]})
