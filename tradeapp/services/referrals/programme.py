"""Programme settings and tiers: what staff with ``referrals.manage`` edit, what every reward reads."""

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp.amounts import AmountError, parse_decimal
from tradeapp.currencies import CURRENCIES, CurrencyError, get_currency, parse_amount
from tradeapp.errors import NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Referral, ReferralSettings, ReferralTier, User
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, rows
from tradeapp.services.uow import unit_of_work

MANAGE = "referrals.manage"
SETTINGS_ID = 1
MONEY_FIELDS = ("signup_bonus", "first_deposit_bonus", "first_deposit_minimum", "monthly_cap")
INT_FIELDS = {"clearing_days": (0, 365), "burst_signups": (2, 1000), "burst_hours": (1, 24 * 30)}


def settings() -> ReferralSettings:
    """The programme's settings row, created with the defaults on first use (race-safe)."""
    row = db.session.get(ReferralSettings, SETTINGS_ID)
    if row is None:
        defaults = {c.name: c.default.arg for c in ReferralSettings.__table__.columns if c.default is not None}
        defaults.pop("updated_at", None)
        db.session.execute(
            rows.upsert_insert(ReferralSettings)
            .values(id=SETTINGS_ID, updated_at=utcnow(), **defaults)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = db.session.get(ReferralSettings, SETTINGS_ID)
    return row


def _check_staff(staff: User) -> None:
    if not has_permission(staff, MANAGE):
        raise PermissionDenied("You may not manage the referral programme.")


def _money(values: dict, name: str, currency: str, errors: dict) -> Decimal | None:
    raw = values.get(name)
    if raw in (None, ""):
        errors.setdefault(name, []).append("This field is required.")
        return None
    try:
        value = parse_amount(raw, currency, allow_zero=True)
    except CurrencyError as exc:
        errors.setdefault(name, []).append(str(exc))
        return None
    return value


def _int(values: dict, name: str, low: int, high: int, errors: dict) -> int | None:
    try:
        value = int(str(values.get(name, "")).strip())
    except ValueError:
        errors.setdefault(name, []).append("Enter a whole number.")
        return None
    if not low <= value <= high:
        errors.setdefault(name, []).append(f"Use a number from {low} to {high}.")
        return None
    return value


def update_settings(staff: User, values: dict) -> ReferralSettings:
    """Change the programme settings (all fields at once); audited with before and after.

    :raise PermissionDenied: without referrals.manage
    :raise ValidationFailed: a bad value (nothing changes)
    """
    _check_staff(staff)
    errors: dict[str, list[str]] = {}
    currency = str(values.get("currency") or "").strip().upper()
    if currency not in CURRENCIES:
        errors["currency"] = ["Choose a known currency."]
        currency = "USD"
    clean: dict = {"currency": currency}
    for name in MONEY_FIELDS:
        clean[name] = _money(values, name, currency, errors)
    for name, (low, high) in INT_FIELDS.items():
        clean[name] = _int(values, name, low, high, errors)
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    with unit_of_work():
        row = rows.lock(ReferralSettings, settings().id)
        before = {k: str(getattr(row, k)) for k in clean}
        for key, value in clean.items():
            setattr(row, key, value)
        row.updated_by_id = staff.id
        audit.record(
            staff, "referrals.settings_updated", row, before=before, after={k: str(v) for k, v in clean.items()}
        )
    return row


# -- tiers -------------------------------------------------------------------------------------------


def tiers() -> list[ReferralTier]:
    return list(db.session.scalars(select(ReferralTier).order_by(ReferralTier.min_referrals)))


def tier_for(count: int) -> ReferralTier | None:
    """The highest tier ``count`` qualified referrals reach (None below the first)."""
    return db.session.scalar(
        select(ReferralTier)
        .where(ReferralTier.min_referrals <= count)
        .order_by(ReferralTier.min_referrals.desc())
        .limit(1)
    )


def next_tier(count: int) -> ReferralTier | None:
    return db.session.scalar(
        select(ReferralTier).where(ReferralTier.min_referrals > count).order_by(ReferralTier.min_referrals).limit(1)
    )


def qualified_count(referrer_id: int) -> int:
    """Referrals whose referee verified their identity and were not disqualified: what the tier follows."""
    return db.session.scalar(
        select(func.count())
        .select_from(Referral)
        .where(
            Referral.referrer_id == referrer_id,
            Referral.qualified_at.is_not(None),
            Referral.status != "disqualified",
        )
    )


def commission_percentage(referrer_id: int) -> Decimal:
    tier = tier_for(qualified_count(referrer_id))
    return tier.commission_percentage if tier is not None else Decimal(0)


def _tier_values(values: dict) -> dict:
    errors: dict[str, list[str]] = {}
    name = " ".join(str(values.get("name") or "").split())
    if not name:
        errors["name"] = ["Give the tier a name."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    min_referrals = _int(values, "min_referrals", 0, 1_000_000, errors)
    pct = None
    raw_pct = values.get("commission_percentage")
    if raw_pct in (None, ""):
        errors["commission_percentage"] = ["This field is required."]
    else:
        try:
            pct = parse_decimal(raw_pct, decimals=4, allow_zero=True)
        except AmountError as exc:
            errors["commission_percentage"] = [str(exc)]
        else:
            if pct > 100:
                errors["commission_percentage"] = ["At most 100%."]
    bonus = Decimal(0)
    if values.get("bonus_amount") not in (None, ""):
        bonus = _money(values, "bonus_amount", settings().currency, errors) or Decimal(0)
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    return {"name": name, "min_referrals": min_referrals, "commission_percentage": pct, "bonus_amount": bonus}


def _duplicate() -> ValidationFailed:
    return ValidationFailed(
        "Another tier has this name or threshold.",
        {"name": ["Names must be unique."], "min_referrals": ["Thresholds must be unique."]},
    )


def save_tier(staff: User, values: dict, tier_id: int | None = None) -> ReferralTier:
    """Create a tier, or change tier ``tier_id``; audited.

    :raise PermissionDenied: without referrals.manage
    :raise ValidationFailed: bad values, or a name or threshold another tier has
    :raise NotFound: no tier ``tier_id``
    """
    _check_staff(staff)
    clean = _tier_values(values)
    try:
        with unit_of_work():
            if tier_id is None:
                tier = ReferralTier(**clean)
                db.session.add(tier)
                before = None
            else:
                tier = rows.lock(ReferralTier, tier_id)
                if tier is None:
                    raise NotFound("No such tier.")
                before = _tier_dict(tier)
                for key, value in clean.items():
                    setattr(tier, key, value)
            db.session.flush()
            action = "referrals.tier_created" if before is None else "referrals.tier_updated"
            audit.record(staff, action, tier, before=before, after=_tier_dict(tier))
    except IntegrityError:
        raise _duplicate() from None
    return tier


def delete_tier(staff: User, tier_id: int) -> None:
    """Remove a tier (referrers fall to the tier below); audited."""
    _check_staff(staff)
    with unit_of_work():
        tier = rows.lock(ReferralTier, tier_id)
        if tier is None:
            raise NotFound("No such tier.")
        audit.record(staff, "referrals.tier_deleted", tier, before=_tier_dict(tier))
        db.session.delete(tier)


def _tier_dict(tier: ReferralTier) -> dict:
    return {
        "name": tier.name,
        "min_referrals": tier.min_referrals,
        "commission_percentage": str(tier.commission_percentage),
        "bonus_amount": str(tier.bonus_amount),
    }


def quantum(currency: str) -> Decimal:
    return get_currency(currency).quantum
