"""Customer signals pages: the marketplace (providers' track records, plans), subscribing with a
confirm step, My signals (new ones arrive live), a signal's chart with its levels and one-click
execution with a preview, and My subscriptions (cancel, resume)."""

from flask import Blueprint, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.staff.forms import EmptyForm
from tradeapp.errors import DomainError, NotFound
from tradeapp.extensions import db
from tradeapp.models import SignalPlan, TradingSignal
from tradeapp.services import wallets
from tradeapp.services.signals import catalog, execution, record, subscriptions
from tradeapp.web import attempt, login_required, render, swap_row

from .charts import record_chart
from .forms import ExecuteForm, SubscribeForm

bp = Blueprint("signals", __name__, url_prefix="/signals")

LIST_LIMIT = 100


# -- My signals ------------------------------------------------------------------------------------


def _my_signals() -> list[TradingSignal]:
    query = execution.signals_query(current_user).options(
        selectinload(TradingSignal.pair), selectinload(TradingSignal.provider)
    )
    return list(db.session.scalars(query.limit(LIST_LIMIT)))


def _delivered() -> dict[int, object]:
    rows = db.session.scalars(execution.notifications_query(current_user).limit(LIST_LIMIT * 2))
    return {n.signal_id: n for n in rows}


@bp.get("/", endpoint="my_signals")
@login_required
def my_signals():
    """Signals of the plans you subscribe to, newest first; the list reloads itself when one arrives."""
    current = subscriptions.current_plan_ids(current_user.id)
    return render(
        "signals/my_signals.html",
        "signals/_signal_list.html",
        signals=_my_signals(),
        delivered=_delivered(),
        subscribed=bool(current),
    )


# -- the marketplace -------------------------------------------------------------------------------


@bp.get("/marketplace", endpoint="marketplace")
@login_required
def marketplace():
    """Every active provider with its track record (chart, per pair) and its plans on sale."""
    providers = list(db.session.scalars(catalog.providers_query()))
    plans = list(db.session.scalars(catalog.plans_query().options(selectinload(SignalPlan.pairs))))
    records = {p.id: record.track_record(p.id) for p in providers}
    return render(
        "signals/marketplace.html",
        providers=providers,
        plans_by_provider={p.id: [plan for plan in plans if plan.provider_id == p.id] for p in providers},
        records=records,
        charts={pid: record_chart(rec["outcomes"]) for pid, rec in records.items()},
        current=set(subscriptions.current_plan_ids(current_user.id)),
    )


@bp.route("/plans/<int:plan_id>/subscribe", methods=["GET", "POST"], endpoint="subscribe_confirm")
@login_required
@idempotent
def subscribe_confirm(plan_id: int):
    """The confirm step shows exactly what will be charged; posting it subscribes (once per key)."""
    form = SubscribeForm()
    if request.method == "POST":
        sub, error = attempt(
            form, lambda: subscriptions.subscribe(current_user, plan_id, auto_renew=bool(form.auto_renew.data))
        )
        if sub is not None:
            plan = sub.plan
            what = f"free trial until {sub.expires_at:%d %b %Y}" if sub.is_trial else "charged and active"
            return swap_row(
                "signals/_subscribe_done.html",
                redirect_to=url_for("signals.subscriptions_page"),
                notice=f"Subscribed to {plan.name}: {what}.",
                sub=sub,
            )
    else:
        error = None
    form.fresh_key()
    try:
        quote = subscriptions.quote(current_user, plan_id)
    except NotFound:
        raise
    status = 422 if error else 200
    return render(
        "signals/subscribe.html",
        "signals/_subscribe_form.html",
        status_code=status,
        form=form,
        quote=quote,
        plan=quote["plan"],
        error=error,
    )


# -- My subscriptions ------------------------------------------------------------------------------


@bp.get("/subscriptions", endpoint="subscriptions_page")
@login_required
def subscriptions_page():
    """Your subscriptions (current first, then history), with cancel and resume."""
    rows = list(db.session.scalars(subscriptions.subscriptions_query(current_user)))
    return render("signals/subscriptions.html", subs=rows, action_form=EmptyForm(formdata=None))


