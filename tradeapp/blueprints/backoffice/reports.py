"""Staff reports (``reports.view``): the daily financial report, customer balances, trading volume; CSV each."""

from datetime import date, timedelta

import click
from flask import Blueprint, Flask, Response, request, url_for
from flask.cli import AppGroup
from flask_login import current_user

from tradeapp import domains
from tradeapp.models.types import utcnow
from tradeapp.services.backoffice import accounts, reports
from tradeapp.web import render, staff_required

from .forms import ReportDayForm

bp = Blueprint("staff_reports", __name__, url_prefix="/staff/reports")
PERMISSION = "reports.view"


def _csv(text: str, name: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _day() -> tuple[ReportDayForm, date]:
    form = ReportDayForm(request.args)
    form.validate()
    today = utcnow().date()
    day = form.day.data if form.day.data and not form.day.errors else today - timedelta(days=1)
    return form, min(day, today)


@bp.get("/")
@staff_required(PERMISSION)
def index():
    """The daily financial report of one day (yesterday by default), per currency."""
    form, day = _day()
    report = reports.day_report(day)
    return render(
        "backoffice/reports/daily.html",
        form=form,
        report=report,
        day=day,
        today=utcnow().date(),
        prev_url=url_for("staff_reports.index", day=(day - timedelta(days=1)).isoformat()),
        next_url=url_for("staff_reports.index", day=(day + timedelta(days=1)).isoformat()),
    )


@bp.get("/daily.csv")
@staff_required(PERMISSION)
def daily_export():
    _, day = _day()
    accounts.record_export(current_user, "daily_report", {"day": day.isoformat()})
    return _csv(reports.day_csv(reports.day_report(day)), f"daily-report-{day.isoformat()}")


@bp.get("/balances/")
@staff_required(PERMISSION)
def balances():
    """Customers' balances, largest first per currency, with their USD value at live prices."""
    currency = (request.args.get("currency") or "").strip().upper()[:10]
    results = reports.customer_balances(currency, request.args.get("page", 1, type=int))
    return render(
        "backoffice/reports/balances.html",
        currency=currency,
        results=results,
        lines=reports.balance_lines(results.items),
    )


@bp.get("/balances.csv")
@staff_required(PERMISSION)
def balances_export():
    currency = (request.args.get("currency") or "").strip().upper()[:10]
    accounts.record_export(current_user, "customer_balances", {"currency": currency})
    return _csv(reports.balances_csv(currency), f"customer-balances-{utcnow():%Y%m%d-%H%M}")


def _range() -> tuple[ReportDayForm, date, date]:
    form = ReportDayForm(request.args)
    form.validate()
    today = utcnow().date()
    last = form.date_to.data if form.date_to.data and not form.date_to.errors else today
    first = form.date_from.data if form.date_from.data and not form.date_from.errors else last - timedelta(days=6)
    if first > last:
        first, last = last, first
    return form, first, last


@bp.get("/volume/")
@staff_required(PERMISSION)
def volume():
    """Trading volume and fees per pair over a date range (the last 7 days by default)."""
    form, first, last = _range()
    return render(
        "backoffice/reports/volume.html",
        form=form,
        first=first,
        last=last,
        lines=reports.trading_volume(first, last),
        export_url=url_for("staff_reports.volume_export", date_from=first.isoformat(), date_to=last.isoformat()),
    )


@bp.get("/volume.csv")
@staff_required(PERMISSION)
def volume_export():
    _, first, last = _range()
    accounts.record_export(current_user, "trading_volume", {"from": first.isoformat(), "to": last.isoformat()})
    return _csv(reports.volume_csv(first, last), f"trading-volume-{first.isoformat()}-{last.isoformat()}")


reports_cli = AppGroup("reports", help="Financial reports.")


@reports_cli.command("store-day")
@click.argument("day", required=False)
def store_day_command(day: str | None):
    """Store DAY's report (YYYY-MM-DD; default yesterday); a stored day is never recomputed."""
    wanted = date.fromisoformat(day) if day else utcnow().date() - timedelta(days=1)
    report = reports.store_day(wanted)
    for line in report.lines:
        click.echo(
            f"{report.day} {line.currency}: opening {line.opening:f} deposits {line.deposits:f} "
            f"withdrawals {line.withdrawals:f} fees {line.fees:f} closing {line.closing:f}"
        )


def register_cli(app: Flask) -> None:
    domains.add_cli(app, reports_cli)
