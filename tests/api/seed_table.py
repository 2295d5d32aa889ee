"""The seed's API contract, taken from the spec (sections 3, 7, 8 and 9), one row per endpoint.

Each row holds: the method and the seed's path; the status the seed answers; the seed serializer's
fields (and where they sit in the answer); its choice values; and, where we deliberately differ
(safer, or filling a gap the seed leaves), the difference and why. ``tests/api/test_seed_conformance.py``
calls every row's endpoint with a seed-shaped request and checks the answer and the OpenAPI document.
The same differences are listed for clients in the API description (``tradeapp/config.py``
``API_SPEC_OPTIONS``) and in the README's API section. Later domains (copy trading, bots, signals,
loans, referrals) add their rows here as they land.
"""

from dataclasses import dataclass, field

from tradeapp.api_dialect import AMOUNTS, DIFFERENCES, ERRORS

# -- the seed's serializers (spec 7.1-7.3) -------------------------------------------------------------

USER = frozenset(
    [
        "id",
        "email",
        "username",
        "first_name",
        "last_name",
        "phone_number",
        "is_verified",
        "kyc_status",
        "referral_code",
        "created_at",
    ]
)
KYC_DOCUMENT = frozenset(
    [
        "id",
        "document_type",
        "document_number",
        "document_front",
        "document_back",
        "selfie",
        "address_proof",
        "date_of_birth",
        "address",
        "city",
        "country",
        "postal_code",
        "submitted_at",
        "rejection_reason",
    ]
)
WALLET = frozenset(["id", "currency", "balance", "locked_balance", "available_balance", "created_at", "updated_at"])
TRANSACTION = frozenset(
    [
        "id",
        "transaction_type",
        "currency",
        "amount",
        "fee",
        "status",
        "reference_id",
        "external_id",
        "notes",
        "created_at",
        "completed_at",
    ]
)
DEPOSIT = frozenset(["id", "transaction", "payment_method", "payment_details"])
WITHDRAWAL = frozenset(["id", "transaction", "destination_type", "destination_details"])
PAIR = frozenset(
    [
        "id",
        "symbol",
        "base_currency",
        "quote_currency",
        "market_type",
        "is_active",
        "min_order_size",
        "max_order_size",
        "price_precision",
        "quantity_precision",
        "trading_fee_percentage",
    ]
)
ORDER = frozenset(
    [
        "id",
        "trading_pair",
        "trading_pair_detail",
        "order_type",
        "side",
        "quantity",
        "price",
        "stop_price",
        "filled_quantity",
        "average_price",
        "status",
        "fee",
        "source",
        "created_at",
        "updated_at",
        "executed_at",
    ]
)
TRADE = frozenset(["id", "order", "order_detail", "quantity", "price", "fee", "executed_at", "external_trade_id"])
POSITION = frozenset(
    [
        "id",
        "trading_pair",
        "trading_pair_detail",
        "side",
        "quantity",
        "entry_price",
        "current_price",
        "unrealized_pnl",
        "leverage",
        "stop_loss",
        "take_profit",
        "opened_at",
        "updated_at",
    ]
)
#: MarketDataService.get_ticker (spec 4.1)
TICKER = frozenset(["symbol", "last_price", "bid", "ask", "volume"])
LOAN_PRODUCT = frozenset(
    [
        "id",
        "name",
        "description",
        "min_amount",
        "max_amount",
        "interest_rate",
        "term_days",
        "collateral_ratio",
        "is_active",
        "created_at",
    ]
)
LOAN = frozenset(
    [
        "id",
        "product",
        "product_detail",
        "amount",
        "interest_rate",
        "term_days",
        "collateral_amount",
        "collateral_currency",
        "outstanding_balance",
        "status",
        "applied_at",
        "approved_at",
        "disbursed_at",
        "due_date",
        "repaid_at",
    ]
)
LOAN_REPAYMENT = frozenset(
    ["id", "loan", "amount", "principal_amount", "interest_amount", "transaction", "transaction_detail", "created_at"]
)
TOKENS = frozenset({"access", "refresh"})
#: the notification centre's shapes (not the seed's: see the rows at the end of TABLE)
NOTIFICATION = frozenset(["id", "kind", "title", "body", "link", "data", "read", "created_at"])
READ_ALL = frozenset(["updated", "unread"])
PREFERENCES = frozenset(["preferences"])
#: spec 7.5
TRADER = frozenset(
    [
        "id",
        "user",
        "user_info",
        "display_name",
        "bio",
        "is_active",
        "total_followers",
        "total_profit",
        "profit_percentage",
        "win_rate",
        "total_trades",
        "risk_score",
        "created_at",
        "updated_at",
    ]
)
SUBSCRIPTION = frozenset(
    [
        "id",
        "trader",
        "trader_detail",
        "is_active",
        "copy_percentage",
        "max_position_size",
        "stop_loss_percentage",
        "created_at",
        "updated_at",
    ]
)
COPIED_TRADE = frozenset(
    [
        "id",
        "subscription",
        "subscription_detail",
        "master_order",
        "master_order_detail",
        "follower_order",
        "follower_order_detail",
        "created_at",
    ]
)
#: the seed's ``performance`` action (8.4)
COPY_PERFORMANCE = frozenset(["active_subscriptions", "total_profit", "subscriptions"])
#: account security's shapes (issue 20)
SECURITY = frozenset(
    ["two_factor_enabled", "recovery_codes_left", "withdrawal_confirmation", "whitelist_only", "anti_phishing_phrase"]
)
SESSION = frozenset(["id", "kind", "device", "user_agent", "ip", "created_at", "last_seen_at", "current"])
REVOKED = frozenset(["revoked"])
ADDRESS = frozenset(
    ["id", "label", "currency", "destination_type", "destination_details", "status", "created_at", "usable_from"]
)
MESSAGE = frozenset({"message"})
# 7.4 Bot serializers
BOT = frozenset(
    [
        "id",
        "name",
        "description",
        "strategy",
        "trading_pairs",
        "is_active",
        "is_paper_trading",
        "max_position_size",
        "stop_loss_percentage",
        "take_profit_percentage",
        "max_daily_loss",
        "parameters",
        "total_trades",
        "winning_trades",
        "total_profit",
        "win_rate",
        "created_at",
        "updated_at",
        "last_run_at",
    ]
)
BOT_TRADE = frozenset(["id", "bot", "order", "order_detail", "signal_data", "created_at"])
BOT_PERFORMANCE = frozenset(["total_trades", "winning_trades", "total_profit", "win_rate", "recent_trades"])
STRATEGY = ("moving_average", "rsi", "macd", "bollinger", "arbitrage", "ml_model", "custom")

