"""The account pages: profile (with e-mail re-verification) and change password."""

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, web_login
from tests.web.test_auth_pages import HTMX, NEW_PASSWORD, field_errors, link_in
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, User


def profile_data(client, user, **overrides) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone_number": user.phone_number,
        "email": user.email,
        "csrf_token": csrf_token(client, "/account/"),
    }
    data.update(overrides)
    return data


def reload(db, user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


@pytest.mark.parametrize("path", ["/account/", "/account/password"])
def test_account_pages_need_login(client, path):
    r = client.get(path)
    assert r.status_code == 302
    assert r.headers["Location"] == f"/auth/login?next={path}"
    r = client.get(path, headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/auth/login?next=")


def test_profile_page_shows_status_and_referral_code(logged_in_client, user):
    r = logged_in_client.get("/account/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert user.referral_code in html
    assert f"/auth/register?ref={user.referral_code}" in html
    assert "confirmed" in html and "not submitted" in html  # e-mail and KYC badges
    assert "Member since" in html and str(user.created_at.year) in html
    assert 'value="Alice"' in html and 'value="alice@example.com"' in html
    assert "confirming the new address again" in html


def test_profile_update(logged_in_client, db, user):
    data = profile_data(logged_in_client, user, first_name="Alicia", phone_number="+1 555 0100")
    r = logged_in_client.post("/account/", data=data)
    assert r.status_code == 303 and r.headers["Location"] == "/account/"
    fresh = reload(db, user)
    assert (fresh.first_name, fresh.phone_number) == ("Alicia", "+1 555 0100")
    assert fresh.email_verified_at is not None  # the address did not change
    assert outbox_messages() == []
    assert "Your profile was saved." in logged_in_client.get("/account/").get_data(as_text=True)
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.profile_updated"))
    assert row.before == {"first_name": "Alice", "phone_number": ""}
    assert row.after == {"first_name": "Alicia", "phone_number": "+1 555 0100"}


def test_changing_email_needs_verification_again(logged_in_client, db, user):
    r = logged_in_client.post("/account/", data=profile_data(logged_in_client, user, email="Alice.New@Example.com"))
    assert r.status_code == 303
    fresh = reload(db, user)
    assert fresh.email == "alice.new@example.com"
    assert fresh.email_verified_at is None
    page = logged_in_client.get("/account/").get_data(as_text=True)
    assert "confirm the new address" in page and "not confirmed" in page
    (mail,) = outbox_messages()
    assert mail["to"] == "alice.new@example.com"
    logged_in_client.get(link_in(mail, "/auth/verify/"))
    assert reload(db, user).email_verified_at is not None


def test_old_verification_link_does_not_confirm_a_new_email(logged_in_client, db, user):
    from tradeapp.services.users import email_verification_token

    old_link = f"/auth/verify/{email_verification_token(user)}"
    logged_in_client.post("/account/", data=profile_data(logged_in_client, user, email="other@example.com"))
    logged_in_client.get(old_link)
    assert reload(db, user).email_verified_at is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"username": "BOB"}, "username", "already exists"),
        ({"email": "BOB@example.com"}, "email", "already exists"),
        ({"username": ""}, "username", "required"),
        ({"phone_number": "not a phone"}, "phone_number", "valid phone"),
        ({"email": "broken@"}, "email", "valid email"),
    ],
)
def test_profile_errors_change_nothing(logged_in_client, db, user, create_user, overrides, field, message):
    create_user(email="bob@example.com", username="bob")
    r = logged_in_client.post("/account/", data=profile_data(logged_in_client, user, first_name="Changed", **overrides))
    assert r.status_code == 200
    assert message in field_errors(r.get_data(as_text=True), field)
    fresh = reload(db, user)
    assert (fresh.username, fresh.email, fresh.first_name) == ("alice", "alice@example.com", "Alice")
    assert outbox_messages() == []


