"""upward pulses: the cycle step whose later deadlines a cycle's pulse closes with

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Pulses opened before keep their time (NULL): whether HR chose it cannot be told afterwards.
    with op.batch_alter_table("upward_pulses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follows_step", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upward_pulses", schema=None) as batch_op:
        batch_op.drop_column("follows_step")
