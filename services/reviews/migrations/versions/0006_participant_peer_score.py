"""cycle participants: the peers' aggregate from the feedback service

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cycle_participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('peer_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('peer_rater_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('peer_score_revision', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('cycle_participants', schema=None) as batch_op:
        batch_op.alter_column('peer_score_revision', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('cycle_participants', schema=None) as batch_op:
        batch_op.drop_column('peer_score_revision')
        batch_op.drop_column('peer_rater_count')
        batch_op.drop_column('peer_score')
