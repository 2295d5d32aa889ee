"""Flask CLI commands outside the domains: ``seed demo`` and ``jobs``; domains add theirs (``users``, ``ledger``, ``feed``)."""

import click
from flask import Flask
from flask.cli import AppGroup

from tradeapp.jobs.cli import jobs_cli
from tradeapp.services.seed import DEMO_ADMIN, DEMO_CUSTOMER, seed_demo

seed_cli = AppGroup("seed", help="Load data.")


@seed_cli.command("demo")
def seed_demo_command():
    """Trading pairs, a demo customer and a demo admin (idempotent)."""
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


def register_cli(app: Flask) -> None:
    """Commands that belong to no domain (domains register theirs in their ``init_app``)."""
    app.cli.add_command(seed_cli)
    app.cli.add_command(jobs_cli)
