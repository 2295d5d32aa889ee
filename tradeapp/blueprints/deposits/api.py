"""Deposits API: create (card, bank transfer, crypto) and list one's own; staff confirm and reject."""

from flask.views import MethodView

from tradeapp.blueprints.api import ApiBlueprint, api_user, page_schema, paginate, token_required
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.deposits.schemas import (
    DepositConfirmSchema,
    DepositCreateSchema,
    DepositRejectSchema,
    DepositSchema,
    StaffDepositSchema,
)
from tradeapp.errors import NotFound
from tradeapp.extensions import db
from tradeapp.models.funds import Deposit
from tradeapp.services import deposits

blp = ApiBlueprint("deposits_api", __name__, url_prefix="/api/v1/deposits", description="Deposits")


def create(user, data) -> Deposit:
    """The one dispatch from payment method to service.

    A crypto deposit's ``network`` and ``tx_hash`` come top-level or, as the seed sends them, inside
    ``payment_details``; whatever else ``payment_details`` holds is kept with the deposit.
    """
    method = data["payment_method"]
    client = dict(data.get("payment_details") or {})
    network = data.get("network") or client.pop("network", "") or ""
    tx_hash = data.get("tx_hash") or client.pop("tx_hash", "") or None
    client.pop("network", None)
    client.pop("tx_hash", None)
    if method == "card":
        return deposits.create_card_deposit(user, data["currency"], data["amount"], client_details=client).deposit
    if method == "bank_transfer":
        return deposits.create_bank_deposit(user, data["currency"], data["amount"], client_details=client)
    return deposits.create_crypto_deposit(
        user, data["currency"], str(network), data["amount"], str(tx_hash) if tx_hash else None, client_details=client
    )


def _deposit_or_404(deposit_id: int) -> Deposit:
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None:
        raise NotFound("Deposit not found.")
    return deposit


@blp.route("/")
class Deposits(MethodView):
    @token_required()
    @blp.response(200, page_schema(DepositSchema))
    def get(self):
        """Your deposits, newest first (paginated: `?page=`, `?page_size=`)."""
        return paginate(deposits.user_deposits_query(api_user()))

    @token_required()
    @idempotent
    @blp.arguments(DepositCreateSchema)
    @blp.response(201, DepositSchema)
    @blp.alt_response(400, description="Invalid method, currency, amount, network or tx hash; a reused tx hash")
    @blp.alt_response(409, description="A request with the same Idempotency-Key is still running")
    @blp.alt_response(422, description="The Idempotency-Key was used with another body (`idempotency_key_reused`)")
    @blp.alt_response(503, description="The card processor could not be reached (`provider_unavailable`)")
    def post(self, data):
        """Start a deposit.

        * `card`: returns `payment_details.client_secret` for Stripe.js (or the sandbox in demo mode);
          the wallet is credited when the payment succeeds.
        * `bank_transfer`: returns a `reference` to quote on the transfer and the bank details;
          finance confirms the amount received.
        * `crypto`: returns your deposit `address` for the currency and `network`; finance confirms
          with the transaction hash (chain watching is not automatic).

        Send an `Idempotency-Key` header to retry safely.
        """
        return create(api_user(), data)


@blp.route("/<int:deposit_id>/")
@token_required()
@blp.response(200, DepositSchema)
@blp.alt_response(404, description="No such deposit of yours")
def deposit_detail(deposit_id: int):
    """One of your deposits (poll it while pending)."""
    deposit = _deposit_or_404(deposit_id)
    if deposit.user_id != api_user().id:
        raise NotFound("Deposit not found.")
    return deposit


@blp.route("/pending/")
@token_required("deposits.manage")
@blp.response(200, page_schema(StaffDepositSchema))
def deposits_pending():
    """Staff: bank and crypto deposits waiting for confirmation, oldest first."""
    return paginate(deposits.pending_queue_query())


@blp.route("/<int:deposit_id>/confirm/", methods=["POST"])
@token_required("deposits.manage")
@blp.arguments(DepositConfirmSchema)
@blp.response(200, StaffDepositSchema)
@blp.alt_response(400, description="Bad amount or tx hash, a reused tx hash, or a card deposit")
@blp.alt_response(403, description="Not finance staff, or your own deposit")
@blp.alt_response(404, description="No such deposit")
@blp.alt_response(409, description="Already confirmed or rejected (`illegal_transition`)")
def deposit_confirm(data, deposit_id: int):
    """Staff: credit a bank deposit (optionally a different amount received) or a crypto deposit (tx hash)."""
    deposit = _deposit_or_404(deposit_id)
    return deposits.confirm_deposit(api_user(), deposit, data.get("amount"), data.get("tx_hash") or None)


@blp.route("/<int:deposit_id>/reject/", methods=["POST"])
@token_required("deposits.manage")
@blp.arguments(DepositRejectSchema)
@blp.response(200, StaffDepositSchema)
@blp.alt_response(403, description="Not finance staff, or your own deposit")
@blp.alt_response(404, description="No such deposit")
@blp.alt_response(409, description="Already confirmed or rejected (`illegal_transition`)")
def deposit_reject(data, deposit_id: int):
    """Staff: reject a pending bank or crypto deposit with a reason the customer sees."""
    deposit = _deposit_or_404(deposit_id)
    return deposits.reject_deposit(api_user(), deposit, data["reason"])
