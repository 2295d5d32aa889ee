"""The operator CLI: seed demo, users create-staff, users otp-code."""

import pyotp
from sqlalchemy import func, select

from tradeapp.models import AuditLog, User

SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"


def test_create_staff_with_totp_secret(app, db):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create-staff",
            "Ops@Example.com",
            "--password",
            "Sturdy-ledger-2026",
            "--role",
            "finance",
            "--totp-secret",
            SECRET,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created finance ops@example.com" in result.output
    user = db.session.scalar(select(User).where(User.email == "ops@example.com"))
    assert user.role == "finance" and user.totp_secret == SECRET and user.totp_confirmed_at is not None
    assert user.email_verified
    assert db.session.scalar(
        select(AuditLog).where(AuditLog.action == "staff.created", AuditLog.target_id == str(user.id))
    )


def test_create_staff_without_secret_enrols_at_first_login(app, db):
    result = app.test_cli_runner().invoke(
        args=["users", "create-staff", "kyc@example.com", "--password", "Sturdy-ledger-2026", "--role", "compliance"]
    )
    assert result.exit_code == 0, result.output
    assert "enrol with a QR code" in result.output
    assert db.session.scalar(select(User.totp_secret).where(User.email == "kyc@example.com")) is None


def test_create_staff_refuses_bad_input_and_writes_nothing(app, db):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["users", "create-staff", "a@example.com", "--password", "password", "--role", "admin"])
    assert weak.exit_code == 1 and "password:" in weak.output
    bad_role = runner.invoke(
        args=["users", "create-staff", "b@example.com", "--password", "Sturdy-ledger-2026", "--role", "boss"]
    )
    assert bad_role.exit_code != 0
    bad_secret = runner.invoke(
        args=[
            "users",
            "create-staff",
            "c@example.com",
            "--password",
            "Sturdy-ledger-2026",
            "--role",
            "admin",
            "--totp-secret",
            "short",
        ]
    )
    assert bad_secret.exit_code == 1 and "totp_secret" in bad_secret.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_seed_demo_prints_the_logins_and_otp_code_matches(app, db, monkeypatch):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert "demo@tradeapp.local" in result.output and "admin@tradeapp.local" in result.output
    again = runner.invoke(args=["seed", "demo"])
    assert again.exit_code == 0 and "demo data already present" in again.output
    monkeypatch.setitem(app.config, "EMBEDDED", False)
    refused = runner.invoke(args=["users", "otp-code", "admin@tradeapp.local"])
    assert refused.exit_code != 0 and "only available in embedded mode" in refused.output
    monkeypatch.setitem(app.config, "EMBEDDED", True)
    code = runner.invoke(args=["users", "otp-code", "admin@tradeapp.local"])
    secret = db.session.scalar(select(User.totp_secret).where(User.email == "admin@tradeapp.local"))
    assert code.output.strip() in {pyotp.TOTP(secret).now(), pyotp.TOTP(secret).at(int(__import__("time").time()) - 30)}
