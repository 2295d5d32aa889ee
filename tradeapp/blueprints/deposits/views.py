"""Customer deposit page: card (Stripe or the sandbox), bank transfer and crypto tabs, and my deposits."""

from collections.abc import Callable

from flask import Blueprint, abort, current_app, request
from flask_login import current_user

from tradeapp.blueprints.deposits.forms import BankDepositForm, CardDepositForm, CryptoDepositForm, SandboxPayForm
from tradeapp.blueprints.deposits.payment_details import public_details
from tradeapp.config import sandbox_routes_enabled
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models.funds import Deposit
from tradeapp.payments.sandbox import TEST_CARDS
from tradeapp.security import CSP
from tradeapp.services import deposits
from tradeapp.web import get_owned_or_404, login_required, render

bp = Blueprint("deposits", __name__, url_prefix="/deposits")

TABS = {"card": "Card", "bank": "Bank transfer", "crypto": "Crypto"}
TAB_OF_METHOD = {"card": "card", "bank_transfer": "bank", "crypto": "crypto"}
LIST_SIZE = 20

# Stripe's payment element runs from js.stripe.com, talks to api.stripe.com and draws its card
# fields in frames from js.stripe.com. Only this page needs that, so only its responses widen
# the app's self-only policy (security.py sets the header with setdefault, so ours wins).
STRIPE_CSP = (
    CSP.replace("script-src 'self'", "script-src 'self' https://js.stripe.com")
    .replace("frame-src 'self'", "frame-src 'self' https://js.stripe.com https://hooks.stripe.com")
    .replace("connect-src 'self' ws: wss:", "connect-src 'self' ws: wss: https://api.stripe.com")
)


def stripe_js_enabled() -> bool:
    config = current_app.config
    return config.get("PAYMENTS_PROVIDER") == "stripe" and bool(config.get("STRIPE_PUBLISHABLE_KEY"))


def _crypto_form(formdata=None) -> CryptoDepositForm:
    networks = deposits.crypto_networks()
    form = CryptoDepositForm(formdata=formdata) if formdata is not None else CryptoDepositForm()
    form.set_networks(networks)
    if formdata is None or not form.currency.data:
        code = request.args.get("currency", "").upper()
        form.currency.data = code if code in networks else next(iter(networks), None)
        wanted = request.args.get("network", "").lower()
        nets = networks.get(form.currency.data, [])
        form.network.data = wanted if wanted in nets else (nets[0] if nets else None)
    return form


def _address(form: CryptoDepositForm):
    networks = deposits.crypto_networks()
    if form.currency.data in networks and form.network.data in networks[form.currency.data]:
        return deposits.crypto_address(current_user, form.currency.data, form.network.data)
    return None


def _context(tab: str, **extra) -> dict:
    context = {
        "tab": tab,
        "tabs": TABS,
        "card_form": CardDepositForm(formdata=None),
        "bank_form": BankDepositForm(formdata=None),
        "pay_form": SandboxPayForm(formdata=None),
        "test_cards": TEST_CARDS,
        "stripe_js": stripe_js_enabled(),
        "networks": deposits.crypto_networks(),
        "bank_details": deposits.bank_details(),
        "current": None,
        "outcome": None,
        "details": public_details,
    }
    context.update(extra)
    if tab == "crypto" and "crypto_form" not in extra:
        context["crypto_form"] = _crypto_form()
    if tab == "crypto" and "address" not in extra:
        context["address"] = _address(context["crypto_form"])
    context["my_deposits"] = db.session.scalars(deposits.user_deposits_query(current_user).limit(LIST_SIZE)).all()
    return context


def _panel(tab: str, changed: bool = False, **extra):
    """The deposit page, or only its panel for HTMX; ``changed`` tells the list to refresh."""
    response = render("deposits/deposit.html", "deposits/_panel.html", **_context(tab, **extra))
    if changed:
        response.headers["HX-Trigger"] = "depositsChanged"
    if stripe_js_enabled():
        response.headers["Content-Security-Policy"] = STRIPE_CSP
    return response


def _create(tab: str, form, create: Callable[[], Deposit], failed: Callable[[], dict] | None = None):
    """Validate ``form``, then ``create()``: the panel with the new deposit, or the form with its errors."""
    if form.validate_on_submit():
        try:
            deposit = create()
        except DomainError as exc:
            form.show_error(exc)
        else:
            return _panel(tab, changed=True, current=deposit)
    return _panel(tab, **{f"{tab}_form": form}, **(failed() if failed else {}))


@bp.get("/")
@login_required
def deposit_new():
    """The deposit page; ``?tab=card|bank|crypto`` (HTMX swaps only the panel)."""
    tab = request.args.get("tab", "card")
    return _panel(tab if tab in TABS else "card")


@bp.get("/mine")
@login_required
def deposits_listing():
    """My recent deposits (the fragment polls itself while any is pending)."""
    return render("deposits/deposit.html", "deposits/_list.html", **_context("card"))


@bp.get("/<int:deposit_id>")
@login_required
def deposit_detail(deposit_id: int):
    """One of my deposits: pay a pending card deposit, re-read bank instructions, see crypto details.

    :raise 404: not mine or no such deposit
    """
    deposit = get_owned_or_404(Deposit, deposit_id)
    return _panel(TAB_OF_METHOD[deposit.payment_method], current=deposit)


@bp.post("/card")
@login_required
def deposit_card():
    """Start a card deposit: a PaymentIntent (Stripe) or a sandbox intent to pay with a test card."""
    form = CardDepositForm()
    return _create(
        "card", form, lambda: deposits.create_card_deposit(current_user, form.currency.data, form.amount.data).deposit
    )


@bp.post("/<int:deposit_id>/pay")
@login_required
def deposit_sandbox_pay(deposit_id: int):
    """Pay a sandbox card deposit with a test card number (embedded demo mode only).

    :raise 404: outside embedded mode (unless sandbox providers are loudly allowed), or not mine
    """
    if not sandbox_routes_enabled(current_app.config):
        abort(404)
    deposit = get_owned_or_404(Deposit, deposit_id)
    form = SandboxPayForm()
    outcome = None
    if form.validate_on_submit():
        try:
            deposit, ok, message = deposits.pay_sandbox_card(current_user, deposit, form.card_number.data)
        except DomainError as exc:
            form.form_errors.append(exc.message)
        else:
            outcome = {"ok": ok, "message": message}
            if not ok:
                form.card_number.errors = [message]
            db.session.refresh(deposit)
    return _panel("card", changed=outcome is not None, current=deposit, pay_form=form, outcome=outcome)


@bp.post("/bank")
@login_required
def deposit_bank():
    """Announce a bank transfer: the answer is the instructions with a unique reference."""
    form = BankDepositForm()
    return _create(
        "bank", form, lambda: deposits.create_bank_deposit(current_user, form.currency.data, form.amount.data)
    )


@bp.post("/crypto")
@login_required
def deposit_crypto():
    """Tell finance about a crypto deposit to my address (they confirm it on chain by hand)."""
    form = _crypto_form(formdata=request.form)
    return _create(
        "crypto",
        form,
        lambda: deposits.create_crypto_deposit(
            current_user, form.currency.data, form.network.data, form.amount.data, form.tx_hash.data or None
        ),
        failed=lambda: {"address": _address(form) if not form.network.errors else None},
    )
