"""Column types shared by the models."""

from datetime import UTC, datetime
from decimal import Decimal, localcontext

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Money(TypeDecorator):
    """Exact decimal: NUMERIC on PostgreSQL; on SQLite (whose NUMERIC is a float) fixed-width text.

    The SQLite text is zero-padded to a fixed width, so comparisons in SQL and CHECK constraints
    order non-negative amounts correctly (``0000…100.50 >= 0000…070.00``).
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 36, scale: int = 18):
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if dialect.name == "sqlite":
            quantum = Decimal(1).scaleb(-self.scale)
            # The default context keeps 28 digits, fewer than NUMERIC(36, 18) holds: a forex
            # candle's volume of 1e10 at 18 decimals would raise InvalidOperation.
            with localcontext() as ctx:
                ctx.prec = max(ctx.prec, value.adjusted() + 1 + self.scale)
                text = format(abs(value.quantize(quantum)), "f")
            whole, _, frac = text.partition(".")
            digits = self.precision - self.scale
            if len(whole) > digits:
                raise ValueError(f"{value} does not fit NUMERIC({self.precision}, {self.scale})")
            padded = whole.rjust(digits, "0") + ("." + frac if frac else "")
            return ("-" if value < 0 else "") + padded
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(value)
