"""rating disputes: how many times each was escalated (escalations repeat while it stays open)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rating_disputes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalations", sa.Integer(), server_default="0", nullable=False))
    # A dispute escalated before this version was escalated once, to the assignee's nearest manager.
    op.execute("UPDATE rating_disputes SET escalations = 1 WHERE escalated_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("rating_disputes", schema=None) as batch_op:
        batch_op.drop_column("escalations")
