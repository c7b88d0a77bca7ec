"""feedback pages cut from the index: (receiver|giver, created_at, id) replace (receiver|giver, created_at)

The received and given pages order by (created_at, id) newest first; with the id in the index
SQLite and PostgreSQL read a page, deep ones included, from the index alone and look up only
its rows (bench/feedback.py). The old two-column indexes are prefixes of the new ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:55:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        batch_op.create_index(
            'ix_feedback_items_receiver_created_id', ['receiver_id', 'created_at', 'id'], unique=False
        )
        batch_op.create_index('ix_feedback_items_giver_created_id', ['giver_id', 'created_at', 'id'], unique=False)
        batch_op.drop_index('ix_feedback_items_receiver_created')
        batch_op.drop_index('ix_feedback_items_giver_created')


def downgrade() -> None:
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_items_giver_created', ['giver_id', 'created_at'], unique=False)
        batch_op.create_index('ix_feedback_items_receiver_created', ['receiver_id', 'created_at'], unique=False)
        batch_op.drop_index('ix_feedback_items_giver_created_id')
        batch_op.drop_index('ix_feedback_items_receiver_created_id')
