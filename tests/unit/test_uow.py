"""The unit of work: one commit or one rollback, effects only after a commit, nesting joins."""

import pytest
from sqlalchemy import func, select

from tradeapp import domains, realtime
from tradeapp.errors import IllegalTransition
from tradeapp.extensions import db as _db
from tradeapp.models import AuditLog, Withdrawal
from tradeapp.models.states import StateMachine
from tradeapp.services import audit
from tradeapp.services import uow as uow_module
from tradeapp.services.uow import unit_of_work


def audit_rows() -> int:
    _db.session.rollback()
    return _db.session.scalar(select(func.count()).select_from(AuditLog))


@pytest.fixture()
def emitted(monkeypatch):
    events = []
    monkeypatch.setattr(realtime, "emit_to_user", lambda uid, event, data: events.append((uid, event, data)))
    monkeypatch.setattr(realtime, "emit_to_staff", lambda event, data: events.append(("staff", event, data)))
    return events


def test_a_unit_commits_and_then_runs_its_effects_in_order(db, user, emitted):
    seen_committed = []
    with unit_of_work() as uow:
        audit.record(user, "test.one", user)
        uow.emit_to_user(user.id, "first", {"n": 1})
        uow.after_commit(lambda: seen_committed.append(audit_rows()))
        uow.emit_to_staff("second", {"n": 2})
        assert emitted == []  # nothing leaves before the commit
    assert emitted == [(user.id, "first", {"n": 1}), ("staff", "second", {"n": 2})]
    assert seen_committed == [1]  # the effect saw the committed row
    assert audit_rows() == 1


def test_an_error_rolls_back_and_drops_the_effects(db, user, emitted):
    with pytest.raises(IllegalTransition), unit_of_work() as uow:
        audit.record(user, "test.one", user)
        uow.emit_to_user(user.id, "never", {})
        raise IllegalTransition("no")
    assert emitted == []
    assert audit_rows() == 0


def test_a_nested_unit_joins_the_outer_one(db, user, emitted):
    with unit_of_work() as outer:
        with unit_of_work() as inner:
            assert inner is outer
            audit.record(user, "test.inner", user)
            inner.emit_to_user(user.id, "inner", {})
        assert emitted == []  # the inner block did not commit or run anything
        assert _db.session.scalar(select(func.count()).select_from(AuditLog)) == 1  # still in the transaction
    assert emitted == [(user.id, "inner", {})]
    assert audit_rows() == 1


def test_an_error_in_a_nested_unit_rolls_back_the_whole_unit(db, user, emitted):
    with pytest.raises(RuntimeError), unit_of_work():
        audit.record(user, "test.outer", user)
        with unit_of_work() as inner:
            inner.emit_to_user(user.id, "inner", {})
            raise RuntimeError("boom")
    assert emitted == [] and audit_rows() == 0


def test_rollback_ends_the_unit_without_committing_anything(db, user, emitted):
    with unit_of_work() as uow:
        audit.record(user, "test.one", user)
        uow.emit_to_user(user.id, "dropped", {})
        uow.rollback()
        audit.record(user, "test.after_rollback", user)  # not kept either
    assert emitted == [] and audit_rows() == 0


def test_a_failing_effect_is_logged_and_the_others_still_run(db, user, emitted, monkeypatch):
    logged = []
    monkeypatch.setattr(uow_module.log, "exception", lambda message, *args: logged.append(message % args))

    def broken():
        raise ConnectionError("socket down")

    with unit_of_work() as uow:
        audit.record(user, "test.one", user)
        uow.after_commit(broken)
        uow.emit_to_user(user.id, "after", {})
    assert emitted == [(user.id, "after", {})]
    assert audit_rows() == 1
    assert logged == [f"after-commit effect {broken.__qualname__} failed"]


def test_counters_of_a_changed_model_are_pushed_after_the_commit(app, db, user, emitted):
    registry = domains.registry(app)
    saved = dict(registry.counters), {model: list(c) for model, c in registry.by_model.items()}
    try:
        domains.add_counter(app, "test_audit", lambda: 7, AuditLog)
        with unit_of_work():
            audit.record(user, "test.one", user)
        assert ("staff", "queue_counters", {"test_audit": 7}) in emitted
        emitted.clear()
        with unit_of_work():
            pass  # nothing changed: no counter
        assert emitted == []
    finally:
        registry.counters.clear()
        registry.counters.update(saved[0])
        registry.by_model.clear()
        registry.by_model.update(saved[1])


def test_withdrawals_queue_counter_is_registered_with_its_model(app):
    assert [c.name for c in domains.registry(app).counters_for({Withdrawal})] == ["withdrawals"]


# -- state machines --------------------------------------------------------------------------------


def test_a_state_machine_refuses_undeclared_moves_and_undeclared_statuses():
    machine = StateMachine("thing", {"new": ("done",), "done": ()})
    assert machine.can("new", "done") and not machine.can("done", "new")
    assert machine.terminal == {"done"}
    with pytest.raises(IllegalTransition, match="A done thing cannot become new"):
        machine.check("done", "new")
    with pytest.raises(ValueError):
        StateMachine("thing", {"new": ("missing",)})


def test_an_order_cannot_leave_a_final_status():
    from tradeapp.models import Order

    order = Order(status="filled")
    with pytest.raises(IllegalTransition):
        order.transition_to("cancelled")
    assert order.status == "filled"
    order = Order(status="partially_filled")
    order.transition_to("partially_filled")  # another partial fill
    order.transition_to("filled")
    assert order.status == "filled"
