"""Currencies the platform holds, with the precision their amounts are kept at."""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation


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


def get_currency(code: str) -> Currency:
    try:
        return CURRENCIES[(code or "").upper()]
    except KeyError:
        raise CurrencyError(f"Unknown currency {code!r}.") from None


def parse_amount(value, currency: str, *, allow_zero: bool = False) -> Decimal:
    """A positive Decimal with no more decimals than ``currency`` allows, or CurrencyError."""
    cur = get_currency(currency)
    if isinstance(value, float):
        raise CurrencyError("Send amounts as strings or integers, not floats.")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CurrencyError("Enter a valid number.") from None
    if not amount.is_finite():
        raise CurrencyError("Enter a valid number.")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise CurrencyError("The amount must be greater than zero.")
    if amount > MAX_AMOUNT:
        raise CurrencyError(f"The amount must not exceed {MAX_AMOUNT:,}.")
    if amount != amount.quantize(cur.quantum, rounding=ROUND_DOWN):
        raise CurrencyError(f"{cur.code} amounts have at most {cur.decimals} decimal places.")
    return amount.quantize(cur.quantum)
