"""Staff console pages: dashboard, users list and detail with their actions, roles, audit log, sidebar."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token
from tradeapp.models import AuditLog, LoginThrottle, User
from tradeapp.models.types import utcnow
from tradeapp.services import audit
from tradeapp.services.users import failure_key

HTMX = {"HX-Request": "true"}


@pytest.fixture()
def admin(staff_client_factory):
    """(client, admin) past both factors."""
    return staff_client_factory("admin")


def _token(client):
    return csrf_token(client, "/staff/")


def _audit_rows(db, action):
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _fresh(db, user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def _row_emails(html):
    return re.findall(r'<div class="small muted">([^<]+@[^<]+)</div>', html)


# -- dashboard and sidebar ---------------------------------------------------------------------------


def test_dashboard_shows_the_counts(admin, create_user, create_staff, db):
    client, staff = admin
    create_user(email="new@example.com")
    create_user(email="old@example.com", created_at=utcnow() - timedelta(days=30))
    create_user(email="kyc@example.com", kyc_status="pending")
    create_staff("support")
    r = client.get("/staff/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    values = re.findall(r'<div class="label">([^<]+)</div>\s*<div class="value">(\d+)</div>', html)
    assert dict(values) == {
        "Customers": "3",
        "New this week": "2",
        "Pending KYC": "1",
        "Audit entries today": str(db.session.scalar(select(func.count()).select_from(AuditLog))),
    }
    assert "staff.login" in html  # recent activity
    assert "/staff/users/?kyc=pending" in html


def test_sidebar_lists_only_what_the_role_may_open(staff_client_factory):
    client, _ = staff_client_factory("support")
    html = client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/users/"' in html
    assert 'href="/staff/roles/"' not in html
    assert 'href="/staff/audit/"' not in html
    assert "Your role does not include the audit log." in html


def test_sidebar_of_an_admin_has_every_section(admin):
    client, _ = admin
    html = client.get("/staff/users/").get_data(as_text=True)
    sidebar = html.split('<aside class="sidebar"', 1)[1].split("</aside>", 1)[0]
    sections = re.findall(r'<div class="section">([^<]+)</div>', sidebar)
    assert sections[0] == "Overview" and {"People", "Administration"} <= set(sections)
    assert len(sections) == len(set(sections))  # each section title once
    assert re.search(r'href="/staff/users/" class="active"', sidebar)
    assert 'href="/staff/roles/"' in sidebar and 'href="/staff/audit/"' in sidebar


# -- users list -------------------------------------------------------------------------------------------


def test_users_list_searches_and_filters(admin, create_user, create_staff):
    client, staff = admin
    create_user(email="carol@example.com", first_name="Carol", last_name="Danvers")
    create_user(email="dave@example.com", kyc_status="pending", verified=False)
    create_user(email="erin@example.com", is_active_flag=False)
    support = create_staff("support", email="sam@staff.example.com")

    def emails(query):
        r = client.get("/staff/users/" + query)
        assert r.status_code == 200
        return set(_row_emails(r.get_data(as_text=True)))

    assert {"carol@example.com", "dave@example.com", "erin@example.com", support.email, staff.email} <= emails("")
    assert emails("?q=CAROL") == {"carol@example.com"}
    assert emails("?q=danvers") == {"carol@example.com"}
    assert emails("?type=staff") == {support.email, staff.email}
    assert emails("?type=customers") == {"carol@example.com", "dave@example.com", "erin@example.com"}
    assert emails("?role=support") == {support.email}
    assert emails("?kyc=pending") == {"dave@example.com"}
    assert emails("?verified=no") == {"dave@example.com"}
    assert emails("?status=disabled") == {"erin@example.com"}
    assert emails("?q=%25") == set()  # LIKE wildcards are literal
    assert "carol@example.com" in emails("?type=nonsense")  # an unknown choice is ignored


def test_users_list_htmx_returns_only_the_rows(admin, create_user):
    client, _ = admin
    create_user(email="carol@example.com")
    r = client.get("/staff/users/?q=carol", headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert html.lstrip().startswith('<div id="user-results">')
    assert "<html" not in html
    assert "HX-Request" in r.headers.get("Vary", "")
    assert _row_emails(html) == ["carol@example.com"]


def test_users_list_page_has_live_search(admin):
    client, _ = admin
    html = client.get("/staff/users/").get_data(as_text=True)
    search = re.search(r'<input[^>]*name="q"[^>]*>', html).group(0)
    assert 'hx-get="/staff/users/"' in search
    assert 'hx-trigger="keyup changed delay:300ms, search"' in search
    assert 'hx-target="#user-results"' in search
    assert 'hx-push-url="true"' in search


def test_users_list_paginates(admin, create_user):
    client, _ = admin
    for n in range(30):
        create_user(email=f"bulk{n:02d}@example.com")
    first = _row_emails(client.get("/staff/users/?type=customers").get_data(as_text=True))
    second_html = client.get("/staff/users/?type=customers&page=2").get_data(as_text=True)
    second = _row_emails(second_html)
    assert len(first) == 25 and len(second) == 5
    assert not set(first) & set(second)
    assert "26–30 of 30" in second_html
    assert 'href="/staff/users/?type=customers&amp;page=1"' in second_html
    past = client.get("/staff/users/?page=9").get_data(as_text=True)
    assert "No more results" in past


def test_users_list_empty_state(admin):
    client, _ = admin
    html = client.get("/staff/users/?q=nobody-like-this").get_data(as_text=True)
    assert "No users match" in html


# -- user detail ----------------------------------------------------------------------------------------


def test_user_detail_shows_the_file(admin, create_user, db):
    client, staff = admin
    referrer = create_user(email="ref@example.com")
    user = create_user(email="bob@example.com", first_name="Bob", kyc_status="pending", referred_by_id=referrer.id)
    create_user(email="friend@example.com", referred_by_id=user.id)
    db.session.add(LoginThrottle(key=failure_key(user.email), failures=7, locked_until=utcnow() + timedelta(minutes=5)))
    audit.record(staff, "user.disabled", user, before={"is_active": True}, after={"is_active": False, "reason": "test"})
    db.session.commit()

    html = client.get(f"/staff/users/{user.id}").get_data(as_text=True)
    assert "bob@example.com" in html and user.referral_code in html
    assert "ref@example.com" in html  # referred by
    assert re.search(r"<dt>People referred</dt><dd>1</dd>", html)
    assert ">Locked</span>" in html and "7 failures" in html
    assert ">pending</span>" in html
    assert "user.disabled" in html and "&#34;test&#34;" in html  # audit trail with before/after


def test_user_detail_of_staff_lists_what_they_did(admin, create_staff, create_user, db):
    client, _ = admin
    support = create_staff("support")
    customer = create_user()
    audit.record(support, "user.unlocked", customer)
    db.session.commit()
    html = client.get(f"/staff/users/{support.id}").get_data(as_text=True)
    assert "user.unlocked" in html and "by them" in html
    assert "Enrolled" in html


def test_user_detail_404(admin):
    client, _ = admin
    assert client.get("/staff/users/999999").status_code == 404


# -- actions: status ----------------------------------------------------------------------------------


def test_disable_and_enable_with_a_reason(admin, create_user, db):
    client, staff = admin
    user = create_user()
    r = client.post(
        f"/staff/users/{user.id}/status",
        data={"action": "disable", "reason": "fraud report #12", "csrf_token": _token(client)},
    )
    assert r.status_code == 303
    assert _fresh(db, user).is_active_flag is False
    row = _audit_rows(db, "user.disabled")[-1]
    assert row.actor_id == staff.id and row.target_id == str(user.id)
    assert row.before == {"is_active": True}
    assert row.after == {"is_active": False, "reason": "fraud report #12"}

    r = client.post(
        f"/staff/users/{user.id}/status",
        data={"action": "enable", "reason": "cleared", "csrf_token": _token(client)},
        headers=HTMX,
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="card" id="user-status-card">')
    assert "Account enabled." in html
    assert r.headers["HX-Trigger"] == "auditChanged"
    assert _fresh(db, user).is_active_flag is True
    assert _audit_rows(db, "user.enabled")[-1].after == {"is_active": True, "reason": "cleared"}


def test_disable_needs_a_reason(admin, create_user, db):
    client, _ = admin
    user = create_user()
    r = client.post(
        f"/staff/users/{user.id}/status",
        data={"action": "disable", "reason": "", "csrf_token": _token(client)},
        headers=HTMX,
    )
    assert r.status_code == 422
    assert "Say why" in r.get_data(as_text=True)
    assert _fresh(db, user).is_active_flag is True
    assert _audit_rows(db, "user.disabled") == []


def test_disable_with_an_unknown_action_is_refused(admin, create_user, db):
    client, _ = admin
    user = create_user()
    r = client.post(
        f"/staff/users/{user.id}/status", data={"action": "delete", "reason": "because", "csrf_token": _token(client)}
    )
    assert r.status_code == 422
    assert _fresh(db, user).is_active_flag is True


def test_staff_cannot_disable_themselves(admin, db):
    client, staff = admin
    r = client.post(
        f"/staff/users/{staff.id}/status",
        data={"action": "disable", "reason": "oops", "csrf_token": _token(client)},
        headers=HTMX,
    )
    assert r.status_code == 422
    assert "your own account status" in r.get_data(as_text=True)
    assert _fresh(db, staff).is_active_flag is True


def test_support_may_disable_customers_but_not_admins(staff_client_factory, create_user, create_staff, db):
    client, _ = staff_client_factory("support")
    customer = create_user()
    other_admin = create_staff("admin")
    token = _token(client)
    r = client.post(
        f"/staff/users/{customer.id}/status", data={"action": "disable", "reason": "request", "csrf_token": token}
    )
    assert r.status_code == 303
    r = client.post(
        f"/staff/users/{other_admin.id}/status", data={"action": "disable", "reason": "coup", "csrf_token": token}
    )
    assert r.status_code == 422
    assert "Only administrators" in r.get_data(as_text=True)
    assert _fresh(db, other_admin).is_active_flag is True


def test_status_without_csrf_is_refused(admin, create_user, db):
    client, _ = admin
    user = create_user()
    r = client.post(f"/staff/users/{user.id}/status", data={"action": "disable", "reason": "no token"})
    assert r.status_code == 400
    assert _fresh(db, user).is_active_flag is True


def test_a_disabled_customer_can_no_longer_log_in(admin, create_user, db):
    client, _ = admin
    user = create_user()
    client.post(
        f"/staff/users/{user.id}/status", data={"action": "disable", "reason": "abuse", "csrf_token": _token(client)}
    )
    from tradeapp.errors import AuthenticationFailed
    from tradeapp.services.users import authenticate

    with pytest.raises(AuthenticationFailed):
        authenticate(user.email, "Correct-horse-battery-9")


# -- actions: unlock -----------------------------------------------------------------------------------


def test_unlock_clears_the_lockout(admin, create_user, db):
    client, staff = admin
    user = create_user()
    db.session.add(LoginThrottle(key=failure_key(user.email), failures=6, locked_until=utcnow() + timedelta(minutes=2)))
    db.session.commit()
    r = client.post(f"/staff/users/{user.id}/unlock", data={"csrf_token": _token(client)}, headers=HTMX)
    assert r.status_code == 200
    assert "Failed logins cleared" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(LoginThrottle, failure_key(user.email)) is None
    row = _audit_rows(db, "user.unlocked")[-1]
    assert row.before["failures"] == 6 and row.after == {"failures": 0, "locked_until": None}


def test_unlock_without_a_lockout_is_an_inline_error(admin, create_user, db):
    client, _ = admin
    user = create_user()
    r = client.post(f"/staff/users/{user.id}/unlock", data={"csrf_token": _token(client)}, headers=HTMX)
    assert r.status_code == 422
    assert "no failed logins" in r.get_data(as_text=True)
    assert _audit_rows(db, "user.unlocked") == []


# -- actions: roles and two-factor --------------------------------------------------------------------


def test_admin_makes_a_customer_staff_and_back(admin, create_user, db):
    client, staff = admin
    user = create_user()
    r = client.post(
        f"/staff/users/{user.id}/role", data={"role": "support", "csrf_token": _token(client)}, headers=HTMX
    )
    assert r.status_code == 200
    assert r.get_data(as_text=True).lstrip().startswith('<div class="card" id="user-role-card">')
    assert _fresh(db, user).role == "support"
    row = _audit_rows(db, "user.role_changed")[-1]
    assert (row.before, row.after, row.actor_id) == ({"role": None}, {"role": "support"}, staff.id)

    r = client.post(f"/staff/users/{user.id}/role", data={"role": "", "csrf_token": _token(client)})
    assert r.status_code == 303
    assert _fresh(db, user).role is None
    assert _audit_rows(db, "user.role_changed")[-1].after == {"role": None}


def test_unknown_role_is_refused(admin, create_user, db):
    client, _ = admin
    user = create_user()
    r = client.post(f"/staff/users/{user.id}/role", data={"role": "god", "csrf_token": _token(client)}, headers=HTMX)
    assert r.status_code == 422
    assert 'class="field-errors"' in r.get_data(as_text=True)
    assert _fresh(db, user).role is None


def test_admin_cannot_change_their_own_role(admin, db):
    client, staff = admin
    r = client.post(
        f"/staff/users/{staff.id}/role", data={"role": "analyst", "csrf_token": _token(client)}, headers=HTMX
    )
    assert r.status_code == 422
    assert "your own role" in r.get_data(as_text=True)
    assert _fresh(db, staff).role == "admin"


def test_reset_two_factor(admin, create_staff, create_user, db):
    client, _ = admin
    support = create_staff("support")
    r = client.post(f"/staff/users/{support.id}/two-factor/reset", data={"csrf_token": _token(client)}, headers=HTMX)
    assert r.status_code == 200
    assert "enrol again" in r.get_data(as_text=True)
    fresh = _fresh(db, support)
    assert fresh.totp_secret is None and fresh.totp_confirmed_at is None
    assert _audit_rows(db, "user.2fa_reset")[-1].before == {"enrolled": True}

    customer = create_user()
    r = client.post(f"/staff/users/{customer.id}/two-factor/reset", data={"csrf_token": _token(client)}, headers=HTMX)
    assert r.status_code == 422
    assert "not set up" in r.get_data(as_text=True)


def test_an_analyst_sees_no_actions(staff_client_factory, create_user):
    user = create_user()
    client, _ = staff_client_factory("analyst")
    html = client.get(f"/staff/users/{user.id}").get_data(as_text=True)
    assert "/status" not in html and "/role" not in html and "/two-factor/reset" not in html


def test_support_sees_status_actions_but_not_roles(staff_client_factory, create_user):
    user = create_user()
    client, _ = staff_client_factory("support")
    html = client.get(f"/staff/users/{user.id}").get_data(as_text=True)
    assert f"/staff/users/{user.id}/status" in html and f"/staff/users/{user.id}/role" not in html


def test_user_detail_parts_for_htmx(admin, create_user):
    client, _ = admin
    user = create_user()
    html = client.get(f"/staff/users/{user.id}?part=audit", headers=HTMX).get_data(as_text=True)
    assert html.lstrip().startswith('<div class="card" id="user-audit-card"')
    assert 'hx-trigger="auditChanged from:body"' in html


# -- roles page -----------------------------------------------------------------------------------------


def test_roles_page_shows_the_matrix_and_members(admin, create_staff):
    from tradeapp.permissions import PERMISSIONS

    client, staff = admin
    analyst = create_staff("analyst")
    html = client.get("/staff/roles/").get_data(as_text=True)
    for permission in PERMISSIONS:
        assert f"<code>{permission}</code>" in html
    assert html.count('class="tick"') == sum(
        len(p) for p in __import__("tradeapp.permissions").permissions.ROLE_PERMISSIONS.values()
    )
    assert analyst.email in html and staff.email in html


# -- audit log ------------------------------------------------------------------------------------------


@pytest.fixture()
def audit_rows(db, create_user, create_staff):
    alice = create_staff("compliance", email="alice@staff.example.com")
    bob = create_staff("support", email="bob@staff.example.com")
    target = create_user(email="target@example.com")
    old = audit.record(alice, "user.disabled", target, before={"is_active": True}, after={"is_active": False})
    old.created_at = utcnow() - timedelta(days=10)  # written once, in the past
    audit.record(bob, "user.unlocked", target)
    audit.record(bob, "kyc.approved", None)
    db.session.commit()
    return {"alice": alice, "bob": bob, "target": target}


def _audit_actions(html):
    return re.findall(r'<code class="action">([^<]+)</code>', html)


def test_audit_log_lists_newest_first_and_filters(admin, audit_rows):
    client, _ = admin
    target = audit_rows["target"]
    html = client.get("/staff/audit/").get_data(as_text=True)
    actions = _audit_actions(html)
    assert actions[-1] == "user.disabled"  # the oldest row is last
    assert {"user.unlocked", "kyc.approved", "staff.login"} <= set(actions)
    assert '<span class="old">true</span>' in html and '<span class="new">false</span>' in html

    assert _audit_actions(client.get("/staff/audit/?actor=alice@").get_data(as_text=True)) == ["user.disabled"]
    assert set(_audit_actions(client.get("/staff/audit/?action=user.").get_data(as_text=True))) == {
        "user.disabled",
        "user.unlocked",
    }
    assert set(
        _audit_actions(client.get(f"/staff/audit/?target_type=users&target_id={target.id}").get_data(as_text=True))
    ) == {
        "user.disabled",
        "user.unlocked",
    }
    today = utcnow().date()
    recent = _audit_actions(client.get(f"/staff/audit/?date_from={today - timedelta(days=1)}").get_data(as_text=True))
    assert "user.disabled" not in recent and "user.unlocked" in recent
    old = _audit_actions(client.get(f"/staff/audit/?date_to={today - timedelta(days=5)}").get_data(as_text=True))
    assert old == ["user.disabled"]


def test_audit_log_htmx_fragment_and_bad_dates(admin, audit_rows):
    client, _ = admin
    r = client.get("/staff/audit/?action=kyc", headers=HTMX)
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="audit-results">')
    assert _audit_actions(html) == ["kyc.approved"]
    r = client.get("/staff/audit/?date_from=not-a-date")
    assert r.status_code == 200
    assert "invalid filters were ignored" in r.get_data(as_text=True)


def test_audit_log_empty_state_and_pages(admin, db, create_user):
    client, staff = admin
    assert "No entries match" in client.get("/staff/audit/?action=nothing.").get_data(as_text=True)
    user = create_user()
    for n in range(30):
        audit.record(staff, "test.bulk", user, after={"n": n})
    db.session.commit()
    first = _audit_actions(client.get("/staff/audit/?action=test.bulk").get_data(as_text=True))
    second = _audit_actions(client.get("/staff/audit/?action=test.bulk&page=2").get_data(as_text=True))
    assert len(first) == 25 and len(second) == 5


def test_audit_log_has_no_edit_controls(admin, audit_rows):
    client, _ = admin
    html = client.get("/staff/audit/").get_data(as_text=True)
    assert "<form" in html  # the filters
    assert 'method="post"' not in html.split('<div class="staff-content">', 1)[1]


def test_other_blueprints_can_add_sidebar_links_with_counters(app, create_staff):
    from flask_login import login_user

    from tradeapp import domains
    from tradeapp.blueprints.staff import views

    registry = domains.registry(app)
    before = list(registry.nav)
    try:
        domains.add_nav(
            app, "Queues", "KYC review", "staff.dashboard", "kyc.review", counter="kyc_pending", prefix="x."
        )
        domains.add_counter(app, "kyc_pending", lambda: 4)
        compliance, support = create_staff("compliance"), create_staff("support")
        with app.test_request_context("/staff/"):
            login_user(compliance)
            items = views.nav_for(compliance)
            kyc = next(i for i in items if i["label"] == "KYC review")
            assert (kyc["section"], kyc["count"], kyc["counter"], kyc["prefix"]) == ("Queues", 4, "kyc_pending", "x.")
            sections = [i["section"] for i in items if i["section"]]
            assert sections.index("Queues") < sections.index("Administration")
            assert sections.index("People") < sections.index("Queues")
            assert "KYC review" not in [i["label"] for i in views.nav_for(support)]  # no kyc.review
        with pytest.raises(KeyError):
            domains.add_nav(app, "Queues", "Bad", "staff.dashboard", "no.such.permission")
    finally:
        registry.nav[:] = before
        registry.counters.pop("kyc_pending", None)


def _browser_fields(html, action):
    """The (name, value) pairs a browser would send from the form posting to ``action``."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S).group(1)
    return [(m.group(1), m.group(2)) for m in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)]


