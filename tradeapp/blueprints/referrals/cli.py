"""``flask referrals sum-commissions`` and ``flask referrals pay``: the two scheduled jobs, by hand."""

import click
from flask.cli import AppGroup

from tradeapp.services import referrals

referrals_cli = AppGroup("referrals", help="The referral programme.")


@referrals_cli.command("sum-commissions")
def sum_commissions_command():
    """Turn past days' commission accruals into rewards (what the daily job does)."""
    click.echo(f"{referrals.sum_commissions()} commission rewards created")


@referrals_cli.command("pay")
def pay_command():
    """Pay every cleared pending reward (what the 6-hourly job does; safe to repeat)."""
    click.echo(f"{referrals.pay_due_rewards()} rewards paid")
