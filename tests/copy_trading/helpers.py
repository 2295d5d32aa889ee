"""Copy-trading fixtures: an approved lead trader, funded followers, a hand-set BTC/USD market."""

from decimal import Decimal

from sqlalchemy import select

from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import CopiedTrade, CopySubscription, Trader, User
from tradeapp.services.copy_trading import subscriptions
from tradeapp.services.trading import orders

D = Decimal


def make_trader(create_user, *, email="lead@example.com", username="lead", usd="100000", share="10") -> User:
    """An approved lead trader with funds (approved directly: the review is tested on its own)."""
    user = create_user(email=email, username=username, kyc_status="approved", is_verified=True)
    fund(user, "USD", usd)
    db.session.add(
        Trader(
            user_id=user.id,
            display_name=f"{username.title()} Capital",
            bio="Trend following.",
            profit_share_percentage=D(share),
            status="approved",
        )
    )
    db.session.commit()
    return user


def trader_row(user: User) -> Trader:
    return db.session.scalar(select(Trader).where(Trader.user_id == user.id))


def follow(user: User, lead: User, **fields) -> CopySubscription:
    data = {"trader": trader_row(lead).id, "copy_percentage": "100", **fields}
    return subscriptions.subscribe(user, data)


def buy(user: User, quantity: str, symbol: str = "BTC/USD"):
    return orders.place_order(user, {"symbol": symbol, "order_type": "market", "side": "buy", "quantity": quantity})


def sell(user: User, quantity: str, symbol: str = "BTC/USD"):
    return orders.place_order(user, {"symbol": symbol, "order_type": "market", "side": "sell", "quantity": quantity})


def copies_of(sub_id: int) -> list[CopiedTrade]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(CopiedTrade).where(CopiedTrade.subscription_id == sub_id).order_by(CopiedTrade.id)
    ).all()
    return list(rows)
