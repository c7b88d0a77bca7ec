"""budget overrides: a unit's merit and bonus pools as fixed amounts per currency

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing overrides keep NULL: percentages only, as before.
    with op.batch_alter_table("budget_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merit_amounts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("bonus_amounts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("budget_overrides", schema=None) as batch_op:
        batch_op.drop_column("bonus_amounts")
        batch_op.drop_column("merit_amounts")
