"""360 rounds: approved peers per subject and cycle, answers without their giver, release at k

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('peer_rounds',
    sa.Column('cycle_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('manager_id', sa.Uuid(), nullable=True),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('competencies', sa.JSON(), nullable=False),
    sa.Column('min_raters', sa.Integer(), nullable=False),
    sa.Column('closes_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('released_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('rater_count', sa.Integer(), nullable=True),
    sa.Column('competency_scores', sa.JSON(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_rounds')),
    sa.UniqueConstraint('cycle_id', 'person_id', name=op.f('uq_peer_rounds_cycle_id_person_id'))
    )
    with op.batch_alter_table('peer_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_peer_rounds_cycle_id'), ['cycle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_peer_rounds_person_id'), ['person_id'], unique=False)

    op.create_table('peer_answers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('round_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.JSON(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['peer_rounds.id'], name=op.f('fk_peer_answers_round_id_peer_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_answers'))
    )
    with op.batch_alter_table('peer_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_peer_answers_round_id'), ['round_id'], unique=False)

    op.create_table('peer_round_peers',
    sa.Column('round_id', sa.Uuid(), nullable=False),
    sa.Column('peer_id', sa.Uuid(), nullable=False),
    sa.Column('task_id', sa.String(length=200), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['peer_rounds.id'], name=op.f('fk_peer_round_peers_round_id_peer_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'peer_id', name=op.f('pk_peer_round_peers')),
    sa.UniqueConstraint('task_id', name=op.f('uq_peer_round_peers_task_id'))
    )
    with op.batch_alter_table('peer_round_peers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_peer_round_peers_peer_id'), ['peer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('peer_round_peers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_peer_round_peers_peer_id'))
    op.drop_table('peer_round_peers')
    with op.batch_alter_table('peer_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_peer_answers_round_id'))
    op.drop_table('peer_answers')
    with op.batch_alter_table('peer_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_peer_rounds_person_id'))
        batch_op.drop_index(batch_op.f('ix_peer_rounds_cycle_id'))
    op.drop_table('peer_rounds')
