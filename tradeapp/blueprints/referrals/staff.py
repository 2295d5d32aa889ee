"""Staff console of the referral programme: review queue of held rewards, top referrers, settings, tiers, export.

Every route needs ``referrals.manage``; every change goes through the service, which audits it.
"""

import csv
import io
from datetime import datetime, timedelta

from flask import Blueprint, Response, request, url_for
from flask_login import current_user

from tradeapp.blueprints.staff.forms import EmptyForm
from tradeapp.errors import DomainError, NotFound
from tradeapp.extensions import db
from tradeapp.models import ReferralReward
from tradeapp.services import referrals
from tradeapp.services.referrals import queries
from tradeapp.services.referrals.programme import MANAGE, MONEY_FIELDS
from tradeapp.services.wallets import fmt
from tradeapp.web import FORM_EXPIRED, get_or_404, render, staff_required, swap_row

from .forms import ReviewForm, SettingsForm, TierForm

bp = Blueprint("staff_referrals", __name__, url_prefix="/staff/referrals")


SETTINGS_FIELDS = (
    "currency",
    "signup_bonus",
    "first_deposit_bonus",
    "first_deposit_minimum",
    "clearing_days",
    "monthly_cap",
    "burst_signups",
    "burst_hours",
)


def _settings_form() -> SettingsForm:
    """The settings form filled with the current values (amounts as plain strings)."""
    conf = referrals.settings()
    data = {}
    for name in SETTINGS_FIELDS:
        value = getattr(conf, name)
        data[name] = fmt(value, conf.currency) if name in MONEY_FIELDS else value
    return SettingsForm(formdata=None, data=data)


def _context(**extra) -> dict:
    held = list(db.session.scalars(queries.held_query().limit(200)))
    return {
        "held": held,
        "review_form": ReviewForm(formdata=None),
        "top": queries.top_referrers(),
        "conf": referrals.settings(),
        "tiers": referrals.tiers(),
        "settings_form": extra.pop("settings_form", None) or _settings_form(),
        "tier_form": extra.pop("tier_form", None) or TierForm(formdata=None),
        "delete_form": EmptyForm(formdata=None),
        **extra,
    }


@bp.get("/")
@staff_required(MANAGE)
def referrals_overview():
    """Review queue, top referrers, programme settings and tiers on one page."""
    return render("staff/referrals/overview.html", **_context())


# -- review queue -------------------------------------------------------------------------------------


def _review(reward_id: int, approve: bool):
    reward = get_or_404(ReferralReward, reward_id)
    form = ReviewForm()
    error = notice = None
    if not form.validate_on_submit():
        error = form.reason.errors[0] if form.reason.errors else FORM_EXPIRED
    else:
        try:
            action = referrals.approve_held if approve else referrals.cancel_held
            reward = action(current_user, reward.id, form.reason.data)
            notice = "Released: it is paid once cleared." if approve else "Cancelled; the referrer was told."
        except NotFound:
            raise
        except DomainError as exc:
            error = exc.message
    db.session.refresh(reward)
    return swap_row(
        "staff/referrals/_held_row.html",
        redirect_to=url_for("staff_referrals.referrals_overview"),
        notice=notice,
        error=error,
        reward=reward,
        review_form=form if error else ReviewForm(formdata=None),
        trigger="referralsChanged" if notice else None,
    )


@bp.post("/rewards/<int:reward_id>/approve")
@staff_required(MANAGE)
def reward_approve(reward_id):
    """Release a held reward (reason required, audited)."""
    return _review(reward_id, approve=True)


@bp.post("/rewards/<int:reward_id>/cancel")
@staff_required(MANAGE)
def reward_cancel(reward_id):
    """Cancel a held reward (reason required, audited; the referrer is notified)."""
    return _review(reward_id, approve=False)


# -- settings and tiers --------------------------------------------------------------------------------


@bp.post("/settings")
@staff_required(MANAGE)
def settings_update():
    """Change the programme settings (audited)."""
    form = SettingsForm()
    error = notice = None
    if not form.validate_on_submit():
        error = "Please correct the errors below."
    else:
        try:
            referrals.update_settings(current_user, form.values())
            notice = "Programme settings saved."
        except DomainError as exc:
            form.show_errors(exc.fields, exc.message)
            error = exc.message
    return swap_row(
        "staff/referrals/_settings.html",
        redirect_to=url_for("staff_referrals.referrals_overview"),
        page="staff/referrals/overview.html",
        page_context=lambda: _context(settings_form=form),
        notice=notice,
        error=error,
        settings_form=form if error else _settings_form(),
        conf=referrals.settings(),
    )


def _tiers_answer(form: TierForm, notice: str | None, error: str | None):
    return swap_row(
        "staff/referrals/_tiers.html",
        redirect_to=url_for("staff_referrals.referrals_overview"),
        page="staff/referrals/overview.html",
        page_context=lambda: _context(tier_form=form),
        notice=notice,
        error=error,
        tiers=referrals.tiers(),
        tier_form=form if error else TierForm(formdata=None),
        delete_form=EmptyForm(formdata=None),
        conf=referrals.settings(),
    )


@bp.post("/tiers")
@staff_required(MANAGE)
def tier_create():
    """Add a tier (audited)."""
    form = TierForm()
    error = notice = None
    if not form.validate_on_submit():
        error = "Please correct the errors below."
    else:
        try:
            tier = referrals.save_tier(current_user, form.values())
            notice = f"Tier {tier.name} added."
        except DomainError as exc:
            form.show_errors(exc.fields, exc.message)
            error = exc.message
    return _tiers_answer(form, notice, error)


@bp.post("/tiers/<int:tier_id>/delete")
@staff_required(MANAGE)
def tier_delete(tier_id):
    """Remove a tier (audited); referrers fall to the tier below."""
    form = EmptyForm()
    error = notice = None
    if not form.validate_on_submit():
        error = FORM_EXPIRED
    else:
        try:
            referrals.delete_tier(current_user, tier_id)
            notice = "Tier removed."
        except NotFound:
            raise
        except DomainError as exc:
            error = exc.message
    return _tiers_answer(TierForm(formdata=None), notice, error)


# -- export ------------------------------------------------------------------------------------------


@bp.get("/export.csv")
@staff_required(MANAGE)
def rewards_export():
    """Every reward of a period (``?from=YYYY-MM-DD&to=YYYY-MM-DD``, ``to`` inclusive) for accounting."""

    def day(name):
        try:
            return datetime.strptime(request.args.get(name, ""), "%Y-%m-%d")
        except ValueError:
            return None

    start, end = day("from"), day("to")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(queries.EXPORT_COLUMNS)
    for row in queries.export_rows(start, end + timedelta(days=1) if end else None):
        writer.writerow(row)
    response = Response(buf.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="referral-rewards-export.csv"'
    return response
