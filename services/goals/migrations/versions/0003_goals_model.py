"""goals: levels, alignment, key results, milestones, check-ins, audit trail, cycle scores

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:21:47.530085
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cycle_scores',
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('goal_count', sa.Integer(), nullable=False),
    sa.Column('weights_ok', sa.Boolean(), nullable=False),
    sa.Column('weight_total', sa.Float(), nullable=True),
    sa.Column('error', sa.String(length=40), nullable=True),
    sa.Column('formula_version', sa.String(length=40), nullable=False),
    sa.Column('inputs', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('computed_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cycle_id', 'person_id', name=op.f('pk_cycle_scores'))
    )
    op.create_table('goal_audit',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('goal_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], name=op.f('fk_goal_audit_goal_id_goals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goal_audit'))
    )
    with op.batch_alter_table('goal_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_audit_goal_id'), ['goal_id'], unique=False)

    op.create_table('key_results',
    sa.Column('goal_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=10), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('start_value', sa.Float(), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=False),
    sa.Column('current_value', sa.Float(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("unit <> 'currency' OR currency IS NOT NULL", name=op.f('ck_key_results_currency_code')),
    sa.CheckConstraint('weight >= 0', name=op.f('ck_key_results_weight_positive')),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], name=op.f('fk_key_results_goal_id_goals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_results'))
    )
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_results_goal_id'), ['goal_id'], unique=False)

    op.create_table('goal_check_ins',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('goal_id', sa.Uuid(), nullable=False),
    sa.Column('key_result_id', sa.Uuid(), nullable=True),
    sa.Column('author_id', sa.Uuid(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('previous_value', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('progress_before', sa.Float(), nullable=False),
    sa.Column('progress_after', sa.Float(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], name=op.f('fk_goal_check_ins_goal_id_goals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['key_result_id'], ['key_results.id'], name=op.f('fk_goal_check_ins_key_result_id_key_results'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goal_check_ins'))
    )
    with op.batch_alter_table('goal_check_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_check_ins_goal_id'), ['goal_id'], unique=False)

    op.create_table('milestones',
    sa.Column('goal_id', sa.Uuid(), nullable=False),
    sa.Column('key_result_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('completed_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], name=op.f('fk_milestones_goal_id_goals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['key_result_id'], ['key_results.id'], name=op.f('fk_milestones_key_result_id_key_results'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestones'))
    )
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestones_goal_id'), ['goal_id'], unique=False)

    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level', sa.String(length=20), nullable=False, server_default=sa.text("'individual'")))
        batch_op.add_column(sa.Column('department', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('visibility', sa.String(length=10), nullable=False, server_default=sa.text("'public'")))
        batch_op.add_column(sa.Column('period_kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('aligned_to_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('assigned_from_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('weight', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('progress', sa.Float(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('progress_source', sa.String(length=20), nullable=False, server_default=sa.text("'manual'")))
        batch_op.add_column(sa.Column('manual_progress', sa.Float(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('status_override', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('completed_at', shared.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default=sa.text('1')))
        batch_op.create_index(batch_op.f('ix_goals_aligned_to_id'), ['aligned_to_id'], unique=False)
        batch_op.create_index('ix_goals_owner_end', ['owner_id', 'period_end'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_goals_assigned_from_id_owner_id'), ['assigned_from_id', 'owner_id'])
        batch_op.create_foreign_key(batch_op.f('fk_goals_aligned_to_id_goals'), 'goals', ['aligned_to_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_column('status')
        batch_op.create_check_constraint(op.f('ck_goals_progress_range'), 'progress >= 0 AND progress <= 100')
        batch_op.create_check_constraint(
            op.f('ck_goals_weight_range'), 'weight IS NULL OR (weight >= 0 AND weight <= 100)'
        )



def downgrade() -> None:
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_goals_weight_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_goals_progress_range'), type_='check')
        batch_op.add_column(sa.Column('status', sa.VARCHAR(length=20), nullable=False, server_default=sa.text("'draft'")))
        batch_op.drop_constraint(batch_op.f('fk_goals_aligned_to_id_goals'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_goals_assigned_from_id_owner_id'), type_='unique')
        batch_op.drop_index('ix_goals_owner_end')
        batch_op.drop_index(batch_op.f('ix_goals_aligned_to_id'))
        batch_op.drop_column('version')
        batch_op.drop_column('completed_at')
        batch_op.drop_column('status_reason')
        batch_op.drop_column('status_override')
        batch_op.drop_column('manual_progress')
        batch_op.drop_column('progress_source')
        batch_op.drop_column('progress')
        batch_op.drop_column('weight')
        batch_op.drop_column('assigned_from_id')
        batch_op.drop_column('aligned_to_id')
        batch_op.drop_column('period_kind')
        batch_op.drop_column('visibility')
        batch_op.drop_column('department')
        batch_op.drop_column('level')

    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_milestones_goal_id'))

    op.drop_table('milestones')
    with op.batch_alter_table('goal_check_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_check_ins_goal_id'))

    op.drop_table('goal_check_ins')
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_results_goal_id'))

    op.drop_table('key_results')
    with op.batch_alter_table('goal_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_audit_goal_id'))

    op.drop_table('goal_audit')
    op.drop_table('cycle_scores')
