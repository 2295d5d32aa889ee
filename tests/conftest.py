"""Shared fixtures: app, db, clients (web, HTMX, API, staff), factories.

The suite runs on PostgreSQL + Redis when they are reachable (CI), otherwise on SQLite +
fakeredis. ``TEST_DATABASE=sqlite`` forces the embedded backend. Tables are emptied after
each test (services commit, and concurrency tests need real commits across threads).
"""

import os
import re
import tempfile
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy import text

# No deadline on property tests: the suite times nothing, and a loaded CI machine would make a
# correct example "too slow" (a flaky failure that says nothing about the code).
settings.register_profile("tradeapp", deadline=None, print_blob=True)
settings.load_profile("tradeapp")

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# One database per test run, so parallel runs on one machine never share tables.
PG_TEST_DB = os.environ.get("TEST_PG_DATABASE", f"tradeapp_test_{os.getpid()}")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{1 + os.getpid() % 15}")


def _postgres_url() -> str | None:
    if os.environ.get("TEST_DATABASE", "").lower() == "sqlite":
        return None
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_TEST_DB,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{PG_TEST_DB}"')
    except Exception:  # noqa: BLE001 - unreachable means: use SQLite
        if os.environ.get("CI") == "true":
            raise
        return None
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{PG_TEST_DB}"


def _redis_url() -> str | None:
    if os.environ.get("TEST_DATABASE", "").lower() == "sqlite":
        return None
    try:
        import redis

        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping()
        return REDIS_TEST_URL
    except Exception:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            raise
        return None


_TMP = Path(tempfile.mkdtemp(prefix="tradeapp-tests-"))
PG_URL = _postgres_url()
REDIS_URL = _redis_url()
DB_URL = PG_URL or f"sqlite:///{_TMP / 'test.sqlite3'}"


def pytest_report_header(config):
    backend = "PostgreSQL" if PG_URL else "SQLite"
    cache = f"Redis ({REDIS_URL})" if REDIS_URL else "fakeredis"
    return f"tradeapp tests on {backend} + {cache}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say loudly, at the end where it is seen, when the run did not use PostgreSQL and Redis."""
    if PG_URL and REDIS_URL:
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "PostgreSQL" in str(r.longrepr)]
    missing = " and ".join(name for name, url in (("PostgreSQL", PG_URL), ("Redis", REDIS_URL)) if not url)
    terminalreporter.section(f"RAN WITHOUT {missing.upper()}", sep="!", red=True, bold=True)
    terminalreporter.write_line(
        f"This run used {'PostgreSQL' if PG_URL else 'SQLite'} + {'Redis' if REDIS_URL else 'fakeredis'}; "
        f"{len(skipped)} tests that need PostgreSQL were skipped (row-lock races, the worker and message-queue layer).",
        red=True,
        bold=True,
    )
    terminalreporter.write_line(
        "CI runs them on PostgreSQL + Redis. Start both (TEST_PG_ADMIN_URL, TEST_REDIS_URL) to run them here.",
        red=True,
        bold=True,
    )


class FreshRequestClient(FlaskClient):
    """A test client whose every request starts with an empty ``g``.

    Tests hold an app context open (to call services), and Flask reuses it for requests, so
    per-request caches in ``g`` (Flask-Login's user, the JWT user) would leak from one client to
    the next. Production requests always get a fresh context; so do these.
    """

    def open(self, *args, **kwargs):
        from flask import g, has_app_context

        if has_app_context():
            g.__dict__.clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            if has_app_context():
                g.__dict__.clear()


@pytest.fixture(scope="session")
def app():
    from flask_migrate import downgrade, upgrade

    from tradeapp import create_app
    from tradeapp.config import TestConfig
    from tradeapp.extensions import db

    config = TestConfig(DB_URL, REDIS_URL or "", instance_dir=_TMP / "instance")
    application = create_app(config)
    application.test_client_class = FreshRequestClient
    with application.app_context():
        # Start from an empty schema built by the real migrations.
        if PG_URL:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    yield application
    with application.app_context():
        db.session.remove()
        # Under mutmut (bench/mutate.py) every mutant's run forks from one process and shares its
        # SQLite file: keeping the schema makes the next run's upgrade a no-op (tables are emptied
        # after each test anyway), a second or two saved per mutant.
        if not PG_URL and "MUTANT_UNDER_TEST" not in os.environ:
            downgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"), revision="base")
        db.engine.dispose()
    if PG_URL and "TEST_PG_DATABASE" not in os.environ:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')


def _empty_tables(db):
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A connection a test leaked mid-transaction (a thread that died, say) would make
            # TRUNCATE wait forever: end those first, so a broken test fails alone.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state LIKE 'idle in transaction%'"
                )
            )
            conn.execute(text("SET LOCAL lock_timeout = '30s'"))
            # TRUNCATE does not fire the append-only row triggers.
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return
        # SQLite: lift the append-only triggers while emptying, then put them back.
        triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, _ in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))
        if conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
            conn.execute(text("DELETE FROM sqlite_sequence"))
        for _, sql in triggers:
            conn.execute(text(sql))


