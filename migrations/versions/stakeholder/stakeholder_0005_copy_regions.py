"""the county of each match copy and coordinator notice

Revision ID: stakeholder_0005
Revises: stakeholder_0004
Create Date: 2026-12-05 08:00:00

Coordinators may be partitioned by county (``COORDINATOR_REGIONS``). An answer to a proposal,
a delivery report, a reply to an invitation, an approval of minutes or an action's progress goes
to the subjects of the county the coordinator made the match or holds the meeting in, which is
not always the answering organisation's own; the copies remember it. Copies made before this
revision have none, and their answers go to the organisation's county as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stakeholder_0005"
down_revision: str | None = "stakeholder_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("match_copies", "coordinator_notices"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("region", sa.String(6), nullable=True))


def downgrade() -> None:
    for table in ("match_copies", "coordinator_notices"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("region")
