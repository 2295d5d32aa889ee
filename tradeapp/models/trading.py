"""Trading pairs (orders, trades and positions come with the trading domain)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from tradeapp.extensions import db
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
