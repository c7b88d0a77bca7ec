"""llm audit: each writing-help request, its prompt, the model's answers and the outcome

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
    op.create_table('llm_audit',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('feature', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('prompt_version', sa.String(length=60), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('model_called', sa.Boolean(), nullable=False),
    sa.Column('fallback_reason', sa.String(length=20), nullable=True),
    sa.Column('messages', sa.JSON(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_audit'))
    )
    with op.batch_alter_table('llm_audit', schema=None) as batch_op:
        batch_op.create_index('ix_llm_audit_person_created', ['person_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('llm_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_llm_audit_person_created')

    op.drop_table('llm_audit')
