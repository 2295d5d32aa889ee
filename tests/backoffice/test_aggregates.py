"""The back office's aggregates against the hand-computed book (tests/backoffice/conftest.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tradeapp.models import DailyReport
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.backoffice import dashboard, history, reports

D = Decimal


def test_daily_report_explains_every_movement_of_client_money(book):
    today = utcnow().date()
    report = reports.compute_day(today)
    usd = next(line for line in report.lines if line.currency == "USD")
    assert usd.opening == D("300")
    assert (usd.deposits, usd.deposits_count) == (D("1250.50"), 2)
    assert (usd.withdrawals, usd.withdrawals_count) == (D("100"), 1)
    # the withdrawal fee and the taker fee of the BTC buy
    assert usd.fees == D("2.00")
    # the counterparty sold 0.01 BTC for 500.00 USD
    assert usd.counterparty_pnl == D("500.00")
    assert usd.other == 0  # the transfer nets out
    # Alice: 300 + 1000 − 101 − 501 − 50 = 648.00; Bob: 250.50 + 50 = 300.50
    assert usd.closing == D("948.50")
    assert usd.trading_volume == D("500.00")
    assert usd.balances and usd.ledger_ok
    btc = next(line for line in report.lines if line.currency == "BTC")
    assert (btc.opening, btc.closing, btc.counterparty_pnl, btc.other) == (0, D("0.01"), D("-0.01"), 0)

    yesterday = reports.compute_day(today - timedelta(days=1))
    usd_y = next(line for line in yesterday.lines if line.currency == "USD")
    assert (usd_y.opening, usd_y.other, usd_y.closing) == (0, D("300"), D("300"))


def test_a_stored_day_never_changes(book, db):
    yesterday = utcnow().date() - timedelta(days=1)
    stored = reports.store_day(yesterday)
    assert stored.stored and [line.closing for line in stored.lines] == [D("300")]
    # a late correction dated yesterday changes the ledger, not the stored report
    reports.store_day(yesterday)
    assert db.session.scalar(select(DailyReport).where(DailyReport.day == yesterday)).closing == D("300")
    assert len(db.session.scalars(select(DailyReport)).all()) == 1
    assert reports.day_report(yesterday).stored
    with pytest.raises(ValueError):
        reports.store_day(utcnow().date())


def test_the_nightly_job_stores_yesterday(book, app):
    from tradeapp.jobs.backoffice import store_daily_report

    result = store_daily_report()
    assert result == {"day": (utcnow().date() - timedelta(days=1)).isoformat(), "currencies": ["USD"]}
    assert store_daily_report() == result  # twice is once


def test_dashboard_figures(book):
    admin = book["finance"]
    admin.role = "admin"
    board = dashboard.build(admin)
    today = board.deposits["today"]
    assert today.count == 2 and today.by_currency == {"USD": D("1250.50")}
    assert board.withdrawals["week"].count == 1 and board.withdrawals["week"].by_currency == {"USD": D("100.00")}
    assert dict((c, a) for c, a, _ in board.assets) == {"USD": D("948.50"), "BTC": D("0.01")}
    usd_line = next(line for line in board.assets if line[0] == "USD")
    assert usd_line[2] == D("948.50")
    # 0.01 BTC at the bid 49,990 + 948.50 USD
    assert board.assets_usd == D("948.50") + D("499.90")
    assert board.volume["today"] == {"USD": (D("500.00"), D("1.00"))} and board.trades["today"] == 1
    assert board.open_orders == 0
    queues = {q.name: q.count for q in board.queues}
    # the money queues, plus whatever queues the other domains register (loans, lead traders, …): all empty
    assert {"kyc", "deposits", "withdrawals"} <= set(queues) and set(queues.values()) == {0}
    series = board.charts["deposits"]
    assert len(series) == 30 and series[-1] == (utcnow().date(), D("1250.50"))
    # fee revenue: the taker fee and the withdrawal fee
    assert board.charts["revenue"][-1][1] == D("2.00")
    assert sum(v for _, v in board.charts["withdrawals"]) == D("100.00")


def test_charts_read_stored_days_and_aggregate_only_the_rest(book, db):
    yesterday = utcnow().date() - timedelta(days=1)
    reports.store_day(yesterday)
    row = db.session.scalar(select(DailyReport).where(DailyReport.day == yesterday))
    # what the nightly job stored is what the chart shows for that day (it is not recomputed)
    db.session.execute(
        DailyReport.__table__.update().where(DailyReport.id == row.id).values(deposits=D("42"), fees=D("3"))
    )
    db.session.commit()
    series = dashboard.daily_series()
    assert series["deposits"][-2] == (yesterday, D("42"))
    assert series["revenue"][-2] == (yesterday, D("3"))
    assert series["deposits"][-1][1] == D("1250.50")  # today, live from the rows


def test_dashboard_sections_follow_the_role(book, create_staff):
    support = create_staff(role="support")
    board = dashboard.build(support)
    assert board.sections == {"trading", "open_orders", "feed"}
    assert board.deposits == {} and board.assets == [] and board.queues == []
    finance = dashboard.build(book["finance"])
    assert {"deposits", "withdrawals", "assets", "ledger", "charts"} <= finance.sections
    # finance's money queues (and other domains' queues it holds the permission for), never KYC
    assert {"deposits", "withdrawals"} <= {q.name for q in finance.queues} and "kyc" not in {
        q.name for q in finance.queues
    }


def test_history_filters_and_totals(book):
    kind = history.DEPOSITS
    everything = history.totals(kind, history.MoneyFilters())
    assert [(t.currency, t.count, t.amount) for t in everything] == [("USD", 2, D("1250.50"))]
    bob = history.totals(kind, history.MoneyFilters(user="bob"))
    assert [(t.count, t.amount) for t in bob] == [(1, D("250.50"))]
    assert history.totals(kind, history.MoneyFilters(amount_min=D("500")))[0].amount == D("1000")
    assert history.totals(kind, history.MoneyFilters(amount_max=D("500")))[0].amount == D("250.50")
    assert history.totals(kind, history.MoneyFilters(status="pending")) == []
    assert history.totals(kind, history.MoneyFilters(method="card")) == []
    tomorrow = utcnow().date() + timedelta(days=1)
    assert history.totals(kind, history.MoneyFilters(date_from=tomorrow)) == []
    assert history.totals(kind, history.MoneyFilters(date_to=utcnow().date()))[0].count == 2
    w = history.totals(history.WITHDRAWALS, history.MoneyFilters(user=str(book["alice"].id)))
    assert [(t.count, t.amount, t.fee) for t in w] == [(1, D("100.00"), D("1.00"))]
    lines = "".join(history.csv_lines(kind, history.MoneyFilters(user="alice"))).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("id,created_at,completed_at,user_id,email,status,method,currency,amount")
    assert ",alice@example.com,completed,bank_transfer,USD,1000.00,1000.00," in lines[1]


def test_volume_and_balances_reports(book):
    today = utcnow().date()
    [line] = reports.trading_volume(today, today)
    assert (line.symbol, line.trades, line.quantity, line.notional, line.fees) == (
        "BTC/USD",
        1,
        D("0.01"),
        D("500.00"),
        D("1.00"),
    )
    page = reports.customer_balances("USD")
    rows = reports.balance_lines(page.items)
    assert [(r.email, r.balance, r.usd) for r in rows] == [
        ("alice@example.com", D("648.00"), D("648.00")),
        ("bob@example.com", D("300.50"), D("300.50")),
    ]
    csv_text = reports.balances_csv()
    assert "alice@example.com,BTC,0.01000000,0.00000000,0.01000000,499.90" in csv_text
    assert ledger.check().ok
