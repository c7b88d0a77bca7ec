"""upward feedback: pulses, answers without their giver, aggregates released at k

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('upward_pulses',
    sa.Column('cycle_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('closes_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('min_raters', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('closed_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upward_pulses'))
    )
    with op.batch_alter_table('upward_pulses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upward_pulses_cycle_id'), ['cycle_id'], unique=False)

    op.create_table('upward_answers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pulse_id', sa.Uuid(), nullable=False),
    sa.Column('manager_id', sa.Uuid(), nullable=False),
    sa.Column('giver_tag', sa.LargeBinary(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['pulse_id'], ['upward_pulses.id'], name=op.f('fk_upward_answers_pulse_id_upward_pulses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upward_answers')),
    sa.UniqueConstraint('pulse_id', 'giver_tag', name=op.f('uq_upward_answers_pulse_id_giver_tag'))
    )
    with op.batch_alter_table('upward_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upward_answers_manager_id'), ['manager_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_upward_answers_pulse_id'), ['pulse_id'], unique=False)

    op.create_table('upward_results',
    sa.Column('pulse_id', sa.Uuid(), nullable=False),
    sa.Column('manager_id', sa.Uuid(), nullable=False),
    sa.Column('org_unit', sa.String(length=200), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('rater_count', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['pulse_id'], ['upward_pulses.id'], name=op.f('fk_upward_results_pulse_id_upward_pulses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pulse_id', 'manager_id', name=op.f('pk_upward_results'))
    )


def downgrade() -> None:
    op.drop_table('upward_results')
    with op.batch_alter_table('upward_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upward_answers_pulse_id'))
        batch_op.drop_index(batch_op.f('ix_upward_answers_manager_id'))
    op.drop_table('upward_answers')
    with op.batch_alter_table('upward_pulses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upward_pulses_cycle_id'))
    op.drop_table('upward_pulses')
