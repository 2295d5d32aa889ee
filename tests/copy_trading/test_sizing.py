"""Copy sizing, the slippage guard, profit share and the portfolio stop, as arithmetic (no database)."""

from decimal import ROUND_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from tradeapp.services.copy_trading import sizing

D = Decimal
STEP = D("0.000001")
BUY = {
    "price_cap": D("50500"),
    "fee_pct": D("0.2"),
    "quantity_step": STEP,
    "min_size": D("0.0001"),
    "max_size": D("100"),
    "quantum": D("0.01"),
}


def test_buy_is_the_master_quantity_scaled_by_allocation_over_equity():
    sized = sizing.size_buy(
        master_quantity=D("2"), master_equity=D("1000000"), allocation_equity=D("50000"), cash=D("50000"), **BUY
    )
    assert sized.quantity == D("0.1") and not sized.skipped


def test_buy_rounds_down_to_the_pair_precision():
    sized = sizing.size_buy(
        master_quantity=D("1"), master_equity=D("300000"), allocation_equity=D("1000"), cash=D("1000"), **BUY
    )
    assert sized.quantity == D("0.003333")


def test_buy_capped_by_max_position_size():
    sized = sizing.size_buy(
        master_quantity=D("2"),
        master_equity=D("100000"),
        allocation_equity=D("50000"),
        cash=D("50000"),
        max_position_size=D("1010"),
        **BUY,
    )
    assert sized.quantity == D("0.02")


def test_buy_capped_by_the_allocation_cash_fee_included():
    sized = sizing.size_buy(
        master_quantity=D("1"), master_equity=D("10000"), allocation_equity=D("10000"), cash=D("1000"), **BUY
    )
    cost = (sized.quantity * BUY["price_cap"]).quantize(D("0.01"), ROUND_UP)
    assert cost + (cost * D("0.002")).quantize(D("0.01"), ROUND_UP) <= D("1000")
    assert sized.quantity == D("0.019762")


def test_below_minimum_is_skipped_with_the_reason():
    sized = sizing.size_buy(
        master_quantity=D("0.01"), master_equity=D("100000"), allocation_equity=D("100"), cash=D("100"), **BUY
    )
    assert (sized.quantity, sized.reason) == (0, "below_minimum")
    short = sizing.size_buy(
        master_quantity=D("1"), master_equity=D("100"), allocation_equity=D("100"), cash=D("3"), **BUY
    )
    assert short.reason == "insufficient_allocation"


@given(
    master_quantity=st.decimals("0.0001", "50", places=6),
    master_equity=st.decimals("100", "10000000", places=2),
    allocation=st.decimals("0", "1000000", places=2),
    cash_share=st.decimals("0", "1", places=3),
    cap=st.one_of(st.none(), st.decimals("1", "100000", places=2)),
)
def test_a_sized_buy_never_exceeds_its_share_its_caps_or_its_cash(
    master_quantity, master_equity, allocation, cash_share, cap
):
    cash = (allocation * cash_share).quantize(D("0.01"))
    sized = sizing.size_buy(
        master_quantity=master_quantity,
        master_equity=master_equity,
        allocation_equity=allocation,
        cash=cash,
        max_position_size=cap,
        **BUY,
    )
    if sized.skipped:
        assert sized.quantity == 0 and sized.reason in ("below_minimum", "insufficient_allocation")
        return
    assert sized.quantity >= BUY["min_size"]
    assert sized.quantity == sized.quantity.quantize(STEP)
    assert sized.quantity <= master_quantity * allocation / master_equity
    if cap is not None:
        assert sized.quantity * BUY["price_cap"] <= cap
    notional = (sized.quantity * BUY["price_cap"]).quantize(D("0.01"), ROUND_UP)
    assert notional + (sized.quantity * BUY["price_cap"] * D("0.002")).quantize(D("0.01"), ROUND_UP) <= cash


def test_sell_closes_the_same_fraction_never_more_than_held():
    assert sizing.size_sell(
        fraction=D("0.25"), copied_quantity=D("0.4"), available=D("1"), quantity_step=STEP, min_size=D("0.0001")
    ).quantity == D("0.1")
    whole = sizing.size_sell(
        fraction=D("1"), copied_quantity=D("0.4"), available=D("1"), quantity_step=STEP, min_size=D("0.0001")
    )
    assert whole.quantity == D("0.4")
    sold_by_hand = sizing.size_sell(
        fraction=D("1"), copied_quantity=D("0.4"), available=D("0.3"), quantity_step=STEP, min_size=D("0.0001")
    )
    assert sold_by_hand.quantity == D("0.3")
    nothing = sizing.size_sell(
        fraction=D("0.5"), copied_quantity=D("0"), available=D("1"), quantity_step=STEP, min_size=D("0.0001")
    )
    assert nothing.reason == "nothing_to_sell"
    dust = sizing.size_sell(
        fraction=D("0.1"), copied_quantity=D("0.0005"), available=D("1"), quantity_step=STEP, min_size=D("0.0001")
    )
    assert dust.reason == "below_minimum"


