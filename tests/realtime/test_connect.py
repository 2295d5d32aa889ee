"""Socket.IO connections: who joins which room, and who is refused."""

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token

from tests.conftest import web_login
from tradeapp import realtime
from tradeapp.extensions import socketio
from tradeapp.services.tokens import issue_tokens


def _events(sc, name="notice"):
    return [e["args"][0] for e in sc.get_received() if e["name"] == name]


@pytest.fixture()
def sockets(app):
    """``sockets(**kw)`` → a connected Socket.IO test client; all are disconnected afterwards."""
    opened = []

    def connect(**kw):
        sc = socketio.test_client(app, **kw)
        opened.append(sc)
        return sc

    yield connect
    for sc in opened:
        if sc.is_connected():
            sc.disconnect()


def test_web_session_user_joins_their_room_only(app, user, create_user, logged_in_client, sockets):
    other = create_user()
    sc = sockets(flask_test_client=logged_in_client)
    assert sc.is_connected()

    realtime.emit_to_user(user.id, "notice", {"n": 1})
    realtime.emit_to_user(other.id, "notice", {"n": 2})
    realtime.emit_to_staff("notice", {"n": 3})

    assert _events(sc) == [{"n": 1}]


def test_emit_to_user_reaches_every_connection_of_that_user_and_nobody_else(
    app, user, create_user, logged_in_client, sockets
):
    other = create_user()
    tab1 = sockets(flask_test_client=logged_in_client)
    tab2 = sockets(auth={"token": issue_tokens(user)["access"]})
    stranger = sockets(auth={"token": issue_tokens(other)["access"]})
    anonymous = sockets()

    realtime.emit_to_user(user.id, "notice", {"fill": "42"})

    assert _events(tab1) == [{"fill": "42"}]
    assert _events(tab2) == [{"fill": "42"}]
    assert _events(stranger) == []
    assert _events(anonymous) == []


def test_staff_past_two_factor_join_the_staff_room(app, staff_client_factory, sockets):
    client, staff = staff_client_factory("support")
    sc = sockets(flask_test_client=client)

    realtime.emit_to_staff("queue_count", {"kyc": 3})
    realtime.emit_to_user(staff.id, "notice", {"n": 1})

    received = sc.get_received()
    assert [e["args"][0] for e in received if e["name"] == "queue_count"] == [{"kyc": 3}]
    assert [e["args"][0] for e in received if e["name"] == "notice"] == [{"n": 1}]


def test_staff_without_two_factor_do_not_join_the_staff_room(app, create_staff, sockets):
    staff = create_staff(role="admin")
    client = app.test_client()
    web_login(client, staff.email)  # password only, no TOTP yet
    sc = sockets(flask_test_client=client)

    realtime.emit_to_staff("queue_count", {"kyc": 3})

    assert _events(sc, "queue_count") == []


def test_customers_never_join_the_staff_room(app, logged_in_client, sockets):
    with logged_in_client.session_transaction() as session:
        session["staff_2fa_ok"] = True  # even a forged flag does not make a customer staff
    sc = sockets(flask_test_client=logged_in_client)

    realtime.emit_to_staff("queue_count", {"kyc": 3})

    assert _events(sc, "queue_count") == []


def test_access_token_joins_the_user_room(app, user, sockets):
    sc = sockets(auth={"token": issue_tokens(user)["access"]})
    assert sc.is_connected()

    realtime.emit_to_user(user.id, "notice", {"n": 1})
    assert _events(sc) == [{"n": 1}]


def test_staff_access_token_joins_the_staff_room(app, create_staff, sockets):
    staff = create_staff(role="compliance")
    sc = sockets(auth={"token": issue_tokens(staff)["access"]})

    realtime.emit_to_staff("queue_count", {"kyc": 1})
    assert _events(sc, "queue_count") == [{"kyc": 1}]


