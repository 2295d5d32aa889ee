"""The app boots, migrates and answers."""


def test_health(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["status"] == "ok"


def test_seed_demo_is_idempotent(app, db):
    from sqlalchemy import func, select

    from tradeapp.models import TradingPair, User
    from tradeapp.services.seed import seed_demo

    def users() -> int:
        return db.session.scalar(select(func.count()).select_from(User))

    first = seed_demo()
    after_first = users()
    second = seed_demo()
    assert "pair BTC/USD" in first and second == []
    assert db.session.scalar(select(func.count()).select_from(TradingPair)) == 4
    # the demo customer and staff, plus the other domains' demo people (lead traders, referees); none twice
    assert after_first >= 2 and users() == after_first
