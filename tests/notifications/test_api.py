"""The notifications API: list (paginated, ?unread, ?kind), detail, mark read, read all, preferences."""

import pytest

from tradeapp.mail import outbox_messages
from tradeapp.services import notifications as notes

KIND = notes.register_kind("test_api_event", "API test event", live=True, email=False)
API = "/api/v1"


@pytest.fixture()
def live(monkeypatch):
    events = []
    monkeypatch.setattr("tradeapp.realtime.emit_to_user", lambda uid, ev, data: events.append((uid, ev, data)))
    return events


def test_list_is_newest_first_paginated_and_filters_unread_and_kind(auth_api_client, user, live):
    first = notes.notify(user.id, KIND, "First", "one", link="/wallets/")
    notes.notify(user.id, notes.DEPOSIT_CREDITED, "Deposit credited", "100 USD")
    third = notes.notify(user.id, KIND, "Third")
    notes.mark_read(user.id, first.id)

    body = auth_api_client.get(f"{API}/notifications/").get_json()
    assert body["count"] == 3 and body["next"] is None and body["previous"] is None
    assert [n["title"] for n in body["results"]] == ["Third", "Deposit credited", "First"]
    assert set(body["results"][0]) >= {"id", "kind", "title", "body", "link", "data", "read", "created_at"}
    assert body["results"][2]["read"] is True and body["results"][2]["link"] == "/wallets/"

    unread = auth_api_client.get(f"{API}/notifications/?unread=true").get_json()
    assert [n["id"] for n in unread["results"]] == [third.id, third.id - 1]
    read = auth_api_client.get(f"{API}/notifications/?unread=false").get_json()
    assert [n["id"] for n in read["results"]] == [first.id]
    by_kind = auth_api_client.get(f"{API}/notifications/?kind={notes.DEPOSIT_CREDITED}").get_json()
    assert [n["title"] for n in by_kind["results"]] == ["Deposit credited"]

    page = auth_api_client.get(f"{API}/notifications/?page_size=2").get_json()
    assert len(page["results"]) == 2 and "page=2" in page["next"]
    page2 = auth_api_client.get(page["next"].replace("http://localhost", "")).get_json()
    assert [n["id"] for n in page2["results"]] == [first.id]


def test_mark_read_and_read_all_push_the_new_count(auth_api_client, user, live):
    a = notes.notify(user.id, KIND, "A")
    notes.notify(user.id, KIND, "B")
    live.clear()
    r = auth_api_client.post(f"{API}/notifications/{a.id}/read/")
    assert r.status_code == 200 and r.get_json()["read"] is True and r.get_json()["read_at"]
    assert live == [(user.id, "notification_count", {"unread": 1})]
    again = auth_api_client.post(f"{API}/notifications/{a.id}/read/")  # harmless, nothing pushed
    assert again.status_code == 200 and len(live) == 1

    r = auth_api_client.post(f"{API}/notifications/read-all/")
    assert r.status_code == 200 and r.get_json() == {"updated": 1, "unread": 0}
    assert live[-1] == (user.id, "notification_count", {"unread": 0})
    assert auth_api_client.post(f"{API}/notifications/read-all/").get_json() == {"updated": 0, "unread": 0}


def test_other_users_notifications_are_not_found(auth_api_client, create_user, user, live):
    other = create_user()
    theirs = notes.notify(other.id, KIND, "Not yours")
    assert auth_api_client.get(f"{API}/notifications/{theirs.id}/").status_code == 404
    r = auth_api_client.post(f"{API}/notifications/{theirs.id}/read/")
    assert r.status_code == 404 and r.get_json()["code"] == "not_found"
    assert auth_api_client.get(f"{API}/notifications/").get_json()["count"] == 0
    auth_api_client.post(f"{API}/notifications/read-all/")
    assert notes.unread_count(other.id) == 1
    mine = notes.notify(user.id, KIND, "Mine")
    assert auth_api_client.get(f"{API}/notifications/{mine.id}/").get_json()["title"] == "Mine"


def test_the_api_needs_a_token(api_client):
    for method, path in [
        ("get", "/notifications/"),
        ("post", "/notifications/read-all/"),
        ("get", "/notification-preferences/"),
    ]:
        r = getattr(api_client, method)(f"{API}{path}")
        assert r.status_code == 401 and r.get_json()["code"] == "not_authenticated"


def test_preferences_read_and_patch_govern_delivery(auth_api_client, user, live):
    body = auth_api_client.get(f"{API}/notification-preferences/").get_json()
    prefs = {p["kind"]: p for p in body["preferences"]}
    assert prefs["deposit_credited"] == {
        "kind": "deposit_credited",
        "label": "Deposit credited",
        "in_app": True,
        "live": True,
        "email": True,
        "email_required": False,
    }
    r = auth_api_client.patch(
        f"{API}/notification-preferences/",
        json={"preferences": [{"kind": "deposit_credited", "email": False, "label": "ignored", "in_app": False}]},
    )
    assert r.status_code == 200
    prefs = {p["kind"]: p for p in r.get_json()["preferences"]}
    assert prefs["deposit_credited"]["email"] is False and prefs["deposit_credited"]["live"] is True
    assert prefs["deposit_credited"]["in_app"] is True

    notes.notify(user.id, notes.DEPOSIT_CREDITED, "Deposit credited", "50 USD")
    assert outbox_messages() == []
    assert [ev for _, ev, _ in live] == ["notification"]


@pytest.mark.parametrize(
    "payload",
    [
        {"preferences": [{"kind": "no_such_kind", "email": True}]},
        {"preferences": [{"email": True}]},
        {"preferences": [{"kind": "deposit_credited", "email": "maybe"}]},
        {"preferences": "deposit_credited"},
        {},
    ],
)
def test_bad_preference_changes_are_400_and_change_nothing(auth_api_client, user, payload):
    before = notes.preferences(user.id)
    r = auth_api_client.patch(f"{API}/notification-preferences/", json=payload)
    assert r.status_code == 400
    assert set(r.get_json()) == {"error", "code", "fields"}
    assert notes.preferences(user.id) == before


def test_an_unknown_kind_refuses_the_whole_change(auth_api_client, user):
    r = auth_api_client.patch(
        f"{API}/notification-preferences/",
        json={"preferences": [{"kind": "deposit_credited", "email": False}, {"kind": "nope", "email": True}]},
    )
    assert r.status_code == 400 and "nope" in str(r.get_json()["fields"])
    prefs = {p["kind"]: p for p in notes.preferences(user.id)}
    assert prefs["deposit_credited"]["email"] is True