def test_profile_htmx_returns_the_fragment(logged_in_client, db, user):
    r = logged_in_client.post(
        "/account/", data=profile_data(logged_in_client, user, last_name="Hargreaves"), headers=HTMX
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="profile-panel"')
    assert "Your profile was saved." in html and 'value="Hargreaves"' in html
    assert "HX-Request" in r.headers["Vary"]
    assert reload(db, user).last_name == "Hargreaves"


def test_profile_htmx_error_fragment(logged_in_client, user, create_user):
    create_user(username="taken")
    r = logged_in_client.post("/account/", data=profile_data(logged_in_client, user, username="Taken"), headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    assert "already exists" in field_errors(html, "username")


def test_profile_post_without_csrf(logged_in_client, db, user):
    data = profile_data(logged_in_client, user, first_name="Mallory")
    del data["csrf_token"]
    assert logged_in_client.post("/account/", data=data).status_code == 400
    assert reload(db, user).first_name == "Alice"


def test_profile_ignores_fields_that_are_not_editable(logged_in_client, db, user):
    data = profile_data(
        logged_in_client, user, kyc_status="approved", is_verified="y", referral_code="HACKED12", role="admin"
    )
    assert logged_in_client.post("/account/", data=data).status_code == 303
    fresh = reload(db, user)
    assert (fresh.kyc_status, fresh.is_verified, fresh.role) == ("not_submitted", False, None)
    assert fresh.referral_code != "HACKED12"


# -- change password ------------------------------------------------------------------------------------------


def password_data(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None) -> dict:
    return {
        "current_password": current,
        "new_password": new,
        "new_password_confirm": new if confirm is None else confirm,
        "csrf_token": csrf_token(client, "/account/password"),
    }


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"current": "Not-my-password-1"}, "current_password", "not correct"),
        ({"confirm": "Something-else-entirely-7"}, "new_password_confirm", "match"),
        ({"new": "password1234"}, "new_password", "too common"),
        ({"new": "alice-liddell"}, "new_password", "too similar"),
        ({"new": PASSWORD}, "new_password", "different from the current"),
    ],
)
def test_change_password_errors(logged_in_client, db, user, kwargs, field, message):
    old_hash = user.password_hash
    r = logged_in_client.post("/account/password", data=password_data(logged_in_client, **kwargs))
    assert r.status_code == 200
    assert message in field_errors(r.get_data(as_text=True), field)
    assert reload(db, user).password_hash == old_hash


def test_change_password_logs_out_other_sessions(app, logged_in_client, db, user):
    other_device = app.test_client()
    web_login(other_device, user.email)
    assert other_device.get("/account/").status_code == 200

    r = logged_in_client.post("/account/password", data=password_data(logged_in_client))
    assert r.status_code == 303 and r.headers["Location"] == "/account/"

    # This session carries on; the other one is over.
    page = logged_in_client.get("/account/")
    assert page.status_code == 200 and "Other devices have been logged out." in page.get_data(as_text=True)
    assert other_device.get("/account/").status_code == 302
    assert web_login(app.test_client(), user.email, PASSWORD).status_code == 200
    assert web_login(app.test_client(), user.email, NEW_PASSWORD).status_code == 303
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "user.password_changed")).actor_id == user.id


def test_old_session_cookie_is_refused_after_password_change(app, logged_in_client, user):
    stolen = logged_in_client.get_cookie("session").value
    logged_in_client.post("/account/password", data=password_data(logged_in_client))
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/account/").status_code == 302


def test_change_password_keeps_remember_me(app, user):
    c = app.test_client()
    web_login(c, user.email, remember=True)
    r = c.post("/account/password", data=password_data(c))
    assert any(h.startswith("remember_token=") for h in r.headers.getlist("Set-Cookie"))
    c.delete_cookie("session")
    assert c.get("/account/").status_code == 200  # the renewed cookie carries the new stamp


def test_old_remember_cookie_dies_with_the_password(app, user):
    device = app.test_client()
    web_login(device, user.email, remember=True)
    device.delete_cookie("session")
    owner = app.test_client()
    web_login(owner, user.email)
    owner.post("/account/password", data=password_data(owner))
    assert device.get("/account/").status_code == 302


def test_change_password_htmx(logged_in_client):
    r = logged_in_client.post("/account/password", data=password_data(logged_in_client, current="nope"), headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="password-form"' in html
    r = logged_in_client.post("/account/password", data=password_data(logged_in_client), headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/account/"
