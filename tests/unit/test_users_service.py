"""services.users and services.passwords, called directly."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tradeapp.errors import AccountLocked, AuthenticationFailed, ValidationFailed
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, RefreshToken, User
from tradeapp.models.types import utcnow
from tradeapp.services import passwords
from tradeapp.services import users as svc

NEW_PASSWORD = "Quiet-meadow-lantern-42"


@pytest.fixture(autouse=True)
def request_ctx(app, db):
    """Services build external links with url_for: give them a request context."""
    with app.test_request_context():
        yield


def register(**overrides) -> User:
    fields = {
        "email": "new@example.com",
        "username": "newbie",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    fields.update(overrides)
    return svc.register_user(**fields)


def errors_of(call) -> dict:
    with pytest.raises(ValidationFailed) as info:
        call()
    return info.value.fields


# -- registration ---------------------------------------------------------------------------------------


def test_register_normalises_and_links_referrer(db, create_user):
    referrer = create_user()
    user = register(
        email="  New@Example.COM ", username=" newbie ", referral_code=f" {referrer.referral_code.lower()} "
    )
    assert user.email == "new@example.com" and user.username == "newbie"
    assert user.referred_by_id == referrer.id
    assert len(user.referral_code) == 8 and user.referral_code.isalnum() and user.referral_code.isupper()
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert user.email_verified_at is None and user.role is None and user.kyc_status == "not_submitted"
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.actor_id == user.id)) == "user.registered"
    (mail,) = outbox_messages()
    assert mail["to"] == "new@example.com" and "/auth/verify/" in mail["text"]


def test_register_collects_every_error_at_once(db, user):
    fields = errors_of(
        lambda: register(
            email="ALICE@example.com",
            username="Alice",
            password="short",
            password_confirm="other",
            phone_number="x",
            referral_code="NOPE",
        )
    )
    assert set(fields) == {"email", "username", "password", "password_confirm", "phone_number", "referral_code"}
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert outbox_messages() == []


def test_register_race_on_unique_email_is_a_validation_error(db, create_user, monkeypatch):
    create_user(email="taken@example.com")
    # Pretend the duplicate check ran before the other request committed.
    monkeypatch.setattr(svc, "_check_email", lambda email, errors, **kw: email)
    fields = errors_of(lambda: register(email="taken@example.com"))
    assert "email" in fields
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


# -- e-mail verification ------------------------------------------------------------------------------------


def test_verify_email_is_idempotent(db, create_user):
    user = create_user(verified=False)
    token = svc.email_verification_token(user)
    first = svc.verify_email(token).email_verified_at
    assert first is not None
    assert svc.verify_email(token).email_verified_at == first
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "user.email_verified")) == 1


def test_verification_token_is_bound_to_the_address(db, create_user):
    user = create_user(verified=False)
    token = svc.email_verification_token(user)
    user.email = "changed@example.com"
    db.session.commit()
    assert "token" in errors_of(lambda: svc.verify_email(token))


def test_expired_verification_token(app, create_user, monkeypatch):
    token = svc.email_verification_token(create_user(verified=False))
    monkeypatch.setitem(app.config, "EMAIL_TOKEN_MAX_AGE", -1)
    with pytest.raises(ValidationFailed) as info:
        svc.verify_email(token)
    assert info.value.code == "token_expired"


# -- authentication and lockout --------------------------------------------------------------------------------


def test_authenticate(user):
    assert svc.authenticate("ALICE@example.com ", PASSWORD).id == user.id
    assert svc.authenticate("alice@example.com", PASSWORD).last_login_at is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong"), ("nobody@example.com", PASSWORD), ("alice@example.com", ""), ("", "")],
)
def test_authenticate_failures_look_the_same(user, email, password):
    with pytest.raises(AuthenticationFailed) as info:
        svc.authenticate(email, password)
    assert info.value.message == svc.INVALID_LOGIN


def test_disabled_account_cannot_authenticate(db, create_user):
    create_user(email="gone@example.com", is_active_flag=False)
    with pytest.raises(AuthenticationFailed) as info:
        svc.authenticate("gone@example.com", PASSWORD)
    assert info.value.message == svc.INVALID_LOGIN


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_lockout_with_back_off(app, db, user, email):
    threshold = app.config["LOCKOUT_THRESHOLD"]
    base = app.config["LOCKOUT_BASE_SECONDS"]
    for _ in range(threshold - 1):
        with pytest.raises(AuthenticationFailed):
            svc.authenticate(email, "wrong")
    assert svc.lockout_status(email).locked_until is None
    with pytest.raises(AuthenticationFailed):
        svc.authenticate(email, "wrong")  # the threshold-th failure locks
    with pytest.raises(AccountLocked) as info:
        svc.authenticate(email, PASSWORD)
    assert 0 < info.value.retry_after <= base + 1
    assert info.value.status == 429

    # Each further failure after a lock expires doubles the wait, up to the maximum.
    waits = []
    for _ in range(12):
        row = svc.lockout_status(email)
        row.locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
        with pytest.raises(AuthenticationFailed):
            svc.authenticate(email, "wrong")
        waits.append(round((svc.lockout_status(email).locked_until - utcnow()).total_seconds()))
    assert waits[0] == pytest.approx(base * 2, abs=2)
    assert waits[1] == pytest.approx(base * 4, abs=2)
    assert max(waits) <= app.config["LOCKOUT_MAX_SECONDS"]
    assert waits[-1] == pytest.approx(app.config["LOCKOUT_MAX_SECONDS"], abs=2)


def test_successful_login_clears_the_counter(user):
    with pytest.raises(AuthenticationFailed):
        svc.authenticate("alice@example.com", "wrong")
    assert svc.lockout_status("alice@example.com").failures == 1
    svc.authenticate("alice@example.com", PASSWORD)
    assert svc.lockout_status("alice@example.com") is None


def test_lockout_is_per_address(app, user):
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        with pytest.raises(AuthenticationFailed):
            svc.authenticate("nobody@example.com", "wrong")
    assert svc.authenticate("alice@example.com", PASSWORD).id == user.id


# -- passwords ------------------------------------------------------------------------------------------------


def test_request_password_reset_is_silent_for_unknown_and_disabled(create_user):
    create_user(email="gone@example.com", is_active_flag=False)
    assert svc.request_password_reset("nobody@example.com") is None
    assert svc.request_password_reset("gone@example.com") is None
    assert outbox_messages() == []


def test_reset_password_once(db, user):
    svc.request_password_reset("Alice@Example.com")
    (mail,) = outbox_messages()
    token = svc.password_reset_token(user)
    assert token.split(".")[0] in mail["text"]  # same payload as the mailed link
    svc.reset_password(token, NEW_PASSWORD, NEW_PASSWORD)
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    with pytest.raises(ValidationFailed) as info:
        svc.reset_password(token, "Another-fine-password-9", "Another-fine-password-9")
    assert info.value.code == "token_invalid"


def test_reset_password_revokes_mobile_sessions_and_clears_lockout(app, db, user):
    from tradeapp.services.tokens import issue_tokens

    issue_tokens(user)
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        with pytest.raises(AuthenticationFailed):
            svc.authenticate("alice@example.com", "wrong")
    svc.reset_password(svc.password_reset_token(user), NEW_PASSWORD, NEW_PASSWORD)
    assert db.session.scalar(select(func.count()).where(RefreshToken.revoked_at.is_(None))) == 0
    assert svc.authenticate("alice@example.com", NEW_PASSWORD).id == user.id


def test_change_password(db, user):
    old_stamp = user.password_stamp
    fields = errors_of(lambda: svc.change_password(user, "wrong", "short", "other"))
    assert set(fields) == {"current_password", "new_password", "new_password_confirm"}
    svc.change_password(user, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    assert user.password_stamp != old_stamp
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least"),
        ("12345678901234", "entirely numeric"),
        ("password1234", "too common"),
        ("alice.liddell!", "too similar"),
        ("liddell-alice", "too similar"),
        ("x" * 129, "at most"),
    ],
)
def test_password_rules(password, problem):
    problems = passwords.password_problems(
        password, email="alice.liddell@example.com", username="alice", names=("Alice", "Liddell")
    )
    assert any(problem in p for p in problems), problems


def test_good_password_has_no_problems():
    assert passwords.password_problems(NEW_PASSWORD, email="alice@example.com", username="alice") == []


# -- profile -----------------------------------------------------------------------------------------------------


def test_update_profile_refuses_protected_fields(db, user):
    fields = errors_of(lambda: svc.update_profile(user, {"kyc_status": "approved", "is_verified": True}))
    assert set(fields) == {"kyc_status", "is_verified"}
    db.session.expire_all()
    assert db.session.get(User, user.id).kyc_status == "not_submitted"


def test_update_profile_email_change(db, user):
    svc.update_profile(user, {"email": "NEW.Alice@example.com", "first_name": " Alicia "})
    assert user.email == "new.alice@example.com" and user.first_name == "Alicia"
    assert user.email_verified_at is None
    (mail,) = outbox_messages()
    assert mail["to"] == "new.alice@example.com"


def test_update_profile_same_email_keeps_verification(db, user):
    svc.update_profile(user, {"email": "ALICE@example.com"})
    assert user.email_verified_at is not None
    assert outbox_messages() == []
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "user.profile_updated")) == 0


def test_update_profile_duplicates(db, user, create_user):
    create_user(email="bob@example.com", username="bob")
    fields = errors_of(lambda: svc.update_profile(user, {"email": "BOB@example.com", "username": "Bob"}))
    assert set(fields) == {"email", "username"}
