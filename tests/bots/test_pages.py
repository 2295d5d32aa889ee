"""The bot pages: list, form (schema-rendered parameters, inline checks, backtest), bot page actions, staff pages."""

import pytest
from sqlalchemy import select

from tests.bots.conftest import history, store_history
from tests.conftest import csrf_token
from tradeapp.extensions import db
from tradeapp.models import AuditLog, BotStrategySetting, Notification, TradingBot
from tradeapp.services.bots import bots as bot_service

HX = {"HX-Request": "true"}


@pytest.fixture()
def btc(pairs, market):
    market.set("BTC/USD", "50000", "50010", levels=5, size="2", step="10")
    return pairs["BTC/USD"]


def form_data(client, pair, **extra):
    data = {
        "csrf_token": csrf_token(client, "/bots/new"),
        "name": "My MA",
        "strategy": "moving_average",
        "trading_pairs": str(pair.id),
        "timeframe": "1h",
        "is_paper_trading": "y",
        "max_position_size": "1000",
        "param_short_period": "10",
        "param_long_period": "30",
    }
    data.update(extra)
    return data


def test_empty_list_says_what_to_do(logged_in_client, db):
    page = logged_in_client.get("/bots/").get_data(as_text=True)
    assert "No bots yet" in page and "Create your first bot" in page


def test_form_renders_the_strategys_parameters(logged_in_client, btc):
    page = logged_in_client.get("/bots/new").get_data(as_text=True)
    assert 'name="param_short_period"' in page and 'value="20"' in page and 'name="param_long_period"' in page
    page = logged_in_client.get("/bots/new?strategy=custom").get_data(as_text=True)
    assert 'name="param_entry_rule"' in page and "sma(200)" in page


def test_changing_the_strategy_swaps_in_its_parameters(logged_in_client, btc):
    data = form_data(logged_in_client, btc, strategy="rsi")
    r = logged_in_client.post("/bots/form/check", data=data, headers=HX | {"HX-Trigger-Name": "strategy"})
    page = r.get_data(as_text=True)
    assert 'name="param_rsi_period"' in page and 'name="param_short_period"' not in page


def test_inline_validation_points_at_the_bad_parameter(logged_in_client, btc):
    data = form_data(logged_in_client, btc, param_short_period="60")
    page = logged_in_client.post("/bots/form/check", data=data, headers=HX).get_data(as_text=True)
    assert "Must be longer than the short period." in page
    assert db.session.scalar(select(TradingBot)) is None  # nothing saved
    data = form_data(
        logged_in_client, btc, strategy="custom", param_entry_rule="rsi(14) <<", param_exit_rule="close < 1"
    )
    page = logged_in_client.post("/bots/form/check", data=data, headers=HX).get_data(as_text=True)
    assert "(column 10)" in page
    ok = logged_in_client.post("/bots/form/check", data=form_data(logged_in_client, btc), headers=HX)
    assert "These settings are valid" in ok.get_data(as_text=True)


def test_create_then_start_and_stop_from_the_bot_page(logged_in_client, user, btc):
    r = logged_in_client.post("/bots/new", data=form_data(logged_in_client, btc), headers=HX)
    bot = db.session.scalar(select(TradingBot))
    assert bot is not None and r.headers["HX-Redirect"] == f"/bots/{bot.id}"
    assert bot.parameters == {"short_period": 10, "long_period": 30} and bot.is_paper_trading
    token = csrf_token(logged_in_client, f"/bots/{bot.id}")
    started = logged_in_client.post(f"/bots/{bot.id}/start", data={"csrf_token": token}, headers=HX)
    assert "running" in started.get_data(as_text=True) and "toast" in started.headers["HX-Trigger-After-Settle"]
    db.session.refresh(bot)
    assert bot.is_active
    stopped = logged_in_client.post(f"/bots/{bot.id}/stop", data={"csrf_token": token}, headers=HX)
    assert "Stopped by you." in stopped.get_data(as_text=True)
    listing = logged_in_client.get("/bots/").get_data(as_text=True)
    assert "My MA" in listing and "stopped" in listing


