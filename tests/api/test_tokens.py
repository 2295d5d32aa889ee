"""Refresh (rotation, reuse detection), logout, and what a bearer token must be."""

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import select

from tests.conftest import PASSWORD
from tradeapp.models import RefreshToken, User
from tradeapp.services.tokens import issue_tokens

from .helpers import assert_error

REFRESH = "/api/v1/auth/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"


def _refresh(api, token):
    return api.post(REFRESH, json={"refresh": token})


def test_refresh_rotates_and_the_used_token_stops_working(app, api_client, db, user):
    first = issue_tokens(user)
    r = _refresh(api_client, first["refresh"])
    assert r.status_code == 200, r.get_json()
    second = r.get_json()
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"] and second["access"] != first["access"]
    # The new access token works; the used refresh token is refused from now on.
    api_client.token = second["access"]
    assert api_client.get(ME).status_code == 200
    api_client.token = None
    assert_error(_refresh(api_client, first["refresh"]), 401, "token_not_valid", ["refresh"])


def test_reusing_a_rotated_token_revokes_the_whole_family(app, api_client, db, user):
    first = issue_tokens(user)
    other_login = issue_tokens(user)
    second = _refresh(api_client, first["refresh"]).get_json()
    # Someone replays the old token: refused, and the token rotated from it dies too.
    assert_error(_refresh(api_client, first["refresh"]), 401, "token_not_valid")
    assert_error(_refresh(api_client, second["refresh"]), 401, "token_not_valid")
    # Another login (another family) is untouched.
    assert _refresh(api_client, other_login["refresh"]).status_code == 200
    rows = db.session.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
    assert [row.revoked_at is not None for row in rows] == [True, True, True, False]


def test_refresh_refuses_an_access_token(api_client, db, user):
    pair = issue_tokens(user)
    assert_error(_refresh(api_client, pair["access"]), 401, "token_not_valid")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_refresh_refuses_garbage(api_client, db, token):
    assert_error(_refresh(api_client, token), 401, "token_not_valid")


def test_refresh_refuses_an_expired_token(app, api_client, db, user):
    with app.test_request_context():
        expired = create_refresh_token(identity=str(user.id), expires_delta=timedelta(seconds=-1))
    assert_error(_refresh(api_client, expired), 401, "token_not_valid")


def test_refresh_refuses_a_token_signed_elsewhere(app, api_client, db, user):
    import jwt

    pair = issue_tokens(user)
    claims = jwt.decode(pair["refresh"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-key-that-is-long-enough-012345", algorithm="HS256")
    assert_error(_refresh(api_client, forged), 401, "token_not_valid")


def test_refresh_refuses_an_unknown_but_well_signed_token(app, api_client, db, user):
    with app.test_request_context():
        unknown = create_refresh_token(identity=str(user.id))
    assert_error(_refresh(api_client, unknown), 401, "token_not_valid")


def test_refresh_refuses_a_disabled_user(api_client, db, user):
    pair = issue_tokens(user)
    user.is_active_flag = False
    db.session.commit()
    assert_error(_refresh(api_client, pair["refresh"]), 401, "token_not_valid")


def test_refresh_requires_the_field(api_client, db):
    assert_error(api_client.post(REFRESH, json={}), 400, "validation_error", ["refresh"])
    assert_error(api_client.post(REFRESH, json={"refresh": None}), 400, "validation_error", ["refresh"])


# -- logout -----------------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(api_client, db, user):
    pair = issue_tokens(user)
    api_client.token = pair["access"]
    r = api_client.post(LOGOUT, json={"refresh": pair["refresh"]})
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"message"}
    api_client.token = None
    assert_error(_refresh(api_client, pair["refresh"]), 401, "token_not_valid")
    row = db.session.scalar(select(RefreshToken))
    assert row.revoked_at is not None


def test_logout_ends_the_session_even_with_an_older_token(api_client, db, user):
    first = issue_tokens(user)
    second = _refresh(api_client, first["refresh"]).get_json()
    api_client.token = second["access"]
    assert api_client.post(LOGOUT, json={"refresh": second["refresh"]}).status_code == 200
    # The access token died with the logout: a second logout with it is refused.
    assert_error(api_client.post(LOGOUT, json={"refresh": second["refresh"]}), 401, "not_authenticated")
    api_client.token = None
    assert_error(_refresh(api_client, second["refresh"]), 401, "token_not_valid")


def test_logout_needs_an_access_token(api_client, db, user):
    pair = issue_tokens(user)
    assert_error(api_client.post(LOGOUT, json={"refresh": pair["refresh"]}), 401, "not_authenticated")
    # The refresh token is not an access token.
    api_client.token = pair["refresh"]
    assert_error(api_client.post(LOGOUT, json={"refresh": pair["refresh"]}), 401, "not_authenticated")
    api_client.token = None
    assert _refresh(api_client, pair["refresh"]).status_code == 200


def test_logout_refuses_someone_elses_refresh_token(api_client, db, user, create_user):
    mine = issue_tokens(user)
    theirs = issue_tokens(create_user())
    api_client.token = mine["access"]
    assert_error(api_client.post(LOGOUT, json={"refresh": theirs["refresh"]}), 400, "token_not_valid", ["refresh"])
    api_client.token = None
    assert _refresh(api_client, theirs["refresh"]).status_code == 200


@pytest.mark.parametrize("body", [{"refresh": "garbage"}, {}, {"refresh": 1}])
def test_logout_bad_input(api_client, db, user, body):
    pair = issue_tokens(user)
    api_client.token = pair["access"]
    assert api_client.post(LOGOUT, json=body).status_code == 400
    api_client.token = None
    assert _refresh(api_client, pair["refresh"]).status_code == 200


def test_logout_refuses_an_access_token_as_the_refresh_token(api_client, db, user):
    pair = issue_tokens(user)
    api_client.token = pair["access"]
    assert_error(api_client.post(LOGOUT, json={"refresh": pair["access"]}), 400, "token_not_valid")


# -- bearer tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer garbage", "Token abc", "Basic dXNlcjpwYXNz", "Bearer a.b.c"],
)
def test_protected_endpoint_without_a_valid_token(api_client, db, header):
    headers = {"Authorization": header} if header else {}
    r = api_client.get(ME, headers=headers)
    assert_error(r, 401, "not_authenticated")


