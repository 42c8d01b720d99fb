"""partitions waiting for a re-solve point (COORDINATOR_RESOLVE_AT=tick); the open book by region

Revision ID: coordinator_0011
Revises: coordinator_0010
Create Date: 2026-12-01 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0011"
down_revision: str | None = "coordinator_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dirty_partitions",
        sa.Column("partition", sa.String(length=120), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partition", name=op.f("pk_dirty_partitions")),
    )
    op.create_index("ix_book_needs_status_region", "book_needs", ["status", "region"])
    op.create_index("ix_book_offers_status_region", "book_offers", ["status", "region"])


def downgrade() -> None:
    op.drop_index("ix_book_offers_status_region", table_name="book_offers")
    op.drop_index("ix_book_needs_status_region", table_name="book_needs")
    op.drop_table("dirty_partitions")
