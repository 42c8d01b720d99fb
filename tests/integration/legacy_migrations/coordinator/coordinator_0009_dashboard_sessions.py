"""dashboard sessions and sign-in attempts

Revision ID: coordinator_0009
Revises: coordinator_0008
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coordinator_0009"
down_revision: str | None = "coordinator_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_dashboard_sessions")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dashboard_sessions_username"), ["username"], unique=False)
    op.create_table(
        "dashboard_login_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_login_attempts")),
    )
    with op.batch_alter_table("dashboard_login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_login_attempts_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dashboard_login_attempts_client_address"), ["client_address"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dashboard_login_attempts_username"), ["username"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_login_attempts_username"))
        batch_op.drop_index(batch_op.f("ix_dashboard_login_attempts_client_address"))
        batch_op.drop_index(batch_op.f("ix_dashboard_login_attempts_at"))
    op.drop_table("dashboard_login_attempts")
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_username"))
        batch_op.drop_index(batch_op.f("ix_dashboard_sessions_expires_at"))
    op.drop_table("dashboard_sessions")
