"""The signals API: seed paths and shapes, read-only status, both cancel spellings, staff publishing,
execute 403, mark_read and mark-read, owners only."""

from decimal import Decimal

import pytest

from tests.conftest import ApiClient
from tests.signals.test_publish_delivery import signal_data
from tests.trading_helpers import balances, fund
from tradeapp.services.signals import publishing
from tradeapp.services.tokens import issue_tokens

API = "/api/v1"
D = Decimal


def client_for(app, user) -> ApiClient:
    return ApiClient(app.test_client(), issue_tokens(user)["access"])


@pytest.fixture()
def alice(app, create_user, market):
    user = create_user()
    fund(user, "USD", "100000")
    market.set("BTC/USD", "50000", "50010", size="1", step="10")
    return user


@pytest.fixture()
def analyst(create_staff):
    return create_staff(role="analyst")


def test_browse_subscribe_list_cancel_delete(app, alice, provider, plan):
    api = client_for(app, alice)
    providers = api.get(f"{API}/signal-providers/").get_json()
    assert providers["count"] == 1
    item = providers["results"][0]
    assert item["provider_type"] == "in_house" and item["accuracy_rate"] == "0.00" and "track_record" in item
    plans = api.get(f"{API}/signal-plans/").get_json()["results"]
    assert plans[0]["price"] == "30.00" and sorted(plans[0]["symbols"]) == ["BTC/USD", "ETH/USD"]
    assert api.get(f"{API}/signal-plans/{plan.id}/").get_json()["provider_detail"]["id"] == provider.id

    # the seed's client sends status and dates too: they are ignored
    r = api.post(
        f"{API}/signal-subscriptions/",
        json={"plan": plan.id, "status": "expired", "expires_at": "2099-01-01T00:00:00Z"},
    )
    assert r.status_code == 201, r.get_json()
    sub = r.get_json()
    assert sub["status"] == "active" and sub["days_remaining"] in (29, 30) and sub["plan_detail"]["id"] == plan.id
    assert balances(alice, "USD")[0] == D("99970.00")
    again = api.post(f"{API}/signal-subscriptions/", json={"plan": plan.id})
    assert again.status_code == 400 and again.get_json()["code"] == "already_subscribed"

    # status is read-only: a PATCH cannot move it
    patched = api.patch(f"{API}/signal-subscriptions/{sub['id']}/", json={"status": "cancelled", "auto_renew": False})
    assert patched.status_code == 200 and patched.get_json()["status"] == "active"
    assert patched.get_json()["auto_renew"] is False

    cancelled = api.post(f"{API}/signal-subscriptions/{sub['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["message"] == "Subscription cancelled"
    assert cancelled.get_json()["subscription"]["status"] == "cancelled"
    assert cancelled.get_json()["subscription"]["has_access"] is True
    # a cancelled one cannot be PATCHed back to active
    back = api.patch(f"{API}/signal-subscriptions/{sub['id']}/", json={"status": "active", "auto_renew": True})
    assert back.status_code == 409
    assert api.get(f"{API}/signal-subscriptions/{sub['id']}/").get_json()["status"] == "cancelled"
    assert api.delete(f"{API}/signal-subscriptions/{sub['id']}/").status_code == 204
    listing = api.get(f"{API}/signal-subscriptions/").get_json()
    assert listing["count"] == 1 and listing["results"][0]["status"] == "cancelled"


def test_insufficient_funds_is_a_400(app, create_user, plan):
    poor = create_user()
    r = client_for(app, poor).post(f"{API}/signal-subscriptions/", json={"plan": plan.id})
    assert r.status_code == 400 and r.get_json()["code"] == "insufficient_funds"


def test_staff_publish_through_the_api_and_customers_see_execute_and_mark_read(app, alice, analyst, provider, plan):
    api = client_for(app, alice)
    api.post(f"{API}/signal-subscriptions/", json={"plan": plan.id})
    staff = client_for(app, analyst)
    body = signal_data(provider, trading_pair="BTC-USD")
    body["type"] = body.pop("signal_type")
    r = staff.post(f"{API}/signals/", json=body)
    assert r.status_code == 201, r.get_json()
    signal = r.get_json()
    assert signal["signal_type"] == "buy" and signal["entry_price"] == "50000.00" and signal["status"] == "active"
    bad = staff.post(f"{API}/signals/", json={**body, "stop_loss": "50500"})
    assert bad.status_code == 400 and "stop_loss" in bad.get_json()["fields"]
    # a customer cannot publish
    assert api.post(f"{API}/signals/", json=body).status_code == 403

    mine = api.get(f"{API}/signals/").get_json()
    assert [s["id"] for s in mine["results"]] == [signal["id"]]
    assert api.get(f"{API}/signals/{signal['id']}/").get_json()["take_profit"] == "53000.00"

    notes = api.get(f"{API}/signal-notifications/").get_json()["results"]
    assert len(notes) == 1 and notes[0]["signal"] == signal["id"] and notes[0]["read_at"] is None
    nid = notes[0]["id"]
    r1 = api.post(f"{API}/signal-notifications/{nid}/mark_read/")
    r2 = api.post(f"{API}/signal-notifications/{nid}/mark-read/")
    assert r1.status_code == r2.status_code == 200 and r1.get_json()["message"] == "Marked as read"
    assert api.get(f"{API}/signal-notifications/{nid}/").get_json()["read_at"] is not None

    executed = api.post(f"{API}/signals/{signal['id']}/execute/", json={"quantity": "0.1"})
    assert executed.status_code == 200, executed.get_json()
    out = executed.get_json()
    assert out["message"] == "Signal executed" and out["order"]["source"] == "signal"
    assert out["order_id"] == out["order"]["id"]
    assert api.get(f"{API}/signal-notifications/{nid}/").get_json()["acted_on"] is True
    position = api.get(f"{API}/positions/").get_json()["results"][0]
    assert position["stop_loss"] == "49000.00" and position["take_profit"] == "53000.00"


def test_without_a_subscription_signals_are_hidden_and_execute_is_403(app, alice, analyst, provider, plan, create_user):
    signal = publishing.publish(analyst, signal_data(provider))
    api = client_for(app, alice)
    assert api.get(f"{API}/signals/").get_json()["count"] == 0
    assert api.get(f"{API}/signals/{signal.id}/").status_code == 404
    r = api.post(f"{API}/signals/{signal.id}/execute/", json={"quantity": "0.1"})
    assert r.status_code == 403 and r.get_json()["code"] == "no_active_subscription"
    assert api.post(f"{API}/signals/{signal.id + 50}/execute/", json={"quantity": "0.1"}).status_code == 404


def test_other_users_subscriptions_and_notifications_are_404(app, alice, analyst, provider, plan, create_user):
    api = client_for(app, alice)
    sub = api.post(f"{API}/signal-subscriptions/", json={"plan": plan.id}).get_json()
    publishing.publish(analyst, signal_data(provider))
    nid = api.get(f"{API}/signal-notifications/").get_json()["results"][0]["id"]
    bob = client_for(app, create_user())
    assert bob.get(f"{API}/signal-subscriptions/{sub['id']}/").status_code == 404
    assert bob.post(f"{API}/signal-subscriptions/{sub['id']}/cancel/").status_code == 404
    assert bob.delete(f"{API}/signal-subscriptions/{sub['id']}/").status_code == 404
    assert bob.get(f"{API}/signal-notifications/{nid}/").status_code == 404
    assert bob.post(f"{API}/signal-notifications/{nid}/mark_read/").status_code == 404
    assert api.get(f"{API}/signal-subscriptions/{sub['id']}/").get_json()["status"] == "active"


def test_anonymous_is_401(api_client, plan):
    assert api_client.get(f"{API}/signal-plans/").status_code == 401
