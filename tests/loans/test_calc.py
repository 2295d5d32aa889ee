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
