"""The notification centre's core: rows, dedupe, channels by preference, fan-out, read state."""

import pytest

from tradeapp.mail import outbox_messages
from tradeapp.models import Notification
from tradeapp.services import notifications as notes
from tradeapp.services.uow import unit_of_work

TEST_KIND = notes.register_kind("test_event", "Test event", live=True, email=False)
TEST_MAIL_KIND = notes.register_kind("test_mailed", "Mailed test event", live=False, email=True)


@pytest.fixture()
def sent(monkeypatch):
    events = []
    monkeypatch.setattr("tradeapp.realtime.emit_to_user", lambda uid, ev, data: events.append((uid, ev, data)))
    monkeypatch.setattr(
        "tradeapp.realtime.publish_all", lambda messages: events.extend((room, ev, data) for ev, data, room in messages)
    )
    return events


def test_notify_records_a_row_and_pushes_it_live_with_the_unread_count(db, user, sent):
    note = notes.notify(user.id, TEST_KIND, "Something happened", "Details", link="/wallet")
    assert note.id and note.read_at is None
    assert notes.unread_count(user.id) == 1
    [(uid, event, data)] = sent
    assert (uid, event) == (user.id, "notification")
    assert data["title"] == "Something happened" and data["unread"] == 1 and data["link"] == "/wallet"
    assert outbox_messages() == []  # e-mail off by default for this kind


def test_effects_wait_for_the_commit_and_vanish_on_rollback(db, user, sent):
    with pytest.raises(RuntimeError), unit_of_work():
        notes.notify(user.id, TEST_KIND, "Never")
        assert sent == []
        raise RuntimeError("boom")
    assert sent == []
    assert db.session.query(Notification).count() == 0


def test_a_dedupe_key_notifies_once(db, user, sent):
    assert notes.notify(user.id, TEST_KIND, "Once", dedupe_key="k1") is not None
    assert notes.notify(user.id, TEST_KIND, "Once", dedupe_key="k1") is None
    assert db.session.query(Notification).filter_by(user_id=user.id).count() == 1
    assert len(sent) == 1


def test_preferences_choose_the_channels(db, user, sent):
    notes.set_preference(user.id, TEST_KIND, live=False, email=True)
    notes.notify(user.id, TEST_KIND, "Mail me")
    assert sent == []
    [mail] = outbox_messages()
    assert "Mail me" in mail["subject"]
    prefs = {p["kind"]: p for p in notes.preferences(user.id)}
    assert prefs[TEST_KIND] == {**prefs[TEST_KIND], "live": False, "email": True, "in_app": True}
    assert prefs[TEST_MAIL_KIND]["email"] is True  # default


def test_unknown_kinds_are_refused(db, user):
    with pytest.raises(ValueError):
        notes.notify(user.id, "no_such_kind", "x")


def test_fan_out_is_one_per_user_and_a_rerun_sends_nothing_twice(db, create_user, sent):
    users = [create_user() for _ in range(5)]
    ids = [u.id for u in users]
    notes.set_preference(ids[0], TEST_KIND, live=False)
    assert notes.notify_many(ids + ids[:2], TEST_KIND, "Fan", dedupe_key="sig:1") == 5
    assert notes.notify_many(ids, TEST_KIND, "Fan", dedupe_key="sig:1") == 0
    assert db.session.query(Notification).count() == 5
    rooms = sorted(room for room, _, _ in sent)
    assert rooms == sorted(f"user:{i}" for i in ids[1:])
    assert all(data["unread"] == 1 for _, _, data in sent)


def test_mark_read_is_owner_only_and_mark_all_clears_the_count(db, user, create_user, sent):
    other = create_user()
    mine = notes.notify(user.id, TEST_KIND, "Mine")
    notes.notify(user.id, TEST_KIND, "Mine too")
    theirs = notes.notify(other.id, TEST_KIND, "Theirs")
    assert notes.mark_read(user.id, theirs.id) is None
    assert notes.mark_read(user.id, mine.id).read_at is not None
    assert notes.unread_count(user.id) == 1
    assert notes.mark_all_read(user.id) == 1
    assert notes.unread_count(user.id) == 0
    assert notes.unread_count(other.id) == 1
    assert [n.title for n in db.session.execute(notes.for_user(user.id)).scalars()] == ["Mine too", "Mine"]
