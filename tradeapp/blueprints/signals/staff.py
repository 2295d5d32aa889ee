"""Staff signals console: providers and plans (``signals.manage``), the analyst's publish form with a
live preview and the signal outcomes (``signals.publish``), subscription revenue (``signals.manage``).
Every change goes through the services, which audit it."""

from flask import Blueprint, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import SignalPlan, SignalProvider, TradingSignal
from tradeapp.models.signals import SIGNAL_STATUSES
from tradeapp.services.signals import catalog, publishing, record, reports
from tradeapp.services.trading import pairs
from tradeapp.web import get_or_404, render, staff_required, swap_row

from .forms import PlanForm, ProviderForm, PublishForm

bp = Blueprint("staff_signals", __name__, url_prefix="/staff/signals")

MANAGE = catalog.MANAGE
PUBLISH = catalog.PUBLISH
OUTCOMES_LIMIT = 200


# -- providers -------------------------------------------------------------------------------------


def _providers_page(form: ProviderForm | None = None, edit: SignalProvider | None = None, status: int = 200, **extra):
    providers = list(db.session.scalars(catalog.providers_query(active_only=False)))
    return render(
        "staff/signals/providers.html",
        "staff/signals/_provider_form.html",
        status_code=status,
        providers=providers,
        records={p.id: record.track_record(p.id)["overall"] for p in providers},
        form=form or ProviderForm(formdata=None),
        edit=edit,
        **extra,
    )


@bp.get("/providers", endpoint="providers")
@staff_required(MANAGE)
def providers_listing():
    """Every provider, active or not, with its track record; the create form."""
    edit_id = request.args.get("edit", type=int)
    edit = db.session.get(SignalProvider, edit_id) if edit_id else None
    form = ProviderForm(formdata=None, obj=edit) if edit else None
    return _providers_page(form, edit)


@bp.post("/providers", endpoint="provider_save")
@staff_required(MANAGE)
def provider_save():
    """Create a provider, or edit the one named by ``provider_id`` (the form's hidden field)."""
    form = ProviderForm()
    raw_id = request.form.get("provider_id", "")
    edit = get_or_404(SignalProvider, int(raw_id)) if raw_id.isdigit() else None
    if form.validate_on_submit():
        try:
            provider = catalog.save_provider(current_user, form.values(), edit.id if edit else None)
        except DomainError as exc:
            form.show_error(exc)
        else:
            return swap_row(
                "staff/signals/_provider_form.html",
                redirect_to=url_for("staff_signals.providers"),
                notice=f"{provider.name} saved.",
                trigger="providersChanged",
                form=ProviderForm(formdata=None),
                edit=None,
            )
    return _providers_page(form, edit, status=422, error=" ".join(form.error_messages()) or "Check the form.")


@bp.get("/providers/table", endpoint="providers_table")
@staff_required(MANAGE)
def providers_table():
    providers = list(db.session.scalars(catalog.providers_query(active_only=False)))
    return render(
        "staff/signals/providers.html",
        "staff/signals/_provider_table.html",
        page_context=lambda: {"form": ProviderForm(formdata=None), "edit": None},
        providers=providers,
        records={p.id: record.track_record(p.id)["overall"] for p in providers},
    )


# -- plans -----------------------------------------------------------------------------------------


def _plan_form(formdata=True, plan: SignalPlan | None = None) -> PlanForm:
    form = PlanForm() if formdata else PlanForm(formdata=None)
    form.provider.choices = [
        (str(p.id), p.name) for p in db.session.scalars(catalog.providers_query(active_only=False))
    ]
    form.trading_pairs.choices = [(str(p.id), p.symbol) for p in pairs.all_pairs()]
    if plan is not None and not formdata:
        form.provider.data = str(plan.provider_id)
        form.name.data = plan.name
        form.price.data = format(plan.price.normalize(), "f")
        form.currency.data = plan.currency
        form.duration_days.data = str(plan.duration_days)
        form.trial_days.data = str(plan.trial_days)
        form.max_signals_per_day.data = str(plan.max_signals_per_day)
        form.trading_pairs.data = [str(p.id) for p in plan.pairs]
        form.description.data = plan.description
        form.is_active.data = plan.is_active
    return form


def _plans_page(form: PlanForm, edit: SignalPlan | None = None, status: int = 200, **extra):
    plans = list(
        db.session.scalars(
            catalog.plans_query(active_only=False).options(
                selectinload(SignalPlan.pairs), selectinload(SignalPlan.provider)
            )
        )
    )
    return render(
        "staff/signals/plans.html",
        "staff/signals/_plan_form.html",
        status_code=status,
        plans=plans,
        form=form,
        edit=edit,
        **extra,
    )


@bp.get("/plans", endpoint="plans")
@staff_required(MANAGE)
def plans_listing():
    """Every plan with its price, duration, trial, daily limit and pairs; the create/edit form."""
    edit_id = request.args.get("edit", type=int)
    edit = db.session.get(SignalPlan, edit_id) if edit_id else None
    return _plans_page(_plan_form(formdata=False, plan=edit), edit)


