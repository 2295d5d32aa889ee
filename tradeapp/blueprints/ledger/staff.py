"""Staff pages over the ledger: the reconciliation report and a user's ledger."""

from flask import Blueprint, request

from tradeapp.models import User
from tradeapp.services import ledger, ledger_queries
from tradeapp.web import get_or_404, render, staff_required

bp = Blueprint("staff_ledger", __name__, url_prefix="/staff/ledger")


@bp.get("/")
@staff_required("ledger.view")
def report():
    """Recompute every balance now and show what the books say."""
    result = ledger.check()
    return render(
        "staff/ledger/report.html",
        report=result,
        platform=ledger_queries.platform_balances(),
    )


@bp.get("/users/<int:user_id>")
@staff_required("ledger.view")
def user_ledger(user_id: int):
    """A customer's wallets, active holds and postings with running balances."""
    user = get_or_404(User, user_id)
    currency = request.args.get("currency") or None
    return render(
        "staff/ledger/user.html",
        "staff/ledger/_postings.html",
        user=user,
        wallets=ledger_queries.user_wallets(user),
        holds=ledger_queries.active_holds(user),
        lines=ledger_queries.user_postings(user, currency),
        currency=currency,
    )
