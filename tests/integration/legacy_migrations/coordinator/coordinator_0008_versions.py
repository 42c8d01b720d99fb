"""match and action versions

Revision ID: coordinator_0008
Revises: coordinator_0007
Create Date: 2026-11-30 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0008"
down_revision: str | None = "coordinator_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before had each state published once per change; 1 orders them before any new one.
    for table in ("matches", "action_items"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("version", existing_type=sa.Integer(), server_default=None)


def downgrade() -> None:
    for table in ("action_items", "matches"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
