"""Demo bots: a running paper moving-average bot on BTC/USD and a stopped RSI bot with a stored backtest."""

from pathlib import Path

from sqlalchemy import func, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import TradingBot, TradingPair, User
from tradeapp.services.bots import backtest as bt
from tradeapp.services.bots import bots as bot_service
from tradeapp.services.trading import prices
from tradeapp.services.uow import unit_of_work

#: recorded BTC/USD hourly history shipped with the app (see tradeapp/data/ohlcv/NOTICE.md)
HISTORY = Path(__file__).resolve().parents[2] / "data" / "ohlcv" / "BTC-USD_1h_coinbase.csv"
DEMO_EMAIL = "demo@tradeapp.local"


def seed_demo_bots() -> list[str]:
    """Only while the demo customer has no bot."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_EMAIL))
    btc = db.session.scalar(select(TradingPair).where(TradingPair.symbol == "BTC/USD"))
    if user is None or btc is None or db.session.scalar(select(TradingBot.id).where(TradingBot.user_id == user.id)):
        return []
    db.session.commit()  # bots are created and started in their own units of work
    created = []
    ma = bot_service.create_bot(
        user,
        {
            "name": "BTC trend (paper)",
            "description": "20/50 SMA crossover on hourly bars, paper account.",
            "strategy": "moving_average",
            "trading_pairs": [btc.id],
            "timeframe": "1h",
            "max_position_size": "2000",
            "stop_loss_percentage": "3",
            "take_profit_percentage": "6",
            "max_daily_loss": "250",
            "parameters": {"short_period": 20, "long_period": 50},
        },
    )
    try:
        bot_service.start_bot(user, ma.id)
        created.append(f"demo bot {ma.name} (running)")
    except (DomainError, prices.MarketDataUnavailable) as exc:
        db.session.rollback()
        created.append(f"demo bot {ma.name} (not started: {getattr(exc, 'message', exc)})")

    rsi = bot_service.create_bot(
        user,
        {
            "name": "BTC dip buyer (RSI)",
            "description": "Buys oversold hours, sells overbought ones; backtested, not started yet.",
            "strategy": "rsi",
            "trading_pairs": [btc.id],
            "timeframe": "1h",
            "max_position_size": "1500",
            "stop_loss_percentage": "4",
            "take_profit_percentage": "0",
            "parameters": {"rsi_period": 14, "oversold_level": 30, "overbought_level": 70},
        },
    )
    df = bt.read_csv(HISTORY).iloc[-2000:]
    settings = bt.Settings(
        initial_capital=10_000,
        fee_pct=float(btc.taker_fee),
        stake_fraction=0.1,
        stop_loss_pct=4,
        max_position_size=1500,
    )
    result = bt.backtest("rsi", rsi.parameters, df, settings).to_dict()
    result |= {
        "symbol": "BTC/USD",
        "timeframe": "1h",
        "start": result["equity_curve"][0]["time"],
        "end": result["equity_curve"][-1]["time"],
        "initial_capital": settings.initial_capital,
        "fee_percentage": settings.fee_pct,
        "stake_fraction": settings.stake_fraction,
        "source": "recorded BTC/USD history (Coinbase, 2019)",
    }
    with unit_of_work():
        bot = db.session.get(TradingBot, rsi.id)
        bot.stopped_reason = "Not started yet: review its backtest first."
        bt.save(user.id, rsi.id, result)
    created.append(f"demo bot {rsi.name} (stopped, backtest: {result['num_trades']} trades)")
    return created
