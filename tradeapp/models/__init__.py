"""All tables, imported so Alembic and the app see every model."""

from tradeapp.models.audit import AuditLog
from tradeapp.models.ledger import Hold, JournalEntry, PlatformAccount, Posting, Wallet
from tradeapp.models.trading import TradingPair
from tradeapp.models.users import LoginThrottle, RefreshToken, User

__all__ = [
    "AuditLog",
    "Hold",
    "JournalEntry",
    "LoginThrottle",
    "PlatformAccount",
    "Posting",
    "RefreshToken",
    "TradingPair",
    "User",
    "Wallet",
]
