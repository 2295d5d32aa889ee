"""Copy-trading API: lead traders (public stats, applying, the staff's review), subscriptions, copied trades.

Subscriptions answer at the seed's written paths (3.5) and at its router's (9), both. Another
customer's subscription or copy is a 404, exactly like one that does not exist.
"""

from tradeapp.blueprints.api import ApiBlueprint, api_user, page_schema, paginate, token_required
from tradeapp.blueprints.copy_trading.schemas import (
    ApplicationFilterSchema,
    ApplySchema,
    CopiedTradeFilterSchema,
    CopiedTradeSchema,
    CopySubscriptionUpdateSchema,
    OwnTraderSchema,
    PerformanceArgsSchema,
    PerformanceSchema,
    ReasonSchema,
    SubscribeSchema,
    SubscriptionSchema,
    TraderFilterSchema,
    TraderPerformanceSchema,
    TraderSchema,
)
from tradeapp.blueprints.trading.schemas import ID_SCHEMA
from tradeapp.errors import NotFound
from tradeapp.extensions import db
from tradeapp.models import CopiedTrade, CopySubscription
from tradeapp.services.copy_trading import stats, subscriptions, traders
from tradeapp.services.trading.pairs import dec_str

blp = ApiBlueprint(
    "copy_api",
    __name__,
    url_prefix="/api/v1",
    description="Copy trading: lead traders and their stats, your subscriptions and copied trades",
)


def _param(name: str, what: str) -> dict:
    return {"in": "path", "name": name, "required": True, "description": what, "schema": ID_SCHEMA}


TRADER_ID = _param("trader_id", "The lead trader's id.")
SUBSCRIPTION_ID = _param("subscription_id", "Your subscription's id.")
COPY_ID = _param("copied_trade_id", "The copied trade's id.")


# -- traders --------------------------------------------------------------------------------------


@blp.route("/traders/", methods=["GET"])
@token_required()
@blp.arguments(TraderFilterSchema, location="query")
@blp.response(200, page_schema(TraderSchema))
def traders_listing(args):
    """Active, listed lead traders; filter `risk_score`; `ordering` by followers, profit, win rate or ROI windows."""
    return paginate(traders.public_query(ordering=args.get("ordering"), risk_score=args.get("risk_score")))


