"""Funds API: wallets, transfers between customers, transaction history."""

from flask import abort

from tradeapp.blueprints.api import ApiBlueprint, api_user, id_parameter, page_schema, paginate, token_required
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.funds.schemas import (
    TransactionFilterSchema,
    TransactionSchema,
    TransferSchema,
    WalletPageArgsSchema,
    WalletSchema,
)
from tradeapp.currencies import CurrencyError
from tradeapp.extensions import db
from tradeapp.models import Transaction, Wallet
from tradeapp.services import transfers, wallets

blp = ApiBlueprint("funds_api", __name__, url_prefix="/api/v1", description="Wallets, transfers and history")

CURRENCY_PATH = {
    "in": "path",
    "name": "currency",
    "required": True,
    "description": "A currency code, case-insensitive (`usd` is read as `USD`), or the wallet's id.",
    "schema": {"type": "string", "pattern": "^(?:[A-Za-z]{3,5}|[0-9]{1,18})$", "example": "USD"},
}


@blp.route("/wallets/")
@token_required()
@blp.arguments(WalletPageArgsSchema, location="query")
@blp.response(200, page_schema(WalletSchema))
def wallets_listing(args):
    """Your wallets, one per currency you have used."""
    return paginate(wallets.wallets_query(api_user()))


@blp.route("/wallets/<string:currency>/")
@token_required()
@blp.doc(parameters=[CURRENCY_PATH])
@blp.response(200, WalletSchema)
@blp.alt_response(404, description="Unknown currency, or no wallet of yours with this id (`not_found`)")
def wallet_detail(currency):
    """Your wallet in one currency (`USD`), or by its id (`12`, the seed's router).

    By currency, a wallet you have not used yet answers with zero balances and a null id.
    """
    if currency.isascii() and currency.isdigit():
        wallet = db.session.get(Wallet, int(currency)) if len(currency) <= 18 else None
        if wallet is None or wallet.user_id != api_user().id:
            abort(404, "Wallet not found.")
        return wallet
    try:
        return wallets.wallet_or_empty(api_user(), currency)
    except CurrencyError:
        abort(404, f"Unknown currency {currency[:12]!r}.")


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


@blp.route("/transactions/<int:transaction_id>/")
@token_required()
@blp.doc(parameters=[id_parameter("transaction_id", "The transaction's id.")])
@blp.response(200, TransactionSchema)
@blp.alt_response(404, description="No such transaction of yours (`not_found`)")
def transaction_detail(transaction_id):
    """One line of your money history."""
    txn = db.session.get(Transaction, transaction_id)
    if txn is None or txn.user_id != api_user().id:
        abort(404, "Transaction not found.")
    return txn
