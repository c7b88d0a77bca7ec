"""upward pulses: a cycle's cancellation or extension told before its launch opened the pulse

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upward_early_changes",
        sa.Column("pulse_id", sa.Uuid(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("deadlines", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("pulse_id", name=op.f("pk_upward_early_changes")),
    )


def downgrade() -> None:
    op.drop_table("upward_early_changes")