# -- the seed's choices (spec 2.1-2.3) ---------------------------------------------------------------------

KYC_STATUS = ("pending", "approved", "rejected", "not_submitted")
DOCUMENT_TYPE = ("passport", "drivers_license", "national_id")
TRANSACTION_TYPE = (
    "deposit",
    "withdrawal",
    "trade",
    "transfer",
    "loan",
    "loan_repayment",
    "referral_bonus",
    "signal_purchase",
)
TRANSACTION_STATUS = ("pending", "processing", "completed", "failed", "cancelled")
PAYMENT_METHOD = ("bank_transfer", "card", "crypto")
DESTINATION_TYPE = ("bank_account", "crypto_wallet")
MARKET_TYPE = ("crypto", "forex")
ORDER_TYPE = ("market", "limit", "stop_loss", "take_profit")
SIDE = ("buy", "sell")
ORDER_STATUS = ("pending", "open", "partially_filled", "filled", "cancelled", "rejected")
SOURCE = ("manual", "bot", "copy_trade", "signal")
POSITION_SIDE = ("long", "short")
LOAN_STATUS = ("pending", "approved", "active", "repaid", "defaulted", "rejected")

PAIR_CHOICES = {"market_type": MARKET_TYPE}
ORDER_CHOICES = {"order_type": ORDER_TYPE, "side": SIDE, "status": ORDER_STATUS, "source": SOURCE}
TRANSACTION_CHOICES = {"transaction_type": TRANSACTION_TYPE, "status": TRANSACTION_STATUS}

# -- the seed's signals serializers (spec 7.6) ------------------------------------------------------------
SIGNAL_PROVIDER = frozenset(
    ["id", "name", "description", "provider_type", "accuracy_rate", "total_signals", "is_active", "created_at"]
)
SIGNAL_PLAN = frozenset(
    [
        "id",
        "provider",
        "provider_detail",
        "name",
        "description",
        "price",
        "duration_days",
        "max_signals_per_day",
        "trading_pairs",
        "is_active",
        "created_at",
    ]
)
SIGNAL_SUBSCRIPTION = frozenset(
    ["id", "plan", "plan_detail", "status", "started_at", "expires_at", "auto_renew", "days_remaining"]
)
TRADING_SIGNAL = frozenset(
    [
        "id",
        "provider",
        "provider_detail",
        "trading_pair",
        "trading_pair_detail",
        "signal_type",
        "entry_price",
        "stop_loss",
        "take_profit",
        "timeframe",
        "confidence",
        "analysis",
        "status",
        "created_at",
        "closed_at",
    ]
)
SIGNAL_NOTIFICATION = frozenset(["id", "signal", "signal_detail", "sent_at", "read_at", "acted_on"])
PROVIDER_CHOICES = {"provider_type": ("in_house", "third_party")}
SUBSCRIPTION_CHOICES = {"status": ("active", "expired", "cancelled")}
SIGNAL_CHOICES = {
    "signal_type": ("buy", "sell", "close"),
    "status": ("active", "hit_tp", "hit_sl", "closed", "expired"),
}

