"""upward feedback of review cycles: who may answer a cycle's pulse

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('upward_scope_members',
    sa.Column('pulse_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('pulse_id', 'person_id', name=op.f('pk_upward_scope_members'))
    )


def downgrade() -> None:
    op.drop_table('upward_scope_members')
