"""Exact grouped sums for the back office, portable between PostgreSQL and SQLite.

PostgreSQL sums NUMERIC exactly in SQL (one indexed GROUP BY); SQLite stores money as text, which its
SUM would turn into floats, so there the rows are summed as Decimals (SQLite is the embedded demo path).
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tradeapp.extensions import db

ZERO = Decimal(0)


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """``[first 00:00, last+1 00:00)`` in UTC."""
    return start_of_day(first), start_of_day(last + timedelta(days=1))


def grouped(keys: list, amounts: list, where: list, select_from=None) -> dict[tuple, list]:
    """``{key tuple: [count, sum per amount column...]}`` for the rows matching ``where``.

    ``keys`` are column expressions (currency, day, status…); ``amounts`` Money columns summed exactly.
    """
    if is_postgres():
        stmt = select(*keys, func.count(), *[func.coalesce(func.sum(a), 0) for a in amounts])
        if select_from is not None:
            stmt = stmt.select_from(select_from)
        stmt = stmt.where(*where).group_by(*keys)
        out = {}
        for row in db.session.execute(stmt):
            k = tuple(row[: len(keys)])
            out[k] = [int(row[len(keys)]), *[Decimal(v) for v in row[len(keys) + 1 :]]]
        return out
    stmt = select(*keys, *amounts)
    if select_from is not None:
        stmt = stmt.select_from(select_from)
    acc: dict[tuple, list] = defaultdict(lambda: [0, *[ZERO] * len(amounts)])
    for row in db.session.execute(stmt.where(*where)).yield_per(5000):
        k = tuple(row[: len(keys)])
        slot = acc[k]
        slot[0] += 1
        for i, value in enumerate(row[len(keys) :]):
            slot[i + 1] += value or ZERO
    return dict(acc)


def day_of(column):
    """The UTC calendar day of a timestamp column, as SQL (``date_trunc`` / ``date``)."""
    if is_postgres():
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def as_date(value) -> date:
    """A day key from either backend (PostgreSQL gives a date, SQLite a string)."""
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
