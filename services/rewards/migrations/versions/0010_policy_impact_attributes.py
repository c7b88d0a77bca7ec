"""rewards policy: the protected attributes the calibration impact groups by when a request names none

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null: gender alone, what the impact used before HR could choose.
    with op.batch_alter_table("rewards_policy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("impact_attributes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rewards_policy", schema=None) as batch_op:
        batch_op.drop_column("impact_attributes")
