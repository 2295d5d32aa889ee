"""Staff services: roles, account status, lockout, two-factor, and the console's read queries."""

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from tests.conftest import TOTP_SECRET, totp_now
from tradeapp.errors import PermissionDenied, ValidationFailed
from tradeapp.models import AuditLog, LoginThrottle, User
from tradeapp.models.types import utcnow
from tradeapp.services import audit, staff, staff_queries
from tradeapp.services.users import failure_key


def _rows(db, action):
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


# -- roles --------------------------------------------------------------------------------------------


def test_set_role_grants_changes_and_removes(db, create_staff, create_user):
    admin = create_staff("admin")
    user = create_user()
    staff.set_role(admin, user, "finance")
    assert user.role == "finance"
    staff.set_role(admin, user, None)
    assert user.role is None and user.totp_secret is None
    rows = _rows(db, "user.role_changed")
    assert [(r.before, r.after) for r in rows] == [
        ({"role": None}, {"role": "finance"}),
        ({"role": "finance"}, {"role": None}),
    ]
    assert all(r.actor_id == admin.id for r in rows)


def test_set_role_same_role_is_a_no_op(db, create_staff):
    admin = create_staff("admin")
    other = create_staff("support")
    staff.set_role(admin, other, "support")
    assert _rows(db, "user.role_changed") == []


@pytest.mark.parametrize("role", ["compliance", "finance", "loans", "support", "analyst"])
def test_only_admins_manage_roles(db, create_staff, create_user, role):
    actor = create_staff(role)
    user = create_user()
    with pytest.raises(PermissionDenied):
        staff.set_role(actor, user, "support")
    assert user.role is None


def test_no_one_changes_their_own_role(db, create_staff):
    admin = create_staff("admin")
    create_staff("admin")
    with pytest.raises(PermissionDenied):
        staff.set_role(admin, admin, "analyst")
    assert admin.role == "admin"


def test_unknown_role_is_refused(db, create_staff, create_user):
    admin = create_staff("admin")
    user = create_user()
    with pytest.raises(ValidationFailed) as exc:
        staff.set_role(admin, user, "superuser")
    assert "role" in exc.value.fields


def test_the_last_active_admin_keeps_the_role(db, create_staff):
    # A disabled admin (an actor reaching the service through the CLI, say) is not counted.
    retired = create_staff("admin", is_active_flag=False)
    last = create_staff("admin")
    with pytest.raises(ValidationFailed) as exc:
        staff.set_role(retired, last, "analyst")
    assert exc.value.fields == {"role": ["At least one administrator must remain."]}
    db.session.expire_all()
    assert db.session.get(User, last.id).role == "admin"


def test_an_admin_can_demote_another_admin(db, create_staff):
    a, b = create_staff("admin"), create_staff("admin")
    staff.set_role(a, b, "compliance")
    assert b.role == "compliance"


# -- account status ------------------------------------------------------------------------------------


def test_set_active_records_the_reason(db, create_staff, create_user):
    support = create_staff("support")
    user = create_user()
    staff.set_active(support, user, False, "chargeback")
    assert user.is_active_flag is False
    row = _rows(db, "user.disabled")[0]
    assert (row.before, row.after) == ({"is_active": True}, {"is_active": False, "reason": "chargeback"})
    staff.set_active(support, user, False, "again")  # no change, no row
    assert len(_rows(db, "user.disabled")) == 1


def test_set_active_refuses_self_and_non_admins_on_admins(db, create_staff):
    support = create_staff("support")
    admin = create_staff("admin")
    with pytest.raises(PermissionDenied):
        staff.set_active(support, support, False, "x")
    with pytest.raises(PermissionDenied):
        staff.set_active(support, admin, False, "x")
    assert support.is_active_flag and admin.is_active_flag


# -- lockout --------------------------------------------------------------------------------------------


def test_unlock_clears_the_counter_and_records_it(db, create_staff, create_user):
    support = create_staff("support")
    user = create_user()
    until = utcnow() + timedelta(minutes=4)
    db.session.add(LoginThrottle(key=failure_key(user.email), failures=5, locked_until=until))
    db.session.commit()
    assert staff.unlock(support, user) is True
    assert db.session.get(LoginThrottle, failure_key(user.email)) is None
    row = _rows(db, "user.unlocked")[0]
    assert row.before == {"failures": 5, "locked_until": until.isoformat()}


def test_unlock_without_a_lockout_is_refused(db, create_staff, create_user):
    with pytest.raises(ValidationFailed):
        staff.unlock(create_staff("support"), create_user())
    assert _rows(db, "user.unlocked") == []


# -- two-factor ------------------------------------------------------------------------------------------


def test_complete_login_verifies_and_refuses_replay(db, create_staff):
    member = create_staff("analyst")
    code = totp_now()
    staff.complete_login(member, code)
    assert len(_rows(db, "staff.login")) == 1
    with pytest.raises(ValidationFailed) as exc:
        staff.complete_login(member, code)
    assert "otp" in exc.value.fields
    assert len(_rows(db, "staff.login")) == 1