def _subscription_action(subscription_id: int, action, done: str):
    form = EmptyForm()
    sub, error = attempt(form, lambda: action(current_user, subscription_id))
    if sub is None:
        sub = subscriptions.get_subscription(current_user, subscription_id)
    return swap_row(
        "signals/_subscription_row.html",
        redirect_to=url_for("signals.subscriptions_page"),
        notice=None if error else done.format(name=sub.plan.name, until=f"{sub.expires_at:%d %b %Y}"),
        error=error,
        sub=sub,
        action_form=EmptyForm(formdata=None),
    )


@bp.post("/subscriptions/<int:subscription_id>/cancel", endpoint="subscription_cancel")
@login_required
def subscription_cancel(subscription_id: int):
    """Stop renewing; the signals stay until the paid time ends."""
    return _subscription_action(
        subscription_id, subscriptions.cancel, "{name} cancelled: your access lasts until {until}."
    )


@bp.post("/subscriptions/<int:subscription_id>/resume", endpoint="subscription_resume")
@login_required
def subscription_resume(subscription_id: int):
    """Renew again (before it ended)."""
    return _subscription_action(subscription_id, subscriptions.resume, "{name} renews again on {until}.")


# -- one signal ------------------------------------------------------------------------------------


def _signal(signal_id: int) -> TradingSignal:
    """:raise 404: not one of your signals."""
    return execution.get_signal(current_user, signal_id)


def _execute_context(signal: TradingSignal, form: ExecuteForm, **extra) -> dict:
    pair = signal.pair
    return {
        "signal": signal,
        "form": form,
        "note": execution.delivery_for(current_user, signal.id),
        "available": {
            code: wallets.wallet_or_empty(current_user, code).available_balance
            for code in (pair.base_currency, pair.quote_currency)
        },
        "open": signal.status == "active",
        **extra,
    }


@bp.get("/<int:signal_id>", endpoint="signal_detail")
@login_required
def signal_detail(signal_id: int):
    """The signal: chart with entry, stop-loss and take-profit, its outcome, and the execute panel."""
    signal = _signal(signal_id)
    execution.mark_signal_read(current_user, signal.id)
    form = ExecuteForm(formdata=None)
    form.fresh_key()
    return render("signals/signal.html", **_execute_context(signal, form))


@bp.post("/<int:signal_id>/preview", endpoint="signal_preview")
@login_required
def signal_preview(signal_id: int):
    """What executing would do right now (the execute panel's live preview); writes nothing.

    :raise 404: not one of your signals
    """
    _signal(signal_id)
    form = ExecuteForm()
    preview, error = None, None
    try:
        preview = execution.preview(current_user, signal_id, form.data_for_service())
    except NotFound:
        raise
    except DomainError as exc:
        error = exc.message
        db.session.rollback()
    return render("signals/_execute_preview.html", preview=preview, error=error)


@bp.post("/<int:signal_id>/execute", endpoint="signal_execute")
@login_required
@idempotent
def signal_execute(signal_id: int):
    """Place the signal's order (or close the position); the panel swaps itself with the result."""
    signal = _signal(signal_id)
    form = ExecuteForm()
    order, error = None, None
    if form.validate_on_submit():
        try:
            order = execution.execute(current_user, signal_id, form.data_for_service())
        except NotFound:
            raise
        except DomainError as exc:
            db.session.rollback()
            form.show_error(exc)
            error = exc.message
    else:
        error = " ".join(form.error_messages()) or "The form expired; reload the page."
    signal = _signal(signal_id)
    fresh = ExecuteForm(formdata=None)
    fresh.fresh_key()
    if order is not None:
        what = "Position close" if signal.signal_type == "close" else f"{order.order_type.capitalize()} {order.side}"
        notice = f"{what} order #{order.id}: {order.status.replace('_', ' ')}."
        return swap_row(
            "signals/_execute_panel.html",
            redirect_to=url_for("signals.signal_detail", signal_id=signal_id),
            notice=notice,
            trigger="ordersChanged",
            order=order,
            **_execute_context(signal, fresh),
        )
    form.fresh_key()
    return swap_row(
        "signals/_execute_panel.html",
        redirect_to=url_for("signals.signal_detail", signal_id=signal_id),
        page="signals/signal.html",
        error=error,
        **_execute_context(signal, form),
    )
