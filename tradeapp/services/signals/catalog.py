"""Providers and plans: staff create and edit them (``signals.manage``); customers browse them.

Every change is validated here, whoever calls (page or API), and audited with before/after.
"""

from decimal import Decimal

from sqlalchemy import select

from tradeapp.amounts import AmountError, parse_decimal
from tradeapp.currencies import CurrencyError, get_currency
from tradeapp.errors import NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import SignalPlan, SignalProvider, TradingPair, User
from tradeapp.models.signals import PROVIDER_TYPES
from tradeapp.services import audit
from tradeapp.services.uow import unit_of_work

MANAGE = "signals.manage"
PUBLISH = "signals.publish"
MAX_DAYS = 3650
MAX_PER_DAY = 1000
MAX_PRICE = Decimal("1000000")


# -- reading ---------------------------------------------------------------------------------------


def providers_query(active_only: bool = True):
    query = select(SignalProvider).order_by(SignalProvider.name)
    return query.where(SignalProvider.is_active) if active_only else query


def plans_query(active_only: bool = True, provider_id: int | None = None):
    query = select(SignalPlan).join(SignalProvider).order_by(SignalProvider.name, SignalPlan.price, SignalPlan.id)
    if active_only:
        query = query.where(SignalPlan.is_active, SignalProvider.is_active)
    if provider_id is not None:
        query = query.where(SignalPlan.provider_id == provider_id)
    return query


def get_provider(provider_id: int, active_only: bool = True) -> SignalProvider:
    """:raise NotFound: unknown (or, by default, inactive) provider."""
    provider = db.session.get(SignalProvider, provider_id)
    if provider is None or (active_only and not provider.is_active):
        raise NotFound("No such signal provider.")
    return provider


def get_plan(plan_id: int, active_only: bool = True) -> SignalPlan:
    """:raise NotFound: unknown (or, by default, inactive) plan."""
    plan = db.session.get(SignalPlan, plan_id)
    if plan is None or (active_only and not (plan.is_active and plan.provider.is_active)):
        raise NotFound("No such signal plan.")
    return plan


# -- validation ------------------------------------------------------------------------------------


def _text(data: dict, name: str, errors: dict, *, required: bool = False, max_len: int | None = None) -> str:
    value = str(data.get(name) or "").strip()
    if required and not value:
        errors[name] = ["This field is required."]
    elif max_len is not None and len(value) > max_len:
        errors[name] = [f"At most {max_len} characters."]
    return value


def _int(data: dict, name: str, errors: dict, *, minimum: int, maximum: int, default: int | None = None) -> int:
    raw = data.get(name)
    if raw in (None, "") and default is not None:
        return default
    text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        errors[name] = [f"A whole number from {minimum} to {maximum}."]
        return minimum
    return int(text)


def _bool(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes", "y")
    return bool(value)


def _provider_values(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    values = {
        "name": _text(data, "name", errors, required=True, max_len=100),
        "description": _text(data, "description", errors, max_len=5000),
        "provider_type": _text(data, "provider_type", errors) or "in_house",
        "is_active": _bool(data, "is_active", True),
    }
    if values["provider_type"] not in PROVIDER_TYPES:
        errors["provider_type"] = [f"One of {', '.join(PROVIDER_TYPES)}."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return values


def _plan_values(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    values: dict = {
        "name": _text(data, "name", errors, required=True, max_len=100),
        "description": _text(data, "description", errors, max_len=5000),
        "duration_days": _int(data, "duration_days", errors, minimum=1, maximum=MAX_DAYS),
        "trial_days": _int(data, "trial_days", errors, minimum=0, maximum=365, default=0),
        "max_signals_per_day": _int(data, "max_signals_per_day", errors, minimum=1, maximum=MAX_PER_DAY),
        "is_active": _bool(data, "is_active", True),
    }
    currency = _text(data, "currency", errors) or "USD"
    try:
        values["currency"] = get_currency(currency).code
    except CurrencyError as exc:
        errors["currency"] = [str(exc)]
        values["currency"] = None
    try:
        decimals = get_currency(values["currency"]).decimals if values["currency"] else 8
        values["price"] = parse_decimal(data.get("price"), decimals=decimals, allow_zero=True)
        if values["price"] > MAX_PRICE:
            errors["price"] = [f"At most {MAX_PRICE}."]
    except AmountError as exc:
        errors["price"] = [str(exc)]
    provider = None
    raw_provider = data.get("provider", data.get("provider_id"))
    if str(raw_provider or "").isdigit():
        provider = db.session.get(SignalProvider, int(raw_provider))
    if provider is None:
        errors["provider"] = ["Choose a provider."]
    values["provider_id"] = provider.id if provider else None
    pair_ids = data.get("trading_pairs", data.get("pairs")) or []
    if isinstance(pair_ids, str | int):
        pair_ids = [pair_ids]
    ids = sorted({int(p) for p in pair_ids if str(p).isdigit()})
    found = list(db.session.scalars(select(TradingPair).where(TradingPair.id.in_(ids)))) if ids else []
    if not found or len(found) != len(ids):
        errors["trading_pairs"] = ["Choose at least one existing trading pair."]
    values["pairs"] = found
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return values


def _snapshot(obj, names) -> dict:
    out = {}
    for name in names:
        value = getattr(obj, name)
        if name == "pairs":
            value = [p.symbol for p in value]
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out


# -- writing ---------------------------------------------------------------------------------------


def save_provider(actor: User, data: dict, provider_id: int | None = None) -> SignalProvider:
    """Create a provider, or edit ``provider_id``; audited.

    :raise ValidationFailed: missing name, unknown type, a name already used
    """
    values = _provider_values(data)
    with unit_of_work() as uow:
        taken = db.session.scalar(
            select(SignalProvider.id).where(
                SignalProvider.name == values["name"], SignalProvider.id != (provider_id or 0)
            )
        )
        if taken:
            raise ValidationFailed(
                "Please correct the highlighted fields.", {"name": ["Another provider has this name."]}
            )
        if provider_id is None:
            provider = SignalProvider(**values)
            db.session.add(provider)
            db.session.flush()
            audit.record(actor, "signal_provider.create", provider, after=_snapshot(provider, values))
        else:
            provider = get_provider(provider_id, active_only=False)
            before = _snapshot(provider, values)
            for name, value in values.items():
                setattr(provider, name, value)
            audit.record(actor, "signal_provider.update", provider, before=before, after=_snapshot(provider, values))
        uow.keep(provider)
    return provider


def save_plan(actor: User, data: dict, plan_id: int | None = None) -> SignalPlan:
    """Create a plan, or edit ``plan_id`` (price changes apply from the next renewal); audited.

    :raise ValidationFailed: bad price, days, limit, provider or pairs
    """
    values = _plan_values(data)
    names = list(values)
    with unit_of_work() as uow:
        if plan_id is None:
            plan = SignalPlan(**values)
            db.session.add(plan)
            db.session.flush()
            audit.record(actor, "signal_plan.create", plan, after=_snapshot(plan, names))
        else:
            plan = get_plan(plan_id, active_only=False)
            before = _snapshot(plan, names)
            for name, value in values.items():
                setattr(plan, name, value)
            audit.record(actor, "signal_plan.update", plan, before=before, after=_snapshot(plan, names))
        uow.keep(plan)
    return plan
