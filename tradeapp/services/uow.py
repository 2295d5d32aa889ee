"""One unit of work per service operation: it commits once or rolls back, then runs its effects.

::

    with unit_of_work() as uow:
        w = _lock(withdrawal_id)
        w.transition_to("approved")
        uow.enqueue("tradeapp.jobs.payouts.send_payout", w.id, queue="payouts", job_id=f"payout-{w.id}")
        uow.emit_to_user(w.user_id, "withdrawal_status", {"id": w.id, "status": w.status})

On leaving the block without an exception the session commits; on an exception it rolls back,
the effects are dropped and the exception propagates. Effects (Socket.IO events through
:mod:`tradeapp.realtime`, jobs by dotted name through the one ``enqueue`` seam, mail, any
callable) run only after a successful commit, in the order they were added; each one's failure
is logged and never undoes or hides the committed change.

A ``unit_of_work()`` entered while another is open joins it: the inner block neither commits nor
rolls back, and its effects run after the outer commit. So a service that is one unit of work on
its own can also be a step of a larger one (a job settling several things, a future domain
placing an order inside its own transaction).

``uow.keep(obj, …)`` leaves what this transaction wrote loaded after the commit (see
:func:`tradeapp.services.rows.commit_keeping`): the hot paths answer with those values without
reading them back. ``uow.rollback()`` ends the unit early without committing (nothing to do).

Staff queue counters registered with a model (:func:`tradeapp.domains.add_counter`) are pushed
after any unit that changed a row of that model commits: services never push them by hand.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from tradeapp import realtime
from tradeapp.domains import EXTENSION_KEY as DOMAINS_KEY
from tradeapp.extensions import db
from tradeapp.mail import send_mail
from tradeapp.queues import enqueue
from tradeapp.services.rows import commit_keeping

log = logging.getLogger(__name__)

#: where the open unit lives: on the session, whose transaction it owns
_KEY = "tradeapp.uow"


class UnitOfWork:
    """What one transaction will do once it committed; use through :func:`unit_of_work`."""

    __slots__ = ("changed", "effects", "kept", "rolled_back")

    def __init__(self) -> None:
        self.effects: list[tuple[Callable, tuple, dict]] = []
        self.kept: list = []
        self.rolled_back = False
        #: model classes whose rows this unit inserted, changed or deleted (for the staff counters)
        self.changed: set[type] = set()

    def after_commit(self, func: Callable, *args: Any, **kwargs: Any) -> None:
        """Call ``func(*args, **kwargs)`` once the transaction committed (never if it rolls back)."""
        self.effects.append((func, args, kwargs))

    def emit_to_user(self, user_id: int, event: str, payload: dict) -> None:
        """A Socket.IO event to the user's room, after commit."""
        self.effects.append((realtime.emit_to_user, (user_id, event, payload), {}))

    def emit_to_staff(self, event: str, payload: dict) -> None:
        """A Socket.IO event to the staff consoles, after commit."""
        self.effects.append((realtime.emit_to_staff, (event, payload), {}))

    def enqueue(self, job: str, *args: Any, queue: str = "default", job_id: str | None = None, **kwargs: Any) -> None:
        """Enqueue the job named ``job`` (dotted path) after commit, through the one enqueue seam."""
        self.effects.append((enqueue, (job, *args), {"queue": queue, "job_id": job_id, **kwargs}))

    def mail(self, to: str, subject: str, template: str, **context: Any) -> None:
        """Render and send ``mail/<template>`` after commit (through the mail queue)."""
        self.effects.append((send_mail, (to, subject, template), context))

    def keep(self, *objects: Any) -> None:
        """Leave ``objects`` loaded after the commit (their values are the ones this transaction wrote)."""
        self.kept.extend(objects)

    def rollback(self) -> None:
        """Roll back now and end the unit without committing; its effects are dropped."""
        self.rolled_back = True
        self.effects.clear()
        self.changed.clear()
        db.session.rollback()

    def _run_effects(self) -> None:
        registry = current_app.extensions.get(DOMAINS_KEY) if self.changed else None
        if registry is not None:
            for counter in registry.counters_for(self.changed):
                self.effects.append((_push_counter, (counter,), {}))
        # The unit's Socket.IO events leave in one Redis round trip (realtime.batched).
        with realtime.batched():
            for func, args, kwargs in self.effects:
                try:
                    func(*args, **kwargs)
                except Exception:  # noqa: BLE001 - the change is committed; a lost event or job is logged
                    log.exception("after-commit effect %s failed", getattr(func, "__qualname__", func))


def _push_counter(counter) -> None:
    realtime.emit_to_staff("queue_counters", {counter.name: counter.count()})


@event.listens_for(Session, "after_flush")
def _note_changed(session: Session, flush_context) -> None:
    unit = session.info.get(_KEY)
    if unit is not None:
        unit.changed.update(type(obj) for obj in chain(session.new, session.dirty, session.deleted))


def current() -> UnitOfWork | None:
    """The unit of work open on this session, if any."""
    return db.session.info.get(_KEY)


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """Commit once on success or roll back on error; effects run after the commit (see module doc)."""
    session = db.session()
    outer = session.info.get(_KEY)
    if outer is not None:
        yield outer  # joined: the outer unit commits or rolls back, and runs the effects
        return
    unit = session.info[_KEY] = UnitOfWork()
    try:
        yield unit
        if unit.rolled_back:
            session.rollback()  # whatever the block did after its rollback is not kept either
        elif unit.kept:
            commit_keeping(unit.kept)
        else:
            session.commit()
    except BaseException:
        session.info.pop(_KEY, None)
        session.rollback()
        raise
    finally:
        session.info.pop(_KEY, None)
    if not unit.rolled_back:
        unit._run_effects()