@blp.route("/traders/<int:trader_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[TRADER_ID])
@blp.response(200, TraderSchema)
@blp.alt_response(404, description="No active lead trader with this id (`not_found`)")
def trader_detail(trader_id):
    """One active lead trader: display name, bio and stats (never the account behind them)."""
    return traders.get_public(trader_id)


@blp.route("/traders/<int:trader_id>/performance/", methods=["GET"])
@token_required()
@blp.doc(parameters=[TRADER_ID])
@blp.arguments(PerformanceArgsSchema, location="query")
@blp.response(200, TraderPerformanceSchema)
@blp.alt_response(404, description="No active lead trader with this id (`not_found`)")
def trader_performance(args, trader_id):
    """The trader's equity curve for `window` (7d, 30d, 90d, all), for the chart, with the window's ROI."""
    trader = traders.get_public(trader_id)
    window = args["window"]
    roi = {"7d": trader.roi_7d, "30d": trader.roi_30d, "90d": trader.roi_90d, "all": trader.profit_percentage}[window]
    return {
        "trader": trader.id,
        "window": window,
        "roi": dec_str(roi, 2),
        "max_drawdown": dec_str(trader.max_drawdown, 2),
        "points": stats.curve(trader, window),
    }


@blp.route("/traders/apply/", methods=["POST"])
@token_required()
@blp.arguments(ApplySchema)
@blp.response(201, OwnTraderSchema)
@blp.alt_response(400, description="Bad fields, not eligible (KYC, trading history) or already applied")
def trader_apply(data):
    """Apply to be a lead trader: display name, bio, profit share (0 to the configured cap) and listing."""
    return traders.apply(api_user(), data)


@blp.route("/traders/applications/", methods=["GET"])
@token_required(traders.MANAGE)
@blp.arguments(ApplicationFilterSchema, location="query")
@blp.response(200, page_schema(OwnTraderSchema))
def trader_applications(args):
    """Staff (`copy.manage`): lead-trader applications, oldest first (`status`, default pending)."""
    return paginate(traders.applications_query(args.get("status", "pending")))


def _staff_action(name: str, func, doc: str, needs_reason: bool):
    def view(data, trader_id):
        if needs_reason:
            return func(api_user(), trader_id, data.get("reason", ""))
        return func(api_user(), trader_id)

    view.__name__ = f"trader_{name}"
    view.__doc__ = doc
    view = blp.alt_response(404, description="No such lead trader (`not_found`)")(view)
    view = blp.alt_response(409, description="Not in a state that allows this (`illegal_transition`)")(view)
    view = blp.response(200, OwnTraderSchema)(view)
    view = blp.arguments(ReasonSchema)(view)
    view = blp.doc(parameters=[TRADER_ID])(view)
    view = token_required(traders.MANAGE)(view)
    blp.route(f"/traders/<int:trader_id>/{name}/", methods=["POST"], endpoint=f"trader_{name}")(view)


_staff_action("approve", traders.approve, "Staff (`copy.manage`): approve a pending application.", False)
_staff_action("reject", traders.reject, "Staff (`copy.manage`): reject a pending application with a `reason`.", True)
_staff_action(
    "suspend", traders.suspend, "Staff (`copy.manage`): suspend a trader (`reason`); followers stop copying.", True
)
_staff_action("reinstate", traders.reinstate, "Staff (`copy.manage`): reinstate a suspended trader (`reason`).", True)


# -- subscriptions (the seed's written paths and its router's) ---------------------------------------


SUBSCRIBE_DOC = (
    "Follow a lead trader: `copy_percentage` % of your available balance is held as the allocation; "
    "`max_position_size` caps one copy's notional; `stop_loss_percentage` is the portfolio stop; "
    "`slippage_percentage` skips copies whose price moved further; `copy_open_positions` copies what the "
    "trader holds now. One active subscription per trader; you cannot follow yourself. "
    "`/copy-trading/` is the seed router's path for the same."
)

# Each subscription call answers at the seed's written path and at its router's (both documented).
SUBSCRIPTION_PATHS = ("/copy-trading/subscriptions/<int:subscription_id>/", "/copy-trading/<int:subscription_id>/")
UNSUBSCRIBE_PATHS = ("/copy-trading/subscribe/<int:subscription_id>/", "/copy-trading/<int:subscription_id>/")


@blp.route("/copy-trading/subscribe/", methods=["POST"])
@blp.route("/copy-trading/", methods=["POST"])
@token_required()
@blp.arguments(SubscribeSchema)
@blp.response(201, SubscriptionSchema)
@blp.alt_response(400, description="Bad fields, yourself, a duplicate (`already_subscribed`) or nothing to allocate")
def subscription_create(data):
    return subscriptions.subscribe(api_user(), data)


subscription_create.__doc__ = SUBSCRIBE_DOC


@blp.route("/copy-trading/subscriptions/", methods=["GET"])
@blp.route("/copy-trading/", methods=["GET"])
@token_required()
@blp.response(200, page_schema(SubscriptionSchema))
def subscriptions_listing():
    """Your subscriptions, newest first (ended ones too: history is kept); `/copy-trading/` is the router's path."""
    return paginate(subscriptions.subscriptions_query(api_user()))


@blp.route("/copy-trading/performance/", methods=["GET"])
@token_required()
@blp.response(200, PerformanceSchema)
def subscriptions_performance():
    """Real profit per subscription (realised and unrealised) and in total."""
    found = subscriptions.portfolio(api_user())
    rows = []
    for sub, perf in found["subscriptions"]:
        sub.perf = perf
        rows.append(sub)
    return {
        "active_subscriptions": found["active_subscriptions"],
        "total_profit": dec_str(found["total_profit"], 2),
        "realized_profit": dec_str(found["realized_profit"], 2),
        "unrealized_profit": dec_str(found["unrealized_profit"], 2),
        "allocated": dec_str(found["allocated"], 2),
        "equity": dec_str(found["equity"], 2),
        "subscriptions": rows,
    }


@blp.route(SUBSCRIPTION_PATHS[0], methods=["GET"])
@blp.route(SUBSCRIPTION_PATHS[1], methods=["GET"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.response(200, SubscriptionSchema)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
def subscription_detail(subscription_id):
    """One of your subscriptions."""
    return subscriptions.get_subscription(api_user(), subscription_id)


@blp.route(SUBSCRIPTION_PATHS[0], methods=["PATCH"])
@blp.route(SUBSCRIPTION_PATHS[1], methods=["PATCH"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.arguments(CopySubscriptionUpdateSchema)
@blp.response(200, SubscriptionSchema)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
def subscription_update(data, subscription_id):
    """Change settings (any subset, no `trader` needed); `is_active` false pauses, true resumes; a new
    `copy_percentage` resizes the allocation; the trader cannot be changed."""
    return subscriptions.update_subscription(api_user(), subscription_id, data)


@blp.route(UNSUBSCRIBE_PATHS[0], methods=["DELETE"])
@blp.route(UNSUBSCRIBE_PATHS[1], methods=["DELETE"])
@token_required()
@blp.doc(parameters=[SUBSCRIPTION_ID])
@blp.response(204)
@blp.alt_response(404, description="No such subscription of yours (`not_found`)")
@blp.alt_response(409, description="Already ended (`illegal_transition`)")
def subscription_delete(subscription_id):
    """Unsubscribe: settle the profit share owed, release the allocation and end the subscription. Nothing
    is deleted: it stays listed as ended, with its copied trades."""
    subscriptions.unsubscribe(api_user(), subscription_id)
    return None


# -- copied trades ---------------------------------------------------------------------------------------


@blp.route("/copied-trades/", methods=["GET"])
@token_required()
@blp.arguments(CopiedTradeFilterSchema, location="query")
@blp.response(200, page_schema(CopiedTradeSchema))
def copied_trades_listing(args):
    """Your copies, newest first, skipped and failed ones with their reason; filter `subscription`, `status`."""
    return paginate(
        subscriptions.copied_trades_query(
            api_user(), subscription_id=args.get("subscription"), status=args.get("status")
        )
    )


@blp.route("/copied-trades/<int:copied_trade_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[COPY_ID])
@blp.response(200, CopiedTradeSchema)
@blp.alt_response(404, description="No such copy of yours (`not_found`)")
def copied_trade_detail(copied_trade_id):
    """One of your copies, with the follower order and the master order's public fields."""
    copy = db.session.get(CopiedTrade, copied_trade_id)
    if copy is None or db.session.get(CopySubscription, copy.subscription_id).follower_id != api_user().id:
        raise NotFound("No such copied trade.")
    return copy
