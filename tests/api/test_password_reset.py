"""POST /api/v1/auth/password-reset/ and /password-reset-confirm/."""

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from tradeapp.mail import outbox_messages
from tradeapp.models import RefreshToken, User
from tradeapp.services.tokens import issue_tokens
from tradeapp.services.users import password_reset_token

from .helpers import assert_error, login, reset_token_from_mail

RESET = "/api/v1/auth/password-reset/"
CONFIRM = "/api/v1/auth/password-reset-confirm/"
NEW_PASSWORD = "Quiet-Harbour-Lantern-7"


def test_reset_request_mails_a_token_and_hides_whether_the_address_exists(api_client, db, user):
    known = api_client.post(RESET, json={"email": "ALICE@example.com"})
    unknown = api_client.post(RESET, json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_json() == unknown.get_json()
    assert set(known.get_json()) == {"message"}
    mails = outbox_messages()
    assert [m["to"] for m in mails] == [user.email]
    assert reset_token_from_mail(mails[0]["text"])


def test_reset_request_for_a_disabled_account_sends_nothing(api_client, db, create_user):
    disabled = create_user(is_active_flag=False)
    assert api_client.post(RESET, json={"email": disabled.email}).status_code == 200
    assert outbox_messages() == []


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": None}])
def test_reset_request_bad_input(api_client, db, body):
    assert_error(api_client.post(RESET, json=body), 400, "validation_error")
    assert outbox_messages() == []


def test_confirm_sets_the_password_and_signs_out_every_session(api_client, db, user):
    session = issue_tokens(user)
    api_client.post(RESET, json={"email": user.email})
    token = reset_token_from_mail(outbox_messages()[0]["text"])
    r = api_client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"message"}

    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200
    assert_error(login(api_client, user.email, PASSWORD), 401, "authentication_failed")
    # The mobile session from before the reset is over.
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.id == 1))
    assert row.revoked_at is not None
    assert_error(api_client.post("/api/v1/auth/refresh/", json={"refresh": session["refresh"]}), 401, "token_not_valid")
    # The link works once.
    again = api_client.post(
        CONFIRM, json={"token": token, "password": "Other-Harbour-88", "password_confirm": "Other-Harbour-88"}
    )
    assert_error(again, 400, "token_invalid", ["token"])


def test_confirm_with_a_bad_token(api_client, db, user):
    r = api_client.post(CONFIRM, json={"token": "nonsense", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert_error(r, 400, "token_invalid", ["token"])
    assert login(api_client, user.email, PASSWORD).status_code == 200


def test_confirm_with_a_weak_or_mismatched_password(app, api_client, db, user):
    with app.test_request_context():
        token = password_reset_token(db.session.get(User, user.id))
    weak = api_client.post(CONFIRM, json={"token": token, "password": "password123", "password_confirm": "password123"})
    assert_error(weak, 400, "validation_error", ["password"])
    mismatch = api_client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD, "password_confirm": "nope"})
    assert_error(mismatch, 400, "validation_error", ["password_confirm"])
    # Nothing changed and the token still works.
    assert login(api_client, user.email, PASSWORD).status_code == 200
    ok = api_client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert ok.status_code == 200


def test_confirm_missing_fields(api_client, db):
    assert_error(api_client.post(CONFIRM, json={}), 400, "validation_error", ["token", "password", "password_confirm"])
