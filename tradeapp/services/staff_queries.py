"""Read-side queries for the staff console: counts, user search, audit trails. Nothing here writes."""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import joinedload

from tradeapp.extensions import db
from tradeapp.models import AuditLog, User
from tradeapp.models.types import utcnow
from tradeapp.models.users import STAFF_ROLES

PER_PAGE = 25


def _like(term: str) -> str:
    """A case-insensitive ``contains`` pattern with LIKE wildcards escaped."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


# -- dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardStats:
    customers: int
    new_this_week: int
    pending_kyc: int
    disabled: int
    audit_today: int
    staff_by_role: dict[str, int]

    @property
    def staff_total(self) -> int:
        return sum(self.staff_by_role.values())


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def dashboard_stats() -> DashboardStats:
    now = utcnow()
    customers = select(User.id).where(User.role.is_(None))
    by_role = dict(
        db.session.execute(select(User.role, func.count()).where(User.role.is_not(None)).group_by(User.role)).all()
    )
    return DashboardStats(
        customers=_count(customers),
        new_this_week=_count(customers.where(User.created_at >= now - timedelta(days=7))),
        pending_kyc=_count(select(User.id).where(User.kyc_status == "pending")),
        disabled=_count(select(User.id).where(User.is_active_flag.is_(False))),
        audit_today=_count(select(AuditLog.id).where(AuditLog.created_at >= start_of_day(now.date()))),
        staff_by_role={role: by_role.get(role, 0) for role in STAFF_ROLES},
    )


def staff_members() -> dict[str, list[User]]:
    """Staff accounts grouped by role, in the roles' canonical order."""
    grouped: dict[str, list[User]] = {role: [] for role in STAFF_ROLES}
    for user in db.session.scalars(select(User).where(User.role.is_not(None)).order_by(User.email)):
        grouped.setdefault(user.role, []).append(user)
    return grouped


# -- users -------------------------------------------------------------------------------------


@dataclass
class UserFilters:
    """The users list's filters; empty strings mean "any"."""

    q: str = ""
    type: str = ""  # customers | staff
    role: str = ""
    kyc: str = ""
    verified: str = ""  # yes | no
    status: str = ""  # active | disabled

    def active(self) -> bool:
        return any(vars(self).values())


def users_query(filters: UserFilters):
    query = select(User)
    term = filters.q.strip()
    if term:
        pattern = _like(term)
        query = query.where(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.username).like(pattern, escape="\\"),
                func.lower(User.first_name + " " + User.last_name).like(pattern, escape="\\"),
                func.lower(User.phone_number).like(pattern, escape="\\"),
                User.referral_code == term.upper(),
            )
        )
    if filters.type == "customers":
        query = query.where(User.role.is_(None))
    elif filters.type == "staff":
        query = query.where(User.role.is_not(None))
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.kyc:
        query = query.where(User.kyc_status == filters.kyc)
    if filters.verified == "yes":
        query = query.where(User.email_verified_at.is_not(None))
    elif filters.verified == "no":
        query = query.where(User.email_verified_at.is_(None))
    if filters.status == "active":
        query = query.where(User.is_active_flag.is_(True))
    elif filters.status == "disabled":
        query = query.where(User.is_active_flag.is_(False))
    return query.order_by(User.created_at.desc(), User.id.desc())


def search_users(filters: UserFilters, page: int = 1, per_page: int = PER_PAGE):
    """A page of users matching ``filters``, newest first (Flask-SQLAlchemy Pagination)."""
    return db.paginate(users_query(filters), page=max(page, 1), per_page=per_page, error_out=False)


@dataclass(frozen=True)
class ReferralInfo:
    referred_by: User | None
    referred_count: int


def referral_info(user: User) -> ReferralInfo:
    count = _count(select(User.id).where(User.referred_by_id == user.id))
    return ReferralInfo(referred_by=user.referred_by, referred_count=count)


def user_audit_trail(user: User, limit: int = 50) -> list[AuditLog]:
    """Audit rows about ``user`` and rows where they acted (staff actions), newest first."""
    query = (
        select(AuditLog)
        .options(joinedload(AuditLog.actor))
        .where(
            or_(
                (AuditLog.target_type == User.__tablename__) & (AuditLog.target_id == str(user.id)),
                AuditLog.actor_id == user.id,
            )
        )
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


# -- audit log -----------------------------------------------------------------------------------


@dataclass
class AuditFilters:
    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def active(self) -> bool:
        return any(vars(self).values())


def audit_query(filters: AuditFilters):
    query = select(AuditLog).options(joinedload(AuditLog.actor))
    if filters.actor.strip():
        actor_ids = select(User.id).where(func.lower(User.email).like(_like(filters.actor.strip()), escape="\\"))
        query = query.where(AuditLog.actor_id.in_(actor_ids))
    if filters.action.strip():
        # A prefix, so "user." finds every action on users.
        prefix = filters.action.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditLog.action.like(prefix + "%", escape="\\"))
    if filters.target_type.strip():
        query = query.where(AuditLog.target_type == filters.target_type.strip())
    if filters.target_id.strip():
        query = query.where(AuditLog.target_id == filters.target_id.strip())
    if filters.date_from:
        query = query.where(AuditLog.created_at >= start_of_day(filters.date_from))
    if filters.date_to:
        query = query.where(AuditLog.created_at < start_of_day(filters.date_to + timedelta(days=1)))
    return query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


def audit_entries(filters: AuditFilters, page: int = 1, per_page: int = PER_PAGE):
    """A page of the audit log, newest first (Flask-SQLAlchemy Pagination)."""
    return db.paginate(audit_query(filters), page=max(page, 1), per_page=per_page, error_out=False)


def recent_audit(limit: int = 10) -> list[AuditLog]:
    return list(db.session.scalars(audit_query(AuditFilters()).limit(limit)))


def audit_actions() -> list[str]:
    """Every action name logged so far (for the filter's suggestions)."""
    return list(db.session.scalars(select(distinct(AuditLog.action)).order_by(AuditLog.action)))


def audit_target_types() -> list[str]:
    return [t for t in db.session.scalars(select(distinct(AuditLog.target_type)).order_by(AuditLog.target_type)) if t]


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def audit_changes(row: AuditLog) -> list[tuple[str, str | None, str | None]]:
    """``(key, before, after)`` per key of the row's before/after, values as compact JSON."""
    before = row.before if isinstance(row.before, dict) else ({} if row.before is None else {"value": row.before})
    after = row.after if isinstance(row.after, dict) else ({} if row.after is None else {"value": row.after})
    keys = list(dict.fromkeys([*before, *after]))
    return [
        (key, _compact(before[key]) if key in before else None, _compact(after[key]) if key in after else None)
        for key in keys
    ]
