"""Bots: strategy bots, their positions and trades, bar runs (idempotency), models, backtests, strategy switches."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.trading import Order, TradingPair
from tradeapp.models.types import Money, UTCDateTime, utcnow

STRATEGY_NAMES = ("moving_average", "rsi", "macd", "bollinger", "arbitrage", "ml_model", "custom")
BOT_TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
#: why a bot trade happened
TRADE_REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "stopped", "daily_loss")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


bot_pairs = Table(
    "trading_bot_pairs",
    db.metadata,
    Column("bot_id", ForeignKey("trading_bots.id", ondelete="CASCADE"), primary_key=True),
    Column("pair_id", ForeignKey("trading_pairs.id", ondelete="RESTRICT"), primary_key=True),
)


class TradingBot(db.Model):
    """A customer's strategy bot (the seed's TradingBot): what it trades, its risk limits and its results."""

    __tablename__ = "trading_bots"
    __table_args__ = (
        CheckConstraint(_in("strategy", STRATEGY_NAMES), name="strategy"),
        CheckConstraint(_in("timeframe", BOT_TIMEFRAMES), name="timeframe"),
        CheckConstraint("max_position_size > 0", name="max_position_size_positive"),
        CheckConstraint(
            "stop_loss_percentage >= 0 AND take_profit_percentage >= 0 AND trailing_stop_percentage >= 0",
            name="percentages_non_negative",
        ),
        CheckConstraint("max_daily_loss >= 0", name="max_daily_loss_non_negative"),
        CheckConstraint("paper_balance >= 0", name="paper_balance_non_negative"),
        CheckConstraint("total_trades >= winning_trades AND winning_trades >= 0", name="trade_counts"),
        Index("ix_trading_bots_active_timeframe", "is_active", "timeframe"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    strategy: Mapped[str] = mapped_column(String(20))
    #: the bar the bot is evaluated on, once per close
    timeframe: Mapped[str] = mapped_column(String(4), default="1h")
    #: changes only through start/stop
    is_active: Mapped[bool] = mapped_column(default=False)
    is_paper_trading: Mapped[bool] = mapped_column(default=True)
    #: the most one position may cost, in the quote currency
    max_position_size: Mapped[Decimal] = mapped_column(Money())
    #: percentages of the entry price; 0 = off
    stop_loss_percentage: Mapped[Decimal] = mapped_column(Money(8, 2), default=Decimal(0))
    take_profit_percentage: Mapped[Decimal] = mapped_column(Money(8, 2), default=Decimal(0))
    trailing_stop_percentage: Mapped[Decimal] = mapped_column(Money(8, 2), default=Decimal(0))
    #: the day's realised + unrealised loss (quote currency) that stops the bot; 0 = off
    max_daily_loss: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    #: from the bot's closed trades (never typed in)
    total_trades: Mapped[int] = mapped_column(default=0)
    winning_trades: Mapped[int] = mapped_column(default=0)
    total_profit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: the paper account: virtual cash in one quote currency, apart from real wallets
    paper_currency: Mapped[str] = mapped_column(String(10), default="USD")
    paper_initial: Mapped[Decimal] = mapped_column(Money(), default=Decimal("10000"))
    paper_balance: Mapped[Decimal] = mapped_column(Money(), default=Decimal("10000"))
    #: why it last stopped (by you, by the broker, by the daily-loss limit, by an error)
    stopped_reason: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    trading_pairs: Mapped[list[TradingPair]] = relationship(secondary=bot_pairs, order_by=TradingPair.id)

    @property
    def win_rate(self) -> float:
        return self.winning_trades / self.total_trades * 100 if self.total_trades else 0


class BotPosition(db.Model):
    """What one bot holds of one pair (paper or live), with its protective levels."""

    __tablename__ = "bot_positions"
    __table_args__ = (
        UniqueConstraint("bot_id", "pair_id", name="uq_bot_positions_bot_pair"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    entry_price: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: what entering cost, fee included (the basis of the trade's P&L)
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    stop_loss: Mapped[Decimal | None] = mapped_column(Money())
    take_profit: Mapped[Decimal | None] = mapped_column(Money())
    #: highest price seen since entry (trailing stop)
    trail_high: Mapped[Decimal | None] = mapped_column(Money())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    pair: Mapped[TradingPair] = relationship()


class BotTrade(db.Model):
    """One fill a bot made (the seed's BotTrade): live ones link their order, paper ones stand alone."""

    __tablename__ = "bot_trades"
    __table_args__ = (
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
        CheckConstraint(_in("reason", TRADE_REASONS), name="reason"),
        CheckConstraint("quantity > 0 AND price > 0 AND fee >= 0", name="amounts"),
        Index("ix_bot_trades_bot_created", "bot_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    #: the order it placed (live bots); paper fills have none
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    is_paper: Mapped[bool] = mapped_column(default=True)
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: P&L the sell realised (fees of both sides included)
    realized_pnl: Mapped[Decimal | None] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(String(20), default="signal")
    signal_data: Mapped[dict] = mapped_column(JSON, default=dict)
    #: open time (epoch ms) of the bar whose close decided it
    bar_time: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    bot: Mapped[TradingBot] = relationship()
    pair: Mapped[TradingPair] = relationship()
    order: Mapped[Order | None] = relationship()


class BotRun(db.Model):
    """A (bot, pair, bar) that acted: the unique key that makes a retried or duplicated bar job a no-op."""

    __tablename__ = "bot_runs"

    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"), primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="CASCADE"), primary_key=True)
    bar_time: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BotModel(db.Model):
    """A fitted ``ml_model`` (plain numbers), versioned per bot by the training job."""

    __tablename__ = "bot_models"
    __table_args__ = (UniqueConstraint("bot_id", "version", name="uq_bot_models_bot_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    #: the last bar (epoch ms) whose label it saw
    trained_until: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column()
    model: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Backtest(db.Model):
    """A stored backtest result (a bot's, or one run from the form), for the pages' comparisons."""

    __tablename__ = "bot_backtests"
    __table_args__ = (Index("ix_bot_backtests_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"), index=True)
    strategy: Mapped[str] = mapped_column(String(20))
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(4))
    #: metrics and settings; ``result`` holds trades and the equity curve
    summary: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BotStrategySetting(db.Model):
    """A strategy switched off platform-wide by staff (absent row = enabled)."""

    __tablename__ = "bot_strategy_settings"

    strategy: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str] = mapped_column(String(255), default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
