"""people projection: when the directory told this copy a person left (deactivated_at)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # People inactive already keep NULL: when they left was never recorded here.
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", shared.database.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
