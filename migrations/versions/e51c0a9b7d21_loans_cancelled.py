"""loans: a customer can withdraw a pending application (``cancelled``); staff write off a shortfall (``written_off``)

Revision ID: e51c0a9b7d21
Revises: d885405de284
Create Date: 2026-12-01 04:00:00.000000
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "e51c0a9b7d21"
down_revision = "d885405de284"
branch_labels = None
depends_on = None

STATUSES = ("pending", "approved", "active", "repaid", "defaulted", "rejected")
KINDS = (
    "applied",
    "approval",
    "approved",
    "rejected",
    "accrued",
    "repayment",
    "collateral_added",
    "margin_call",
    "margin_cleared",
    "liquidation",
    "overdue",
    "repaid",
    "defaulted",
)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _swap(table: str, name: str, column: str, values) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f"ck_{table}_{name}"), type_="check")
        batch_op.create_check_constraint(name, _in(column, values))


def upgrade():
    _swap("loans", "status", "status", (*STATUSES, "cancelled", "written_off"))
    _swap("loan_events", "kind", "kind", (*KINDS, "cancelled", "written_off"))


def downgrade():
    # A withdrawn application reads as rejected in the older schema (its collateral was released either way),
    # a written-off loan as defaulted (its write-off entry stays in the ledger).
    op.execute("UPDATE loans SET status = 'rejected' WHERE status = 'cancelled'")
    op.execute("UPDATE loans SET status = 'defaulted' WHERE status = 'written_off'")
    op.execute("UPDATE loan_events SET kind = 'rejected' WHERE kind = 'cancelled'")
    op.execute("UPDATE loan_events SET kind = 'defaulted' WHERE kind = 'written_off'")
    _swap("loans", "status", "status", STATUSES)
    _swap("loan_events", "kind", "kind", KINDS)
