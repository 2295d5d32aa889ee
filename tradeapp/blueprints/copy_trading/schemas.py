"""Marshmallow schemas of the copy-trading API (the seed's 7.5 serializers, without the trader's private data)."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import IdField
from tradeapp.blueprints.trading.schemas import DecimalInput, OrderSchema
from tradeapp.models.copy_trading import COPY_STATUSES, SKIP_REASONS, SUBSCRIPTION_STATUSES, TRADER_STATUSES
from tradeapp.services.copy_trading.traders import ORDERINGS
from tradeapp.services.trading.pairs import dec_str

PCT = {"type": "string", "example": "12.50", "description": "Percent, decimal string."}
MONEY = {"type": "string", "example": "1000.00", "description": "Decimal string in the allocation's currency."}


def _dec(name: str, places: int | None = 2, meta: dict = PCT, nullable: bool = False):
    return fields.Function(
        lambda obj: dec_str(getattr(obj, name), places) if getattr(obj, name) is not None else None,
        dump_only=True,
        metadata={**meta, "nullable": nullable} if nullable else meta,
    )


class TraderUserInfoSchema(ma.Schema):
    """What the seed's ``user_info`` may show of a trader: the name they chose, nothing of the account."""

    display_name = fields.String(dump_only=True)


class TraderSchema(ma.Schema):
    """A lead trader (the seed's TraderSerializer): display name, bio and stats computed from our own fills."""

    id = fields.Integer(dump_only=True)
    user = fields.Function(
        lambda t: None,
        dump_only=True,
        metadata={"type": "integer", "nullable": True, "description": "Always null: the account stays private."},
    )
    user_info = fields.Function(
        lambda t: {"display_name": t.display_name},
        dump_only=True,
        metadata={"type": "object", "description": "Only the display name (no e-mail, phone or referral code)."},
    )
    display_name = fields.String(dump_only=True)
    bio = fields.String(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(TRADER_STATUSES)})
    profit_share_percentage = _dec("profit_share_percentage")
    total_followers = fields.Integer(dump_only=True)
    total_profit = _dec("total_profit", 2, MONEY)
    profit_percentage = _dec("profit_percentage")
    win_rate = _dec("win_rate")
    total_trades = fields.Integer(dump_only=True)
    risk_score = fields.Integer(dump_only=True, metadata={"minimum": 1, "maximum": 10})
    roi_7d = _dec("roi_7d")
    roi_30d = _dec("roi_30d")
    roi_90d = _dec("roi_90d")
    max_drawdown = _dec("max_drawdown")
    assets_under_copy = _dec("assets_under_copy", 2, MONEY)
    stats_updated_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OwnTraderSchema(TraderSchema):
    """The applicant's own record: with the staff's reason."""

    status_reason = fields.String(dump_only=True)
    is_public = fields.Boolean(dump_only=True)


class TraderFilterSchema(ma.Schema):
    risk_score = fields.Integer(validate=validate.Range(min=1, max=10))
    ordering = fields.String(
        validate=validate.OneOf([*ORDERINGS, *(f"-{o}" for o in ORDERINGS)]),
        metadata={"description": "Sort field, `-` for descending (default `-total_followers`)."},
    )
    page = fields.Integer(validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(validate=validate.Range(min=1, max=200))

    class Meta:
        unknown = ma.EXCLUDE


class ApplicationFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(TRADER_STATUSES))
    page = fields.Integer(validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(validate=validate.Range(min=1, max=200))

    class Meta:
        unknown = ma.EXCLUDE


class PerformanceArgsSchema(ma.Schema):
    window = fields.String(load_default="30d", validate=validate.OneOf(["7d", "30d", "90d", "all"]))

    class Meta:
        unknown = ma.EXCLUDE


class CurvePointSchema(ma.Schema):
    time = fields.Integer(metadata={"description": "Epoch seconds."})
    equity = fields.String(metadata={"description": "Equity in USD."})
    index = fields.String(metadata={"description": "Time-weighted index (1 = start)."})


class TraderPerformanceSchema(ma.Schema):
    trader = fields.Integer()
    window = fields.String()
    roi = fields.String(allow_none=True, metadata=PCT)
    max_drawdown = fields.String(metadata=PCT)
    points = fields.List(fields.Nested(CurvePointSchema))


class ApplySchema(ma.Schema):
    """``POST /traders/apply/``."""

    display_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    bio = fields.String(load_default="", validate=validate.Length(max=2000))
    profit_share_percentage = DecimalInput(load_default=None, allow_none=True, metadata={"example": "10"})
    is_public = fields.Boolean(load_default=True)

    class Meta:
        unknown = ma.EXCLUDE


class ReasonSchema(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=255))

    class Meta:
        unknown = ma.EXCLUDE


