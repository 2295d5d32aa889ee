"""``flask users create-staff`` and ``flask users otp-code``."""

import click
import pyotp
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.services.staff import create_staff

users_cli = AppGroup("users", help="Manage accounts.")


@users_cli.command("create-staff")
@click.argument("email")
@click.option("--password", required=True, help="Initial password (must pass the password rules).")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "compliance", "finance", "loans", "support", "analyst"])
)
@click.option("--totp-secret", default=None, help="Base32 TOTP secret to pre-enrol two-factor.")
def create_staff_command(email, password, role, totp_secret):
    """Create a staff account with ROLE."""
    try:
        user = create_staff(email, password, role, totp_secret=totp_secret)
    except ValidationFailed as exc:
        for field, messages in exc.fields.items():
            for message in messages:
                click.echo(f"{field}: {message}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"created {role} {user.email} (id {user.id})")
    if not totp_secret:
        click.echo("two-factor: enrol with a QR code at first login")


@users_cli.command("otp-code")
@click.argument("email")
def otp_code_command(email):
    """Print a staff user's current TOTP code (embedded/dev mode only)."""
    if not current_app.config["EMBEDDED"]:
        raise click.ClickException("only available in embedded mode")
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None or not user.totp_secret:
        raise click.ClickException("no such staff user with two-factor")
    click.echo(pyotp.TOTP(user.totp_secret).now())
