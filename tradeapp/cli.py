"""Flask CLI commands: ``seed demo``, ``users create-staff``, ``feed run``, ``jobs purge``."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from tradeapp.errors import ValidationFailed

seed_cli = AppGroup("seed", help="Load data.")
users_cli = AppGroup("users", help="Manage accounts.")
ledger_cli = AppGroup("ledger", help="The double-entry ledger.")


@ledger_cli.command("check")
def ledger_check_command():
    """Recompute every balance from postings; exit 1 on any drift."""
    from tradeapp.services.ledger import check

    report = check()
    click.echo(f"{report.entries} entries, {report.postings} postings, {report.wallets} wallets")
    for currency, sums in sorted(report.totals.items()):
        click.echo(f"  {currency}: customer balances {sums['balance']:f}, held {sums['locked']:f}")
    if report.ok:
        click.echo("OK: every entry balances and every balance matches its postings")
        return
    for line in report.problems():
        click.echo(f"DRIFT: {line}", err=True)
    raise SystemExit(1)


@seed_cli.command("demo")
def seed_demo_command():
    """Trading pairs, a demo customer and a demo admin (idempotent)."""
    from tradeapp.services.seed import DEMO_ADMIN, DEMO_CUSTOMER, seed_demo

    created = seed_demo()
    for line in created:
        click.echo(f"created {line}")
    if not created:
        click.echo("demo data already present")
    click.echo("")
    click.echo("Demo logins:")
    click.echo(f"  customer  {DEMO_CUSTOMER['email']} / {DEMO_CUSTOMER['password']}")
    click.echo(f"  admin     {DEMO_ADMIN['email']} / {DEMO_ADMIN['password']}")
    click.echo(f"            two-factor secret {DEMO_ADMIN['totp_secret']} (add it to an authenticator app,")
    click.echo(f"            or print the current code with: flask --app wsgi users otp-code {DEMO_ADMIN['email']})")


@users_cli.command("create-staff")
@click.argument("email")
@click.option("--password", required=True, help="Initial password (must pass the password rules).")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "compliance", "finance", "loans", "support", "analyst"])
)
@click.option("--totp-secret", default=None, help="Base32 TOTP secret to pre-enrol two-factor.")
def create_staff_command(email, password, role, totp_secret):
    """Create a staff account with ROLE."""
    from tradeapp.services.staff import create_staff

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
    import pyotp
    from sqlalchemy import func, select

    from tradeapp.extensions import db
    from tradeapp.models import User

    if not current_app.config["EMBEDDED"]:
        raise click.ClickException("only available in embedded mode")
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None or not user.totp_secret:
        raise click.ClickException("no such staff user with two-factor")
    click.echo(pyotp.TOTP(user.totp_secret).now())


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(ledger_cli)
    from tradeapp.jobs.cli import jobs_cli
    from tradeapp.market.cli import feed_cli

    app.cli.add_command(jobs_cli)
    app.cli.add_command(feed_cli)
