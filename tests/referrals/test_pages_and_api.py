"""The referral page, the ?ref= link, the staff console and the referrals API (owners only, usernames only)."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import ApiClient, csrf_token
from tests.referrals.helpers import approve_kyc, card_deposit, rewards, setup_programme, sign_up
from tradeapp.models import AuditLog, ReferralSettings, ReferralTier
from tradeapp.services.tokens import issue_tokens

D = Decimal
HX = {"HX-Request": "true"}


@pytest.fixture()
def programme(db):
    return setup_programme()


def api_for(app, user) -> ApiClient:
    return ApiClient(app.test_client(), issue_tokens(user)["access"])


# -- links ------------------------------------------------------------------------------------------------


def test_ref_link_prefills_registration_and_survives_navigation(client, user):
    assert client.get(f"/?ref={user.referral_code.lower()}").status_code in (200, 302)
    client.get("/auth/login")  # wander off
    page = client.get("/auth/register").get_data(as_text=True)
    assert f'value="{user.referral_code}"' in page


def test_registration_with_the_remembered_code_links_the_referrer(client, user, programme):
    client.get(f"/auth/register?ref={user.referral_code}")
    data = {
        "csrf_token": csrf_token(client, "/auth/register"),
        "email": "carol@example.org",
        "username": "carol",
        "password": "Tangerine-Kettle-42",
        "password_confirm": "Tangerine-Kettle-42",
        "referral_code": user.referral_code,
    }
    response = client.post("/auth/register", data=data, headers={"User-Agent": "pytest-browser"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:400]
    from tradeapp.models import Referral, User

    carol = client.application.extensions["sqlalchemy"].session.scalar(select(User).where(User.username == "carol"))
    assert carol.referred_by_id == user.id
    referral = client.application.extensions["sqlalchemy"].session.scalar(
        select(Referral).where(Referral.referee_id == carol.id)
    )
    assert referral.device and referral.signup_ip == "127.0.0.1"


def test_api_registration_with_referred_by_code_still_works(app, user, programme):
    anon = ApiClient(app.test_client())
    body = {
        "email": "dave@example.org",
        "username": "dave",
        "password": "Tangerine-Kettle-42",
        "password_confirm": "Tangerine-Kettle-42",
        "referred_by_code": user.referral_code,
    }
    assert anon.post("/api/v1/auth/register/", json=body).status_code == 201
    me = api_for(app, user)
    names = [u["username"] for u in me.get("/api/v1/referrals/referred-users/").get_json()["results"]]
    assert names == ["dave"]


# -- API ----------------------------------------------------------------------------------------------------


def test_api_code_stats_rewards_and_referred_users(app, user, programme):
    friend = sign_up(user, email="secret.friend@example.org")
    approve_kyc(friend)
    card_deposit(friend)
    api = api_for(app, user)
    code = api.get("/api/v1/referrals/code/").get_json()
    assert code["referral_code"] == user.referral_code and code["referral_link"].endswith(f"ref={user.referral_code}")
    stats = api.get("/api/v1/referrals/stats/").get_json()
    assert stats["total_referrals"] == 1 and stats["qualified_referrals"] == 1
    assert stats["rewards_pending"] == {"USD": "30.00"} and stats["rewards_paid"] == {}
    assert stats["tier"]["name"] == "Bronze" and stats["next_tier"]["name"] == "Silver"
    assert stats["referrals_to_next_tier"] == 1
    page = api.get("/api/v1/referrals/rewards/?page_size=1").get_json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert page["results"][0]["referred_user"] == friend.username
    assert api.get("/api/v1/referrals/rewards/?status=paid").get_json()["count"] == 0
    for path in ("/api/v1/referrals/referred-users/", "/api/v1/referrals/referred_users/"):
        body = api.get(path)
        text = body.get_data(as_text=True)
        assert body.status_code == 200 and "secret.friend" not in text and "@" not in text
        assert body.get_json()["results"][0]["is_verified"] is True


def test_api_shows_only_ones_own_rewards(app, user, create_user, programme):
    approve_kyc(sign_up(user))
    other = api_for(app, create_user())
    assert other.get("/api/v1/referrals/rewards/").get_json()["count"] == 0
    assert other.get("/api/v1/referrals/referred-users/").get_json()["count"] == 0


def test_api_needs_a_token(app):
    assert ApiClient(app.test_client()).get("/api/v1/referrals/stats/").status_code == 401


# -- customer page ------------------------------------------------------------------------------------------


def test_referral_page_shows_link_qr_tier_charts_and_rewards(logged_in_client, user, programme):
    empty = logged_in_client.get("/referrals/").get_data(as_text=True)
    assert "No rewards yet" in empty and "Nobody has joined with your link yet" in empty
    friend = sign_up(user)
    approve_kyc(friend)
    page = logged_in_client.get("/referrals/").get_data(as_text=True)
    assert user.referral_code in page and "data-copy" in page and "/referrals/qr.svg" in page
    assert "Bronze" in page and "<progress" in page and "<svg" in page
    assert friend.username in page and "Sign-up bonus" not in page  # types are shown by name, not label
    assert "Signup" in page
    qr = logged_in_client.get("/referrals/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    fragment = logged_in_client.get("/referrals/?status=paid", headers=HX).get_data(as_text=True)
    assert 'id="referral-rewards"' in fragment and "<html" not in fragment and "No rewards match" in fragment
    csv = logged_in_client.get("/referrals/rewards.csv").get_data(as_text=True)
    assert csv.splitlines()[0].startswith("id,created_at,referred_user")
    assert friend.username in csv and friend.email not in csv


def test_referral_page_needs_login(client):
    assert client.get("/referrals/").status_code in (302, 303)


# -- staff console ------------------------------------------------------------------------------------------


def test_staff_review_queue_release_and_cancel(staff_client_factory, user, programme, db):
    crowd = [sign_up(user, ip="192.0.2.50") for _ in range(4)]
    approve_kyc(crowd[0], "S-1")
    approve_kyc(crowd[1], "S-2")
    first, second = rewards(user)
    client, staff = staff_client_factory("compliance")
    page = client.get("/staff/referrals/").get_data(as_text=True)
    assert "Review queue" in page and f"held-{first.id}" in page
    token = csrf_token(client, "/staff/referrals/")
    refused = client.post(f"/staff/referrals/rewards/{first.id}/approve", data={"csrf_token": token}, headers=HX)
    assert refused.status_code == 422 and "reason" in refused.get_data(as_text=True)
    ok = client.post(
        f"/staff/referrals/rewards/{first.id}/approve", data={"csrf_token": token, "reason": "Known family"}, headers=HX
    )
    assert ok.status_code == 200 and "toast" in ok.headers["HX-Trigger-After-Settle"]
    client.post(
        f"/staff/referrals/rewards/{second.id}/cancel", data={"csrf_token": token, "reason": "Farm"}, headers=HX
    )
    db.session.expire_all()
    assert [r.status for r in rewards(user)] == ["pending", "cancelled"]
    actions = {a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.actor_id == staff.id))}
    assert {"referrals.reward_approved", "referrals.reward_cancelled"} <= actions


def test_staff_settings_and_tiers(staff_client_factory, db, programme):
    client, staff = staff_client_factory("finance")
    token = csrf_token(client, "/staff/referrals/")
    data = {
        "csrf_token": token,
        "currency": "USD",
        "signup_bonus": "12.50",
        "first_deposit_bonus": "25",
        "first_deposit_minimum": "50",
        "clearing_days": "7",
        "monthly_cap": "500",
        "burst_signups": "5",
        "burst_hours": "12",
    }
    r = client.post("/staff/referrals/settings", data=data, headers=HX)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    db.session.expire_all()
    conf = db.session.get(ReferralSettings, 1)
    assert (conf.signup_bonus, conf.clearing_days, conf.burst_signups) == (D("12.50"), 7, 5)
    bad = client.post("/staff/referrals/settings", data={**data, "signup_bonus": "1.234"}, headers=HX)
    assert bad.status_code == 422 and "decimal" in bad.get_data(as_text=True)
    r = client.post(
        "/staff/referrals/tiers",
        data={
            "csrf_token": token,
            "name": "Gold",
            "min_referrals": "10",
            "commission_percentage": "30",
            "bonus_amount": "10",
        },
        headers=HX,
    )
    assert r.status_code == 200 and "Gold" in r.get_data(as_text=True)
    dup = client.post(
        "/staff/referrals/tiers",
        data={"csrf_token": token, "name": "Gold", "min_referrals": "11", "commission_percentage": "30"},
        headers=HX,
    )
    assert dup.status_code == 422
    gold = db.session.scalar(select(ReferralTier).where(ReferralTier.name == "Gold"))
    r = client.post(f"/staff/referrals/tiers/{gold.id}/delete", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 200 and db.session.get(ReferralTier, gold.id) is None
    actions = {a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.actor_id == staff.id))}
    assert {"referrals.settings_updated", "referrals.tier_created", "referrals.tier_deleted"} <= actions


def test_staff_export_for_accounting(staff_client, user, programme):
    approve_kyc(sign_up(user))
    body = staff_client.get("/staff/referrals/export.csv").get_data(as_text=True)
    lines = body.splitlines()
    assert lines[0].startswith("reward_id,created_at,paid_at") and len(lines) == 2
    assert ",signup,pending,USD," in lines[1]


def test_customers_and_other_staff_cannot_open_the_console(logged_in_client, staff_client_factory):
    assert logged_in_client.get("/staff/referrals/").status_code in (302, 403)
    support, _ = staff_client_factory("support")
    assert support.get("/staff/referrals/").status_code == 403


def test_cli_sums_and_pays(app, user, db):
    setup_programme(clearing_days=0)
    approve_kyc(sign_up(user))
    runner = app.test_cli_runner()
    assert "0 commission rewards created" in runner.invoke(args=["referrals", "sum-commissions"]).output
    assert "1 rewards paid" in runner.invoke(args=["referrals", "pay"]).output
    assert "0 rewards paid" in runner.invoke(args=["referrals", "pay"]).output
    assert [r.status for r in rewards(user)] == ["paid"]


def test_csv_exports_neutralise_formulas_in_usernames(logged_in_client, staff_client, user, programme):
    friend = sign_up(user)
    friend.username = "+cmd@evil"
    from tradeapp.extensions import db

    db.session.commit()
    approve_kyc(friend)
    mine = logged_in_client.get("/referrals/rewards.csv").get_data(as_text=True)
    staff = staff_client.get("/staff/referrals/export.csv").get_data(as_text=True)
    assert ",'+cmd@evil," in mine and ",'+cmd@evil," in staff
