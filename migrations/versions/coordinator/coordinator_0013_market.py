"""market information: figures per county, category family, dimension and month

Revision ID: coordinator_0013
Revises: coordinator_0012
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0013"
down_revision: str | None = "coordinator_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_cells",
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("base_unit", sa.String(length=20), nullable=False),
        sa.Column("needs", sa.Integer(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("demand", sa.Double(), nullable=False),
        sa.Column("supply", sa.Double(), nullable=False),
        sa.Column("balance", sa.Double(), nullable=True),
        sa.Column("baseline", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("county", "family", "dimension", "month", name=op.f("pk_market_cells")),
    )
    op.create_index(op.f("ix_market_cells_state"), "market_cells", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_market_cells_state"), table_name="market_cells")
    op.drop_table("market_cells")