def test_refresh_token_is_not_an_access_token(api_client, db, user):
    api_client.token = issue_tokens(user)["refresh"]
    assert_error(api_client.get(ME), 401, "not_authenticated")


def test_expired_access_token(app, api_client, db, user):
    with app.test_request_context():
        api_client.token = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=-1))
    assert_error(api_client.get(ME), 401, "not_authenticated")


def test_a_verified_access_token_stops_working_when_it_expires(app, api_client, db, user):
    # Verified tokens are remembered (tradeapp.extensions.CachingJWTManager): the clock still rules.
    import time

    with app.test_request_context():
        api_client.token = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=1))
    assert api_client.get(ME).status_code == 200
    assert api_client.get(ME).status_code == 200  # from the cache
    time.sleep(1.2)
    assert_error(api_client.get(ME), 401, "not_authenticated")


def test_a_token_signed_with_another_key_is_refused_even_after_the_right_one_was_seen(app, api_client, db, user):
    with app.test_request_context():
        good = create_access_token(identity=str(user.id))
    api_client.token = good
    assert api_client.get(ME).status_code == 200
    header, payload, _signature = good.split(".")
    api_client.token = f"{header}.{payload}.{'A' * 43}"
    assert_error(api_client.get(ME), 401, "not_authenticated")


def test_disabled_users_access_token_stops_working(auth_api_client, db, user):
    assert auth_api_client.get(ME).status_code == 200
    db.session.get(User, user.id).is_active_flag = False
    db.session.commit()
    assert_error(auth_api_client.get(ME), 401, "not_authenticated")


def test_deleted_users_access_token_stops_working(auth_api_client, db, user):
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    assert_error(auth_api_client.get(ME), 401, "not_authenticated")


def test_access_token_from_before_a_password_change_stops_working(auth_api_client, db, user):
    from tradeapp.models.types import utcnow

    assert auth_api_client.get(ME).status_code == 200
    # The password changes after the token was issued (a clock two seconds on avoids same-second ties).
    db.session.get(User, user.id).password_changed_at = utcnow() + timedelta(seconds=2)
    db.session.commit()
    assert_error(auth_api_client.get(ME), 401, "not_authenticated")


def test_logout_revokes_the_access_token_too(api_client, db, user):
    pair = issue_tokens(user)
    other = issue_tokens(user)  # another device stays logged in
    api_client.token = pair["access"]
    assert api_client.get(ME).status_code == 200
    assert api_client.post(LOGOUT, json={"refresh": pair["refresh"]}).status_code == 200
    assert_error(api_client.get(ME), 401, "not_authenticated")
    api_client.token = other["access"]
    assert api_client.get(ME).status_code == 200


def test_a_revoked_access_token_cannot_open_a_socket(app, db, user):
    from tradeapp.auth import user_from_access_token
    from tradeapp.services.tokens import revoke_access

    pair = issue_tokens(user)
    assert user_from_access_token(pair["access"]) == user
    revoke_access(pair["access"])
    assert user_from_access_token(pair["access"]) is None


def test_password_change_revokes_every_token_of_the_user_at_once(app, api_client, db, user):
    from tradeapp.services import users

    pairs = [issue_tokens(user) for _ in range(3)]  # same second as the change: no clock tie saves them
    users.change_password(user, PASSWORD, "Quiet-Harbour-Lantern-7", "Quiet-Harbour-Lantern-7")
    for pair in pairs:
        api_client.token = pair["access"]
        assert_error(api_client.get(ME), 401, "not_authenticated")
        api_client.token = None
        assert_error(_refresh(api_client, pair["refresh"]), 401, "token_not_valid")
    api_client.token = issue_tokens(user)["access"]
    assert api_client.get(ME).status_code == 200
