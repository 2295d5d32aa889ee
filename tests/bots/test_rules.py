"""The custom-rule parser: good rules parse and compute, hostile input is refused with the bad token's column."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bots.helpers import candles, indices
from tradeapp.services.bots import rules


@pytest.mark.parametrize(
    "text",
    [
        "rsi(14) < 30 and close > sma(200)",
        "rsi(14) > 70 or close < ema(20)",
        "RSI(14) < 30 AND NOT close < sma(50)",
        "crosses_above(sma(20), sma(50))",
        "(close - sma(20)) / sma(20) * 100 < -5",
        "macd() > macd_signal() and macd_hist(12, 26, 9) > 0",
        "close <= bb_lower(20, 2.5) or close >= bb_upper(20)",
        "volume > sma(20, volume) * 2 and change(3) >= 1.5",
        "highest(10) == high and lowest(10, low) != low",
        "-close < -100",
    ],
)
def test_good_rules_parse(text):
    tree = rules.parse(text)
    assert tree[0] in ("and", "or", "not", "cmp", "call")
    out = rules.signal(text, candles([10 + i % 7 for i in range(300)]))
    assert out.dtype == bool and len(out) == 300


@pytest.mark.parametrize(
    "text,column,fragment",
    [
        ("rsi(14) <", 10, "ends early"),
        ("rsi(14) < 30 and", 17, "ends early"),
        ("rsi(14) < 30 an close > 1", 14, "Unexpected 'an'"),
        ("__import__('os').system('id') > 1", 12, "Unexpected character"),
        ("__import__(1) > 1", 1, "Unknown function '__import__'"),
        ("close.real > 1", 6, "Unexpected character '.'"),
        ("close.__class__ > 1", 6, "Unexpected character '.'"),
        ("open('/etc/passwd') > 1", 6, "Unexpected character"),
        ("exec(1) or 1 > 0", 1, "Unknown function 'exec'"),
        ("close > sma(0)", 13, "whole number from 1"),
        ("close > sma(14.5)", 13, "whole number"),
        ("close > sma(99999)", 13, "whole number"),
        ("close > sma(close)", 13, "takes numbers"),
        ("close > sma(20, rsi(3))", 17, "source"),
        ("close > rsi", 9, "needs arguments"),
        ("price > 3", 1, "Unknown name 'price'"),
        ("close > 3 > 2", 11, "between two comparisons"),
        ("close", 1, "must be a condition"),
        ("sma(20) + 1", 1, "must be a condition"),
        ("", 1, "empty"),
        ("   ", 1, "empty"),
        ("close > 1; drop table bots", 10, "Unexpected character ';'"),
        ("close > 1e9", 10, "Unexpected 'e9'"),
        ("rsi(14) < 30 and and close > 1", 18, "Unexpected 'and'"),
        ("(close > 1", 11, "expected ')'"),
        ("close > 1)", 10, "Unexpected ')'"),
        ("bb_upper(20, 50) < close", 14, "band width"),
        ("crosses_above(close)", 1, "takes"),
        ("close ＞ 1", 7, "Unexpected character"),
        ("close > ١", 9, "Unexpected character"),
        ("lambda: 1 > 0", 7, "Unexpected character ':'"),
    ],
)
def test_hostile_or_wrong_rules_point_at_the_bad_token(text, column, fragment):
    with pytest.raises(rules.RuleError) as exc:
        rules.parse(text)
    assert exc.value.column == column, str(exc.value)
    assert fragment in str(exc.value)


def test_limits_on_size_and_depth():
    with pytest.raises(rules.RuleError, match="at most 500"):
        rules.parse("close > 1 and " * 40 + "close > 1")
    with pytest.raises(rules.RuleError, match="nests"):
        rules.parse("(" * 30 + "close > 1" + ")" * 30)
    with pytest.raises(rules.RuleError, match="nests"):
        rules.parse("not " * 40 + "close > 1")
    with pytest.raises(rules.RuleError, match="nests"):
        rules.parse("close > " + "-" * 40 + "1")
    assert rules.validate(None) == "A rule is text. (column 1)"


def test_evaluation_by_hand():
    df = candles([1, 2, 3, 4, 5, 6])
    assert indices(rules.signal("close > 2 and close <= 5", df)) == [2, 3, 4]
    assert indices(rules.signal("not close > 2 or close == 6", df)) == [0, 1, 5]
    assert indices(rules.signal("close / 0 > 1", df)) == []  # division by zero is undefined, not a signal
    assert indices(rules.signal("close - 1 * 2 >= 3", df)) == [4, 5]  # precedence: 1 * 2 first
    assert indices(rules.signal("sma(3) >= 2", df)) == [2, 3, 4, 5]  # undefined warm-up bars never signal


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_raises_rule_error(text):
    try:
        rules.parse(text)
    except rules.RuleError as exc:
        assert 1 <= exc.column <= len(text) + 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(list("()<>=!+-*/,. 0123456789") + ["close", "sma", "rsi", " and ", " or ", "not ", "(14)"]),
        max_size=30,
    ).map("".join)
)
def test_rule_shaped_noise_parses_or_raises_rule_error(text):
    try:
        tree = rules.parse(text)
    except rules.RuleError:
        return
    rules.evaluate(tree, candles([10 + i % 5 for i in range(40)]))
