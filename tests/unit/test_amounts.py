"""The one amount grammar (tradeapp.amounts) and the currency rules built on it."""

from decimal import Decimal

import pytest

from tradeapp.amounts import AmountError, ExponentDecimal, decimals_pattern, parse_decimal
from tradeapp.currencies import CurrencyError, get_currency, parse_amount

HOSTILE = [
    "1e1",
    "1E1",
    "1_0",
    "１０",  # full-width digits
    "١٠",  # Arabic-Indic digits
    "۱۰",  # extended Arabic-Indic digits
    "+1",
    "1\n",
    "1\t",
    " 1 0",
    "1.2.3",
    ".",
    "",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "0x10",
    "1,000",
    "1" * 41,
    True,
    1.5,
    [1],
    None,
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("1E+1"),
    ExponentDecimal("1e-2"),  # a JSON number written with an exponent
]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_amounts_are_refused(value):
    with pytest.raises(AmountError):
        parse_decimal(value)
    with pytest.raises(CurrencyError):
        parse_amount(value, "USD")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", Decimal("100")),
        ("100.5", Decimal("100.5")),
        (".5", Decimal("0.5")),
        ("5.", Decimal("5")),
        (" 7.25 ", Decimal("7.25")),  # surrounding spaces only
        (42, Decimal("42")),
        (Decimal("100.10"), Decimal("100.10")),  # a JSON number decoded exactly
        (Decimal("0.00000001"), Decimal("0.00000001")),  # plain digits, though Decimal prints 1E-8
    ],
)
def test_amounts_in_the_grammar_are_read_exactly(value, expected):
    assert parse_decimal(value) == expected


def test_signs_zero_and_decimals():
    with pytest.raises(AmountError, match="greater than zero"):
        parse_decimal("-1")
    with pytest.raises(AmountError, match="greater than zero"):
        parse_decimal("0")
    assert parse_decimal("0", allow_zero=True) == 0
    with pytest.raises(AmountError, match="At most 2"):
        parse_decimal("1.234", decimals=2)
    assert parse_decimal("1.230", decimals=2) == Decimal("1.23")  # trailing zeros are harmless


def test_currency_decimals_and_limits():
    assert parse_amount("10.5", "USD") == Decimal("10.50")
    assert parse_amount(Decimal("0.12345678"), "BTC") == Decimal("0.12345678")
    with pytest.raises(CurrencyError, match="at most 2 decimal places"):
        parse_amount("10.555", "USD")
    with pytest.raises(CurrencyError, match="must not exceed"):
        parse_amount("1000000001", "USD")


@pytest.mark.parametrize("code", ["usd", "USD", "Usd"])
def test_currency_codes_are_case_insensitive_ascii(code):
    assert get_currency(code).code == "USD"


@pytest.mark.parametrize("code", ["ＵＳＤ", "usd\n", " usd", "US D", "U", "", None, "ÜSD", "usd\x00"])
def test_other_currency_spellings_are_unknown(code):
    with pytest.raises(CurrencyError):
        get_currency(code)


def test_the_documented_pattern_matches_the_grammar():
    import re

    pattern = re.compile(decimals_pattern(2))
    assert all(pattern.match(s) for s in ("1", "1.5", "1.25", ".5", "10."))
    assert not any(pattern.match(s) for s in ("1.255", "1e1", "+1", "-1", "１", "", "."))
