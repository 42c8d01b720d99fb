"""the version of the proposal each answer was given to

Revision ID: stakeholder_0004
Revises: stakeholder_0003
Create Date: 2026-12-01 14:00:00

The coordinator amends an unanswered proposal's quantity when the fair split of its offer moves
(``match.amended``); an answer names the version it was given to, so an acceptance of an older
version is not counted and the organisation may answer again. Answers recorded before this
revision have no version.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stakeholder_0004"
down_revision: str | None = "stakeholder_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match_answers") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_answers") as batch:
        batch.drop_column("version")
