"""Sessions and devices: listed with device, IP and first/last seen; revoking one kills its access;
a login from a new device or IP is alerted with a "this was not me" link; a password change ends
the other sessions and tells the customer."""

import re

from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, web_login
from tests.web.test_auth_pages import HTMX
from tradeapp.extensions import db
from tradeapp.mail import outbox_messages
from tradeapp.models import KnownDevice, Notification, User, UserSession
from tradeapp.services.account_security import sessions

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"


def api_login(api_client, user, agent=FIREFOX):
    r = api_client.post(
        "/api/v1/auth/login/", json={"email": user.email, "password": PASSWORD}, headers={"User-Agent": agent}
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_api_logins_are_listed_and_revoking_one_kills_its_access_token(client, api_client, user):
    first = api_login(api_client, user)
    second = api_login(api_client, user, PHONE)
    r = client.get("/api/v1/sessions/", headers=bearer(second["access"]))
    rows = r.get_json()["results"]
    assert [s["device"] for s in rows] == ["Safari on iPhone", "Firefox on Linux"]
    assert [s["current"] for s in rows] == [True, False]
    assert all(s["kind"] == "api" and s["ip"] == "127.0.0.1" and s["created_at"] and s["last_seen_at"] for s in rows)

    r = client.post(f"/api/v1/sessions/{rows[1]['id']}/revoke/", headers=bearer(second["access"]))
    assert r.status_code == 200
    # the revoked login's access token dies at once, and its refresh token too
    r = client.get("/api/v1/auth/me/", headers=bearer(first["access"]))
    assert r.status_code == 401
    assert client.post("/api/v1/auth/refresh/", json={"refresh": first["refresh"]}).status_code == 401
    # the other login goes on
    assert client.get("/api/v1/auth/me/", headers=bearer(second["access"])).status_code == 200
    assert len(client.get("/api/v1/sessions/", headers=bearer(second["access"])).get_json()["results"]) == 1


def test_revoke_all_keeps_only_the_caller(client, api_client, user):
    logins = [api_login(api_client, user) for _ in range(3)]
    web = web_login(client, user.email)
    assert web.status_code in (302, 303)
    r = client.post("/api/v1/sessions/revoke-all/", headers=bearer(logins[0]["access"]))
    assert r.get_json() == {"revoked": 3}
    assert client.get("/api/v1/auth/me/", headers=bearer(logins[1]["access"])).status_code == 401
    assert client.get("/api/v1/auth/me/", headers=bearer(logins[0]["access"])).status_code == 200
    # the web session ended too: its next page asks for a login
    assert client.get("/dashboard").status_code == 302


def test_other_users_sessions_are_not_found(client, api_client, user, create_user):
    other = create_user()
    theirs = sessions.start(other, "web", "theirs", FIREFOX, "10.1.1.1")
    mine = api_login(api_client, user)
    assert client.post(f"/api/v1/sessions/{theirs.id}/revoke/", headers=bearer(mine["access"])).status_code == 404
    assert client.delete(f"/api/v1/sessions/{theirs.id}/", headers=bearer(mine["access"])).status_code == 404
    db.session.expire_all()
    assert db.session.get(UserSession, theirs.id).revoked_at is None


def test_a_revoked_web_session_ends_at_its_next_request(app, user):
    phone, laptop = app.test_client(), app.test_client()
    web_login(phone, user.email)
    web_login(laptop, user.email)
    html = laptop.get("/account/security").get_data(as_text=True)
    assert html.count("Sign out</button>") == 2 and "this device" in html
    phone_row = db.session.scalars(select(UserSession).order_by(UserSession.id)).first()
    token = csrf_token(laptop, "/account/security")
    r = laptop.post(f"/account/security/sessions/{phone_row.id}/revoke", data={"csrf_token": token}, headers=HTMX)
    assert r.status_code == 200 and "That device was signed out." in r.get_data(as_text=True)
    r = phone.get("/dashboard")
    assert r.status_code == 302 and r.headers["Location"] == "/auth/login"
    assert laptop.get("/dashboard").status_code == 200


def test_a_login_from_a_new_device_is_alerted_and_can_be_disowned(app, client, api_client, user):
    api_login(api_client, user)  # the first login: every device is new, nothing to alert
    assert db.session.scalars(select(Notification).where(Notification.kind == "new_login")).all() == []
    api_login(api_client, user)  # same device and address again: still nothing
    assert db.session.scalars(select(KnownDevice)).all().__len__() == 1
    api_login(api_client, user, PHONE)
    [note] = db.session.scalars(select(Notification).where(Notification.kind == "new_login")).all()
    assert "Safari on iPhone from 127.0.0.1" in note.body
    [mail] = [m for m in outbox_messages() if m["subject"] == "New sign-in to your account"]
    link = re.search(r"http://localhost(/account/security/disown/\S+)", mail["text"]).group(1)

    page = client.get(link)
    assert page.status_code == 200 and "Sign out everywhere" in page.get_data(as_text=True)
    old_hash = db.session.get(User, user.id).password_hash
    r = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert r.status_code == 200 and "e-mailed you a link" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash != old_hash
    assert all(s.revoked_at is not None for s in db.session.scalars(select(UserSession)))
    assert api_client.post("/api/v1/auth/login/", json={"email": user.email, "password": PASSWORD}).status_code == 401
    assert any(m["subject"] == "Reset your password" for m in outbox_messages())


def test_a_forged_disown_link_is_refused(client):
    assert client.get("/account/security/disown/not-a-token").status_code == 400


def test_a_password_change_tells_the_customer_and_ends_other_sessions(app, api_client, user):
    tokens = api_login(api_client, user)
    other, me = app.test_client(), app.test_client()
    web_login(other, user.email)
    web_login(me, user.email)
    token = csrf_token(me, "/account/password")
    r = me.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "Another-long-phrase-42",
            "new_password_confirm": "Another-long-phrase-42",
            "csrf_token": token,
        },
    )
    assert r.status_code in (302, 303)
    assert me.get("/dashboard").status_code == 200
    assert other.get("/dashboard").status_code == 302
    assert api_client.client.get("/api/v1/auth/me/", headers=bearer(tokens["access"])).status_code == 401
    note = db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert note.title == "Your password was changed"
    assert any(m["subject"] == "Your password was changed" for m in outbox_messages())
    live = [s for s in db.session.scalars(select(UserSession)) if s.revoked_at is None]
    assert len(live) == 1
