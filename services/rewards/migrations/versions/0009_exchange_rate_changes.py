"""exchange rate changes: a rate as it stood before HR replaced or removed it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_rate_changes",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("set_by", sa.Uuid(), nullable=False),
        sa.Column("set_at", shared.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", shared.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shared.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rate_changes")),
    )
    op.create_index(
        "ix_exchange_rate_changes_currency_effective_date",
        "exchange_rate_changes",
        ["currency", "effective_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_exchange_rate_changes_currency_effective_date", table_name="exchange_rate_changes")
    op.drop_table("exchange_rate_changes")
