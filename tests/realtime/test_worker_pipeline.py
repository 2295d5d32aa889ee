"""Production plumbing, for real: a forking ``AppWorker`` process and Socket.IO through the Redis
message queue, as ``make worker`` and ``make web`` run them.

The rest of the suite runs jobs inline and Socket.IO without a message queue. Here a real
``rq worker -w tradeapp.jobs.worker.AppWorker`` (with its scheduler) and a real web process
(``app.py``, the Socket.IO server) share the test's PostgreSQL database and a private
``redis-server`` (pub/sub channels span every database of a Redis server, so a shared one would
mix these events with other processes'). A python-socketio client connects with a JWT, the test
enqueues through ``tradeapp.jobs.enqueue`` and waits for what the work horse emitted.
"""

import os
import queue
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_URL, REDIS_URL

pytestmark = pytest.mark.skipif(
    not (PG_URL and REDIS_URL and shutil.which("redis-server")),
    reason="needs PostgreSQL, Redis and redis-server: the worker and web processes share them (CI runs this)",
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT = 60  # seconds: a generous bound for a loaded 2-core machine; the tests wait for events, not time


def _free_port(low: int = 6600, high: int = 6700) -> int:
    """A free port in this suite's range on 127.0.0.1."""
    for port in range(low, high):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def _wait_for(check, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited {proc.returncode}\n{log.read_text() if log else ''}")
        try:
            result = check()
        except Exception:  # noqa: BLE001 - not up yet
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {WAIT} s\n{log.read_text()[-3000:] if log else ''}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def stack(app, tmp_path_factory):
    """(web URL, private Redis URL, worker process): redis-server, the web process and the worker."""
    import redis

    logs = tmp_path_factory.mktemp("stack")
    procs: list[subprocess.Popen] = []
    try:
        redis_port = _free_port()
        redis_log = logs / "redis.log"
        procs.append(
            subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                stdout=redis_log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        _wait_for(lambda: redis.Redis.from_url(redis_url).ping(), "redis-server", procs[-1], redis_log)

        web_port = _free_port(redis_port + 1)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))},
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": redis_url,
            # the test client connects to the web process itself (production serves sockets from `realtime`)
            "REALTIME_IN_WEB": "true",
            "SECRET_KEY": app.config["SECRET_KEY"],
            "JWT_SECRET_KEY": app.config["JWT_SECRET_KEY"],
            "HOST": "127.0.0.1",
            "PORT": str(web_port),
            "MAIL_BACKEND": "outbox",
            "PYTHONPATH": str(ROOT),
            # production mode's start-up checks (tests/security/test_production_guards.py covers them)
            "BASE_URL": f"http://127.0.0.1:{web_port}",
            "ALLOW_SANDBOX_PROVIDERS_IN_PRODUCTION": "true",
        }
        web_log = logs / "web.log"
        procs.append(
            subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=web_log.open("w"), stderr=subprocess.STDOUT
            )
        )
        web_url = f"http://127.0.0.1:{web_port}"
        _wait_for(
            lambda: urllib.request.urlopen(f"{web_url}/auth/login", timeout=5).status == 200, "web", procs[-1], web_log
        )

        worker_log = logs / "worker.log"
        worker = subprocess.Popen(
            [
                str(BIN / "rq"),
                "worker",
                "-w",
                "tradeapp.jobs.worker.AppWorker",
                "--with-scheduler",
                "--url",
                redis_url,
                "default",
            ],
            cwd=ROOT,
            env=env,
            stdout=worker_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        procs.append(worker)
        _wait_for(lambda: redis.Redis.from_url(redis_url).keys("rq:worker:*"), "rq worker", worker, worker_log)
        yield web_url, redis_url, worker, worker_log
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture()
def queued_app(app, stack, monkeypatch):
    """The test's app enqueuing on the stack's Redis, as a web process in production does."""
    import redis

    _, redis_url, _, _ = stack
    monkeypatch.setitem(app.config, "JOBS_INLINE", False)
    monkeypatch.setitem(app.extensions, "tradeapp.redis", redis.Redis.from_url(redis_url))
    return app


@pytest.fixture()
def listener(stack, user):
    """A Socket.IO client connected as ``user`` (JWT); ``listener.get()`` waits for a ``job_greeting``."""
    import socketio

    from tradeapp.services.tokens import issue_tokens

    web_url = stack[0]
    received: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("job_greeting", received.put)
    client.connect(web_url, auth={"token": issue_tokens(user)["access"]}, transports=["polling"], wait_timeout=WAIT)
    received.get_event = lambda nonce: _next_with(received, nonce)
    yield received
    client.disconnect()


def _next_with(received: queue.Queue, nonce: str) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        data = received.get(timeout=max(0.1, deadline - time.monotonic()))
        if data.get("nonce") == nonce:
            return data


def test_a_jobs_emit_in_a_forked_work_horse_reaches_the_socketio_client(db, user, queued_app, stack, listener):
    from tests.jobs import sample
    from tradeapp.jobs import enqueue
    from tradeapp.models import User

    worker = stack[2]
    nonce = uuid.uuid4().hex
    job = enqueue(sample.greet, user.id, nonce)
    event = listener.get_event(nonce)
    # it ran in a work horse forked from the worker, and went worker → Redis → web → client
    assert event["pid"] != worker.pid
    db.session.expire_all()
    assert db.session.get(User, user.id).first_name == f"greeted-{nonce}"
    _wait_for(lambda: job.get_status(refresh=True) == "finished", "job finished")
    assert job.return_value() == event["pid"]


def test_a_job_whose_work_horse_is_killed_is_retried(db, user, queued_app, stack, listener):
    from tests.jobs import sample
    from tradeapp.jobs import enqueue

    nonce = uuid.uuid4().hex
    job = enqueue(sample.crash_once, user.id, nonce, retries=1)
    event = listener.get_event(nonce)  # only the second attempt emits
    assert event["attempt"] == 2
    _wait_for(lambda: job.get_status(refresh=True) == "finished", "retried job finished")
    assert job.return_value() == 2
    job.refresh()
    assert job.retries_left == 0  # the one retry was spent on the killed attempt
    assert int(queued_app.extensions["tradeapp.redis"].get(f"tests:attempts:{nonce}")) == 2