# -- deliberate differences: the app's own list (the API description is built from it) --------------------------


@dataclass(frozen=True)
class Row:
    """One endpoint of the seed."""

    method: str
    #: the seed's path under /api/v1, e.g. ``/orders/{id}/``
    path: str
    #: the operation's path in our OpenAPI document
    doc_path: str
    #: the seed serializer's fields
    fields: frozenset = frozenset()
    status: int = 200
    #: where the fields sit: the answer itself (""), each item of a page ("results"), or a key
    at: str = ""
    #: the seed's choices per field
    choices: dict = field(default_factory=dict)
    #: choices we deliberately serve instead (the reason is in ``differences``)
    served: dict = field(default_factory=dict)
    #: nested serializers: field → fields (and that serializer's choices)
    nested: dict = field(default_factory=dict)
    #: keys into DIFFERENCES, beside ERRORS (every row) and AMOUNTS (rows that take amounts)
    differences: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


SUBSCRIPTION_NESTED = {"trader_detail": (TRADER, {})}
ORDER_SERVED = {"status": ("open", "partially_filled", "filled", "cancelled", "rejected"), "source": (*SOURCE, "loan")}
PAIR_NESTED = {"trading_pair_detail": (PAIR, PAIR_CHOICES)}
LOAN_CHOICES = {"status": LOAN_STATUS}
LOAN_SERVED = {"status": (*LOAN_STATUS, "cancelled", "written_off")}
LOAN_NESTED = {"product_detail": (LOAN_PRODUCT, {})}
REPAYMENT_NESTED = {"transaction_detail": (TRANSACTION, TRANSACTION_CHOICES)}

