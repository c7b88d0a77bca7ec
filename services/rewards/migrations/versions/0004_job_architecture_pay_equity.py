"""job architecture and sensitive attributes on compensation records, worker categories, rewards policy,
bonus plans, per-unit budget overrides and the bonus columns of proposals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('compensation_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_level', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('job_family', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('worker_category', sa.String(length=50), nullable=True))
        # Existing records are full-time with no variable pay; the default only fills them.
        batch_op.add_column(sa.Column('fte', sa.Numeric(precision=4, scale=3), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('employment_type', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('gender', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('location', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('hire_date', sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column('variable_pay', sa.Numeric(precision=14, scale=2), nullable=False, server_default='0')
        )
        batch_op.create_check_constraint(op.f('ck_compensation_records_fte_range'), 'fte > 0 AND fte <= 1')
        batch_op.create_check_constraint(
            op.f('ck_compensation_records_variable_pay_not_negative'), 'variable_pay >= 0'
        )
        batch_op.create_check_constraint(
            op.f('ck_compensation_records_gender_known'),
            "gender IS NULL OR gender IN ('female', 'male', 'other', 'undisclosed')",
        )
    with op.batch_alter_table('compensation_records', schema=None) as batch_op:
        batch_op.alter_column('fte', server_default=None)
        batch_op.alter_column('variable_pay', server_default=None)

    op.create_table('worker_categories',
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_worker_categories_code'))
    )
    op.create_table('rewards_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('min_cell_size', sa.Integer(), nullable=False),
    sa.Column('equity_flag_pct', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('equity_controls', sa.JSON(), nullable=False),
    sa.Column('budget_mode', sa.String(length=10), nullable=False),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('min_cell_size >= 5', name=op.f('ck_rewards_policy_min_cell_size_floor')),
    sa.CheckConstraint('equity_flag_pct > 0 AND equity_flag_pct <= 100', name=op.f('ck_rewards_policy_equity_flag_range')),
    sa.CheckConstraint("budget_mode IN ('block', 'warn')", name=op.f('ck_rewards_policy_budget_mode_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards_policy'))
    )
    op.create_table('bonus_plans',
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['cycle_id'], ['pay_cycles.id'], name=op.f('fk_bonus_plans_cycle_id_pay_cycles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bonus_plans')),
    sa.UniqueConstraint('cycle_id', name=op.f('uq_bonus_plans_cycle_id'))
    )
    op.create_table('budget_overrides',
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('org_unit', sa.String(length=200), nullable=False),
    sa.Column('merit_pct', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('bonus_pct', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('set_by', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['cycle_id'], ['pay_cycles.id'], name=op.f('fk_budget_overrides_cycle_id_pay_cycles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_overrides')),
    sa.UniqueConstraint('cycle_id', 'org_unit', name=op.f('uq_budget_overrides_cycle_id_org_unit'))
    )
    with op.batch_alter_table('pay_cycles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bonus_budget_pct', sa.Numeric(precision=6, scale=2), nullable=True))
    with op.batch_alter_table('pay_proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_level', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('fte', sa.Numeric(precision=4, scale=3), nullable=True))
        batch_op.add_column(sa.Column('bonus_target_pct', sa.Numeric(precision=6, scale=2), nullable=True))
        batch_op.add_column(sa.Column('bonus_multiplier', sa.Numeric(precision=6, scale=3), nullable=True))
        batch_op.add_column(sa.Column('bonus_company_factor', sa.Numeric(precision=6, scale=3), nullable=True))
        batch_op.add_column(sa.Column('bonus_proration', sa.Numeric(precision=8, scale=4), nullable=True))
        batch_op.add_column(sa.Column('bonus_computed', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('bonus_amount', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('bonus_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('over_budget_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pay_proposals', schema=None) as batch_op:
        for name in (
            'over_budget_reason', 'bonus_reason', 'bonus_amount', 'bonus_computed', 'bonus_proration',
            'bonus_company_factor', 'bonus_multiplier', 'bonus_target_pct', 'fte', 'job_level',
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table('pay_cycles', schema=None) as batch_op:
        batch_op.drop_column('bonus_budget_pct')
    op.drop_table('budget_overrides')
    op.drop_table('bonus_plans')
    op.drop_table('rewards_policy')
    op.drop_table('worker_categories')
    with op.batch_alter_table('compensation_records', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_compensation_records_gender_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_compensation_records_variable_pay_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_compensation_records_fte_range'), type_='check')
        batch_op.drop_column('variable_pay')
        batch_op.drop_column('hire_date')
        batch_op.drop_column('location')
        batch_op.drop_column('gender')
        batch_op.drop_column('employment_type')
        batch_op.drop_column('fte')
        batch_op.drop_column('worker_category')
        batch_op.drop_column('job_family')
        batch_op.drop_column('job_level')
