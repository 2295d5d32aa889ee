"""Marshmallow schemas of the signals API (the seed's 7.6 serializers, plus a few additions): shapes only."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import IdField, PageArgsSchema
from tradeapp.blueprints.trading.schemas import DecimalInput, TradingPairSchema, price_str
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models.signals import PROVIDER_TYPES, SIGNAL_STATUSES, SIGNAL_TYPES, SUBSCRIPTION_STATUSES
from tradeapp.services.signals import record, subscriptions
from tradeapp.services.trading.pairs import dec_str
from tradeapp.services.wallets import fmt

DECIMAL = {"type": "string", "description": "Decimal as a string."}
PRICE = {"type": "string", "nullable": True, "example": "95000.00", "description": "The pair's price precision."}


def _d(value, places: int = 2) -> str | None:
    return None if value is None else dec_str(value, places)


class StatsSchema(ma.Schema):
    signals = fields.Integer()
    decided = fields.Integer(metadata={"description": "Hit take-profit, hit stop-loss or expired."})
    hit_tp = fields.Integer()
    hit_sl = fields.Integer()
    expired = fields.Integer()
    hit_rate = fields.Function(lambda s: _d(s["hit_rate"]), metadata={**DECIMAL, "nullable": True})
    avg_r = fields.Function(
        lambda s: _d(s["avg_r"]), metadata={**DECIMAL, "nullable": True, "description": "Average gain in R."}
    )
    total_r = fields.Function(lambda s: _d(s["total_r"]), metadata=DECIMAL)


class TrackRecordSchema(ma.Schema):
    overall = fields.Nested(StatsSchema)
    by_pair = fields.Dict(keys=fields.String(), values=fields.Nested(StatsSchema))
    by_month = fields.Dict(keys=fields.String(), values=fields.Nested(StatsSchema))


class SignalProviderSchema(ma.Schema):
    """The seed's SignalProviderSerializer, plus its track record (computed from outcomes)."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    provider_type = fields.String(dump_only=True, metadata={"enum": list(PROVIDER_TYPES)})
    accuracy_rate = fields.Function(
        lambda p: _d(p.accuracy_rate),
        dump_only=True,
        metadata={**DECIMAL, "description": "Percent of decided buy/sell signals that hit their take-profit."},
    )
    total_signals = fields.Integer(dump_only=True, metadata={"description": "Buy/sell signals published."})
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class SignalProviderDetailSchema(SignalProviderSchema):
    track_record = fields.Function(
        lambda p: TrackRecordSchema().dump(record.track_record(p.id)),
        dump_only=True,
        metadata={"type": "object", "description": "Overall, per pair and per month (`YYYY-MM`)."},
    )


class SignalPlanSchema(ma.Schema):
    """The seed's SignalPlanSerializer, plus currency, trial_days and the pairs' symbols."""

    id = fields.Integer(dump_only=True)
    provider = fields.Integer(attribute="provider_id", dump_only=True)
    provider_detail = fields.Nested(SignalProviderSchema, attribute="provider", dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    price = fields.Function(lambda p: fmt(p.price, p.currency), dump_only=True, metadata=DECIMAL)
    currency = fields.String(dump_only=True, metadata={"example": "USD"})
    duration_days = fields.Integer(dump_only=True)
    trial_days = fields.Integer(dump_only=True, metadata={"description": "Free days of a first subscription."})
    max_signals_per_day = fields.Integer(dump_only=True)
    trading_pairs = fields.Function(
        lambda p: [pair.id for pair in p.pairs],
        dump_only=True,
        metadata={"type": "array", "items": {"type": "integer"}},
    )
    symbols = fields.Function(
        lambda p: [pair.symbol for pair in p.pairs],
        dump_only=True,
        metadata={"type": "array", "items": {"type": "string"}},
    )
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class SubscriptionCreateSchema(ma.Schema):
    """``POST /signal-subscriptions/``: the plan; ``status``, dates and other read-only fields are ignored."""

    plan = IdField(required=True, validate=validate.Range(min=1, max=2**31 - 1), metadata={"example": 1})
    auto_renew = fields.Boolean(load_default=True)


class SignalSubscriptionUpdateSchema(ma.Schema):
    """``PATCH /signal-subscriptions/{id}/``: only ``auto_renew`` of an active subscription; ``status`` is read-only."""

    auto_renew = fields.Boolean(required=True)


class SignalSubscriptionSchema(ma.Schema):
    """The seed's SignalSubscriptionSerializer, plus trial and cancellation details."""

    id = fields.Integer(dump_only=True)
    plan = fields.Integer(attribute="plan_id", dump_only=True)
    plan_detail = fields.Nested(SignalPlanSchema, attribute="plan", dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(SUBSCRIPTION_STATUSES)})
    started_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    auto_renew = fields.Boolean(dump_only=True)
    days_remaining = fields.Function(
        lambda s: subscriptions.days_remaining(s), dump_only=True, metadata={"type": "integer"}
    )
    has_access = fields.Function(
        lambda s: subscriptions.has_access(s),
        dump_only=True,
        metadata={
            "type": "boolean",
            "description": "Signals are visible (a cancelled one keeps access until expires_at).",
        },
    )
    is_trial = fields.Boolean(dump_only=True)
    cancelled_at = fields.DateTime(dump_only=True, allow_none=True)


