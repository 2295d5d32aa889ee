"""The notification centre: every domain tells users what happened through :func:`notify`.

A notification is a row (the bell, the notifications page, the API) and, by the user's
preferences per kind, a live Socket.IO ``notification`` event on ``user:<id>`` carrying the new
unread count, and an e-mail through the mail job. In-app is always on. Each domain registers its
kinds once, at import, with their defaults::

    SIGNAL = register_kind("signal_published", "New trading signal", email=False)

    with unit_of_work() as uow:
        ...
        notify(user.id, SIGNAL, "BTC/USD buy at 64,000", body="…", link="/signals/12",
               dedupe_key=f"signal:{signal.id}")

:func:`notify` joins the caller's unit of work: the row commits with the change it reports, and
the live event and the e-mail leave only after that commit. A ``dedupe_key`` makes it idempotent
per (user, key): a retried job never notifies twice. :func:`notify_many` is the bulk form for a
fan-out (one signal to thousands of subscribers): one multi-row insert, one grouped unread count,
one Redis round trip for the events.

Security mail (verify e-mail, password reset) does not go through here: it is mandatory.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tradeapp import realtime
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models.notifications import Notification, NotificationPreference
from tradeapp.models.types import utcnow
from tradeapp.models.users import User
from tradeapp.services.uow import unit_of_work

#: rows per INSERT statement in a fan-out
_CHUNK = 1000


@dataclass(frozen=True)
class Kind:
    """A kind of notification and its default channels."""

    name: str
    label: str
    live: bool = True
    email: bool = False
    #: ``mail/<template>.txt`` for this kind's e-mail; the generic ``notification`` otherwise
    mail_template: str | None = None
    #: the user may not switch the e-mail off (account security)
    email_required: bool = False


KINDS: dict[str, Kind] = {}


def register_kind(
    name: str,
    label: str,
    *,
    live: bool = True,
    email: bool = False,
    mail_template: str | None = None,
    email_required: bool = False,
) -> str:
    """Declare a kind (once, at import); returns its name for the caller to use."""
    kind = Kind(name, label, live, email or email_required, mail_template, email_required)
    existing = KINDS.get(name)
    if existing is not None and existing != kind:
        raise ValueError(f"notification kind {name!r} is registered twice with different settings")
    KINDS[name] = kind
    return name


# The kinds of the domains that were built before the centre.
DEPOSIT_CREDITED = register_kind("deposit_credited", "Deposit credited", email=True)
DEPOSIT_FAILED = register_kind("deposit_failed", "Deposit failed or rejected", email=True)
DEPOSIT_REFUNDED = register_kind("deposit_refunded", "Card refund taken back", email=True)
DEPOSIT_DISPUTED = register_kind("deposit_disputed", "Card payment disputed", email=True)
WITHDRAWAL_APPROVED = register_kind("withdrawal_approved", "Withdrawal approved", email=False)
WITHDRAWAL_EXPIRED = register_kind("withdrawal_expired", "Withdrawal not confirmed in time", email=True)
WITHDRAWAL_COMPLETED = register_kind(
    "withdrawal_completed", "Withdrawal sent", email=True, mail_template="withdrawal_completed"
)
WITHDRAWAL_REJECTED = register_kind(
    "withdrawal_rejected", "Withdrawal rejected", email=True, mail_template="withdrawal_rejected"
)
WITHDRAWAL_FAILED = register_kind(
    "withdrawal_failed", "Withdrawal failed", email=True, mail_template="withdrawal_failed"
)
KYC_APPROVED = register_kind("kyc_approved", "Identity verified", email=True, mail_template="kyc_approved")
KYC_REJECTED = register_kind("kyc_rejected", "Identity not verified", email=True, mail_template="kyc_rejected")
KYC_EXPIRED = register_kind("kyc_expired", "Identity check expired", email=True, mail_template="kyc_expired")
ORDER_FILLED = register_kind("order_filled", "Order filled", email=False)


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown notification kind {name!r}: register it with register_kind()") from None


# -- sending ----------------------------------------------------------------------------------


def notify(
    user_id: int,
    kind_name: str,
    title: str,
    body: str = "",
    *,
    link: str | None = None,
    data: dict | None = None,
    dedupe_key: str | None = None,
    mail_context: dict | None = None,
) -> Notification | None:
    """Record a notification for one user, inside the caller's unit of work (or its own).

    Returns the row, or ``None`` when ``dedupe_key`` was already used for this user (nothing is
    sent again). ``mail_context`` is passed to the kind's e-mail template besides ``user`` and
    ``notification``.
    """
    k = kind(kind_name)
    with unit_of_work() as uow:
        if dedupe_key is not None:
            inserted = _insert_rows([_row(user_id, k.name, title, body, link, data, dedupe_key)])
            if not inserted:
                return None
            note = db.session.get(Notification, inserted[0])
        else:
            note = Notification(user_id=user_id, kind=k.name, title=title, body=body, link=link, data=data)
            db.session.add(note)
            db.session.flush()
        live, email = channels(user_id, k.name)
        if live:
            uow.after_commit(_push_one, user_id, note.id)
        if email:
            user = db.session.get(User, user_id)
            if user is not None and user.email:
                uow.mail(
                    user.email,
                    title,
                    k.mail_template or "notification",
                    user=user,
                    notification=note,
                    **(mail_context or {}),
                )
        return note


def notify_many(
    user_ids: Iterable[int],
    kind_name: str,
    title: str,
    body: str = "",
    *,
    link: str | None = None,
    data: dict | None = None,
    dedupe_key: str | None = None,
) -> int:
    """The same notification to many users at once (a fan-out); returns how many were new.

    With ``dedupe_key`` a user who already has it is skipped, so a re-run of the fan-out job
    completes what a killed run left and sends nobody anything twice. E-mail goes to the users
    whose preference asks for it, with the generic template.
    """
    k = kind(kind_name)
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return 0
    with unit_of_work() as uow:
        new_ids: list[int] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            inserted = _insert_rows([_row(uid, k.name, title, body, link, data, dedupe_key) for uid in chunk])
            new_ids.extend(inserted)
        if not new_ids:
            return 0
        rows = db.session.execute(
            select(Notification.id, Notification.user_id).where(Notification.id.in_(new_ids))
        ).all()
        by_user = {user_id: note_id for note_id, user_id in rows}
        prefs = _preferences_of(list(by_user), k.name)
        live_users = [u for u in by_user if prefs.get(u, (k.live, k.email))[0]]
        email_users = [u for u in by_user if k.email_required or prefs.get(u, (k.live, k.email))[1]]
        if live_users:
            uow.after_commit(_push_many, {u: by_user[u] for u in live_users})
        for start in range(0, len(email_users), _CHUNK):
            chunk = email_users[start : start + _CHUNK]
            users = db.session.execute(select(User).where(User.id.in_(chunk))).scalars().all()
            notes = {
                n.id: n
                for n in db.session.execute(
                    select(Notification).where(Notification.id.in_([by_user[u] for u in chunk]))
                ).scalars()
            }
            for user in users:
                note = notes[by_user[user.id]]
                uow.mail(user.email, title, k.mail_template or "notification", user=user, notification=note)
        return len(new_ids)


def _row(user_id, kind_name, title, body, link, data, dedupe_key) -> dict:
    return {
        "user_id": user_id,
        "kind": kind_name,
        "title": title[:200],
        "body": body,
        "link": link,
        "data": data,
        "dedupe_key": dedupe_key,
        "created_at": utcnow(),
    }


def _insert_rows(rows: list[dict]) -> list[int]:
    """INSERT … ON CONFLICT (user, dedupe_key) DO NOTHING RETURNING id: the ids of the new rows."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # executemany of one cached statement (sent as multi-row INSERTs), not a VALUES list compiled per size
    table = Notification.__table__
    stmt = insert(table).on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"]).returning(table.c.id)
    return list(db.session.execute(stmt, rows).scalars())


