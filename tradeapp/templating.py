"""Jinja filters shared by every template and e-mail: the one way to show money, numbers and waiting times."""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask import Flask

from tradeapp.currencies import CURRENCIES
from tradeapp.models.types import utcnow


def money(value, currency: str | None = None, places: int | None = None, trim: bool = False) -> str:
    """Every amount, price and quantity on a page or in an e-mail, with thousands separators and no float.

    ``1234.5, "USD"`` → ``1,234.50`` (the currency's decimals); ``places=2`` → exactly two decimals (a pair's
    price or quantity precision); ``trim=True`` drops trailing zeros (``0.50000`` → ``0.5``); None → ``—``.
    """
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    cur = CURRENCIES.get((currency or "").upper())
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    elif cur is not None:
        amount = amount.quantize(cur.quantum)
    elif currency is not None:
        trim = True  # an unknown currency: show what there is, without padding
    if trim:
        amount = amount.normalize()
        if amount == amount.to_integral():
            amount = amount.quantize(Decimal(1))
    return f"{amount:,f}"


def money_text(value, currency: str) -> str:
    """An amount with its code for messages, notifications and e-mails: ``1,234.50 USD`` (same rules as ``money``)."""
    return f"{money(value, currency)} {currency}"


def age(when: datetime | None, now: datetime | None = None) -> str:
    """How long something has waited: ``4 min``, ``2 h 5 min``, ``3 h``, ``3 d 4 h``; None → ``—``."""
    if when is None:
        return "—"
    minutes = max(int(((now or utcnow()) - when).total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["money_text"] = money_text
