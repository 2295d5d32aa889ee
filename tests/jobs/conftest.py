"""Fixtures for jobs: the app switched to real RQ queues on the test Redis (or fakeredis)."""

import pytest


@pytest.fixture()
def rq_app(app, db, redis_conn, monkeypatch):
    """The app with JOBS_INLINE off and its Redis client replaced by ``redis_conn``."""
    monkeypatch.setitem(app.config, "JOBS_INLINE", False)
    monkeypatch.setitem(app.extensions, "tradeapp.redis", redis_conn)
    return app
