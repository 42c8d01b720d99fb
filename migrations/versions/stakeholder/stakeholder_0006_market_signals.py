"""the coordinator's market signals, kept as they arrive

Revision ID: stakeholder_0006
Revises: stakeholder_0005
Create Date: 2026-12-05 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stakeholder_0006"
down_revision: str | None = "stakeholder_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_signals",
        sa.Column("signal_id", sa.String(length=36), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("signal", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signal_id", name=op.f("pk_market_signals")),
    )
    op.create_index(op.f("ix_market_signals_county"), "market_signals", ["county"])
    op.create_index(op.f("ix_market_signals_sequence"), "market_signals", ["sequence"])


def downgrade() -> None:
    op.drop_index(op.f("ix_market_signals_sequence"), table_name="market_signals")
    op.drop_index(op.f("ix_market_signals_county"), table_name="market_signals")
    op.drop_table("market_signals")
