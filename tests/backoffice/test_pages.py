"""Back-office pages: who sees what, filters, CSV exports (audited), actions answering with a toast."""

import json

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token
from tradeapp.models import AuditLog
from tradeapp.services import compliance

HX = {"HX-Request": "true"}


def _toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger-After-Settle"])["toast"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("finance", True), ("analyst", True), ("compliance", True), ("support", False), ("loans", False)],
)
def test_histories_and_reports_follow_permissions(staff_client_factory, role, allowed):
    client, _ = staff_client_factory(role)
    reports_ok = role in ("finance", "analyst", "compliance")
    money_ok = role in ("finance", "analyst", "compliance")  # deposits.manage or reports.view
    for url in ("/staff/history/deposits/", "/staff/history/withdrawals/", "/staff/history/deposits.csv"):
        assert client.get(url).status_code == (200 if money_ok else 403), url
    for url in ("/staff/reports/", "/staff/reports/balances/", "/staff/reports/volume/", "/staff/reports/daily.csv"):
        assert client.get(url).status_code == (200 if reports_ok else 403), url
    assert allowed == money_ok


def test_deposit_history_lists_filters_totals_and_exports(book, staff_client_factory, db):
    client, finance = staff_client_factory("finance")
    page = client.get("/staff/history/deposits/").get_data(as_text=True)
    assert "alice@example.com" in page and "bob@example.com" in page
    assert "invalid filters" not in page  # no filters given is not an error
    assert "1,250.50" in page  # the USD total
    part = client.get("/staff/history/deposits/?user=bob&amount_min=100", headers=HX).get_data(as_text=True)
    assert part.startswith('<div id="history-results"') or 'id="history-results"' in part[:200]
    assert "bob@example.com" in part and "alice@example.com" not in part and "<html" not in part
    bad = client.get("/staff/history/deposits/?amount_min=lots&status=bogus").get_data(as_text=True)
    assert "invalid filters were ignored" in bad and "alice@example.com" in bad  # ignored, not applied
    csv_text = client.get("/staff/history/deposits.csv?user=alice").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("id,created_at")
    assert len(csv_text.splitlines()) == 2 and "1000.00" in csv_text
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "export.deposits"))
    assert row.actor_id == finance.id and row.after == {"filters": {"user": "alice"}}


def test_reports_pages_show_the_books_figures(book, staff_client_factory):
    client, _ = staff_client_factory("analyst")
    from tradeapp.models.types import utcnow

    today = utcnow().date().isoformat()
    daily = client.get(f"/staff/reports/?day={today}").get_data(as_text=True)
    assert "948.50" in daily and "1,250.50" in daily and "Live" in daily
    assert "948.50" in client.get(f"/staff/reports/daily.csv?day={today}").get_data(as_text=True)
    assert "648.00" in client.get("/staff/reports/balances/").get_data(as_text=True)
    volume = client.get("/staff/reports/volume/").get_data(as_text=True)
    assert "BTC/USD" in volume and "500.00 USD" in volume
    assert "BTC/USD,USD,1,0.01,500.00,1.00" in client.get("/staff/reports/volume.csv").get_data(as_text=True)


def test_dashboard_is_money_first_and_by_role(book, staff_client_factory):
    finance, _ = staff_client_factory("finance")
    html = finance.get("/staff/").get_data(as_text=True)
    assert "Client assets" in html and "Deposits today" in html and "Withdrawals to approve" in html
    assert "<svg" in html and "Ledger check" in html
    assert "style=" not in html.split("<body", 1)[1]  # CSP: no inline styles
    support, _ = staff_client_factory("support")
    html = support.get("/staff/").get_data(as_text=True)
    assert "Client assets" not in html and "Deposits today" not in html and "Open orders" in html


def test_freeze_from_the_user_page_answers_with_a_toast(create_user, staff_client_factory, db):
    alice = create_user(email="alice@example.com", username="alice")
    client, _ = staff_client_factory("support")
    page = client.get(f"/staff/users/{alice.id}").get_data(as_text=True)
    assert "Account actions" in page and "Staff notes" in page and "Wallets" in page and "Recent logins" in page
    token = csrf_token(client, f"/staff/users/{alice.id}")

    refused = client.post(f"/staff/users/{alice.id}/freeze", data={"csrf_token": token, "reason": ""}, headers=HX)
    assert refused.status_code == 422 and _toast(refused)["level"] == "error"
    assert not compliance.is_frozen(alice.id)

    done = client.post(f"/staff/users/{alice.id}/freeze", data={"csrf_token": token, "reason": "ticket 7"}, headers=HX)
    assert done.status_code == 200
    assert _toast(done) == {
        "message": "alice@example.com is frozen: no trading, withdrawals or transfers until unfrozen.",
        "level": "success",
    }
    assert done.headers["HX-Trigger"] == "auditChanged"
    body = done.get_data(as_text=True)
    assert 'id="account-actions-card"' in body and "Frozen" in body and "Unfreeze" in body
    assert compliance.is_frozen(alice.id)

    note = client.post(f"/staff/users/{alice.id}/notes", data={"csrf_token": token, "body": "Asked for ID"}, headers=HX)
    assert note.status_code == 200 and "Asked for ID" in note.get_data(as_text=True)
    assert _toast(note)["message"] == "Note added."

    analyst, _ = staff_client_factory("analyst")
    token = csrf_token(analyst, f"/staff/users/{alice.id}")
    assert "Your role does not allow account actions" in analyst.get(f"/staff/users/{alice.id}").get_data(as_text=True)
    forbidden = analyst.post(f"/staff/users/{alice.id}/unfreeze", data={"csrf_token": token, "reason": "x y z"})
    assert forbidden.status_code == 403


def test_a_frozen_customer_sees_why_the_order_is_refused(app, create_user, staff_client_factory, pairs, market, db):
    from tests.conftest import web_login
    from tests.trading_helpers import fund
    from tradeapp.services.backoffice import accounts

    alice = create_user(email="alice@example.com", username="alice")
    fund(alice, "USD", "1000")
    market.set("BTC/USD", "49990", "50000", levels=3, size="1", step="10")
    _, support = staff_client_factory("support")
    accounts.freeze(support, alice, "checks")
    web = app.test_client()
    web_login(web, alice.email)
    trade_page = web.get("/trade/BTC-USD")
    assert trade_page.status_code == 200  # a frozen customer still sees everything
    assert "Your account is frozen" in trade_page.get_data(as_text=True)
    api_login = app.test_client().post(
        "/api/v1/auth/login/", json={"email": alice.email, "password": "Correct-horse-battery-9"}
    )
    access = api_login.get_json()["access"]
    answer = app.test_client().post(
        "/api/v1/orders/",
        json={"symbol": "BTC/USD", "side": "buy", "order_type": "market", "quantity": "0.001"},
        headers={"Authorization": f"Bearer {access}"},
    )
    assert answer.status_code == 403 and answer.get_json()["code"] == "account_frozen"
