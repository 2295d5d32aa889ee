"""All tables, imported so Alembic and the app see every model."""

from tradeapp.models.audit import AuditLog
from tradeapp.models.backoffice import AccountControl, DailyReport, LoginEvent, StaffNote
from tradeapp.models.funds import (
    CryptoAddress,
    Deposit,
    IdempotencyRecord,
    Transaction,
    Withdrawal,
    WithdrawalApproval,
)
from tradeapp.models.kyc import KYCDocument, KYCFile
from tradeapp.models.ledger import Hold, JournalEntry, PlatformAccount, Posting, Wallet
from tradeapp.models.notifications import Notification, NotificationPreference
from tradeapp.models.trading import Candle, Order, Position, Trade, TradingPair
from tradeapp.models.users import LoginThrottle, RefreshToken, User

__all__ = [
    "AccountControl",
    "DailyReport",
    "LoginEvent",
    "StaffNote",
    "AuditLog",
    "Candle",
    "CryptoAddress",
    "Deposit",
    "IdempotencyRecord",
    "Transaction",
    "Withdrawal",
    "WithdrawalApproval",
    "Hold",
    "JournalEntry",
    "KYCDocument",
    "KYCFile",
    "LoginThrottle",
    "Notification",
    "NotificationPreference",
    "PlatformAccount",
    "Posting",
    "RefreshToken",
    "Order",
    "Position",
    "Trade",
    "TradingPair",
    "User",
    "Wallet",
]