class SubscriptionSchema(ma.Schema):
    """A subscription (the seed's CopyTradingSubscriptionSerializer, plus the allocation's money)."""

    id = fields.Integer(dump_only=True)
    trader = fields.Integer(attribute="trader_id", dump_only=True)
    trader_detail = fields.Nested(TraderSchema, attribute="trader", dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(SUBSCRIPTION_STATUSES)})
    status_reason = fields.String(dump_only=True)
    copy_percentage = _dec("copy_percentage")
    max_position_size = _dec("max_position_size", None, MONEY, nullable=True)
    stop_loss_percentage = _dec("stop_loss_percentage", 2, PCT, nullable=True)
    slippage_percentage = _dec("slippage_percentage", 2, PCT, nullable=True)
    copy_open_positions = fields.Boolean(dump_only=True)
    currency = fields.String(dump_only=True)
    allocated_amount = _dec("allocated_amount", 2, MONEY)
    cash = _dec("cash", 2, MONEY)
    realized_profit = _dec("realized_profit", 2, MONEY)
    high_water_mark = _dec("high_water_mark", 2, MONEY)
    profit_share_paid = _dec("profit_share_paid", 2, MONEY)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)


class SubscribeSchema(ma.Schema):
    """``POST /copy-trading/subscribe/`` (and ``/copy-trading/``)."""

    trader = IdField(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    copy_percentage = DecimalInput(load_default=None, allow_none=True, metadata={"example": "25"})
    max_position_size = DecimalInput(allow_none=True, allow_blank=True, metadata={"example": "1000"})
    stop_loss_percentage = DecimalInput(allow_none=True, allow_blank=True, metadata={"example": "20"})
    slippage_percentage = DecimalInput(allow_none=True, allow_blank=True, metadata={"example": "1"})
    copy_open_positions = fields.Boolean(load_default=False)
    currency = fields.String(validate=validate.Length(min=2, max=10))

    class Meta:
        unknown = ma.EXCLUDE


class CopySubscriptionUpdateSchema(ma.Schema):
    """``PATCH``: any of the settings; ``is_active`` pauses or resumes; ``trader`` may only repeat the current one."""

    trader = IdField(validate=validate.Range(min=1, max=2**31 - 1), allow_none=True)
    copy_percentage = DecimalInput(allow_none=True)
    max_position_size = DecimalInput(allow_none=True, allow_blank=True)
    stop_loss_percentage = DecimalInput(allow_none=True, allow_blank=True)
    slippage_percentage = DecimalInput(allow_none=True, allow_blank=True)
    is_active = fields.Boolean()

    class Meta:
        unknown = ma.EXCLUDE


class SubscriptionPerformanceSchema(SubscriptionSchema):
    equity = fields.Function(lambda s: dec_str(s.perf["equity"], 2), dump_only=True, metadata=MONEY)
    positions_value = fields.Function(lambda s: dec_str(s.perf["positions_value"], 2), dump_only=True, metadata=MONEY)
    unrealized_profit = fields.Function(
        lambda s: dec_str(s.perf["unrealized_profit"], 2), dump_only=True, metadata=MONEY
    )
    total_profit = fields.Function(lambda s: dec_str(s.perf["total_profit"], 2), dump_only=True, metadata=MONEY)
    copied = fields.Function(lambda s: s.perf["copied"], dump_only=True, metadata={"type": "integer"})
    skipped = fields.Function(lambda s: s.perf["skipped"], dump_only=True, metadata={"type": "integer"})


class PerformanceSchema(ma.Schema):
    """``GET /copy-trading/performance/``: real profit per subscription and in total."""

    active_subscriptions = fields.Integer()
    total_profit = fields.String(metadata=MONEY)
    realized_profit = fields.String(metadata=MONEY)
    unrealized_profit = fields.String(metadata=MONEY)
    allocated = fields.String(metadata=MONEY)
    equity = fields.String(metadata=MONEY)
    subscriptions = fields.List(fields.Nested(SubscriptionPerformanceSchema))


class CopiedTradeSchema(ma.Schema):
    """One copy of a master order (the seed's CopiedTradeSerializer), or why it was not made."""

    id = fields.Integer(dump_only=True)
    subscription = fields.Integer(attribute="subscription_id", dump_only=True)
    subscription_detail = fields.Nested(SubscriptionSchema, attribute="subscription", dump_only=True)
    master_order = fields.Integer(attribute="master_order_id", dump_only=True)
    master_order_detail = fields.Nested(OrderSchema, attribute="master_order", dump_only=True)
    follower_order = fields.Integer(attribute="follower_order_id", dump_only=True, allow_none=True)
    follower_order_detail = fields.Nested(OrderSchema, attribute="follower_order", dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(COPY_STATUSES)})
    reason = fields.String(dump_only=True, metadata={"enum": ["", *SKIP_REASONS]})
    reason_label = fields.String(dump_only=True)
    detail = fields.String(dump_only=True)
    realized_pnl = _dec("realized_pnl", 2, MONEY, nullable=True)
    created_at = fields.DateTime(dump_only=True)


class CopiedTradeFilterSchema(ma.Schema):
    subscription = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    status = fields.String(validate=validate.OneOf(COPY_STATUSES))
    page = fields.Integer(validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(validate=validate.Range(min=1, max=200))

    class Meta:
        unknown = ma.EXCLUDE
