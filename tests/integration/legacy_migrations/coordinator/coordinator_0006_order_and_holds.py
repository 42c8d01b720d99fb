"""event log positions and held events

Revision ID: coordinator_0006
Revises: coordinator_0005
Create Date: 2026-11-30 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0006"
down_revision: str | None = "coordinator_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    # Events logged so far were applied in stream order.
    op.execute(
        "UPDATE event_log SET position = (SELECT COUNT(*) FROM event_log AS earlier "
        "WHERE earlier.stream_sequence <= event_log.stream_sequence)"
    )
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.alter_column("position", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("stream_sequence", existing_type=sa.BigInteger(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_event_log_position"), ["position"])
    op.create_table(
        "held_events",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("waits_for", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_held_events")),
    )
    with op.batch_alter_table("held_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_held_events_waits_for"), ["waits_for"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("held_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_events_waits_for"))
    op.drop_table("held_events")
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_event_log_position"), type_="unique")
        batch_op.alter_column("stream_sequence", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("position")