TABLE: list[Row] = [
    # 3.1 Authentication (7.1 UserSerializer, 8.1 views)
    Row(
        "POST",
        "/auth/register/",
        "/api/v1/auth/register/",
        USER,
        201,
        "user",
        {"kyc_status": KYC_STATUS},
        differences=("password",),
    ),
    Row("POST", "/auth/login/", "/api/v1/auth/login/", TOKENS, differences=("login",)),
    Row("POST", "/auth/refresh/", "/api/v1/auth/refresh/", TOKENS),
    Row("POST", "/auth/logout/", "/api/v1/auth/logout/", MESSAGE, differences=("logout",)),
    Row("POST", "/auth/password-reset/", "/api/v1/auth/password-reset/", MESSAGE),
    Row(
        "POST",
        "/auth/password-reset-confirm/",
        "/api/v1/auth/password-reset-confirm/",
        MESSAGE,
        differences=("reset_confirm", "password"),
    ),
    Row("GET", "/auth/me/", "/api/v1/auth/me/", USER, choices={"kyc_status": KYC_STATUS}),
    Row("PATCH", "/auth/me/", "/api/v1/auth/me/", USER, choices={"kyc_status": KYC_STATUS}),
    # 3.2 KYC (7.1 KYCDocumentSerializer, 8.1 KYCViewSet)
    Row(
        "POST",
        "/kyc/submit/",
        "/api/v1/kyc/submit/",
        KYC_DOCUMENT,
        201,
        choices={"document_type": DOCUMENT_TYPE},
        differences=("kyc_submit", "document_number"),
    ),
    Row("GET", "/kyc/status/", "/api/v1/kyc/status/", frozenset({"kyc_status"}), choices={"kyc_status": KYC_STATUS}),
    Row(
        "GET",
        "/kyc/",
        "/api/v1/kyc/",
        KYC_DOCUMENT,
        at="results",
        choices={"document_type": DOCUMENT_TYPE},
        differences=("document_number",),
    ),
    Row(
        "GET",
        "/kyc/{id}/",
        "/api/v1/kyc/{document_id}/",
        KYC_DOCUMENT,
        choices={"document_type": DOCUMENT_TYPE},
        differences=("document_number",),
    ),
    Row(
        "GET",
        "/kyc/pending/",
        "/api/v1/kyc/pending/",
        frozenset({"id", "document_type"}),
        at="results",
        choices={"document_type": DOCUMENT_TYPE},
        differences=("document_number",),
    ),
    Row("POST", "/kyc/{id}/approve/", "/api/v1/kyc/{document_id}/approve/", MESSAGE, differences=("kyc_decision",)),
    Row("POST", "/kyc/{id}/reject/", "/api/v1/kyc/{document_id}/reject/", MESSAGE, differences=("kyc_decision",)),
    # 3.3 Funds (7.3, 8.2)
    Row("GET", "/wallets/", "/api/v1/wallets/", WALLET, at="results"),
    Row(
        "GET",
        "/wallets/{currency}/",
        "/api/v1/wallets/{currency}/",
        WALLET,
        differences=("wallet_empty", "currency_case"),
    ),
    Row("GET", "/wallets/{id}/", "/api/v1/wallets/{currency}/", WALLET),
    Row(
        "POST",
        "/deposits/",
        "/api/v1/deposits/",
        DEPOSIT,
        201,
        choices={"payment_method": PAYMENT_METHOD},
        nested={"transaction": (TRANSACTION, TRANSACTION_CHOICES)},
        differences=("deposit",),
    ),
    Row(
        "GET",
        "/deposits/",
        "/api/v1/deposits/",
        DEPOSIT,
        at="results",
        choices={"payment_method": PAYMENT_METHOD},
        nested={"transaction": (TRANSACTION, TRANSACTION_CHOICES)},
    ),
    Row(
        "GET",
        "/deposits/{id}/",
        "/api/v1/deposits/{deposit_id}/",
        DEPOSIT,
        choices={"payment_method": PAYMENT_METHOD},
        nested={"transaction": (TRANSACTION, TRANSACTION_CHOICES)},
    ),
    Row(
        "POST",
        "/withdrawals/",
        "/api/v1/withdrawals/",
        WITHDRAWAL,
        201,
        choices={"destination_type": DESTINATION_TYPE},
        nested={"transaction": (TRANSACTION, TRANSACTION_CHOICES)},
        differences=("withdrawal",),
    ),
    Row(
        "GET",
        "/withdrawals/",
        "/api/v1/withdrawals/",
        WITHDRAWAL,
        at="results",
        choices={"destination_type": DESTINATION_TYPE},
        nested={"transaction": (TRANSACTION, TRANSACTION_CHOICES)},
    ),
    Row(
        "GET",
        "/withdrawals/{id}/",
        "/api/v1/withdrawals/{withdrawal_id}/",
        WITHDRAWAL,
        choices={"destination_type": DESTINATION_TYPE},
        nested={"transaction": (TRANSACTION, TRANSACTION_CHOICES)},
    ),
    Row(
        "POST",
        "/transfers/",
        "/api/v1/transfers/",
        TRANSACTION,
        201,
        choices=TRANSACTION_CHOICES,
        differences=("transfer",),
    ),
    Row("GET", "/transactions/", "/api/v1/transactions/", TRANSACTION, at="results", choices=TRANSACTION_CHOICES),
    Row(
        "GET", "/transactions/{id}/", "/api/v1/transactions/{transaction_id}/", TRANSACTION, choices=TRANSACTION_CHOICES
    ),
    # 3.4 Trading (7.2, 5.1)
    Row("GET", "/trading-pairs/", "/api/v1/trading-pairs/", PAIR, at="results", choices=PAIR_CHOICES),
    Row("GET", "/trading-pairs/{id}/", "/api/v1/trading-pairs/{pair_id}/", PAIR, choices=PAIR_CHOICES),
    Row("GET", "/trading-pairs/{id}/market_data/", "/api/v1/trading-pairs/{pair_id}/market_data/", TICKER),
    Row("GET", "/market-data/{symbol}/", "/api/v1/market-data/{symbol}/", TICKER),
    Row(
        "POST",
        "/orders/",
        "/api/v1/orders/",
        ORDER,
        201,
        choices=ORDER_CHOICES,
        served=ORDER_SERVED,
        nested=PAIR_NESTED,
        differences=("order_status", "order_source"),
    ),
    Row(
        "GET",
        "/orders/",
        "/api/v1/orders/",
        ORDER,
        at="results",
        choices=ORDER_CHOICES,
        served=ORDER_SERVED,
        nested=PAIR_NESTED,
        differences=("order_status", "order_source"),
    ),
    Row(
        "GET",
        "/orders/{id}/",
        "/api/v1/orders/{order_id}/",
        ORDER,
        choices=ORDER_CHOICES,
        served=ORDER_SERVED,
        nested=PAIR_NESTED,
        differences=("order_status", "order_source"),
    ),
    Row("DELETE", "/orders/{id}/", "/api/v1/orders/{order_id}/", frozenset(), 204, differences=("delete_order",)),
    Row(
        "POST",
        "/orders/{id}/cancel/",
        "/api/v1/orders/{order_id}/cancel/",
        ORDER,
        choices=ORDER_CHOICES,
        served=ORDER_SERVED,
        nested=PAIR_NESTED,
        differences=("cancel",),
    ),
    Row(
        "GET",
        "/trades/",
        "/api/v1/trades/",
        TRADE,
        at="results",
        nested={"order_detail": (ORDER, {**ORDER_CHOICES, **ORDER_SERVED})},
    ),
    Row(
        "GET",
        "/positions/",
        "/api/v1/positions/",
        POSITION,
        at="results",
        choices={"side": POSITION_SIDE},
        served={"side": ("long",)},
        nested=PAIR_NESTED,
        differences=("position_side",),
    ),
    Row(
        "GET",
        "/positions/{id}/",
        "/api/v1/positions/{position_id}/",
        POSITION,
        choices={"side": POSITION_SIDE},
        served={"side": ("long",)},
        nested=PAIR_NESTED,
        differences=("position_side",),
    ),
    Row(
        "POST",
        "/positions/{id}/close/",
        "/api/v1/positions/{position_id}/close/",
        ORDER,
        at="order",
        choices=ORDER_CHOICES,
        served=ORDER_SERVED,
        nested=PAIR_NESTED,
        differences=("order_source",),
    ),
    # The notification centre (issue 12): not in the seed, which has only signal notifications; our own
    # contract, checked the same way.
    Row("GET", "/notifications/", "/api/v1/notifications/", NOTIFICATION, at="results"),
    Row("GET", "/notifications/{id}/", "/api/v1/notifications/{notification_id}/", NOTIFICATION),
    Row("POST", "/notifications/{id}/read/", "/api/v1/notifications/{notification_id}/read/", NOTIFICATION),
    Row("POST", "/notifications/read-all/", "/api/v1/notifications/read-all/", READ_ALL),
    Row("GET", "/notification-preferences/", "/api/v1/notification-preferences/", PREFERENCES),
    Row("PATCH", "/notification-preferences/", "/api/v1/notification-preferences/", PREFERENCES),
    # 3.7 Signals (7.6 serializers, 8.5 views, 9 router)
    Row(
        "GET",
        "/signal-providers/",
        "/api/v1/signal-providers/",
        SIGNAL_PROVIDER,
        at="results",
        choices=PROVIDER_CHOICES,
    ),
    Row(
        "GET",
        "/signal-providers/{id}/",
        "/api/v1/signal-providers/{provider_id}/",
        SIGNAL_PROVIDER,
        choices=PROVIDER_CHOICES,
    ),
    Row(
        "GET",
        "/signal-plans/",
        "/api/v1/signal-plans/",
        SIGNAL_PLAN,
        at="results",
        nested={"provider_detail": (SIGNAL_PROVIDER, PROVIDER_CHOICES)},
    ),
    Row(
        "GET",
        "/signal-plans/{id}/",
        "/api/v1/signal-plans/{plan_id}/",
        SIGNAL_PLAN,
        nested={"provider_detail": (SIGNAL_PROVIDER, PROVIDER_CHOICES)},
    ),
    Row(
        "POST",
        "/signal-subscriptions/",
        "/api/v1/signal-subscriptions/",
        SIGNAL_SUBSCRIPTION,
        201,
        choices=SUBSCRIPTION_CHOICES,
        nested={"plan_detail": (SIGNAL_PLAN, {})},
        differences=("signal_subscription",),
    ),
    Row(
        "GET",
        "/signal-subscriptions/",
        "/api/v1/signal-subscriptions/",
        SIGNAL_SUBSCRIPTION,
        at="results",
        choices=SUBSCRIPTION_CHOICES,
        nested={"plan_detail": (SIGNAL_PLAN, {})},
    ),
    Row(
        "GET",
        "/signal-subscriptions/{id}/",
        "/api/v1/signal-subscriptions/{subscription_id}/",
        SIGNAL_SUBSCRIPTION,
        choices=SUBSCRIPTION_CHOICES,
        nested={"plan_detail": (SIGNAL_PLAN, {})},
    ),
    Row(
        "DELETE",
        "/signal-subscriptions/{id}/",
        "/api/v1/signal-subscriptions/{subscription_id}/",
        frozenset(),
        204,
        differences=("signal_subscription",),
    ),
    Row(
        "POST",
        "/signal-subscriptions/{id}/cancel/",
        "/api/v1/signal-subscriptions/{subscription_id}/cancel/",
        MESSAGE,
        differences=("signal_subscription",),
    ),
    Row(
        "GET",
        "/signals/",
        "/api/v1/signals/",
        TRADING_SIGNAL,
        at="results",
        choices=SIGNAL_CHOICES,
        nested={"provider_detail": (SIGNAL_PROVIDER, PROVIDER_CHOICES), **PAIR_NESTED},
        differences=("signals_visible",),
    ),
    Row(
        "GET",
        "/signals/{id}/",
        "/api/v1/signals/{signal_id}/",
        TRADING_SIGNAL,
        choices=SIGNAL_CHOICES,
        nested={"provider_detail": (SIGNAL_PROVIDER, PROVIDER_CHOICES), **PAIR_NESTED},
        differences=("signals_visible",),
    ),
    Row(
        "POST",
        "/signals/{id}/execute/",
        "/api/v1/signals/{signal_id}/execute/",
        frozenset({"message", "order_id"}),
        differences=("signal_execute",),
    ),
    Row(
        "GET",
        "/signal-notifications/",
        "/api/v1/signal-notifications/",
        SIGNAL_NOTIFICATION,
        at="results",
        nested={"signal_detail": (TRADING_SIGNAL, SIGNAL_CHOICES)},
    ),
    Row(
        "GET",
        "/signal-notifications/{id}/",
        "/api/v1/signal-notifications/{signal_notification_id}/",
        SIGNAL_NOTIFICATION,
        nested={"signal_detail": (TRADING_SIGNAL, SIGNAL_CHOICES)},
    ),
    Row(
        "POST",
        "/signal-notifications/{id}/mark_read/",
        "/api/v1/signal-notifications/{signal_notification_id}/mark_read/",
        MESSAGE,
    ),
    # 3.5 Copy trading (7.5 serializers, 8.4 views; the router's paths of 9 too)
    Row("GET", "/traders/", "/api/v1/traders/", TRADER, at="results", differences=("trader_privacy",)),
    Row("GET", "/traders/{id}/", "/api/v1/traders/{trader_id}/", TRADER, differences=("trader_privacy",)),
    Row(
        "POST",
        "/copy-trading/subscribe/",
        "/api/v1/copy-trading/subscribe/",
        SUBSCRIPTION,
        201,
        nested=SUBSCRIPTION_NESTED,
        differences=("copy_subscribe",),
    ),
    Row(
        "POST",
        "/copy-trading/",
        "/api/v1/copy-trading/",
        SUBSCRIPTION,
        201,
        nested=SUBSCRIPTION_NESTED,
        differences=("copy_subscribe",),
    ),
    Row(
        "GET",
        "/copy-trading/subscriptions/",
        "/api/v1/copy-trading/subscriptions/",
        SUBSCRIPTION,
        at="results",
        nested=SUBSCRIPTION_NESTED,
    ),
    Row("GET", "/copy-trading/", "/api/v1/copy-trading/", SUBSCRIPTION, at="results", nested=SUBSCRIPTION_NESTED),
    Row(
        "GET",
        "/copy-trading/{id}/",
        "/api/v1/copy-trading/{subscription_id}/",
        SUBSCRIPTION,
        nested=SUBSCRIPTION_NESTED,
    ),
    Row(
        "PATCH",
        "/copy-trading/subscriptions/{id}/",
        "/api/v1/copy-trading/subscriptions/{subscription_id}/",
        SUBSCRIPTION,
        nested=SUBSCRIPTION_NESTED,
        differences=("copy_subscribe",),
    ),
    Row(
        "PATCH",
        "/copy-trading/{id}/",
        "/api/v1/copy-trading/{subscription_id}/",
        SUBSCRIPTION,
        nested=SUBSCRIPTION_NESTED,
        differences=("copy_subscribe",),
    ),
    Row(
        "DELETE",
        "/copy-trading/subscribe/{id}/",
        "/api/v1/copy-trading/subscribe/{subscription_id}/",
        frozenset(),
        204,
        differences=("copy_unsubscribe",),
    ),
    Row(
        "DELETE",
        "/copy-trading/{id}/",
        "/api/v1/copy-trading/{subscription_id}/",
        frozenset(),
        204,
        differences=("copy_unsubscribe",),
    ),
    Row(
        "GET",
        "/copy-trading/performance/",
        "/api/v1/copy-trading/performance/",
        COPY_PERFORMANCE,
        differences=("copy_performance",),
    ),
    Row(
        "GET",
        "/copied-trades/",
        "/api/v1/copied-trades/",
        COPIED_TRADE,
        at="results",
        nested={
            "subscription_detail": (SUBSCRIPTION, {}),
            "master_order_detail": (ORDER, {**ORDER_CHOICES, **ORDER_SERVED}),
            "follower_order_detail": (ORDER, {**ORDER_CHOICES, **ORDER_SERVED}),
        },
        differences=("copied_trade",),
    ),
    Row(
        "GET",
        "/copied-trades/{id}/",
        "/api/v1/copied-trades/{copied_trade_id}/",
        COPIED_TRADE,
        nested={
            "subscription_detail": (SUBSCRIPTION, {}),
            "master_order_detail": (ORDER, {**ORDER_CHOICES, **ORDER_SERVED}),
            "follower_order_detail": (ORDER, {**ORDER_CHOICES, **ORDER_SERVED}),
        },
        differences=("copied_trade",),
    ),
    # 3.6 AI Bots (7.4 TradingBotSerializer, BotTradeSerializer; 8.3 views; 9 router)
    Row("GET", "/bots/", "/api/v1/bots/", BOT, at="results", choices={"strategy": STRATEGY}),
    Row("POST", "/bots/", "/api/v1/bots/", BOT, 201, choices={"strategy": STRATEGY}, differences=("bot_is_active",)),
    Row("GET", "/bots/{id}/", "/api/v1/bots/{bot_id}/", BOT, choices={"strategy": STRATEGY}),
    Row(
        "PATCH",
        "/bots/{id}/",
        "/api/v1/bots/{bot_id}/",
        BOT,
        choices={"strategy": STRATEGY},
        differences=("bot_is_active",),
    ),
    Row("DELETE", "/bots/{id}/", "/api/v1/bots/{bot_id}/", frozenset(), 204, differences=("bot_is_active",)),
    Row("POST", "/bots/{id}/start/", "/api/v1/bots/{bot_id}/start/", MESSAGE),
    Row("POST", "/bots/{id}/stop/", "/api/v1/bots/{bot_id}/stop/", MESSAGE),
    Row(
        "GET",
        "/bots/{id}/performance/",
        "/api/v1/bots/{bot_id}/performance/",
        BOT_PERFORMANCE,
        nested={},
        differences=("bot_trade_order",),
    ),
    Row(
        "GET",
        "/bot-strategies/",
        "/api/v1/bot-strategies/",
        frozenset(["name", "parameters"]),
        at="results",
        differences=("bot_strategies",),
    ),
    Row("GET", "/bot-trades/", "/api/v1/bot-trades/", BOT_TRADE, at="results", differences=("bot_trade_order",)),
    Row("GET", "/bot-trades/{id}/", "/api/v1/bot-trades/{trade_id}/", BOT_TRADE, differences=("bot_trade_order",)),
    # 3.8 Loans (7.7, 8.6) and the router's loan-products, loans, loan-repayments (9)
    Row("GET", "/loan-products/", "/api/v1/loan-products/", LOAN_PRODUCT, at="results"),
    Row("GET", "/loan-products/{id}/", "/api/v1/loan-products/{product_id}/", LOAN_PRODUCT),
    Row(
        "POST",
        "/loans/",
        "/api/v1/loans/",
        LOAN,
        201,
        choices=LOAN_CHOICES,
        served=LOAN_SERVED,
        nested=LOAN_NESTED,
        differences=("loan_apply", "loan_cancel"),
    ),
    Row(
        "GET",
        "/loans/",
        "/api/v1/loans/",
        LOAN,
        at="results",
        choices=LOAN_CHOICES,
        served=LOAN_SERVED,
        nested=LOAN_NESTED,
        differences=("loan_cancel",),
    ),
    Row(
        "GET",
        "/loans/{id}/",
        "/api/v1/loans/{loan_id}/",
        LOAN,
        choices=LOAN_CHOICES,
        served=LOAN_SERVED,
        nested=LOAN_NESTED,
        differences=("loan_cancel",),
    ),
    Row(
        "POST",
        "/loans/{id}/repay/",
        "/api/v1/loans/{loan_id}/repay/",
        frozenset({"message", "outstanding_balance"}),
        differences=("loan_repay",),
    ),
    Row(
        "GET",
        "/loans/pending/",
        "/api/v1/loans/pending/",
        LOAN,
        at="results",
        choices=LOAN_CHOICES,
        served=LOAN_SERVED,
        nested=LOAN_NESTED,
        differences=("loan_cancel",),
    ),
    Row("POST", "/loans/{id}/approve/", "/api/v1/loans/{loan_id}/approve/", MESSAGE, differences=("loan_decision",)),
    Row("POST", "/loans/{id}/reject/", "/api/v1/loans/{loan_id}/reject/", MESSAGE, differences=("loan_decision",)),
    Row(
        "GET",
        "/loan-repayments/",
        "/api/v1/loan-repayments/",
        LOAN_REPAYMENT,
        at="results",
        nested=REPAYMENT_NESTED,
    ),
    Row(
        "GET",
        "/loan-repayments/{id}/",
        "/api/v1/loan-repayments/{repayment_id}/",
        LOAN_REPAYMENT,
        nested=REPAYMENT_NESTED,
    ),
]

