"""The copy-trading API at the seed's paths and its router's: privacy, subscribe, PATCH, DELETE, performance, staff."""

import pytest

from tests.conftest import ApiClient
from tests.copy_trading.helpers import buy, sell, trader_row
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import AuditLog, CopySubscription, Trader
from tradeapp.services.tokens import issue_tokens

API = "/api/v1"


def client_for(app, user) -> ApiClient:
    return ApiClient(app.test_client(), issue_tokens(user)["access"])


@pytest.fixture()
def follower(create_user):
    user = create_user(email="f@example.com", username="follower", kyc_status="approved", phone_number="+4412345")
    fund(user, "USD", "10000")
    return user


def test_public_trader_view_never_leaks_the_account(app, lead, follower):
    lead.phone_number = "+447700900123"
    db.session.commit()
    api = client_for(app, follower)
    listing = api.get(f"{API}/traders/").get_json()
    assert listing["count"] == 1
    body = api.get(f"{API}/traders/{trader_row(lead).id}/").get_json()
    text = str(body) + str(listing)
    for secret in (lead.email, lead.phone_number, lead.referral_code, lead.username):
        assert secret not in text
    assert body["user"] is None and body["user_info"] == {"display_name": "Lead Capital"}
    assert body["display_name"] == "Lead Capital" and body["is_active"] is True
    trader = trader_row(lead)
    trader.status = "suspended"
    db.session.commit()
    assert api.get(f"{API}/traders/{trader.id}/").status_code == 404


def test_subscribe_at_both_paths_duplicate_is_a_clear_400(app, lead, follower, create_user):
    api = client_for(app, follower)
    trader_id = trader_row(lead).id
    r = api.post(f"{API}/copy-trading/subscribe/", json={"trader": trader_id, "copy_percentage": 25})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["allocated_amount"] == "2500.00" and body["is_active"] is True
    again = api.post(f"{API}/copy-trading/", json={"trader": trader_id, "copy_percentage": 25})
    assert again.status_code == 400
    assert again.get_json()["code"] == "already_subscribed" and "already copy" in again.get_json()["error"]
    self_follow = client_for(app, lead).post(f"{API}/copy-trading/", json={"trader": trader_id})
    assert self_follow.status_code == 400 and "own trades" in self_follow.get_json()["error"]
    assert api.get(f"{API}/copy-trading/").get_json()["count"] == 1
    assert api.get(f"{API}/copy-trading/subscriptions/").get_json()["count"] == 1


def test_partial_patch_without_trader_and_no_moving(app, lead, follower, create_user):
    api = client_for(app, follower)
    sub = api.post(f"{API}/copy-trading/", json={"trader": trader_row(lead).id, "copy_percentage": "50"}).get_json()
    r = api.patch(f"{API}/copy-trading/subscriptions/{sub['id']}/", json={"stop_loss_percentage": "15"})
    assert r.status_code == 200 and r.get_json()["stop_loss_percentage"] == "15.00"
    r = api.patch(f"{API}/copy-trading/{sub['id']}/", json={"is_active": False})
    assert r.get_json()["status"] == "paused" and r.get_json()["is_active"] is False
    moved = api.patch(f"{API}/copy-trading/{sub['id']}/", json={"trader": trader_row(lead).id + 99})
    assert moved.status_code == 400 and "another trader" in moved.get_json()["error"]
    # the whole object sent back (read-only fields included) changes nothing it should not
    whole = api.get(f"{API}/copy-trading/{sub['id']}/").get_json()
    r = api.patch(f"{API}/copy-trading/{sub['id']}/", json={**whole, "allocated_amount": "999999", "id": 1})
    assert r.status_code == 200 and r.get_json()["allocated_amount"] == "5000.00"
    other = client_for(app, create_user(email="x@example.com", username="x"))
    assert other.patch(f"{API}/copy-trading/{sub['id']}/", json={"is_active": True}).status_code == 404


