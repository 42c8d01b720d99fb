"""scoped API tokens, and the token that owns each webhook subscription

Revision ID: coordinator_0010
Revises: coordinator_0009
Create Date: 2026-12-01 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0010"
down_revision: str | None = "coordinator_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("coordinator", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coordinator"],
            ["coordinator_accounts.username"],
            name=op.f("fk_api_tokens_coordinator_coordinator_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_tokens_secret_hash")),
    )
    # Subscriptions from before were made with the admin token: no owner.
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_token_id", sa.String(length=36), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_webhook_subscriptions_owner_token_id"), ["owner_token_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_subscriptions_owner_token_id"))
        batch_op.drop_column("owner_token_id")
    op.drop_table("api_tokens")
