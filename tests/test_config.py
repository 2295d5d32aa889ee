"""Settings: embedded defaults, production mode, and the refusal to run with a default secret."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tradeapp import create_app
from tradeapp.config import DEFAULT_SECRET_KEY, Config, database_url

ROOT = Path(__file__).resolve().parent.parent
#: every variable config.py may read, so a stray one in the test environment cannot leak in
SETTINGS = sorted(
    set(
        re.findall(
            r'(?:os\.environ\.get|env_bool|env_int)\(\s*"([A-Z0-9_]+)"', (ROOT / "tradeapp/config.py").read_text()
        )
    )
)


@pytest.fixture()
def env(monkeypatch, tmp_path):
    """A clean environment with the instance folder under ``tmp_path``."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    return monkeypatch


def _production(env):
    env.setenv("DATABASE_URL", "postgres://tradeapp@db.internal:5432/tradeapp")
    env.setenv("REDIS_URL", "redis://cache.internal:6379/0")


def test_embedded_defaults(env, tmp_path):
    config = Config()

    assert config.EMBEDDED is True
    assert f"sqlite:///{tmp_path / 'instance' / 'tradeapp.sqlite3'}" == config.SQLALCHEMY_DATABASE_URI
    assert config.JOBS_INLINE is True
    assert config.SOCKETIO_MESSAGE_QUEUE is None
    assert config.MAIL_BACKEND == "outbox"
    assert tmp_path / "instance" / "outbox" == config.MAIL_OUTBOX_DIR
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.MARKET_FEED == "simulated"
    assert config.PORT == 5000
    # Plain http on localhost: cookies cannot be Secure, but stay HttpOnly and SameSite.
    assert config.SESSION_COOKIE_SECURE is False
    assert config.SESSION_COOKIE_HTTPONLY is True and config.SESSION_COOKIE_SAMESITE == "Lax"
    config.check()  # the default secret is fine for a local demo


def test_embedded_app_boots_with_the_default_secret(env, tmp_path):
    # In a fresh interpreter: a second app in this process would rebind the shared extensions.
    script = (
        "from tradeapp import create_app; app = create_app(); "
        "print(app.config['EMBEDDED'], app.config['SQLALCHEMY_DATABASE_URI'], app.config['SECRET_KEY'])"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    embedded, uri, secret = out.stdout.split()
    assert embedded == "True" and secret == DEFAULT_SECRET_KEY
    assert uri == f"sqlite:///{tmp_path / 'instance' / 'tradeapp.sqlite3'}"
    assert (tmp_path / "instance").is_dir()


def test_production_mode_with_the_default_secret_refuses_to_start(env):
    _production(env)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_production_mode_refuses_a_short_secret(env):
    _production(env)
    env.setenv("SECRET_KEY", "too-short")
    with pytest.raises(RuntimeError, match="at least 32"):
        create_app()


def test_production_settings(env):
    _production(env)
    env.setenv("SECRET_KEY", "x" * 48)
    env.setenv("BASE_URL", "https://trade.example.com")
    env.setenv("STRIPE_SECRET_KEY", "sk_live_x")
    env.setenv("PAYOUT_PROVIDER", "manual_bank")
    config = Config()

    config.check()
    assert config.EMBEDDED is False
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://tradeapp@db.internal:5432/tradeapp"
    assert config.JOBS_INLINE is False
    assert config.SOCKETIO_MESSAGE_QUEUE == "redis://cache.internal:6379/0"
    assert config.RATELIMIT_STORAGE_URI == "redis://cache.internal:6379/0"
    assert config.MAIL_BACKEND == "smtp"
    assert config.SESSION_COOKIE_SECURE is True and config.REMEMBER_COOKIE_SECURE is True
    assert config.PREFERRED_URL_SCHEME == "https"


def test_a_database_without_redis_is_still_embedded(env):
    env.setenv("DATABASE_URL", "postgresql://tradeapp@localhost/tradeapp")
    config = Config()
    assert config.EMBEDDED is True and config.JOBS_INLINE is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_database_urls_use_psycopg_3(url, expected):
    assert database_url(url) == expected


def test_env_example_documents_every_setting():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = sorted(set(SETTINGS) - documented)
    assert not missing, f".env.example does not mention {missing}"
    # gunicorn.conf.py reads the web process's own settings (WEB_CONCURRENCY, WEB_THREADS, ...)
    gunicorn = set(re.findall(r"os\.environ\.get\([\"']([A-Z][A-Z0-9_]+)", (ROOT / "gunicorn.conf.py").read_text()))
    assert not sorted(documented - set(SETTINGS) - gunicorn - {"HOST"}), "documents settings config.py does not read"
