"""Crypto-backed loans: products, applications, approval and disbursement, interest, repayment,
collateral risk (LTV, margin calls, liquidation) and the reads the pages and API need.

Public names are imported from here; see each module's docstring for its rules.
"""

from tradeapp.services.loans.applications import (
    MAX_OPEN_LOANS,
    active_products,
    apply,
    approve,
    clean_product,
    get_for_user,
    quote_collateral,
    reject,
    save_product,
)
from tradeapp.services.loans.common import MANAGE, PriceUnavailable, approvals_required, dual_approval_threshold
from tradeapp.services.loans.queries import (
    audit_rows,
    delinquency,
    events,
    ledger_entries,
    liquidations_query,
    live_view,
    loan_schedule,
    ltv_history,
    pending_count,
    pending_query,
    products_query,
    repayments_query,
    status_counts,
    user_loans_query,
)
from tradeapp.services.loans.risk import check_ltv, liquidate, liquidate_overdue, notify_margin_calls
from tradeapp.services.loans.servicing import (
    RepaymentResult,
    accrue_all,
    accrue_loan,
    add_collateral,
    flag_overdue,
    repay,
)

__all__ = [
    "MANAGE",
    "MAX_OPEN_LOANS",
    "PriceUnavailable",
    "RepaymentResult",
    "accrue_all",
    "accrue_loan",
    "active_products",
    "add_collateral",
    "apply",
    "approvals_required",
    "approve",
    "audit_rows",
    "check_ltv",
    "clean_product",
    "delinquency",
    "dual_approval_threshold",
    "events",
    "flag_overdue",
    "get_for_user",
    "ledger_entries",
    "liquidate",
    "liquidate_overdue",
    "liquidations_query",
    "live_view",
    "loan_schedule",
    "notify_margin_calls",
    "ltv_history",
    "pending_count",
    "pending_query",
    "products_query",
    "quote_collateral",
    "reject",
    "repay",
    "repayments_query",
    "save_product",
    "status_counts",
    "user_loans_query",
]