@bp.post("/plans", endpoint="plan_save")
@staff_required(MANAGE)
def plan_save():
    """Create a plan, or edit the one named by ``plan_id``; a new price applies from the next renewal."""
    form = _plan_form()
    raw_id = request.form.get("plan_id", "")
    edit = get_or_404(SignalPlan, int(raw_id)) if raw_id.isdigit() else None
    if form.validate_on_submit():
        try:
            plan = catalog.save_plan(current_user, form.values(), edit.id if edit else None)
        except DomainError as exc:
            form.show_error(exc)
        else:
            return swap_row(
                "staff/signals/_plan_form.html",
                redirect_to=url_for("staff_signals.plans"),
                notice=f"{plan.name} saved.",
                trigger="plansChanged",
                form=_plan_form(formdata=False),
                edit=None,
            )
    return _plans_page(form, edit, status=422, error=" ".join(form.error_messages()) or "Check the form.")


@bp.get("/plans/table", endpoint="plans_table")
@staff_required(MANAGE)
def plans_table():
    plans = list(
        db.session.scalars(
            catalog.plans_query(active_only=False).options(
                selectinload(SignalPlan.pairs), selectinload(SignalPlan.provider)
            )
        )
    )
    # the whole page when opened directly (a bookmark, a new tab), the table for the HTMX refresh
    return render(
        "staff/signals/plans.html",
        "staff/signals/_plan_table.html",
        plans=plans,
        page_context=lambda: {"form": _plan_form(formdata=False), "edit": None},
    )


# -- publishing ------------------------------------------------------------------------------------


def _publish_form(formdata=True) -> PublishForm:
    form = PublishForm() if formdata else PublishForm(formdata=None)
    form.provider.choices = [(str(p.id), p.name) for p in db.session.scalars(catalog.providers_query())]
    form.trading_pair.choices = [(str(p.id), p.symbol) for p in db.session.scalars(pairs.pairs_query())]
    return form


def _recent(limit: int = 10) -> list[TradingSignal]:
    return list(db.session.scalars(reports.outcomes_query().limit(limit)))


@bp.get("/publish", endpoint="publish")
@staff_required(PUBLISH)
def publish_page():
    """The analyst's form, its live preview (levels, risk/reward, which plans it reaches) and the latest signals."""
    return render("staff/signals/publish.html", form=_publish_form(formdata=False), preview=None, recent=_recent())


@bp.post("/publish/preview", endpoint="publish_preview")
@staff_required(PUBLISH)
def publish_preview():
    """The preview panel for what the form holds now (nothing is written)."""
    form = _publish_form()
    preview, error, fields = None, None, {}
    try:
        preview = publishing.preview(form.values())
    except DomainError as exc:
        db.session.rollback()
        error, fields = exc.message, exc.fields
    return render(
        "staff/signals/_publish_preview.html",
        preview=preview,
        levels=_levels(preview["draft"]) if preview else [],
        error=error,
        fields=fields,
    )


def _levels(draft) -> list[tuple[str, object, float]]:
    """(name, price, y) of the take-profit, entry and stop-loss for the preview's little level chart."""
    given = [
        (n, v) for n, v in (("target", draft.take_profit), ("entry", draft.entry_price), ("stop", draft.stop_loss)) if v
    ]
    high, low = max(v for _, v in given), min(v for _, v in given)
    span = (high - low) or 1
    return [(name, value, round(10 + float((high - value) / span) * 100, 1)) for name, value in given]


@bp.post("/publish", endpoint="publish_create")
@staff_required(PUBLISH)
def publish_create():
    """Publish; subscribers are reached by the fan-out job. Errors show on the form's fields."""
    form = _publish_form()
    if form.validate_on_submit():
        try:
            signal = publishing.publish(current_user, form.values())
        except DomainError as exc:
            form.show_error(exc)
        else:
            return swap_row(
                "staff/signals/_publish_form.html",
                redirect_to=url_for("staff_signals.publish"),
                notice=f"Signal #{signal.id} published: {signal.signal_type.upper()} {signal.pair.symbol}. "
                "Subscribers are being notified.",
                trigger="signalsChanged",
                form=_publish_form(formdata=False),
            )
    return swap_row(
        "staff/signals/_publish_form.html",
        redirect_to=url_for("staff_signals.publish"),
        page="staff/signals/publish.html",
        page_context=lambda: {"preview": None, "recent": _recent()},
        error=" ".join(form.error_messages()) or "Check the form.",
        form=form,
    )


@bp.get("/recent", endpoint="recent")
@staff_required(PUBLISH)
def recent_signals():
    return render("staff/signals/_recent.html", recent=_recent())


# -- outcomes and revenue --------------------------------------------------------------------------


@bp.get("/outcomes", endpoint="outcomes")
@staff_required(PUBLISH)
def outcomes():
    """Every signal with its outcome as decided from platform prices, and each provider's record."""
    status = request.args.get("status") if request.args.get("status") in SIGNAL_STATUSES else None
    signals = list(
        db.session.scalars(
            reports.outcomes_query(status)
            .options(selectinload(TradingSignal.pair), selectinload(TradingSignal.provider))
            .limit(OUTCOMES_LIMIT)
        )
    )
    providers = list(db.session.scalars(select(SignalProvider).order_by(SignalProvider.name)))
    return render(
        "staff/signals/outcomes.html",
        signals=signals,
        status=status,
        statuses=SIGNAL_STATUSES,
        providers=providers,
        records={p.id: record.track_record(p.id) for p in providers},
    )


@bp.get("/revenue", endpoint="revenue")
@staff_required(MANAGE)
def revenue():
    """Subscription revenue per plan and month, and subscribers per plan."""
    return render("staff/signals/revenue.html", report=reports.revenue())
