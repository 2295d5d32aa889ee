"""The ``realtime`` process (python -m tradeapp.realtime_server): authentication, rooms, and
events emitted through the Redis message queue by a plain Flask-SocketIO emitter."""

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import socketio
from flask_socketio import SocketIO

from tests.conftest import PG_URL, REDIS_URL, web_login
from tradeapp.services.tokens import issue_tokens

pytestmark = pytest.mark.skipif(
    not (PG_URL and REDIS_URL), reason="the realtime process needs PostgreSQL and Redis (not SQLite/fakeredis)"
)

ROOT = Path(__file__).resolve().parents[2]
AGENT = "tradeapp-tests/1.0"


def _run(coro):
    """``asyncio.run`` in a thread of its own: a browser test's Playwright may own this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _free_port() -> int:
    """A free local port, from ``TEST_PORTS`` ("6300-6399") when set, else any."""
    low, _, high = os.environ.get("TEST_PORTS", "0-0").partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in TEST_PORTS={os.environ['TEST_PORTS']}")


@pytest.fixture()
def realtime(app):
    """A realtime process on a free port, on this run's database and its own message channel."""
    port = _free_port()
    channel = f"tradeapp-test-{uuid.uuid4().hex}"
    env = dict(os.environ)
    for name in ("REALTIME_IN_WEB", "REALTIME_PORT", "JWT_SECRET_KEY"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=PG_URL,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=app.config["SECRET_KEY"],
        SOCKETIO_CHANNEL=channel,
        INSTANCE_DIR=str(app.instance_path),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        # production mode's start-up checks (tests/security/test_production_guards.py covers them)
        BASE_URL="http://127.0.0.1",
        ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION="true",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeapp.realtime_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("the realtime process exited") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("the realtime process did not start")
        # The emitter every other process uses: Flask-SocketIO, write-only, through the queue.
        yield base, SocketIO(message_queue=REDIS_URL, channel=channel)
    finally:
        proc.terminate()
        proc.wait(10)


async def _session(base: str, emitter: SocketIO, emit, **connect) -> tuple[socketio.AsyncClient, list]:
    """Connect, send ``emit(emitter)`` through the queue until it arrives (or 10 s), disconnect."""
    client = socketio.AsyncClient(reconnection=False)
    received: list = []
    client.on("notice", lambda data: received.append(data))
    await client.connect(base, transports=["websocket"], **connect)
    try:
        transport = client.transport()
        # Subscribing to the channel is asynchronous in the server: repeat until delivered.
        for _ in range(50):
            await asyncio.get_running_loop().run_in_executor(None, emit, emitter)
            await asyncio.sleep(0.2)
            if received:
                break
    finally:
        await client.disconnect()
    return transport, received


def test_session_cookie_joins_the_user_room_and_receives_queued_events(realtime, client, user, create_user):
    base, emitter = realtime
    alice, other = user.id, create_user().id
    client.environ_base["HTTP_USER_AGENT"] = AGENT
    web_login(client, user.email)
    cookie = client.get_cookie("session")
    assert cookie is not None
    headers = {"Cookie": f"session={cookie.value}", "User-Agent": AGENT}

    def emit(e):
        e.emit("notice", {"to": "other"}, to=f"user:{other}")
        e.emit("notice", {"to": "staff"}, to="staff")
        e.emit("notice", {"to": "alice"}, to=f"user:{alice}")

    transport, received = _run(_session(base, emitter, emit, headers=headers))

    assert transport == "websocket"
    assert received and all(r == {"to": "alice"} for r in received)


def test_access_token_joins_the_user_room(realtime, user):
    base, emitter = realtime
    token, room = issue_tokens(user)["access"], f"user:{user.id}"

    def emit(e):
        e.emit("notice", {"n": 1}, to=room)

    _, received = _run(_session(base, emitter, emit, auth={"token": token}))

    assert received and received[0] == {"n": 1}


def test_ticker_subscription_receives_prices_anonymous_does_not_get_user_events(realtime, user):
    base, emitter = realtime
    room = f"user:{user.id}"

    async def scenario():
        client = socketio.AsyncClient(reconnection=False)
        notices, ticks = [], []
        client.on("notice", lambda data: notices.append(data))
        client.on("ticker", lambda data: ticks.append(data))
        await client.connect(base, transports=["websocket"])
        try:
            ack = await client.call("subscribe", {"symbols": ["BTC-USD"]}, timeout=10)
            for _ in range(50):
                await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: (
                        emitter.emit("notice", {"private": True}, to=room),
                        emitter.emit("ticker", {"symbol": "BTC/USD"}, to="ticker:BTC-USD"),
                    ),
                )
                await asyncio.sleep(0.2)
                if ticks:
                    break
            await client.call("unsubscribe", {"symbols": ["BTC-USD"]}, timeout=10)
        finally:
            await client.disconnect()
        return ack, notices, ticks

    ack, notices, ticks = _run(scenario())

    assert ack == {"ok": True}
    assert ticks and ticks[0] == {"symbol": "BTC/USD"}
    assert notices == []


def test_invalid_token_is_refused(realtime):
    base, _ = realtime

    async def scenario():
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(base, transports=["websocket"], auth={"token": "not-a-jwt"}, wait_timeout=10)
        return client.connected

    assert _run(scenario()) is False
