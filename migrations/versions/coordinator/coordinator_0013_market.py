"""market information: figures per county, category family, dimension and month

The cells are filled from the book already there, as the coordinator would have kept them
(judged month by month against the months before); no signal is published for them.

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
    _fill_from_the_book()


def _fill_from_the_book() -> None:
    """Every open listing's contribution, summed per cell and judged in month order.

    The rules are the coordinator's own (``services.coordinator.market``), imported here so an
    upgraded book is counted exactly as new events will be counted."""
    from collections import defaultdict
    from datetime import UTC, datetime

    from services.coordinator.market.rules import (
        SignalRule,
        balance_of,
        baseline_of,
        family_of,
        month_of,
        signal_for,
    )
    from services.coordinator.market.service import BASE_UNITS, reason_of
    from shared.units import base_factor

    bind = op.get_bind()
    sums: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    for table, side in (("book_needs", 0), ("book_offers", 1)):
        rows = bind.execute(
            sa.text(f"SELECT category, region, unit, quantity, published_at FROM {table} WHERE status != 'withdrawn'")
        )
        for category, region, unit, quantity, published_at in rows:
            factor, dimension = base_factor(unit)
            if isinstance(published_at, str):  # SQLite hands back text
                published_at = datetime.fromisoformat(published_at)
            if published_at.tzinfo is None:
                published_at = published_at.replace(tzinfo=UTC)
            month = month_of(published_at)
            if dimension not in BASE_UNITS or month is None:
                continue
            cell = sums[(region[:6], family_of(category), dimension, month)]
            cell[side] += 1
            cell[2 + side] = round(cell[2 + side] + float(quantity) * factor, 6)
    rule, balances = SignalRule(), defaultdict(list)
    now = datetime.now(UTC)
    for (county, family, dimension, month), (needs, offers, demand, supply) in sorted(
        sums.items(), key=lambda item: (item[0][3], item[0])
    ):
        history = balances[(county, family, dimension)]
        baseline = round(baseline_of(history, rule), 4)
        balance = balance_of(demand, supply)
        signal = signal_for(int(needs), int(offers), demand, supply, baseline, rule)
        rounded = None if balance is None else round(balance, 4)
        if rounded is not None:
            history.append(rounded)
        bind.execute(
            sa.text(
                "INSERT INTO market_cells (county, family, dimension, month, base_unit, needs, offers, "
                "demand, supply, balance, baseline, state, reason, updated_at) VALUES (:county, :family, "
                ":dimension, :month, :base_unit, :needs, :offers, :demand, :supply, :balance, :baseline, "
                ":state, :reason, :updated_at)"
            ).bindparams(sa.bindparam("reason", type_=sa.JSON()), sa.bindparam("updated_at", type_=sa.DateTime(timezone=True))),
            {
                "county": county,
                "family": family,
                "dimension": dimension,
                "month": month,
                "base_unit": BASE_UNITS[dimension],
                "needs": int(needs),
                "offers": int(offers),
                "demand": demand,
                "supply": supply,
                "balance": rounded,
                "baseline": baseline,
                "state": signal.state,
                "reason": reason_of(signal, rounded, baseline, int(needs + offers)),
                "updated_at": now,
            },
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_market_cells_state"), table_name="market_cells")
    op.drop_table("market_cells")
