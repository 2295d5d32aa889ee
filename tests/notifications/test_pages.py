"""The notification pages: the bell with its count and dropdown, the page with filters, mark read, preferences."""

import json
import re

import pytest

from tests.conftest import csrf_token
from tests.web.test_auth_pages import HTMX
from tradeapp.services import notifications as notes

KIND = notes.register_kind("test_page_event", "Page test event", live=True, email=False)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr("tradeapp.realtime.emit_to_user", lambda *a: None)


def bell_count(html: str) -> str:
    match = re.search(r'<span class="bell-count( hidden)?" data-notification-count>([^<]*)</span>', html)
    assert match, "no bell in the header"
    return "" if match.group(1) else match.group(2)


def test_the_header_bell_shows_the_unread_count(logged_in_client, user):
    assert bell_count(logged_in_client.get("/dashboard").get_data(as_text=True)) == ""
    notes.notify(user.id, KIND, "One")
    notes.notify(user.id, KIND, "Two")
    html = logged_in_client.get("/dashboard").get_data(as_text=True)
    assert bell_count(html) == "2"
    assert "js/notifications.js" in html


def test_the_bell_is_not_drawn_for_visitors(client):
    html = client.get("/").get_data(as_text=True)
    assert "data-bell" not in html and "notifications.js" not in html


def test_the_dropdown_lists_the_newest_and_opening_one_marks_it_read(logged_in_client, user):
    empty = logged_in_client.get("/notifications/menu", headers=HTMX).get_data(as_text=True)
    assert "Nothing yet" in empty and "Mark all read" not in empty
    notes_ = [notes.notify(user.id, KIND, f"Event {i}", link="/wallets/") for i in range(10)]
    html = logged_in_client.get("/notifications/menu", headers=HTMX).get_data(as_text=True)
    assert "Event 9" in html and "Event 2" in html and "Event 1<" not in html  # the newest eight
    assert "Mark all read" in html and "See all notifications" in html
    r = logged_in_client.get(f"/notifications/{notes_[9].id}/open")
    assert r.status_code == 303 and r.headers["Location"] == "/wallets/"
    assert notes.unread_count(user.id) == 9


def test_a_notification_never_leads_off_site(logged_in_client, user):
    note = notes.notify(user.id, KIND, "Sneaky", link="//evil.example/x")
    r = logged_in_client.get(f"/notifications/{note.id}/open")
    assert r.status_code == 303 and r.headers["Location"] == "/notifications/"


def test_the_page_filters_by_kind_and_unread(logged_in_client, user):
    read = notes.notify(user.id, KIND, "Old news")
    notes.mark_read(user.id, read.id)
    notes.notify(user.id, notes.DEPOSIT_CREDITED, "Deposit credited", "100.00 USD is in your wallet.")
    html = logged_in_client.get("/notifications/").get_data(as_text=True)
    assert "Old news" in html and "Deposit credited" in html and "1 unread" in html
    html = logged_in_client.get("/notifications/?unread=1", headers=HTMX).get_data(as_text=True)
    assert "Deposit credited" in html and "Old news" not in html
    assert html.lstrip().startswith('<div id="notifications"')
    html = logged_in_client.get(f"/notifications/?kind={KIND}").get_data(as_text=True)
    assert "Old news" in html and "100.00 USD" not in html
    html = logged_in_client.get(f"/notifications/?kind={KIND}&unread=1").get_data(as_text=True)
    assert "Nothing matches these filters" in html


def test_empty_page_says_what_comes_here(logged_in_client):
    html = logged_in_client.get("/notifications/").get_data(as_text=True)
    assert "No notifications yet" in html and "Make a deposit" in html


def test_mark_read_answers_with_the_row_a_toast_and_the_count(logged_in_client, user):
    a = notes.notify(user.id, KIND, "A")
    notes.notify(user.id, KIND, "B")
    token = csrf_token(logged_in_client, "/notifications/")
    r = logged_in_client.post(f"/notifications/{a.id}/read", data={"csrf_token": token}, headers=HTMX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f'id="notification-{a.id}"' in html and "Mark read" not in html
    events = json.loads(r.headers["HX-Trigger-After-Settle"])
    assert events["toast"]["message"] == "Marked as read." and events["notificationsRead"] == {"unread": 1}


def test_mark_all_read_from_the_page_and_the_menu(logged_in_client, user):
    for i in range(3):
        notes.notify(user.id, KIND, f"N{i}")
    token = csrf_token(logged_in_client, "/notifications/")
    r = logged_in_client.post("/notifications/read-all", data={"csrf_token": token}, headers=HTMX)
    assert r.status_code == 200 and "0 unread" in r.get_data(as_text=True)
    assert json.loads(r.headers["HX-Trigger-After-Settle"])["toast"]["message"] == "3 notifications marked as read."
    notes.notify(user.id, KIND, "Late")
    r = logged_in_client.post("/notifications/read-all?from=menu", data={"csrf_token": token}, headers=HTMX)
    assert "See all notifications" in r.get_data(as_text=True)
    assert notes.unread_count(user.id) == 0
    plain = logged_in_client.post("/notifications/read-all", data={"csrf_token": token})
    assert plain.status_code == 303 and plain.headers["Location"] == "/notifications/"


def test_actions_need_the_csrf_token_and_ownership(logged_in_client, user, create_user):
    other = create_user()
    theirs = notes.notify(other.id, KIND, "Theirs")
    mine = notes.notify(user.id, KIND, "Mine")
    assert logged_in_client.post(f"/notifications/{mine.id}/read").status_code == 400
    token = csrf_token(logged_in_client, "/notifications/")
    assert logged_in_client.post(f"/notifications/{theirs.id}/read", data={"csrf_token": token}).status_code == 404
    assert logged_in_client.get(f"/notifications/{theirs.id}/open").status_code == 404
    assert notes.unread_count(other.id) == 1


@pytest.mark.parametrize("path", ["/notifications/", "/notifications/menu", "/account/notifications"])
def test_pages_need_login(client, path):
    r = client.get(path)
    assert r.status_code == 302 and r.headers["Location"].startswith("/auth/login")


def test_preferences_on_the_account_page(logged_in_client, user):
    html = logged_in_client.get("/account/").get_data(as_text=True)
    assert 'id="notification-preferences"' in html and "Deposit credited" in html
    assert 'name="email:deposit_credited" checked' in html
    token = csrf_token(logged_in_client, "/account/")
    form = {"csrf_token": token}
    for p in notes.preferences(user.id):  # keep everything, but no e-mail for deposits and no live fills
        if p["live"] and p["kind"] != "order_filled":
            form[f"live:{p['kind']}"] = "on"
        if p["email"] and p["kind"] != "deposit_credited":
            form[f"email:{p['kind']}"] = "on"
    r = logged_in_client.post("/account/notifications", data=form, headers=HTMX)
    assert r.status_code == 200
    assert (
        json.loads(r.headers["HX-Trigger-After-Settle"])["toast"]["message"] == "Your notification settings were saved."
    )
    prefs = {p["kind"]: p for p in notes.preferences(user.id)}
    assert prefs["deposit_credited"]["email"] is False and prefs["deposit_credited"]["live"] is True
    assert prefs["order_filled"]["live"] is False
    assert prefs["kyc_approved"]["email"] is True
    assert 'name="email:deposit_credited" aria-label' in r.get_data(as_text=True)  # unchecked now


def test_preferences_post_without_csrf_changes_nothing(logged_in_client, user):
    before = notes.preferences(user.id)
    r = logged_in_client.post("/account/notifications", data={}, headers=HTMX)
    assert r.status_code == 400
    assert notes.preferences(user.id) == before
