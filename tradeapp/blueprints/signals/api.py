"""Signals API (seed 3.7 and the router of 9): providers, plans, your subscriptions, your signals,
execution, your signal notifications; analysts publish with a staff token.

A signal you have no current subscription for is a 404 to read and a 403 to execute (as the
seed's ``execute``); another user's subscription or notification is a 404.
"""

from sqlalchemy.orm import selectinload

from tradeapp.blueprints.api import (
    ApiBlueprint,
    PageArgsSchema,
    api_user,
    id_parameter,
    page_schema,
    paginate,
    token_required,
)
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.signals.schemas import (
    CancelledSchema,
    ExecutedSchema,
    ExecuteSchema,
    MarkedReadSchema,
    SignalCreateSchema,
    SignalFilterSchema,
    SignalNotificationSchema,
    SignalPlanSchema,
    SignalProviderDetailSchema,
    SignalSubscriptionSchema,
    SignalSubscriptionUpdateSchema,
    SubscriptionCreateSchema,
    TradingSignalSchema,
)
from tradeapp.blueprints.trading.schemas import OrderSchema
from tradeapp.models import SignalNotification, SignalPlan, SignalSubscription, TradingSignal
from tradeapp.services.signals import catalog, execution, publishing, subscriptions

blp = ApiBlueprint(
    "signals_api",
    __name__,
    url_prefix="/api/v1",
    description="Premium signals: providers and their track record, plans, subscriptions, signals, execution",
)

PROVIDER_ID = id_parameter("provider_id", "The provider's id.")
PLAN_ID = id_parameter("plan_id", "The plan's id.")
SUBSCRIPTION_ID = id_parameter("subscription_id", "Your subscription's id.")
SIGNAL_ID = id_parameter("signal_id", "The signal's id.")
NOTIFICATION_ID = id_parameter("signal_notification_id", "Your signal notification's id.")


# -- providers and plans ---------------------------------------------------------------------------


