"""Customer auth pages: register, verify, log in/out, lockout, forgotten and reset password."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, csrf_token, web_login
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, User

HTMX = {"HX-Request": "true"}
NEW_PASSWORD = "Quiet-meadow-lantern-42"


def count_users(db) -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def link_in(message: dict, prefix: str) -> str:
    """The path of the first link in ``message`` that starts with ``prefix``."""
    for url in re.findall(r"https?://\S+", message["text"]):
        parts = urlsplit(url)
        if parts.path.startswith(prefix):
            return parts.path
    raise AssertionError(f"no {prefix} link in {message['text']!r}")


def field_errors(html: str, name: str) -> str:
    """The error list rendered under the field ``name`` ('' when the field has none)."""
    start = html.find(f'id="field-{name}"')
    if start < 0:
        return ""
    opening = html[html.rfind("<div", 0, start) : start]
    end = min(i for i in (html.find('id="field-', start + 1), html.find("</form>", start), len(html)) if i >= 0)
    errors = re.search(r'<ul class="field-errors">(.*?)</ul>', html[start:end], re.S)
    return errors.group(1) if errors and "has-error" in opening else ""


def without_tokens(html: str) -> str:
    html = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def register_data(client, **overrides) -> dict:
    data = {
        "email": "new.trader@example.com",
        "username": "newtrader",
        "first_name": "Nora",
        "last_name": "Quinn",
        "phone_number": "+44 20 7946 0000",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
        "referral_code": "",
        "csrf_token": csrf_token(client, "/auth/register"),
    }
    data.update(overrides)
    return data


# -- registration --------------------------------------------------------------------------------------


def test_register_page_prefills_referral_code(client):
    r = client.get("/auth/register?ref=ABCD1234")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'name="referral_code"' in html and 'value="ABCD1234"' in html
    assert "At least 10 characters" in html  # the password rules are spelled out


def test_register_creates_user_links_referrer_and_verifies_by_mail(client, db, create_user):
    referrer = create_user(email="ref@example.com", username="referrer")
    data = register_data(client, email="New.Trader@Example.com", referral_code=referrer.referral_code.lower())

    r = client.post("/auth/register", data=data)

    assert r.status_code == 303
    assert r.headers["Location"] == "/dashboard"
    user = db.session.scalar(select(User).where(User.username == "newtrader"))
    assert user.email == "new.trader@example.com"
    assert (user.first_name, user.last_name, user.phone_number) == ("Nora", "Quinn", "+44 20 7946 0000")
    assert user.referred_by_id == referrer.id
    assert user.referral_code and user.referral_code != referrer.referral_code
    assert user.email_verified_at is None and not user.is_staff
    assert user.password_hash != NEW_PASSWORD
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "user.registered")).actor_id == user.id

    # Logged in, told to check the inbox.
    page = client.get("/dashboard").get_data(as_text=True)
    assert "check your inbox" in page and "new.trader@example.com" in page
    assert "Please confirm your email address" in page

    (mail,) = outbox_messages()
    assert mail["to"] == "new.trader@example.com"
    assert mail["subject"] == "Confirm your email address"
    r = client.get(link_in(mail, "/auth/verify/"))
    assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is not None
    page = client.get("/dashboard").get_data(as_text=True)
    assert "your email address is confirmed" in page
    assert "Please confirm your email address" not in page


def test_register_flash_points_to_outbox_in_embedded_mode(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "EMBEDDED", True)
    client.post("/auth/register", data=register_data(client))
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/dev/outbox"' in page and "Outbox" in page


def test_verification_link_works_when_logged_out(client, db):
    client.post("/auth/register", data=register_data(client))
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    (mail,) = outbox_messages()
    r = client.get(link_in(mail, "/auth/verify/"))
    assert r.status_code == 303 and r.headers["Location"] == "/auth/login"
    assert db.session.scalar(select(User.email_verified_at).where(User.username == "newtrader")) is not None


def test_bad_verification_link_is_refused(client, user, db):
    user.email_verified_at = None
    db.session.commit()
    r = client.get("/auth/verify/not-a-real-token")
    assert r.status_code == 303
    assert "This link is invalid" in client.get("/auth/login").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password_confirm": "Something-else-entirely-7"}, "password_confirm", "Passwords don&#39;t match."),
        ({"password": "password1234", "password_confirm": "password1234"}, "password", "too common"),
        ({"password": "newtrader12", "password_confirm": "newtrader12"}, "password", "too similar"),
        ({"password": "Sh0rt-pw", "password_confirm": "Sh0rt-pw"}, "password", "at least 10 characters"),
        ({"password": "84736251904", "password_confirm": "84736251904"}, "password", "entirely numeric"),
        ({"email": "ALICE@Example.COM"}, "email", "already exists"),
        ({"username": "ALICE"}, "username", "already exists"),
        ({"username": "no spaces please"}, "username", "letters, digits"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"phone_number": "call me maybe"}, "phone_number", "valid phone"),
        ({"referral_code": "NOPE1234"}, "referral_code", "not valid"),
        ({"email": ""}, "email", "required"),
    ],
)
def test_register_bad_input_shows_inline_errors_and_creates_nothing(client, db, user, overrides, field, message):
    before = count_users(db)
    r = client.post("/auth/register", data=register_data(client, **overrides))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert message in field_errors(html, field), html
    assert count_users(db) == before
    assert outbox_messages() == []
    # What the visitor typed is kept (except passwords).
    assert 'value="Nora"' in html
    assert NEW_PASSWORD not in html


def test_register_without_csrf_token_is_refused(client, db):
    data = register_data(client)
    del data["csrf_token"]
    r = client.post("/auth/register", data=data)
    assert r.status_code == 400
    assert "form expired" in r.get_data(as_text=True)
    assert count_users(db) == 0


def test_register_htmx_errors_return_the_form_fragment(client, db):
    r = client.post("/auth/register", data=register_data(client, password_confirm="nope-nope-nope"), headers=HTMX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith("<form")
    assert 'id="register-form"' in html and "match" in html
    assert "HX-Request" in r.headers["Vary"]
    assert count_users(db) == 0


def test_register_htmx_success_redirects_the_browser(client, db):
    r = client.post("/auth/register", data=register_data(client), headers=HTMX)
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/dashboard"
    assert count_users(db) == 1


def test_full_page_also_varies_on_hx_request(client):
    r = client.get("/auth/login")
    assert "<html" in r.get_data(as_text=True)
    assert "HX-Request" in r.headers["Vary"]


def test_resend_verification(client, db, create_user):
    create_user(email="unverified@example.com", verified=False)
    web_login(client, "unverified@example.com")
    r = client.post("/auth/verify/resend", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert r.status_code == 303
    (mail,) = outbox_messages()
    assert mail["to"] == "unverified@example.com"
    client.get(link_in(mail, "/auth/verify/"))
    assert db.session.scalar(select(User.email_verified_at).where(User.email == "unverified@example.com"))


def test_resend_verification_needs_login(client):
    r = client.post("/auth/verify/resend", data={"csrf_token": csrf_token(client, "/auth/login")})
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/auth/login?next=")
    assert outbox_messages() == []


def test_resend_when_already_verified_sends_nothing(logged_in_client):
    r = logged_in_client.post("/auth/verify/resend", data={"csrf_token": csrf_token(logged_in_client, "/dashboard")})
    assert r.status_code == 303
    assert outbox_messages() == []


# -- login, logout, lockout --------------------------------------------------------------------------------


def test_login_logs_in_and_records_it(client, db, user):
    r = web_login(client, "Alice@Example.com")
    assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "auth.login")).actor_id == user.id
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "Wrong-password-123"), ("nobody@example.com", PASSWORD), ("", PASSWORD)],
)
def test_login_failure_shows_one_generic_error(client, user, email, password):
    r = web_login(client, email, password)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    if email:
        assert "Invalid email or password." in html
    else:
        assert "This field is required." in html
    assert client.get("/dashboard").status_code == 302


def test_login_refuses_disabled_account_like_a_wrong_password(client, db, create_user):
    create_user(email="gone@example.com", is_active_flag=False)
    create_user(email="here@example.com")
    disabled = web_login(client, "gone@example.com")
    wrong = web_login(client, "here@example.com", "Wrong-password-123")
    assert disabled.status_code == wrong.status_code == 200
    assert "Invalid email or password." in disabled.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_unknown_and_known_emails_get_identical_answers(client, user):
    known = web_login(client, "alice@example.com", "Wrong-password-123").get_data(as_text=True)
    unknown = web_login(client, "nobody@example.com", "Wrong-password-123").get_data(as_text=True)
    assert without_tokens(known).replace("alice@example.com", "X") == without_tokens(unknown).replace(
        "nobody@example.com", "X"
    )


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_lockout_after_repeated_failures(app, client, user, email):
    threshold = app.config["LOCKOUT_THRESHOLD"]
    for _ in range(threshold):
        assert web_login(client, email, "Wrong-password-123").status_code == 200
    r = web_login(client, email, PASSWORD)  # even the right password is refused now
    assert r.status_code == 429
    assert "Too many failed attempts" in r.get_data(as_text=True)
    assert int(r.headers["Retry-After"]) > 0
    assert client.get("/dashboard").status_code == 302
    # Other accounts are not affected.
    other = app.test_client()
    assert web_login(other, "nobody-else@example.com", "Wrong-password-123").status_code == 200


def test_lockout_ends_and_backs_off(app, client, db, user):
    from datetime import timedelta

    from tradeapp.models.types import utcnow
    from tradeapp.services.users import lockout_status

    threshold = app.config["LOCKOUT_THRESHOLD"]
    for _ in range(threshold):
        web_login(client, "alice@example.com", "Wrong-password-123")
    first = lockout_status("alice@example.com")
    first_lock = (first.locked_until - utcnow()).total_seconds()
    # Time passes: the lock expires; one more failure locks again for twice as long.
    first.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert web_login(client, "alice@example.com", "Wrong-password-123").status_code == 200
    db.session.expire_all()
    second = lockout_status("alice@example.com")
    assert (second.locked_until - utcnow()).total_seconds() > first_lock * 1.5
    # After it expires, the right password works and clears the counter.
    second.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert web_login(client, "alice@example.com").status_code == 303
    db.session.expire_all()
    assert lockout_status("alice@example.com") is None


def test_locked_htmx_login_returns_the_fragment(app, client, user):
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        web_login(client, "alice@example.com", "Wrong-password-123")
    data = {"email": "alice@example.com", "password": PASSWORD, "csrf_token": csrf_token(client)}
    r = client.post("/auth/login", data=data, headers=HTMX)
    assert r.status_code == 429
    html = r.get_data(as_text=True)
    assert "<html" not in html and 'id="login-form"' in html and "Too many failed attempts" in html


def test_remember_me_sets_a_cookie(app, user):
    plain, remembered = app.test_client(), app.test_client()
    r = web_login(plain, user.email)
    assert "remember_token=" not in " ".join(r.headers.getlist("Set-Cookie"))
    r = web_login(remembered, user.email, remember=True)
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    assert "HttpOnly" in cookie and "Expires=" in cookie


def test_remember_cookie_restores_the_login(app, user):
    c = app.test_client()
    web_login(c, user.email, remember=True)
    c.delete_cookie("session")
    assert c.get("/dashboard").status_code == 200


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/account/", "/account/"),
        ("/account/password?x=1", "/account/password?x=1"),
        ("https://evil.example/steal", "/dashboard"),
        ("//evil.example/steal", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("/\t/evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
    ],
)
def test_login_follows_only_local_next(client, user, next_url, expected):
    data = {"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    r = client.post("/auth/login", query_string={"next": next_url}, data=data)
    assert r.status_code == 303
    assert r.headers["Location"] == expected


def test_login_page_keeps_next_in_the_form(client):
    html = client.get("/auth/login?next=/account/").get_data(as_text=True)
    assert 'action="/auth/login?next=/account/"' in html or 'action="/auth/login?next=%2Faccount%2F"' in html


def test_login_htmx_success_uses_hx_redirect(client, user):
    data = {"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    r = client.post("/auth/login", data=data, headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/dashboard"


def test_login_htmx_failure_returns_fragment(client, user):
    data = {"email": user.email, "password": "Wrong-password-123", "csrf_token": csrf_token(client)}
    r = client.post("/auth/login", data=data, headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and "Invalid email or password." in html
    assert "HX-Request" in r.headers["Vary"]


def test_login_starts_a_fresh_session(client, user):
    client.get("/auth/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
    web_login(client, user.email)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"].startswith(f"{user.id}:")


def test_staff_password_login_goes_to_two_factor(client, create_staff):
    staff = create_staff(role="support")
    data = {"email": staff.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    r = client.post("/auth/login", query_string={"next": "/staff/users/"}, data=data)
    assert r.status_code == 303
    location = urlsplit(r.headers["Location"])
    assert location.path == "/staff/2fa"
    assert parse_qs(location.query)["next"] == ["/staff/users/"]
    with client.session_transaction() as sess:
        assert sess["staff_2fa_ok"] is False


def test_staff_login_never_follows_an_outside_next(client, create_staff):
    staff = create_staff()
    data = {"email": staff.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    r = client.post("/auth/login", query_string={"next": "//evil.example"}, data=data)
    assert parse_qs(urlsplit(r.headers["Location"]).query)["next"] == ["/staff/"]


def test_login_without_csrf_is_refused(client, user):
    r = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 400
    assert client.get("/dashboard").status_code == 302


def test_logged_in_visit_to_login_goes_to_dashboard(logged_in_client):
    r = logged_in_client.get("/auth/login")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard"


def test_logout(logged_in_client):
    r = logged_in_client.post("/auth/logout", data={"csrf_token": csrf_token(logged_in_client, "/dashboard")})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert logged_in_client.get("/dashboard").status_code == 302
    assert "You have been logged out." in logged_in_client.get("/auth/login").get_data(as_text=True)


def test_logout_needs_post_and_csrf(logged_in_client):
    assert logged_in_client.get("/auth/logout").status_code == 405
    assert logged_in_client.post("/auth/logout").status_code == 400
    assert logged_in_client.get("/dashboard").status_code == 200


# -- forgotten and reset password ---------------------------------------------------------------------------


def forgot(client, email):
    return client.post(
        "/auth/password/forgot", data={"email": email, "csrf_token": csrf_token(client, "/auth/password/forgot")}
    )


def test_forgot_password_answers_the_same_for_unknown_addresses(client, user):
    known = forgot(client, "alice@example.com")
    unknown = forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert "If an account exists for that address, we sent a link" in known.get_data(as_text=True)
    assert without_tokens(known.get_data(as_text=True)) == without_tokens(unknown.get_data(as_text=True))
    (mail,) = outbox_messages()  # only the real account got mail
    assert mail["to"] == "alice@example.com"
    assert mail["subject"] == "Reset your password"
    assert "60 minutes" in mail["text"]


def test_forgot_password_sends_nothing_to_disabled_accounts(client, create_user):
    create_user(email="gone@example.com", is_active_flag=False)
    assert forgot(client, "gone@example.com").status_code == 200
    assert outbox_messages() == []


def test_forgot_password_checks_the_address_shape(client):
    r = forgot(client, "not an email")
    assert "Enter a valid email address." in field_errors(r.get_data(as_text=True), "email")


def test_forgot_password_htmx_returns_fragment(client, user):
    data = {"email": "alice@example.com", "csrf_token": csrf_token(client, "/auth/password/forgot")}
    r = client.post("/auth/password/forgot", data=data, headers=HTMX)
    html = r.get_data(as_text=True)
    assert "<html" not in html and 'id="forgot-panel"' in html and "If an account exists" in html


def reset_link(client, email="alice@example.com") -> str:
    forgot(client, email)
    return link_in(outbox_messages()[0], "/auth/password/reset/")


def test_reset_password_sets_it_and_ends_other_sessions(app, client, db, user):
    other_device = app.test_client()
    web_login(other_device, user.email)
    assert other_device.get("/dashboard").status_code == 200

    link = reset_link(client)
    page = client.get(link)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    r = client.post(
        link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_token(client, link)}
    )
    assert r.status_code == 303 and r.headers["Location"] == "/auth/login"
    assert "Your password has been reset" in client.get("/auth/login").get_data(as_text=True)

    assert other_device.get("/dashboard").status_code == 302
    assert web_login(app.test_client(), user.email, PASSWORD).status_code == 200  # old one refused
    assert web_login(app.test_client(), user.email, NEW_PASSWORD).status_code == 303
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "user.password_reset")) is not None


def test_reset_link_works_only_once(client, user):
    link = reset_link(client)
    data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_token(client, link)}
    assert client.post(link, data=data).status_code == 303
    again = client.get(link)
    assert again.status_code == 400
    html = again.get_data(as_text=True)
    assert "This link does not work" in html and 'href="/auth/password/forgot"' in html
    data["csrf_token"] = csrf_token(client, "/auth/login")
    data["password"] = data["password_confirm"] = "Another-fine-password-9"
    assert client.post(link, data=data).status_code == 400
    assert web_login(client, user.email, NEW_PASSWORD).status_code == 303


def test_expired_reset_link(app, client, user, monkeypatch):
    link = reset_link(client)
    monkeypatch.setitem(app.config, "RESET_TOKEN_MAX_AGE", -1)
    r = client.get(link)
    assert r.status_code == 400
    assert "This link has expired" in r.get_data(as_text=True)


@pytest.mark.parametrize("token", ["forged", "eyJ1aWQiOjF9.Zz9vYw.c2lnbmF0dXJl"])
def test_forged_reset_link(client, user, token):
    r = client.get(f"/auth/password/reset/{token}")
    assert r.status_code == 400
    assert 'href="/auth/password/forgot"' in r.get_data(as_text=True)


def test_reset_token_from_another_purpose_is_refused(client, user):
    from tradeapp.services.users import email_verification_token

    r = client.get(f"/auth/password/reset/{email_verification_token(user)}")
    assert r.status_code == 400


def test_reset_with_weak_password_shows_errors_and_keeps_the_old_one(client, user):
    link = reset_link(client)
    data = {"password": "password1234", "password_confirm": "password1234", "csrf_token": csrf_token(client, link)}
    r = client.post(link, data=data)
    assert r.status_code == 200
    assert "too common" in field_errors(r.get_data(as_text=True), "password")
    assert web_login(client, user.email, PASSWORD).status_code == 303


def test_reset_htmx_with_spent_link_redirects_to_the_explanation(client, user):
    link = reset_link(client)
    data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_token(client, link)}
    client.post(link, data=data)
    data["csrf_token"] = csrf_token(client, "/auth/login")
    r = client.post(link, data=data, headers=HTMX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == link


def test_reset_also_confirms_the_email(client, db, create_user):
    create_user(email="fresh@example.com", verified=False)
    link = reset_link(client, "fresh@example.com")
    data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_token(client, link)}
    client.post(link, data=data)
    assert db.session.scalar(select(User.email_verified_at).where(User.email == "fresh@example.com")) is not None