def _expired_access_token(user):
    return create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=-5))


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: "not-a-jwt", id="garbage"),
        pytest.param(lambda user: issue_tokens(user)["refresh"], id="refresh-token"),
        pytest.param(_expired_access_token, id="expired"),
        pytest.param(lambda user: issue_tokens(user)["access"][:-4] + "AAAA", id="bad-signature"),
    ],
)
def test_invalid_tokens_are_refused(app, user, sockets, make_token):
    sc = sockets(auth={"token": make_token(user)})
    assert not sc.is_connected()


def test_token_of_a_disabled_account_is_refused(app, db, user, sockets):
    token = issue_tokens(user)["access"]
    user.is_active_flag = False
    db.session.commit()

    assert not sockets(auth={"token": token}).is_connected()


def test_invalid_token_is_refused_even_with_a_web_session(app, logged_in_client, sockets):
    sc = sockets(flask_test_client=logged_in_client, auth={"token": "forged"})
    assert not sc.is_connected()


def test_anonymous_visitors_connect_and_watch_prices_but_join_no_user_room(app, user, sockets):
    sc = sockets()
    assert sc.is_connected()
    assert sc.emit("subscribe", {"symbols": ["BTC-USD"]}, callback=True) == {"ok": True}

    realtime.emit_to_user(user.id, "notice", {"n": 1})
    realtime.emit_ticker("BTC/USD", {"symbol": "BTC/USD", "last": "1.00"})

    received = sc.get_received()
    assert [e["name"] for e in received] == ["ticker"]


def test_subscribe_ignores_malformed_symbols(app, sockets):
    sc = sockets()
    sc.emit("subscribe", {"symbols": ["X", 42, "A" * 40, "ETH-USD"]})
    for junk in (None, "BTC-USD", ["BTC-USD"], {"symbols": "BTC-USD"}, {"symbols": {"a": 1}}):
        assert sc.emit("subscribe", junk, callback=True) == {"ok": True}

    for symbol in ("X", "BTC/USD", "ETH/USD"):
        realtime.emit_ticker(symbol, {"symbol": symbol})

    assert [e["args"][0]["symbol"] for e in sc.get_received()] == ["ETH/USD"]


def test_the_web_process_refuses_sockets_when_the_realtime_process_serves_them(app):
    app.config["REALTIME_IN_WEB"] = False
    try:
        sc = socketio.test_client(app)
        assert not sc.is_connected()
    finally:
        app.config["REALTIME_IN_WEB"] = True


def test_batched_emits_leave_together_in_one_pipeline_when_write_only(app, monkeypatch):
    import json
    import uuid

    import redis
    import socketio as python_socketio

    from tests.conftest import REDIS_URL

    if not REDIS_URL:
        pytest.skip("needs Redis (the write-only message-queue emitter)")
    channel = f"tradeapp-test-{uuid.uuid4().hex}"
    manager = python_socketio.RedisManager(REDIS_URL, channel=channel, write_only=True)
    monkeypatch.setattr(socketio.server, "manager", manager)
    listener = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)
    listener.get_message(timeout=1)

    with realtime.batched():
        realtime.emit_to_user(7, "notice", {"n": 1})
        with realtime.batched():  # joins the outer block
            realtime.emit_to_staff("notice", {"n": 2})
        assert listener.get_message(timeout=0.2) is None  # nothing left before the block ended

    received = [json.loads(listener.get_message(timeout=5)["data"]) for _ in range(2)]
    listener.close()
    assert [(m["event"], m["data"], m["room"], m["namespace"]) for m in received] == [
        ("notice", [{"n": 1}], "user:7", "/"),
        ("notice", [{"n": 2}], "staff", "/"),
    ]
    assert all(m["method"] == "emit" and m["host_id"] == manager.host_id for m in received)


def test_batched_emits_reach_in_process_sockets(app, user, logged_in_client, sockets):
    sc = sockets(flask_test_client=logged_in_client)
    with realtime.batched():
        realtime.emit_to_user(user.id, "notice", {"n": 1})
        realtime.emit_to_user(user.id, "notice", {"n": 2})
        assert _events(sc) == []
    assert _events(sc) == [{"n": 1}, {"n": 2}]