@blp.route("/signal-providers/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(SignalProviderDetailSchema))
def signal_providers_listing(args):
    """Active providers with their track record (hit rate and R, overall, per pair, per month)."""
    return paginate(catalog.providers_query())


@blp.route("/signal-providers/<int:provider_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[PROVIDER_ID])
@blp.response(200, SignalProviderDetailSchema)
@blp.alt_response(404, description="No such active provider (`not_found`)")
def signal_provider_detail(provider_id):
    """One provider with its track record, computed from the outcomes decided from platform prices."""
    return catalog.get_provider(provider_id)


@blp.route("/signal-plans/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(SignalPlanSchema))
def signal_plans_listing(args):
    """Plans on sale: price, currency, duration, trial days, daily signal limit and pairs."""
    query = catalog.plans_query().options(selectinload(SignalPlan.pairs), selectinload(SignalPlan.provider))
    return paginate(query)


@blp.route("/signal-plans/<int:plan_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[PLAN_ID])
@blp.response(200, SignalPlanSchema)
@blp.alt_response(404, description="No such plan on sale (`not_found`)")
def signal_plan_detail(plan_id):
    """One plan on sale."""
    return catalog.get_plan(plan_id)


# -- subscriptions ---------------------------------------------------------------------------------


@blp.route("/signal-subscriptions/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(SubscriptionCreateSchema)
@blp.response(201, SignalSubscriptionSchema)
@blp.alt_response(
    400,
    description="Already subscribed to the plan (`already_subscribed`), not enough available balance "
    "(`insufficient_funds`; nothing is charged), or bad input (`validation_error`)",
)
@blp.alt_response(404, description="No such plan on sale (`not_found`)")
def signal_subscription_create(data):
    """Subscribe to a plan: its price is charged from your wallet in the plan's currency at once
    (or its free trial starts, for a first subscription to a plan that has one), and `expires_at`
    is set. It renews itself (`auto_renew`) by charging again shortly before it ends.
    Send an `Idempotency-Key` header so a retry never charges twice."""
    return subscriptions.subscribe(api_user(), data["plan"], auto_renew=data["auto_renew"])


@blp.route("/signal-subscriptions/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(SignalSubscriptionSchema))
def signal_subscriptions_listing(args):
    """Your subscriptions, current ones first; expired ones stay as history."""
    return paginate(subscriptions.subscriptions_query(api_user()))


@blp.route("/signal-subscriptions/<int:subscription_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.response(200, SignalSubscriptionSchema)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
def signal_subscription_detail(subscription_id):
    """One of your subscriptions."""
    return subscriptions.get_subscription(api_user(), subscription_id)


@blp.route("/signal-subscriptions/<int:subscription_id>/", methods=["PATCH"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.arguments(SignalSubscriptionUpdateSchema)
@blp.response(200, SignalSubscriptionSchema)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
@blp.alt_response(409, description="Not active: renewal of a cancelled or expired one cannot change")
def signal_subscription_update(data, subscription_id):
    """Turn renewal of an active subscription on or off. `status` is read-only: cancel with
    `POST …/cancel/` (or DELETE); a sent `status` is ignored."""
    return subscriptions.set_auto_renew(api_user(), subscription_id, data["auto_renew"])


def _cancel(subscription_id: int) -> SignalSubscription:
    return subscriptions.cancel(api_user(), subscription_id)


@blp.route("/signal-subscriptions/<int:subscription_id>/cancel/", methods=["POST"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.response(200, CancelledSchema)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
@blp.alt_response(409, description="It already ended (`illegal_transition`)")
def signal_subscription_cancel(subscription_id):
    """Cancel: it stops renewing, keeps access until `expires_at`, and stays in your history.
    Answers the seed's `{"message": "Subscription cancelled"}` with the subscription."""
    return {"message": "Subscription cancelled", "subscription": _cancel(subscription_id)}


@blp.route("/signal-subscriptions/<int:subscription_id>/", methods=["DELETE"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.response(204)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
@blp.alt_response(409, description="It already ended (`illegal_transition`)")
def signal_subscription_delete(subscription_id):
    """Cancel (as `POST …/cancel/`), answering 204: the row is kept, cancelled, with access until `expires_at`."""
    _cancel(subscription_id)
    return None


# -- signals ---------------------------------------------------------------------------------------


@blp.route("/signals/", methods=["GET"])
@token_required()
@blp.arguments(SignalFilterSchema, location="query")
@blp.response(200, page_schema(TradingSignalSchema))
def signals_listing(args):
    """Your signals, newest first: those sent to a plan you currently subscribe to; filter by `status`."""
    query = execution.signals_query(api_user(), status=args.get("status"))
    return paginate(query.options(selectinload(TradingSignal.pair), selectinload(TradingSignal.provider)))


@blp.route("/signals/", methods=["POST"])
@token_required(catalog.PUBLISH)
@blp.arguments(SignalCreateSchema)
@blp.response(201, TradingSignalSchema)
@blp.alt_response(
    400,
    description="Bad levels (a buy's stop-loss must be below entry and take-profit above, a sell's the other way, "
    "a close takes neither), no plan covering the pair (`no_plan_covers_pair`), or every covering plan at its "
    "daily limit (`daily_limit_reached`)",
)
def signal_create(data):
    """Publish a signal (analysts: `signals.publish`); it reaches every subscriber of the provider's
    plans that cover the pair and have room today, once each, live and in their notifications."""
    data = dict(data)
    data.setdefault("signal_type", data.pop("type", None))
    return publishing.publish(api_user(), data)


@blp.route("/signals/<int:signal_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[SIGNAL_ID])
@blp.response(200, TradingSignalSchema)
@blp.alt_response(404, description="No such signal among yours (`not_found`)")
def signal_detail(signal_id):
    """One of your signals, with its outcome once decided."""
    return execution.get_signal(api_user(), signal_id)


@blp.route("/signals/<int:signal_id>/execute/", methods=["POST"])
@token_required()
@idempotent
@blp.doc(parameters=[SIGNAL_ID])
@blp.arguments(ExecuteSchema)
@blp.response(200, ExecutedSchema)
@blp.alt_response(
    400,
    description="Neither or both of quantity and amount, sizes outside the pair's limits, the market already past "
    "the levels (`signal_past_levels`), no position to close (`no_position`), not enough balance (`insufficient_funds`)",
)
@blp.alt_response(403, description="No current subscription covering this signal (`no_active_subscription`)")
@blp.alt_response(404, description="No such signal (`not_found`)")
@blp.alt_response(409, description="The signal is no longer active, or the market is stale")
def signal_execute(data, signal_id):
    """Act on a signal through the normal order path (`source` = `signal`).

    Buy/sell: send `quantity` (base currency) or `amount` (quote currency, converted at the entry).
    Within the entry tolerance it is a market order, else a limit order at the entry price; a
    buy's position gets the signal's stop-loss and take-profit (when the limit fills, for a resting
    one). A close signal closes your position in the pair. Answers the seed's
    `{"message": "Signal executed", "order_id"}` with the order.
    """
    order = execution.execute(api_user(), signal_id, data)
    return {"message": "Signal executed", "order_id": order.id, "order": OrderSchema().dump(order)}


# -- signal notifications --------------------------------------------------------------------------


@blp.route("/signal-notifications/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(SignalNotificationSchema))
def signal_notifications_listing(args):
    """The signals delivered to you, newest first, with whether you read or acted on them."""
    query = execution.notifications_query(api_user()).options(
        selectinload(SignalNotification.signal).selectinload(TradingSignal.pair)
    )
    return paginate(query)


@blp.route("/signal-notifications/<int:signal_notification_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[NOTIFICATION_ID])
@blp.response(200, SignalNotificationSchema)
@blp.alt_response(404, description="No such signal notification of yours (`not_found`)")
def signal_notification_detail(signal_notification_id):
    """One signal delivered to you."""
    return execution.get_notification(api_user(), signal_notification_id)


@blp.route("/signal-notifications/<int:signal_notification_id>/mark_read/", methods=["POST"])
@blp.route("/signal-notifications/<int:signal_notification_id>/mark-read/", methods=["POST"])
@token_required()
@blp.doc(parameters=[NOTIFICATION_ID])
@blp.response(200, MarkedReadSchema)
@blp.alt_response(404, description="No such signal notification of yours (`not_found`)")
def signal_notification_mark_read(signal_notification_id):
    """Mark read (the seed's router path is `mark_read`; `mark-read` is the same)."""
    return {"message": "Marked as read", "notification": execution.mark_read(api_user(), signal_notification_id)}