def test_slippage_guard():
    assert not sizing.slippage_exceeded(D("100"), D("100.9"), D("1"))
    assert sizing.slippage_exceeded(D("100"), D("101.01"), D("1"))
    assert sizing.slippage_exceeded(D("100"), D("98.9"), D("1"))
    assert not sizing.slippage_exceeded(D("100"), D("150"), None)


def test_profit_share_above_the_high_water_mark_only():
    assert sizing.profit_share(D("100"), D("0"), D("20"), D("0.01")) == (D("100"), D("20.00"), D("100"))
    # a loss: nothing due, the mark stays
    assert sizing.profit_share(D("60"), D("100"), D("20"), D("0.01")) == (D("0"), D("0"), D("100"))
    # earning back to 130: only the 30 above the old mark is shared
    assert sizing.profit_share(D("130"), D("100"), D("20"), D("0.01")) == (D("30"), D("6.00"), D("130"))
    assert sizing.profit_share(D("0.04"), D("0"), D("20"), D("0.01"))[1] == D("0.00")  # rounds down
    assert sizing.split_fee(D("10.00"), D("15"), D("0.01")) == (D("8.50"), D("1.50"))


@given(st.lists(st.decimals("-1000", "1000", places=2), min_size=1, max_size=30), st.decimals("0", "50", places=2))
def test_total_profit_share_is_the_percentage_of_the_final_peak(pnls, pct):
    """Settling after every trade pays, in all, pct % of the highest cumulative profit (rounding aside)."""
    realized, mark, paid = D(0), D(0), D(0)
    for pnl in pnls:
        realized += pnl
        _profit, due, mark = sizing.profit_share(realized, mark, pct, D("0.01"))
        paid += due
    peak = max([D(0)] + [sum(pnls[: i + 1], D(0)) for i in range(len(pnls))])
    assert peak * pct / 100 - D("0.01") * len(pnls) <= paid <= peak * pct / 100


def test_portfolio_stop():
    assert not sizing.stop_hit(D("1000"), D("951"), D("5"))
    assert sizing.stop_hit(D("1000"), D("950"), D("5"))
    assert not sizing.stop_hit(D("1000"), D("10"), None)


# -- exact boundaries and the skip messages a follower reads (mutation testing found these unpinned) --


def test_buy_skips_nothing_to_copy_when_any_equity_or_the_master_quantity_is_zero():
    base = {"master_quantity": D("1"), "master_equity": D("1000"), "allocation_equity": D("1000"), "cash": D("100000")}
    for zeroed in ("master_quantity", "master_equity", "allocation_equity"):
        sized = sizing.size_buy(**{**base, zeroed: D("0")}, **BUY)
        assert (sized.quantity, sized.reason, sized.detail) == (0, "below_minimum", "Nothing to copy at this size.")
        assert sized.skipped
    assert not sizing.size_buy(**base, **BUY).skipped


def test_buy_is_capped_by_the_pairs_maximum_size():
    sized = sizing.size_buy(
        master_quantity=D("10"),
        master_equity=D("1000"),
        allocation_equity=D("1000"),
        cash=D("10000000"),
        **{**BUY, "max_size": D("3")},
    )
    assert sized.quantity == D("3")


def test_buy_position_cap_is_a_notional_at_the_price_cap():
    # the scaled share is 1; a cap of 1 (quote currency) at price 1 allows exactly 1
    sized = sizing.size_buy(
        master_quantity=D("2"),
        master_equity=D("1000"),
        allocation_equity=D("500"),
        cash=D("1000000"),
        max_position_size=D("1"),
        **{**BUY, "price_cap": D("1")},
    )
    assert sized.quantity == D("1")


def test_buy_exactly_the_minimum_is_copied_one_step_below_is_skipped_with_its_message():
    at_min = sizing.size_buy(
        master_quantity=D("0.0001"), master_equity=D("1000"), allocation_equity=D("1000"), cash=D("100000"), **BUY
    )
    assert at_min.quantity == D("0.0001") and not at_min.skipped
    below = sizing.size_buy(
        master_quantity=D("0.000099"), master_equity=D("1000"), allocation_equity=D("1000"), cash=D("100000"), **BUY
    )
    assert (below.quantity, below.reason) == (0, "below_minimum")
    assert below.detail == "The copy would be 0.000099, below the minimum 0.0001."


