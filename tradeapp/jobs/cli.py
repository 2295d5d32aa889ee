"""``flask jobs purge`` and ``flask jobs list-schedule``."""

import click
from flask.cli import AppGroup

from tradeapp.jobs.maintenance import purge_all
from tradeapp.jobs.schedule import SCHEDULE

jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("purge")
def purge_command():
    """Run the housekeeping purges now, in this process."""
    for what, count in purge_all().items():
        click.echo(f"purged {count} {what.replace('_', ' ')}")


@jobs_cli.command("list-schedule")
def list_schedule_command():
    """Print the periodic jobs that ``rq cron tradeapp.jobs.schedule`` enqueues."""
    for entry in SCHEDULE:
        func = entry["func"]
        when = f"cron {entry['cron']!r} (UTC)" if entry.get("cron") else f"every {entry['interval']} s"
        click.echo(f"{func.__module__}.{func.__name__:<28} queue={entry['queue_name']:<12} {when}")
