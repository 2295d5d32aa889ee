"""Trading: pairs, orders, their fills (trades) and the positions they build."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.ledger import Hold
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.types import Money, UTCDateTime, utcnow


class TradingPair(db.Model):
    """A market customers can trade, e.g. BTC/USD, with its fees, limits and feed."""

    __tablename__ = "trading_pairs"
    __table_args__ = (
        CheckConstraint("pair_type IN ('crypto', 'forex')", name="pair_type"),
        CheckConstraint("min_order_size > 0", name="min_order_size_positive"),
        CheckConstraint("max_order_size >= min_order_size", name="max_ge_min"),
        CheckConstraint("maker_fee >= 0 AND taker_fee >= 0", name="fees_non_negative"),
        CheckConstraint("price_precision >= 0 AND quantity_precision >= 0", name="precisions"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. ``BTC/USD``; URLs spell it ``BTC-USD``
    symbol: Mapped[str] = mapped_column(String(20), unique=True)
    base_currency: Mapped[str] = mapped_column(String(10))
    quote_currency: Mapped[str] = mapped_column(String(10))
    pair_type: Mapped[str] = mapped_column(String(10))
    is_active: Mapped[bool] = mapped_column(default=True)
    min_order_size: Mapped[Decimal] = mapped_column(Money())
    max_order_size: Mapped[Decimal] = mapped_column(Money())
    price_precision: Mapped[int] = mapped_column(default=2)
    quantity_precision: Mapped[int] = mapped_column(default=8)
    #: fees as a percentage of notional, e.g. 0.1 = 0.1 %
    maker_fee: Mapped[Decimal] = mapped_column(Money(12, 6))
    taker_fee: Mapped[Decimal] = mapped_column(Money(12, 6))
    #: where prices come from: a ccxt exchange id (or ``simulated``) and its symbol
    feed_exchange: Mapped[str] = mapped_column(String(40), default="simulated")
    feed_symbol: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def url_symbol(self) -> str:
        return self.symbol.replace("/", "-")


ORDER_TYPES = ("market", "limit", "stop_loss", "take_profit")
ORDER_SIDES = ("buy", "sell")
ORDER_STATUSES = ("open", "partially_filled", "filled", "cancelled", "rejected")
#: an order the trigger check still watches
LIVE_STATUSES = ("open", "partially_filled")
#: fills move an order forward; a market order that found (some) nothing ends cancelled or rejected
ORDER_STATES = StateMachine(
    "order",
    {
        "open": ("partially_filled", "filled", "cancelled", "rejected"),
        "partially_filled": ("partially_filled", "filled", "cancelled"),
        "filled": (),
        "cancelled": (),
        "rejected": (),
    },
)
assert ORDER_STATES.statuses == ORDER_STATUSES
#: the seed's sources, plus ``loan`` (orders placed by the loans domain); a position close is ``manual``
#: with ``position_id`` set
ORDER_SOURCES = ("manual", "bot", "copy_trade", "signal", "loan")
#: which side of the book a resting order watches and which way the price must cross:
#: buys watch the ask, sells the bid; ``down`` fires when the price falls to the trigger, ``up`` when it rises
TRIGGER_KEYS = ("buy_down", "buy_up", "sell_down", "sell_up")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Order(Stateful, db.Model):
    """A customer's instruction to buy or sell; its funds are held in the ledger until filled or cancelled."""

    __states__ = ORDER_STATES

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("order_type", ORDER_TYPES), name="order_type"),
        CheckConstraint(_in("side", ORDER_SIDES), name="side"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_in("source", ORDER_SOURCES), name="source"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="filled_in_range"),
        CheckConstraint("fee >= 0", name="fee_non_negative"),
        CheckConstraint("trigger_key IS NULL OR " + _in("trigger_key", TRIGGER_KEYS), name="trigger_key"),
        Index("ix_orders_user_created", "user_id", "created_at"),
        Index("ix_orders_pair_created", "pair_id", "created_at"),
        # The trigger check reads only the live orders of one pair whose trigger the price crossed.
        Index(
            "ix_orders_live_trigger",
            "pair_id",
            "trigger_key",
            "trigger_price",
            postgresql_where=text("status IN ('open', 'partially_filled')"),
            sqlite_where=text("status IN ('open', 'partially_filled')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    order_type: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Money())
    #: the limit price (limit orders)
    price: Mapped[Decimal | None] = mapped_column(Money())
    #: the trigger price (stop-loss and take-profit orders)
    stop_price: Mapped[Decimal | None] = mapped_column(Money())
    filled_quantity: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    #: fees charged so far, in the quote currency
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    source: Mapped[str] = mapped_column(String(20), default="manual")
    #: the bot, master trade or signal that placed it
    source_id: Mapped[int | None] = mapped_column()
    #: the position this order closes (a "close position" sell, by the customer or a stop-loss/take-profit)
    position_id: Mapped[int | None] = mapped_column(ForeignKey("positions.id", ondelete="SET NULL"))
    #: what the check watches while the order rests (null once it is done or for market orders)
    trigger_key: Mapped[str | None] = mapped_column(String(10))
    trigger_price: Mapped[Decimal | None] = mapped_column(Money())
    #: a stop or take-profit that fired and now executes as a market order
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id", ondelete="RESTRICT"))
    #: why it was rejected or why its rest was cancelled
    status_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pair: Mapped[TradingPair] = relationship()
    hold: Mapped["Hold | None"] = relationship()

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class Trade(db.Model):
    """One fill of an order, settled in the ledger by ``entry_id``."""

    __tablename__ = "trades"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("fee >= 0", name="fee_non_negative"),
        Index("ix_trades_user_executed", "user_id", "executed_at"),
        Index("ix_trades_pair_executed", "pair_id", "executed_at"),
        #: the back office's volume and fee figures over all pairs
        Index("ix_trades_executed", "executed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal] = mapped_column(Money())
    #: quantity × price in the quote currency
    notional: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    #: ``maker`` (a resting limit order) or ``taker``
    liquidity: Mapped[str] = mapped_column(String(5), default="taker")
    #: profit or loss this fill realised on the position (sells), in the quote currency
    realized_pnl: Mapped[Decimal | None] = mapped_column(Money())
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    external_trade_id: Mapped[str] = mapped_column(String(100), default="")
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order] = relationship()
    pair: Mapped[TradingPair] = relationship()


class Position(db.Model):
    """What a customer holds from trading one pair (spot, long only): size, entry and realised P&L."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("user_id", "pair_id", name="uq_positions_user_pair"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("side IN ('long', 'short')", name="side"),
        CheckConstraint("stop_loss IS NULL OR stop_loss > 0", name="stop_loss_positive"),
        CheckConstraint("take_profit IS NULL OR take_profit > 0", name="take_profit_positive"),
        Index(
            "ix_positions_open_stop_loss",
            "pair_id",
            "stop_loss",
            postgresql_where=text("quantity > 0 AND stop_loss IS NOT NULL"),
            sqlite_where=text("quantity > 0 AND stop_loss IS NOT NULL"),
        ),
        Index(
            "ix_positions_open_take_profit",
            "pair_id",
            "take_profit",
            postgresql_where=text("quantity > 0 AND take_profit IS NOT NULL"),
            sqlite_where=text("quantity > 0 AND take_profit IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="RESTRICT"))
    side: Mapped[str] = mapped_column(String(5), default="long")
    quantity: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: volume-weighted average price of the quantity held
    entry_price: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    leverage: Mapped[Decimal] = mapped_column(Money(8, 2), default=Decimal(1))
    stop_loss: Mapped[Decimal | None] = mapped_column(Money())
    take_profit: Mapped[Decimal | None] = mapped_column(Money())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    pair: Mapped[TradingPair] = relationship()


class Candle(db.Model):
    """One OHLCV bar of a pair's price history, as the feed reported it (for charts, bots and backtests)."""

    __tablename__ = "candles"

    pair_id: Mapped[int] = mapped_column(ForeignKey("trading_pairs.id", ondelete="CASCADE"), primary_key=True)
    #: one of ``tradeapp.market.base.TIMEFRAMES`` (1m, 5m, 15m, 1h, 4h, 1d)
    timeframe: Mapped[str] = mapped_column(String(4), primary_key=True)
    #: start of the bar, epoch milliseconds (as exchanges send it)
    open_time: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[Decimal] = mapped_column(Money())
    high: Mapped[Decimal] = mapped_column(Money())
    low: Mapped[Decimal] = mapped_column(Money())
    close: Mapped[Decimal] = mapped_column(Money())
    volume: Mapped[Decimal] = mapped_column(Money())