def test_the_status_form_as_rendered_disables_then_enables(admin, create_user, db):
    from werkzeug.datastructures import MultiDict

    client, _ = admin
    user = create_user()
    action = f"/staff/users/{user.id}/status"
    fields = _browser_fields(client.get(f"/staff/users/{user.id}").get_data(as_text=True), action)
    r = client.post(action, data=MultiDict([*fields, ("reason", "rendered form")]), headers=HTMX)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _fresh(db, user).is_active_flag is False
    # The swapped card now offers "enable", and its form works too.
    fields = _browser_fields(r.get_data(as_text=True), action)
    assert ("action", "enable") in fields
    r = client.post(action, data=MultiDict([*fields, ("reason", "back")]), headers=HTMX)
    assert r.status_code == 200
    assert _fresh(db, user).is_active_flag is True


def test_the_role_and_reset_forms_as_rendered_work(admin, create_staff, db):
    from werkzeug.datastructures import MultiDict

    client, _ = admin
    member = create_staff("support")
    html = client.get(f"/staff/users/{member.id}").get_data(as_text=True)
    role_action = f"/staff/users/{member.id}/role"
    r = client.post(role_action, data=MultiDict([*_browser_fields(html, role_action), ("role", "analyst")]))
    assert r.status_code == 303
    # two-factor resets live on the account actions card and need a reason (audited)
    reset_action = f"/staff/users/{member.id}/two-factor/reset-with-reason"
    r = client.post(reset_action, data=MultiDict([*_browser_fields(html, reset_action), ("reason", "lost phone")]))
    assert r.status_code == 303
    fresh = _fresh(db, member)
    assert fresh.role == "analyst" and fresh.totp_confirmed_at is None
