"""The signals domain's notification kinds, registered with the notification centre at import."""

from tradeapp.services.notifications import register_kind

SIGNAL_PUBLISHED = register_kind("signal_published", "New trading signal", email=False)
SIGNAL_OUTCOME = register_kind("signal_outcome", "Signal outcome", email=False)
SUBSCRIPTION_STARTED = register_kind("signal_subscription_started", "Signal subscription started", email=True)
SUBSCRIPTION_RENEWED = register_kind("signal_subscription_renewed", "Signal subscription renewed", email=True)
SUBSCRIPTION_RENEWAL_FAILED = register_kind(
    "signal_subscription_renewal_failed", "Signal subscription renewal failed", email=True
)
SUBSCRIPTION_EXPIRED = register_kind("signal_subscription_expired", "Signal subscription ended", email=True)
