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