@pytest.fixture()
def db(app):
    from tradeapp.extensions import db as _db

    with app.app_context():
        yield _db
        _db.session.remove()
        _empty_tables(_db)


@pytest.fixture(autouse=True)
def _clean_outbox(app):
    import shutil

    outbox = Path(app.config["MAIL_OUTBOX_DIR"])
    shutil.rmtree(outbox, ignore_errors=True)
    yield


@pytest.fixture()
def redis_conn():
    """A real Redis (db 15, flushed) when reachable, fakeredis with Lua otherwise."""
    if REDIS_URL:
        import redis

        conn = redis.Redis.from_url(REDIS_URL)
    else:
        import fakeredis

        conn = fakeredis.FakeRedis()
    conn.flushdb()
    yield conn
    conn.flushdb()


# -- factories -------------------------------------------------------------------------------

PASSWORD = "Correct-horse-battery-9"


@pytest.fixture()
def create_user(db):
    """``create_user(email=..., verified=True, **fields)`` → a customer with password ``PASSWORD``."""
    from tradeapp.models import User
    from tradeapp.models.types import utcnow
    from tradeapp.services import passwords
    from tradeapp.services.users import _new_referral_code

    counter = {"n": 0}

    def make(email=None, username=None, password=PASSWORD, verified=True, **fields):
        counter["n"] += 1
        n = counter["n"]
        user = User(
            email=(email or f"user{n}@example.com").lower(),
            username=username or f"user{n}",
            password_hash=passwords.hash_password(password),
            referral_code=_new_referral_code(),
            email_verified_at=utcnow() if verified else None,
            password_changed_at=utcnow(),
            **fields,
        )
        db.session.add(user)
        db.session.commit()
        return user

    return make


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture()
def create_staff(create_user):
    """``create_staff(role="admin")`` → a staff user with two-factor enrolled (``TOTP_SECRET``)."""
    from tradeapp.models.types import utcnow

    def make(role="admin", email=None, enrolled=True, **fields):
        return create_user(
            email=email or f"{role}-{os.urandom(3).hex()}@staff.example.com",
            role=role,
            totp_secret=TOTP_SECRET if enrolled else None,
            totp_confirmed_at=utcnow() if enrolled else None,
            **fields,
        )

    return make


def totp_now(secret: str = TOTP_SECRET, offset_steps: int = 0) -> str:
    import time

    return pyotp.TOTP(secret).at(int(time.time()) + 30 * offset_steps)


# -- clients -------------------------------------------------------------------------------------


@pytest.fixture()
def client(app, db):
    return app.test_client()


def csrf_token(client, path="/auth/login") -> str:
    """The CSRF token the page at ``path`` embeds (forms post it back)."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def web_login(client, email, password=PASSWORD, remember=False):
    token = csrf_token(client, "/auth/login")
    data = {"email": email, "password": password, "csrf_token": token}
    if remember:
        data["remember_me"] = "y"
    return client.post("/auth/login", data=data)


@pytest.fixture()
def user(create_user):
    return create_user(email="alice@example.com", username="alice", first_name="Alice", last_name="Liddell")


@pytest.fixture()
def logged_in_client(client, user):
    """A web client logged in as ``user``."""
    response = web_login(client, user.email)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return client


@pytest.fixture()
def staff_client_factory(app, db, create_staff):
    """``staff_client_factory(role)`` → (client, staff user) past password and two-factor."""

    def make(role="admin"):
        staff = create_staff(role=role)
        c = app.test_client()
        web_login(c, staff.email)
        token = csrf_token(c, "/staff/2fa")
        r = c.post("/staff/2fa", data={"otp": totp_now(), "csrf_token": token})
        assert r.status_code in (302, 303), r.get_data(as_text=True)[:500]
        return c, staff

    return make


@pytest.fixture()
def staff_client(staff_client_factory):
    c, _ = staff_client_factory("admin")
    return c


class ApiClient:
    """Test client that speaks JSON and carries a bearer token."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def _headers(self, headers):
        h = dict(headers or {})
        if self.token:
            h.setdefault("Authorization", f"Bearer {self.token}")
        return h

    def get(self, url, headers=None, **kw):
        return self.client.get(url, headers=self._headers(headers), **kw)

    def delete(self, url, headers=None, **kw):
        return self.client.delete(url, headers=self._headers(headers), **kw)

    def post(self, url, json=None, headers=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(headers), **kw)

    def patch(self, url, json=None, headers=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(headers), **kw)


@pytest.fixture()
def api_client(app, db):
    """An anonymous JSON client; ``api_client.token = ...`` to authenticate."""
    return ApiClient(app.test_client())


@pytest.fixture()
def auth_api_client(app, db, user):
    """A JSON client with an access token for ``user``."""
    from tradeapp.services.tokens import issue_tokens

    pair = issue_tokens(user)
    return ApiClient(app.test_client(), pair["access"])


# Fault injection (a commit that fails once) for every test package.
from tests.faults import failing_commit  # noqa: E402, F401

# Trading fixtures (a hand-set market, BTC/USD and ETH/USD) for every test package.
from tests.trading_helpers import market, pairs  # noqa: E402, F401