class SignalCreateSchema(ma.Schema):
    """``POST /signals/`` (staff with ``signals.publish``): what the analyst's form takes."""

    provider = IdField(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    trading_pair = fields.Raw(
        required=True,
        metadata={"description": "The pair's id, or its symbol (`BTC/USD` or `BTC-USD`).", "example": 1},
    )
    signal_type = fields.String(metadata={"enum": list(SIGNAL_TYPES)})
    type = fields.String(metadata={"enum": list(SIGNAL_TYPES), "description": "Same as `signal_type`."})
    entry_price = DecimalInput(required=True)
    stop_loss = DecimalInput(allow_none=True, allow_blank=True)
    take_profit = DecimalInput(allow_none=True, allow_blank=True)
    timeframe = fields.String(required=True, metadata={"enum": list(TIMEFRAMES)})
    confidence = DecimalInput(required=True, metadata={"description": "Percent, 0 to 100."})
    analysis = fields.String(load_default="", validate=validate.Length(max=5000))

    @ma.validates_schema
    def has_type(self, data, **kwargs):
        if not (data.get("signal_type") or data.get("type")):
            raise ma.ValidationError({"signal_type": ["One of buy, sell, close."]})
        if not isinstance(data.get("trading_pair"), int | str) or isinstance(data.get("trading_pair"), bool):
            raise ma.ValidationError({"trading_pair": ["The pair's id or symbol."]})


class TradingSignalSchema(ma.Schema):
    """The seed's TradingSignalSerializer, plus symbol, validity and the decided outcome."""

    id = fields.Integer(dump_only=True)
    provider = fields.Integer(attribute="provider_id", dump_only=True)
    provider_detail = fields.Nested(SignalProviderSchema, attribute="provider", dump_only=True)
    trading_pair = fields.Integer(attribute="pair_id", dump_only=True)
    trading_pair_detail = fields.Nested(TradingPairSchema, attribute="pair", dump_only=True)
    symbol = fields.Function(lambda s: s.pair.symbol, dump_only=True, metadata={"type": "string"})
    signal_type = fields.String(dump_only=True, metadata={"enum": list(SIGNAL_TYPES)})
    entry_price = fields.Function(lambda s: price_str(s.pair, s.entry_price), dump_only=True, metadata=PRICE)
    stop_loss = fields.Function(lambda s: price_str(s.pair, s.stop_loss), dump_only=True, metadata=PRICE)
    take_profit = fields.Function(lambda s: price_str(s.pair, s.take_profit), dump_only=True, metadata=PRICE)
    timeframe = fields.String(dump_only=True, metadata={"enum": list(TIMEFRAMES)})
    confidence = fields.Function(lambda s: _d(s.confidence), dump_only=True, metadata=DECIMAL)
    analysis = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(SIGNAL_STATUSES)})
    created_at = fields.DateTime(dump_only=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
    valid_until = fields.DateTime(dump_only=True)
    exit_price = fields.Function(lambda s: price_str(s.pair, s.exit_price), dump_only=True, metadata=PRICE)
    r_multiple = fields.Function(
        lambda s: _d(s.r_multiple), dump_only=True, metadata={**DECIMAL, "nullable": True, "description": "Gain in R."}
    )


class SignalFilterSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(SIGNAL_STATUSES))


class ExecuteSchema(ma.Schema):
    """``POST /signals/{id}/execute/``: ``quantity`` (base) or ``amount`` (quote); nothing for a close signal."""

    quantity = DecimalInput(allow_none=True, allow_blank=True)
    amount = DecimalInput(allow_none=True, allow_blank=True, metadata={"description": "In the quote currency."})


class SignalNotificationSchema(ma.Schema):
    """The seed's SignalNotificationSerializer."""

    id = fields.Integer(dump_only=True)
    signal = fields.Integer(attribute="signal_id", dump_only=True)
    signal_detail = fields.Nested(TradingSignalSchema, attribute="signal", dump_only=True)
    sent_at = fields.DateTime(dump_only=True)
    read_at = fields.DateTime(dump_only=True, allow_none=True)
    acted_on = fields.Boolean(dump_only=True)
    order = fields.Integer(attribute="order_id", dump_only=True, allow_none=True)


class MessageSchema(ma.Schema):
    message = fields.String()


class ExecutedSchema(ma.Schema):
    message = fields.String()
    order_id = fields.Integer()
    order = fields.Raw(metadata={"type": "object", "description": "The order, as `GET /orders/{id}/` shows it."})


class MarkedReadSchema(ma.Schema):
    message = fields.String()
    notification = fields.Nested(SignalNotificationSchema)


class CancelledSchema(ma.Schema):
    message = fields.String()
    subscription = fields.Nested(SignalSubscriptionSchema)
