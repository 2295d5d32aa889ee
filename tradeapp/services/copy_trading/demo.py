"""Demo data for copy trading: two lead traders whose history is made through the real order path on the
simulated feed, and the demo customer following one of them (idempotent: only while no lead trader exists)."""

from decimal import Decimal

from sqlalchemy import func, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Trader, User
from tradeapp.models.types import utcnow
from tradeapp.services import ledger, passwords
from tradeapp.services.copy_trading import stats, subscriptions
from tradeapp.services.trading import orders
from tradeapp.services.users import _new_referral_code

LEADS = (
    {
        "email": "aria@tradeapp.local",
        "username": "aria",
        "first_name": "Aria",
        "display_name": "Aria Momentum",
        "bio": "Trend following on BTC and ETH; small, frequent entries, quick exits.",
        "share": "15",
        "plan": [
            ("BTC-USD", "buy", "0.20"),
            ("ETH-USD", "buy", "3"),
            ("BTC-USD", "sell", "0.10"),
            ("ETH-USD", "sell", "1.5"),
            ("BTC-USD", "buy", "0.05"),
        ],
    },
    {
        "email": "theo@tradeapp.local",
        "username": "theo",
        "first_name": "Theo",
        "display_name": "Theo Swing",
        "bio": "Patient swing trades in ETH; holds for days.",
        "share": "10",
        "plan": [("ETH-USD", "buy", "5"), ("ETH-USD", "sell", "2"), ("BTC-USD", "buy", "0.1")],
    },
)
LEAD_FUNDS = Decimal("60000")
DEMO_EMAIL = "demo@tradeapp.local"


def _lead_user(spec: dict) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == spec["email"]))
    if user is not None:
        return user
    now = utcnow()
    user = User(
        email=spec["email"],
        username=spec["username"],
        password_hash=passwords.hash_password("Lead-trader-2026!"),
        referral_code=_new_referral_code(),
        email_verified_at=now,
        password_changed_at=now,
        first_name=spec["first_name"],
        last_name="Lead",
        is_verified=True,
        kyc_status="approved",
    )
    db.session.add(user)
    db.session.flush()
    wallet = ledger.wallet_for(user, "USD")
    ledger.post(
        "adjustment",
        [ledger.Leg(wallet, LEAD_FUNDS), ledger.Leg(ledger.platform_account("adjustments", "USD"), -LEAD_FUNDS)],
        memo="Demo starting balance",
        reference=f"demo-lead:{user.id}",
    )
    return user


def seed_copy_trading() -> list[str]:
    """Two lead traders with real fills, their stats, and the demo customer copying the first."""
    if db.session.scalar(select(Trader.id).limit(1)) is not None:
        return []
    created = []
    leads = []
    for spec in LEADS:
        user = _lead_user(spec)
        trader = Trader(
            user_id=user.id,
            display_name=spec["display_name"],
            bio=spec["bio"],
            profit_share_percentage=Decimal(spec["share"]),
            status="approved",
            reviewed_at=utcnow(),
        )
        db.session.add(trader)
        leads.append((user, trader, spec))
        created.append(f"lead trader {spec['display_name']}")
    db.session.commit()  # orders run in their own transactions
    try:
        for user, _trader, spec in leads:
            for symbol, side, quantity in spec["plan"]:
                orders.place_order(user, {"symbol": symbol, "side": side, "order_type": "market", "quantity": quantity})
        demo = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_EMAIL))
        aria_user, aria, _spec = leads[0]
        if demo is not None:
            sub = subscriptions.subscribe(
                demo,
                {"trader": aria.id, "copy_percentage": "40", "stop_loss_percentage": "25", "copy_open_positions": True},
            )
            created.append(f"demo customer copies {aria.display_name} with {sub.allocated_amount:.2f} USD")
            # a trade after the follow: copied to the demo customer through the copy job
            orders.place_order(aria_user, {"symbol": "ETH-USD", "side": "buy", "order_type": "market", "quantity": "1"})
        for _user, trader, _spec in leads:
            stats.refresh(trader.id)
    except DomainError as exc:  # no prices (a feed that is down): the traders exist without history
        db.session.rollback()
        created.append(f"copy-trading demo history skipped: {exc.message}")
    return created
