"""coordinators partitioned by county: the part of the stream a database is built from, and
offers shared across partitions

Revision ID: coordinator_0012
Revises: coordinator_0011
Create Date: 2026-12-05 08:10:00

One row: the durable consumer and the counties (``COORDINATOR_REGIONS``) of the coordinator
whose record the database holds, written at its first start. A coordinator configured for other
counties refuses to consume into it; ``sifang partition move`` rebuilds both sides of a move.

``shared_offers``: what a partition last told others of its offers that serve their counties
(``offer.shared``); ``offers_elsewhere``: such offers of other partitions, as their owners told.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0012"
down_revision: str | None = "coordinator_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coordinator_partition",
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("moving", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_coordinator_partition")),
    )
    op.create_table(
        "shared_offers",
        sa.Column("offer_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("remaining", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_shared_offers")),
    )
    op.create_table(
        "offers_elsewhere",
        sa.Column("offer_id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("offer", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("remaining", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offers_elsewhere")),
    )
    op.create_index(op.f("ix_offers_elsewhere_status"), "offers_elsewhere", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_offers_elsewhere_status"), table_name="offers_elsewhere")
    op.drop_table("offers_elsewhere")
    op.drop_table("shared_offers")
    op.drop_table("coordinator_partition")
