"""scim: deleted Users (404 for SCIM, kept in the directory) and attributes left unset

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scim_users',
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('deleted_at', shared.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unset', sa.JSON(), nullable=False),
    sa.Column('unset_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_scim_users_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_scim_users'))
    )


def downgrade() -> None:
    op.drop_table('scim_users')
