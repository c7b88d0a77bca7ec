"""rating disputes: an employee disagrees with the final rating at acknowledgement

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rating_disputes',
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('task_id', sa.String(length=200), nullable=False),
    sa.Column('assignee_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('due_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disputed_rating', sa.Numeric(precision=9, scale=3), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('resolved_rating', sa.Numeric(precision=9, scale=3), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.Uuid(), nullable=True),
    sa.Column('resolved_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('upheld', 'amended')", name=op.f('ck_rating_disputes_outcome')),
    sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f('ck_rating_disputes_status')),
    sa.ForeignKeyConstraint(['cycle_id'], ['review_cycles.id'], name=op.f('fk_rating_disputes_cycle_id_review_cycles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_disputes')),
    sa.UniqueConstraint('task_id', name=op.f('uq_rating_disputes_task_id'))
    )
    with op.batch_alter_table('rating_disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_disputes_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_disputes_cycle_id'), ['cycle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_disputes_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rating_disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_disputes_person_id'))
        batch_op.drop_index(batch_op.f('ix_rating_disputes_cycle_id'))
        batch_op.drop_index(batch_op.f('ix_rating_disputes_assignee_id'))

    op.drop_table('rating_disputes')