def _push_one(user_id: int, note_id: int) -> None:
    note = db.session.get(Notification, note_id)
    if note is not None:
        realtime.emit_to_user(user_id, "notification", payload(note, unread=unread_count(user_id)))


def _push_many(note_by_user: dict[int, int]) -> None:
    counts = dict(
        db.session.execute(
            select(Notification.user_id, func.count())
            .where(Notification.user_id.in_(list(note_by_user)), Notification.read_at.is_(None))
            .group_by(Notification.user_id)
        ).all()
    )
    notes = {
        n.id: n
        for n in db.session.execute(
            select(Notification).where(Notification.id.in_(list(note_by_user.values())))
        ).scalars()
    }
    messages = []
    for user_id, note_id in note_by_user.items():
        note = notes.get(note_id)
        if note is not None:
            body = payload(note, unread=counts.get(user_id, 0))
            messages.append(("notification", body, realtime.user_room(user_id)))
    realtime.publish_all(messages)


def payload(note: Notification, *, unread: int | None = None) -> dict[str, Any]:
    """What the live event and the API show of a notification."""
    body: dict[str, Any] = {
        "id": note.id,
        "kind": note.kind,
        "title": note.title,
        "body": note.body,
        "link": note.link,
        "data": note.data,
        "read": note.read_at is not None,
        "created_at": note.created_at.isoformat() if note.created_at else None,
    }
    if unread is not None:
        body["unread"] = unread
    return body


# -- preferences ------------------------------------------------------------------------------


def channels(user_id: int, kind_name: str) -> tuple[bool, bool]:
    """(live, email) for this user and kind: their preference, else the kind's defaults."""
    k = kind(kind_name)
    pref = db.session.execute(
        select(NotificationPreference.live, NotificationPreference.email).where(
            NotificationPreference.user_id == user_id, NotificationPreference.kind == k.name
        )
    ).first()
    live, email = (pref.live, pref.email) if pref is not None else (k.live, k.email)
    return live, email or k.email_required


