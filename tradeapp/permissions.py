"""Staff roles and the permissions each holds; every staff route and API action checks one."""

PERMISSIONS: dict[str, str] = {
    "staff.dashboard": "See the staff console",
    "users.view": "See customers and staff accounts",
    "users.manage": "Disable, enable and unlock accounts",
    "users.reset_2fa": "Reset a customer's two-factor after identity checks",
    "roles.manage": "Grant and change staff roles",
    "audit.view": "Read the audit log",
    "kyc.review": "Review identity verification",
    "deposits.manage": "Confirm and reject deposits",
    "withdrawals.manage": "Approve and reject withdrawals",
    "ledger.view": "Read ledgers and reconciliation reports",
    "loans.manage": "Approve and reject loans",
    "products.manage": "Manage trading pairs, loan products and signal plans",
    "trading.view": "See every customer's orders, trades and the feeds' health",
    "orders.cancel": "Cancel a customer's open order",
    "signals.manage": "Manage signal providers and plans; see signal revenue",
    "signals.publish": "Publish trading signals (analysts)",
    "bots.manage": "Stop customers' bots and switch bot strategies on or off platform-wide",
    "reports.view": "Read reports and analytics",
    "copy.manage": "Review lead traders, suspend them, see copy activity and profit-share settlements",
    "referrals.manage": "Run the referral programme: settings, tiers, held rewards",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "compliance": frozenset(
        {
            "staff.dashboard",
            "users.view",
            "users.manage",
            "users.reset_2fa",
            "audit.view",
            "kyc.review",
            "reports.view",
            "trading.view",
            "orders.cancel",
            "copy.manage",
            "bots.manage",
            "referrals.manage",
        }
    ),
    "finance": frozenset(
        {
            "staff.dashboard",
            "users.view",
            "deposits.manage",
            "withdrawals.manage",
            "ledger.view",
            "reports.view",
            "trading.view",
            "referrals.manage",
        }
    ),
    "loans": frozenset({"staff.dashboard", "users.view", "loans.manage", "ledger.view"}),
    "support": frozenset({"staff.dashboard", "users.view", "users.manage", "users.reset_2fa", "trading.view"}),
    "analyst": frozenset(
        {
            "staff.dashboard",
            "users.view",
            "reports.view",
            "ledger.view",
            "audit.view",
            "trading.view",
            "signals.publish",
        }
    ),
}

ROLE_LABELS: dict[str, str] = {
    "admin": "Administrator",
    "compliance": "Compliance",
    "finance": "Finance",
    "loans": "Loans",
    "support": "Support",
    "analyst": "Analyst",
}


def has_permission(user, permission: str) -> bool:
    """True if ``user`` is staff and their role grants ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    role = getattr(user, "role", None)
    return role is not None and permission in ROLE_PERMISSIONS.get(role, frozenset())