def test_buy_short_of_cash_names_the_cash_in_its_message():
    short = sizing.size_buy(
        master_quantity=D("1"), master_equity=D("100"), allocation_equity=D("100"), cash=D("3"), **BUY
    )
    assert (short.quantity, short.reason) == (0, "insufficient_allocation")
    assert short.detail == "The allocation's 3 cash cannot buy the minimum."


def test_buy_steps_down_until_the_rounded_hold_fits_the_cash_exactly():
    # price 1000, fee 0.5 %: 0.001 costs 1.00 + 0.005 → 0.01 (rounded up) = 1.01 in all.
    # cash 1.01 buys 0.001 exactly (the hold fits to the cent); cash 1.00 does not.
    market = {**BUY, "price_cap": D("1000"), "fee_pct": D("0.5"), "quantity_step": D("0.001"), "min_size": D("0.001")}
    fits = sizing.size_buy(
        master_quantity=D("1"), master_equity=D("1"), allocation_equity=D("1"), cash=D("1.01"), **market
    )
    assert fits.quantity == D("0.001")
    short = sizing.size_buy(
        master_quantity=D("1"), master_equity=D("1"), allocation_equity=D("1"), cash=D("1.00"), **market
    )
    assert short.reason == "insufficient_allocation"


def test_buy_rounded_cost_steps_down_one_step_at_a_time():
    # price 333.33, fee 0.1 %, step 0.01, cash 10: unrounded 10 / 333.6633… = 0.0299 → 0.02
    market = {**BUY, "price_cap": D("333.33"), "fee_pct": D("0.1"), "quantity_step": D("0.01"), "min_size": D("0.01")}
    sized = sizing.size_buy(
        master_quantity=D("5"), master_equity=D("1"), allocation_equity=D("1"), cash=D("10"), **market
    )
    assert sized.quantity == D("0.02")
    # 0.03 × 333.33 = 9.9999 → 10.00 plus fee 0.01: 10.01 > 10.00, so 0.03 is one step too many at cash 10.00
    # and just fits at 10.01
    sized = sizing.size_buy(
        master_quantity=D("5"), master_equity=D("1"), allocation_equity=D("1"), cash=D("10.01"), **market
    )
    assert sized.quantity == D("0.03")


def test_buy_limited_by_cash_but_not_below_the_minimum_is_copied_at_the_affordable_size():
    sized = sizing.size_buy(
        master_quantity=D("1"),
        master_equity=D("1"),
        allocation_equity=D("1"),
        cash=D("101.10"),
        **{**BUY, "price_cap": D("1000"), "quantity_step": D("0.01"), "min_size": D("0.01"), "fee_pct": D("1")},
    )
    assert sized.quantity == D("0.1")


def test_sell_fraction_above_one_or_below_zero():
    kw = {"copied_quantity": D("0.4"), "available": D("1"), "quantity_step": STEP, "min_size": D("0.0001")}
    assert sizing.size_sell(fraction=D("1.5"), **kw).quantity == D("0.4")
    negative = sizing.size_sell(fraction=D("-0.5"), **kw)
    assert (negative.quantity, negative.reason) == (0, "nothing_to_sell")
    assert negative.detail == "Nothing of the copied position is available to sell."


def test_sell_rounds_down_to_the_step_and_the_minimum_is_inclusive():
    kw = {"available": D("1"), "quantity_step": STEP, "min_size": D("0.0001")}
    assert sizing.size_sell(fraction=D("0.333333333"), copied_quantity=D("0.3"), **kw).quantity == D("0.099999")
    assert sizing.size_sell(fraction=D("0.5"), copied_quantity=D("0.0002"), **kw).quantity == D("0.0001")
    dust = sizing.size_sell(fraction=D("0.5"), copied_quantity=D("0.000198"), **kw)
    assert (dust.quantity, dust.reason) == (0, "below_minimum")
    assert dust.detail == "The copy would be 0.000099, below the minimum 0.0001."
    none = sizing.size_sell(fraction=D("0.5"), copied_quantity=D("-1"), **kw)
    assert (none.reason, none.detail) == ("nothing_to_sell", "No copied position in this pair.")
    sold_out = sizing.size_sell(
        fraction=D("1"), copied_quantity=D("0.4"), available=D("0"), quantity_step=STEP, min_size=D("0.0001")
    )
    assert (sold_out.quantity, sold_out.reason) == (0, "nothing_to_sell")