def _preferences_of(user_ids: list[int], kind_name: str) -> dict[int, tuple[bool, bool]]:
    out: dict[int, tuple[bool, bool]] = {}
    for start in range(0, len(user_ids), _CHUNK):
        rows = db.session.execute(
            select(NotificationPreference.user_id, NotificationPreference.live, NotificationPreference.email).where(
                NotificationPreference.kind == kind_name,
                NotificationPreference.user_id.in_(user_ids[start : start + _CHUNK]),
            )
        ).all()
        out.update({r.user_id: (r.live, r.email) for r in rows})
    return out


def preferences(user_id: int) -> list[dict[str, Any]]:
    """Every registered kind with this user's channels (in-app is always on)."""
    rows = {
        p.kind: p
        for p in db.session.execute(
            select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        ).scalars()
    }
    out = []
    for k in KINDS.values():
        pref = rows.get(k.name)
        out.append(
            {
                "kind": k.name,
                "label": k.label,
                "in_app": True,
                "live": pref.live if pref else k.live,
                "email": (pref.email if pref else k.email) or k.email_required,
                "email_required": k.email_required,
            }
        )
    return out


def set_preference(user_id: int, kind_name: str, *, live: bool | None = None, email: bool | None = None) -> None:
    """Change this user's channels for one kind (``None`` leaves a channel as it is)."""
    k = kind(kind_name)
    with unit_of_work():
        pref = db.session.execute(
            select(NotificationPreference)
            .where(NotificationPreference.user_id == user_id, NotificationPreference.kind == k.name)
            .with_for_update()
        ).scalar_one_or_none()
        if pref is None:
            pref = NotificationPreference(user_id=user_id, kind=k.name, live=k.live, email=k.email)
            db.session.add(pref)
        if live is not None:
            pref.live = live
        if email is not None:
            pref.email = email or k.email_required


# -- reading ----------------------------------------------------------------------------------


def unread_count(user_id: int) -> int:
    return db.session.execute(
        select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    ).scalar_one()


def for_user(user_id: int, *, unread: bool | None = None, kind_name: str | None = None):
    """A select of the user's notifications, newest first (paginate it)."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    if kind_name:
        stmt = stmt.where(Notification.kind == kind_name)
    return stmt.order_by(Notification.id.desc())


def get_for_user(user_id: int, note_id: int) -> Notification | None:
    """The user's own notification, or ``None`` (another user's is not found either)."""
    return db.session.execute(
        select(Notification).where(Notification.id == note_id, Notification.user_id == user_id)
    ).scalar_one_or_none()


def mark_read(user_id: int, note_id: int) -> Notification | None:
    """Mark one of the user's notifications read; ``None`` if it is not theirs."""
    with unit_of_work() as uow:
        note = get_for_user(user_id, note_id)
        if note is None:
            return None
        if note.read_at is None:
            note.read_at = utcnow()
            uow.after_commit(_push_count, user_id)
        uow.keep(note)
        return note


def mark_all_read(user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    now: datetime = utcnow()
    with unit_of_work() as uow:
        result = db.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            uow.after_commit(_push_count, user_id)
        return result.rowcount


def _push_count(user_id: int) -> None:
    realtime.emit_to_user(user_id, "notification_count", {"unread": unread_count(user_id)})


def set_preferences(user_id: int, changes: dict[str, dict[str, bool | None]]) -> list[dict[str, Any]]:
    """Change several kinds at once (the account page's form, the API's PATCH), all or nothing.

    ``changes`` maps a kind to ``{"live": …, "email": …}`` (a missing or ``None`` channel is left
    as it is). An unknown kind refuses the whole change, so a typo never half-applies.
    """
    unknown = sorted(name for name in changes if name not in KINDS)
    if unknown:
        raise ValidationFailed(
            "Unknown notification kind.", {"preferences": [f"Unknown kind: {name}." for name in unknown]}
        )
    with unit_of_work():
        for name, channel in changes.items():
            set_preference(user_id, name, live=channel.get("live"), email=channel.get("email"))
    return preferences(user_id)


def newest(user_id: int, limit: int = 8) -> list[Notification]:
    """The bell's dropdown: the user's latest notifications."""
    return list(db.session.execute(for_user(user_id).limit(limit)).scalars())


def kinds_of(user_id: int) -> list[str]:
    """The kinds this user has notifications of (the page's filter offers only these)."""
    return list(
        db.session.execute(
            select(Notification.kind).where(Notification.user_id == user_id).distinct().order_by(Notification.kind)
        ).scalars()
    )


def safe_link(note: Notification) -> str | None:
    """The notification's link when it is a path on this site; never an absolute or scheme-relative URL."""
    link = note.link or ""
    if link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return None
