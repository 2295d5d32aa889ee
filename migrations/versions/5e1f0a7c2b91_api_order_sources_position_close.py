"""api: order sources are the seed's (+ loan); a position close is a manual order with position_id

Revision ID: 5e1f0a7c2b91
Revises: 413cbcd2e7ad
Create Date: 2026-11-30 19:05:00.000000

Existing closes (``source = 'position'``, the position's id in ``source_id``) become
``source = 'manual'`` with ``position_id``; the check constraint then allows only
manual, bot, copy_trade, signal and loan.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5e1f0a7c2b91"
down_revision = "413cbcd2e7ad"
branch_labels = None
depends_on = None

NEW_SOURCES = "source IN ('manual', 'bot', 'copy_trade', 'signal', 'loan')"
OLD_SOURCES = "source IN ('manual', 'bot', 'copy_trade', 'signal', 'position')"


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_position_id_positions"), "positions", ["position_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.drop_constraint(batch_op.f("ck_orders_source"), type_="check")
    op.execute(
        "UPDATE orders SET position_id = source_id, source_id = NULL, source = 'manual' WHERE source = 'position'"
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint("source", NEW_SOURCES)


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_orders_source"), type_="check")
    op.execute(
        "UPDATE orders SET source = 'position', source_id = position_id WHERE position_id IS NOT NULL"
        " AND source = 'manual'"
    )
    op.execute("UPDATE orders SET source = 'manual' WHERE source = 'loan'")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint("source", OLD_SOURCES)
        batch_op.drop_constraint(batch_op.f("fk_orders_position_id_positions"), type_="foreignkey")
        batch_op.drop_column("position_id")
