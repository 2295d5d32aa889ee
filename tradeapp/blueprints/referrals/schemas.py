"""Marshmallow schemas of the referrals API (seed 3.9, 8.7): shapes only; amounts as strings."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import PageArgsSchema
from tradeapp.models.referrals import REWARD_TYPES
from tradeapp.services.wallets import fmt

AMOUNT_DOC = {"type": "string", "example": "10.00", "description": "Decimal string, the currency's precision."}
#: what the API calls each status: a held reward is still pending for the customer (``on_hold`` says why it waits)
API_STATUS = {
    "pending": "pending",
    "held": "pending",
    "paid": "paid",
    "cancelled": "cancelled",
    "clawed_back": "clawed_back",
}
API_STATUSES = ("pending", "paid", "cancelled", "clawed_back")


class CodeSchema(ma.Schema):
    """The seed's ``code`` action."""

    referral_code = fields.String(dump_only=True, metadata={"example": "K7Q2M9XA"})
    referral_link = fields.String(
        dump_only=True, metadata={"description": "Opening it pre-fills the code on the registration page."}
    )
    qr_code_svg = fields.String(dump_only=True, metadata={"description": "Path of the link's QR code (SVG)."})


class TierSchema(ma.Schema):
    name = fields.String(dump_only=True)
    min_referrals = fields.Integer(dump_only=True)
    commission_percentage = fields.Function(
        lambda t: format(t.commission_percentage.normalize(), "f"),
        dump_only=True,
        metadata={"type": "string", "example": "20", "description": "Percent of each trading fee a referee pays."},
    )
    bonus_amount = fields.Function(
        lambda t: format(t.bonus_amount, "f"),
        dump_only=True,
        metadata={**AMOUNT_DOC, "description": "Extra sign-up bonus."},
    )


def _by_currency(attribute: str):
    return fields.Function(
        lambda s: {cur: fmt(amount, cur) for cur, amount in sorted(getattr(s, attribute).items())},
        dump_only=True,
        metadata={"type": "object", "additionalProperties": {"type": "string"}, "example": {"USD": "30.00"}},
    )


class StatsSchema(ma.Schema):
    """The seed's ``stats`` action, plus the tier and the money per currency."""

    total_referrals = fields.Integer(dump_only=True)
    active_referrals = fields.Integer(dump_only=True)
    qualified_referrals = fields.Integer(
        dump_only=True, metadata={"description": "Referees who verified their identity: what the tier follows."}
    )
    total_rewards = fields.Function(
        lambda s: fmt(s.paid.get(s.currency, 0) + s.pending.get(s.currency, 0), s.currency),
        dump_only=True,
        metadata={**AMOUNT_DOC, "description": "Paid and pending rewards in the programme's currency."},
    )
    pending_rewards = fields.Integer(
        attribute="pending_count", dump_only=True, metadata={"description": "How many rewards are not paid yet."}
    )
    rewards_paid = _by_currency("paid")
    rewards_pending = _by_currency("pending")
    currency = fields.String(dump_only=True, metadata={"description": "The programme's currency."})
    tier = fields.Nested(TierSchema, dump_only=True, allow_none=True)
    next_tier = fields.Nested(TierSchema, dump_only=True, allow_none=True)
    referrals_to_next_tier = fields.Integer(attribute="to_next", dump_only=True, allow_none=True)
    progress_percent = fields.Integer(dump_only=True)


class RewardSchema(ma.Schema):
    """The seed's ``rewards`` items: the referee by username only."""

    id = fields.Integer(dump_only=True)
    referred_user = fields.Function(lambda r: r.referee.username, dump_only=True, metadata={"type": "string"})
    reward_type = fields.String(dump_only=True, metadata={"enum": list(REWARD_TYPES)})
    amount = fields.Function(lambda r: fmt(r.amount, r.currency), dump_only=True, metadata=AMOUNT_DOC)
    currency = fields.String(dump_only=True)
    status = fields.Function(
        lambda r: API_STATUS[r.status], dump_only=True, metadata={"type": "string", "enum": list(API_STATUSES)}
    )
    on_hold = fields.Function(
        lambda r: r.status == "held",
        dump_only=True,
        metadata={"type": "boolean", "description": "Waiting for a staff review before it can be paid."},
    )
    reason = fields.String(
        dump_only=True, metadata={"description": "Why it is held, reduced, cancelled or clawed back."}
    )
    clears_at = fields.DateTime(dump_only=True, metadata={"description": "Paid at the first payout run after this."})
    paid_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class RewardArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(API_STATUSES + ("held",)))
    reward_type = fields.String(load_default=None, validate=validate.OneOf(REWARD_TYPES))


class ReferredUserSchema(ma.Schema):
    """The seed's ``referred_users`` items, without the e-mail (a referee's address is theirs)."""

    username = fields.String(dump_only=True)
    is_verified = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    total_trades = fields.Integer(dump_only=True, metadata={"description": "Filled orders."})
    status = fields.String(dump_only=True, metadata={"enum": ["active", "held", "disqualified"]})
