"""Demo data for ``flask seed demo``: idempotent, safe to run on every start."""

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Order, TradingPair, Transaction, User, Wallet
from tradeapp.models.types import utcnow
from tradeapp.services import ledger, passwords
from tradeapp.services.copy_trading.demo import seed_copy_trading
from tradeapp.services.trading import orders, prices
from tradeapp.services.trading.pairs import get_pair
from tradeapp.services.users import _new_referral_code

DEMO_CUSTOMER = {"email": "demo@tradeapp.local", "username": "demo", "password": "Demo-trader-2026!"}
DEMO_ADMIN = {
    "email": "admin@tradeapp.local",
    "username": "admin",
    "password": "Admin-console-2026!",
    # Fixed so a newcomer can add it to an authenticator app; production admins enrol their own.
    "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
}

PAIRS = [
    # symbol, base, quote, type, min, max, price prec, qty prec, maker %, taker %, feed exchange, feed symbol
    ("BTC/USD", "BTC", "USD", "crypto", "0.0001", "100", 2, 6, "0.10", "0.20", "binance", "BTC/USDT"),
    ("ETH/USD", "ETH", "USD", "crypto", "0.001", "1000", 2, 5, "0.10", "0.20", "binance", "ETH/USDT"),
    ("EUR/USD", "EUR", "USD", "forex", "1", "1000000", 5, 2, "0.01", "0.02", "kraken", "EUR/USD"),
    ("GBP/USD", "GBP", "USD", "forex", "1", "1000000", 5, 2, "0.01", "0.02", "kraken", "GBP/USD"),
]


def seed_pairs() -> list[str]:
    created = []
    for sym, base, quote, kind, mn, mx, pp, qp, maker, taker, exch, fsym in PAIRS:
        if db.session.scalar(select(TradingPair.id).where(TradingPair.symbol == sym)):
            continue
        db.session.add(
            TradingPair(
                symbol=sym,
                base_currency=base,
                quote_currency=quote,
                pair_type=kind,
                min_order_size=Decimal(mn),
                max_order_size=Decimal(mx),
                price_precision=pp,
                quantity_precision=qp,
                maker_fee=Decimal(maker),
                taker_fee=Decimal(taker),
                feed_exchange=exch,
                feed_symbol=fsym,
                is_active=True,
            )
        )
        created.append(f"pair {sym}")
    return created


def _ensure_user(spec: dict, **extra) -> tuple[User, bool]:
    user = db.session.scalar(select(User).where(func.lower(User.email) == spec["email"]))
    if user is not None:
        return user, False
    now = utcnow()
    user = User(
        email=spec["email"],
        username=spec["username"],
        password_hash=passwords.hash_password(spec["password"]),
        referral_code=_new_referral_code(),
        email_verified_at=now,
        password_changed_at=now,
        first_name=extra.pop("first_name", ""),
        last_name=extra.pop("last_name", ""),
        **extra,
    )
    db.session.add(user)
    return user, True


def seed_users() -> list[str]:
    created = []
    _, new = _ensure_user(DEMO_CUSTOMER, first_name="Dana", last_name="Demo")
    if new:
        created.append(f"customer {DEMO_CUSTOMER['email']}")
    _, new = _ensure_user(
        DEMO_ADMIN,
        first_name="Ada",
        last_name="Admin",
        role="admin",
        totp_secret=DEMO_ADMIN["totp_secret"],
        totp_confirmed_at=utcnow(),
    )
    if new:
        created.append(f"admin {DEMO_ADMIN['email']}")
    return created


#: later domains append their demo steps here, in order
STEPS: list[Callable[[], list[str]]] = [seed_pairs, seed_users]


#: what the demo customer starts with, credited from the platform's adjustments account
DEMO_FUNDS = (("USD", "25000"), ("BTC", "0.5"), ("ETH", "4"))


def seed_demo_funds() -> list[str]:
    """Give the demo customer money through real ledger entries (only while they have no wallets)."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_CUSTOMER["email"]))
    if user is None or db.session.scalar(select(Wallet.id).where(Wallet.user_id == user.id).limit(1)):
        return []
    created = []
    now = utcnow()
    for currency, amount in DEMO_FUNDS:
        value = Decimal(amount)
        wallet = ledger.wallet_for(user, currency)
        source = ledger.platform_account("adjustments", currency)
        reference = f"DEMO-{currency}-{user.id}"
        entry = ledger.post(
            "adjustment",
            [ledger.Leg(wallet, value), ledger.Leg(source, -value)],
            memo="Demo starting balance",
            reference=f"transaction:{reference}",
        )
        db.session.add(
            Transaction(
                user_id=user.id,
                transaction_type="deposit",
                currency=currency,
                amount=value,
                fee=Decimal(0),
                status="completed",
                reference_id=reference,
                notes="Demo starting balance",
                entry_id=entry.id,
                created_at=now,
                completed_at=now,
            )
        )
        created.append(f"demo funds {amount} {currency}")
    return created


STEPS.append(seed_demo_funds)


def seed_demo_trading() -> list[str]:
    """A few real orders for the demo customer (only while they have none): a position and a resting limit."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_CUSTOMER["email"]))
    if user is None or db.session.scalar(select(Order.id).where(Order.user_id == user.id).limit(1)):
        return []
    db.session.commit()  # orders run in their own transactions
    created = []
    try:
        btc = get_pair("BTC-USD")
        step = Decimal(1).scaleb(-btc.price_precision)
        below = (prices.live_quote(btc)["ask"] * Decimal("0.97")).quantize(step, ROUND_DOWN)
        plan = [
            {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.05"},
            {"symbol": "ETH-USD", "side": "buy", "order_type": "market", "quantity": "1"},
            {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.02", "price": str(below)},
        ]
        for data in plan:
            order = orders.place_order(user, data)
            created.append(f"demo order {order.side} {data['quantity']} {data['symbol']} ({order.status})")
    except DomainError as exc:  # no prices (e.g. an exchange feed that is down): the demo starts flat
        db.session.rollback()
        created.append(f"demo orders skipped: {exc.message}")
    return created


STEPS.append(seed_demo_trading)
STEPS.append(seed_copy_trading)

from tradeapp.services.loans.demo import seed_demo_loans  # noqa: E402 - a later domain's step

STEPS.append(seed_demo_loans)
from tradeapp.services.referrals_demo import seed_demo_referrals  # noqa: E402 - a later domain's step

STEPS.append(seed_demo_referrals)

from tradeapp.services.notifications_demo import seed_demo_notifications  # noqa: E402

STEPS.append(seed_demo_notifications)

from tradeapp.services.bots.demo import seed_demo_bots  # noqa: E402 - a later domain's step

STEPS.append(seed_demo_bots)

from tradeapp.services.backoffice.demo import seed_backoffice_demo  # noqa: E402

STEPS.append(seed_backoffice_demo)


def seed_demo() -> list[str]:
    """Run every demo step in one transaction; returns what was created."""
    created: list[str] = []
    for step in STEPS:
        created.extend(step())
        db.session.flush()
    db.session.commit()
    return created


from tradeapp.services.signals.demo import seed_demo_signals  # noqa: E402 - one import + one append per domain

STEPS.append(seed_demo_signals)
