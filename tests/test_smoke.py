"""The app boots, migrates and answers."""


def test_health(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["status"] == "ok"


def test_seed_demo_is_idempotent(app, db):
    from sqlalchemy import func, select

    from tradeapp.models import TradingPair, User
    from tradeapp.services.seed import seed_demo

    first = seed_demo()
    second = seed_demo()
    assert "pair BTC/USD" in first and second == []
    assert db.session.scalar(select(func.count()).select_from(TradingPair)) == 4
    from tradeapp.services.referrals_demo import FRIENDS

    # the demo customer, the admin, and the demo customer's referred friends
    assert db.session.scalar(select(func.count()).select_from(User)) == 2 + len(FRIENDS)
