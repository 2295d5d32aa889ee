"""All tables, imported so Alembic and the app see every model."""

from tradeapp.models.account_security import (
    KnownDevice,
    RecoveryCode,
    SecuritySettings,
    UserSession,
    WithdrawalAddress,
    WithdrawalConfirmation,
)
from tradeapp.models.audit import AuditLog
from tradeapp.models.backoffice import AccountControl, DailyReport, LoginEvent, StaffNote
from tradeapp.models.bots import Backtest, BotModel, BotPosition, BotRun, BotStrategySetting, BotTrade, TradingBot
from tradeapp.models.copy_trading import (
    CopiedTrade,
    CopyPosition,
    CopySignal,
    CopySubscription,
    ProfitShareSettlement,
    Trader,
)
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
from tradeapp.models.loans import (
    Loan,
    LoanAccrual,
    LoanApproval,
    LoanEvent,
    LoanLiquidation,
    LoanProduct,
    LoanRepayment,
)
from tradeapp.models.notifications import Notification, NotificationPreference
from tradeapp.models.referrals import Referral, ReferralAccrual, ReferralReward, ReferralSettings, ReferralTier
from tradeapp.models.signals import (
    SignalNotification,
    SignalPlan,
    SignalPlanLink,
    SignalProvider,
    SignalSubscription,
    TradingSignal,
)
from tradeapp.models.trading import Candle, Order, Position, Trade, TradingPair
from tradeapp.models.users import LoginThrottle, RefreshToken, User

__all__ = [
    "KnownDevice",
    "RecoveryCode",
    "SecuritySettings",
    "UserSession",
    "WithdrawalAddress",
    "WithdrawalConfirmation",
    "AccountControl",
    "DailyReport",
    "LoginEvent",
    "StaffNote",
    "AuditLog",
    "Backtest",
    "BotModel",
    "BotPosition",
    "BotRun",
    "BotStrategySetting",
    "BotTrade",
    "TradingBot",
    "Candle",
    "CopiedTrade",
    "CopyPosition",
    "CopySignal",
    "CopySubscription",
    "ProfitShareSettlement",
    "Trader",
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
    "Loan",
    "LoanAccrual",
    "LoanApproval",
    "LoanEvent",
    "LoanLiquidation",
    "LoanProduct",
    "LoanRepayment",
    "LoginThrottle",
    "Notification",
    "NotificationPreference",
    "PlatformAccount",
    "Referral",
    "ReferralAccrual",
    "ReferralReward",
    "ReferralSettings",
    "ReferralTier",
    "Posting",
    "RefreshToken",
    "SignalNotification",
    "SignalPlan",
    "SignalPlanLink",
    "SignalProvider",
    "SignalSubscription",
    "TradingSignal",
    "Order",
    "Position",
    "Trade",
    "TradingPair",
    "User",
    "Wallet",
]
