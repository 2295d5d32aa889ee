"""Fixtures for the API tests: an app with rate limits switched on."""

import pytest

from tests.conftest import _TMP, DB_URL, REDIS_URL, ApiClient


@pytest.fixture()
def limited_app(app, db):
    """``limited_app(**config)`` → an ApiClient on a second app with rate limits on, same database.

    Flask-Limiter's enabled flag lives on the shared extension object: restore it afterwards so
    the rest of the suite runs unlimited. The suite's session is closed first so it holds no
    lock the second app would wait for (SQLite): read what you need from fixtures before.
    """
    from tradeapp import create_app
    from tradeapp.config import TestConfig
    from tradeapp.extensions import limiter

    before = limiter.enabled
    apps = []

    def make(**config):
        cfg = TestConfig(DB_URL, REDIS_URL or "", instance_dir=_TMP / "instance")
        cfg.RATELIMIT_ENABLED = True
        cfg.RATELIMIT_STORAGE_URI = "memory://"
        for key, value in config.items():
            setattr(cfg, key, value)
        second = create_app(cfg)
        apps.append(second)
        db.session.close()
        return ApiClient(second.test_client())

    yield make
    limiter.enabled = before
    for second in apps:
        with second.app_context():
            db.engine.dispose()
