"""Customer money pages: wallets overview, transfer to another customer, history with CSV export."""

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, Response, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.funds.forms import TransferForm
from tradeapp.currencies import CURRENCIES
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models.funds import TRANSACTION_STATUSES, TRANSACTION_TYPES
from tradeapp.services import transfers, wallets
from tradeapp.web import login_required, render

bp = Blueprint("funds", __name__)

HISTORY_PAGE_SIZE = 25
#: endpoints other funds pages may provide; linked when they exist
DEPOSIT_ENDPOINTS = ("deposits.deposit_new",)
WITHDRAW_ENDPOINTS = ("withdrawals.withdrawals_page",)


def _optional_url(*endpoints: str) -> str | None:
    for endpoint in endpoints:
        try:
            return url_for(endpoint)
        except BuildError:
            continue
    return None


def _fields_to_form(form, exc: DomainError, renames: dict[str, str]) -> None:
    """Show a service's field errors on the form's inputs; the rest above the form."""
    for name, messages in exc.fields.items():
        field = form._fields.get(renames.get(name, name))
        if field is not None and field.name not in ("csrf_token", "idempotency_key"):
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(messages)
    if not exc.fields:
        form.form_errors.append(exc.message)


# -- wallets -----------------------------------------------------------------------------------------


@bp.get("/wallets/")
@login_required
def wallets_overview():
    """Balances per currency and the total in USD; the fragment refreshes on ``wallet_updated``."""
    return render(
        "funds/wallets.html",
        "funds/_wallets.html",
        portfolio=wallets.portfolio(current_user),
        deposit_url=_optional_url(*DEPOSIT_ENDPOINTS),
        withdraw_url=_optional_url(*WITHDRAW_ENDPOINTS),
    )


# -- transfers ---------------------------------------------------------------------------------------


@bp.route("/wallets/transfer", methods=["GET", "POST"])
@login_required
@idempotent
def transfer_create():
    """Send money to another customer; the form swaps itself (errors or the receipt)."""
    form = TransferForm()
    if request.method == "GET" and request.args.get("currency", "").upper() in CURRENCIES:
        form.currency.data = request.args["currency"].upper()
    sent = None
    if form.validate_on_submit():
        try:
            sent, _ = transfers.transfer(
                current_user, form.recipient.data, form.currency.data, form.amount.data, form.note.data or ""
            )
        except DomainError as exc:
            _fields_to_form(form, exc, {"to_email": "recipient", "to_username": "recipient"})
        else:
            form = TransferForm(formdata=None, currency=sent.currency)
    form.fresh_key()
    balances = {w.currency: w for w in wallets.list_wallets(current_user)}
    return render(
        "funds/transfer.html",
        "funds/_transfer_form.html",
        form=form,
        sent=sent,
        balances=balances,
    )


# -- history -----------------------------------------------------------------------------------------


@dataclass
class Page:
    items: list
    page: int
    pages: int
    total: int


def _history_page(filters: wallets.HistoryFilters, page: int) -> Page:
    query = wallets.history_query(current_user, filters)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, math.ceil(total / HISTORY_PAGE_SIZE))
    items = db.session.scalars(query.limit(HISTORY_PAGE_SIZE).offset((page - 1) * HISTORY_PAGE_SIZE)).all()
    return Page(list(items), page, pages, total)


@bp.get("/wallets/history")
@login_required
def history_listing():
    """The transaction history with filters (type, currency, status, dates) and pages."""
    filters, errors = wallets.parse_history_filters(request.args)
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    results = _history_page(filters, page)
    args = filters.as_args()

    def page_url(number: int) -> str:
        return url_for("funds.history_listing", **args, page=number)

    return render(
        "funds/history.html",
        "funds/_history.html",
        results=results,
        filters=filters,
        errors=errors,
        page_url=page_url,
        csv_url=url_for("funds.history_export") + ("?" + urlencode(args) if args else ""),
        types=TRANSACTION_TYPES,
        statuses=TRANSACTION_STATUSES,
        currencies=list(CURRENCIES),
    )


@bp.get("/wallets/history.csv")
@login_required
def history_export():
    """The filtered history as a CSV download."""
    filters, errors = wallets.parse_history_filters(request.args)
    if errors:
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
        return Response(f"Invalid filters: {message}\n", status=400, mimetype="text/plain")
    response = Response(stream_with_context(wallets.history_csv(current_user, filters)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="transactions.csv"'
    return response