def test_slippage_guard_boundaries():
    assert not sizing.slippage_exceeded(D("100"), D("101"), D("1"))  # exactly the guard: allowed
    assert not sizing.slippage_exceeded(D("100"), D("99"), D("1"))
    assert sizing.slippage_exceeded(D("100"), D("101.001"), D("1"))
    assert not sizing.slippage_exceeded(D("100"), None, D("1"))
    assert not sizing.slippage_exceeded(D("0"), D("5"), D("1"))
    assert sizing.slippage_exceeded(D("200"), D("203"), D("1"))  # 1.5 % of 200
    assert not sizing.slippage_exceeded(D("200"), D("201"), D("1"))  # 0.5 % of 200
    assert sizing.slippage_exceeded(D("100"), D("100.01"), D("0"))  # a zero guard allows no move at all
    assert not sizing.slippage_exceeded(D("100"), D("100"), D("0"))


def test_profit_share_boundaries_and_rounding():
    # realised exactly at the mark: nothing
    assert sizing.profit_share(D("100"), D("100"), D("20"), D("0.01")) == (D("0"), D("0"), D("100"))
    # a fraction of a cent rounds down, not to nearest: 0.029 × 50 % = 0.0145 → 0.01 (nearest also 0.01),
    # 0.039 × 50 % = 0.0195 → 0.01 (nearest would be 0.02)
    assert sizing.profit_share(D("0.039"), D("0"), D("50"), D("0.01")) == (D("0.039"), D("0.01"), D("0.039"))
    # the mark moves up to the realised total, the profit is measured from the old mark
    assert sizing.profit_share(D("250"), D("200"), D("10"), D("0.01")) == (D("50"), D("5.00"), D("250"))


def test_split_fee_rounds_the_platform_part_down_and_the_trader_keeps_the_rest():
    assert sizing.split_fee(D("0.99"), D("15"), D("0.01")) == (D("0.85"), D("0.14"))  # 0.1485 → 0.14
    assert sizing.split_fee(D("10.00"), D("0"), D("0.01")) == (D("10.00"), D("0.00"))
    assert sizing.split_fee(D("10.00"), D("100"), D("0.01")) == (D("0.00"), D("10.00"))


def test_portfolio_stop_boundaries():
    assert sizing.stop_hit(D("1000"), D("949"), D("5"))
    assert not sizing.stop_hit(D("0"), D("-10"), D("5"))
    assert sizing.stop_hit(D("1000"), D("1000"), D("0"))  # a zero stop fires at once (no loss needed)
    assert not sizing.stop_hit(D("1000"), D("1001"), D("0"))
    assert not sizing.stop_hit(D("200"), D("195"), D("5"))  # 2.5 % of 200
    assert sizing.stop_hit(D("200"), D("190"), D("5"))


def test_small_prices_and_allocations_still_apply_the_caps_and_guards():
    # a coin priced under 1: the position cap still binds (0.25 at 0.5 → 0.5 of the 1 wanted)
    sized = sizing.size_buy(
        master_quantity=D("1"),
        master_equity=D("1"),
        allocation_equity=D("1"),
        cash=D("100"),
        max_position_size=D("0.25"),
        **{**BUY, "price_cap": D("0.5")},
    )
    assert sized.quantity == D("0.5")
    assert sizing.slippage_exceeded(D("1"), D("1.5"), D("1"))  # 50 % on a price of 1
    assert sizing.slippage_exceeded(D("0.5"), D("0.6"), D("1"))
    assert sizing.stop_hit(D("1"), D("0.9"), D("5"))  # 10 % of an allocation of 1


def test_sell_with_no_copied_position_is_zero_with_its_own_message():
    kw = {"fraction": D("0.5"), "available": D("1"), "quantity_step": STEP, "min_size": D("0.0001")}
    for copied in (D("0"), D("-1")):
        sized = sizing.size_sell(copied_quantity=copied, **kw)
        assert (sized.quantity, sized.reason, sized.detail) == (
            0,
            "nothing_to_sell",
            "No copied position in this pair.",
        )


def test_cash_that_exactly_buys_a_too_small_share_is_below_minimum_not_short_of_cash():
    # the share wanted (0.00005) is what the cash buys exactly: the minimum, not the cash, is what stops it
    sized = sizing.size_buy(
        master_quantity=D("0.00005"),
        master_equity=D("1"),
        allocation_equity=D("1"),
        cash=D("0.05"),
        **{**BUY, "price_cap": D("1000"), "fee_pct": D("0"), "quantity_step": D("0.00001")},
    )
    assert (sized.quantity, sized.reason) == (0, "below_minimum")
    assert sized.detail == "The copy would be 0.00005, below the minimum 0.0001."
