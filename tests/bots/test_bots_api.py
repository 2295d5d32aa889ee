"""The seed's 3.6 bot API: CRUD, start/stop (the only way to run a bot), performance, strategies and bot trades."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.bots.engine_helpers import store_closes
from tests.conftest import ApiClient
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import TradingBot
from tradeapp.services.bots import engine
from tradeapp.services.tokens import issue_tokens

D = Decimal


@pytest.fixture()
def btc(pairs, market):
    market.set("BTC/USD", "50000", "50010", levels=5, size="2", step="10")
    market.set("ETH/USD", "3000", "3001", levels=5, size="20", step="1")
    return pairs["BTC/USD"]


def body(pair, **extra):
    return {
        "name": "Trend",
        "strategy": "moving_average",
        "trading_pairs": [pair.id],
        "max_position_size": "1000",
        "stop_loss_percentage": "2",
        "take_profit_percentage": "5",
        "max_daily_loss": "100",
        "parameters": {"short_period": 10, "long_period": 30},
    } | extra


def test_create_read_update_delete(auth_api_client, btc):
    created = auth_api_client.post("/api/v1/bots/", json=body(btc, is_active=True, total_trades=99))
    assert created.status_code == 201, created.json
    bot = created.json
    # read-only fields ignored; paper trading by default; stopped until started
    assert bot["is_active"] is False and bot["is_paper_trading"] is True and bot["total_trades"] == 0
    assert bot["trading_pairs"] == [btc.id] and bot["parameters"] == {"short_period": 10, "long_period": 30}
    assert bot["max_position_size"] == "1000.00000000" and bot["win_rate"] == 0
    assert {"id", "name", "description", "strategy", "created_at", "updated_at", "last_run_at", "total_profit"} <= set(
        bot
    )

    listing = auth_api_client.get("/api/v1/bots/").json
    assert listing["count"] == 1 and listing["results"][0]["id"] == bot["id"]
    assert auth_api_client.get(f"/api/v1/bots/{bot['id']}/").json["name"] == "Trend"

    patched = auth_api_client.patch(f"/api/v1/bots/{bot['id']}/", json={"name": "Renamed", "is_active": True})
    assert patched.status_code == 200 and patched.json["name"] == "Renamed" and patched.json["is_active"] is False

    assert auth_api_client.delete(f"/api/v1/bots/{bot['id']}/").status_code == 204
    assert auth_api_client.get(f"/api/v1/bots/{bot['id']}/").status_code == 404


@pytest.mark.parametrize(
    "change,field",
    [
        ({"name": ""}, "name"),
        ({"strategy": "martingale"}, "strategy"),
        ({"trading_pairs": []}, "trading_pairs"),
        ({"trading_pairs": [999]}, "trading_pairs"),
        ({"max_position_size": "0"}, "max_position_size"),
        ({"max_position_size": "1e3"}, "max_position_size"),
        ({"stop_loss_percentage": "-1"}, "stop_loss_percentage"),
        ({"parameters": {"short_period": 60, "long_period": 30}}, "parameters.long_period"),
        ({"timeframe": "2h"}, "timeframe"),
        ({"strategy": "arbitrage", "parameters": {}}, "trading_pairs"),
        ({"strategy": "custom", "parameters": {"entry_rule": "import os"}}, "parameters.entry_rule"),
    ],
)
def test_create_refuses_bad_fields(auth_api_client, btc, change, field):
    response = auth_api_client.post("/api/v1/bots/", json=body(btc, **change))
    assert response.status_code == 400
    assert field in response.json["fields"], response.json


def test_start_and_stop_are_the_only_way_to_run_a_bot(auth_api_client, btc):
    bot_id = auth_api_client.post("/api/v1/bots/", json=body(btc)).json["id"]
    started = auth_api_client.post(f"/api/v1/bots/{bot_id}/start/")
    assert started.status_code == 200, started.json
    assert started.json["message"] == "Bot started successfully" and started.json["bot"]["is_active"] is True
    again = auth_api_client.post(f"/api/v1/bots/{bot_id}/start/")
    assert again.status_code == 400 and again.json["error"] == "Bot is already running"
    # a running bot cannot be switched to live or deleted
    switched = auth_api_client.patch(f"/api/v1/bots/{bot_id}/", json={"is_paper_trading": False})
    assert switched.status_code == 400 and "is_paper_trading" in switched.json["fields"]
    assert auth_api_client.delete(f"/api/v1/bots/{bot_id}/").status_code == 409
    stopped = auth_api_client.post(f"/api/v1/bots/{bot_id}/stop/")
    assert (
        stopped.json["message"] == "Bot stopped successfully"
        and stopped.json["bot"]["stopped_reason"] == "Stopped by you."
    )
    assert auth_api_client.post(f"/api/v1/bots/{bot_id}/stop/").json["error"] == "Bot is not running"


def test_start_refuses_an_inactive_pair_and_too_little_cash(auth_api_client, btc, user):
    bot_id = auth_api_client.post("/api/v1/bots/", json=body(btc, is_paper_trading=False)).json["id"]
    poor = auth_api_client.post(f"/api/v1/bots/{bot_id}/start/")
    assert poor.status_code == 400 and poor.json["code"] == "insufficient_funds"
    assert "minimum order" in poor.json["error"]
    fund(user, "USD", "100000")
    btc.is_active = False
    db.session.commit()
    closed = auth_api_client.post(f"/api/v1/bots/{bot_id}/start/")
    assert closed.status_code == 400 and "BTC/USD" in closed.json["error"]
    btc.is_active = True
    db.session.commit()
    assert auth_api_client.post(f"/api/v1/bots/{bot_id}/start/").status_code == 200


def test_other_customers_bots_are_not_found(auth_api_client, app, create_user, btc):
    bot_id = auth_api_client.post("/api/v1/bots/", json=body(btc)).json["id"]
    other = ApiClient(app.test_client(), issue_tokens(create_user(email="o@example.com", username="o"))["access"])
    for method, url in [
        ("get", f"/api/v1/bots/{bot_id}/"),
        ("patch", f"/api/v1/bots/{bot_id}/"),
        ("delete", f"/api/v1/bots/{bot_id}/"),
        ("post", f"/api/v1/bots/{bot_id}/start/"),
        ("post", f"/api/v1/bots/{bot_id}/stop/"),
        ("get", f"/api/v1/bots/{bot_id}/performance/"),
        ("post", f"/api/v1/bots/{bot_id}/backtest/"),
    ]:
        response = getattr(other, method)(url, json={}) if method in ("post", "patch") else getattr(other, method)(url)
        assert response.status_code == 404, (method, url)
    assert other.get("/api/v1/bots/").json["count"] == 0
    assert db.session.get(TradingBot, bot_id).name == "Trend"


def test_performance_and_bot_trades_come_from_fills(auth_api_client, user, btc):
    bot_id = auth_api_client.post(
        "/api/v1/bots/",
        json=body(
            btc,
            strategy="custom",
            max_daily_loss="0",
            parameters={"entry_rule": "close > 100", "exit_rule": "close < 50"},
        ),
    ).json["id"]
    auth_api_client.post(f"/api/v1/bots/{bot_id}/start/")
    engine.run_bar("1h", store_closes(btc, [90, 101]))
    perf = auth_api_client.get(f"/api/v1/bots/{bot_id}/performance/").json
    assert perf["total_trades"] == 0 and len(perf["open_positions"]) == 1 and len(perf["recent_trades"]) == 1
    engine.run_bar("1h", store_closes(btc, [40], start=2))
    perf = auth_api_client.get(f"/api/v1/bots/{bot_id}/performance/").json
    assert {"total_trades", "winning_trades", "total_profit", "win_rate", "recent_trades"} <= set(perf)
    assert perf["total_trades"] == 1 and perf["winning_trades"] == 0 and perf["win_rate"] == 0
    assert D(perf["total_profit"]) < 0 and perf["open_positions"] == [] and len(perf["equity_curve"]) == 1
    trades = auth_api_client.get(f"/api/v1/bot-trades/?bot={bot_id}").json
    assert trades["count"] == 2
    sell = trades["results"][0]
    assert sell["side"] == "sell" and sell["bot"] == bot_id and sell["order"] is None and sell["is_paper"] is True
    assert {"id", "bot", "order", "order_detail", "signal_data", "created_at"} <= set(sell)
    assert auth_api_client.get(f"/api/v1/bot-trades/{sell['id']}/").json["id"] == sell["id"]


def test_strategies_listing_has_parameter_schemas(auth_api_client):
    listing = auth_api_client.get("/api/v1/bot-strategies/").json["results"]
    names = [s["name"] for s in listing]
    assert names == ["moving_average", "rsi", "macd", "bollinger", "arbitrage", "ml_model", "custom"]
    ma = listing[0]
    assert ma["enabled"] is True
    assert ma["parameters"][0] == {
        "name": "short_period",
        "type": "int",
        "default": 20,
        "label": "Short SMA period",
        "help": "",
        "min": 1.0,
        "max": 500.0,
    }


def test_bot_backtest_uses_its_own_settings_and_is_stored(auth_api_client, btc, db):
    from tests.bots.conftest import history, store_history
    from tradeapp.models import Backtest
    from tradeapp.services.bots import backtest as bt

    df = history(400)
    store_history(db, btc, df)
    bot_id = auth_api_client.post("/api/v1/bots/", json=body(btc)).json["id"]
    window = {"start": df.index[0].isoformat(), "end": df.index[-1].isoformat()}
    out = auth_api_client.post(f"/api/v1/bots/{bot_id}/backtest/", json=window)
    assert out.status_code == 200, out.json
    settings = bt.Settings(fee_pct=0.2, stake_fraction=0.1, stop_loss_pct=2, take_profit_pct=5, max_position_size=1000)
    want = bt.backtest("moving_average", {"short_period": 10, "long_period": 30}, df, settings).to_dict()
    assert (
        out.json["num_trades"] == want["num_trades"]
        and D(str(want["total_return_pct"])) == out.json["total_return_pct"]
    )
    row = db.session.scalar(select(Backtest).where(Backtest.bot_id == bot_id))
    assert row.summary["num_trades"] == want["num_trades"]
