"""Staff copy-trading console: the lead-trader applications queue, traders (suspend/reinstate, audited),
each trader's followers and copy activity, and profit-share settlements. Every route needs ``copy.manage``.
"""

from flask import Blueprint, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import CopiedTrade, CopySignal, CopySubscription, Trader
from tradeapp.services.copy_trading import profit_share, traders
from tradeapp.web import FORM_EXPIRED, get_or_404, render, staff_required, swap_row

from .forms import ReasonForm

bp = Blueprint("staff_copy", __name__, url_prefix="/staff/copy")

MANAGE = traders.MANAGE
LIST_SIZE = 200


def _head() -> dict:
    return {}


@bp.get("/applications")
@staff_required(MANAGE)
def applications_queue():
    """Pending lead-trader applications, oldest first, with the applicant's trading record."""
    pending = db.session.scalars(traders.applications_query("pending").limit(LIST_SIZE)).all()
    return render(
        "staff/copy_trading/applications.html",
        rows=[_row_context(t) for t in pending],
        total=traders.pending_count(),
    )


@bp.get("/traders")
@staff_required(MANAGE)
def traders_listing():
    """Every lead trader (approved, suspended, rejected) with followers and assets under copy."""
    status = request.args.get("status") or None
    query = select(Trader).order_by(Trader.status, Trader.total_followers.desc(), Trader.id)
    if status:
        query = query.where(Trader.status == status)
    rows = db.session.scalars(query.limit(LIST_SIZE)).all()
    return render("staff/copy_trading/traders.html", rows=[_row_context(t) for t in rows], status=status)


def _row_context(trader: Trader, **extra) -> dict:
    return {"t": trader, "reason_form": extra.pop("reason_form", None) or ReasonForm(formdata=None), **extra}


def _decide(trader_id: int, action, notice: str, template: str):
    trader = get_or_404(Trader, trader_id)
    form = ReasonForm()
    error = None
    if not form.validate_on_submit():
        error = FORM_EXPIRED
    else:
        try:
            action(trader)
        except DomainError as exc:
            form.show_error(exc)
            error = exc.message
    db.session.expire_all()
    trader = db.session.get(Trader, trader_id)
    return swap_row(
        template,
        redirect_to=url_for("staff_copy.traders_listing"),
        notice=None if error else notice,
        error=error,
        **_row_context(trader, reason_form=form if error else None),
    )


APP_ROW = "staff/copy_trading/_application_row.html"
TRADER_ROW = "staff/copy_trading/_trader_row.html"


@bp.post("/traders/<int:trader_id>/approve")
@staff_required(MANAGE)
def trader_approve(trader_id: int):
    return _decide(trader_id, lambda t: traders.approve(current_user, t.id), "Approved: now listed.", APP_ROW)


@bp.post("/traders/<int:trader_id>/reject")
@staff_required(MANAGE)
def trader_reject(trader_id: int):
    reason = request.form.get("reason", "")
    return _decide(
        trader_id, lambda t: traders.reject(current_user, t.id, reason), "Rejected; the applicant is told.", APP_ROW
    )


@bp.post("/traders/<int:trader_id>/suspend")
@staff_required(MANAGE)
def trader_suspend(trader_id: int):
    reason = request.form.get("reason", "")
    return _decide(
        trader_id,
        lambda t: traders.suspend(current_user, t.id, reason),
        "Suspended: followers stopped copying and were told why.",
        TRADER_ROW,
    )


@bp.post("/traders/<int:trader_id>/reinstate")
@staff_required(MANAGE)
def trader_reinstate(trader_id: int):
    reason = request.form.get("reason", "")
    return _decide(
        trader_id,
        lambda t: traders.reinstate(current_user, t.id, reason),
        "Reinstated: followers may resume copying.",
        TRADER_ROW,
    )


@bp.get("/traders/<int:trader_id>")
@staff_required(MANAGE)
def trader_detail(trader_id: int):
    """One trader's followers (every subscription, ended too), recent copy activity and settlements."""
    trader = get_or_404(Trader, trader_id)
    subs = db.session.scalars(
        select(CopySubscription)
        .where(CopySubscription.trader_id == trader.id)
        .order_by(CopySubscription.status, CopySubscription.id.desc())
        .limit(LIST_SIZE)
    ).all()
    signals = db.session.scalars(
        select(CopySignal).where(CopySignal.trader_id == trader.id).order_by(CopySignal.id.desc()).limit(30)
    ).all()
    outcome = {}
    if signals:
        for order_id, status, count in db.session.execute(
            select(CopiedTrade.master_order_id, CopiedTrade.status, func.count())
            .where(CopiedTrade.master_order_id.in_([s.master_order_id for s in signals]))
            .group_by(CopiedTrade.master_order_id, CopiedTrade.status)
        ):
            outcome.setdefault(order_id, {})[status] = count
    settlements = db.session.scalars(profit_share.settlements_query(trader_id=trader.id).limit(50)).all()
    return render(
        "staff/copy_trading/trader.html",
        trader=trader,
        subs=subs,
        signals=signals,
        outcome=outcome,
        settlements=settlements,
    )


@bp.get("/settlements")
@staff_required(MANAGE)
def settlements_listing():
    """Profit-share settlements, newest first."""
    rows = db.session.scalars(profit_share.settlements_query().limit(LIST_SIZE)).all()
    return render("staff/copy_trading/settlements.html", rows=rows)
