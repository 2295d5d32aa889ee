"""What every loan operation shares: the row lock, prices, the risk triggers, events and live updates."""

from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from tradeapp.currencies import get_currency
from tradeapp.errors import DomainError, NotFound
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanEvent, TradingPair, User
from tradeapp.services.loans import calc
from tradeapp.services.notifications import register_kind
from tradeapp.services.trading import prices
from tradeapp.services.uow import UnitOfWork

MANAGE = "loans.manage"
#: the platform account loans are paid out of and repaid into
BOOK = "loans"
#: where a defaulted loan's principal goes when staff write it off
LOSSES = "loan_losses"
#: where interest and liquidation fees are earned
REVENUE = "fees"
HOLD_REASON = "loan_collateral"

LOAN_APPROVED = register_kind("loan_approved", "Loan approved", email=True)
LOAN_REJECTED = register_kind("loan_rejected", "Loan application rejected", email=True)
LOAN_REPAID = register_kind("loan_repaid", "Loan repaid", email=False)
LOAN_MARGIN_CALL = register_kind("loan_margin_call", "Loan margin call", email=True)
LOAN_LIQUIDATED = register_kind("loan_liquidated", "Loan collateral liquidated", email=True)
LOAN_OVERDUE = register_kind("loan_overdue", "Loan overdue", email=True)


class PriceUnavailable(DomainError):
    """No fresh market price values the collateral right now."""

    status = 503
    code = "price_unavailable"


def show(amount: Decimal, currency: str | None = None) -> str:
    """An amount for a message: at the currency's precision, else without trailing zeros past 8 decimals."""
    if currency is not None:
        return format(Decimal(amount).quantize(quantum(currency)), "f")
    amount = Decimal(amount)
    return format(amount.normalize() if amount.as_tuple().exponent < -8 else amount, "f")


def lock(loan_id: int, user_id: int | None = None) -> Loan:
    """``SELECT … FOR NO KEY UPDATE`` the loan (first, before any wallet); NotFound when missing or not the user's."""
    query = select(Loan).where(Loan.id == loan_id)
    if user_id is not None:
        query = query.where(Loan.user_id == user_id)
    loan = db.session.scalar(query.with_for_update(key_share=True).execution_options(populate_existing=True))
    if loan is None:
        raise NotFound("No such loan.")
    return loan


def quantum(currency: str) -> Decimal:
    return get_currency(currency).quantum


def collateral_pair(collateral: str, loan_currency: str) -> TradingPair | None:
    """The market a liquidation sells the collateral on: ``<collateral>/<loan currency>``."""
    return db.session.scalar(select(TradingPair).where(TradingPair.symbol == f"{collateral}/{loan_currency}"))


def collateral_rate(collateral: str, loan_currency: str) -> prices.Rate | None:
    """One unit of collateral in the loan currency at live prices (``stale`` flagged), or None."""
    return prices.rate(collateral, loan_currency)


def fresh_price(collateral: str, loan_currency: str) -> Decimal:
    """The live price of the collateral; :raise PriceUnavailable: when there is none or it is stale."""
    found = collateral_rate(collateral, loan_currency)
    if found is None or found.stale:
        message = f"There is no fresh {collateral} price right now; please try again shortly."
        raise PriceUnavailable(message, {"collateral_amount": [message]})
    return found.value


def refresh_triggers(loan: Loan, price: Decimal | None = None) -> None:
    """Recompute the trigger prices (and the LTV at ``price``) after the debt or the collateral changed."""
    product = loan.product
    debt = loan.outstanding_balance
    if loan.status != "active":
        loan.margin_price = loan.liquidation_price = loan.down_trigger = loan.up_trigger = None
    else:
        loan.margin_price = calc.trigger_price(debt, loan.collateral_amount, product.margin_call_ltv)
        loan.liquidation_price = calc.trigger_price(debt, loan.collateral_amount, product.liquidation_ltv)
        if loan.margin_called and price is not None and price > loan.margin_price:
            loan.margin_called = False  # paid down or topped up out of the margin call
        loan.down_trigger = loan.liquidation_price if loan.margin_called else loan.margin_price
        loan.up_trigger = loan.margin_price if loan.margin_called else None
    if price is not None:
        loan.ltv = calc.ltv(debt, loan.collateral_amount, price) if debt > 0 else Decimal(0)
    loan.version = (loan.version or 0) + 1


def event(loan: Loan, kind: str, note: str = "", *, actor: User | None = None, price=None, data=None) -> LoanEvent:
    """Add a history line (with the LTV at ``price`` when given)."""
    ltv = None
    if price is not None and loan.collateral_amount > 0:
        ltv = calc.ltv(loan.outstanding_balance, loan.collateral_amount, price)
    row = LoanEvent(
        loan_id=loan.id,
        kind=kind,
        note=note[:255],
        actor_id=actor.id if actor is not None else None,
        price=price,
        ltv=ltv,
        data=data,
    )
    db.session.add(row)
    return row


def payload(loan: Loan) -> dict:
    """The ``loan`` Socket.IO event: what the loan page and the staff console redraw."""
    q = quantum(loan.loan_currency)
    return {
        "id": loan.id,
        "version": loan.version,
        "status": loan.status,
        "principal_outstanding": format(loan.principal_outstanding.quantize(q), "f"),
        "interest_accrued": format(loan.interest_accrued.quantize(q), "f"),
        "outstanding_balance": format(loan.outstanding_balance.quantize(q), "f"),
        "collateral_amount": format(loan.collateral_amount, "f"),
        "collateral_currency": loan.collateral_currency,
        "loan_currency": loan.loan_currency,
        "ltv": str(loan.ltv) if loan.ltv is not None else None,
        "margin_called": loan.margin_called,
        "margin_call_ltv": str(loan.product.margin_call_ltv),
        "liquidation_ltv": str(loan.product.liquidation_ltv),
    }


def announce(uow: UnitOfWork, loan: Loan) -> None:
    """After commit: the ``loan`` event to the customer and to the staff consoles."""
    data = payload(loan)
    uow.emit_to_user(loan.user_id, "loan", data)
    uow.emit_to_staff("loan", data)


def dual_approval_threshold() -> Decimal:
    return Decimal(str(current_app.config.get("LOAN_DUAL_APPROVAL_OVER", "10000")))


def approvals_required(loan: Loan) -> int:
    """Two different staff above ``LOAN_DUAL_APPROVAL_OVER`` (in the loan currency's USD value), else one."""
    converted = prices.convert(loan.amount, loan.loan_currency, "USD")
    return 2 if converted is None or converted.amount > dual_approval_threshold() else 1
