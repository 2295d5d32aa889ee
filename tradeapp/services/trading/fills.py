"""Order arithmetic without I/O: steps, number input, holds, walking the book, rounding of fills, fees, P&L.

Rounding always favours keeping the books whole: a buy is charged its notional and fee rounded
up to the quote currency's smallest unit, a sell is paid its notional rounded down less its fee
rounded up. Both are rounded on the order's cumulative notional, so many small fills cost the
same as one big one, and the total charged never exceeds the hold placed for the order.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal

from tradeapp.amounts import AmountError, parse_decimal
from tradeapp.currencies import get_currency
from tradeapp.models import TradingPair

ZERO = Decimal(0)
HUNDRED = Decimal(100)
#: precision of stored average and entry prices
PRICE_QUANTUM = Decimal("1e-12")


@dataclass(frozen=True)
class Fill:
    """A quantity bought or sold at one price level."""

    price: Decimal
    quantity: Decimal


def step(places: int) -> Decimal:
    """``10 ** -places``: the smallest price or quantity increment."""
    return Decimal(1).scaleb(-places)


def quantity_step(pair: TradingPair) -> Decimal:
    """The pair's quantity increment, never finer than the base currency allows."""
    return step(min(pair.quantity_precision, get_currency(pair.base_currency).decimals))


def price_step(pair: TradingPair) -> Decimal:
    return step(pair.price_precision)


def parse_number(value, name: str, errors: dict) -> Decimal | None:
    """A positive quantity or price in the one amount grammar (:mod:`tradeapp.amounts`); blank is None.

    Problems go to ``errors[name]``.
    """
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        return None
    try:
        number = parse_decimal(value)
    except AmountError as exc:
        errors.setdefault(name, []).append(str(exc))
        return None
    if abs(number.adjusted()) > 20:
        errors.setdefault(name, []).append("This number is out of range.")
        return None
    return number


def fee_on(notional: Decimal, fee_pct: Decimal) -> Decimal:
    """The exact fee on ``notional`` at ``fee_pct`` percent (unrounded)."""
    return notional * fee_pct / HUNDRED


def buy_hold(quantity: Decimal, price_cap: Decimal, fee_pct: Decimal, quantum: Decimal) -> Decimal:
    """What a buy of ``quantity`` reserves: the most it can cost at ``price_cap``, fee included."""
    notional = quantity * price_cap
    return notional.quantize(quantum, ROUND_UP) + fee_on(notional, fee_pct).quantize(quantum, ROUND_UP)


def walk_book(
    levels: Iterable[Sequence[Decimal]],
    quantity: Decimal,
    side: str,
    cap: Decimal | None,
    quantity_step: Decimal,
) -> list[Fill]:
    """Fill up to ``quantity`` from the best level on, never beyond ``cap``.

    ``levels`` are the opposite side of the book, best first: asks ascending for a buy, bids
    descending for a sell. A buy takes levels priced at most ``cap``, a sell at least ``cap``
    (``None``: no limit). Quantities are cut down to ``quantity_step``.
    """
    fills: list[Fill] = []
    remaining = quantity
    for price, size in levels:
        if remaining <= 0:
            break
        if price <= 0 or size <= 0:
            continue
        if cap is not None and (price > cap if side == "buy" else price < cap):
            break
        take = min(size, remaining).quantize(quantity_step, ROUND_DOWN)
        if take <= 0:
            continue
        fills.append(Fill(price, take))
        remaining -= take
    return fills


def vwap(fills: Sequence[Fill]) -> Decimal | None:
    """The volume-weighted average price of ``fills`` (None when empty)."""
    quantity = sum((f.quantity for f in fills), ZERO)
    if not quantity:
        return None
    return (sum((f.price * f.quantity for f in fills), ZERO) / quantity).quantize(PRICE_QUANTUM)


def charge(
    exact_before: Decimal, exact_after: Decimal, fee_pct: Decimal, side: str, quantum: Decimal
) -> tuple[Decimal, Decimal]:
    """``(notional, fee)`` of one fill, given the order's exact cumulative notional before and after it.

    Buys round the notional up, sells down; fees always round up. Rounding the cumulative sums
    makes the per-fill amounts add up to the rounded total.
    """
    rounding = ROUND_UP if side == "buy" else ROUND_DOWN
    notional = exact_after.quantize(quantum, rounding) - exact_before.quantize(quantum, rounding)
    fee = fee_on(exact_after, fee_pct).quantize(quantum, ROUND_UP) - fee_on(exact_before, fee_pct).quantize(
        quantum, ROUND_UP
    )
    return notional, fee


def after_buy(quantity: Decimal, entry: Decimal, bought: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
    """A long position's ``(quantity, entry price)`` after buying ``bought`` at ``price``."""
    total = quantity + bought
    if quantity <= 0:
        return total, price.quantize(PRICE_QUANTUM)
    return total, ((quantity * entry + bought * price) / total).quantize(PRICE_QUANTUM)


def after_sell(
    quantity: Decimal, entry: Decimal, sold: Decimal, price: Decimal, fee: Decimal, quantum: Decimal
) -> tuple[Decimal, Decimal]:
    """A long position's ``(quantity, realised P&L)`` after selling ``sold`` at ``price`` with ``fee``.

    Only the part of the sale the position covers is realised against the entry price (coins
    deposited rather than bought have no entry); the fee is shared pro rata.
    """
    closed = min(sold, max(quantity, ZERO))
    if closed <= 0:
        return quantity, ZERO
    pnl = closed * (price - entry) - fee * closed / sold
    return quantity - closed, pnl.quantize(quantum, ROUND_HALF_EVEN)


def unrealized(quantity: Decimal, entry: Decimal, price: Decimal) -> Decimal:
    """Unrealised P&L of a long position marked at ``price``."""
    return quantity * (price - entry)
