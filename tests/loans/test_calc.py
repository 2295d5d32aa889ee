"""Loan arithmetic: daily accrual with a carried remainder, missed days, the repayment split, LTV and
trigger prices, liquidation sizing and delinquency buckets."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeapp.services.loans import calc

D = Decimal
CENT = D("0.01")


def test_one_day_of_interest_is_principal_times_rate_over_365():
    amount, remainder = calc.daily_interest(D("10000"), D("12"), D(0), CENT)
    # 10000 × 12 % / 365 = 3.2876712328…
    assert amount == D("3.28")
    assert remainder == (D("10000") * D("12") / 100 / 365 - D("3.28")).quantize(calc.FINE, rounding="ROUND_DOWN")


def test_a_small_loan_does_not_round_to_zero_the_remainder_carries():
    # 100 USD at 3 %: 0.00821917… a day, nothing whole on day one, but a cent every ~1.2 days
    rows = calc.accrue(D("100"), D("3"), D(0), calc.days_to_accrue(date(2026, 1, 31), date(2026, 3, 1)), CENT)
    assert rows[0].amount == 0 and rows[0].remainder > 0
    total = sum(r.amount for r in rows)
    exact = D("100") * D("3") / 100 / 365 * 29
    assert total == exact.quantize(CENT, rounding="ROUND_DOWN")  # 29 days: 0.2383… → 0.23
    assert total + rows[-1].remainder == pytest.approx(exact, abs=D("1e-15"))


def test_day_count_spans_month_ends_and_leap_days_and_never_repeats():
    days = calc.days_to_accrue(date(2028, 2, 27), date(2028, 3, 1))
    assert days == [date(2028, 2, 28), date(2028, 2, 29), date(2028, 3, 1)]
    assert calc.days_to_accrue(date(2028, 3, 1), date(2028, 3, 1)) == []
    assert calc.days_to_accrue(date(2028, 3, 2), date(2028, 3, 1)) == []


def test_missed_days_caught_up_at_once_equal_the_days_run_one_by_one():
    start = date(2026, 5, 1)
    at_once = calc.accrue(D("2500"), D("9.5"), D(0), calc.days_to_accrue(start, date(2026, 5, 11)), CENT)
    remainder, one_by_one = D(0), []
    for _day in calc.days_to_accrue(start, date(2026, 5, 11)):
        amount, remainder = calc.daily_interest(D("2500"), D("9.5"), remainder, CENT)
        one_by_one.append(amount)
    assert [r.amount for r in at_once] == one_by_one
    assert at_once[-1].remainder == remainder


@given(
    principal=st.decimals(min_value=D("1"), max_value=D("1000000"), places=2),
    rate=st.decimals(min_value=D("0"), max_value=D("40"), places=2),
    days=st.integers(min_value=1, max_value=400),
)
def test_accrued_plus_remainder_is_the_exact_simple_interest(principal, rate, days):
    rows = calc.accrue(
        principal,
        rate,
        D(0),
        calc.days_to_accrue(date(2026, 1, 1), date(2026, 1, 1) + (date(2026, 1, 2) - date(2026, 1, 1)) * days),
        CENT,
    )
    exact = principal * rate / 100 / 365 * days
    total = sum((r.amount for r in rows), D(0))
    assert total <= exact
    assert exact - total - rows[-1].remainder < D("1e-15") * days + D("1e-12")
    assert all(r.amount == r.amount.quantize(CENT) for r in rows)
    assert 0 <= rows[-1].remainder < CENT


def test_repayment_pays_interest_first_then_principal():
    split = calc.split_payment(D("50"), D("12.34"), D("1000"))
    assert (split.interest, split.principal, split.capped) == (D("12.34"), D("37.66"), D(0))
    split = calc.split_payment(D("5"), D("12.34"), D("1000"))
    assert (split.interest, split.principal, split.capped) == (D("5"), D(0), D(0))


def test_overpayment_is_capped_at_what_is_owed():
    split = calc.split_payment(D("2000"), D("12.34"), D("1000"))
    assert split.total == D("1012.34")
    assert split.capped == D("987.66")


def test_ltv_and_trigger_prices_agree():
    assert calc.ltv(D("10000"), D("0.5"), D("50000")) == D("40")
    margin = calc.trigger_price(D("10000"), D("0.5"), D("70"))
    assert margin == pytest.approx(D("28571.428571428571428572"), abs=D("1e-15"))
    # at the trigger price the LTV is the threshold (rounded up by at most a hair)
    assert calc.ltv(D("10000"), D("0.5"), margin) == D("70.0000")


def test_required_collateral_meets_the_initial_ltv_exactly_or_just_above():
    need = calc.required_collateral(D("10000"), D("50"), D("50000"), D("1e-8"))
    assert need == D("0.4")
    need = calc.required_collateral(D("10000"), D("50"), D("47000"), D("1e-8"))
    assert need == D("0.42553192")  # rounded up: 0.425531914…
    assert calc.ltv(D("10000"), need, D("47000")) <= D("50")


def test_partial_liquidation_brings_the_ltv_back_to_the_initial_level():
    debt, collateral, price = D("10000"), D("0.25"), D("49000")  # LTV 81.6 %
    plan = calc.liquidation_quantity(
        debt,
        collateral,
        price,
        target_ltv_pct=D("50"),
        taker_fee_pct=D("0.2"),
        liquidation_fee_pct=D("2"),
        step=D("0.000001"),
    )
    assert not plan.full and 0 < plan.quantity < collateral
    k = (1 - D("0.002")) / D("1.02")
    repaid = plan.quantity * price * k
    after = (debt - repaid) / ((collateral - plan.quantity) * price) * 100
    assert D("49.9") < after <= D("50")  # the step rounds the sale up: at or just under the target


def test_liquidation_sells_everything_when_a_partial_sale_cannot_restore_the_ltv():
    plan = calc.liquidation_quantity(
        D("10000"),
        D("0.2"),
        D("49000"),
        target_ltv_pct=D("50"),
        taker_fee_pct=D("0.2"),
        liquidation_fee_pct=D("2"),
        step=D("0.000001"),
    )
    assert plan.full and plan.quantity == D("0.2")


def test_overdue_liquidation_covers_the_whole_debt_and_fee():
    plan = calc.liquidation_quantity(
        D("10000"),
        D("1"),
        D("50000"),
        target_ltv_pct=None,
        taker_fee_pct=D("0.2"),
        liquidation_fee_pct=D("2"),
        step=D("0.000001"),
    )
    assert plan.full and plan.quantity < 1
    assert plan.quantity * D("50000") * (1 - D("0.002")) >= D("10000") * D("1.02")


def test_delinquency_buckets():
    due = date(2026, 1, 1)
    assert calc.delinquency_bucket(due, date(2026, 1, 1)) is None
    assert calc.delinquency_bucket(due, date(2026, 1, 2)) == "1-30"
    assert calc.delinquency_bucket(due, date(2026, 1, 31)) == "1-30"
    assert calc.delinquency_bucket(due, date(2026, 2, 1)) == "31-60"
    assert calc.delinquency_bucket(due, date(2026, 3, 3)) == "60+"


def test_schedule_ends_with_the_balloon_payment_of_principal_and_all_interest():
    rows = calc.schedule(D("10000"), D("0"), D("12"), date(2026, 1, 9), date(2026, 2, 9), CENT)
    assert rows[-1]["final"] and rows[-1]["due"] == D("10000") + sum(r["interest"] for r in rows[:-1])
    assert rows[0]["from"] == date(2026, 1, 10) and rows[0]["to"] == date(2026, 1, 31)


# -- exact figures at the edges (mutation testing found these unpinned) --


def test_the_carried_remainder_is_added_and_cut_to_18_places():
    # 3.2876712328767… + 0.009 carried = 3.2966712328767…: 3.29 now, the rest carried, cut (not rounded)
    assert calc.daily_interest(D("10000"), D("12"), D("0.009"), CENT) == (D("3.29"), D("0.006671232876712328"))
    row = calc.accrue(D("10000"), D("12"), D("0.009"), [date(2026, 1, 2)], CENT)
    assert row == [calc.DayInterest(date(2026, 1, 2), D("3.29"), D("0.006671232876712328"))]


def test_a_payment_must_be_positive():
    for amount in (D("0"), D("-1")):
        with pytest.raises(ValueError, match="^payment must be positive$"):
            calc.split_payment(amount, D("1"), D("1"))
    split = calc.split_payment(D("0.01"), D("0"), D("1000"))
    assert (split.interest, split.principal, split.capped, split.total) == (D("0"), D("0.01"), D("0"), D("0.01"))


def test_ltv_rounds_up_at_four_places_and_needs_collateral_value():
    assert calc.ltv(D("1"), D("3"), D("1")) == D("33.3334")
    assert calc.ltv(D("1"), D("0"), D("50000")) is None
    assert calc.ltv(D("1"), D("1"), D("0")) is None
    assert calc.ltv(D("0"), D("1"), D("1")) == D("0")


def test_trigger_price_exact_rounded_up_zero_without_debt_none_without_collateral():
    assert calc.trigger_price(D("1"), D("3"), D("50")) == D("0.666666666666666667")
    assert calc.trigger_price(D("0"), D("3"), D("50")) == D("0")
    assert calc.trigger_price(D("-1"), D("3"), D("50")) == D("0")
    assert calc.trigger_price(D("1"), D("0"), D("50")) is None
    assert calc.trigger_price(D("1"), D("-1"), D("50")) is None
    assert calc.trigger_price(D("100"), D("2"), D("50")) == D("100")


def test_max_amount_rounds_down_and_required_collateral_rounds_up():
    assert calc.max_amount(D("0.3"), D("50"), D("47000.33"), CENT) == D("7050.04")  # 7050.0495
    assert calc.required_collateral(D("100"), D("50"), D("3"), CENT) == D("66.67")  # 66.666…


def test_partial_liquidation_sells_exactly_what_the_formula_gives_rounded_up_to_the_step():
    plan = calc.liquidation_quantity(
        D("10000"),
        D("0.25"),
        D("49000"),
        target_ltv_pct=D("50"),
        taker_fee_pct=D("0.2"),
        liquidation_fee_pct=D("2"),
        step=D("0.000001"),
    )
    # k = 0.998 / 1.02; q = (10000 − 0.5 × 0.25 × 49000) / (49000 × (k − 0.5)) = 0.1652938… → 0.165294
    assert plan == calc.LiquidationPlan(D("0.165294"), False)


def test_overdue_liquidation_sells_debt_plus_fee_over_the_net_price():
    plan = calc.liquidation_quantity(
        D("10000"),
        D("1"),
        D("50000"),
        target_ltv_pct=None,
        taker_fee_pct=D("0.2"),
        liquidation_fee_pct=D("2"),
        step=D("0.000001"),
    )
    assert plan == calc.LiquidationPlan(D("0.204409"), True)  # 10000 / (50000 × 0.998 / 1.02) = 0.2044088…


def test_liquidation_already_under_the_target_sells_nothing_and_an_unreachable_target_sells_all():
    kw = {"taker_fee_pct": D("0.2"), "liquidation_fee_pct": D("2"), "step": D("0.000001")}
    assert calc.liquidation_quantity(D("1000"), D("1"), D("50000"), target_ltv_pct=D("50"), **kw) == (
        calc.LiquidationPlan(D("0"), False)
    )
    # LTV exactly at the target: q = 0, nothing to sell
    assert calc.liquidation_quantity(D("25000"), D("1"), D("50000"), target_ltv_pct=D("50"), **kw) == (
        calc.LiquidationPlan(D("0"), False)
    )
    # a target above k (= 0.998 / 1.02 ≈ 97.8 %): no partial sale converges, sell everything
    assert calc.liquidation_quantity(D("1000"), D("1"), D("50000"), target_ltv_pct=D("98"), **kw) == (
        calc.LiquidationPlan(D("1"), True)
    )
    # the target exactly at k (no fees): also everything
    no_fees = {"taker_fee_pct": D("0"), "liquidation_fee_pct": D("0"), "step": D("0.000001")}
    assert calc.liquidation_quantity(D("1000"), D("2"), D("50000"), target_ltv_pct=D("100"), **no_fees) == (
        calc.LiquidationPlan(D("2"), True)
    )


def test_a_sale_of_exactly_all_the_collateral_is_a_full_liquidation():
    # no fees, overdue: q = debt / price = 1 = all of it
    plan = calc.liquidation_quantity(
        D("50000"),
        D("1"),
        D("50000"),
        target_ltv_pct=None,
        taker_fee_pct=D("0"),
        liquidation_fee_pct=D("0"),
        step=D("0.000001"),
    )
    assert plan == calc.LiquidationPlan(D("1"), True)
    # partial, no fees: q = (D − L·C·p) / (p·(k − L)) = 25000 / 50000 = 0.5 of the 1 held
    plan = calc.liquidation_quantity(
        D("75000"),
        D("1"),
        D("100000"),
        target_ltv_pct=D("50"),
        taker_fee_pct=D("0"),
        liquidation_fee_pct=D("0"),
        step=D("0.000001"),
    )
    assert plan == calc.LiquidationPlan(D("0.5"), False)
    # a partial sale that needs exactly all the collateral (q = 50000 / 50000 = 1 = C) is a full one
    plan = calc.liquidation_quantity(
        D("100000"),
        D("1"),
        D("100000"),
        target_ltv_pct=D("50"),
        taker_fee_pct=D("0"),
        liquidation_fee_pct=D("0"),
        step=D("0.000001"),
    )
    assert plan == calc.LiquidationPlan(D("1"), True)


def test_delinquency_bucket_edges():
    due = date(2026, 1, 1)
    assert calc.delinquency_bucket(None, date(2026, 1, 5)) is None
    assert calc.delinquency_bucket(due, date(2025, 12, 31)) is None
    assert calc.delinquency_bucket(due, date(2026, 3, 2)) == "31-60"  # 60 days
    assert calc.delinquency_bucket(due, date(2026, 3, 3)) == "60+"  # 61 days


def test_schedule_rows_month_by_month_to_the_balloon():
    rows = calc.schedule(D("10000"), D("5"), D("12"), date(2026, 1, 29), date(2026, 3, 2), CENT)
    assert rows == [
        {"from": date(2026, 1, 30), "to": date(2026, 1, 31), "interest": D("6.57"), "due": None},
        {"from": date(2026, 2, 1), "to": date(2026, 2, 28), "interest": D("92.06"), "due": None},
        {"from": date(2026, 3, 1), "to": date(2026, 3, 1), "interest": D("3.28"), "due": None},
        {"from": date(2026, 3, 2), "to": date(2026, 3, 2), "interest": D("0"), "due": D("10106.91"), "final": True},
    ]


def test_the_sale_rounds_up_to_the_step_never_to_nearest():
    # 10000 / 30000 = 0.3333333…: to nearest would be 0.333333, a hair short of the debt
    plan = calc.liquidation_quantity(
        D("10000"),
        D("1"),
        D("30000"),
        target_ltv_pct=None,
        taker_fee_pct=D("0"),
        liquidation_fee_pct=D("0"),
        step=D("0.000001"),
    )
    assert plan == calc.LiquidationPlan(D("0.333334"), True)
