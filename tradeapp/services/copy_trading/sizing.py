"""Copy-trading arithmetic without I/O: proportional sizing, the slippage guard, profit share, the portfolio stop.

Everything is Decimal and rounds in the follower's disfavour only where the books demand it:
quantities round down to the pair's step (a copy never buys more than its share), the profit
share rounds down to the currency's unit (a follower is never charged a fraction more).
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Sized:
    """A copy's quantity, or why there is none (``reason`` a key of ``SKIP_REASONS``)."""

    quantity: Decimal
    reason: str = ""
    detail: str = ""

    @property
    def skipped(self) -> bool:
        return bool(self.reason)


def size_buy(
    *,
    master_quantity: Decimal,
    master_equity: Decimal,
    allocation_equity: Decimal,
    cash: Decimal,
    price_cap: Decimal,
    fee_pct: Decimal,
    quantity_step: Decimal,
    min_size: Decimal,
    max_size: Decimal,
    max_position_size: Decimal | None = None,
    quantum: Decimal = Decimal("0.01"),
) -> Sized:
    """The follower's quantity for a master buy.

    The master's quantity scaled by (follower allocation / master equity); capped by
    ``max_position_size`` (notional at ``price_cap``), by the allocation's cash (the order's
    hold, fee included, must fit) and by the pair's maximum; rounded down to ``quantity_step``.
    Below the pair's minimum it is skipped, as ``insufficient_allocation`` when the cash was the
    binding cap and ``below_minimum`` otherwise.
    """
    if master_equity <= 0 or allocation_equity <= 0 or master_quantity <= 0:
        return Sized(ZERO, "below_minimum", "Nothing to copy at this size.")
    quantity = master_quantity * allocation_equity / master_equity
    if max_position_size is not None and price_cap > 0:
        quantity = min(quantity, max_position_size / price_cap)
    quantity = min(quantity, max_size)
    wanted = quantity.quantize(quantity_step, ROUND_DOWN)
    affordable = (cash / (price_cap * (ONE + fee_pct / HUNDRED))).quantize(quantity_step, ROUND_DOWN)
    # the hold rounds notional and fee up to the currency's unit: step down until it fits
    while affordable > 0 and _rounded_cost(affordable, price_cap, fee_pct, quantum) > cash:
        affordable -= quantity_step
    limited_by_cash = affordable < wanted
    quantity = min(wanted, max(affordable, ZERO))
    if quantity < min_size:
        if limited_by_cash:
            return Sized(ZERO, "insufficient_allocation", f"The allocation's {cash:f} cash cannot buy the minimum.")
        return Sized(
            ZERO, "below_minimum", f"The copy would be {wanted:f}, below the minimum {min_size.normalize():f}."
        )
    return Sized(quantity)


def _rounded_cost(quantity: Decimal, price_cap: Decimal, fee_pct: Decimal, quantum: Decimal) -> Decimal:
    notional = quantity * price_cap
    return notional.quantize(quantum, ROUND_UP) + (notional * fee_pct / HUNDRED).quantize(quantum, ROUND_UP)


def size_sell(
    *,
    fraction: Decimal,
    copied_quantity: Decimal,
    available: Decimal,
    quantity_step: Decimal,
    min_size: Decimal,
) -> Sized:
    """The follower's quantity for a master sell: the same fraction of the copied position.

    A master who closed everything (``fraction`` ≥ 1) closes the whole copied position; never
    more than the follower holds available (they may have sold some by hand).
    """
    if copied_quantity <= 0:
        return Sized(ZERO, "nothing_to_sell", "No copied position in this pair.")
    quantity = copied_quantity if fraction >= ONE else copied_quantity * max(fraction, ZERO)
    quantity = min(quantity, available).quantize(quantity_step, ROUND_DOWN)
    if quantity <= 0:
        return Sized(ZERO, "nothing_to_sell", "Nothing of the copied position is available to sell.")
    if quantity < min_size:
        return Sized(
            ZERO, "below_minimum", f"The copy would be {quantity:f}, below the minimum {min_size.normalize():f}."
        )
    return Sized(quantity)


def after_sale(
    quantity: Decimal, cost: Decimal, sold: Decimal, proceeds: Decimal, quantum: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """A copied position's ``(quantity, cost, realised profit)`` after selling ``sold`` of it for ``proceeds``.

    The cost of what was sold is its pro-rata share of the position's cost (all of it when the
    sale closes the position), rounded to the currency's unit.
    """
    whole = sold >= quantity
    sold_cost = cost if whole else (cost * sold / quantity).quantize(quantum)
    left = max(quantity - sold, ZERO)
    return left, (cost - sold_cost if left > 0 else ZERO), proceeds - sold_cost


def slippage_exceeded(master_price: Decimal, market_price: Decimal | None, guard_pct: Decimal | None) -> bool:
    """True when the market moved more than ``guard_pct`` percent from the master's fill (no guard: never)."""
    if guard_pct is None or market_price is None or master_price <= 0:
        return False
    return abs(market_price - master_price) * HUNDRED / master_price > guard_pct


def profit_share(
    realized: Decimal, high_water_mark: Decimal, percentage: Decimal, quantum: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """``(profit above the mark, share due, new mark)``.

    Only cumulative net realised profit above the high-water mark is shared; a loss leaves the
    mark where it is, so it must be earned back before anything is due again (losses carry forward).
    """
    if realized <= high_water_mark:
        return ZERO, ZERO, high_water_mark
    profit = realized - high_water_mark
    due = (profit * percentage / HUNDRED).quantize(quantum, ROUND_DOWN)
    return profit, due, realized


def split_fee(amount: Decimal, platform_pct: Decimal, quantum: Decimal) -> tuple[Decimal, Decimal]:
    """``(trader's part, platform's part)`` of a profit share; the platform takes ``platform_pct`` percent."""
    platform = (amount * platform_pct / HUNDRED).quantize(quantum, ROUND_DOWN)
    return amount - platform, platform


def stop_hit(allocated: Decimal, equity: Decimal, stop_pct: Decimal | None) -> bool:
    """True when the allocation's loss (allocated − equity) reached ``stop_pct`` percent of what was allocated."""
    if stop_pct is None or allocated <= 0:
        return False
    return (allocated - equity) * HUNDRED >= allocated * stop_pct
