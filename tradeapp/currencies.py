"""Currencies the platform holds, with the precision their amounts are kept at.

Codes are case-insensitive ASCII: ``usd`` is read as ``USD`` (and nothing else is normalised:
no spaces, no other scripts). Amounts follow the one grammar of :mod:`tradeapp.amounts`.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from tradeapp.amounts import AmountError, parse_decimal


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    decimals: int
    kind: str  # fiat | crypto

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", "US dollar", 2, "fiat"),
        Currency("EUR", "Euro", 2, "fiat"),
        Currency("GBP", "Pound sterling", 2, "fiat"),
        Currency("BTC", "Bitcoin", 8, "crypto"),
        Currency("ETH", "Ether", 8, "crypto"),
        Currency("USDT", "Tether USD", 6, "crypto"),
    )
}

#: the largest amount accepted for any single movement (guards against absurd input)
MAX_AMOUNT = Decimal("1000000000")


class CurrencyError(ValueError):
    """Unknown currency or an amount that does not fit it."""


_CODE = re.compile(r"[A-Za-z]{3,5}", re.ASCII)


def get_currency(code: str) -> Currency:
    """The currency of ``code``, read case-insensitively (``usd`` → ``USD``), or CurrencyError."""
    if not isinstance(code, str) or not _CODE.fullmatch(code) or code.upper() not in CURRENCIES:
        raise CurrencyError(f"Unknown currency {str(code)[:12]!r}.")
    return CURRENCIES[code.upper()]


def parse_amount(value, currency: str, *, allow_zero: bool = False) -> Decimal:
    """A positive Decimal with no more decimals than ``currency`` allows, or CurrencyError.

    ``value`` follows :mod:`tradeapp.amounts`' grammar: a string of ASCII digits with at most
    one dot, an int, or a Decimal from a JSON number; floats, exponents and signs are refused.
    """
    cur = get_currency(currency)
    try:
        amount = parse_decimal(value, decimals=cur.decimals, allow_zero=allow_zero)
    except AmountError as exc:
        message = str(exc)
        if message.startswith("At most") or message.startswith("Whole"):
            message = f"{cur.code} amounts have at most {cur.decimals} decimal places."
        elif message == "Must be greater than zero.":
            message = "The amount must be greater than zero."
        raise CurrencyError(message) from None
    if amount > MAX_AMOUNT:
        raise CurrencyError(f"The amount must not exceed {MAX_AMOUNT:,}.")
    return amount.quantize(cur.quantum)
