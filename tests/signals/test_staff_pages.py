"""The staff signals console: providers and plans (signals.manage), publish with preview and outcomes
(signals.publish), revenue; audited through the services."""

from sqlalchemy import select

from tests.conftest import csrf_token
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import AuditLog, SignalPlan, SignalProvider, TradingSignal
from tradeapp.services.signals import subscriptions


def test_manager_adds_a_provider_and_a_plan(staff_client_factory, pairs):
    client, _ = staff_client_factory("admin")
    assert client.get("/staff/signals/providers").status_code == 200
    token = csrf_token(client, "/staff/signals/providers")
    r = client.post(
        "/staff/signals/providers",
        data={"csrf_token": token, "name": "Desk", "provider_type": "in_house", "is_active": "y"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "Desk saved" in r.get_data(as_text=True)
    provider = db.session.scalar(select(SignalProvider))
    r = client.post(
        "/staff/signals/plans",
        data={
            "csrf_token": token,
            "provider": str(provider.id),
            "name": "Gold",
            "price": "49.00",
            "currency": "USD",
            "duration_days": "30",
            "trial_days": "7",
            "max_signals_per_day": "5",
            "trading_pairs": [str(pairs["BTC/USD"].id)],
            "is_active": "y",
        },
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    plan = db.session.scalar(select(SignalPlan))
    assert (plan.name, plan.trial_days, [p.symbol for p in plan.pairs]) == ("Gold", 7, ["BTC/USD"])
    bad = client.post(
        "/staff/signals/plans",
        data={"csrf_token": token, "provider": str(provider.id), "name": "X", "price": "-1", "duration_days": "0"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422 and "field-errors" in bad.get_data(as_text=True)
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"signal_provider.create", "signal_plan.create"} <= actions
    for url in ("/staff/signals/plans", f"/staff/signals/plans?edit={plan.id}", "/staff/signals/revenue"):
        assert client.get(url).status_code == 200


def test_analyst_previews_and_publishes_but_cannot_manage_plans(
    staff_client_factory, provider, plan, market, create_user
):
    market.set("BTC/USD", "50000", "50010")
    customer = create_user()
    fund(customer, "USD", "30")
    subscriptions.subscribe(customer, plan.id)
    client, _ = staff_client_factory("analyst")
    assert client.get("/staff/signals/plans").status_code == 403
    assert client.get("/staff/signals/revenue").status_code == 403
    page = client.get("/staff/signals/publish")
    assert page.status_code == 200
    token = csrf_token(client, "/staff/signals/publish")
    body = {
        "csrf_token": token,
        "provider": str(provider.id),
        "trading_pair": str(plan.pairs[0].id),
        "signal_type": "buy",
        "entry_price": "50000",
        "stop_loss": "51000",
        "take_profit": "53000",
        "timeframe": "1h",
        "confidence": "70",
    }
    preview = client.post("/staff/signals/publish/preview", data=body, headers={"HX-Request": "true"})
    assert "below the entry" in preview.get_data(as_text=True)
    body["stop_loss"] = "49000"
    preview = client.post("/staff/signals/publish/preview", data=body, headers={"HX-Request": "true"})
    text = preview.get_data(as_text=True)
    assert "1 : 3.00" in text and "Pro: 0 of 10 today" in text
    r = client.post("/staff/signals/publish", data=body, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "published" in r.get_data(as_text=True)
    assert db.session.scalar(select(TradingSignal)).published_by_id is not None
    assert client.get("/staff/signals/outcomes").status_code == 200
    assert client.get("/staff/signals/outcomes?status=active").status_code == 200


def test_customers_cannot_open_the_console(logged_in_client):
    for url in ("/staff/signals/providers", "/staff/signals/publish", "/staff/signals/outcomes"):
        assert logged_in_client.get(url).status_code == 403