def test_unsubscribe_keeps_history_and_performance_is_real(app, lead, follower, btc_market):
    api = client_for(app, follower)
    sub = api.post(f"{API}/copy-trading/subscribe/", json={"trader": trader_row(lead).id}).get_json()
    buy(lead, "1")
    btc_market.set("BTC/USD", "52000", "52010", levels=10, size="50", step="10")
    perf = api.get(f"{API}/copy-trading/performance/").get_json()
    assert perf["active_subscriptions"] == 1
    row = perf["subscriptions"][0]
    assert float(row["unrealized_profit"]) > 0 and row["copied"] == 1
    sell(lead, "1")
    copies = api.get(f"{API}/copied-trades/").get_json()
    assert copies["count"] == 2
    first = copies["results"][0]
    assert first["follower_order_detail"]["source"] == "copy_trade"
    assert first["master_order_detail"]["side"] == "sell" and first["status"] == "copied"
    assert api.get(f"{API}/copied-trades/{first['id']}/").status_code == 200
    assert api.delete(f"{API}/copy-trading/subscribe/{sub['id']}/").status_code == 204
    assert api.delete(f"{API}/copy-trading/{sub['id']}/").status_code == 409
    ended = api.get(f"{API}/copy-trading/{sub['id']}/").get_json()
    assert ended["status"] == "ended" and float(ended["profit_share_paid"]) > 0
    assert api.get(f"{API}/copied-trades/").get_json()["count"] == 2
    assert db.session.get(CopySubscription, sub["id"]) is not None


def test_apply_and_the_staff_review(app, create_user, staff_client_factory, btc_market, create_staff):
    alice = create_user(email="alice@example.com", username="alice", kyc_status="approved")
    fund(alice, "USD", "5000")
    api = client_for(app, alice)
    early = api.post(f"{API}/traders/apply/", json={"display_name": "Alice"})
    assert early.status_code == 400 and "Trade at least" in early.get_json()["error"]
    buy(alice, "0.01")
    too_greedy = api.post(f"{API}/traders/apply/", json={"display_name": "Alice", "profit_share_percentage": "30"})
    assert too_greedy.status_code == 400 and "profit_share_percentage" in too_greedy.get_json()["fields"]
    r = api.post(f"{API}/traders/apply/", json={"display_name": "Alice", "bio": "Swing", "profit_share_percentage": 12})
    assert r.status_code == 201 and r.get_json()["status"] == "pending"
    trader_id = r.get_json()["id"]
    customer = api.get(f"{API}/traders/applications/")
    assert customer.status_code == 403
    staff = client_for(app, create_staff(role="compliance", email="c@example.com"))
    assert staff.get(f"{API}/traders/applications/").get_json()["count"] == 1
    assert staff.post(f"{API}/traders/{trader_id}/approve/", json={}).get_json()["status"] == "approved"
    no_reason = staff.post(f"{API}/traders/{trader_id}/suspend/", json={})
    assert no_reason.status_code == 400
    assert staff.post(f"{API}/traders/{trader_id}/suspend/", json={"reason": "Wash trading"}).status_code == 200
    assert db.session.get(Trader, trader_id).status == "suspended"
    actions = [a.action for a in db.session.scalars(db.select(AuditLog).order_by(AuditLog.id))]
    assert "copy.trader_approve" in actions and "copy.trader_suspend" in actions
    assert staff.post(f"{API}/traders/{trader_id}/reinstate/", json={"reason": "Cleared"}).status_code == 200


def test_suspending_stops_followers_and_tells_them(app, lead, follower, create_staff):
    from tradeapp.models import Notification
    from tradeapp.services.copy_trading import subscriptions, traders

    sub = subscriptions.subscribe(follower, {"trader": trader_row(lead).id})
    staff = create_staff(role="compliance", email="c2@example.com")
    traders.suspend(staff, trader_row(lead).id, "Under review")
    db.session.expire_all()
    assert db.session.get(CopySubscription, sub.id).status == "stopped"
    note = db.session.scalar(db.select(Notification).where(Notification.kind == "copy_trader_suspended"))
    assert note.user_id == follower.id and "Under review" in note.body
    master = buy(lead, "0.1")
    from tradeapp.models import CopySignal

    assert db.session.scalar(db.select(CopySignal).where(CopySignal.master_order_id == master.id)) is None


def test_trader_performance_curve(app, lead, follower, btc_market):
    from tradeapp.services.copy_trading import stats

    buy(lead, "1")
    btc_market.set("BTC/USD", "55000", "55010", levels=10, size="50", step="10")
    sell(lead, "1")
    stats.refresh(trader_row(lead).id)
    trader = trader_row(lead)
    assert trader.total_trades == 2 and trader.win_rate == 100 and trader.profit_percentage > 0
    r = client_for(app, follower).get(f"{API}/traders/{trader.id}/performance/?window=all")
    body = r.get_json()
    assert r.status_code == 200 and len(body["points"]) >= 3
    assert float(body["roi"]) > 0
