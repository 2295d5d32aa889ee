"""users: functional indexes on lower(email) and lower(username)

Transfers name their recipient by e-mail or username, case-insensitively
(``lower(column) = :name``); without these indexes every transfer scanned the users table.

Revision ID: 71ad37a2522f
Revises: 00ca8bbe9e4a
Create Date: 2026-11-25 13:45:26.974536

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "71ad37a2522f"
down_revision = "00ca8bbe9e4a"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_users_lower_email", "users", [sa.text("lower(email)")], unique=False)
    op.create_index("ix_users_lower_username", "users", [sa.text("lower(username)")], unique=False)


def downgrade():
    op.drop_index("ix_users_lower_username", table_name="users")
    op.drop_index("ix_users_lower_email", table_name="users")
