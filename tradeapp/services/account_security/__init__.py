"""Customer account security (issue 20): two-factor with recovery codes, settings, sessions and
devices with login alerts, the withdrawal address book and e-mailed withdrawal confirmations.

Built on what staff accounts already have: the same TOTP checker with its replay guard
(:mod:`tradeapp.services.staff`), the same failed-attempt lockout (:mod:`tradeapp.services.users`),
refresh-token families (:mod:`tradeapp.services.tokens`), the notification centre and the ledger's holds.
"""

from tradeapp.services import notifications

#: the customer's own security events: always e-mailed (the user cannot switch that off)
SECURITY_CHANGED = notifications.register_kind(
    "security_changed", "Security setting changed", email=True, email_required=True
)
NEW_LOGIN = notifications.register_kind(
    "new_login", "Sign-in from a new device", email=True, email_required=True, mail_template="new_login"
)
ADDRESS_ADDED = notifications.register_kind(
    "withdrawal_address_added",
    "Withdrawal address added",
    email=True,
    email_required=True,
    mail_template="withdrawal_address_added",
)

#: staff permission to reset a customer's two-factor after identity checks
RESET_2FA = "users.reset_2fa"

# Plug into tokens, users and withdrawals (their extension points) as soon as this package is imported.
from tradeapp.services.account_security import hooks  # noqa: E402

hooks.register()
