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
TOKENS = frozenset({"access", "refresh"})
#: the notification centre's shapes (not the seed's: see the rows at the end of TABLE)
NOTIFICATION = frozenset(["id", "kind", "title", "body", "link", "data", "read", "created_at"])
READ_ALL = frozenset(["updated", "unread"])
PREFERENCES = frozenset(["preferences"])
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

PAIR_CHOICES = {"market_type": MARKET_TYPE}
ORDER_CHOICES = {"order_type": ORDER_TYPE, "side": SIDE, "status": ORDER_STATUS, "source": SOURCE}
TRANSACTION_CHOICES = {"transaction_type": TRANSACTION_TYPE, "status": TRANSACTION_STATUS}

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


ORDER_SERVED = {"status": ("open", "partially_filled", "filled", "cancelled", "rejected"), "source": (*SOURCE, "loan")}
PAIR_NESTED = {"trading_pair_detail": (PAIR, PAIR_CHOICES)}

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
AMOUNT_ROWS = {"POST /deposits/", "POST /withdrawals/", "POST /transfers/", "POST /orders/"}


def differences_of(row: Row) -> list[str]:
    """The row's deliberate differences, in words."""
    out = [ERRORS]
    if row.id in AMOUNT_ROWS:
        out.append(AMOUNTS)
    return out + [DIFFERENCES[key] for key in row.differences]
