"""Order arithmetic without I/O: walking the book (empty and dust levels), rounding, holds, P&L."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeapp.amounts import NOT_A_NUMBER, NOT_POSITIVE
from tradeapp.services.trading import fills
from tradeapp.services.trading.fills import Fill

D = Decimal
CENT = D("0.01")
STEP = D("0.000001")


def levels(*rows):
    return [[D(p), D(q)] for p, q in rows]


def test_step_is_ten_to_the_minus_places():
    assert fills.step(2) == CENT and fills.step(0) == 1 and fills.step(6) == STEP


def test_parse_number_reads_the_amount_grammar_and_files_problems_under_the_field():
    errors: dict = {}
    assert fills.parse_number(" 1.5 ", "quantity", errors) == D("1.5")
    assert fills.parse_number(None, "price", errors) is None
    assert fills.parse_number("   ", "price", errors) is None  # blank: not given, not wrong
    assert errors == {}
    # only spaces count as blank: a tab, letters or a sign are wrong, each reported under its field
    assert fills.parse_number("\t", "price", errors) is None
    assert fills.parse_number("XX", "price", errors) is None
    assert fills.parse_number("-2", "quantity", errors) is None
    assert errors == {"price": [NOT_A_NUMBER, NOT_A_NUMBER], "quantity": [NOT_POSITIVE]}


def test_parse_number_takes_twenty_orders_of_magnitude_either_way_and_no_more():
    errors: dict = {}
    assert fills.parse_number("1" + "0" * 20, "quantity", errors) == D("1E+20")
    assert fills.parse_number("." + "0" * 19 + "1", "price", errors) == D("1E-20")
    assert errors == {}
    assert fills.parse_number("1" + "0" * 21, "quantity", errors) is None
    assert fills.parse_number("." + "0" * 20 + "1", "price", errors) is None
    assert errors == {"quantity": ["This number is out of range."], "price": ["This number is out of range."]}


def test_fee_on_is_exact_and_unrounded():
    assert fills.fee_on(D("12345.67"), D("0.1")) == D("12.34567")
    assert fills.fee_on(D("100"), D("0")) == 0


def test_buy_hold_rounds_notional_and_fee_up_separately():
    # 0.333333 × 30000.01 = 9999.9933333…; fee 0.2 % = 19.99998666…
    assert fills.buy_hold(D("0.333333"), D("30000.01"), D("0.2"), CENT) == D("10000.00") + D("20.00")
    assert fills.buy_hold(D("1"), D("100"), D("0.1"), CENT) == D("100.10")  # exact: nothing to round
    # a fee of 1.00001 is held as 1.01, never rounded to the nearest cent
    assert fills.buy_hold(D("1"), D("1000.01"), D("0.1"), CENT) == D("1000.01") + D("1.01")


def test_walk_book_takes_the_best_levels_first_until_the_quantity():
    got = fills.walk_book(levels(("100", "0.5"), ("101", "0.5"), ("102", "5")), D("1.2"), "buy", None, STEP)
    assert got == [Fill(D("100"), D("0.5")), Fill(D("101"), D("0.5")), Fill(D("102"), D("0.2"))]


def test_walk_book_stops_at_the_cap_on_either_side():
    asks = levels(("100", "1"), ("101", "1"), ("102", "1"))
    assert fills.walk_book(asks, D("3"), "buy", D("101"), STEP) == [Fill(D("100"), D("1")), Fill(D("101"), D("1"))]
    bids = levels(("100", "1"), ("99", "1"), ("98", "1"))
    assert fills.walk_book(bids, D("3"), "sell", D("99"), STEP) == [Fill(D("100"), D("1")), Fill(D("99"), D("1"))]
    # a level exactly at the cap is taken; one a step beyond is not
    assert fills.walk_book(bids, D("3"), "sell", D("100"), STEP) == [Fill(D("100"), D("1"))]
    assert fills.walk_book(bids, D("3"), "sell", D("100.01"), STEP) == []


def test_walk_book_skips_empty_and_zero_priced_levels():
    book = levels(("0", "5"), ("100", "0"), ("-1", "2"), ("101", "-3"), ("102", "1"))
    assert fills.walk_book(book, D("0.5"), "buy", None, STEP) == [Fill(D("102"), D("0.5"))]


def test_walk_book_takes_prices_below_one():
    """Forex and small coins trade below 1: only non-positive prices are skipped."""
    book = levels(("0.5", "1"), ("0.25", "1"))
    assert fills.walk_book(book, D("1.5"), "sell", None, STEP) == [Fill(D("0.5"), D("1")), Fill(D("0.25"), D("0.5"))]


def test_walk_book_skips_dust_below_the_quantity_step_and_goes_on():
    book = levels(("100", "0.0000004"), ("101", "0.3000009"), ("102", "1"))
    got = fills.walk_book(book, D("0.5"), "buy", None, STEP)
    # sizes are cut down to the step: the dust level gives nothing, the next gives 0.3
    assert got == [Fill(D("101"), D("0.300000")), Fill(D("102"), D("0.200000"))]


def test_walk_book_of_nothing_fills_nothing():
    assert fills.walk_book([], D("1"), "buy", None, STEP) == []
    assert fills.walk_book(levels(("100", "1")), D("0"), "buy", None, STEP) == []


def test_vwap_of_no_fills_is_none_and_weights_by_quantity():
    assert fills.vwap([]) is None
    assert fills.vwap([Fill(D("100"), D("1")), Fill(D("103"), D("2"))]) == D("102")
    assert fills.vwap([Fill(D("1"), D("3")), Fill(D("2"), D("0"))]) == D("1")
    assert fills.vwap([Fill(D("1"), D("1")), Fill(D("2"), D("2"))]) == D("1.666666666667")


def test_charge_rounds_buys_up_and_sells_down_on_the_cumulative_notional():
    # three fills of 0.333 × 10.01 = 3.33333 each: per fill the rounding would drift, cumulated it cannot
    per_fill = D("3.33333")
    buys = [fills.charge(per_fill * i, per_fill * (i + 1), D("0.1"), "buy", CENT) for i in range(3)]
    assert [n for n, _ in buys] == [D("3.34"), D("3.33"), D("3.33")]  # 3.34, 6.67, 10.00 cumulated
    assert sum(n for n, _ in buys) == (per_fill * 3).quantize(CENT, "ROUND_UP")
    sells = [fills.charge(per_fill * i, per_fill * (i + 1), D("0.1"), "sell", CENT) for i in range(3)]
    assert [n for n, _ in sells] == [D("3.33"), D("3.33"), D("3.33")]  # 3.33, 6.66, 9.99 cumulated
    # fees always round up, on the cumulative fee: 0.00333, 0.00666, 0.00999 → 0.01, 0.01, 0.01
    assert [f for _, f in buys] == [CENT, 0, 0] and [f for _, f in sells] == [CENT, 0, 0]


def test_charge_of_a_first_fill_is_its_rounded_notional_and_fee():
    assert fills.charge(D("0"), D("24495"), D("0.1"), "buy", CENT) == (D("24495.00"), D("24.50"))
    assert fills.charge(D("0"), D("100.005"), D("0.2"), "sell", CENT) == (D("100.00"), D("0.21"))


@given(
    parts=st.lists(st.decimals(min_value=D("0.000001"), max_value=D("1000"), places=6), min_size=1, max_size=8),
    fee=st.sampled_from([D("0"), D("0.1"), D("0.2"), D("1.5")]),
    side=st.sampled_from(["buy", "sell"]),
)
def test_charges_add_up_to_the_rounded_total_whatever_the_split(parts, fee, side):
    total = cumulative = D(0)
    fees = D(0)
    for part in parts:
        notional, f = fills.charge(cumulative, cumulative + part, fee, side, CENT)
        total, fees, cumulative = total + notional, fees + f, cumulative + part
    rounding = "ROUND_UP" if side == "buy" else "ROUND_DOWN"
    assert total == cumulative.quantize(CENT, rounding)
    assert fees == fills.fee_on(cumulative, fee).quantize(CENT, "ROUND_UP")


def test_after_buy_opens_at_the_price_and_averages_an_open_position():
    assert fills.after_buy(D("0"), D("0"), D("2"), D("100")) == (D("2"), D("100"))
    assert fills.after_buy(D("-1"), D("5"), D("2"), D("100")) == (D("1"), D("100"))  # nothing long to average
    assert fills.after_buy(D("1"), D("100"), D("3"), D("200")) == (D("4"), D("175"))
    assert fills.after_buy(D("1"), D("1"), D("2"), D("2")) == (D("3"), D("1.666666666667"))


def test_after_sell_realises_the_covered_part_with_its_share_of_the_fee():
    # sell 1 of 2 bought at 100, at 110, fee 2: P&L 10 − 2
    assert fills.after_sell(D("2"), D("100"), D("1"), D("110"), D("2"), CENT) == (D("1"), D("8.00"))
    # sell 3 while holding 1 (2 were deposited): 1 × 10 realised, with a third of the fee
    assert fills.after_sell(D("1"), D("100"), D("3"), D("110"), D("3"), CENT) == (D("0"), D("9.00"))
    # nothing bought: nothing realised
    assert fills.after_sell(D("0"), D("0"), D("1"), D("110"), D("1"), CENT) == (D("0"), D("0"))
    assert fills.after_sell(D("-1"), D("0"), D("1"), D("110"), D("1"), CENT) == (D("-1"), D("0"))
    # P&L rounds half to even at the quote's unit
    assert fills.after_sell(D("1"), D("0"), D("1"), D("0.125"), D("0"), CENT) == (D("0"), D("0.12"))
    assert fills.after_sell(D("1"), D("0"), D("1"), D("0.135"), D("0"), CENT) == (D("0"), D("0.14"))


@pytest.mark.parametrize(("qty", "entry", "price", "pnl"), [("2", "100", "110", "20"), ("2", "100", "90", "-20")])
def test_unrealized_marks_a_long_position(qty, entry, price, pnl):
    assert fills.unrealized(D(qty), D(entry), D(price)) == D(pnl)