def test_create_refusal_shows_errors_inline(logged_in_client, btc):
    r = logged_in_client.post("/bots/new", data=form_data(logged_in_client, btc, max_position_size="0"), headers=HX)
    assert r.status_code == 422 and "Must be above 0." in r.get_data(as_text=True)


def test_form_backtest_shows_metrics_and_chart_data(logged_in_client, btc, db):
    df = history(500)
    store_history(db, btc, df)
    data = form_data(logged_in_client, btc, bt_start=df.index[0].date().isoformat(), bt_end="2017-08-01")
    page = logged_in_client.post("/bots/form/backtest", data=data, headers=HX).get_data(as_text=True)
    assert "Total return" in page and "Max drawdown" in page and "data-backtest-json" in page
    assert '"candles"' in page and '"trades"' in page


def test_other_customers_bot_pages_are_not_found(logged_in_client, create_user, btc):
    other = create_user(email="o@example.com", username="o")
    bot = bot_service.create_bot(
        other, {"name": "x", "strategy": "rsi", "trading_pairs": [btc.id], "max_position_size": "10"}
    )
    assert logged_in_client.get(f"/bots/{bot.id}").status_code == 404
    assert logged_in_client.get(f"/bots/{bot.id}/edit").status_code == 404


def test_staff_stop_with_a_reason_is_audited_and_notified(staff_client_factory, create_user, btc):
    owner = create_user(email="o@example.com", username="o")
    bot = bot_service.create_bot(
        owner, {"name": "x", "strategy": "rsi", "trading_pairs": [btc.id], "max_position_size": "1000"}
    )
    bot_service.start_bot(owner, bot.id)
    client, staff = staff_client_factory("compliance")
    page = client.get("/staff/bots/?status=running").get_data(as_text=True)
    assert "o@example.com" in page
    token = csrf_token(client, "/staff/bots/")
    empty = client.post(f"/staff/bots/{bot.id}/stop", data={"csrf_token": token, "reason": ""}, headers=HX)
    assert empty.status_code == 422
    r = client.post(
        f"/staff/bots/{bot.id}/stop", data={"csrf_token": token, "reason": "Abusive order rate"}, headers=HX
    )
    assert r.status_code == 200
    db.session.refresh(bot)
    assert not bot.is_active and bot.stopped_reason == "Stopped by the broker: Abusive order rate"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "bot.stop")) is not None
    assert db.session.scalar(select(Notification).where(Notification.user_id == owner.id)) is not None


def test_staff_switch_a_strategy_off_and_on(staff_client_factory, logged_in_client, user, btc):
    client, _ = staff_client_factory("admin")
    token = csrf_token(client, "/staff/bots/strategies")
    r = client.post(
        "/staff/bots/strategies/macd", data={"csrf_token": token, "enabled": "0", "reason": "Under review"}, headers=HX
    )
    assert r.status_code == 200 and "switched off" in r.headers["HX-Trigger-After-Settle"]
    assert db.session.get(BotStrategySetting, "macd").enabled is False
    response = logged_in_client.post(
        "/bots/new", data=form_data(logged_in_client, btc, strategy="macd"), headers=HX
    ).get_data(as_text=True)
    assert "switched off by the broker" in response
    client.post("/staff/bots/strategies/macd", data={"csrf_token": token, "enabled": "1"}, headers=HX)
    assert db.session.get(BotStrategySetting, "macd").enabled is True
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "bot_strategy.disable")) is not None


def test_staff_without_the_permission_cannot_stop(staff_client_factory, create_user, btc):
    owner = create_user(email="o@example.com", username="o")
    bot = bot_service.create_bot(
        owner, {"name": "x", "strategy": "rsi", "trading_pairs": [btc.id], "max_position_size": "1000"}
    )
    client, _ = staff_client_factory("support")
    token = csrf_token(client, "/staff/bots/")
    assert client.post(f"/staff/bots/{bot.id}/stop", data={"csrf_token": token, "reason": "x"}).status_code == 403
