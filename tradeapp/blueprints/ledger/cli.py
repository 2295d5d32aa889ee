"""``flask ledger check``: recompute every balance from postings."""

import click
from flask.cli import AppGroup

from tradeapp.services.ledger import check

ledger_cli = AppGroup("ledger", help="The double-entry ledger.")


@ledger_cli.command("check")
def ledger_check_command():
    """Recompute every balance from postings; exit 1 on any drift."""
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
