"""The one amount grammar: how an amount, quantity or price is read from a form, a JSON body or a query.

An amount is ASCII digits with at most one dot (``100``, ``100.5``, ``.5``, ``100.``), nothing else:
no sign, no exponent (``1e1``), no underscores (``1_0``), no other scripts' digits (``１``, ``١``),
no ``NaN`` or infinities, no whitespace but surrounding spaces. A JSON number arrives as an ``int``
or (the API decodes JSON numbers as ``Decimal``) as a ``Decimal``, and follows the same rule.
How many decimals are allowed depends on the currency or pair, so callers pass ``decimals``.
"""

import re
from decimal import Decimal, InvalidOperation

#: the grammar: digits, one optional dot, and at least one digit somewhere
AMOUNT_PATTERN = r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"
_AMOUNT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
#: longer text is not a sane amount (and keeps Decimal's work bounded)
MAX_LENGTH = 40

NOT_A_NUMBER = "Enter a valid number. Use digits and at most one dot, e.g. 100.50."
NOT_POSITIVE = "Must be greater than zero."


class ExponentDecimal(Decimal):
    """A JSON number written with an exponent (``1e1``, ``1.5E-2``): a Decimal, but not an amount."""


def json_number(text: str) -> Decimal:
    """``parse_float`` for JSON bodies: the number exactly as written, remembering an exponent."""
    return ExponentDecimal(text) if "e" in text or "E" in text else Decimal(text)


class AmountError(ValueError):
    """The value is not an amount in the grammar, or has more decimals than allowed."""


def decimals_pattern(decimals: int) -> str:
    """The OpenAPI ``pattern`` of a string amount with at most ``decimals`` places."""
    if decimals <= 0:
        return r"^[0-9]+$"
    return rf"^(?:[0-9]+(?:\.[0-9]{{0,{decimals}}})?|\.[0-9]{{1,{decimals}}})$"


def amount_text(value) -> str:
    """The text of ``value`` if it follows the grammar, else AmountError.

    Accepts str (surrounding spaces ignored), int and Decimal (JSON numbers); refuses bools,
    floats (they are not exact) and everything else.
    """
    if isinstance(value, bool):
        raise AmountError(NOT_A_NUMBER)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        # A JSON number written 1e1 is refused like the string "1e1"; 0.00000001 is plain digits.
        if isinstance(value, ExponentDecimal) or not value.is_finite() or value.as_tuple().exponent > 0:
            raise AmountError(NOT_A_NUMBER)
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip(" ")
    elif isinstance(value, float):
        raise AmountError("Send amounts as strings or JSON numbers, not floats.")
    else:
        raise AmountError(NOT_A_NUMBER)
    if text.startswith("-") and _AMOUNT.fullmatch(text[1:]):
        raise AmountError(NOT_POSITIVE)
    if len(text) > MAX_LENGTH or not _AMOUNT.fullmatch(text):
        raise AmountError(NOT_A_NUMBER)
    return text


def parse_decimal(value, *, decimals: int | None = None, allow_zero: bool = False) -> Decimal:
    """``value`` as a non-negative Decimal in the grammar; positive unless ``allow_zero``.

    With ``decimals``, more decimal places than that are refused (never rounded away).
    """
    text = amount_text(value)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the grammar only lets decimals through
        raise AmountError(NOT_A_NUMBER) from None
    if number == 0 and not allow_zero:
        raise AmountError(NOT_POSITIVE)
    if decimals is not None and _places(text) > decimals:
        raise AmountError(f"At most {decimals} decimal places." if decimals else "Whole numbers only.")
    return number


def _places(text: str) -> int:
    """Significant decimal places of ``text`` (``1.50`` has 1: trailing zeros are harmless)."""
    if "." not in text:
        return 0
    return len(text.split(".", 1)[1].rstrip("0"))
