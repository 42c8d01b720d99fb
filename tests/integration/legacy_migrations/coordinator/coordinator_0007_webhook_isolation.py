"""webhooks fed from the event log, per-subscription cursors and automatic disabling

Revision ID: coordinator_0007
Revises: coordinator_0006
Create Date: 2026-12-01 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0007"
down_revision: str | None = "coordinator_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enqueued_through", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
    # Existing subscriptions were fed by the raw-stream consumer up to now: they continue
    # with what the coordinator applies from here on.
    op.execute(
        "UPDATE webhook_subscriptions SET disabled_reason = '', "
        "enqueued_through = (SELECT COALESCE(MAX(position), 0) FROM event_log)"
    )
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.alter_column("enqueued_through", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("disabled_reason", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch_op.alter_column("stream_sequence", existing_type=sa.BigInteger(), nullable=True)
        batch_op.create_index(
            "ix_webhook_deliveries_subscription_due",
            ["subscription_id", "status", "next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE stream_sequence IS NULL")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_subscription_due")
        batch_op.alter_column("stream_sequence", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("position")
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("enqueued_through")
