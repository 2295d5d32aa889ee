"""Demo data of the notification centre and account security: a few notifications in the demo
customer's bell and a saved withdrawal address past its cooling-off (only while they have none)."""

from datetime import timedelta

from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.models import Notification, User, WithdrawalAddress
from tradeapp.models.types import utcnow
from tradeapp.services import notifications
from tradeapp.services.account_security import addresses

DEMO_EMAIL = "demo@tradeapp.local"


def seed_demo_notifications() -> list[str]:
    user = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_EMAIL))
    if user is None or db.session.scalar(select(Notification.id).where(Notification.user_id == user.id).limit(1)):
        return []
    notifications.notify_many(
        [user.id],
        notifications.DEPOSIT_CREDITED,
        "Deposit credited",
        "Your demo starting balance (25,000.00 USD, 0.5 BTC, 4 ETH) is in your wallets.",
        link="/wallets/",
        dedupe_key="demo:welcome-funds",
    )
    created = ["demo notifications"]
    if db.session.scalar(select(WithdrawalAddress.id).where(WithdrawalAddress.user_id == user.id).limit(1)) is None:
        details = {"iban": "GB82WEST12345698765432", "account_holder": "Demo Trader"}
        now = utcnow()
        db.session.add(
            WithdrawalAddress(
                user_id=user.id,
                label="Demo bank account",
                currency="USD",
                destination_type="bank_account",
                destination_details=details,
                fingerprint=addresses.fingerprint("bank_account", details),
                created_at=now - timedelta(days=2),
                usable_from=now - timedelta(days=1),
            )
        )
        created.append("demo withdrawal address")
    return created
