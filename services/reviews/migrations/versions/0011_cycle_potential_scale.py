"""cycle potential scale: the points of the 9-box's potential axis, per review cycle

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 14:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('review_cycles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('potential_points', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('review_cycles', schema=None) as batch_op:
        batch_op.drop_column('potential_points')
