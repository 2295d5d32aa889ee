"""Copy-trading pages: leaderboard, trader page with the follow form and its preview, My copies actions, staff console."""

from sqlalchemy import select

from tests.conftest import csrf_token, web_login
from tests.copy_trading.helpers import buy, trader_row
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import AuditLog, CopySubscription, Trader

HX = {"HX-Request": "true"}


def _login(app, user, page="/copy/"):
    client = app.test_client()
    web_login(client, user.email)
    return client, csrf_token(client, page)


def test_leaderboard_window_and_sorting_and_no_private_data(app, lead, create_user):
    viewer = create_user(email="v@example.com", username="viewer")
    client, _ = _login(app, viewer)
    page = client.get("/copy/?window=7d&ordering=-win_rate")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Lead Capital" in text and "ROI 7d" in text
    assert lead.email not in text and lead.referral_code not in text
    fragment = client.get("/copy/?window=90d", headers=HX).get_data(as_text=True)
    assert 'id="copy-leaderboard"' in fragment and "<html" not in fragment


def test_follow_with_preview_then_manage_in_my_copies(app, lead, create_user, btc_market):
    buy(lead, "1")
    follower = create_user(email="fw@example.com", username="fw")
    fund(follower, "USD", "10000")
    client, token = _login(app, follower)
    trader_id = trader_row(lead).id
    page = client.get(f"/copy/traders/{trader_id}").get_data(as_text=True)
    assert "Copy Lead Capital" in page and "minutes late" in page  # trades delayed for non-followers
    preview = client.post(
        f"/copy/traders/{trader_id}/preview", data={"csrf_token": token, "copy_percentage": "50"}, headers=HX
    ).get_data(as_text=True)
    assert "5,000.00 USD" in preview and "would have been copied as" in preview
    bad = client.post(
        f"/copy/traders/{trader_id}/follow", data={"csrf_token": token, "copy_percentage": "150"}, headers=HX
    )
    assert bad.status_code == 422 and "Between 0.01 and 100" in bad.get_data(as_text=True)
    ok = client.post(
        f"/copy/traders/{trader_id}/follow", data={"csrf_token": token, "copy_percentage": "50"}, headers=HX
    )
    assert ok.status_code == 204 and ok.headers["HX-Redirect"] == "/copy/mine"
    sub = db.session.scalar(select(CopySubscription).where(CopySubscription.follower_id == follower.id))
    mine = client.get("/copy/mine").get_data(as_text=True)
    assert "Lead Capital" in mine and "5,000.00" in mine
    paused = client.post(f"/copy/mine/{sub.id}/pause", data={"csrf_token": token}, headers=HX)
    assert paused.status_code == 200 and "paused" in paused.get_data(as_text=True)
    assert "toast" in paused.headers["HX-Trigger-After-Settle"]
    saved = client.post(
        f"/copy/mine/{sub.id}/settings",
        data={"csrf_token": token, "copy_percentage": "50", "stop_loss_percentage": "10"},
        headers=HX,
    )
    assert saved.status_code == 200 and "Settings saved" in saved.get_data(as_text=True)
    resumed = client.post(f"/copy/mine/{sub.id}/resume", data={"csrf_token": token}, headers=HX)
    assert "active" in resumed.get_data(as_text=True)
    buy(lead, "0.5")  # copied: the list shows it
    copies = client.get("/copy/mine/copies", headers=HX).get_data(as_text=True)
    assert "copied" in copies
    gone = client.post(f"/copy/mine/{sub.id}/unsubscribe", data={"csrf_token": token}, headers=HX)
    assert "Unsubscribed" in gone.get_data(as_text=True) and "ended" in gone.get_data(as_text=True)
    other, other_token = _login(app, create_user(email="o@example.com", username="o"))
    assert other.post(f"/copy/mine/{sub.id}/pause", data={"csrf_token": other_token}, headers=HX).status_code == 404


def test_apply_from_the_page(app, create_user, btc_market):
    user = create_user(email="ap@example.com", username="ap", kyc_status="approved")
    fund(user, "USD", "1000")
    buy(user, "0.001")
    client, token = _login(app, user)
    r = client.post(
        "/copy/apply",
        data={"csrf_token": token, "display_name": "AP Swing", "profit_share_percentage": "5"},
        headers=HX,
    )
    assert r.status_code == 200 and "pending" in r.get_data(as_text=True)
    assert db.session.scalar(select(Trader.status).where(Trader.user_id == user.id)) == "pending"


def test_staff_queue_decisions_are_audited(app, staff_client_factory, create_user, btc_market):
    applicant = create_user(email="ap2@example.com", username="ap2", kyc_status="approved")
    db.session.add(Trader(user_id=applicant.id, display_name="Applicant", status="pending"))
    db.session.commit()
    trader_id = db.session.scalar(select(Trader.id).where(Trader.user_id == applicant.id))
    client, _staff = staff_client_factory("compliance")
    token = csrf_token(client, "/staff/")
    queue = client.get("/staff/copy/applications").get_data(as_text=True)
    assert "Applicant" in queue and applicant.email in queue
    r = client.post(f"/staff/copy/traders/{trader_id}/approve", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 200 and "approved" in r.get_data(as_text=True)
    no_reason = client.post(f"/staff/copy/traders/{trader_id}/suspend", data={"csrf_token": token}, headers=HX)
    assert no_reason.status_code == 422
    r = client.post(
        f"/staff/copy/traders/{trader_id}/suspend", data={"csrf_token": token, "reason": "Spoofing"}, headers=HX
    )
    assert "suspended" in r.get_data(as_text=True)
    assert client.get("/staff/copy/traders").status_code == 200
    assert client.get(f"/staff/copy/traders/{trader_id}").status_code == 200
    assert client.get("/staff/copy/settlements").status_code == 200
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"copy.trader_approve", "copy.trader_suspend"} <= actions
    finance, _ = staff_client_factory("finance")
    assert finance.get("/staff/copy/applications").status_code == 403
