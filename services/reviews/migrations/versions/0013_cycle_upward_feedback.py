"""review cycles: upward feedback asked for by the cycle (closing time and k)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('review_cycles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upward_feedback', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('review_cycles', schema=None) as batch_op:
        batch_op.drop_column('upward_feedback')
