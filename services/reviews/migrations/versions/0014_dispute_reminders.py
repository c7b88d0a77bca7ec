"""rating disputes: when the assignee was reminded and when the dispute was escalated

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rating_disputes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", shared.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", shared.database.UTCDateTime(timezone=True), nullable=True))
        # The sweep's and the overdue filter's lookup: open disputes by due date.
        batch_op.create_index("ix_rating_disputes_status_due_at", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rating_disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_rating_disputes_status_due_at")
        batch_op.drop_column("escalated_at")
        batch_op.drop_column("reminded_at")
