"""Jinja filters shared by every template."""

from decimal import Decimal, InvalidOperation

from flask import Flask

from tradeapp.currencies import CURRENCIES


def money(value, currency: str | None = None) -> str:
    """``1234.5, "USD"`` → ``1,234.50``: the currency's decimals, thousands separators, no float."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    cur = CURRENCIES.get((currency or "").upper())
    if cur is not None:
        amount = amount.quantize(cur.quantum)
    else:
        amount = amount.normalize() if amount == amount.to_integral() else amount
    return f"{amount:,f}"


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
