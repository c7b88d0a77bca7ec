"""exchange rates: HR's rates against one base currency, each in force from its effective date

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("set_by", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", shared.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shared.database.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.CheckConstraint("currency <> base", name=op.f("ck_exchange_rates_not_the_base")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint("currency", "effective_date", name=op.f("uq_exchange_rates_currency_effective_date")),
    )


def downgrade() -> None:
    op.drop_table("exchange_rates")