REFERRAL_REWARD = frozenset(["id", "referred_user", "reward_type", "amount", "currency", "status", "created_at"])
REFERRED_USER = frozenset(["username", "is_verified", "created_at", "total_trades"])  # the seed's, less `email`
REFERRAL_REWARD_CHOICES = {
    "reward_type": ("signup", "first_deposit", "trading_commission"),
    "status": ("paid", "pending"),
}
REFERRAL_REWARD_SERVED = {"status": ("pending", "paid", "cancelled", "clawed_back")}

TABLE += [
    # 3.9 Referrals (8.7 ReferralViewSet)
    Row("GET", "/referrals/code/", "/api/v1/referrals/code/", frozenset({"referral_code", "referral_link"})),
    Row(
        "GET",
        "/referrals/stats/",
        "/api/v1/referrals/stats/",
        frozenset({"total_referrals", "active_referrals", "total_rewards", "pending_rewards"}),
    ),
    Row(
        "GET",
        "/referrals/rewards/",
        "/api/v1/referrals/rewards/",
        REFERRAL_REWARD,
        at="results",
        choices=REFERRAL_REWARD_CHOICES,
        served=REFERRAL_REWARD_SERVED,
        differences=("referral_rewards",),
    ),
    Row(
        "GET",
        "/referrals/referred-users/",
        "/api/v1/referrals/referred-users/",
        REFERRED_USER,
        at="results",
        differences=("referred_users",),
    ),
    Row(
        "GET",
        "/referrals/referred_users/",
        "/api/v1/referrals/referred_users/",
        REFERRED_USER,
        at="results",
        differences=("referred_users",),
    ),
    # Customer account security (issue 20): not in the seed either; our own contract.
    Row("GET", "/security/", "/api/v1/security/", SECURITY),
    Row("PATCH", "/security/", "/api/v1/security/", SECURITY),
    Row("GET", "/sessions/", "/api/v1/sessions/", SESSION, at="results"),
    Row("POST", "/sessions/{id}/revoke/", "/api/v1/sessions/{session_id}/revoke/", SESSION),
    Row("DELETE", "/sessions/{id}/", "/api/v1/sessions/{session_id}/", status=204),
    Row("POST", "/sessions/revoke-all/", "/api/v1/sessions/revoke-all/", REVOKED),
    Row("GET", "/withdrawal-addresses/", "/api/v1/withdrawal-addresses/", ADDRESS, at="results"),
    Row("POST", "/withdrawal-addresses/", "/api/v1/withdrawal-addresses/", ADDRESS, 201),
    Row("GET", "/withdrawal-addresses/{id}/", "/api/v1/withdrawal-addresses/{address_id}/", ADDRESS),
    Row("DELETE", "/withdrawal-addresses/{id}/", "/api/v1/withdrawal-addresses/{address_id}/", status=204),
]

#: rows whose requests carry amounts, quantities or prices
AMOUNT_ROWS = {
    "POST /deposits/",
    "POST /withdrawals/",
    "POST /transfers/",
    "POST /orders/",
    "POST /signals/{id}/execute/",
    "POST /copy-trading/subscribe/",
    "POST /copy-trading/",
    "POST /bots/",
    "POST /loans/",
    "POST /loans/{id}/repay/",
}


def differences_of(row: Row) -> list[str]:
    """The row's deliberate differences, in words."""
    out = [ERRORS]
    if row.id in AMOUNT_ROWS:
        out.append(AMOUNTS)
    return out + [DIFFERENCES[key] for key in row.differences]