def test_complete_login_refuses_an_older_code_after_a_newer_one(db, create_staff):
    member = create_staff("analyst")
    staff.complete_login(member, totp_now())
    with pytest.raises(ValidationFailed):
        staff.complete_login(member, totp_now(offset_steps=-1))


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567"])
def test_complete_login_refuses_malformed_codes(db, create_staff, code):
    with pytest.raises(ValidationFailed):
        staff.complete_login(create_staff("admin"), code)


def test_complete_login_refuses_customers(db, create_user):
    with pytest.raises(PermissionDenied):
        staff.complete_login(create_user(), totp_now())


def test_enrolment_confirms_the_secret(db, create_staff):
    member = create_staff("finance", enrolled=False)
    secret = staff.enrolment_secret(member)
    assert secret == staff.enrolment_secret(member)  # stable until confirmed
    assert "<svg" in staff.qr_svg(member)
    assert f"secret={secret}" in staff.provisioning_uri(member)
    staff.complete_login(member, pyotp.TOTP(secret).now())
    assert member.totp_confirmed_at is not None
    assert [r.action for r in db.session.scalars(select(AuditLog).order_by(AuditLog.id))] == [
        "staff.2fa_enrolled",
        "staff.login",
    ]
    with pytest.raises(ValidationFailed):
        staff.enrolment_secret(member)


def test_reset_two_factor(db, create_staff, create_user):
    admin = create_staff("admin")
    member = create_staff("support")
    with pytest.raises(PermissionDenied):
        staff.reset_two_factor(create_staff("compliance"), member)
    staff.reset_two_factor(admin, member)
    assert member.totp_secret is None and member.totp_confirmed_at is None and member.totp_last_step is None
    assert _rows(db, "user.2fa_reset")[0].after == {"enrolled": False}
    with pytest.raises(ValidationFailed):
        staff.reset_two_factor(admin, member)
    with pytest.raises(ValidationFailed):
        staff.reset_two_factor(admin, create_user())


def test_create_staff_with_a_secret_is_enrolled(db, create_staff):
    admin = create_staff("admin")
    member = staff.create_staff(
        "new@staff.example.com", "Sturdy-pass-phrase-42", "loans", totp_secret=TOTP_SECRET, actor=admin
    )
    assert member.role == "loans" and member.totp_confirmed_at is not None
    assert _rows(db, "staff.created")[0].after == {"email": "new@staff.example.com", "role": "loans"}


# -- read queries -------------------------------------------------------------------------------------------


def test_dashboard_stats(db, create_user, create_staff):
    create_user()
    create_user(created_at=utcnow() - timedelta(days=8))
    create_user(kyc_status="pending", is_active_flag=False)
    create_staff("admin")
    create_staff("support")
    create_staff("support")
    audit.record(None, "test.event")
    db.session.commit()
    stats = staff_queries.dashboard_stats()
    assert (stats.customers, stats.new_this_week, stats.pending_kyc, stats.disabled, stats.audit_today) == (
        3,
        2,
        1,
        1,
        1,
    )
    assert stats.staff_by_role == {"admin": 1, "compliance": 0, "finance": 0, "loans": 0, "support": 2, "analyst": 0}
    assert stats.staff_total == 3


def test_search_users_matches_names_codes_and_escapes_wildcards(db, create_user):
    a = create_user(email="ann_lee@example.com", first_name="Ann", last_name="Lee")
    b = create_user(email="annalee@example.com")

    def found(**kw):
        return {u.id for u in staff_queries.search_users(staff_queries.UserFilters(**kw)).items}

    assert found(q="ann lee") == {a.id}
    assert found(q="ann_") == {a.id}  # "_" is not a wildcard
    assert found(q=b.referral_code.lower()) == {b.id}
    assert found(q="ANNALEE") == {b.id}


def test_user_audit_trail_has_rows_about_and_by_the_user(db, create_staff, create_user):
    member = create_staff("support")
    customer = create_user()
    other = create_user()
    audit.record(member, "user.unlocked", customer)
    audit.record(None, "user.disabled", member)
    audit.record(None, "user.enabled", other)
    db.session.commit()
    assert {r.action for r in staff_queries.user_audit_trail(member)} == {"user.unlocked", "user.disabled"}
    assert {r.action for r in staff_queries.user_audit_trail(customer)} == {"user.unlocked"}


def test_audit_changes_lists_each_key_once():
    row = AuditLog(action="x", before={"role": None, "a": 1}, after={"role": "admin", "b": [1, 2]})
    assert staff_queries.audit_changes(row) == [("role", "null", '"admin"'), ("a", "1", None), ("b", None, "[1, 2]")]
    assert staff_queries.audit_changes(AuditLog(action="x")) == []


def test_wrong_codes_lock_the_second_factor_for_web_and_api_alike(app, db, create_staff):
    """The OTP failure counter is shared: wrong codes on the web lock out the API login too."""
    from tests.conftest import PASSWORD, totp_now
    from tradeapp.errors import AccountLocked
    from tradeapp.services import tokens

    member = create_staff(role="finance")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        with pytest.raises(ValidationFailed):
            staff.complete_login(member, "000000")
    with pytest.raises(AccountLocked):
        staff.complete_login(member, totp_now())
    with pytest.raises(AccountLocked):
        tokens.login(member.email, PASSWORD, totp_now())
