from tests.conftest import web_login
from tests.signals.test_publish_delivery import signal_data
from tests.trading_helpers import fund
from tradeapp.services.signals import publishing


def test_pages(app, client, create_user, provider, plan, market, create_staff):
    market.set("BTC/USD", "50000", "50010")
    u = create_user()
    fund(u, "USD", "1000")
    web_login(client, u.email)
    for url in ["/signals/", "/signals/marketplace", "/signals/subscriptions", f"/signals/plans/{plan.id}/subscribe"]:
        r = client.get(url)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[:2000])
    from tests.conftest import csrf_token

    tok = csrf_token(client, f"/signals/plans/{plan.id}/subscribe")
    r = client.post(
        f"/signals/plans/{plan.id}/subscribe",
        data={"csrf_token": tok, "auto_renew": "y"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:3000]
    s = publishing.publish(create_staff(role="analyst"), signal_data(provider))
    r = client.get(f"/signals/{s.id}")
    assert r.status_code == 200, r.get_data(as_text=True)[:3000]
    r = client.post(
        f"/signals/{s.id}/preview", data={"quantity": "0.01"}, headers={"X-CSRFToken": tok, "HX-Request": "true"}
    )
    assert r.status_code == 200 and "Total" in r.get_data(as_text=True), r.get_data(as_text=True)[:3000]
    r = client.post(
        f"/signals/{s.id}/execute", data={"quantity": "0.01", "csrf_token": tok}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "order #" in r.get_data(as_text=True), r.get_data(as_text=True)[:3000]
    r = client.get("/signals/")
    assert "executed" in r.get_data(as_text=True)
