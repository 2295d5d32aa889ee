"""Funds API: wallets, transfers between customers, transaction history."""

from flask import abort

from tradeapp.blueprints.api import ApiBlueprint, api_user, page_schema, paginate, token_required
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.funds.schemas import (
    TransactionFilterSchema,
    TransactionSchema,
    TransferSchema,
    WalletPageArgsSchema,
    WalletSchema,
)
from tradeapp.currencies import CurrencyError
from tradeapp.services import transfers, wallets

blp = ApiBlueprint("funds_api", __name__, url_prefix="/api/v1", description="Wallets, transfers and history")


@blp.route("/wallets/")
@token_required()
@blp.arguments(WalletPageArgsSchema, location="query")
@blp.response(200, page_schema(WalletSchema))
def wallets_listing(args):
    """Your wallets, one per currency you have used."""
    return paginate(wallets.wallets_query(api_user()))


@blp.route("/wallets/<string:currency>/")
@token_required()
@blp.response(200, WalletSchema)
@blp.alt_response(404, description="Unknown currency")
def wallet_detail(currency):
    """Your wallet in one currency; zero balances (and a null id) if you have not used it yet."""
    try:
        return wallets.wallet_or_empty(api_user(), currency)
    except CurrencyError:
        abort(404, f"Unknown currency {currency!r}.")


@blp.route("/transfers/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(TransferSchema)
@blp.response(201, TransactionSchema)
@blp.alt_response(
    400,
    description="Invalid input, unknown or inactive recipient, yourself (`validation_error`), "
    "or not enough available balance (`insufficient_funds`)",
)
def transfer_create(data):
    """Send money to another customer instantly, from your available balance.

    Name the recipient by `to_email` or `to_username` (exactly one). The answer is your
    side of the transfer (direction -1); the recipient gets their own line (direction +1).
    Both of you are notified over Socket.IO (`wallet_updated`, `transaction`).
    Send an `Idempotency-Key` header so a retry never sends the money twice.
    """
    if data["to_email"]:
        identifier, field = data["to_email"], "to_email"
    else:
        identifier, field = data["to_username"], "to_username"
    sent, _ = transfers.transfer(
        api_user(), identifier, data["currency"], data["amount"], data["note"] or "", recipient_field=field
    )
    return sent


@blp.route("/transactions/")
@token_required()
@blp.arguments(TransactionFilterSchema, location="query")
@blp.response(200, page_schema(TransactionSchema))
def transactions_listing(args):
    """Your money history, newest first, filtered by type, currency, status and dates (UTC days, inclusive)."""
    filters = wallets.HistoryFilters(
        transaction_type=args.get("transaction_type"),
        currency=(args.get("currency") or "").upper() or None,
        status=args.get("status"),
        date_from=args.get("date_from"),
        date_to=args.get("date_to"),
    )
    return paginate(wallets.history_query(api_user(), filters))
