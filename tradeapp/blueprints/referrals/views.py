"""The customer's referral page: link (copy, QR), tier progress, monthly charts, rewards and referred friends."""

import csv
import io
from decimal import Decimal

import segno
from flask import Blueprint, Response, request, url_for
from flask_login import current_user

from tradeapp.extensions import db
from tradeapp.mail import public_url
from tradeapp.models import ReferralReward
from tradeapp.models.referrals import REWARD_TYPES
from tradeapp.services.referrals import queries
from tradeapp.web import login_required, render

from .schemas import API_STATUS

bp = Blueprint("referrals", __name__, url_prefix="/referrals")

PAGE_SIZE = 20
CHART_W, CHART_H, CHART_PAD = 560, 180, 24
STATUS_FILTERS = ("pending", "held", "paid", "cancelled", "clawed_back")


def _link(user) -> str:
    return public_url("users.register", ref=user.referral_code)


def bars(values: list, labels: list[str]) -> dict:
    """Geometry of a server-drawn bar chart (SVG in the template; no script, no inline style)."""
    top = max([Decimal(v) for v in values] + [Decimal(1)])
    n = max(len(values), 1)
    slot = (CHART_W - 2 * CHART_PAD) / n
    out = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = float(Decimal(value) / top) * (CHART_H - 2 * CHART_PAD)
        out.append(
            {
                "x": round(CHART_PAD + i * slot + slot * 0.15, 1),
                "y": round(CHART_H - CHART_PAD - height, 1),
                "w": round(slot * 0.7, 1),
                "h": round(height, 1),
                "label": label[5:],
                "lx": round(CHART_PAD + i * slot + slot / 2, 1),
                "value": value,
            }
        )
    return {"bars": out, "w": CHART_W, "h": CHART_H, "base": CHART_H - CHART_PAD, "top": top}


def _rewards_context():
    status = request.args.get("status") or ""
    reward_type = request.args.get("reward_type") or ""
    if status not in STATUS_FILTERS:
        status = ""
    if reward_type not in REWARD_TYPES:
        reward_type = ""
    query = queries.rewards_query(current_user, None, reward_type or None)
    if status:
        query = query.where(ReferralReward.status == status)
    page = request.args.get("page", 1, type=int) or 1
    results = db.paginate(query, page=max(page, 1), per_page=PAGE_SIZE, error_out=False)
    return {
        "results": results,
        "filters": {"status": status, "reward_type": reward_type},
        "statuses": STATUS_FILTERS,
        "types": REWARD_TYPES,
        "page_url": lambda p: url_for(
            "referrals.referral_page", page=p, status=status or None, reward_type=reward_type or None
        ),
        "csv_url": url_for("referrals.rewards_csv", status=status or None, reward_type=reward_type or None),
    }


@bp.get("/")
@login_required
def referral_page():
    """The whole page; an HTMX request (filters, pages) gets the rewards table only."""

    def page_context() -> dict:
        stats = queries.stats(current_user)
        series = queries.monthly(current_user)
        return {
            "stats": stats,
            "link": _link(current_user),
            "tiers": queries.programme.tiers(),
            "conf": queries.programme.settings(),
            "joined_chart": bars(series["joined"], series["months"]),
            "earned_chart": bars(series["earned"], series["months"]),
            "series": series,
            "friends": queries.referred_users(current_user),
        }

    return render("referrals/page.html", "referrals/_rewards.html", page_context=page_context, **_rewards_context())


@bp.get("/qr.svg")
@login_required
def referral_qr():
    """The referral link as a QR code (SVG)."""
    buf = io.BytesIO()
    segno.make(_link(current_user), error="m").save(buf, kind="svg", scale=5, dark="#0f172a", light="#ffffff")
    response = Response(buf.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/rewards.csv")
@login_required
def rewards_csv():
    """The rewards (with the page's filters) as CSV: the referee by username only."""
    status = request.args.get("status") or None
    reward_type = request.args.get("reward_type") or None
    query = queries.rewards_query(current_user, None, reward_type if reward_type in REWARD_TYPES else None)
    if status in STATUS_FILTERS:
        query = query.where(ReferralReward.status == status)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        [
            "id",
            "created_at",
            "referred_user",
            "reward_type",
            "amount",
            "currency",
            "status",
            "clears_at",
            "paid_at",
            "reason",
        ]
    )
    for r in db.session.scalars(query):
        writer.writerow(
            [
                r.id,
                r.created_at.isoformat(),
                queries.csv_cell(r.referee.username),
                r.reward_type,
                f"{r.amount:f}",
                r.currency,
                API_STATUS[r.status] if r.status != "held" else "held",
                r.clears_at.isoformat(),
                r.paid_at.isoformat() if r.paid_at else "",
                queries.csv_cell(r.reason),
            ]
        )
    response = Response(buf.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="referral-rewards.csv"'
    return response
