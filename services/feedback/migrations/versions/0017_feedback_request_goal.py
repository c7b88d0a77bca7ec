"""feedback requests: the goal of the requester's the feedback is asked about

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("goal_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.drop_column("goal_id")
