"""Loan arithmetic with no database: daily interest with a carried remainder, the repayment split,
LTV and its trigger prices, and how much collateral a liquidation sells.

Everything is Decimal. Percentages are given as percent (``50`` = 50 %). Amounts in the loan
currency are kept at that currency's precision; what does not make a whole unit is carried.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
DAYS_PER_YEAR = 365
#: the precision remainders and trigger prices are kept at (the Money columns' scale)
FINE = Decimal("1e-18")


@dataclass(frozen=True)
class DayInterest:
    """One day's interest: the whole units accrued and the fraction carried to the next day."""

    day: date
    amount: Decimal
    remainder: Decimal


def daily_interest(principal: Decimal, annual_rate_pct: Decimal, remainder: Decimal, quantum: Decimal) -> tuple:
    """``(amount, new_remainder)`` for one day: principal × rate / 365 plus what was carried, cut to ``quantum``."""
    exact = principal * annual_rate_pct / HUNDRED / DAYS_PER_YEAR + remainder
    amount = exact.quantize(quantum, ROUND_DOWN)
    return amount, (exact - amount).quantize(FINE, ROUND_DOWN)


def days_to_accrue(accrued_through: date, until: date) -> list[date]:
    """The days after ``accrued_through`` up to ``until`` inclusive (a missed day is caught up, none twice)."""
    return [accrued_through + timedelta(days=n) for n in range(1, (until - accrued_through).days + 1)]


def accrue(
    principal: Decimal, annual_rate_pct: Decimal, remainder: Decimal, days: list[date], quantum: Decimal
) -> list[DayInterest]:
    """Interest for each of ``days`` on a constant principal, the remainder carried day to day."""
    out = []
    for day in days:
        amount, remainder = daily_interest(principal, annual_rate_pct, remainder, quantum)
        out.append(DayInterest(day, amount, remainder))
    return out


@dataclass(frozen=True)
class Split:
    """How a payment is applied: interest first, then principal; ``capped`` is what was not taken."""

    interest: Decimal
    principal: Decimal
    capped: Decimal

    @property
    def total(self) -> Decimal:
        return self.interest + self.principal


def split_payment(amount: Decimal, interest_owed: Decimal, principal_owed: Decimal) -> Split:
    """Apply ``amount`` to the interest owed, then the principal; never more than is owed."""
    if amount <= 0:
        raise ValueError("payment must be positive")
    interest = min(amount, interest_owed)
    principal = min(amount - interest, principal_owed)
    return Split(interest, principal, amount - interest - principal)


def ltv(debt: Decimal, collateral: Decimal, price: Decimal) -> Decimal | None:
    """Debt / collateral value in % (4 decimals, rounded up: a risk figure errs high); None without collateral value."""
    value = collateral * price
    if value <= 0:
        return None
    return (debt * HUNDRED / value).quantize(Decimal("0.0001"), ROUND_UP)


def trigger_price(debt: Decimal, collateral: Decimal, ltv_pct: Decimal) -> Decimal | None:
    """The collateral price at which the LTV reaches ``ltv_pct``: debt / (collateral × ltv)."""
    if collateral <= 0:
        return None
    if debt <= 0:
        return ZERO
    return (debt * HUNDRED / (collateral * ltv_pct)).quantize(FINE, ROUND_UP)


def required_collateral(amount: Decimal, initial_ltv_pct: Decimal, price: Decimal, quantum: Decimal) -> Decimal:
    """The least collateral (rounded up to ``quantum``) whose value keeps ``amount`` within the initial LTV."""
    return (amount * HUNDRED / (initial_ltv_pct * price)).quantize(quantum, ROUND_UP)


def max_amount(collateral: Decimal, initial_ltv_pct: Decimal, price: Decimal, quantum: Decimal) -> Decimal:
    """The most that ``collateral`` lets one borrow at the initial LTV (rounded down)."""
    return (collateral * price * initial_ltv_pct / HUNDRED).quantize(quantum, ROUND_DOWN)


@dataclass(frozen=True)
class LiquidationPlan:
    """How much collateral to sell: ``full`` when the loan is closed (all the debt, or all the collateral)."""

    quantity: Decimal
    full: bool


def liquidation_quantity(
    debt: Decimal,
    collateral: Decimal,
    price: Decimal,
    *,
    target_ltv_pct: Decimal | None,
    taker_fee_pct: Decimal,
    liquidation_fee_pct: Decimal,
    step: Decimal,
) -> LiquidationPlan:
    """Collateral to sell at ``price`` (net of the taker fee) so that, after the debt is reduced by
    what the sale repays (its liquidation fee on top), the LTV is back at ``target_ltv_pct``.

    With ``target_ltv_pct`` None (overdue) the whole debt plus fee is covered. When that takes all
    the collateral or more, everything is sold (``full``).

    Selling q at p repays R = q·p·k with k = (1 − taker) / (1 + fee); the target asks
    (D − R) = L·(C − q)·p, hence q = (D − L·C·p) / (p·(k − L)).
    """
    k = (1 - taker_fee_pct / HUNDRED) / (1 + liquidation_fee_pct / HUNDRED)
    if target_ltv_pct is None:
        q = debt / (price * k)
        full = True
    else:
        target = target_ltv_pct / HUNDRED
        if k <= target:
            return LiquidationPlan(collateral, True)
        q = (debt - target * collateral * price) / (price * (k - target))
        if q <= 0:
            return LiquidationPlan(ZERO, False)
        full = False
    q = q.quantize(step, ROUND_UP)
    if q >= collateral:
        return LiquidationPlan(collateral, True)
    return LiquidationPlan(q, full)


def delinquency_bucket(due: date | None, today: date) -> str | None:
    """``1-30``, ``31-60`` or ``60+`` days past due; None when not overdue."""
    if due is None or today <= due:
        return None
    days = (today - due).days
    return "1-30" if days <= 30 else "31-60" if days <= 60 else "60+"


def schedule(
    principal: Decimal, interest_accrued: Decimal, annual_rate_pct: Decimal, accrued_through: date, due: date, quantum
) -> list[dict]:
    """What is due and when: the projected interest to the due date and the balloon repayment on it.

    Crypto-backed loans (Nexo, Binance) repay in one payment at the term's end, interest accruing
    daily; the schedule shows the interest each month would accrue and the total due on the due date.
    """
    rows = []
    remainder = ZERO
    total_interest = interest_accrued
    start = accrued_through
    month_start = accrued_through + timedelta(days=1)
    month_interest = ZERO
    for day in days_to_accrue(start, due - timedelta(days=1)):
        amount, remainder = daily_interest(principal, annual_rate_pct, remainder, quantum)
        month_interest += amount
        total_interest += amount
        if (day + timedelta(days=1)).day == 1 or day == due - timedelta(days=1):
            rows.append({"from": month_start, "to": day, "interest": month_interest, "due": None})
            month_start, month_interest = day + timedelta(days=1), ZERO
    rows.append({"from": due, "to": due, "interest": ZERO, "due": principal + total_interest, "final": True})
    return rows
